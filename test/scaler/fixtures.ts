import {
  CloudWatchClient,
  DescribeAlarmsCommand,
  GetMetricDataCommand,
  PutMetricAlarmCommand,
  SetAlarmStateCommand,
  type MetricAlarm,
} from '@aws-sdk/client-cloudwatch';
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
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
export const ACCOUNT = '111122223333';
export const alarmArn = (alarmName: string) => `arn:aws:cloudwatch:us-east-1:${ACCOUNT}:alarm:${alarmName}`;

export function alarmEvent(alarmName = ALARMS.utilization, value = 'ALARM', timestamp = '2026-11-22T11:59:30.000+0000'): AlarmEvent {
  return {
    source: 'aws.cloudwatch',
    alarmArn: alarmArn(alarmName),
    accountId: ACCOUNT,
    region: 'us-east-1',
    time: timestamp,
    alarmData: { alarmName, state: { value, reason: 'Threshold Crossed', timestamp } },
  };
}

export function scalerConfig(overrides: Partial<ScalerConfig> = {}): ScalerConfig {
  return {
    streamName: STREAM,
    tableName: TABLE,
    alarmNames: [ALARMS.utilization, ALARMS.lag],
    alarmArns: [alarmArn(ALARMS.utilization), alarmArn(ALARMS.lag)],
    limits: {
      minShards: 1,
      maxShards: 64,
      targetUtilization: 0.6,
      scaleOutUtilization: 0.8,
      scaleInUtilization: 0.3,
      lagThresholdMs: 60_000,
      scaleOutCooldownMs: 300_000,
      scaleInCooldownMs: 3_600_000,
      quietWindowMinutes: 60,
      reservedScaleOutCalls: 2,
      adjustParallelization: false,
    },
    ...overrides,
  };
}

/** What the consumer published per minute (its EMF metrics and AWS/Lambda's), for `metricData`. */
export interface ConsumerSeries {
  readonly userRecords?: number;
  readonly processingFailures?: number;
  readonly errors?: number;
  readonly duplicatesSkipped?: number;
  readonly durationMs?: number;
  readonly ageMs?: number;
}

export interface MetricDataOptions {
  readonly ageMs?: number;
  readonly throttledPerSecond?: number;
  /** Minutes of datapoints, newest first from 1 minute before NOW. */
  readonly minutes?: number;
  /** Minutes ago (1 = the newest) that have no datapoint in any series: gaps. */
  readonly missing?: (minutesAgo: number) => boolean;
  /** Series left out entirely (no datapoint at all). */
  readonly without?: readonly string[];
  /** The consumer's series (per minute), when the scaler knows its consumer. */
  readonly consumer?: ConsumerSeries;
}

/** GetMetricData results of a steady write load (1 KiB records) and an iterator age, one point a minute. */
export function metricData(mibPerSecond: number, options: MetricDataOptions = {}) {
  const minutes = options.minutes ?? 60;
  const timestamps = Array.from({ length: minutes }, (_, i) => i + 1)
    .filter((ago) => !(options.missing?.(ago) ?? false))
    .map((ago) => new Date(NOW - ago * 60_000));
  const series = (id: string, value: number | undefined) =>
    value === undefined || options.without?.includes(id)
      ? []
      : [{ Id: id, Timestamps: timestamps, Values: timestamps.map(() => value), StatusCode: 'Complete' as const }];
  const consumer = options.consumer;
  return {
    MetricDataResults: [
      ...series('bytes', mibPerSecond * MIB * 60),
      ...series('records', (mibPerSecond * MIB * 60) / 1024),
      ...series('throttled', (options.throttledPerSecond ?? 0) * 60),
      ...series('streamAge', options.ageMs ?? 0),
      ...(consumer
        ? [
            ...series('consumerAge', consumer.ageMs ?? options.ageMs),
            ...series('userRecords', consumer.userRecords),
            ...series('processingFailures', consumer.processingFailures),
            ...series('consumerErrors', consumer.errors),
            ...series('duplicatesSkipped', consumer.duplicatesSkipped),
            ...series('consumerDuration', consumer.durationMs),
          ]
        : []),
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
      {
        Id: 'bytes',
        MetricStat: {
          Metric: { Namespace: 'AWS/Kinesis', MetricName: 'IncomingBytes', Dimensions: [{ Name: 'StreamName', Value: STREAM }] },
          Period: 60,
          Stat: 'Sum',
        },
        ReturnData: false,
      },
      {
        Id: 'records',
        MetricStat: {
          Metric: { Namespace: 'AWS/Kinesis', MetricName: 'IncomingRecords', Dimensions: [{ Name: 'StreamName', Value: STREAM }] },
          Period: 60,
          Stat: 'Sum',
        },
        ReturnData: false,
      },
    ],
  };
}

/** A lag alarm as DescribeAlarms returns it: a plain metric alarm, no capacity constants. */
export function describedLagAlarm(alarmName = ALARMS.lag): MetricAlarm {
  return {
    AlarmName: alarmName,
    AlarmArn: alarmArn(alarmName),
    StateValue: 'ALARM',
    Namespace: 'AWS/Kinesis',
    MetricName: 'GetRecords.IteratorAgeMilliseconds',
    Dimensions: [{ Name: 'StreamName', Value: STREAM }],
    Statistic: 'Maximum',
    Period: 60,
    EvaluationPeriods: 3,
    Threshold: 60000,
    ComparisonOperator: 'GreaterThanOrEqualToThreshold',
  };
}

/**
 * CloudWatch and Lambda clients mocked: metrics of `mibPerSecond`, alarms that accept every change.
 * The alarms keep a state, as CloudWatch does: ALARM unless `alarmStates` says otherwise, changed
 * by SetAlarmState (the scaler's reset), read by DescribeAlarms.
 */
export function mockedCloudWatch(mibPerSecond: number, shards: number, options: MetricDataOptions = {}) {
  const cloudwatch = new CloudWatchClient({ region: 'us-east-1' });
  const cw = mockClient(cloudwatch);
  const alarmStates = new Map<string, string>();
  const reasons = new Map<string, string>();
  // The datapoints end where the request does: a scaler invoked later reads the same recent load.
  const data = metricData(mibPerSecond, options);
  cw.on(GetMetricDataCommand).callsFake((input) => {
    const shift = input.EndTime ? new Date(input.EndTime).getTime() - NOW : 0;
    return {
      MetricDataResults: data.MetricDataResults.map((series) => ({
        ...series,
        Timestamps: series.Timestamps.map((at) => new Date(at.getTime() + shift)),
      })),
    };
  });
  cw.on(DescribeAlarmsCommand).callsFake((input) => ({
    MetricAlarms: (input.AlarmNames ?? []).map((name: string) => ({
      ...(name === ALARMS.utilization ? describedAlarm(shards) : describedLagAlarm(name)),
      StateValue: alarmStates.get(name) ?? 'ALARM',
    })),
  }));
  cw.on(PutMetricAlarmCommand).resolves({});
  cw.on(SetAlarmStateCommand).callsFake((input) => {
    alarmStates.set(input.AlarmName, input.StateValue);
    reasons.set(input.AlarmName, input.StateReason);
    return {};
  });
  const lambda = new LambdaClient({ region: 'us-east-1' });
  return { cloudwatch, cw, lambda, lambdaMock: mockClient(lambda), alarmStates, reasons };
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
