import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import {
  DescribeAlarmsCommand,
  GetMetricDataCommand,
  PutMetricAlarmCommand,
  SetAlarmStateCommand,
  type MetricDataResult,
} from '@aws-sdk/client-cloudwatch';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeLimitsCommand, DescribeStreamSummaryCommand, UpdateShardCountCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { GetEventSourceMappingCommand, UpdateEventSourceMappingCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { ScalerConsumerConfig } from './contract';
import { hasCapacityTerms, rewrittenAlarm } from '../shared/scaling-alarms';
import {
  decideScaling,
  ScalingAction,
  ScalingDecisionKind,
  type ScalingConsumer,
  type ScalingDecision,
  type ScalingLimits,
} from '../shared/scaling-decision';
import { foreignReason, parseAlarmEvent, type ParsedAlarmEvent } from '../shared/scaling-event';
import { queryWindow, scalingQueries, toScalingMetrics } from '../shared/scaling-metrics';
import { eventKey, loadState, saveState, StateConflictError, type StoredScalingState } from '../shared/scaling-state';

export { ScalerEventError, type AlarmEvent } from '../shared/scaling-event';
export type { ScalerConsumerConfig } from './contract';

export interface ScalerConfig {
  readonly streamName: string;
  readonly tableName: string;
  /** Every alarm of this autoscaler: their capacity constants are rewritten and their state reset. */
  readonly alarmNames: readonly string[];
  /** The ARNs of those alarms: an event from any other is ignored. */
  readonly alarmArns: readonly string[];
  /**
   * Every consumer of the stream (standard and enhanced fan-out), each with its own metrics and
   * mapping. Without it, the one consumer of the single-consumer fields below (id `consumer`).
   */
  readonly consumers?: readonly ScalerConsumerConfig[];
  readonly eventSourceMappingId?: string;
  readonly consumerFunctionName?: string;
  /** The consumer handler's `service` dimension: its progress and failure metrics tell stuck from slow. */
  readonly consumerServiceName?: string;
  /** The consumer function's timeout, ms. */
  readonly consumerTimeoutMs?: number;
  /** The alarm that tells people a consumer is stuck: set to ALARM with the reason. */
  readonly stuckAlarmName?: string;
  readonly limits: Omit<ScalingLimits, 'accountShardLimit' | 'accountOpenShards'>;
}

/** The consumers of a config: `consumers`, or the one of the single-consumer fields. */
export function scalerConsumers(config: ScalerConfig): readonly ScalerConsumerConfig[] {
  if (config.consumers !== undefined) {
    return config.consumers;
  }
  if (config.consumerFunctionName === undefined && config.consumerServiceName === undefined && config.eventSourceMappingId === undefined) {
    return [];
  }
  return [
    {
      id: 'consumer',
      functionName: config.consumerFunctionName ?? '',
      serviceName: config.consumerServiceName,
      timeoutMs: config.consumerTimeoutMs,
      eventSourceMappingId: config.eventSourceMappingId,
    },
  ];
}

export interface ScalerClients {
  readonly kinesis: KinesisClient;
  readonly dynamodb: DynamoDBClient;
  readonly cloudwatch: CloudWatchClient;
  readonly lambda: LambdaClient;
}

export interface ScalerLog {
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
}

export interface ScalerResult extends ScalingDecision {
  /** The shard count the stream has or is moving to after this invocation. */
  readonly shards?: number;
  /** Whether the alarms carry the capacity of that shard count. */
  readonly alarmsSynced?: boolean;
  /** Whether the fired alarm was reset to OK, so that it fires again while its condition lasts. */
  readonly alarmReset?: boolean;
}

const REFUSALS = ['LimitExceededException', 'ResourceInUseException'];
const MAX_REASON_LENGTH = 1023;

/**
 * One alarm event, end to end: check that it comes from one of the scaler's own alarms (and that
 * the alarm is in ALARM now), read state, skip a repeated event, describe the stream, read the
 * metrics, decide, record the change (conditional write) before making it, make it, then rewrite
 * the alarms' capacity constants and reset their state so a persisting condition fires again.
 *
 * Whenever the scaler did not act but should look again while the condition lasts (cooldown,
 * budget, missing data, a refused or failed change, a stuck consumer), the fired alarm is reset
 * to OK: CloudWatch evaluates it again within a period and, if the condition persists, invokes the
 * scaler with a new event. Kinesis' refusals (LimitExceeded, ResourceInUse) become a decision and
 * a backoff; other errors propagate after the recorded change is rolled back and the alarm reset.
 */
export async function handleAlarm(
  input: unknown,
  config: ScalerConfig,
  clients: ScalerClients,
  log: ScalerLog,
  now: number,
): Promise<ScalerResult> {
  const event = parseAlarmEvent(input);
  const foreign = foreignReason(event, config);
  if (foreign !== undefined) {
    log.warn("ignored an event that is not from one of this scaler's alarms", {
      reason: foreign,
      alarmName: event.alarmName,
      alarmArn: event.alarmArn,
      source: event.source,
      accountId: event.accountId,
    });
    return { action: ScalingAction.NONE, decision: ScalingDecisionKind.IGNORED, reason: `ignored: ${foreign}` };
  }
  const { alarmName, stateValue } = event;
  if (stateValue !== 'ALARM') {
    return {
      action: ScalingAction.NONE,
      decision: ScalingDecisionKind.NO_CHANGE,
      reason: `alarm ${alarmName} went to ${stateValue}: nothing to do`,
    };
  }
  // An event naming our alarm while it is not in ALARM is stale (it was reset since) or forged.
  const current = await currentState(clients, alarmName);
  if (current !== 'ALARM') {
    log.warn('ignored an event of an alarm that is not in ALARM now', { alarmName, current: current ?? 'not found' });
    return {
      action: ScalingAction.NONE,
      decision: ScalingDecisionKind.IGNORED,
      reason: `ignored: alarm ${alarmName} is ${current ?? 'not found'} now, not ALARM (a stale or forged event)`,
    };
  }
  try {
    return await act(event, config, clients, log, now);
  } catch (error) {
    // Nothing changed (or it was rolled back): have CloudWatch invoke the scaler again while the
    // condition lasts, beside Lambda's own retries of this event.
    await resetAlarms(clients, [alarmName], log);
    throw error;
  }
}

async function currentState(clients: ScalerClients, alarmName: string): Promise<string | undefined> {
  const described = await clients.cloudwatch.send(new DescribeAlarmsCommand({ AlarmNames: [alarmName], AlarmTypes: ['MetricAlarm'] }));
  return described.MetricAlarms?.find((alarm) => alarm.AlarmName === alarmName)?.StateValue;
}

/** GetMetricData, every page. */
async function metricData(clients: ScalerClients, config: ScalerConfig, now: number): Promise<MetricDataResult[]> {
  const { start, end } = queryWindow(now, config.limits.quietWindowMinutes);
  const queries = scalingQueries({
    streamName: config.streamName,
    consumers: scalerConsumers(config).map((c) => ({ functionName: c.functionName || undefined, serviceName: c.serviceName })),
  });
  const results: MetricDataResult[] = [];
  let nextToken: string | undefined;
  do {
    const page = await clients.cloudwatch.send(
      new GetMetricDataCommand({
        MetricDataQueries: queries,
        StartTime: start,
        EndTime: end,
        ScanBy: 'TimestampDescending',
        NextToken: nextToken,
      }),
    );
    results.push(...(page.MetricDataResults ?? []));
    nextToken = page.NextToken;
  } while (nextToken);
  return results;
}

async function act(
  event: ParsedAlarmEvent,
  config: ScalerConfig,
  clients: ScalerClients,
  log: ScalerLog,
  now: number,
): Promise<ScalerResult> {
  const alarmName = event.alarmName;
  const key = eventKey(alarmName, event.timestamp);
  const { state, version } = await loadState(clients.dynamodb, config.tableName);
  if (state.processedEvents.includes(key)) {
    return { action: ScalingAction.NONE, decision: ScalingDecisionKind.DUPLICATE, reason: `event ${key} was handled already` };
  }

  const summary = (await clients.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: config.streamName })))
    .StreamDescriptionSummary;
  const mode = summary?.StreamModeDetails?.StreamMode === 'ON_DEMAND' ? 'ON_DEMAND' : 'PROVISIONED';
  const openShards = summary?.OpenShardCount ?? 0;
  const streamStatus = summary?.StreamStatus ?? 'UNKNOWN';

  let accountShardLimit: number | undefined;
  let accountOpenShards: number | undefined;
  if (mode === 'PROVISIONED') {
    const limits = await clients.kinesis.send(new DescribeLimitsCommand({}));
    accountShardLimit = limits.ShardLimit;
    accountOpenShards = limits.OpenShardCount;
  }
  const consumerConfigs = scalerConsumers(config);
  const factors: Array<number | undefined> = [];
  for (const consumer of consumerConfigs) {
    if (consumer.eventSourceMappingId) {
      const mapping = await clients.lambda.send(new GetEventSourceMappingCommand({ UUID: consumer.eventSourceMappingId }));
      factors.push(mapping.ParallelizationFactor ?? 1);
    } else {
      factors.push(undefined);
    }
  }
  const metrics = toScalingMetrics(await metricData(clients, config, now), now, config.limits.quietWindowMinutes, {
    consumers: consumerConfigs.map((c) => ({ timeoutMs: c.timeoutMs })),
  });
  const consumers: ScalingConsumer[] = consumerConfigs.map((c, index) => ({
    id: c.id,
    parallelizationFactor: factors[index],
    adjustParallelization: config.limits.adjustParallelization && c.eventSourceMappingId !== undefined,
    // A consumer the scaler reads no metric of: its lag counts as slow (consumer-bound).
    activity: c.functionName || c.serviceName ? metrics.consumers?.[index]?.activity : undefined,
    recentIteratorAgeMs: metrics.consumers?.[index]?.recentIteratorAgeMs,
  }));
  const parallelizationFactor = factors[0];

  const decision = decideScaling({
    now,
    mode,
    streamStatus,
    openShards,
    consumers,
    metrics,
    state,
    limits: { ...config.limits, accountShardLimit, accountOpenShards },
  });
  log.info('scaling decision', { alarmName, event: key, ...decision, openShards, streamStatus, mode, parallelizationFactor, metrics });

  const handled: StoredScalingState = { ...state, processedEvents: [...state.processedEvents, key] };
  if (decision.stuckConsumers !== undefined && decision.stuckConsumers.length > 0) {
    // Also when another consumer's factor is raised: a stuck one is never silent.
    await tellPeople(clients, config, decision.reason, log);
  } else if (decision.decision === ScalingDecisionKind.CONSUMER_STUCK) {
    await tellPeople(clients, config, decision.reason, log);
  }
  if (decision.action === ScalingAction.NONE) {
    // Catch up on an alarm rewrite that failed earlier (or a reshard made outside the scaler).
    let alarmShards = state.alarmShards;
    let alarmReset = false;
    if (mode === 'PROVISIONED' && streamStatus === 'ACTIVE' && alarmShards !== openShards) {
      alarmShards = (await syncAlarms(clients, config.alarmNames, openShards, log)) ? openShards : alarmShards;
      alarmReset = alarmShards === openShards;
    }
    if (!alarmReset && decision.recheck) {
      alarmReset = await resetAlarms(clients, [alarmName], log);
    }
    if (!(await recordOrDuplicate(clients, config, { ...handled, alarmShards }, version, now))) {
      return duplicateOf(key);
    }
    return { ...decision, shards: openShards, alarmsSynced: mode === 'PROVISIONED' ? alarmShards === openShards : undefined, alarmReset };
  }

  if (decision.action === ScalingAction.UPDATE_PARALLELIZATION) {
    const changes = decision.parallelizationChanges ?? [];
    const stamped = (ids: readonly string[]): StoredScalingState => ({
      ...handled,
      lastParallelizationAt: ids.length > 0 ? now : state.lastParallelizationAt,
      parallelizationAt: { ...state.parallelizationAt, ...Object.fromEntries(ids.map((id) => [id, now])) },
    });
    if (!(await recordOrDuplicate(clients, config, stamped(changes.map((c) => c.consumerId)), version, now))) {
      return duplicateOf(key);
    }
    // Each mapping on its own; one that fails gives back its cooldown only.
    const applied: string[] = [];
    for (const change of changes) {
      const mappingId = consumerConfigs.find((c) => c.id === change.consumerId)?.eventSourceMappingId;
      try {
        await clients.lambda.send(new UpdateEventSourceMappingCommand({ UUID: mappingId, ParallelizationFactor: change.to }));
        applied.push(change.consumerId);
      } catch (error) {
        // Not changed: give the cooldown back and let Lambda's retry (or the alarm, reset) act on it.
        await saveState(clients.dynamodb, config.tableName, applied.length > 0 ? stamped(applied) : state, version + 1, now);
        throw error;
      }
    }
    const alarmReset = await resetAlarms(clients, config.alarmNames, log);
    return { ...decision, shards: openShards, alarmReset };
  }

  const target = decision.targetShards!;
  const direction = decision.decision === ScalingDecisionKind.SCALE_IN ? { lastScaleInAt: now } : { lastScaleOutAt: now };
  const changed: StoredScalingState = {
    ...handled,
    ...direction,
    shardCountChanges: [...state.shardCountChanges, now],
    refusals: 0,
    lastRefusedAt: undefined,
  };
  if (!(await recordOrDuplicate(clients, config, changed, version, now))) {
    return duplicateOf(key);
  }
  try {
    await clients.kinesis.send(
      new UpdateShardCountCommand({ StreamName: config.streamName, TargetShardCount: target, ScalingType: 'UNIFORM_SCALING' }),
    );
  } catch (error) {
    const name = (error as Error).name;
    const refused = REFUSALS.includes(name);
    // The change did not happen: give back its cooldown. The call keeps its slot of the day's 10
    // (a LimitExceeded may mean the budget was spent elsewhere; a failed call may have been
    // applied), except ResourceInUse (the stream was UPDATING: nothing started), so that however
    // often the alarm fires again, the scaler never calls UpdateShardCount more than 10 times a day.
    // A refusal keeps the event as handled and backs off (the alarm is reset, so the scaler looks
    // again while the condition lasts); anything else lets Lambda's retry act on the event.
    const attempts = name === 'ResourceInUseException' ? state.shardCountChanges : [...state.shardCountChanges, now];
    const refusedState: StoredScalingState = {
      ...handled,
      shardCountChanges: attempts,
      refusals: (state.refusals ?? 0) + 1,
      lastRefusedAt: now,
    };
    await saveState(
      clients.dynamodb,
      config.tableName,
      refused ? refusedState : { ...state, shardCountChanges: attempts },
      version + 1,
      now,
    );
    if (!refused) {
      throw error;
    }
    const kind = name === 'ResourceInUseException' ? ScalingDecisionKind.BUSY : ScalingDecisionKind.REJECTED;
    const reason = `${decision.reason}; UpdateShardCount refused: ${name}: ${(error as Error).message}`;
    log.warn('UpdateShardCount refused', { alarmName, target, error: name, refusals: refusedState.refusals });
    const alarmReset = await resetAlarms(clients, [alarmName], log);
    return { action: ScalingAction.NONE, decision: kind, reason, shards: openShards, recheck: true, alarmReset };
  }
  const alarmsSynced = await syncAlarms(clients, config.alarmNames, target, log);
  if (alarmsSynced) {
    await recordOrDuplicate(clients, config, { ...changed, alarmShards: target }, version + 1, now);
  } else {
    await resetAlarms(clients, [alarmName], log);
  }
  return { ...decision, shards: target, alarmsSynced, alarmReset: alarmsSynced };
}

/** Puts the stuck-consumer alarm in ALARM with the evidence as its reason: its notification carries it to people. */
async function tellPeople(clients: ScalerClients, config: ScalerConfig, reason: string, log: ScalerLog): Promise<void> {
  if (!config.stuckAlarmName) {
    log.warn('consumer stuck (no alarm to tell people: pass an action to ShardAutoscaler.notifyOperators)', { reason });
    return;
  }
  try {
    await clients.cloudwatch.send(
      new SetAlarmStateCommand({ AlarmName: config.stuckAlarmName, StateValue: 'ALARM', StateReason: reason.slice(0, MAX_REASON_LENGTH) }),
    );
  } catch (error) {
    // The decision metric (ConsumerStuck) still drives the same alarm within its period.
    log.warn('could not set the consumer-stuck alarm', { alarmName: config.stuckAlarmName, error: (error as Error).name });
  }
}

async function recordOrDuplicate(
  clients: ScalerClients,
  config: ScalerConfig,
  state: StoredScalingState,
  version: number,
  now: number,
): Promise<boolean> {
  try {
    await saveState(clients.dynamodb, config.tableName, state, version, now);
    return true;
  } catch (error) {
    if (error instanceof StateConflictError) {
      return false;
    }
    throw error;
  }
}

function duplicateOf(key: string): ScalerResult {
  return { action: ScalingAction.NONE, decision: ScalingDecisionKind.DUPLICATE, reason: `another invocation handled ${key} first` };
}

/**
 * Rewrites the capacity constants of the alarms that have them for `shards`, then resets every
 * alarm to OK so a condition that persists fires again. CloudWatch errors (throttling after the
 * SDK's own retries) are logged, not thrown: the shard change stands and the next event retries.
 */
export async function syncAlarms(clients: ScalerClients, alarmNames: readonly string[], shards: number, log: ScalerLog): Promise<boolean> {
  try {
    const described = await clients.cloudwatch.send(
      new DescribeAlarmsCommand({ AlarmNames: [...alarmNames], AlarmTypes: ['MetricAlarm'] }),
    );
    for (const alarm of described.MetricAlarms ?? []) {
      if (hasCapacityTerms(alarm)) {
        await clients.cloudwatch.send(new PutMetricAlarmCommand(rewrittenAlarm(alarm, shards)));
      }
    }
  } catch (error) {
    log.warn('could not rewrite the alarm capacity constants', { shards, error: (error as Error).name, message: (error as Error).message });
    return false;
  }
  await resetAlarms(clients, alarmNames, log);
  return true;
}

/** Resets alarms to OK so a condition that persists fires them again; true when every reset succeeded. */
async function resetAlarms(clients: ScalerClients, alarmNames: readonly string[], log: ScalerLog): Promise<boolean> {
  let all = true;
  for (const alarmName of alarmNames) {
    try {
      await clients.cloudwatch.send(
        new SetAlarmStateCommand({
          AlarmName: alarmName,
          StateValue: 'OK',
          StateReason: 'Reset by the shard autoscaler so a persisting condition fires again',
        }),
      );
    } catch (error) {
      all = false;
      log.warn('could not reset alarm state', { alarmName, error: (error as Error).name });
    }
  }
  return all;
}
