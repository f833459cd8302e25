import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { dynamoDbClient, kinesisClient } from '../shared/clients';
import { LeaseStore } from '../shared/lease-store';
import { listShards, ShardMap, ShardMapCache } from '../shared/shard-map';
import { loadConsumerSettings } from './contract';
import { consumeBatch, type RecordProcessor } from './consumer';

export class ConsumerConfigError extends Error {
  public override readonly name = 'ConsumerConfigError';
}

/**
 * The consumer handler around a processor. Settings come from the environment ConsumerFunction
 * sets: LEASE_TABLE_NAME (absent: no checkpointing), RESERVE_MILLIS, OUT_OF_RANGE_RECORDS
 * (`process` or `skip`) with STREAM_NAME, and ORDERING, MAX_CONCURRENCY and
 * MAX_PARALLELIZATION_FACTOR (./contract.ts); the lease owner is the function's name
 * (AWS_LAMBDA_FUNCTION_NAME, or LEASE_OWNER to override).
 */
export function createHandler(processRecord: RecordProcessor, env: NodeJS.ProcessEnv = process.env): (event: KinesisStreamEvent, context: Context) => Promise<KinesisStreamBatchResponse> {
  if (typeof processRecord !== 'function') {
    throw new ConsumerConfigError('consumer: the processor module does not export a processRecord function');
  }
  const settings = loadConsumerSettings(env);
  const logger = new Logger();
  const tableName = env.LEASE_TABLE_NAME;
  const reserveMillis = Number(env.RESERVE_MILLIS ?? 0);
  const outOfRange = env.OUT_OF_RANGE_RECORDS ?? 'process';
  if (outOfRange !== 'process' && outOfRange !== 'skip') {
    throw new ConsumerConfigError(`consumer: OUT_OF_RANGE_RECORDS must be 'process' or 'skip'; received '${outOfRange}'`);
  }
  const streamName = env.STREAM_NAME;
  if (outOfRange === 'skip' && !streamName) {
    throw new ConsumerConfigError('consumer: OUT_OF_RANGE_RECORDS=skip needs STREAM_NAME (the shards\' hash ranges come from ListShards)');
  }
  const shardRange = outOfRange === 'skip' ? shardRanges(streamName!, (message, extra) => logger.warn(message, extra)) : undefined;
  let leases: LeaseStore | undefined;
  return async (event, context) => {
    const metrics = new Metrics();
    const owner = env.LEASE_OWNER ?? env.AWS_LAMBDA_FUNCTION_NAME ?? context.functionName;
    if (tableName && !leases) {
      leases = new LeaseStore(dynamoDbClient(), tableName);
    }
    const { response, shards } = await consumeBatch(event.Records, context, {
      processRecord, owner, leases, reserveMillis, shardRange,
      ordering: settings.ordering, maxConcurrency: settings.maxConcurrency, maxParallelizationFactor: settings.maxParallelizationFactor,
      log: { warn: (message, extra) => logger.warn(message, extra), error: (message, extra) => logger.error(message, extra) },
    });
    const sum = (pick: (s: (typeof shards)[number]) => number) => shards.reduce((total, s) => total + pick(s), 0);
    metrics.addMetric('KinesisRecords', MetricUnit.Count, event.Records.length);
    metrics.addMetric('UserRecords', MetricUnit.Count, sum((s) => s.userRecords));
    metrics.addMetric('DuplicatesSkipped', MetricUnit.Count, sum((s) => s.duplicatesSkipped));
    if (shardRange) {
      metrics.addMetric('OutOfRangeSkipped', MetricUnit.Count, sum((s) => s.outOfRangeSkipped));
    }
    metrics.addMetric('ProcessingFailures', MetricUnit.Count, sum((s) => s.failures));
    if (leases) {
      metrics.addMetric('LeaseWriteConflicts', MetricUnit.Count, sum((s) => s.leaseConflicts));
      metrics.addMetric('ProgressKeys', MetricUnit.Count, Math.max(0, ...shards.map((s) => s.progressKeys)));
      const evicted = sum((s) => s.progressEvicted);
      if (evicted > 0) {
        metrics.addMetric('ProgressEvicted', MetricUnit.Count, evicted);
      }
    }
    const lags = shards.flatMap((s) => (s.checkpointLagMillis === undefined ? [] : [s.checkpointLagMillis]));
    if (lags.length > 0) {
      metrics.addMetric('CheckpointLag', MetricUnit.Milliseconds, Math.max(...lags));
    }
    metrics.publishStoredMetrics();
    logger.info('batch consumed', { shards, batchItemFailures: response.batchItemFailures.length });
    return response;
  };
}

/**
 * Hash key ranges of the stream's shards (open and closed) from ListShards, cached per container
 * and reloaded for a shard it does not know yet (a child of a reshard since the last load). When
 * ListShards fails the shard's records are all processed: a duplicate, never a loss.
 */
export function shardRanges(streamName: string, warn: (message: string, extra: Record<string, unknown>) => void): (shardId: string) => Promise<{ start: bigint; end: bigint } | undefined> {
  // A shard's hash range never changes: the map is reloaded only for a shard it does not know.
  const cache = new ShardMapCache(async () => ShardMap.fromShards(await listShards(kinesisClient(), streamName)), Number.POSITIVE_INFINITY);
  return async (shardId) => {
    try {
      const known = (await cache.get()).rangeOf(shardId);
      if (known !== undefined) {
        return known;
      }
      cache.invalidate();
      const range = (await cache.get()).rangeOf(shardId);
      if (range === undefined) {
        warn('shard not in ListShards: processing all its records', { shardId, streamName });
      }
      return range;
    } catch (error) {
      warn('shard hash ranges not loaded: processing all records of the shard', { shardId, streamName, error });
      return undefined;
    }
  };
}
