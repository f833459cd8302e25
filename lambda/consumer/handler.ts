import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { dynamoDbClient, kinesisClient } from '../shared/clients';
import { LeaseStore } from '../shared/lease-store';
import { listShards } from '../shared/shard-map';
import { ConsumerConfigError, ConsumerMetric, loadConsumerConfig, OutOfRange } from './contract';
import { consumeBatch, type RecordProcessor } from './consumer';
import { ShardLineageCache, type ShardLineage } from './lineage';

export { ConsumerConfigError } from './contract';

/**
 * The consumer handler around a processor. Settings come from the environment ConsumerFunction
 * sets, read by `loadConsumerConfig` (./contract.ts): LEASE_TABLE_NAME (absent: no
 * checkpointing), RESERVE_MILLIS, OUT_OF_RANGE_RECORDS (`process` or `skip`) with STREAM_NAME,
 * ORDERING, MAX_CONCURRENCY, MAX_PARALLELIZATION_FACTOR and APPLICATION_NAME; the lease owner is
 * the function's name (AWS_LAMBDA_FUNCTION_NAME, or LEASE_OWNER to override). With checkpointing,
 * the shards' lineage for the leases' KCL attributes comes from ListShards on the records' stream ARN.
 */
export function createHandler(
  processRecord: RecordProcessor,
  env: NodeJS.ProcessEnv = process.env,
): (event: KinesisStreamEvent, context: Context) => Promise<KinesisStreamBatchResponse> {
  if (typeof processRecord !== 'function') {
    throw new ConsumerConfigError(
      'consumer',
      'the processor module',
      'a module that exports a processRecord function',
      String(typeof processRecord),
      `received a processRecord of type ${typeof processRecord}`,
    );
  }
  const config = loadConsumerConfig(env);
  const logger = new Logger();
  const { leaseTableName: tableName, reserveMillis, outOfRangeRecords: outOfRange, streamName } = config;
  // One ListShards cache per stream serves both the range filter and the leases' lineage: with
  // STREAM_NAME set (OUT_OF_RANGE_RECORDS=skip) both read the stream by that name.
  const caches = shardLineageCaches();
  const shardRange =
    outOfRange === OutOfRange.SKIP
      ? shardRanges(caches(streamName!), streamName!, (message, extra) => logger.warn(message, extra))
      : undefined;
  let leases: LeaseStore | undefined;
  const lineages = shardLineages((message, extra) => logger.warn(message, extra), Date.now, caches);
  return async (event, context) => {
    const metrics = new Metrics();
    const owner = config.leaseOwner ?? env.AWS_LAMBDA_FUNCTION_NAME ?? context.functionName;
    if (tableName && !leases) {
      leases = new LeaseStore(dynamoDbClient(), tableName, { applicationName: config.applicationName });
    }
    const streamArn = event.Records[0]?.eventSourceARN;
    const { response, shards } = await consumeBatch(event.Records, context, {
      processRecord,
      owner,
      leases,
      reserveMillis,
      shardRange,
      shardLineage: leases && streamArn ? (shardId, fresh) => lineages(streamName ?? streamArn, shardId, fresh) : undefined,
      ordering: config.ordering,
      maxConcurrency: config.maxConcurrency,
      maxParallelizationFactor: config.maxParallelizationFactor,
      log: { warn: (message, extra) => logger.warn(message, extra), error: (message, extra) => logger.error(message, extra) },
    });
    const sum = (pick: (s: (typeof shards)[number]) => number) => shards.reduce((total, s) => total + pick(s), 0);
    metrics.addMetric(ConsumerMetric.KINESIS_RECORDS, MetricUnit.Count, event.Records.length);
    metrics.addMetric(
      ConsumerMetric.USER_RECORDS,
      MetricUnit.Count,
      sum((s) => s.userRecords),
    );
    metrics.addMetric(
      ConsumerMetric.DUPLICATES_SKIPPED,
      MetricUnit.Count,
      sum((s) => s.duplicatesSkipped),
    );
    if (shardRange) {
      metrics.addMetric(
        ConsumerMetric.OUT_OF_RANGE_SKIPPED,
        MetricUnit.Count,
        sum((s) => s.outOfRangeSkipped),
      );
    }
    metrics.addMetric(
      ConsumerMetric.PROCESSING_FAILURES,
      MetricUnit.Count,
      sum((s) => s.failures),
    );
    metrics.addMetric(
      ConsumerMetric.CORRUPT_RECORDS,
      MetricUnit.Count,
      sum((s) => s.corruptRecords),
    );
    metrics.addMetric(
      ConsumerMetric.EMPTY_AGGREGATES,
      MetricUnit.Count,
      sum((s) => s.emptyAggregates),
    );
    for (const s of shards) {
      if (s.corruptRecords > 0 || s.emptyAggregates > 0) {
        logger.warn('KPL aggregates that could not be read were handed to the processor whole (flagged corrupt), or held no user record', {
          shardId: s.shardId,
          corruptRecords: s.corruptRecords,
          emptyAggregates: s.emptyAggregates,
        });
      }
      if (s.shardEnded) {
        logger.info('shard finished: lease checkpoint set to SHARD_END', { shardId: s.shardId });
      }
    }
    if (leases) {
      metrics.addMetric(
        ConsumerMetric.LEASE_WRITE_CONFLICTS,
        MetricUnit.Count,
        sum((s) => s.leaseConflicts),
      );
      metrics.addMetric(ConsumerMetric.PROGRESS_KEYS, MetricUnit.Count, Math.max(0, ...shards.map((s) => s.progressKeys)));
      const evicted = sum((s) => s.progressEvicted);
      if (evicted > 0) {
        metrics.addMetric(ConsumerMetric.PROGRESS_EVICTED, MetricUnit.Count, evicted);
      }
    }
    const lags = shards.flatMap((s) => (s.checkpointLagMillis === undefined ? [] : [s.checkpointLagMillis]));
    if (lags.length > 0) {
      metrics.addMetric(ConsumerMetric.CHECKPOINT_LAG, MetricUnit.Milliseconds, Math.max(...lags));
    }
    metrics.publishStoredMetrics();
    logger.info('batch consumed', { shards, batchItemFailures: response.batchItemFailures.length });
    return response;
  };
}

/** After ListShards failed, the lineage is not asked for again for this long (the leases go without it meanwhile). */
const LINEAGE_RETRY_MS = 60_000;

/** A ShardLineageCache per stream (name or ARN), created on first use, loaded by ListShards. */
export function shardLineageCaches(now: () => number = Date.now): (stream: string) => ShardLineageCache {
  const caches = new Map<string, ShardLineageCache>();
  return (stream) => {
    let cache = caches.get(stream);
    if (cache === undefined) {
      cache = new ShardLineageCache(() => listShards(kinesisClient(), stream), { now });
      caches.set(stream, cache);
    }
    return cache;
  };
}

/**
 * The lineage of a shard by stream (name, or the records' ARN; one cache per stream per
 * container). A failure is logged and answered with undefined: the lease goes without the KCL
 * attributes (and SHARD_END) for a while, never without its checkpoint.
 */
export function shardLineages(
  warn: (message: string, extra: Record<string, unknown>) => void,
  now: () => number = Date.now,
  cacheOf: (stream: string) => ShardLineageCache = shardLineageCaches(now),
): (stream: string, shardId: string, fresh: boolean) => Promise<ShardLineage | undefined> {
  let failedAt: number | undefined;
  return async (stream, shardId, fresh) => {
    if (failedAt !== undefined && now() - failedAt < LINEAGE_RETRY_MS) {
      return undefined;
    }
    try {
      const lineage = await cacheOf(stream).get(shardId, fresh);
      failedAt = undefined;
      if (lineage === undefined) {
        warn('shard not in ListShards: its lease goes without hash range and parents', { shardId, stream });
      }
      return lineage;
    } catch (error) {
      failedAt = now();
      warn(`ListShards failed: leases go without hash range, parents and SHARD_END for ${LINEAGE_RETRY_MS / 1000} s`, {
        shardId,
        stream,
        error,
      });
      return undefined;
    }
  };
}

/**
 * Hash key ranges of the stream's shards (open and closed) from the stream's lineage cache:
 * ListShards once per container, again for a shard it does not know yet (a child of a reshard
 * since the last load); a shard's range never changes. When ListShards fails the shard's records
 * are all processed: a duplicate, never a loss.
 */
export function shardRanges(
  cache: ShardLineageCache,
  streamName: string,
  warn: (message: string, extra: Record<string, unknown>) => void,
): (shardId: string) => Promise<{ start: bigint; end: bigint } | undefined> {
  return async (shardId) => {
    try {
      const lineage = await cache.get(shardId);
      if (lineage === undefined) {
        warn('shard not in ListShards: processing all its records', { shardId, streamName });
        return undefined;
      }
      return { start: BigInt(lineage.startingHashKey), end: BigInt(lineage.endingHashKey) };
    } catch (error) {
      warn('shard hash ranges not loaded: processing all records of the shard', { shardId, streamName, error });
      return undefined;
    }
  };
}
