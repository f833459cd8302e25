import {
  hasCapacityTerms,
  quietExpression,
  rewriteCapacity,
  rewrittenAlarm,
  utilizationExpression,
} from '../../lambda/shared/scaling-alarms';
import { scalingQueries, toScalingMetrics } from '../../lambda/shared/scaling-metrics';
import { eventKey } from '../../lambda/shared/scaling-state';
import { describedAlarm, metricData, NOW } from './fixtures';

describe('alarm expressions', () => {
  test('utilisation compares the sums with the capacity of the shards over the period', () => {
    expect(utilizationExpression(3, 60)).toBe('100 * MAX([FILL(bytes, 0) / 188743680, FILL(records, 0) / 180000])');
  });

  test('the quiet expression reads 100 while either iterator age lags', () => {
    expect(quietExpression(1, 300, 60000, true)).toBe(
      'IF(MAX([FILL(streamAge, 0), FILL(consumerAge, 0)]) >= 60000, 100, 100 * MAX([FILL(bytes, 0) / 314572800, FILL(records, 0) / 300000]))',
    );
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

    expect(request).toEqual(
      expect.objectContaining({
        AlarmName: alarm.AlarmName,
        AlarmDescription: alarm.AlarmDescription,
        ActionsEnabled: true,
        AlarmActions: alarm.AlarmActions,
        OKActions: [],
        InsufficientDataActions: [],
        EvaluationPeriods: 2,
        DatapointsToAlarm: 2,
        Threshold: 80,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      }),
    );
    expect(request.Metrics![0].Expression).toBe(utilizationExpression(4, 60));
    expect(request.Metrics!.slice(1)).toEqual(alarm.Metrics!.slice(1));
    expect(hasCapacityTerms(alarm)).toBe(true);
    expect(hasCapacityTerms({ ...alarm, Metrics: alarm.Metrics!.slice(1) })).toBe(false);
  });
});

describe('scaling metrics', () => {
  test('queries carry the StreamName and, with a consumer, the FunctionName and service dimensions', () => {
    const queries = scalingQueries({ streamName: 'clicks', consumerFunctionName: 'consumer', consumerServiceName: 'consumer-svc' });

    expect(
      queries.map((q) => [
        q.Id,
        q.MetricStat!.Metric!.Namespace,
        q.MetricStat!.Metric!.MetricName,
        q.MetricStat!.Stat,
        q.MetricStat!.Metric!.Dimensions,
      ]),
    ).toEqual([
      ['bytes', 'AWS/Kinesis', 'IncomingBytes', 'Sum', [{ Name: 'StreamName', Value: 'clicks' }]],
      ['records', 'AWS/Kinesis', 'IncomingRecords', 'Sum', [{ Name: 'StreamName', Value: 'clicks' }]],
      ['throttled', 'AWS/Kinesis', 'WriteProvisionedThroughputExceeded', 'Sum', [{ Name: 'StreamName', Value: 'clicks' }]],
      ['streamAge', 'AWS/Kinesis', 'GetRecords.IteratorAgeMilliseconds', 'Maximum', [{ Name: 'StreamName', Value: 'clicks' }]],
      ['consumerAge', 'AWS/Lambda', 'IteratorAge', 'Maximum', [{ Name: 'FunctionName', Value: 'consumer' }]],
      ['consumerErrors', 'AWS/Lambda', 'Errors', 'Sum', [{ Name: 'FunctionName', Value: 'consumer' }]],
      ['consumerDuration', 'AWS/Lambda', 'Duration', 'Maximum', [{ Name: 'FunctionName', Value: 'consumer' }]],
      ['userRecords', 'KinesisPipeline', 'UserRecords', 'Sum', [{ Name: 'service', Value: 'consumer-svc' }]],
      ['processingFailures', 'KinesisPipeline', 'ProcessingFailures', 'Sum', [{ Name: 'service', Value: 'consumer-svc' }]],
      ['duplicatesSkipped', 'KinesisPipeline', 'DuplicatesSkipped', 'Sum', [{ Name: 'service', Value: 'consumer-svc' }]],
    ]);
    expect(scalingQueries({ streamName: 'clicks' })).toHaveLength(4);
  });

  test('per-minute sums become per-second peaks of the recent and the whole window', () => {
    const data = metricData(2, { ageMs: 5000, throttledPerSecond: 10 });
    const older = data.MetricDataResults.map((series) =>
      series.Id === 'bytes' ? { ...series, Values: series.Values.map((v, i) => (i === 30 ? v * 3 : v)) } : series,
    );

    const metrics = toScalingMetrics(older, NOW, 60);

    expect(metrics.recentBytesPerSecond).toBeCloseTo(2 * 1024 * 1024);
    expect(metrics.windowBytesPerSecond).toBeCloseTo(6 * 1024 * 1024);
    expect(metrics.recentRecordsPerSecond).toBeCloseTo(2048);
    expect(metrics.recentThrottledRecordsPerSecond).toBeCloseTo(10);
    expect(metrics.recentIteratorAgeMs).toBe(5000);
    expect(metrics.windowMinutes).toBe(60);
  });

  test('no datapoints read as unknown, never as zero load', () => {
    const metrics = toScalingMetrics([], NOW, 60);

    expect(metrics).toEqual(expect.objectContaining({ windowMinutes: 0 }));
    for (const field of [
      'recentBytesPerSecond',
      'recentRecordsPerSecond',
      'recentThrottledRecordsPerSecond',
      'windowBytesPerSecond',
      'windowRecordsPerSecond',
      'recentIteratorAgeMs',
      'windowIteratorAgeMs',
    ] as const) {
      expect(metrics[field]).toBeUndefined();
    }
  });

  test('empty series (the query matched, CloudWatch returned no values) are unknown too', () => {
    const empty = metricData(2).MetricDataResults.map((series) => ({ ...series, Timestamps: [], Values: [] }));

    expect(toScalingMetrics(empty, NOW, 60)).toEqual(
      expect.objectContaining({ recentBytesPerSecond: undefined, windowMinutes: 0, recentIteratorAgeMs: undefined }),
    );
  });

  test('the quiet window counts only the minutes that have write datapoints', () => {
    // 60 minutes asked; every other minute missing, and a new stream with 20 minutes of history.
    const gaps = toScalingMetrics(metricData(0.1, { missing: (ago) => ago % 2 === 0 }).MetricDataResults, NOW, 60);
    const young = toScalingMetrics(metricData(0.1, { minutes: 20 }).MetricDataResults, NOW, 60);
    const full = toScalingMetrics(metricData(0.1, { minutes: 64 }).MetricDataResults, NOW, 60);

    expect(gaps.windowMinutes).toBe(30);
    expect(young.windowMinutes).toBe(20);
    expect(full.windowMinutes).toBe(60);
  });

  test('the quiet window ends at the newest write datapoint, which must be recent', () => {
    // CloudWatch is 2 minutes late: the window still covers 60 minutes; 10 minutes late: no window.
    const late = toScalingMetrics(metricData(0.1, { minutes: 64, missing: (ago) => ago <= 2 }).MetricDataResults, NOW, 60);
    const stale = toScalingMetrics(metricData(0.1, { minutes: 64, missing: (ago) => ago <= 10 }).MetricDataResults, NOW, 60);

    expect(late.windowMinutes).toBe(60);
    expect(stale).toEqual(expect.objectContaining({ windowMinutes: 0, windowBytesPerSecond: undefined, recentBytesPerSecond: undefined }));
  });

  test("the consumer's activity: sums of the recent window, the newest minute apart, unknown without datapoints", () => {
    const results = metricData(0.1, {
      consumer: { userRecords: 600, processingFailures: 2, errors: 0, durationMs: 4000 },
    }).MetricDataResults;
    const noEmf = metricData(0.1, { consumer: { errors: 3 } }).MetricDataResults;

    expect(toScalingMetrics(results, NOW, 60, { consumer: true, timeoutMs: 30_000 }).consumer).toEqual({
      userRecords: 3000,
      processingFailures: 10,
      errors: 0,
      duplicatesSkipped: undefined,
      maxDurationMs: 4000,
      timeoutMs: 30_000,
      newest: { userRecords: 600, failures: 2 },
    });
    expect(toScalingMetrics(noEmf, NOW, 60, { consumer: true }).consumer).toEqual(
      expect.objectContaining({
        userRecords: undefined,
        processingFailures: undefined,
        errors: 15,
        newest: { userRecords: undefined, failures: 3 },
      }),
    );
    expect(toScalingMetrics(results, NOW, 60).consumer).toBeUndefined();
  });

  test('the idempotency key is the alarm name and its state-change time', () => {
    expect(eventKey('a', '2026-11-22T12:00:00.000+0000')).toBe('a@2026-11-22T12:00:00.000+0000');
  });
});
