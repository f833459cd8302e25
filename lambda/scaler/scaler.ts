import { CloudWatchClient, DescribeAlarmsCommand, GetMetricDataCommand, PutMetricAlarmCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeLimitsCommand, DescribeStreamSummaryCommand, UpdateShardCountCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { GetEventSourceMappingCommand, UpdateEventSourceMappingCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { hasCapacityTerms, rewrittenAlarm } from '../shared/scaling-alarms';
import { decideScaling, ScalingAction, ScalingDecisionKind, type ScalingDecision, type ScalingLimits } from '../shared/scaling-decision';
import { scalingQueries, toScalingMetrics } from '../shared/scaling-metrics';
import { eventKey, loadState, saveState, StateConflictError, type StoredScalingState } from '../shared/scaling-state';

/** The event a CloudWatch alarm's Lambda action sends (the parts the scaler reads). */
export interface AlarmEvent {
  readonly source?: string;
  readonly alarmArn?: string;
  readonly time?: string;
  readonly alarmData?: {
    readonly alarmName?: string;
    readonly state?: { readonly value?: string; readonly reason?: string; readonly timestamp?: string };
  };
}

export class ScalerEventError extends Error {
  public override readonly name = 'ScalerEventError';
}

export interface ScalerConfig {
  readonly streamName: string;
  readonly tableName: string;
  /** Every alarm of this autoscaler: their capacity constants are rewritten and their state reset. */
  readonly alarmNames: readonly string[];
  readonly eventSourceMappingId?: string;
  readonly consumerFunctionName?: string;
  readonly limits: Omit<ScalingLimits, 'accountShardLimit' | 'accountOpenShards'>;
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
}

/**
 * One alarm event, end to end: read state, skip a repeated event, describe the stream, read
 * the metrics, decide, record the change (conditional write) before making it, make it, then
 * rewrite the alarms' capacity constants and reset their state so a persisting condition fires
 * again. Errors that a retry cannot fix (LimitExceeded, ResourceInUse) become a decision; others
 * propagate after the recorded change is rolled back, so Lambda's retry can act.
 */
export async function handleAlarm(event: AlarmEvent, config: ScalerConfig, clients: ScalerClients, log: ScalerLog, now: number): Promise<ScalerResult> {
  const alarmName = event.alarmData?.alarmName;
  const stateValue = event.alarmData?.state?.value;
  const stamp = event.alarmData?.state?.timestamp ?? event.time;
  if (!alarmName || !stateValue || !stamp) {
    throw new ScalerEventError('scaler: expected a CloudWatch alarm action event with alarmData.alarmName, alarmData.state.value and a timestamp');
  }
  if (stateValue !== 'ALARM') {
    return { action: ScalingAction.NONE, decision: ScalingDecisionKind.NO_CHANGE, reason: `alarm ${alarmName} went to ${stateValue}: nothing to do` };
  }
  const key = eventKey(alarmName, stamp);
  const { state, version } = await loadState(clients.dynamodb, config.tableName);
  if (state.processedEvents.includes(key)) {
    return { action: ScalingAction.NONE, decision: ScalingDecisionKind.DUPLICATE, reason: `event ${key} was handled already` };
  }

  const summary = (await clients.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: config.streamName }))).StreamDescriptionSummary;
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
  let parallelizationFactor: number | undefined;
  if (config.eventSourceMappingId) {
    const mapping = await clients.lambda.send(new GetEventSourceMappingCommand({ UUID: config.eventSourceMappingId }));
    parallelizationFactor = mapping.ParallelizationFactor ?? 1;
  }
  const windowMinutes = config.limits.quietWindowMinutes;
  const data = await clients.cloudwatch.send(new GetMetricDataCommand({
    MetricDataQueries: scalingQueries({ streamName: config.streamName, consumerFunctionName: config.consumerFunctionName }),
    StartTime: new Date(now - (windowMinutes + 2) * 60_000),
    EndTime: new Date(now),
    ScanBy: 'TimestampDescending',
  }));
  const metrics = toScalingMetrics(data.MetricDataResults ?? [], now, windowMinutes);

  const decision = decideScaling({
    now,
    mode,
    streamStatus,
    openShards,
    parallelizationFactor,
    metrics,
    state,
    limits: { ...config.limits, accountShardLimit, accountOpenShards },
  });
  log.info('scaling decision', { alarmName, event: key, ...decision, openShards, streamStatus, mode, parallelizationFactor, metrics });

  const handled: StoredScalingState = { ...state, processedEvents: [...state.processedEvents, key] };
  if (decision.action === ScalingAction.NONE) {
    // Catch up on an alarm rewrite that failed earlier (or a reshard made outside the scaler).
    let alarmShards = state.alarmShards;
    if (mode === 'PROVISIONED' && streamStatus === 'ACTIVE' && alarmShards !== openShards) {
      alarmShards = (await syncAlarms(clients, config.alarmNames, openShards, log)) ? openShards : alarmShards;
    } else {
      await resetAlarms(clients, [alarmName], log);
    }
    if (!(await recordOrDuplicate(clients, config, { ...handled, alarmShards }, version, now))) {
      return duplicateOf(key);
    }
    return { ...decision, shards: openShards, alarmsSynced: mode === 'PROVISIONED' ? alarmShards === openShards : undefined };
  }

  if (decision.action === ScalingAction.UPDATE_PARALLELIZATION) {
    const changed: StoredScalingState = { ...handled, lastParallelizationAt: now };
    if (!(await recordOrDuplicate(clients, config, changed, version, now))) {
      return duplicateOf(key);
    }
    try {
      await clients.lambda.send(new UpdateEventSourceMappingCommand({ UUID: config.eventSourceMappingId, ParallelizationFactor: decision.parallelizationFactor }));
    } catch (error) {
      // Not changed: give the cooldown back and let Lambda's retry act on the event.
      await saveState(clients.dynamodb, config.tableName, state, version + 1, now);
      throw error;
    }
    await resetAlarms(clients, config.alarmNames, log);
    return { ...decision, shards: openShards };
  }

  const target = decision.targetShards!;
  const direction = decision.decision === ScalingDecisionKind.SCALE_IN ? { lastScaleInAt: now } : { lastScaleOutAt: now };
  const changed: StoredScalingState = { ...handled, ...direction, shardCountChanges: [...state.shardCountChanges, now] };
  if (!(await recordOrDuplicate(clients, config, changed, version, now))) {
    return duplicateOf(key);
  }
  try {
    await clients.kinesis.send(new UpdateShardCountCommand({ StreamName: config.streamName, TargetShardCount: target, ScalingType: 'UNIFORM_SCALING' }));
  } catch (error) {
    const name = (error as Error).name;
    const final = name === 'LimitExceededException' || name === 'ResourceInUseException';
    // The change did not happen: give back its cooldown and its slot of the day's 10 calls.
    // A final refusal keeps the event as handled; anything else lets Lambda's retry act on it.
    await saveState(clients.dynamodb, config.tableName, final ? handled : state, version + 1, now);
    if (!final) {
      throw error;
    }
    const kind = name === 'ResourceInUseException' ? ScalingDecisionKind.BUSY : ScalingDecisionKind.REJECTED;
    const reason = `${decision.reason}; UpdateShardCount refused: ${name}: ${(error as Error).message}`;
    log.warn('UpdateShardCount refused', { alarmName, target, error: name });
    return { action: ScalingAction.NONE, decision: kind, reason, shards: openShards };
  }
  const alarmsSynced = await syncAlarms(clients, config.alarmNames, target, log);
  if (alarmsSynced) {
    await recordOrDuplicate(clients, config, { ...changed, alarmShards: target }, version + 1, now);
  }
  return { ...decision, shards: target, alarmsSynced };
}

async function recordOrDuplicate(clients: ScalerClients, config: ScalerConfig, state: StoredScalingState, version: number, now: number): Promise<boolean> {
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
    const described = await clients.cloudwatch.send(new DescribeAlarmsCommand({ AlarmNames: [...alarmNames], AlarmTypes: ['MetricAlarm'] }));
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

async function resetAlarms(clients: ScalerClients, alarmNames: readonly string[], log: ScalerLog): Promise<void> {
  for (const alarmName of alarmNames) {
    try {
      await clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: alarmName, StateValue: 'OK', StateReason: 'Reset by the shard autoscaler so a persisting condition fires again' }));
    } catch (error) {
      log.warn('could not reset alarm state', { alarmName, error: (error as Error).name });
    }
  }
}
