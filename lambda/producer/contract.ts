/**
 * The producer handler's settings: the environment variables `ProducerFunction` sets and the
 * handler reads, their defaults and limits, the handler's metric names, and `loadProducerConfig`.
 * Both sides import this module, so a name or a default is written once. Pure: no AWS clients.
 */
import { envReader, EnvConfigError, RuntimeEnv } from '../shared/env';
import type { BackoffOptions } from '../shared/retry';
import { DEFAULT_LIMITS, KINESIS_LIMITS, MAX_ORDERING_GROUPS, defaultBatchBytes, type ProducerLimits } from './limits';

export const ProducerEnv = {
  ...RuntimeEnv,
  /** The stream written to (required). */
  STREAM_NAME: 'STREAM_NAME',
  /** Largest aggregated record, bytes. */
  MAX_AGGREGATE_BYTES: 'MAX_AGGREGATE_BYTES',
  /** Most user records in one aggregated record. */
  MAX_RECORDS_PER_AGGREGATE: 'MAX_RECORDS_PER_AGGREGATE',
  /** Most entries per PutRecords request, 1 to 500. */
  MAX_BATCH_ENTRIES: 'MAX_BATCH_ENTRIES',
  /** Largest PutRecords request, bytes (at most 10 MiB). */
  MAX_BATCH_BYTES: 'MAX_BATCH_BYTES',
  /** Largest entry: the stream's maximum record size or less, bytes (at most 10 MiB). */
  MAX_ENTRY_BYTES: 'MAX_ENTRY_BYTES',
  /** Ordering groups, 0 to 256. */
  ORDERING_GROUPS: 'ORDERING_GROUPS',
  /** Delay cap of the first retry, ms. */
  RETRY_BASE_MS: 'RETRY_BASE_MS',
  /** Largest retry delay cap, ms. */
  RETRY_MAX_MS: 'RETRY_MAX_MS',
  /** Time kept back from the invocation's remaining time for answering, ms. */
  SAFETY_MARGIN_MS: 'SAFETY_MARGIN_MS',
  /** How long a container keeps its shard map, ms. */
  SHARD_MAP_TTL_MS: 'SHARD_MAP_TTL_MS',
  /** `true` or `false`: direct invokes throw `ProducerWriteError` when a record was not written. */
  THROW_ON_UNDELIVERED: 'THROW_ON_UNDELIVERED',
  /** Longest one PutRecords or ListShards call may take, ms. */
  CALL_TIMEOUT_MS: 'CALL_TIMEOUT_MS',
  /** The progress table (retries never copy); unset: at least once. */
  PROGRESS_TABLE_NAME: 'PROGRESS_TABLE_NAME',
  /** How long the progress of a request is kept, seconds. */
  PROGRESS_WINDOW_SECONDS: 'PROGRESS_WINDOW_SECONDS',
} as const;
export type ProducerEnvName = (typeof ProducerEnv)[keyof typeof ProducerEnv];

/** Names of the handler's custom metrics (namespace KinesisPipeline, `service` dimension); ProducerFunction's metric methods use the same. */
export const ProducerMetric = {
  USER_RECORDS: 'UserRecords',
  ALREADY_WRITTEN_RECORDS: 'AlreadyWrittenRecords',
  KINESIS_RECORDS: 'KinesisRecords',
  AGGREGATION_RATIO: 'AggregationRatio',
  RETRIES: 'Retries',
  THROTTLED_ENTRIES: 'ThrottledEntries',
  RESENT_RECORDS: 'ResentRecords',
  UNKNOWN_OUTCOME_RETRIES: 'UnknownOutcomeRetries',
  FAILED_RECORDS: 'FailedRecords',
  /** Requests refused before any write (bad input, a request already refused). */
  REFUSED_REQUESTS: 'RefusedRequests',
} as const;

/** Lambda's asynchronous retry horizon (maximum event age) by default: 6 hours. */
export const DEFAULT_PROGRESS_WINDOW_SECONDS = 6 * 3600;

/** What the handler does when a variable is unset, and what `ProducerFunction` sets by default. */
export const PRODUCER_DEFAULTS = {
  limits: DEFAULT_LIMITS,
  retryBaseMs: 100,
  retryMaxMs: 5_000,
  safetyMarginMs: 1_000,
  shardMapTtlMs: 60_000,
  throwOnUndelivered: true,
  callTimeoutMs: 5_000,
  progressWindowSeconds: DEFAULT_PROGRESS_WINDOW_SECONDS,
} as const;

/** The bounds the handler enforces (Kinesis' documented limits and ours). */
export const PRODUCER_LIMITS = {
  maxRecordBytes: KINESIS_LIMITS.maxRecordBytes,
  maxPutRecordsEntries: KINESIS_LIMITS.maxPutRecordsEntries,
  maxPutRecordsBytes: KINESIS_LIMITS.maxPutRecordsBytes,
  /** KPL AggregationMaxCount: an unsigned 32-bit count. */
  maxRecordsPerAggregate: DEFAULT_LIMITS.maxRecordsPerAggregate,
  maxOrderingGroups: MAX_ORDERING_GROUPS,
} as const;

/** A producer setting is missing or malformed. */
export class ProducerConfigError extends EnvConfigError {
  public override readonly name = 'ProducerConfigError';
}

/** Settings the construct passes in as environment variables. */
export interface ProducerConfig {
  readonly streamName: string;
  readonly limits: ProducerLimits;
  readonly backoff: BackoffOptions;
  /** Time kept back from the invocation's remaining time for answering. */
  readonly safetyMarginMs: number;
  readonly shardMapTtlMs: number;
  /** Direct invokes throw `ProducerWriteError` when a record was not written. */
  readonly throwOnUndelivered: boolean;
  /** Longest one PutRecords or ListShards call may take, ms. */
  readonly callTimeoutMs: number;
  /** The progress table (retries never copy): unset, every delivery writes everything (at least once). */
  readonly progressTableName?: string;
  /** How long the progress of a request is kept, seconds. */
  readonly progressWindowSeconds: number;
}

/** The settings of the environment, defaults for what is unset; throws `ProducerConfigError` naming the variable, rule and value. */
export function loadProducerConfig(env: NodeJS.ProcessEnv): ProducerConfig {
  const read = envReader(env, 'producer', ProducerConfigError);
  const E = ProducerEnv;
  const D = PRODUCER_DEFAULTS;
  const streamName = read.string(E.STREAM_NAME);
  // The stream's maximum record size (the construct passes it), and the request size that goes
  // with it unless set: see KINESIS_LIMITS for the documented figures.
  const maxEntryBytes = read.integer(E.MAX_ENTRY_BYTES, {
    fallback: D.limits.maxEntryBytes,
    max: PRODUCER_LIMITS.maxRecordBytes,
    maxName: 'the largest Kinesis record, 10 MiB',
  });
  const progressTableName = read.optionalString(E.PROGRESS_TABLE_NAME);
  return {
    streamName,
    limits: {
      maxAggregateBytes: read.integer(E.MAX_AGGREGATE_BYTES, { fallback: D.limits.maxAggregateBytes }),
      maxRecordsPerAggregate: read.integer(E.MAX_RECORDS_PER_AGGREGATE, { fallback: D.limits.maxRecordsPerAggregate }),
      maxBatchEntries: read.integer(E.MAX_BATCH_ENTRIES, {
        fallback: D.limits.maxBatchEntries,
        max: PRODUCER_LIMITS.maxPutRecordsEntries,
        maxName: 'entries in one PutRecords request',
      }),
      maxBatchBytes: read.integer(E.MAX_BATCH_BYTES, {
        fallback: defaultBatchBytes(maxEntryBytes),
        max: PRODUCER_LIMITS.maxPutRecordsBytes,
        maxName: 'the largest PutRecords request, 10 MiB',
      }),
      maxEntryBytes,
      orderingGroups: read.integer(E.ORDERING_GROUPS, {
        fallback: D.limits.orderingGroups,
        min: 0,
        max: PRODUCER_LIMITS.maxOrderingGroups,
      }),
    },
    backoff: {
      baseMs: read.integer(E.RETRY_BASE_MS, { fallback: D.retryBaseMs }),
      maxMs: read.integer(E.RETRY_MAX_MS, { fallback: D.retryMaxMs }),
    },
    safetyMarginMs: read.integer(E.SAFETY_MARGIN_MS, { fallback: D.safetyMarginMs }),
    shardMapTtlMs: read.integer(E.SHARD_MAP_TTL_MS, { fallback: D.shardMapTtlMs }),
    throwOnUndelivered: read.boolean(E.THROW_ON_UNDELIVERED, D.throwOnUndelivered),
    callTimeoutMs: read.integer(E.CALL_TIMEOUT_MS, { fallback: D.callTimeoutMs }),
    ...(progressTableName ? { progressTableName } : {}),
    progressWindowSeconds: read.integer(E.PROGRESS_WINDOW_SECONDS, { fallback: D.progressWindowSeconds }),
  };
}
