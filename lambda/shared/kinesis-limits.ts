/**
 * Kinesis Data Streams limits, written once: the constructs (lib/), the handlers (lambda/) and the
 * tools (tools/simulate) import them from here. Pure constants, no imports.
 *
 * Sources: the Kinesis API reference (PutRecords, UpdateShardCount, CreateStream,
 * UpdateMaxRecordSize) and the developer guide's quotas page and "Handle large records" page.
 */

export const MiB = 1024 * 1024;

/** Throughput in bytes and records per second. */
export interface StreamCapacity {
  readonly bytesPerSecond: number;
  readonly recordsPerSecond: number;
}

/**
 * Kinesis Data Streams quotas for one shard: writes of 1 MiB/s or 1,000 records/s, reads of
 * 2 MiB/s shared by standard consumers (up to 10,000 records per GetRecords call).
 */
export const PER_SHARD_LIMITS = {
  write: { bytesPerSecond: 1 * MiB, recordsPerSecond: 1000 },
  read: { bytesPerSecond: 2 * MiB, recordsPerSecond: 10000 },
} as const satisfies Record<string, StreamCapacity>;

/**
 * Capacity a new on-demand stream starts with, as documented: 4 MiB/s and 4,000 records/s of
 * writes and twice that of reads. Kinesis then scales it to twice the peak of the last 30 days
 * (up to the account's on-demand limit) without any action from us.
 */
export const ON_DEMAND_DEFAULT_CAPACITY = {
  write: { bytesPerSecond: 4 * MiB, recordsPerSecond: 4000 },
  read: { bytesPerSecond: 8 * MiB, recordsPerSecond: 40000 },
} as const satisfies Record<string, StreamCapacity>;

/**
 * A stream's maximum record size (`MaxRecordSizeInKiB`, data plus partition key of one record):
 * 1024 to 10240 KiB, 1 MiB unless set. Source: Kinesis API reference, `UpdateMaxRecordSize` and
 * `CreateStream` ("Specify a value between 1024 and 10240 KiB (1 to 10 MiB)"), and the developer
 * guide's "Handle large records" page (docs.aws.amazon.com/streams/latest/dev/large-records.html:
 * "The default maximum record size for existing, and newly created streams is set to 1 MiB"; the
 * per-shard write limit of 1 MB/s and 1,000 records/s stays: a large record bursts above it and
 * the shard's capacity then refills, so large records are for occasional payloads).
 */
export const RECORD_SIZE_LIMITS = {
  /** The default, and the smallest maximum a stream can have: 1 MiB. */
  minKiB: 1024,
  /** The largest maximum a stream can have: 10 MiB. */
  maxKiB: 10240,
} as const;

/**
 * Kinesis' write limits, as the API reference documents them today (PutRecords, in the Kinesis
 * API model of @aws-sdk/client-kinesis 3.1143: "Each PutRecords request can support up to 500
 * records. Each record in the request can be as large as 10 MiB, up to a limit of 10 MiB for the
 * entire request, including partition keys. Each shard can support writes up to 1,000 records per
 * second, up to a maximum data write total of 1 MB per second"; "The record size limit applies to
 * the total size of the partition key and data blob"). A record's limit is its stream's
 * `MaxRecordSizeInKiB` (RECORD_SIZE_LIMITS), which leaves the per-shard 1 MB/s write limit as it is.
 */
export const PUT_RECORDS_LIMITS = {
  /** Entries in one PutRecords request. */
  maxPutRecordsEntries: 500,
  /** One PutRecords request: data plus partition keys of all its entries. */
  maxPutRecordsBytes: 10 * MiB,
  /** A stream's maximum record size unless raised (data plus partition key). */
  defaultRecordBytes: RECORD_SIZE_LIMITS.minKiB * 1024,
  /** The largest maximum record size a stream can have. */
  maxRecordBytes: RECORD_SIZE_LIMITS.maxKiB * 1024,
  /**
   * The request size this producer uses by default on a stream of 1 MiB records: 5 MiB, the
   * documented limit before records above 1 MiB came (and what the KPL and SDK producers use), so
   * nothing changes for such streams; streams with larger records get the documented 10 MiB.
   */
  classicPutRecordsBytes: 5 * MiB,
} as const;

/**
 * UpdateShardCount's rules (API reference, UpdateShardCount): at most 10 calls per rolling 24
 * hours per stream, a new count of at most double and at least half the open shards, and at most
 * 10,000 shards in a stream (beyond that, and beyond the account's shard quota, a quota increase).
 */
export const UPDATE_SHARD_COUNT_LIMITS = {
  /** Calls per stream in a rolling 24 hours. */
  callsPerRollingDay: 10,
  /** The new count is at most this many times the open shards. */
  maxScaleOutFactor: 2,
  /** The new count is at least the open shards divided by this. */
  maxScaleInDivisor: 2,
  /** Shards a stream may have (without a quota increase). */
  maxShardsPerStream: 10000,
} as const;

/** The rolling window of UpdateShardCount's call limit, ms. */
export const ROLLING_DAY_MS = 24 * 60 * 60 * 1000;

/** Lambda's event-source mapping for Kinesis: the parallelization factor runs from 1 to 10 batches per shard. */
export const PARALLELIZATION_FACTOR_LIMITS = {
  min: 1,
  max: 10,
} as const;
