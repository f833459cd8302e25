/** Throughput in bytes and records per second. */
export interface StreamCapacity {
  readonly bytesPerSecond: number;
  readonly recordsPerSecond: number;
}

const MiB = 1024 * 1024;

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
