import {
  CloudWatchClient,
  DescribeAlarmsCommand,
  GetMetricDataCommand,
  PutMetricAlarmCommand,
  SetAlarmStateCommand,
} from '@aws-sdk/client-cloudwatch';
import { GetEventSourceMappingCommand, LambdaClient, UpdateEventSourceMappingCommand } from '@aws-sdk/client-lambda';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { LocalAlarms, startControlPlane, type AlarmDefinition, type ControlPlane } from '../control-plane';
import { evaluateExpression, MetricMathError, MetricStore } from '../metrics';

/**
 * The local CloudWatch and Lambda control plane the scaler talks to: metric math, alarm
 * evaluation with periods and M of N, and the APIs through the real SDK clients.
 */
const stream = [{ Name: 'StreamName', Value: 's' }];
const utilization: AlarmDefinition = {
  AlarmName: 'p-WriteUtilization',
  ComparisonOperator: 'GreaterThanOrEqualToThreshold',
  Threshold: 80,
  EvaluationPeriods: 2,
  DatapointsToAlarm: 2,
  TreatMissingData: 'notBreaching',
  Metrics: [
    { Id: 'expr_1', Expression: '100 * MAX([FILL(bytes, 0) / 125829120, FILL(records, 0) / 120000])', ReturnData: true },
    {
      Id: 'bytes',
      MetricStat: { Metric: { Namespace: 'AWS/Kinesis', MetricName: 'IncomingBytes', Dimensions: stream }, Period: 60, Stat: 'Sum' },
      ReturnData: false,
    },
    {
      Id: 'records',
      MetricStat: { Metric: { Namespace: 'AWS/Kinesis', MetricName: 'IncomingRecords', Dimensions: stream }, Period: 60, Stat: 'Sum' },
      ReturnData: false,
    },
  ],
};
const MINUTE = 60_000;
const t0 = Date.parse('2026-11-22T12:00:00Z');

describe('evaluateExpression', () => {
  test("computes the alarms' expressions with FILL, MAX, IF and comparisons", () => {
    expect(evaluateExpression('100 * MAX([FILL(bytes, 0) / 1000, FILL(records, 0) / 10])', { bytes: 500, records: undefined })).toBe(50);
    expect(evaluateExpression('IF(FILL(streamAge, 0) >= 60000, 100, 7)', { streamAge: 61_000 })).toBe(100);
    expect(evaluateExpression('IF(FILL(streamAge, 0) >= 60000, 100, 7)', { streamAge: undefined })).toBe(7);
    expect(evaluateExpression('-2 + 3 * (4 - 1)', {})).toBe(7);
    expect(evaluateExpression('bytes / 2', { bytes: undefined })).toBeUndefined();
  });

  test('names what it cannot read', () => {
    expect(() => evaluateExpression('RATE(bytes)', { bytes: 1 })).toThrow(MetricMathError);
    expect(() => evaluateExpression('other * 2', { bytes: 1 })).toThrow(/unknown id other/);
  });
});

describe('LocalAlarms', () => {
  test('goes to ALARM when 2 of 2 complete periods breach, with a Lambda alarm-action event, and not before', () => {
    // Prepare
    const store = new MetricStore();
    const alarms = new LocalAlarms(store, [utilization], 'us-east-1');
    store.put('AWS/Kinesis', 'IncomingBytes', stream, 110 * 1024 * 1024, t0 + 10_000);
    // Act
    const afterOne = alarms.evaluate(t0 + MINUTE + 1);
    store.put('AWS/Kinesis', 'IncomingBytes', stream, 110 * 1024 * 1024, t0 + MINUTE + 10_000);
    const afterTwo = alarms.evaluate(t0 + 2 * MINUTE + 1);
    // Assess
    expect(afterOne).toEqual([]);
    expect(afterTwo).toHaveLength(1);
    expect(afterTwo[0]).toMatchObject({
      source: 'aws.cloudwatch',
      alarmData: { alarmName: 'p-WriteUtilization', state: { value: 'ALARM' } },
    });
    expect(alarms.state('p-WriteUtilization')).toBe('ALARM');
  });

  test("has no datapoint for a period where none of the expression's metrics has data", () => {
    const alarms = new LocalAlarms(
      new MetricStore(),
      [{ ...utilization, ComparisonOperator: 'LessThanThreshold', Threshold: 30 }],
      'us-east-1',
    );
    expect(alarms.evaluate(t0 + 10 * MINUTE)).toEqual([]);
  });
});

describe('control plane', () => {
  let plane: ControlPlane;
  let factor = 1;
  const store = new MetricStore();
  const alarms = new LocalAlarms(store, [utilization], 'us-east-1');
  const config = () => ({
    region: 'us-east-1',
    credentials: { accessKeyId: 'l', secretAccessKey: 'l' },
    endpoint: plane.endpoint,
    requestHandler: new NodeHttpHandler(),
    maxAttempts: 1,
  });

  beforeAll(async () => {
    plane = await startControlPlane(store, alarms, {
      describe: (uuid) => ({ UUID: uuid, ParallelizationFactor: factor }),
      update: (uuid, changes) => {
        factor = changes.ParallelizationFactor as number;
        return { UUID: uuid, ParallelizationFactor: factor };
      },
    });
  });

  afterAll(() => plane.stop());

  test('answers GetMetricData from the local metrics, newest first, through the CloudWatch SDK client', async () => {
    // Prepare
    const now = Date.now();
    const minute = Math.floor(now / MINUTE) * MINUTE;
    store.put('AWS/Kinesis', 'IncomingRecords', stream, 5, minute - MINUTE + 1000);
    store.put('AWS/Kinesis', 'IncomingRecords', stream, 7, minute - MINUTE + 2000);
    store.put('AWS/Kinesis', 'IncomingRecords', stream, 3, minute + 10);
    const cloudwatch = new CloudWatchClient(config());
    // Act
    const result = await cloudwatch.send(
      new GetMetricDataCommand({
        StartTime: new Date(minute - 5 * MINUTE),
        EndTime: new Date(minute + MINUTE),
        ScanBy: 'TimestampDescending',
        MetricDataQueries: [
          {
            Id: 'records',
            MetricStat: {
              Metric: { Namespace: 'AWS/Kinesis', MetricName: 'IncomingRecords', Dimensions: stream },
              Period: 60,
              Stat: 'Sum',
            },
            ReturnData: true,
          },
        ],
      }),
    );
    cloudwatch.destroy();
    // Assess
    expect(result.MetricDataResults?.[0].Values).toEqual([3, 12]);
    expect(result.MetricDataResults?.[0].Timestamps?.map((at) => at.getTime())).toEqual([minute, minute - MINUTE]);
  });

  test('describes, rewrites and resets alarms, and reads and updates the mapping through the SDK clients', async () => {
    // Prepare
    const cloudwatch = new CloudWatchClient(config());
    const lambda = new LambdaClient(config());
    // Act
    const described = await cloudwatch.send(new DescribeAlarmsCommand({ AlarmNames: ['p-WriteUtilization'] }));
    await cloudwatch.send(new PutMetricAlarmCommand({ ...utilization, Threshold: 70 } as never));
    await cloudwatch.send(new SetAlarmStateCommand({ AlarmName: 'p-WriteUtilization', StateValue: 'OK', StateReason: 'reset' }));
    const rewritten = await cloudwatch.send(new DescribeAlarmsCommand({ AlarmNames: ['p-WriteUtilization'] }));
    const updated = await lambda.send(new UpdateEventSourceMappingCommand({ UUID: 'esm-1', ParallelizationFactor: 2 }));
    const read = await lambda.send(new GetEventSourceMappingCommand({ UUID: 'esm-1' }));
    cloudwatch.destroy();
    lambda.destroy();
    // Assess
    expect(described.MetricAlarms?.[0]).toMatchObject({
      AlarmName: 'p-WriteUtilization',
      Threshold: 80,
      Metrics: expect.arrayContaining([expect.objectContaining({ Id: 'expr_1' })]),
    });
    expect(rewritten.MetricAlarms?.[0]).toMatchObject({ Threshold: 70, StateValue: 'OK' });
    expect(updated.ParallelizationFactor).toBe(2);
    expect(read.ParallelizationFactor).toBe(2);
  });

  test('answers 501 to any other service, so nothing leaves the machine', async () => {
    const response = await fetch(`${plane.endpoint}/`, {
      method: 'POST',
      headers: { 'x-amz-target': 'Kinesis_20131202.ListStreams' },
      body: '{}',
    });
    expect(response.status).toBe(501);
    expect(plane.unsupported.get('Kinesis_20131202.ListStreams')).toBe(1);
  });
});
