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
  /**
   * Ordering groups G (see `ordering.ts`): each user partition key belongs to one of G groups, and
   * every aggregate travels under its group's key, so all records of a user key share one outer
   * partition key. 0: aggregates travel under their first record's key (no order under PF > 1).
   */
  readonly orderingGroups: number;
}

export const MiB = 1024 * 1024;

/**
 * Ordering groups by default: 16. Enough outer keys per shard to spread over the lanes of a
 * parallelization factor up to 10 (16 keys at random over 10 lanes use about 8 of them), few
 * enough that the requests a Lambda producer usually gets still aggregate: 500 records of 100 B on
 * 4 shards carry about 10 user records per Kinesis record at 16 groups, 7 at 32, 125 without groups,
 * so a shard of small records stays bound by bytes (1 MiB/s) rather than by its 1,000 records/s.
 * The producer benchmark's large requests keep their ratio within 10 % of no groups
 * (bench/producer.bench.ts prints the table for 0, 16 and 32 groups).
 */
export const DEFAULT_ORDERING_GROUPS = 16;

/**
 * Most ordering groups: a consumer keeps one progress entry per outer key and shard in its lease
 * (under 64 KiB), and more than 256 outer keys per shard spread no better over at most 10 batches.
 */
export const MAX_ORDERING_GROUPS = 256;

export const DEFAULT_LIMITS: ProducerLimits = {
  maxAggregateBytes: 51_200,
  maxRecordsPerAggregate: 4_294_967_295,
  maxBatchEntries: 500,
  maxBatchBytes: 5 * MiB,
  maxEntryBytes: MiB,
  orderingGroups: DEFAULT_ORDERING_GROUPS,
};
