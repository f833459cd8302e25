import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { dynamoDbClient } from '../shared/clients';
import { LeaseStore } from '../shared/lease-store';
import { consumeBatch, type RecordProcessor } from './consumer';

export class ConsumerConfigError extends Error {
  public override readonly name = 'ConsumerConfigError';
}

/**
 * The consumer handler around a processor. Settings come from the environment ConsumerFunction
 * sets: LEASE_TABLE_NAME (absent: no checkpointing), RESERVE_MILLIS; the lease owner is the
 * function's name (AWS_LAMBDA_FUNCTION_NAME, or LEASE_OWNER to override).
 */
export function createHandler(processRecord: RecordProcessor, env: NodeJS.ProcessEnv = process.env): (event: KinesisStreamEvent, context: Context) => Promise<KinesisStreamBatchResponse> {
  if (typeof processRecord !== 'function') {
    throw new ConsumerConfigError('consumer: the processor module does not export a processRecord function');
  }
  const logger = new Logger();
  const tableName = env.LEASE_TABLE_NAME;
  const reserveMillis = Number(env.RESERVE_MILLIS ?? 0);
  let leases: LeaseStore | undefined;
  return async (event, context) => {
    const metrics = new Metrics();
    const owner = env.LEASE_OWNER ?? env.AWS_LAMBDA_FUNCTION_NAME ?? context.functionName;
    if (tableName && !leases) {
      leases = new LeaseStore(dynamoDbClient(), tableName);
    }
    const { response, shards } = await consumeBatch(event.Records, context, {
      processRecord, owner, leases, reserveMillis,
      log: { warn: (message, extra) => logger.warn(message, extra), error: (message, extra) => logger.error(message, extra) },
    });
    const sum = (pick: (s: (typeof shards)[number]) => number) => shards.reduce((total, s) => total + pick(s), 0);
    metrics.addMetric('KinesisRecords', MetricUnit.Count, event.Records.length);
    metrics.addMetric('UserRecords', MetricUnit.Count, sum((s) => s.userRecords));
    metrics.addMetric('DuplicatesSkipped', MetricUnit.Count, sum((s) => s.duplicatesSkipped));
    metrics.addMetric('ProcessingFailures', MetricUnit.Count, sum((s) => (s.failed ? 1 : 0)));
    const lags = shards.flatMap((s) => (s.checkpointLagMillis === undefined ? [] : [s.checkpointLagMillis]));
    if (lags.length > 0) {
      metrics.addMetric('CheckpointLag', MetricUnit.Milliseconds, Math.max(...lags));
    }
    metrics.publishStoredMetrics();
    logger.info('batch consumed', { shards, batchItemFailures: response.batchItemFailures.length });
    return response;
  };
}
