import { DescribeAlarmsCommand, GetMetricDataCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import {
  DescribeLimitsCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  LimitExceededException,
  ResourceInUseException,
  UpdateShardCountCommand,
} from '@aws-sdk/client-kinesis';
import { GetEventSourceMappingCommand, UpdateEventSourceMappingCommand } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { handleAlarm, ScalerEventError, type ScalerConfig } from '../../lambda/scaler/scaler';
import { UPDATE_SHARD_COUNT_CALLS_PER_DAY } from '../../lambda/shared/scaling-decision';
import {
  ACCOUNT,
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
  type MetricDataOptions,
} from './fixtures';

/**
 * The scaler handler against stateful fakes: a stream whose shard count UpdateShardCount changes
 * (at most double, at least half, refused while UPDATING), alarms that keep their state
 * (SetAlarmState resets them; `refire` plays CloudWatch firing again), a mapping whose factor
 * UpdateEventSourceMapping changes, and a state table that honours the condition expressions.
 */
const MIN = 60_000;
const STUCK_ALARM = 'Stack-Autoscaler-ConsumerStuck';

function fakes(mibPerSecond: number, initialShards: number, options: MetricDataOptions & { factor?: number } = {}) {
  const kinesis = new KinesisClient({ region: 'us-east-1' });
  const kin = mockClient(kinesis);
  const stream = { shards: initialShards, status: 'ACTIVE' as 'ACTIVE' | 'UPDATING' };
  kin.on(DescribeStreamSummaryCommand).callsFake(() => ({
    StreamDescriptionSummary: {
      StreamName: STREAM,
      StreamARN: `arn:aws:kinesis:us-east-1:${ACCOUNT}:stream/${STREAM}`,
      StreamStatus: stream.status,
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
      OpenShardCount: stream.shards,
      RetentionPeriodHours: 24,
      StreamCreationTimestamp: new Date(NOW - 86_400_000),
      EnhancedMonitoring: [],
    },
  }));
  kin.on(DescribeLimitsCommand).resolves({ ShardLimit: 500, OpenShardCount: 10, OnDemandStreamCount: 0, OnDemandStreamCountLimit: 50 });
  kin.on(UpdateShardCountCommand).callsFake((input) => {
    if (stream.status !== 'ACTIVE') {
      throw new ResourceInUseException({ message: `Stream ${STREAM} is UPDATING`, $metadata: {} });
    }
    if (input.TargetShardCount > stream.shards * 2 || input.TargetShardCount < Math.ceil(stream.shards / 2)) {
      throw new Error('outside 2x / half');
    }
    const current = stream.shards;
    stream.shards = input.TargetShardCount;
    return { StreamName: STREAM, CurrentShardCount: current, TargetShardCount: input.TargetShardCount };
  });
  const cw = mockedCloudWatch(mibPerSecond, initialShards, options);
  const mapping = { factor: options.factor ?? 1 };
  cw.lambdaMock.on(GetEventSourceMappingCommand).callsFake(() => ({ UUID: 'esm-1', ParallelizationFactor: mapping.factor }));
  cw.lambdaMock.on(UpdateEventSourceMappingCommand).callsFake((input) => {
    mapping.factor = input.ParallelizationFactor;
    return {};
  });
  const state = fakeStateTable();
  const clients = { kinesis, dynamodb: state.dynamodb, cloudwatch: cw.cloudwatch, lambda: cw.lambda };
  const log = silentLog();
  const calls = () => kin.calls().length + cw.cw.calls().length + cw.lambdaMock.calls().length + state.mock.calls().length;
  /** CloudWatch evaluates the alarm again and, the condition lasting, fires it with a new event. */
  const refire = (alarmName: string, at: number) => {
    cw.alarmStates.set(alarmName, 'ALARM');
    return alarmEvent(alarmName, 'ALARM', new Date(at - 30_000).toISOString().replace('Z', '+0000'));
  };
  return { ...cw, kin, stream, mapping, state, clients, log, calls, refire };
}

const consumerConfig = (overrides: Partial<ScalerConfig> = {}) =>
  scalerConfig({
    consumerFunctionName: 'consumer',
    consumerServiceName: 'consumer-svc',
    consumerTimeoutMs: 60_000,
    eventSourceMappingId: 'esm-1',
    stuckAlarmName: STUCK_ALARM,
    limits: { ...scalerConfig().limits, adjustParallelization: true },
    ...overrides,
  });

describe('the scaler acts on its own alarms only', () => {
  const forged: Array<[string, unknown]> = [
    ['another alarm name, same account', { ...alarmEvent('not-one-of-my-alarms'), alarmArn: alarmArn('not-one-of-my-alarms') }],
    ['another source', { ...alarmEvent(), source: 'aws.events' }],
    ['no source (a direct invoke)', { ...alarmEvent(), source: undefined }],
    [
      "our alarm name, another account's ARN",
      { ...alarmEvent(), alarmArn: `arn:aws:cloudwatch:us-east-1:444455556666:alarm:${ALARMS.utilization}` },
    ],
    ['our ARN, another accountId', { ...alarmEvent(), accountId: '444455556666' }],
    ['our ARN, another region', { ...alarmEvent(), region: 'eu-west-1' }],
    [
      'our ARN, another alarm name in alarmData',
      { ...alarmEvent(), alarmData: { alarmName: ALARMS.lag, state: { value: 'ALARM', timestamp: '2026-11-22T11:59:30.000+0000' } } },
    ],
  ];

  test.each(forged)('%s: logged and ignored, nothing read or written', async (_name, event) => {
    // Prepare: a load that would scale 8 -> 4 shards if the scaler acted.
    const { clients, log, calls } = fakes(0.1, 8);
    // Act
    const result = await handleAlarm(event, scalerConfig(), clients, log, NOW);
    // Assess
    expect(result).toEqual({ action: 'none', decision: 'Ignored', reason: expect.stringMatching(/^ignored: /) });
    expect(calls()).toBe(0);
    expect(log.warnings).toEqual(["ignored an event that is not from one of this scaler's alarms"]);
  });

  test('an event naming our alarm while it is not in ALARM (stale or forged): ignored after one DescribeAlarms, no metric read, no write', async () => {
    const { clients, log, cw, kin, state, alarmStates } = fakes(0.1, 8);
    alarmStates.set(ALARMS.utilization, 'OK');

    const result = await handleAlarm(alarmEvent(), scalerConfig(), clients, log, NOW);

    expect(result).toEqual(expect.objectContaining({ decision: 'Ignored', reason: expect.stringMatching(/is OK now, not ALARM/) }));
    expect(cw.calls().map((call) => call.args[0].constructor.name)).toEqual([DescribeAlarmsCommand.name]);
    expect(cw.commandCalls(GetMetricDataCommand)).toHaveLength(0);
    expect(kin.calls()).toHaveLength(0);
    expect(state.mock.commandCalls(GetItemCommand)).toHaveLength(0);
    expect(state.mock.commandCalls(PutItemCommand)).toHaveLength(0);
  });

  const malformed: Array<[string, unknown, RegExp]> = [
    ['null', null, /the event is null, not an object/],
    ['undefined', undefined, /the event is undefined, not an object/],
    ['a string', 'ALARM', /the event is string, not an object/],
    ['an array', [alarmEvent()], /the event is an array/],
    ['an empty object', {}, /alarmData is missing/],
    ['alarmData null', { ...alarmEvent(), alarmData: null }, /alarmData is missing/],
    ['no state', { ...alarmEvent(), alarmData: { alarmName: ALARMS.utilization } }, /alarmData.state.value is missing/],
    [
      'a number as the alarm name',
      { ...alarmEvent(), alarmData: { alarmName: 42, state: { value: 'ALARM' } } },
      /alarmData.alarmName is missing/,
    ],
    [
      'no timestamp',
      { source: 'aws.cloudwatch', alarmData: { alarmName: ALARMS.utilization, state: { value: 'ALARM' } } },
      /timestamp \(or time\) is missing/,
    ],
    ['alarmArn not a string', { ...alarmEvent(), alarmArn: 7 }, /alarmArn must be a string; received number/],
  ];

  test.each(malformed)('%s: a ScalerEventError naming the rule, never a TypeError, nothing read or written', async (_name, event, rule) => {
    const { clients, log, calls } = fakes(0.1, 8);

    const attempt = handleAlarm(event, scalerConfig(), clients, log, NOW);

    await expect(attempt).rejects.toThrow(ScalerEventError);
    await expect(handleAlarm(event, scalerConfig(), clients, log, NOW)).rejects.toThrow(rule);
    expect(calls()).toBe(0);
  });
});

describe('missing or partial metric data is unknown, never 0', () => {
  test('a WriteThrottles alarm whose query returns no datapoints: no scale-in (it was 8 -> 4), looked at again', async () => {
    const { clients, log, kin, stream, alarmStates } = fakes(0, 8, { minutes: 0 });

    const result = await handleAlarm(alarmEvent(ALARMS.utilization), scalerConfig(), clients, log, NOW);

    expect(result).toEqual(expect.objectContaining({ action: 'none', decision: 'NoData', recheck: true, alarmReset: true }));
    expect(kin.commandCalls(UpdateShardCountCommand)).toHaveLength(0);
    expect(stream.shards).toBe(8);
    expect(alarmStates.get(ALARMS.utilization)).toBe('OK');
  });

  test('series present but empty: the same', async () => {
    const { clients, log, kin, cw } = fakes(0, 8);
    cw.on(GetMetricDataCommand).resolves({
      MetricDataResults: metricData(0.1).MetricDataResults.map((series) => ({ ...series, Timestamps: [], Values: [] })),
    });

    const result = await handleAlarm(alarmEvent(), scalerConfig(), clients, log, NOW);

    expect(result.decision).toBe('NoData');
    expect(kin.commandCalls(UpdateShardCountCommand)).toHaveLength(0);
  });

  test('a new quiet stream (20 minutes of data): no scale-in until the quiet window has been observed', async () => {
    const { clients, log, kin } = fakes(0.1, 8, { minutes: 20 });

    const result = await handleAlarm(alarmEvent(), scalerConfig(), clients, log, NOW);

    expect(result).toEqual(
      expect.objectContaining({
        decision: 'NoData',
        reason: expect.stringMatching(/over 20 min with data; scale-in needs write datapoints for the whole 60-minute quiet window/),
      }),
    );
    expect(kin.commandCalls(UpdateShardCountCommand)).toHaveLength(0);
  });

  test('a window with gaps (every third minute missing): no scale-in; the same load with every minute present scales in', async () => {
    const gappy = fakes(0.1, 8, { minutes: 64, missing: (ago) => ago % 3 === 0 });
    const whole = fakes(0.1, 8, { minutes: 64 });

    const gapped = await handleAlarm(alarmEvent(), scalerConfig(), gappy.clients, gappy.log, NOW);
    const complete = await handleAlarm(alarmEvent(), scalerConfig(), whole.clients, whole.log, NOW);

    expect(gapped).toEqual(expect.objectContaining({ decision: 'NoData', reason: expect.stringMatching(/over 40 min with data/) }));
    expect(gappy.kin.commandCalls(UpdateShardCountCommand)).toHaveLength(0);
    expect(complete).toEqual(expect.objectContaining({ decision: 'ScaleIn', targetShards: 4 }));
  });

  test('a paginated answer is read to its last page', async () => {
    const { clients, log, cw } = fakes(0, 4);
    const [bytes, records, ...rest] = metricData(3.6).MetricDataResults;
    cw.on(GetMetricDataCommand)
      .resolvesOnce({ MetricDataResults: rest, NextToken: 'page-2' })
      .resolvesOnce({ MetricDataResults: [bytes, records] });

    const result = await handleAlarm(alarmEvent(), scalerConfig(), clients, log, NOW);

    expect(result).toEqual(expect.objectContaining({ decision: 'ScaleOut', targetShards: 7 }));
    expect(cw.commandCalls(GetMetricDataCommand).map((call) => call.args[0].input.NextToken)).toEqual([undefined, 'page-2']);
  });
});

describe('refused, busy or failed resizes, then the condition persists', () => {
  test('LimitExceeded: the alarm is reset, fires again, the scaler backs off, then tries again and succeeds', async () => {
    // Prepare: 3.6 MiB/s on 4 shards (92 %).
    const { clients, log, kin, stream, refire, alarmStates } = fakes(3.6, 4);
    kin.on(UpdateShardCountCommand).rejectsOnce(new LimitExceededException({ message: 'Rate exceeded for stream clicks', $metadata: {} }));
    // Act
    const refused = await handleAlarm(alarmEvent(), scalerConfig(), clients, log, NOW);
    const stateAfterRefusal = alarmStates.get(ALARMS.utilization);
    const waiting = await handleAlarm(refire(ALARMS.utilization, NOW + 2 * MIN), scalerConfig(), clients, log, NOW + 2 * MIN);
    kin.on(UpdateShardCountCommand).callsFake((input) => {
      stream.shards = input.TargetShardCount;
      return {};
    });
    const retried = await handleAlarm(refire(ALARMS.utilization, NOW + 6 * MIN), scalerConfig(), clients, log, NOW + 6 * MIN);
    // Assess
    expect(refused).toEqual(expect.objectContaining({ decision: 'Rejected', alarmReset: true }));
    expect(stateAfterRefusal).toBe('OK');
    expect(waiting).toEqual(
      expect.objectContaining({
        decision: 'Blocked',
        reason: expect.stringMatching(/refused 1 time\(s\) in a row, next try after 2026-11-22T12:05:00.000Z/),
        alarmReset: true,
      }),
    );
    expect(retried).toEqual(expect.objectContaining({ decision: 'ScaleOut', targetShards: 7, alarmsSynced: true }));
    expect(kin.commandCalls(UpdateShardCountCommand)).toHaveLength(2);
    expect(stream.shards).toBe(7);
  });

  test("a refusal that lasts all day: invoked again every few minutes, never more than the day's 10 UpdateShardCount calls", async () => {
    const { clients, log, kin, refire } = fakes(3.6, 4);
    kin.on(UpdateShardCountCommand).rejects(new LimitExceededException({ message: 'Rate exceeded', $metadata: {} }));
    const decisions: string[] = [];

    // CloudWatch re-fires the reset alarm every 2 minutes for 24 hours.
    for (let at = NOW; at < NOW + 24 * 60 * MIN; at += 2 * MIN) {
      decisions.push((await handleAlarm(refire(ALARMS.utilization, at), scalerConfig(), clients, log, at)).decision);
    }

    expect(decisions).toHaveLength(720);
    expect(kin.commandCalls(UpdateShardCountCommand).length).toBeLessThanOrEqual(UPDATE_SHARD_COUNT_CALLS_PER_DAY);
    expect(kin.commandCalls(UpdateShardCountCommand).length).toBeGreaterThanOrEqual(5);
    expect(new Set(decisions)).toEqual(new Set(['Rejected', 'Blocked']));
  });

  test('ResourceInUse (UPDATING): Busy, reset; the next event waits while UPDATING, then acts', async () => {
    const { clients, log, kin, stream, refire, alarmStates } = fakes(3.6, 4);
    kin.on(UpdateShardCountCommand).rejectsOnce(new ResourceInUseException({ message: 'Stream clicks is UPDATING', $metadata: {} }));

    const busy = await handleAlarm(alarmEvent(), scalerConfig(), clients, log, NOW);
    stream.status = 'UPDATING';
    const updating = await handleAlarm(refire(ALARMS.utilization, NOW + MIN), scalerConfig(), clients, log, NOW + MIN);
    stream.status = 'ACTIVE';
    kin.on(UpdateShardCountCommand).callsFake((input) => {
      stream.shards = input.TargetShardCount;
      return {};
    });
    const acted = await handleAlarm(refire(ALARMS.utilization, NOW + 6 * MIN), scalerConfig(), clients, log, NOW + 6 * MIN);

    expect(busy).toEqual(expect.objectContaining({ decision: 'Busy', alarmReset: true }));
    expect(updating).toEqual(
      expect.objectContaining({ decision: 'Busy', reason: expect.stringMatching(/stream is UPDATING/), alarmReset: true }),
    );
    expect(acted).toEqual(expect.objectContaining({ decision: 'ScaleOut', targetShards: 7 }));
    expect(kin.commandCalls(UpdateShardCountCommand)).toHaveLength(2);
    expect(alarmStates.get(ALARMS.utilization)).toBe('OK');
  });

  test('InternalFailure: the error propagates, the alarm is reset; CloudWatch fires again and the scaler acts', async () => {
    const { clients, log, kin, stream, refire, alarmStates } = fakes(3.6, 4);
    kin.on(UpdateShardCountCommand).rejectsOnce(Object.assign(new Error('We encountered an internal error'), { name: 'InternalFailure' }));

    await expect(handleAlarm(alarmEvent(), scalerConfig(), clients, log, NOW)).rejects.toThrow('internal error');
    const reset = alarmStates.get(ALARMS.utilization);
    kin.on(UpdateShardCountCommand).callsFake((input) => {
      stream.shards = input.TargetShardCount;
      return {};
    });
    const acted = await handleAlarm(refire(ALARMS.utilization, NOW + 2 * MIN), scalerConfig(), clients, log, NOW + 2 * MIN);

    expect(reset).toBe('OK');
    expect(acted).toEqual(expect.objectContaining({ decision: 'ScaleOut', targetShards: 7 }));
    expect(stream.shards).toBe(7);
  });

  test('a throttled GetMetricData: the error propagates and the alarm is reset, so the scaler is invoked again', async () => {
    const { clients, log, cw, alarmStates } = fakes(3.6, 4);
    cw.on(GetMetricDataCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));

    await expect(handleAlarm(alarmEvent(), scalerConfig(), clients, log, NOW)).rejects.toThrow('Rate exceeded');

    expect(alarmStates.get(ALARMS.utilization)).toBe('OK');
  });

  test('at maxShards nothing would change: the alarm is left in ALARM (no re-invocation every few minutes)', async () => {
    const { clients, log, cw, refire, alarmStates } = fakes(3.6, 4);
    const config = scalerConfig({ limits: { ...scalerConfig().limits, maxShards: 4 } });
    // The first event also writes the alarms' capacity constants for 4 shards (and resets them).
    await handleAlarm(alarmEvent(), config, clients, log, NOW);
    const resets = cw.commandCalls(SetAlarmStateCommand).length;

    const result = await handleAlarm(refire(ALARMS.utilization, NOW + MIN), config, clients, log, NOW + MIN);

    expect(result).toEqual(
      expect.objectContaining({
        decision: 'Blocked',
        reason: expect.stringMatching(/capped at maxShards 4/),
        recheck: false,
        alarmReset: false,
      }),
    );
    expect(cw.commandCalls(SetAlarmStateCommand)).toHaveLength(resets);
    expect(alarmStates.get(ALARMS.utilization)).toBe('ALARM');
  });
});

describe('stuck is not slow', () => {
  test('a stuck consumer at 5 % write utilisation: no reshard and no factor change over five alarms, people alarmed with the reason', async () => {
    // Prepare: 2 shards at 0.1 MiB/s (5 %), iterator age 4 minutes, the consumer failing on a poison record.
    const { clients, log, kin, stream, mapping, refire, reasons, alarmStates, lambdaMock } = fakes(0.1, 2, {
      ageMs: 240_000,
      consumer: { userRecords: 0, processingFailures: 25, errors: 0, duplicatesSkipped: 0, durationMs: 900 },
    });
    const results = [];
    // Act: the lag alarm fires five times, six minutes apart (it was 2 -> 4 -> 8 -> 16 -> 32 -> 64).
    for (let i = 0; i < 5; i++) {
      const at = NOW + i * 6 * MIN;
      results.push(await handleAlarm(i === 0 ? alarmEvent(ALARMS.lag) : refire(ALARMS.lag, at), consumerConfig(), clients, log, at));
    }
    // Assess
    expect(results.map((r) => r.decision)).toEqual(Array(5).fill('ConsumerStuck'));
    expect(kin.commandCalls(UpdateShardCountCommand)).toHaveLength(0);
    expect(lambdaMock.commandCalls(UpdateEventSourceMappingCommand)).toHaveLength(0);
    expect([stream.shards, mapping.factor]).toEqual([2, 1]);
    expect(alarmStates.get(STUCK_ALARM)).toBe('ALARM');
    expect(reasons.get(STUCK_ALARM)).toMatch(
      /consumer-stuck: .*0 user records processed, 125 failed user records, 0 failed invocations, longest batch 2 % of the 60 s timeout in 5 min\); iterator age 240 s with write utilisation 5 %/,
    );
    expect(alarmStates.get(ALARMS.lag)).toBe('OK');
  });

  test('a stuck consumer without a people alarm configured: still no reshard, the reason is logged', async () => {
    const { clients, log, kin } = fakes(0.1, 2, { ageMs: 240_000, consumer: { userRecords: 0, errors: 6 } });

    const result = await handleAlarm(alarmEvent(ALARMS.lag), consumerConfig({ stuckAlarmName: undefined }), clients, log, NOW);

    expect(result.decision).toBe('ConsumerStuck');
    expect(kin.commandCalls(UpdateShardCountCommand)).toHaveLength(0);
    expect(log.warnings).toContain('consumer stuck (no alarm to tell people: pass an action to ShardAutoscaler.notifyOperators)');
  });

  test('a slow consumer: the factor is raised 2 -> 4 -> 8 -> 10 before any shard is added', async () => {
    // Prepare: progress every minute, batches at 85 % of the timeout, lag rising.
    const { clients, log, kin, stream, mapping, refire } = fakes(0.1, 2, {
      factor: 2,
      ageMs: 240_000,
      consumer: { userRecords: 30_000, processingFailures: 0, errors: 0, durationMs: 51_000 },
    });
    const steps: Array<[string, number, number]> = [];
    // Act: the lag persists; CloudWatch re-fires the reset alarm every 6 minutes.
    for (let i = 0; i < 4; i++) {
      const at = NOW + i * 6 * MIN;
      const result = await handleAlarm(i === 0 ? alarmEvent(ALARMS.lag) : refire(ALARMS.lag, at), consumerConfig(), clients, log, at);
      steps.push([result.decision, mapping.factor, stream.shards]);
    }
    // Assess
    expect(steps).toEqual([
      ['RaiseParallelization', 4, 2],
      ['RaiseParallelization', 8, 2],
      ['RaiseParallelization', 10, 2],
      ['ScaleOut', 10, 4],
    ]);
    expect(kin.commandCalls(UpdateShardCountCommand)).toHaveLength(1);
  });
});
