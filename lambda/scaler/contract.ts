/**
 * The scaler's settings contract shared by `ShardAutoscaler` (which sets them) and the handler
 * (which reads them): the variables' names, the defaults of the autoscaler, the handler's metric
 * names, and the typed `loadScalerConfig`. Pure: no AWS clients, no logger, so the construct can
 * import it at synth time.
 */
import { envReader, EnvConfigError, RuntimeEnv } from '../shared/env';
import type { ScalerConfig } from './scaler';

export const ScalerEnv = {
  ...RuntimeEnv,
  /** The stream scaled. */
  STREAM_NAME: 'STREAM_NAME',
  /** The table of the scaler's state. */
  STATE_TABLE_NAME: 'STATE_TABLE_NAME',
  /** The scaler's alarms, comma-separated. */
  ALARM_NAMES: 'ALARM_NAMES',
  /** Their ARNs, comma-separated: an event from any other alarm is ignored. */
  ALARM_ARNS: 'ALARM_ARNS',
  MIN_SHARDS: 'MIN_SHARDS',
  MAX_SHARDS: 'MAX_SHARDS',
  /** Fractions of the shards' capacity (0.6 for 60 %). */
  TARGET_UTILIZATION: 'TARGET_UTILIZATION',
  SCALE_OUT_UTILIZATION: 'SCALE_OUT_UTILIZATION',
  SCALE_IN_UTILIZATION: 'SCALE_IN_UTILIZATION',
  LAG_THRESHOLD_MS: 'LAG_THRESHOLD_MS',
  SCALE_OUT_COOLDOWN_MS: 'SCALE_OUT_COOLDOWN_MS',
  SCALE_IN_COOLDOWN_MS: 'SCALE_IN_COOLDOWN_MS',
  QUIET_WINDOW_MINUTES: 'QUIET_WINDOW_MINUTES',
  RESERVED_SCALE_OUT_CALLS: 'RESERVED_SCALE_OUT_CALLS',
  /** `true` or `false` (unset: false): whether consumers' mappings' factors may change. */
  ADJUST_PARALLELIZATION: 'ADJUST_PARALLELIZATION',
  /** Every consumer, as JSON (`ScalerConsumerConfig[]`). */
  CONSUMERS: 'CONSUMERS',
  /** The ConsumerStuck alarm the scaler sets to ALARM (set once `notifyOperators` made it). */
  STUCK_ALARM_NAME: 'STUCK_ALARM_NAME',
  /** Older single-consumer variables, still read without CONSUMERS (no construct sets them now). */
  EVENT_SOURCE_MAPPING_ID: 'EVENT_SOURCE_MAPPING_ID',
  CONSUMER_FUNCTION_NAME: 'CONSUMER_FUNCTION_NAME',
  CONSUMER_SERVICE_NAME: 'CONSUMER_SERVICE_NAME',
  CONSUMER_TIMEOUT_MS: 'CONSUMER_TIMEOUT_MS',
} as const;
export type ScalerEnvName = (typeof ScalerEnv)[keyof typeof ScalerEnv];

/** Names of the scaler's own metrics (namespace KinesisPipeline, `service` dimension); ShardAutoscaler's metric methods use the same. */
export const ScalerMetric = {
  /** The shard count the scaler saw or set. */
  SHARD_COUNT: 'ShardCount',
  /** One per decision, with the `Decision` dimension (`ScalingDecisionKind`). */
  SCALING_DECISION: 'ScalingDecision',
} as const;

/** The dimension of `ScalingDecision` that holds the decision's kind. */
export const DECISION_DIMENSION = 'Decision';

/** ShardAutoscaler's defaults (what it sets when a prop is not given); utilisations in percent. */
export const AUTOSCALER_DEFAULTS = {
  minShards: 1,
  /** At least this many, or the stream's shard count (or minShards) when larger. */
  maxShards: 64,
  targetUtilizationPercent: 60,
  lagThresholdMs: 60_000,
  scaleOutCooldownMs: 5 * 60_000,
  scaleInCooldownMs: 60 * 60_000,
  quietWindowMinutes: 60,
  /** UpdateShardCount calls of the rolling day that scale-in leaves to scale-out. */
  reservedScaleOutCalls: 2,
  adjustParallelization: true,
} as const;

/** The scale-out threshold that goes with a target utilisation: half-way between it and 100 %, percent. */
export function scaleOutUtilizationPercent(targetPercent: number): number {
  return Math.round(targetPercent + (100 - targetPercent) / 2);
}

/** The scale-in threshold that goes with a target utilisation: half of it, percent. */
export function scaleInUtilizationPercent(targetPercent: number): number {
  return Math.round(targetPercent / 2);
}

/** A setting of the scaler's environment is missing or malformed. */
export class ScalerConfigError extends EnvConfigError {
  public override readonly name = 'ScalerConfigError';
}

/** One consumer as the scaler reads it (the `CONSUMERS` variable holds a JSON array of these). */
export interface ScalerConsumerConfig {
  /** Unique among the consumers: its cooldown's key in the state, its name in reasons. */
  readonly id: string;
  /** Its Lambda function: AWS/Lambda IteratorAge, Errors, Duration (FunctionName dimension). */
  readonly functionName: string;
  /** Its handler's `service` dimension (UserRecords, ProcessingFailures, DuplicatesSkipped). */
  readonly serviceName?: string;
  /** Its function timeout, ms. */
  readonly timeoutMs?: number;
  /** Its event-source mapping, when the scaler may change the mapping's parallelization factor. */
  readonly eventSourceMappingId?: string;
}

/**
 * The variable that holds every consumer of the stream, as a JSON array of
 * `{ id, functionName, serviceName?, timeoutMs?, eventSourceMappingId? }` (`ScalerConsumerConfig`);
 * `ShardAutoscaler` sets it. The older single-consumer variables (CONSUMER_FUNCTION_NAME,
 * CONSUMER_SERVICE_NAME, CONSUMER_TIMEOUT_MS, EVENT_SOURCE_MAPPING_ID) are still read without it.
 */
export const CONSUMERS_ENV = ScalerEnv.CONSUMERS;

/** The id of the consumer at `index` in `CONSUMERS` (and the tag of its alarms): `consumer`, `consumer2`, ... */
export function consumerId(index: number): string {
  return index === 0 ? 'consumer' : `consumer${index + 1}`;
}

/** Parses and checks `CONSUMERS`: a ScalerConfigError names the entry and the rule it broke. */
export function parseConsumers(text: string): ScalerConsumerConfig[] {
  return readConsumers(envReader({ [CONSUMERS_ENV]: text }, 'scaler', ScalerConfigError));
}

function readConsumers(read: ReturnType<typeof envReader>): ScalerConsumerConfig[] {
  return read.json(CONSUMERS_ENV, 'a JSON array of consumers', (value, fail) => {
    if (!Array.isArray(value)) {
      return fail('', 'a JSON array of consumers', `received ${value === null ? 'null' : typeof value}`);
    }
    const ids = new Set<string>();
    return value.map((entry: unknown, index): ScalerConsumerConfig => {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        return fail(`[${index}]`, 'an object with id and functionName', `received ${JSON.stringify(entry)}`);
      }
      const item = entry as Record<string, unknown>;
      const text = (name: string, required: boolean): string | undefined => {
        const field = item[name];
        if (field === undefined && !required) {
          return undefined;
        }
        if (typeof field !== 'string' || field.length === 0) {
          return fail(`[${index}] ${name}`, 'a non-empty string', `received ${JSON.stringify(field)}`);
        }
        return field;
      };
      const id = text('id', true)!;
      if (ids.has(id)) {
        fail(`[${index}] id`, 'unique among the consumers', `received '${id}' twice`);
      }
      ids.add(id);
      const timeoutMs = item.timeoutMs;
      if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0)) {
        fail(`[${index}] timeoutMs`, 'a positive number', `received ${JSON.stringify(timeoutMs)}`);
      }
      return {
        id,
        functionName: text('functionName', true)!,
        serviceName: text('serviceName', false),
        timeoutMs: timeoutMs as number | undefined,
        eventSourceMappingId: text('eventSourceMappingId', false),
      };
    });
  });
}

/** An alarm's ARN: arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>. */
const ALARM_ARN = /^arn:[^:]+:cloudwatch:[^:]+:[0-9]+:alarm:.+$/;

/** The scaler's settings from the environment ShardAutoscaler sets; throws `ScalerConfigError` naming the variable, rule and value. */
export function loadScalerConfig(env: NodeJS.ProcessEnv): ScalerConfig {
  const read = envReader(env, 'scaler', ScalerConfigError);
  const E = ScalerEnv;
  const streamName = read.string(E.STREAM_NAME);
  const tableName = read.string(E.STATE_TABLE_NAME);
  const alarmNames = read.string(E.ALARM_NAMES).split(',').filter(Boolean);
  const alarmArns = read.string(E.ALARM_ARNS).split(',').filter(Boolean);
  const strayArn = alarmArns.find((arn) => !ALARM_ARN.test(arn) || !alarmNames.includes(arn.split(':').slice(6).join(':')));
  if (strayArn !== undefined) {
    read.fail(
      E.ALARM_ARNS,
      `the ARN of each alarm in ${E.ALARM_NAMES} (arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>)`,
      strayArn,
    );
  }
  const mappingId = read.optionalString(E.EVENT_SOURCE_MAPPING_ID);
  const consumerFunctionName = read.optionalString(E.CONSUMER_FUNCTION_NAME);
  const timeout = read.optionalString(E.CONSUMER_TIMEOUT_MS) !== undefined ? read.number(E.CONSUMER_TIMEOUT_MS) : undefined;
  const consumers = read.optionalString(E.CONSUMERS) !== undefined ? readConsumers(read) : undefined;
  if (consumers && (consumerFunctionName || mappingId)) {
    read.fail(
      E.CONSUMERS,
      `exclusive with the single-consumer variables (give the consumers either in ${E.CONSUMERS} or in ${E.CONSUMER_FUNCTION_NAME} / ${E.EVENT_SOURCE_MAPPING_ID}, not both)`,
      env[E.CONSUMERS],
      `received ${E.CONSUMER_FUNCTION_NAME} '${consumerFunctionName ?? ''}' and ${E.EVENT_SOURCE_MAPPING_ID} '${mappingId ?? ''}' too`,
    );
  }
  const adjustable = consumers ? consumers.some((c) => c.eventSourceMappingId !== undefined) : mappingId !== undefined;
  return {
    streamName,
    tableName,
    alarmNames,
    alarmArns,
    ...(consumers ? { consumers } : {}),
    eventSourceMappingId: mappingId,
    consumerFunctionName,
    consumerServiceName: read.optionalString(E.CONSUMER_SERVICE_NAME),
    consumerTimeoutMs: timeout,
    stuckAlarmName: read.optionalString(E.STUCK_ALARM_NAME),
    limits: {
      minShards: read.number(E.MIN_SHARDS),
      maxShards: read.number(E.MAX_SHARDS),
      targetUtilization: read.number(E.TARGET_UTILIZATION),
      scaleOutUtilization: read.number(E.SCALE_OUT_UTILIZATION),
      scaleInUtilization: read.number(E.SCALE_IN_UTILIZATION),
      lagThresholdMs: read.number(E.LAG_THRESHOLD_MS),
      scaleOutCooldownMs: read.number(E.SCALE_OUT_COOLDOWN_MS),
      scaleInCooldownMs: read.number(E.SCALE_IN_COOLDOWN_MS),
      quietWindowMinutes: read.number(E.QUIET_WINDOW_MINUTES),
      reservedScaleOutCalls: read.number(E.RESERVED_SCALE_OUT_CALLS),
      adjustParallelization: read.boolean(E.ADJUST_PARALLELIZATION, false) && adjustable,
    },
  };
}
