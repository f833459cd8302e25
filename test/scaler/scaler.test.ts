import {
  CloudWatchServiceException,
  DescribeAlarmsCommand,
  GetMetricDataCommand,
  PutMetricAlarmCommand,
  SetAlarmStateCommand,
} from '@aws-sdk/client-cloudwatch';
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
import { handleAlarm, ScalerEventError } from '../../lambda/scaler/scaler';
import {
  ALARMS,
  alarmEvent,
  fakeStateTable,
  mockedCloudWatch,
  NOW,
  scalerConfig,
  silentLog,
  STREAM,
  type MetricDataOptions,
} from './fixtures';

function mockedKinesis(shards: number, options: { mode?: 'PROVISIONED' | 'ON_DEMAND'; status?: string } = {}) {
  const kinesis = new KinesisClient({ region: 'us-east-1' });
  const mock = mockClient(kinesis);
  mock.on(DescribeStreamSummaryCommand).resolves({
    StreamDescriptionSummary: {
      StreamName: STREAM,
      StreamARN: `arn:aws:kinesis:us-east-1:111122223333:stream/${STREAM}`,
      StreamStatus: (options.status ?? 'ACTIVE') as 'ACTIVE',
      StreamModeDetails: { StreamMode: options.mode ?? 'PROVISIONED' },
      OpenShardCount: shards,
      RetentionPeriodHours: 24,
      StreamCreationTimestamp: new Date(NOW - 86_400_000),
      EnhancedMonitoring: [],
    },
  });
  mock
    .on(DescribeLimitsCommand)
    .resolves({ ShardLimit: 500, OpenShardCount: shards, OnDemandStreamCount: 0, OnDemandStreamCountLimit: 50 });
  mock
    .on(UpdateShardCountCommand)
    .callsFake((input) => ({ StreamName: STREAM, CurrentShardCount: shards, TargetShardCount: input.TargetShardCount }));
  return { kinesis, mock };
}

function setup(
  mibPerSecond: number,
  shards: number,
  options: { mode?: 'PROVISIONED' | 'ON_DEMAND'; status?: string } & MetricDataOptions = {},
) {
  const kin = mockedKinesis(shards, options);
  const cw = mockedCloudWatch(mibPerSecond, shards, options);
  const state = fakeStateTable();
  const clients = { kinesis: kin.kinesis, dynamodb: state.dynamodb, cloudwatch: cw.cloudwatch, lambda: cw.lambda };
  return { ...kin, ...cw, state, clients, log: silentLog() };
}

describe('handleAlarm: scaling out', () => {
  test('a utilisation alarm raises the shard count to the target utilisation, records it, rewrites and resets the alarms', async () => {
    const { clients, mock, cw, state, log } = setup(3.6, 4);

    const result = await handleAlarm(alarmEvent(), scalerConfig(), clients, log, NOW);

    expect(result).toEqual(
      expect.objectContaining({ action: 'update-shard-count', decision: 'ScaleOut', targetShards: 7, shards: 7, alarmsSynced: true }),
    );
    expect(mock.commandCalls(UpdateShardCountCommand).map((call) => call.args[0].input)).toEqual([
      { StreamName: STREAM, TargetShardCount: 7, ScalingType: 'UNIFORM_SCALING' },
    ]);
    expect(state.stored()).toEqual(
      expect.objectContaining({
        lastScaleOutAt: NOW,
        shardCountChanges: [NOW],
        alarmShards: 7,
        processedEvents: [`${ALARMS.utilization}@2026-11-22T11:59:30.000+0000`],
      }),
    );
    const put = cw.commandCalls(PutMetricAlarmCommand)[0].args[0].input;
    expect(put.Metrics![0].Expression).toBe(`100 * MAX([FILL(bytes, 0) / ${7 * 1024 * 1024 * 60}, FILL(records, 0) / ${7 * 1000 * 60}])`);
    expect(put).toEqual(
      expect.objectContaining({
        AlarmName: ALARMS.utilization,
        Threshold: 80,
        EvaluationPeriods: 2,
        AlarmActions: ['arn:aws:lambda:us-east-1:111122223333:function:scaler'],
        TreatMissingData: 'notBreaching',
      }),
    );
    expect(cw.commandCalls(SetAlarmStateCommand).map((call) => [call.args[0].input.AlarmName, call.args[0].input.StateValue])).toEqual([
      [ALARMS.utilization, 'OK'],
      [ALARMS.lag, 'OK'],
    ]);
    expect(cw.commandCalls(DescribeAlarmsCommand).map((call) => call.args[0].input.AlarmNames)).toEqual([
      [ALARMS.utilization],
      [ALARMS.utilization, ALARMS.lag],
    ]);
  });

  test('a repeated event changes nothing the second time', async () => {
    const { clients, mock, state, log, alarmStates } = setup(3.6, 4);
    await handleAlarm(alarmEvent(), scalerConfig(), clients, log, NOW);
    const stale = await handleAlarm(alarmEvent(), scalerConfig(), clients, log, NOW + 500);
    alarmStates.set(ALARMS.utilization, 'ALARM');

    const again = await handleAlarm(alarmEvent(), scalerConfig(), clients, log, NOW + 1000);

    expect(stale.decision).toBe('Ignored');
    expect(again.decision).toBe('Duplicate');
    expect(mock.commandCalls(UpdateShardCountCommand)).toHaveLength(1);
    expect(state.stored().shardCountChanges).toEqual([NOW]);
  });

  test('a lag alarm on a consumer-bound stream raises the parallelization factor, not the shards', async () => {
    const { clients, mock, lambdaMock, log } = setup(0.5, 4, {
      ageMs: 240_000,
      consumer: { userRecords: 20_000, processingFailures: 0, errors: 0 },
    });
    lambdaMock.on(GetEventSourceMappingCommand).resolves({ UUID: 'esm-1', ParallelizationFactor: 2 });
    lambdaMock.on(UpdateEventSourceMappingCommand).resolves({});
    const config = scalerConfig({
      eventSourceMappingId: 'esm-1',
      consumerFunctionName: 'consumer',
      limits: { ...scalerConfig().limits, adjustParallelization: true },
    });

    const result = await handleAlarm(alarmEvent(ALARMS.lag), config, clients, log, NOW);

    expect(result).toEqual(expect.objectContaining({ decision: 'RaiseParallelization', parallelizationFactor: 4 }));
    expect(lambdaMock.commandCalls(UpdateEventSourceMappingCommand)[0].args[0].input).toEqual({ UUID: 'esm-1', ParallelizationFactor: 4 });
    expect(mock.commandCalls(UpdateShardCountCommand)).toHaveLength(0);
  });

  test('an on-demand stream is never resharded', async () => {
    const { clients, mock, log } = setup(50, 4, { mode: 'ON_DEMAND' });

    const result = await handleAlarm(alarmEvent(ALARMS.lag), scalerConfig(), clients, log, NOW);

    expect(result.decision).toBe('OnDemand');
    expect(mock.commandCalls(UpdateShardCountCommand)).toHaveLength(0);
    expect(mock.commandCalls(DescribeLimitsCommand)).toHaveLength(0);
  });

  test('an alarm going back to OK does nothing', async () => {
    const { clients, mock, state, log } = setup(3.6, 4);

    const result = await handleAlarm(alarmEvent(ALARMS.utilization, 'OK'), scalerConfig(), clients, log, NOW);

    expect(result.decision).toBe('NoChange');
    expect(mock.commandCalls(DescribeStreamSummaryCommand)).toHaveLength(0);
    expect(state.stored()).toBeUndefined();
  });

  test('an event that is not an alarm action is rejected with a clear error', async () => {
    const { clients, log } = setup(1, 4);

    await expect(handleAlarm({ source: 'aws.events' }, scalerConfig(), clients, log, NOW)).rejects.toThrow(ScalerEventError);
    await expect(handleAlarm({ alarmData: { alarmName: 'x' } }, scalerConfig(), clients, log, NOW)).rejects.toThrow(
      /alarmData.state.value/,
    );
  });
});

describe('handleAlarm: faults', () => {
  test('LimitExceededException: no change, the cooldown is given back, the call keeps its slot of the day, the event counts as handled and the alarm is reset', async () => {
    const { clients, mock, cw, state, log } = setup(3.6, 4);
    mock.on(UpdateShardCountCommand).rejects(new LimitExceededException({ message: 'Rate exceeded for stream clicks', $metadata: {} }));

    const result = await handleAlarm(alarmEvent(), scalerConfig(), clients, log, NOW);

    expect(result).toEqual(
      expect.objectContaining({
        action: 'none',
        decision: 'Rejected',
        shards: 4,
        reason: expect.stringMatching(/UpdateShardCount refused: LimitExceededException/),
      }),
    );
    expect(state.stored()).toEqual(
      expect.objectContaining({
        version: 2,
        shardCountChanges: [NOW],
        refusals: 1,
        lastRefusedAt: NOW,
        processedEvents: [expect.stringContaining(ALARMS.utilization)],
      }),
    );
    expect(cw.commandCalls(SetAlarmStateCommand).map((call) => [call.args[0].input.AlarmName, call.args[0].input.StateValue])).toEqual([
      [ALARMS.utilization, 'OK'],
    ]);
    expect(result.alarmReset).toBe(true);
    expect(state.stored().lastScaleOutAt).toBeUndefined();
    expect(cw.commandCalls(PutMetricAlarmCommand)).toHaveLength(0);
    expect(log.warnings).toEqual(['UpdateShardCount refused']);
  });

  test('ResourceInUseException (a reshard already running): Busy, nothing recorded', async () => {
    const { clients, mock, state, log } = setup(3.6, 4);
    mock.on(UpdateShardCountCommand).rejects(new ResourceInUseException({ message: 'Stream clicks is UPDATING', $metadata: {} }));

    const result = await handleAlarm(alarmEvent(), scalerConfig(), clients, log, NOW);

    expect(result.decision).toBe('Busy');
    expect(state.stored().shardCountChanges).toEqual([]);
    expect(result).toEqual(expect.objectContaining({ recheck: true, alarmReset: true }));
  });

  test('another UpdateShardCount error propagates, rolled back (the call keeps its slot) so that the retried event can act', async () => {
    const { clients, mock, state, log, ...cw } = setup(3.6, 4);
    mock.on(UpdateShardCountCommand).rejectsOnce(Object.assign(new Error('internal'), { name: 'InternalFailure' }));

    await expect(handleAlarm(alarmEvent(), scalerConfig(), clients, log, NOW)).rejects.toThrow('internal');
    expect(state.stored()).toEqual(expect.objectContaining({ shardCountChanges: [NOW], processedEvents: [] }));
    expect(state.stored().lastScaleOutAt).toBeUndefined();

    // The alarm was reset: a retry finds it OK (stale) until CloudWatch fires it again.
    expect(cw.alarmStates.get(ALARMS.utilization)).toBe('OK');
    cw.alarmStates.set(ALARMS.utilization, 'ALARM');
    const retried = await handleAlarm(alarmEvent(), scalerConfig(), clients, log, NOW + 1000);
    expect(retried).toEqual(expect.objectContaining({ decision: 'ScaleOut', targetShards: 7 }));
  });

  test('a failed UpdateEventSourceMapping propagates and gives the parallelization cooldown back', async () => {
    const { clients, lambdaMock, state, log } = setup(0.5, 4, { ageMs: 240_000 });
    lambdaMock.on(GetEventSourceMappingCommand).resolves({ UUID: 'esm-1', ParallelizationFactor: 2 });
    lambdaMock
      .on(UpdateEventSourceMappingCommand)
      .rejects(Object.assign(new Error('mapping is updating'), { name: 'ResourceConflictException' }));
    const config = scalerConfig({ eventSourceMappingId: 'esm-1', limits: { ...scalerConfig().limits, adjustParallelization: true } });

    await expect(handleAlarm(alarmEvent(ALARMS.lag), config, clients, log, NOW)).rejects.toThrow('mapping is updating');
    expect(state.stored()).toEqual(expect.objectContaining({ version: 2, processedEvents: [] }));
    expect(state.stored().lastParallelizationAt).toBeUndefined();
  });

  test('throttled GetMetricData: the error propagates before anything changes', async () => {
    const { clients, mock, cw, state, log } = setup(3.6, 4);
    cw.on(GetMetricDataCommand).rejects(
      new CloudWatchServiceException({ name: 'ThrottlingException', $fault: 'client', message: 'Rate exceeded', $metadata: {} }),
    );

    await expect(handleAlarm(alarmEvent(), scalerConfig(), clients, log, NOW)).rejects.toThrow('Rate exceeded');
    expect(mock.commandCalls(UpdateShardCountCommand)).toHaveLength(0);
    expect(state.stored()).toBeUndefined();
  });

  test('throttled PutMetricAlarm: the reshard stands, and the next event rewrites the alarms', async () => {
    const { clients, mock, cw, state, log, alarmStates } = setup(3.6, 4);
    cw.on(PutMetricAlarmCommand).rejectsOnce(
      new CloudWatchServiceException({ name: 'ThrottlingException', $fault: 'client', message: 'Rate exceeded', $metadata: {} }),
    );

    const result = await handleAlarm(alarmEvent(), scalerConfig(), clients, log, NOW);

    expect(result).toEqual(expect.objectContaining({ decision: 'ScaleOut', shards: 7, alarmsSynced: false }));
    expect(log.warnings).toEqual(['could not rewrite the alarm capacity constants']);
    expect(state.stored().alarmShards).toBeUndefined();

    // The stream is at 7 shards now; the next alarm (in cooldown) catches the alarms up.
    mock.on(DescribeStreamSummaryCommand).resolves({
      StreamDescriptionSummary: {
        StreamName: STREAM,
        StreamARN: 'arn',
        StreamStatus: 'ACTIVE',
        StreamModeDetails: { StreamMode: 'PROVISIONED' },
        OpenShardCount: 7,
        RetentionPeriodHours: 24,
        StreamCreationTimestamp: new Date(),
        EnhancedMonitoring: [],
      },
    });
    alarmStates.set(ALARMS.utilization, 'ALARM');
    const next = await handleAlarm(
      alarmEvent(ALARMS.utilization, 'ALARM', '2026-11-22T12:01:30.000+0000'),
      scalerConfig(),
      clients,
      log,
      NOW + 60_000,
    );
    expect(next).toEqual(expect.objectContaining({ decision: 'NoChange', alarmsSynced: true }));
    expect(cw.commandCalls(PutMetricAlarmCommand).at(-1)!.args[0].input.Metrics![0].Expression).toContain(`${7 * 1024 * 1024 * 60}`);
    expect(state.stored().alarmShards).toBe(7);
  });

  test('throttled SetAlarmState is logged, not fatal', async () => {
    const { clients, cw, log } = setup(3.6, 4);
    cw.on(SetAlarmStateCommand).rejects(
      new CloudWatchServiceException({ name: 'ThrottlingException', $fault: 'client', message: 'Rate exceeded', $metadata: {} }),
    );

    const result = await handleAlarm(alarmEvent(), scalerConfig(), clients, log, NOW);

    expect(result.decision).toBe('ScaleOut');
    expect(log.warnings).toEqual(['could not reset alarm state', 'could not reset alarm state']);
  });
});
