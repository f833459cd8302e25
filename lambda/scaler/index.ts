import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { client, dynamoDbClient } from '../shared/clients';
import { CONSUMERS_ENV, parseConsumers, ScalerConfigError } from './contract';
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
    const result = await handleAlarm(event, configFromEnv(process.env), {
      // The SDK's standard retries (3 attempts with backoff): DescribeLimits allows 1 call a second.
      kinesis: client('kinesis-scaler', (requestHandler) => new KinesisClient({ requestHandler })),
      dynamodb: dynamoDbClient(),
      cloudwatch: client('cloudwatch', (requestHandler) => new CloudWatchClient({ requestHandler })),
      lambda: client('lambda', (requestHandler) => new LambdaClient({ requestHandler })),
    }, {
      info: (message, extra) => logger.info(message, { ...extra }),
      warn: (message, extra) => logger.warn(message, { ...extra }),
    }, Date.now());
    logger.info(result.reason, { decision: result.decision, action: result.action, shards: result.shards });
    if (result.shards !== undefined) {
      metrics.addMetric('ShardCount', MetricUnit.Count, result.shards);
      stored = true;
    }
    // A single metric is written at once, with its own Decision dimension.
    const single = metrics.singleMetric();
    single.addDimension('Decision', result.decision);
    single.addMetric('ScalingDecision', MetricUnit.Count, 1);
    return result;
  } finally {
    if (stored) {
      metrics.publishStoredMetrics();
    }
  }
}

export { CONSUMERS_ENV, parseConsumers, ScalerConfigError } from './contract';

export function configFromEnv(env: NodeJS.ProcessEnv): ScalerConfig {
  const text = (name: string): string => {
    const value = env[name];
    if (!value) {
      throw new ScalerConfigError(`scaler: environment variable ${name} is not set`);
    }
    return value;
  };
  const num = (name: string): number => {
    const value = Number(text(name));
    if (!Number.isFinite(value)) {
      throw new ScalerConfigError(`scaler: environment variable ${name} must be a number; received '${env[name]}'`);
    }
    return value;
  };
  const mappingId = env.EVENT_SOURCE_MAPPING_ID || undefined;
  const streamName = text('STREAM_NAME');
  const tableName = text('STATE_TABLE_NAME');
  const alarmNames = text('ALARM_NAMES').split(',').filter(Boolean);
  const alarmArns = text('ALARM_ARNS').split(',').filter(Boolean);
  const strayArn = alarmArns.find((arn) => !/^arn:[^:]+:cloudwatch:[^:]+:[0-9]+:alarm:.+$/.test(arn) || !alarmNames.includes(arn.split(':').slice(6).join(':')));
  if (strayArn !== undefined) {
    throw new ScalerConfigError(`scaler: ALARM_ARNS must hold the ARN of each alarm in ALARM_NAMES (arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>); received '${strayArn}'`);
  }
  const timeout = env.CONSUMER_TIMEOUT_MS ? num('CONSUMER_TIMEOUT_MS') : undefined;
  const consumers = env[CONSUMERS_ENV] ? parseConsumers(env[CONSUMERS_ENV]) : undefined;
  if (consumers && (env.CONSUMER_FUNCTION_NAME || env.EVENT_SOURCE_MAPPING_ID)) {
    throw new ScalerConfigError(`scaler: give the consumers either in ${CONSUMERS_ENV} or in CONSUMER_FUNCTION_NAME / EVENT_SOURCE_MAPPING_ID, not both`);
  }
  const adjustable = consumers ? consumers.some((c) => c.eventSourceMappingId !== undefined) : mappingId !== undefined;
  return {
    streamName,
    tableName,
    alarmNames,
    alarmArns,
    ...(consumers ? { consumers } : {}),
    eventSourceMappingId: mappingId,
    consumerFunctionName: env.CONSUMER_FUNCTION_NAME || undefined,
    consumerServiceName: env.CONSUMER_SERVICE_NAME || undefined,
    consumerTimeoutMs: timeout,
    stuckAlarmName: env.STUCK_ALARM_NAME || undefined,
    limits: {
      minShards: num('MIN_SHARDS'),
      maxShards: num('MAX_SHARDS'),
      targetUtilization: num('TARGET_UTILIZATION'),
      scaleOutUtilization: num('SCALE_OUT_UTILIZATION'),
      scaleInUtilization: num('SCALE_IN_UTILIZATION'),
      lagThresholdMs: num('LAG_THRESHOLD_MS'),
      scaleOutCooldownMs: num('SCALE_OUT_COOLDOWN_MS'),
      scaleInCooldownMs: num('SCALE_IN_COOLDOWN_MS'),
      quietWindowMinutes: num('QUIET_WINDOW_MINUTES'),
      reservedScaleOutCalls: num('RESERVED_SCALE_OUT_CALLS'),
      adjustParallelization: env.ADJUST_PARALLELIZATION === 'true' && adjustable,
    },
  };
}
