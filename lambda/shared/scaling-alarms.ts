import type { MetricAlarm, PutMetricAlarmInput } from '@aws-sdk/client-cloudwatch';
import { SHARD_WRITE_BYTES_PER_SECOND, SHARD_WRITE_RECORDS_PER_SECOND } from './scaling-decision';

/**
 * The metric-math expressions of the autoscaler's alarms, built the same way at synth time (by
 * ShardAutoscaler) and at run time (by the scaler after a reshard), so the capacity constants in
 * them always match the shard count. Metric ids: `bytes` (IncomingBytes, Sum), `records`
 * (IncomingRecords, Sum), `streamAge` (GetRecords.IteratorAgeMilliseconds, Maximum),
 * `consumerAge` (the consumer's IteratorAge, Maximum; `consumerAge2`, ... for further consumers).
 */

/** Write utilisation in percent of `shards` shards over a period of `periodSeconds`. */
export function utilizationExpression(shards: number, periodSeconds: number): string {
  const bytes = shards * SHARD_WRITE_BYTES_PER_SECOND * periodSeconds;
  const records = shards * SHARD_WRITE_RECORDS_PER_SECOND * periodSeconds;
  return `100 * MAX([FILL(bytes, 0) / ${bytes}, FILL(records, 0) / ${records}])`;
}

/**
 * Write utilisation that reads 100 % whenever consumers lag, so the scale-in alarm (utilisation
 * below a threshold for the whole quiet window) cannot fire while they do.
 */
export function quietExpression(
  shards: number,
  periodSeconds: number,
  lagThresholdMs: number,
  withConsumer: boolean | readonly string[],
): string {
  // `true`: one consumer (`consumerAge`); a list: the metric ids of every consumer's IteratorAge.
  const ids = withConsumer === true ? ['consumerAge'] : withConsumer === false ? [] : withConsumer;
  const age = ids.length > 0 ? `MAX([${['streamAge', ...ids].map((id) => `FILL(${id}, 0)`).join(', ')}])` : 'FILL(streamAge, 0)';
  return `IF(${age} >= ${lagThresholdMs}, 100, ${utilizationExpression(shards, periodSeconds)})`;
}

const CAPACITY_TERMS = /FILL\((bytes|records), 0\) \/ [0-9.e+]+/g;

/** The same expression with its capacity constants recomputed for `shards`; unchanged when it has none. */
export function rewriteCapacity(expression: string, shards: number, periodSeconds: number): string {
  return expression.replace(CAPACITY_TERMS, (_term, id: string) => {
    const perShard = id === 'bytes' ? SHARD_WRITE_BYTES_PER_SECOND : SHARD_WRITE_RECORDS_PER_SECOND;
    return `FILL(${id}, 0) / ${shards * perShard * periodSeconds}`;
  });
}

export function hasCapacityTerms(alarm: MetricAlarm): boolean {
  return (alarm.Metrics ?? []).some((query) => query.Expression !== undefined && new RegExp(CAPACITY_TERMS.source).test(query.Expression));
}

/**
 * The PutMetricAlarm request that recreates `alarm` (as DescribeAlarms returned it) with its
 * capacity constants set for `shards`. PutMetricAlarm replaces the whole alarm, so every setting
 * is carried over; tags are left as they are (PutMetricAlarm without Tags does not touch them).
 */
export function rewrittenAlarm(alarm: MetricAlarm, shards: number): PutMetricAlarmInput {
  const metrics = (alarm.Metrics ?? []).map((query) => {
    if (query.Expression === undefined) {
      return query;
    }
    const period = query.Period ?? periodOf(alarm);
    return { ...query, Expression: rewriteCapacity(query.Expression, shards, period) };
  });
  return {
    AlarmName: alarm.AlarmName,
    AlarmDescription: alarm.AlarmDescription,
    ActionsEnabled: alarm.ActionsEnabled,
    OKActions: alarm.OKActions,
    AlarmActions: alarm.AlarmActions,
    InsufficientDataActions: alarm.InsufficientDataActions,
    EvaluationPeriods: alarm.EvaluationPeriods,
    DatapointsToAlarm: alarm.DatapointsToAlarm,
    Threshold: alarm.Threshold,
    ComparisonOperator: alarm.ComparisonOperator,
    TreatMissingData: alarm.TreatMissingData,
    EvaluateLowSampleCountPercentile: alarm.EvaluateLowSampleCountPercentile,
    ThresholdMetricId: alarm.ThresholdMetricId,
    Metrics: metrics,
  };
}

/** The period of an alarm's metric queries (they share one), in seconds. */
function periodOf(alarm: MetricAlarm): number {
  const stat = (alarm.Metrics ?? []).find((query) => query.MetricStat?.Period !== undefined);
  return stat?.MetricStat?.Period ?? alarm.Period ?? 60;
}
