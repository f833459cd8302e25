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
 * Ordering groups by default. 32 keeps the aggregation ratio of the producer benchmark's requests
 * within 10 % of packing without groups (bench/producer.bench.ts: 200,000 × 100 B -3 %, 50,000 ×
 * 1 KiB -8 %; 64 groups: -16 % both, 128: -26 %) and gives each shard 32 outer keys: spread at
 * random over the 10 lanes of parallelization factor 10, they use 9.7 of them on average, the
 * busiest lane holding about 1.9 times its share (64 groups: 10 lanes, 1.6 times).
 */
export const DEFAULT_ORDERING_GROUPS = 32;

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
