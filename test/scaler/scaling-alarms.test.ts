import { hasCapacityTerms, quietExpression, rewriteCapacity, rewrittenAlarm, utilizationExpression } from '../../lambda/shared/scaling-alarms';
import { scalingQueries, toScalingMetrics } from '../../lambda/shared/scaling-metrics';
import { eventKey } from '../../lambda/shared/scaling-state';
import { describedAlarm, metricData, NOW } from './fixtures';

describe('alarm expressions', () => {
  test('utilisation compares the sums with the capacity of the shards over the period', () => {
    expect(utilizationExpression(3, 60)).toBe('100 * MAX([FILL(bytes, 0) / 188743680, FILL(records, 0) / 180000])');
  });

  test('the quiet expression reads 100 while either iterator age lags', () => {
    expect(quietExpression(1, 300, 60000, true)).toBe('IF(MAX([FILL(streamAge, 0), FILL(consumerAge, 0)]) >= 60000, 100, 100 * MAX([FILL(bytes, 0) / 314572800, FILL(records, 0) / 300000]))');
    expect(quietExpression(1, 300, 60000, false)).toMatch(/^IF\(FILL\(streamAge, 0\) >= 60000, 100, /);
  });

  test('rewriting keeps everything but the capacity constants', () => {
    const before = quietExpression(2, 300, 60000, true);

    expect(rewriteCapacity(before, 8, 300)).toBe(quietExpression(8, 300, 60000, true));
    expect(rewriteCapacity('m1 * 2', 8, 60)).toBe('m1 * 2');
  });

  test('the PutMetricAlarm request carries over every setting of the described alarm', () => {
    const alarm = describedAlarm(2);

    const request = rewrittenAlarm(alarm, 4);

    expect(request).toEqual(expect.objectContaining({
      AlarmName: alarm.AlarmName, AlarmDescription: alarm.AlarmDescription, ActionsEnabled: true, AlarmActions: alarm.AlarmActions,
      OKActions: [], InsufficientDataActions: [], EvaluationPeriods: 2, DatapointsToAlarm: 2, Threshold: 80,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching',
    }));
    expect(request.Metrics![0].Expression).toBe(utilizationExpression(4, 60));
    expect(request.Metrics!.slice(1)).toEqual(alarm.Metrics!.slice(1));
    expect(hasCapacityTerms(alarm)).toBe(true);
    expect(hasCapacityTerms({ ...alarm, Metrics: alarm.Metrics!.slice(1) })).toBe(false);
  });
});

describe('scaling metrics', () => {
  test('queries carry the StreamName and, with a consumer, the FunctionName dimension', () => {
    const queries = scalingQueries({ streamName: 'clicks', consumerFunctionName: 'consumer' });

    expect(queries.map((q) => [q.Id, q.MetricStat!.Metric!.Namespace, q.MetricStat!.Metric!.MetricName, q.MetricStat!.Stat, q.MetricStat!.Metric!.Dimensions])).toEqual([
      ['bytes', 'AWS/Kinesis', 'IncomingBytes', 'Sum', [{ Name: 'StreamName', Value: 'clicks' }]],
      ['records', 'AWS/Kinesis', 'IncomingRecords', 'Sum', [{ Name: 'StreamName', Value: 'clicks' }]],
      ['throttled', 'AWS/Kinesis', 'WriteProvisionedThroughputExceeded', 'Sum', [{ Name: 'StreamName', Value: 'clicks' }]],
      ['streamAge', 'AWS/Kinesis', 'GetRecords.IteratorAgeMilliseconds', 'Maximum', [{ Name: 'StreamName', Value: 'clicks' }]],
      ['consumerAge', 'AWS/Lambda', 'IteratorAge', 'Maximum', [{ Name: 'FunctionName', Value: 'consumer' }]],
    ]);
    expect(scalingQueries({ streamName: 'clicks' })).toHaveLength(4);
  });

  test('per-minute sums become per-second peaks of the recent and the whole window', () => {
    const data = metricData(2, { ageMs: 5000, throttledPerSecond: 10 });
    const older = data.MetricDataResults.map((series) => series.Id === 'bytes' ? { ...series, Values: series.Values.map((v, i) => (i === 30 ? v * 3 : v)) } : series);

    const metrics = toScalingMetrics(older, NOW, 60);

    expect(metrics.recentBytesPerSecond).toBeCloseTo(2 * 1024 * 1024);
    expect(metrics.windowBytesPerSecond).toBeCloseTo(6 * 1024 * 1024);
    expect(metrics.recentRecordsPerSecond).toBeCloseTo(2048);
    expect(metrics.recentThrottledRecordsPerSecond).toBeCloseTo(10);
    expect(metrics.recentIteratorAgeMs).toBe(5000);
    expect(metrics.windowMinutes).toBe(60);
  });

  test('an idle stream (no datapoints) reads as zero load', () => {
    expect(toScalingMetrics([], NOW, 60)).toEqual(expect.objectContaining({ recentBytesPerSecond: 0, windowRecordsPerSecond: 0, recentIteratorAgeMs: 0 }));
  });

  test('the idempotency key is the alarm name and its state-change time', () => {
    expect(eventKey('a', '2026-11-22T12:00:00.000+0000')).toBe('a@2026-11-22T12:00:00.000+0000');
  });
});
