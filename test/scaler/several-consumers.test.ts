import { GetMetricDataCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeLimitsCommand, DescribeStreamSummaryCommand, KinesisClient, UpdateShardCountCommand } from '@aws-sdk/client-kinesis';
import { GetEventSourceMappingCommand, UpdateEventSourceMappingCommand } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { configFromEnv, ScalerConfigError } from '../../lambda/scaler/index';
import { handleAlarm, type ScalerConfig } from '../../lambda/scaler/scaler';
import {
  decideScaling,
  MIB,
  ScalingAction,
  ScalingDecisionKind,
  type ScalingConsumer,
  type ScalingInput,
  type ScalingLimits,
  type ScalingMetrics,
  type ScalingState,
} from '../../lambda/shared/scaling-decision';
import type { ConsumerActivity } from '../../lambda/shared/scaling-lag';
import { scalingQueries, toScalingMetrics } from '../../lambda/shared/scaling-metrics';
import {
  ALARMS,
  alarmArn,
  alarmEvent,
  fakeStateTable,
  metricData,
  mockedCloudWatch,
  NOW,
  scalerConfig,
  silentLog,
  STREAM,
  type ConsumerSeries,
} from './fixtures';

const MIN = 60_000;
const limits: ScalingLimits = {
  minShards: 1,
  maxShards: 64,
  targetUtilization: 0.6,
  scaleOutUtilization: 0.8,
  scaleInUtilization: 0.3,
  lagThresholdMs: 60_000,
  scaleOutCooldownMs: 5 * MIN,
  scaleInCooldownMs: 60 * MIN,
  quietWindowMinutes: 60,
  reservedScaleOutCalls: 2,
  adjustParallelization: true,
};
/** A consumer that makes progress without failures. */
const SLOW: ConsumerActivity = { userRecords: 5_000, processingFailures: 0, errors: 0 };
/** A consumer that fails and makes no progress. */
const STUCK: ConsumerActivity = { userRecords: 0, processingFailures: 40, errors: 5, newest: { userRecords: 0, failures: 8 } };

/** 0.2 MiB/s on 4 shards (5 %): writes are far from stream-bound, so lag is the consumers'. */
function input(consumers: ScalingConsumer[], state: Partial<ScalingState> = {}, metrics: Partial<ScalingMetrics> = {}): ScalingInput {
  const bytes = 0.2 * MIB;
  const ages = consumers.map((c) => c.recentIteratorAgeMs ?? 0);
  return {
    now: NOW,
    mode: 'PROVISIONED',
    streamStatus: 'ACTIVE',
    openShards: 4,
    consumers,
    metrics: {
      recentBytesPerSecond: bytes,
      recentRecordsPerSecond: bytes / 1024,
      recentThrottledRecordsPerSecond: 0,
      windowBytesPerSecond: bytes,
      windowRecordsPerSecond: bytes / 1024,
      windowMinutes: 60,
      recentIteratorAgeMs: Math.max(0, ...ages),
      windowIteratorAgeMs: Math.max(0, ...ages),
      recentMinutes: 5,
      ...metrics,
    },
    state: { shardCountChanges: [], ...state },
    limits,
  };
}

function consumer(id: string, activity: ConsumerActivity, ageMs: number, factor: number, adjust = true): ScalingConsumer {
  return { id, activity, recentIteratorAgeMs: ageMs, parallelizationFactor: factor, adjustParallelization: adjust };
}

describe('decideScaling with several consumers', () => {
  test('the worst consumer lag drives the shards: one lags (slow at factor 10), the other is current', () => {
    const decision = decideScaling(input([consumer('billing', SLOW, 2_000, 1), consumer('analytics', SLOW, 240_000, 10)]));

    expect(decision).toEqual(
      expect.objectContaining({ action: ScalingAction.UPDATE_SHARD_COUNT, decision: ScalingDecisionKind.SCALE_OUT, targetShards: 8 }),
    );
    expect(decision.reason).toMatch(/consumer analytics: consumer-slow/);
    // The current one is not diagnosed, and its factor is not touched.
    expect(decision.reason).not.toMatch(/consumer billing/);
  });

  test('a stuck consumer blocks new shards even when another lagging one is slow at factor 10', () => {
    const decision = decideScaling(input([consumer('billing', STUCK, 300_000, 1), consumer('analytics', SLOW, 240_000, 10)]));

    expect(decision).toEqual(
      expect.objectContaining({
        action: ScalingAction.NONE,
        decision: ScalingDecisionKind.CONSUMER_STUCK,
        stuckConsumers: ['billing'],
        recheck: true,
      }),
    );
    expect(decision.targetShards).toBeUndefined();
  });

  test('the factor is raised only on the mapping of the consumer that lags and is slow; the stuck one gets no batches and is reported', () => {
    const decision = decideScaling(
      input([consumer('billing', STUCK, 300_000, 1), consumer('analytics', SLOW, 240_000, 2), consumer('audit', SLOW, 1_000, 1)]),
    );

    expect(decision).toEqual(
      expect.objectContaining({
        action: ScalingAction.UPDATE_PARALLELIZATION,
        decision: ScalingDecisionKind.RAISE_PARALLELIZATION,
        parallelizationFactor: 4,
        parallelizationChanges: [{ consumerId: 'analytics', from: 2, to: 4 }],
        stuckConsumers: ['billing'],
      }),
    );
    expect(decision.reason).toMatch(/no shards while billing is stuck/);
  });

  test('each mapping has its own cooldown: the one raised a minute ago waits, the other is raised', () => {
    const decision = decideScaling(
      input([consumer('billing', SLOW, 240_000, 2), consumer('analytics', SLOW, 240_000, 1)], {
        parallelizationAt: { billing: NOW - MIN },
        lastParallelizationAt: NOW - MIN,
      }),
    );

    expect(decision.parallelizationChanges).toEqual([{ consumerId: 'analytics', from: 1, to: 2 }]);
  });

  test('both slow and both out of cooldown: both factors raised, independently', () => {
    const decision = decideScaling(input([consumer('billing', SLOW, 240_000, 4), consumer('analytics', SLOW, 240_000, 1)]));

    expect(decision.parallelizationChanges).toEqual([
      { consumerId: 'billing', from: 4, to: 8 },
      { consumerId: 'analytics', from: 1, to: 2 },
    ]);
  });

  test('a consumer whose factor the scaler may not change is never raised; the slow one at 10 then adds shards', () => {
    const decision = decideScaling(input([consumer('billing', SLOW, 240_000, 1, false), consumer('analytics', SLOW, 240_000, 10)]));

    expect(decision).toEqual(expect.objectContaining({ decision: ScalingDecisionKind.SCALE_OUT, targetShards: 8 }));
  });

  test('lag seen only on the stream (no consumer age known above the threshold): every consumer is a suspect', () => {
    const decision = decideScaling(
      input([consumer('billing', SLOW, 1_000, 1), consumer('analytics', STUCK, 2_000, 1)], {}, { recentIteratorAgeMs: 300_000 }),
    );

    expect(decision).toEqual(
      expect.objectContaining({
        decision: ScalingDecisionKind.RAISE_PARALLELIZATION,
        parallelizationChanges: [{ consumerId: 'billing', from: 1, to: 2 }],
        stuckConsumers: ['analytics'],
      }),
    );
  });
});

describe('scaling metrics of several consumers', () => {
  test('one set of queries per consumer, ids suffixed from the second (as the alarms name them)', () => {
    const queries = scalingQueries({
      streamName: STREAM,
      consumers: [{ functionName: 'billing', serviceName: 'billing-svc' }, { functionName: 'analytics' }],
    });

    expect(queries.map((q) => q.Id)).toEqual([
      'bytes',
      'records',
      'throttled',
      'streamAge',
      'consumerAge',
      'consumerErrors',
      'consumerDuration',
      'userRecords',
      'processingFailures',
      'duplicatesSkipped',
      'consumerAge2',
      'consumerErrors2',
      'consumerDuration2',
    ]);
    expect(queries.find((q) => q.Id === 'consumerAge2')!.MetricStat!.Metric).toEqual({
      Namespace: 'AWS/Lambda',
      MetricName: 'IteratorAge',
      Dimensions: [{ Name: 'FunctionName', Value: 'analytics' }],
    });
  });

  test('each consumer gets its own age and activity; the lag is the worst of them', () => {
    const results = withSecondConsumer(metricData(0.2, { ageMs: 1_000, consumer: { ageMs: 1_000, userRecords: 100 } }).MetricDataResults, {
      ageMs: 400_000,
      userRecords: 0,
      errors: 3,
    });

    const metrics = toScalingMetrics(results, NOW, 60, { consumers: [{ timeoutMs: 30_000 }, {}] });

    expect(metrics.recentIteratorAgeMs).toBe(400_000);
    expect(metrics.consumers?.map((c) => c.recentIteratorAgeMs)).toEqual([1_000, 400_000]);
    expect(metrics.consumers?.[0].activity).toEqual(expect.objectContaining({ userRecords: 500, timeoutMs: 30_000 }));
    expect(metrics.consumers?.[1].activity).toEqual(expect.objectContaining({ userRecords: 0, errors: 15 }));
    expect(metrics.consumer).toEqual(metrics.consumers?.[0].activity);
  });
});

/** The series of a second consumer (ids suffixed 2) added to GetMetricData results. */
function withSecondConsumer<T extends { Id?: string }>(results: T[], series: ConsumerSeries): T[] {
  const second = metricData(0.2, { consumer: series })
    .MetricDataResults.filter((r) =>
      ['consumerAge', 'userRecords', 'processingFailures', 'consumerErrors', 'duplicatesSkipped', 'consumerDuration'].includes(r.Id),
    )
    .map((r) => ({ ...r, Id: `${r.Id}2` }));
  return [...results, ...(second as unknown as T[])];
}

describe('handleAlarm with several consumers', () => {
  const consumers: ScalerConfig['consumers'] = [
    { id: 'billing', functionName: 'billing-fn', serviceName: 'billing-svc', eventSourceMappingId: 'esm-billing' },
    { id: 'analytics', functionName: 'analytics-fn', serviceName: 'analytics-svc', eventSourceMappingId: 'esm-analytics' },
  ];
  const lagAlarms = ['Stack-Autoscaler-ConsumerLag', 'Stack-Autoscaler-Consumer2Lag'];

  function setup(billing: ConsumerSeries, analytics: ConsumerSeries) {
    const kinesis = new KinesisClient({ region: 'us-east-1' });
    const kin = mockClient(kinesis);
    kin.on(DescribeStreamSummaryCommand).resolves({
      StreamDescriptionSummary: {
        StreamName: STREAM,
        StreamARN: `arn:aws:kinesis:us-east-1:111122223333:stream/${STREAM}`,
        StreamStatus: 'ACTIVE',
        StreamModeDetails: { StreamMode: 'PROVISIONED' },
        OpenShardCount: 4,
        RetentionPeriodHours: 24,
        StreamCreationTimestamp: new Date(NOW - 86_400_000),
        EnhancedMonitoring: [],
      },
    });
    kin.on(DescribeLimitsCommand).resolves({ ShardLimit: 500, OpenShardCount: 4, OnDemandStreamCount: 0, OnDemandStreamCountLimit: 50 });
    const cw = mockedCloudWatch(0.2, 4);
    cw.cw
      .on(GetMetricDataCommand)
      .resolves({ MetricDataResults: withSecondConsumer(metricData(0.2, { ageMs: 0, consumer: billing }).MetricDataResults, analytics) });
    cw.lambdaMock.on(GetEventSourceMappingCommand, { UUID: 'esm-billing' }).resolves({ UUID: 'esm-billing', ParallelizationFactor: 1 });
    cw.lambdaMock.on(GetEventSourceMappingCommand, { UUID: 'esm-analytics' }).resolves({ UUID: 'esm-analytics', ParallelizationFactor: 2 });
    cw.lambdaMock.on(UpdateEventSourceMappingCommand).resolves({});
    const state = fakeStateTable();
    const config = scalerConfig({
      consumers,
      stuckAlarmName: 'Stack-Autoscaler-ConsumerStuck',
      alarmNames: [ALARMS.utilization, ...lagAlarms],
      alarmArns: [alarmArn(ALARMS.utilization), ...lagAlarms.map(alarmArn)],
      limits: { ...scalerConfig().limits, adjustParallelization: true },
    });
    return {
      clients: { kinesis, dynamodb: state.dynamodb, cloudwatch: cw.cloudwatch, lambda: cw.lambda },
      kin,
      ...cw,
      state,
      config,
      log: silentLog(),
    };
  }

  test("the lagging slow consumer's mapping, and only it, gets a higher factor; the stuck one is told to people; no shards", async () => {
    const { clients, kin, lambdaMock, cw, state, config, log } = setup(
      { ageMs: 300_000, userRecords: 0, processingFailures: 10 },
      { ageMs: 240_000, userRecords: 800 },
    );

    const result = await handleAlarm(alarmEvent(lagAlarms[1]), config, clients, log, NOW);

    expect(result).toEqual(
      expect.objectContaining({
        decision: 'RaiseParallelization',
        parallelizationChanges: [{ consumerId: 'analytics', from: 2, to: 4 }],
        stuckConsumers: ['billing'],
      }),
    );
    expect(lambdaMock.commandCalls(UpdateEventSourceMappingCommand).map((call) => call.args[0].input)).toEqual([
      { UUID: 'esm-analytics', ParallelizationFactor: 4 },
    ]);
    expect(kin.commandCalls(UpdateShardCountCommand)).toHaveLength(0);
    expect(state.stored().parallelizationAt).toEqual({ analytics: NOW });
    const stuck = cw
      .commandCalls(SetAlarmStateCommand)
      .map((call) => call.args[0].input)
      .find((input) => input.AlarmName === 'Stack-Autoscaler-ConsumerStuck');
    expect(stuck).toEqual(
      expect.objectContaining({ StateValue: 'ALARM', StateReason: expect.stringMatching(/consumer billing: consumer-stuck/) }),
    );
  });

  test('both lagging and slow: each mapping gets its own factor', async () => {
    const { clients, lambdaMock, state, config, log } = setup({ ageMs: 300_000, userRecords: 500 }, { ageMs: 240_000, userRecords: 800 });

    await handleAlarm(alarmEvent(lagAlarms[0]), config, clients, log, NOW);

    expect(lambdaMock.commandCalls(UpdateEventSourceMappingCommand).map((call) => call.args[0].input)).toEqual([
      { UUID: 'esm-billing', ParallelizationFactor: 2 },
      { UUID: 'esm-analytics', ParallelizationFactor: 4 },
    ]);
    expect(state.stored().parallelizationAt).toEqual({ billing: NOW, analytics: NOW });
  });

  test("a failed update of the second mapping keeps the first one's cooldown and gives the second's back", async () => {
    const { clients, lambdaMock, state, config, log } = setup({ ageMs: 300_000, userRecords: 500 }, { ageMs: 240_000, userRecords: 800 });
    lambdaMock
      .on(UpdateEventSourceMappingCommand, { UUID: 'esm-analytics' })
      .rejects(Object.assign(new Error('mapping is updating'), { name: 'ResourceConflictException' }));

    await expect(handleAlarm(alarmEvent(lagAlarms[0]), config, clients, log, NOW)).rejects.toThrow('mapping is updating');

    expect(state.stored().parallelizationAt).toEqual({ billing: NOW });
  });
});

describe('configFromEnv: CONSUMERS', () => {
  const base = {
    STREAM_NAME: STREAM,
    STATE_TABLE_NAME: 't',
    ALARM_NAMES: 'a',
    ALARM_ARNS: 'arn:aws:cloudwatch:us-east-1:111122223333:alarm:a',
    MIN_SHARDS: '1',
    MAX_SHARDS: '8',
    TARGET_UTILIZATION: '0.6',
    SCALE_OUT_UTILIZATION: '0.8',
    SCALE_IN_UTILIZATION: '0.3',
    LAG_THRESHOLD_MS: '60000',
    SCALE_OUT_COOLDOWN_MS: '300000',
    SCALE_IN_COOLDOWN_MS: '3600000',
    QUIET_WINDOW_MINUTES: '60',
    RESERVED_SCALE_OUT_CALLS: '2',
    ADJUST_PARALLELIZATION: 'true',
  };

  test('reads every consumer; the factor is adjustable when any has a mapping', () => {
    const config = configFromEnv({
      ...base,
      CONSUMERS: JSON.stringify([
        { id: 'consumer', functionName: 'f1', serviceName: 's1', timeoutMs: 30000, eventSourceMappingId: 'm1' },
        { id: 'consumer2', functionName: 'f2', eventSourceMappingId: 'm2' },
      ]),
    });

    expect(config.consumers).toEqual([
      { id: 'consumer', functionName: 'f1', serviceName: 's1', timeoutMs: 30000, eventSourceMappingId: 'm1' },
      { id: 'consumer2', functionName: 'f2', serviceName: undefined, timeoutMs: undefined, eventSourceMappingId: 'm2' },
    ]);
    expect(config.limits.adjustParallelization).toBe(true);
    expect(
      configFromEnv({ ...base, CONSUMERS: JSON.stringify([{ id: 'consumer', functionName: 'f1' }]) }).limits.adjustParallelization,
    ).toBe(false);
  });

  test.each([
    ['not JSON', '[{', /CONSUMERS must be a JSON array of consumers; it is not JSON/],
    ['not an array', '{"id":"c"}', /CONSUMERS must be a JSON array of consumers; received object/],
    ['an entry without functionName', '[{"id":"c"}]', /CONSUMERS\[0\] functionName must be a non-empty string; received undefined/],
    [
      'a repeated id',
      '[{"id":"c","functionName":"f"},{"id":"c","functionName":"g"}]',
      /CONSUMERS\[1\] id must be unique among the consumers; received 'c' twice/,
    ],
    [
      'a bad timeout',
      '[{"id":"c","functionName":"f","timeoutMs":"30s"}]',
      /CONSUMERS\[0\] timeoutMs must be a positive number; received "30s"/,
    ],
  ])('refuses %s with a ScalerConfigError naming the entry', (_name, value, message) => {
    expect(() => configFromEnv({ ...base, CONSUMERS: value })).toThrow(ScalerConfigError);
    expect(() => configFromEnv({ ...base, CONSUMERS: value })).toThrow(message);
  });

  test('refuses CONSUMERS together with the single-consumer variables', () => {
    expect(() => configFromEnv({ ...base, CONSUMERS: '[{"id":"c","functionName":"f"}]', CONSUMER_FUNCTION_NAME: 'f' })).toThrow(
      /either in CONSUMERS or in CONSUMER_FUNCTION_NAME/,
    );
  });
});
