import { CloudWatchClient, DescribeAlarmsCommand, GetMetricDataCommand, PutMetricAlarmCommand, SetAlarmStateCommand, type MetricAlarm } from '@aws-sdk/client-cloudwatch';
import { ConditionalCheckFailedException, DynamoDBClient, GetItemCommand, PutItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import type { AlarmEvent, ScalerConfig, ScalerLog } from '../../lambda/scaler/scaler';
import { utilizationExpression } from '../../lambda/shared/scaling-alarms';
import { MIB } from '../../lambda/shared/scaling-decision';

export const NOW = Date.parse('2026-11-22T12:00:00Z');
export const STREAM = 'clicks';
export const TABLE = 'scaler-state';
export const ALARMS = { utilization: 'Stack-Autoscaler-WriteUtilization', lag: 'Stack-Autoscaler-StreamLag' };

/** The event a CloudWatch alarm's Lambda action sends. */
export function alarmEvent(alarmName = ALARMS.utilization, value = 'ALARM', timestamp = '2026-11-22T11:59:30.000+0000'): AlarmEvent {
  return {
    source: 'aws.cloudwatch',
    alarmArn: `arn:aws:cloudwatch:us-east-1:111122223333:alarm:${alarmName}`,
    time: timestamp,
    alarmData: { alarmName, state: { value, reason: 'Threshold Crossed', timestamp } },
  };
}

export function scalerConfig(overrides: Partial<ScalerConfig> = {}): ScalerConfig {
  return {
    streamName: STREAM,
    tableName: TABLE,
    alarmNames: [ALARMS.utilization, ALARMS.lag],
    limits: {
      minShards: 1, maxShards: 64, targetUtilization: 0.6, scaleOutUtilization: 0.8, scaleInUtilization: 0.3,
      lagThresholdMs: 60_000, scaleOutCooldownMs: 300_000, scaleInCooldownMs: 3_600_000, quietWindowMinutes: 60,
      reservedScaleOutCalls: 2, adjustParallelization: false,
    },
    ...overrides,
  };
}

/** GetMetricData results of a steady write load (1 KiB records) and an iterator age, one point a minute. */
export function metricData(mibPerSecond: number, options: { ageMs?: number; throttledPerSecond?: number; minutes?: number } = {}) {
  const minutes = options.minutes ?? 60;
  const timestamps = Array.from({ length: minutes }, (_, i) => new Date(NOW - (i + 1) * 60_000));
  const series = (id: string, value: number) => ({ Id: id, Timestamps: timestamps, Values: timestamps.map(() => value), StatusCode: 'Complete' as const });
  return {
    MetricDataResults: [
      series('bytes', mibPerSecond * MIB * 60),
      series('records', (mibPerSecond * MIB * 60) / 1024),
      series('throttled', (options.throttledPerSecond ?? 0) * 60),
      series('streamAge', options.ageMs ?? 0),
    ],
  };
}

/** An alarm as DescribeAlarms returns it, with the capacity constants of `shards`. */
export function describedAlarm(shards: number): MetricAlarm {
  return {
    AlarmName: ALARMS.utilization,
    AlarmArn: `arn:aws:cloudwatch:us-east-1:111122223333:alarm:${ALARMS.utilization}`,
    AlarmDescription: 'utilisation',
    ActionsEnabled: true,
    AlarmActions: ['arn:aws:lambda:us-east-1:111122223333:function:scaler'],
    OKActions: [],
    InsufficientDataActions: [],
    EvaluationPeriods: 2,
    DatapointsToAlarm: 2,
    Threshold: 80,
    ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    TreatMissingData: 'notBreaching',
    StateValue: 'ALARM',
    Metrics: [
      { Id: 'expr_1', Expression: utilizationExpression(shards, 60), ReturnData: true },
      { Id: 'bytes', MetricStat: { Metric: { Namespace: 'AWS/Kinesis', MetricName: 'IncomingBytes', Dimensions: [{ Name: 'StreamName', Value: STREAM }] }, Period: 60, Stat: 'Sum' }, ReturnData: false },
      { Id: 'records', MetricStat: { Metric: { Namespace: 'AWS/Kinesis', MetricName: 'IncomingRecords', Dimensions: [{ Name: 'StreamName', Value: STREAM }] }, Period: 60, Stat: 'Sum' }, ReturnData: false },
    ],
  };
}

/** CloudWatch and Lambda clients mocked: metrics of `mibPerSecond`, alarms that accept every change. */
export function mockedCloudWatch(mibPerSecond: number, shards: number, options: Parameters<typeof metricData>[1] = {}) {
  const cloudwatch = new CloudWatchClient({ region: 'us-east-1' });
  const cw = mockClient(cloudwatch);
  cw.on(GetMetricDataCommand).resolves(metricData(mibPerSecond, options));
  cw.on(DescribeAlarmsCommand).resolves({ MetricAlarms: [describedAlarm(shards)] });
  cw.on(PutMetricAlarmCommand).resolves({});
  cw.on(SetAlarmStateCommand).resolves({});
  const lambda = new LambdaClient({ region: 'us-east-1' });
  return { cloudwatch, cw, lambda, lambdaMock: mockClient(lambda) };
}

/** A DynamoDB client mocked as a one-table store that honours the scaler's condition expressions. */
export function fakeStateTable() {
  const dynamodb = new DynamoDBClient({ region: 'us-east-1' });
  const mock = mockClient(dynamodb);
  const items = new Map<string, Record<string, AttributeValue>>();
  mock.on(GetItemCommand).callsFake((input) => ({ Item: items.get(input.Key.pk.S) }));
  mock.on(PutItemCommand).callsFake((input) => {
    const current = items.get(input.Item.pk.S);
    const expected = input.ExpressionAttributeValues?.[':expected']?.N;
    const ok = input.ConditionExpression === 'attribute_not_exists(pk)' ? current === undefined : current?.version?.N === expected;
    if (!ok) {
      throw new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
    }
    items.set(input.Item.pk.S, input.Item);
    return {};
  });
  const stored = () => {
    const item = items.get('state');
    return item ? { version: Number(item.version.N), ...JSON.parse(item.doc.S!) } : undefined;
  };
  return { dynamodb, mock, stored };
}

export function silentLog(): ScalerLog & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, info: () => undefined, warn: (message) => warnings.push(message) };
}
