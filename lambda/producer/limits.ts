/** Producer limits, KPL-like defaults; the construct passes them in as environment variables. */
export interface ProducerLimits {
  /** Largest aggregated Kinesis record, bytes (KPL AggregationMaxSize). */
  readonly maxAggregateBytes: number;
  /** Most user records in one aggregated record (KPL AggregationMaxCount). */
  readonly maxRecordsPerAggregate: number;
  /** Most entries in one PutRecords request. */
  readonly maxBatchEntries: number;
  /** Largest PutRecords request, bytes of data plus partition keys. */
  readonly maxBatchBytes: number;
  /** Largest entry, bytes of data plus partition key. */
  readonly maxEntryBytes: number;
}

export const MiB = 1024 * 1024;

export const DEFAULT_LIMITS: ProducerLimits = {
  maxAggregateBytes: 51_200,
  maxRecordsPerAggregate: 4_294_967_295,
  maxBatchEntries: 500,
  maxBatchBytes: 5 * MiB,
  maxEntryBytes: MiB,
};
