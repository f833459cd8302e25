import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { client, dynamoDbClient } from '../shared/clients';
import { DECISION_DIMENSION, loadScalerConfig, ScalerMetric } from './contract';
import { handleAlarm, type ScalerConfig, type ScalerResult } from './scaler';

/**
 * The shard autoscaler: invoked by its CloudWatch alarms (Lambda alarm action), with reserved
 * concurrency 1. Settings come from environment variables set by `ShardAutoscaler`. The event is
 * checked before anything is read: a malformed one throws `ScalerEventError` (the invocation
 * fails and, after Lambda's retries, lands in the on-failure destination); one that is not from
 * the scaler's own alarms is logged and ignored.
 */
const logger = new Logger();

export async function handler(event: unknown): Promise<ScalerResult> {
  const metrics = new Metrics();
  let stored = false;
  try {
    const result = await handleAlarm(
      event,
      configFromEnv(process.env),
      {
        // The SDK's standard retries (3 attempts with backoff): DescribeLimits allows 1 call a second.
        kinesis: client('kinesis-scaler', (requestHandler) => new KinesisClient({ requestHandler })),
        dynamodb: dynamoDbClient(),
        cloudwatch: client('cloudwatch', (requestHandler) => new CloudWatchClient({ requestHandler })),
        lambda: client('lambda', (requestHandler) => new LambdaClient({ requestHandler })),
      },
      {
        info: (message, extra) => logger.info(message, { ...extra }),
        warn: (message, extra) => logger.warn(message, { ...extra }),
      },
      Date.now(),
    );
    logger.info(result.reason, { decision: result.decision, action: result.action, shards: result.shards });
    if (result.shards !== undefined) {
      metrics.addMetric(ScalerMetric.SHARD_COUNT, MetricUnit.Count, result.shards);
      stored = true;
    }
    // A single metric is written at once, with its own Decision dimension.
    const single = metrics.singleMetric();
    single.addDimension(DECISION_DIMENSION, result.decision);
    single.addMetric(ScalerMetric.SCALING_DECISION, MetricUnit.Count, 1);
    return result;
  } finally {
    if (stored) {
      metrics.publishStoredMetrics();
    }
  }
}

export { CONSUMERS_ENV, parseConsumers, ScalerConfigError } from './contract';

/** The scaler's settings from its environment (`loadScalerConfig` of ./contract.ts). */
export function configFromEnv(env: NodeJS.ProcessEnv): ScalerConfig {
  return loadScalerConfig(env);
}
