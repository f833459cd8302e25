/**
 * The consumer handler's settings: the environment variables `ConsumerFunction` sets and the
 * handler reads, their defaults and limits. Both sides import this module, so a name or a default
 * is written once.
 */

/** How the records of one shard are ordered while they are processed. */
export const Ordering = {
  /** Records of one partition key strictly in order, one at a time; different keys concurrently. */
  PARTITION_KEY: 'partition-key',
  /** One record at a time per shard, in shard order. */
  SHARD: 'shard',
} as const;
export type Ordering = (typeof Ordering)[keyof typeof Ordering];

export const ConsumerEnv = {
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
} as const;

/** Names of the handler's custom metrics (namespace KinesisPipeline, `service` dimension); ConsumerFunction's metric methods use the same. */
export const ConsumerMetric = {
  USER_RECORDS: 'UserRecords',
  DUPLICATES_SKIPPED: 'DuplicatesSkipped',
  PROCESSING_FAILURES: 'ProcessingFailures',
  /** Records with the KPL magic whose MD5 or body does not check out, handed to the processor whole and flagged `corrupt`. */
  CORRUPT_RECORDS: 'CorruptRecords',
  /** KPL aggregates holding no user record. */
  EMPTY_AGGREGATES: 'EmptyAggregates',
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
} as const;

export const CONSUMER_LIMITS = {
  minConcurrency: 1,
  maxConcurrency: 1_000,
  minParallelizationFactor: 1,
  maxParallelizationFactor: 10,
} as const;

export class ConsumerSettingsError extends Error {
  public override readonly name = 'ConsumerSettingsError';
}

export interface ConsumerSettings {
  readonly ordering: Ordering;
  readonly maxConcurrency: number;
  readonly maxParallelizationFactor: number;
  /** Undefined when unset: leases are neither checked nor marked. */
  readonly applicationName?: string;
}

/** The settings of the environment, defaults for what is unset; throws `ConsumerSettingsError` naming the variable and rule. */
export function loadConsumerSettings(env: NodeJS.ProcessEnv): ConsumerSettings {
  const ordering = env[ConsumerEnv.ORDERING] ?? CONSUMER_DEFAULTS.ordering;
  if (ordering !== Ordering.PARTITION_KEY && ordering !== Ordering.SHARD) {
    throw new ConsumerSettingsError(`consumer: ${ConsumerEnv.ORDERING} must be '${Ordering.PARTITION_KEY}' or '${Ordering.SHARD}'; received '${ordering}'`);
  }
  const whole = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') {
      return fallback;
    }
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new ConsumerSettingsError(`consumer: ${name} must be a whole number from ${min} to ${max}; received '${raw}'`);
    }
    return value;
  };
  const applicationName = env[ConsumerEnv.APPLICATION_NAME];
  if (applicationName !== undefined && applicationName !== '' && applicationName.length > MAX_APPLICATION_NAME_LENGTH) {
    throw new ConsumerSettingsError(`consumer: ${ConsumerEnv.APPLICATION_NAME} must be at most ${MAX_APPLICATION_NAME_LENGTH} characters; received ${applicationName.length}`);
  }
  return {
    applicationName: applicationName === '' ? undefined : applicationName,
    ordering,
    maxConcurrency: whole(ConsumerEnv.MAX_CONCURRENCY, CONSUMER_DEFAULTS.maxConcurrency, CONSUMER_LIMITS.minConcurrency, CONSUMER_LIMITS.maxConcurrency),
    maxParallelizationFactor: whole(ConsumerEnv.MAX_PARALLELIZATION_FACTOR, CONSUMER_DEFAULTS.maxParallelizationFactor, CONSUMER_LIMITS.minParallelizationFactor, CONSUMER_LIMITS.maxParallelizationFactor),
  };
}
