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

export const MiB = 1024 * 1024;

/**
 * Kinesis' write limits, as the API reference documents them today (PutRecords, in the Kinesis
 * API model of @aws-sdk/client-kinesis 3.1143: "Each PutRecords request can support up to 500
 * records. Each record in the request can be as large as 10 MiB, up to a limit of 10 MiB for the
 * entire request, including partition keys. Each shard can support writes up to 1,000 records per
 * second, up to a maximum data write total of 1 MB per second"; "The record size limit applies to
 * the total size of the partition key and data blob"). A record's limit is its stream's
 * `MaxRecordSizeInKiB` (UpdateMaxRecordSize / CreateStream: 1024 to 10240 KiB, 1 MiB by default,
 * developer guide "Handle large records"), which leaves the per-shard 1 MB/s write limit as it is.
 */
export const KINESIS_LIMITS = {
  /** Entries in one PutRecords request. */
  maxPutRecordsEntries: 500,
  /** One PutRecords request: data plus partition keys of all its entries. */
  maxPutRecordsBytes: 10 * MiB,
  /** A stream's maximum record size unless raised (data plus partition key). */
  defaultRecordBytes: MiB,
  /** The largest maximum record size a stream can have. */
  maxRecordBytes: 10 * MiB,
  /**
   * The request size this producer uses by default on a stream of 1 MiB records: 5 MiB, the
   * documented limit before records above 1 MiB came (and what the KPL and SDK producers use), so
   * nothing changes for such streams; streams with larger records get the documented 10 MiB.
   */
  classicPutRecordsBytes: 5 * MiB,
} as const;

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
