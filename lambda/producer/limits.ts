import { MiB, PUT_RECORDS_LIMITS } from '../shared/kinesis-limits';

/** Producer limits, KPL-like defaults; the construct passes them in as environment variables. */
export interface ProducerLimits {
  /** Largest aggregated Kinesis record, bytes (KPL AggregationMaxSize). */
  readonly maxAggregateBytes: number;
  /** Most user records in one aggregated record (KPL AggregationMaxCount). */
  readonly maxRecordsPerAggregate: number;
  /** Most entries in one PutRecords request. */
  readonly maxBatchEntries: number;
  /** Largest PutRecords request, bytes of data plus partition keys (at most 10 MiB). */
  readonly maxBatchBytes: number;
  /** Largest entry, bytes of data plus partition key: the stream's maximum record size (1 to 10 MiB) or less. */
  readonly maxEntryBytes: number;
  /**
   * Ordering groups G (see `ordering.ts`): each user partition key belongs to one of G groups, and
   * every aggregate travels under its group's key, so all records of a user key share one outer
   * partition key. 0: aggregates travel under their first record's key (no order under PF > 1).
   */
  readonly orderingGroups: number;
}

export { MiB };

/** Kinesis' write limits (defined once, with their sources, in lambda/shared/kinesis-limits.ts). */
export const KINESIS_LIMITS = PUT_RECORDS_LIMITS;

/**
 * The PutRecords request size a producer uses by default for a stream of `maxRecordBytes`
 * records: 5 MiB for 1 MiB records, else the documented 10 MiB (a request must hold one record).
 */
export function defaultBatchBytes(maxRecordBytes: number): number {
  return maxRecordBytes <= KINESIS_LIMITS.defaultRecordBytes ? KINESIS_LIMITS.classicPutRecordsBytes : KINESIS_LIMITS.maxPutRecordsBytes;
}

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
  maxBatchEntries: KINESIS_LIMITS.maxPutRecordsEntries,
  maxBatchBytes: defaultBatchBytes(KINESIS_LIMITS.defaultRecordBytes),
  maxEntryBytes: KINESIS_LIMITS.defaultRecordBytes,
  orderingGroups: DEFAULT_ORDERING_GROUPS,
};
