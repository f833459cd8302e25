/**
 * The consumer handler's settings: the environment variables `ConsumerFunction` sets and the
 * handler reads, their defaults and limits. Both sides import this module, so a name or a default
 * is written once.
 */
import { envReader, EnvConfigError, RuntimeEnv } from '../shared/env';
import { PARALLELIZATION_FACTOR_LIMITS } from '../shared/kinesis-limits';

/** How the records of one shard are ordered while they are processed. */
export const Ordering = {
  /** Records of one partition key strictly in order, one at a time; different keys concurrently. */
  PARTITION_KEY: 'partition-key',
  /** One record at a time per shard, in shard order. */
  SHARD: 'shard',
} as const;
export type Ordering = (typeof Ordering)[keyof typeof Ordering];

export const ConsumerEnv = {
  ...RuntimeEnv,
  /** `partition-key` or `shard`. */
  ORDERING: 'ORDERING',
  /** User records in flight per invocation, 1 to 1,000. */
  MAX_CONCURRENCY: 'MAX_CONCURRENCY',
  /**
   * The largest parallelization factor the mapping may run with (1 to 10): the one it was created
   * with, or 10 when a ShardAutoscaler may raise it. At 1 the lease's checkpoint (low watermark)
   * moves with every batch; above 1 Lambda runs several batches of a shard at once, and exactness
   * comes from the per-partition-key progress kept in the lease (see lambda/shared/progress.ts).
   */
  MAX_PARALLELIZATION_FACTOR: 'MAX_PARALLELIZATION_FACTOR',
  /**
   * The consumer application's name, written into every lease (`applicationName`). A lease with
   * another application's name is refused (the invocation fails); one without is adopted. Unset:
   * nothing is checked (a handler deployed by an older construct).
   */
  APPLICATION_NAME: 'APPLICATION_NAME',
  /** The lease table; unset: no checkpointing. */
  LEASE_TABLE_NAME: 'LEASE_TABLE_NAME',
  /** Time kept back from the invocation's remaining time for checkpointing, ms (0 or more). */
  RESERVE_MILLIS: 'RESERVE_MILLIS',
  /** `process` or `skip`: what happens to a user record that hashes outside its shard. */
  OUT_OF_RANGE_RECORDS: 'OUT_OF_RANGE_RECORDS',
  /** The stream, whose shards' hash ranges ListShards gives (needed by OUT_OF_RANGE_RECORDS=skip). */
  STREAM_NAME: 'STREAM_NAME',
  /** The leases' owner; unset: the function's name (AWS_LAMBDA_FUNCTION_NAME). Tests and local runs set it. */
  LEASE_OWNER: 'LEASE_OWNER',
} as const;
export type ConsumerEnvName = (typeof ConsumerEnv)[keyof typeof ConsumerEnv];

/** What the consumer does with a user record inside an aggregate that hashes outside its shard (`OutOfRangeRecords` of the construct). */
export const OutOfRange = {
  PROCESS: 'process',
  SKIP: 'skip',
} as const;
export type OutOfRange = (typeof OutOfRange)[keyof typeof OutOfRange];

/** Names of the handler's custom metrics (namespace KinesisPipeline, `service` dimension); ConsumerFunction's metric methods use the same. */
export const ConsumerMetric = {
  /** Kinesis records in the batch (aggregated or not). */
  KINESIS_RECORDS: 'KinesisRecords',
  USER_RECORDS: 'UserRecords',
  DUPLICATES_SKIPPED: 'DuplicatesSkipped',
  PROCESSING_FAILURES: 'ProcessingFailures',
  /** Records with the KPL magic whose MD5 or body does not check out, handed to the processor whole and flagged `corrupt`. */
  CORRUPT_RECORDS: 'CorruptRecords',
  /** KPL aggregates holding no user record. */
  EMPTY_AGGREGATES: 'EmptyAggregates',
  /** User records skipped because they hash outside their shard (OUT_OF_RANGE_RECORDS=skip only). */
  OUT_OF_RANGE_SKIPPED: 'OutOfRangeSkipped',
  /** Lease writes that lost to a concurrent invocation of the shard (checkpointing only). */
  LEASE_WRITE_CONFLICTS: 'LeaseWriteConflicts',
  /** Outer partition keys with progress kept above a shard's checkpoint (checkpointing only). */
  PROGRESS_KEYS: 'ProgressKeys',
  /** Progress entries dropped to keep a lease under its bound. */
  PROGRESS_EVICTED: 'ProgressEvicted',
  /** From the checkpointed record's arrival to its checkpoint, ms. */
  CHECKPOINT_LAG: 'CheckpointLag',
} as const;

/** Longest application name (it is a lease attribute and appears in errors). */
export const MAX_APPLICATION_NAME_LENGTH = 256;

export const CONSUMER_DEFAULTS = {
  ordering: Ordering.PARTITION_KEY,
  /**
   * 16 in flight: what a processor writing to a database can usually hold open (connection pools
   * default to 10 to 20; Confluent's Parallel Consumer defaults `maxConcurrency` to 16).
   */
  maxConcurrency: 16,
  maxParallelizationFactor: 1,
  outOfRangeRecords: OutOfRange.PROCESS,
  /** Checkpointing time kept back when unset (the construct sets a sixth of the timeout, at most 5 s). */
  reserveMillis: 0,
  /** What the construct keeps back at most. */
  maxReserveMillis: 5_000,
} as const;

export const CONSUMER_LIMITS = {
  minConcurrency: 1,
  maxConcurrency: 1_000,
  minParallelizationFactor: PARALLELIZATION_FACTOR_LIMITS.min,
  maxParallelizationFactor: PARALLELIZATION_FACTOR_LIMITS.max,
} as const;

/** A consumer setting is missing or malformed. */
export class ConsumerConfigError extends EnvConfigError {
  public override readonly name = 'ConsumerConfigError';
}

export interface ConsumerSettings {
  readonly ordering: Ordering;
  readonly maxConcurrency: number;
  readonly maxParallelizationFactor: number;
  /** Undefined when unset: leases are neither checked nor marked. */
  readonly applicationName?: string;
}

/** Everything the handler reads from its environment. */
export interface ConsumerConfig extends ConsumerSettings {
  /** Undefined: no checkpointing. */
  readonly leaseTableName?: string;
  readonly reserveMillis: number;
  readonly outOfRangeRecords: OutOfRange;
  /** Set (and required) with `outOfRangeRecords` skip; used for the leases' lineage too when set. */
  readonly streamName?: string;
  /** The LEASE_OWNER override; the handler falls back to the function's name. */
  readonly leaseOwner?: string;
}

/** The ordering, concurrency, factor and application settings; defaults for what is unset. */
export function loadConsumerSettings(env: NodeJS.ProcessEnv): ConsumerSettings {
  const read = envReader(env, 'consumer', ConsumerConfigError);
  const applicationName = read.optionalString(ConsumerEnv.APPLICATION_NAME);
  if (applicationName !== undefined && applicationName.length > MAX_APPLICATION_NAME_LENGTH) {
    read.fail(
      ConsumerEnv.APPLICATION_NAME,
      `at most ${MAX_APPLICATION_NAME_LENGTH} characters`,
      applicationName,
      `received ${applicationName.length}`,
    );
  }
  return {
    applicationName,
    ordering: read.oneOf(ConsumerEnv.ORDERING, [Ordering.PARTITION_KEY, Ordering.SHARD], CONSUMER_DEFAULTS.ordering),
    maxConcurrency: read.integer(ConsumerEnv.MAX_CONCURRENCY, {
      fallback: CONSUMER_DEFAULTS.maxConcurrency,
      min: CONSUMER_LIMITS.minConcurrency,
      max: CONSUMER_LIMITS.maxConcurrency,
    }),
    maxParallelizationFactor: read.integer(ConsumerEnv.MAX_PARALLELIZATION_FACTOR, {
      fallback: CONSUMER_DEFAULTS.maxParallelizationFactor,
      min: CONSUMER_LIMITS.minParallelizationFactor,
      max: CONSUMER_LIMITS.maxParallelizationFactor,
    }),
  };
}

/** The settings of the environment, defaults for what is unset; throws `ConsumerConfigError` naming the variable, rule and value. */
export function loadConsumerConfig(env: NodeJS.ProcessEnv): ConsumerConfig {
  const settings = loadConsumerSettings(env);
  const read = envReader(env, 'consumer', ConsumerConfigError);
  const outOfRangeRecords = read.oneOf(
    ConsumerEnv.OUT_OF_RANGE_RECORDS,
    [OutOfRange.PROCESS, OutOfRange.SKIP],
    CONSUMER_DEFAULTS.outOfRangeRecords,
  );
  const streamName = read.optionalString(ConsumerEnv.STREAM_NAME);
  if (outOfRangeRecords === OutOfRange.SKIP && streamName === undefined) {
    read.fail(
      ConsumerEnv.OUT_OF_RANGE_RECORDS,
      `'${OutOfRange.PROCESS}' unless ${ConsumerEnv.STREAM_NAME} is set (OUT_OF_RANGE_RECORDS=skip needs STREAM_NAME: the shards' hash ranges come from ListShards)`,
      outOfRangeRecords,
    );
  }
  return {
    ...settings,
    leaseTableName: read.optionalString(ConsumerEnv.LEASE_TABLE_NAME),
    reserveMillis: read.integer(ConsumerEnv.RESERVE_MILLIS, { fallback: CONSUMER_DEFAULTS.reserveMillis, min: 0 }),
    outOfRangeRecords,
    streamName,
    leaseOwner: read.optionalString(ConsumerEnv.LEASE_OWNER),
  };
}
