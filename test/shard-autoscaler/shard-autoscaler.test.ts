import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import {
  ConsumerFunction,
  DataStream,
  DataStreamMode,
  EXAMPLE_PROCESSOR_ENTRY,
  ShardAutoscaler,
  type ShardAutoscalerConsumer,
} from '../../lib';
import { testApp, testStack } from '../helpers/app';
import { nagViolations } from '../helpers/nag';
import { scalerConsumers } from './scaler-env';

/** A consumer stub: a plain function and an event-source mapping on the stream. */
function stubConsumer(
  stack: Stack,
  stream: DataStream,
): ShardAutoscalerConsumer & { fn: lambda.Function; mapping: lambda.EventSourceMapping } {
  const fn = new lambda.Function(stack, 'Consumer', {
    runtime: lambda.Runtime.NODEJS_24_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => ({});'),
  });
  const mapping = new lambda.EventSourceMapping(stack, 'Mapping', {
    target: fn,
    eventSourceArn: stream.streamArn,
    startingPosition: lambda.StartingPosition.TRIM_HORIZON,
  });
  return {
    fn,
    mapping,
    eventSourceMappingId: mapping.eventSourceMappingId,
    eventSourceMappingArn: mapping.eventSourceMappingArn,
    functionName: fn.functionName,
    metricIteratorAge: (props) => fn.metric('IteratorAge', { statistic: cloudwatch.Stats.MAXIMUM, ...props }),
  };
}

function provisioned(options: { consumer?: boolean; shardCount?: number } = {}) {
  const stack = testStack();
  const stream = new DataStream(stack, 'Stream', { shardCount: options.shardCount ?? 2 });
  const consumer = options.consumer === false ? undefined : stubConsumer(stack, stream);
  const autoscaler = new ShardAutoscaler(stack, 'Autoscaler', { stream, consumer, maxShards: 16 });
  return { stack, stream, consumer, autoscaler, template: Template.fromStack(stack) };
}

const streamRef = { Ref: Match.stringLikeRegexp('^Stream') };

describe('ShardAutoscaler alarms', () => {
  test('write utilisation is metric math on IncomingBytes and IncomingRecords (StreamName) against the shards at synth', () => {
    const { template } = provisioned();

    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('-WriteUtilization$'),
      Threshold: 80,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 2,
      Metrics: Match.arrayWith([
        Match.objectLike({ Id: 'expr_1', Expression: '100 * MAX([FILL(bytes, 0) / 125829120, FILL(records, 0) / 120000])' }),
        Match.objectLike({
          Id: 'bytes',
          ReturnData: false,
          MetricStat: Match.objectLike({
            Stat: 'Sum',
            Period: 60,
            Metric: { Namespace: 'AWS/Kinesis', MetricName: 'IncomingBytes', Dimensions: [{ Name: 'StreamName', Value: streamRef }] },
          }),
        }),
        Match.objectLike({
          Id: 'records',
          MetricStat: Match.objectLike({
            Metric: { Namespace: 'AWS/Kinesis', MetricName: 'IncomingRecords', Dimensions: [{ Name: 'StreamName', Value: streamRef }] },
          }),
        }),
      ]),
      AlarmActions: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^AutoscalerFunction'), 'Arn'] }],
    });
  });

  test('throttling and stream lag alarms carry the StreamName dimension; consumer lag the FunctionName', () => {
    const { template } = provisioned();

    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('-WriteThrottles$'),
      Namespace: 'AWS/Kinesis',
      MetricName: 'WriteProvisionedThroughputExceeded',
      Statistic: 'Sum',
      Threshold: 1,
      Dimensions: [{ Name: 'StreamName', Value: streamRef }],
      AlarmActions: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^AutoscalerFunction'), 'Arn'] }],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('-StreamLag$'),
      Namespace: 'AWS/Kinesis',
      MetricName: 'GetRecords.IteratorAgeMilliseconds',
      Statistic: 'Maximum',
      Threshold: 60000,
      Dimensions: [{ Name: 'StreamName', Value: streamRef }],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('-ConsumerLag$'),
      Namespace: 'AWS/Lambda',
      MetricName: 'IteratorAge',
      Statistic: 'Maximum',
      Threshold: 60000,
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp('^Consumer') } }],
    });
  });

  test('scale-in waits for a quiet hour and reads 100 % while either iterator age lags', () => {
    const { template } = provisioned();

    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('-ScaleIn$'),
      Threshold: 30,
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 12,
      DatapointsToAlarm: 12,
      Metrics: Match.arrayWith([
        Match.objectLike({
          Expression:
            'IF(MAX([FILL(streamAge, 0), FILL(consumerAge, 0)]) >= 60000, 100, 100 * MAX([FILL(bytes, 0) / 629145600, FILL(records, 0) / 600000]))',
        }),
        Match.objectLike({
          Id: 'streamAge',
          MetricStat: Match.objectLike({ Period: 300, Metric: Match.objectLike({ MetricName: 'GetRecords.IteratorAgeMilliseconds' }) }),
        }),
        Match.objectLike({
          Id: 'consumerAge',
          MetricStat: Match.objectLike({
            Period: 300,
            Stat: 'Maximum',
            Metric: Match.objectLike({ Namespace: 'AWS/Lambda', MetricName: 'IteratorAge' }),
          }),
        }),
      ]),
    });
  });

  test('CloudWatch may invoke the scaler from its own alarms only', () => {
    const { template, autoscaler } = provisioned();

    expect(autoscaler.alarms).toHaveLength(5);
    template.resourcePropertiesCountIs('AWS::Lambda::Permission', { Principal: 'lambda.alarms.cloudwatch.amazonaws.com' }, 5);
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'lambda.alarms.cloudwatch.amazonaws.com',
      SourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('ScaleInAlarm'), 'Arn'] },
    });
  });

  test('an on-demand stream gets the consumer lag alarm only, and no UpdateShardCount permission', () => {
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream', { mode: DataStreamMode.ON_DEMAND });
    const autoscaler = new ShardAutoscaler(stack, 'Autoscaler', { stream, consumer: stubConsumer(stack, stream) });
    const template = Template.fromStack(stack);

    expect(autoscaler.alarmNames.map((name) => name.split('-').pop())).toEqual(['ConsumerLag']);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 1);
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toMatch(/UpdateShardCount|DescribeLimits/);
  });
});

describe('ShardAutoscaler scaler function', () => {
  test('runs with reserved concurrency 1 and its settings in the environment', () => {
    const { template } = provisioned();

    template.hasResourceProperties('AWS::Lambda::Function', {
      ReservedConcurrentExecutions: 1,
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Environment: {
        Variables: Match.objectLike({
          STREAM_NAME: streamRef,
          STATE_TABLE_NAME: { Ref: Match.stringLikeRegexp('^AutoscalerState') },
          MIN_SHARDS: '1',
          MAX_SHARDS: '16',
          TARGET_UTILIZATION: '0.6',
          SCALE_OUT_UTILIZATION: '0.8',
          SCALE_IN_UTILIZATION: '0.3',
          LAG_THRESHOLD_MS: '60000',
          SCALE_OUT_COOLDOWN_MS: '300000',
          SCALE_IN_COOLDOWN_MS: '3600000',
          QUIET_WINDOW_MINUTES: '60',
          ADJUST_PARALLELIZATION: 'true',
          EVENT_SOURCE_MAPPING_ID: Match.absent(),
          ALARM_NAMES: Match.stringLikeRegexp('-WriteUtilization,.*-WriteThrottles,.*-StreamLag,.*-ConsumerLag,.*-ScaleIn$'),
          POWERTOOLS_SERVICE_NAME: Match.anyValue(),
        }),
      },
    });
    // The consumer travels in CONSUMERS, which the handler's own parser reads.
    expect(scalerConsumers(template)).toEqual([
      expect.objectContaining({
        id: 'consumer',
        functionName: expect.stringMatching(/^<Ref:Consumer/),
        eventSourceMappingId: expect.stringMatching(/^<Ref:Mapping/),
      }),
    ]);
  });

  test('keeps its state in an encrypted on-demand table with point-in-time recovery', () => {
    const { template } = provisioned();

    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
      Replicas: [Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } })],
    });
  });
});

describe("ShardAutoscaler and its consumer's parallelization factor", () => {
  test.each([DataStreamMode.PROVISIONED, DataStreamMode.ON_DEMAND])(
    'a standalone autoscaler (%s) tells a checkpointing ConsumerFunction that its factor may reach 10, and manages its mapping',
    (mode) => {
      // Prepare
      const stack = testStack();
      const stream = new DataStream(stack, 'Stream', mode === DataStreamMode.PROVISIONED ? { shardCount: 2 } : { mode });
      const consumer = new ConsumerFunction(stack, 'Consumer', { stream, processorEntry: EXAMPLE_PROCESSOR_ENTRY });
      // Act
      new ShardAutoscaler(stack, 'Autoscaler', { stream, consumer });
      // Assess
      const template = Template.fromStack(stack);
      expect([consumer.checkpointing, consumer.maxParallelizationFactor]).toEqual([true, 10]);
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({
            MAX_PARALLELIZATION_FACTOR: '10',
            LEASE_TABLE_NAME: { Ref: Match.stringLikeRegexp('^ConsumerLeases') },
          }),
        },
      });
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: Match.stringLikeRegexp('^Consumer') },
        ParallelizationFactor: 1,
      });
      template.hasResourceProperties('AWS::Lambda::Function', {
        ReservedConcurrentExecutions: 1,
        Environment: { Variables: Match.objectLike({ ADJUST_PARALLELIZATION: 'true' }) },
      });
      expect(scalerConsumers(template)).toEqual([
        expect.objectContaining({ eventSourceMappingId: expect.stringMatching(/^<Ref:ConsumerKinesisEventSource/) }),
      ]);
      template.hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({ Action: Match.arrayWith(['lambda:UpdateEventSourceMapping']) })]),
        },
      });
    },
  );

  test('with adjustParallelization false the consumer keeps its own factor', () => {
    // Prepare
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream', { shardCount: 2 });
    const consumer = new ConsumerFunction(stack, 'Consumer', { stream, processorEntry: EXAMPLE_PROCESSOR_ENTRY, parallelizationFactor: 3 });
    // Act
    new ShardAutoscaler(stack, 'Autoscaler', { stream, consumer, adjustParallelization: false });
    // Assess
    expect(consumer.maxParallelizationFactor).toBe(3);
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ ORDERING: 'partition-key', MAX_PARALLELIZATION_FACTOR: '3' }) },
    });
  });

  test('calls allowParallelizationFactor(10) once when it may raise the factor, never otherwise; a consumer without it is fine', () => {
    // Prepare
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream', { shardCount: 2 });
    const allowing = { ...stubConsumer(stack, stream), allowParallelizationFactor: jest.fn() };
    const stack2 = testStack();
    const stream2 = new DataStream(stack2, 'Stream', { shardCount: 2 });
    const notAllowing = { ...stubConsumer(stack2, stream2), allowParallelizationFactor: jest.fn() };
    // Act
    new ShardAutoscaler(stack, 'Autoscaler', { stream, consumer: allowing });
    new ShardAutoscaler(stack2, 'Autoscaler', { stream: stream2, consumer: notAllowing, adjustParallelization: false });
    // Assess
    expect(allowing.allowParallelizationFactor.mock.calls).toEqual([[10]]);
    expect(notAllowing.allowParallelizationFactor).not.toHaveBeenCalled();
    expect(() => provisioned()).not.toThrow();
  });
});

describe('ShardAutoscaler IAM', () => {
  function statements(template: Template): Array<{ Action: string | string[]; Resource: unknown }> {
    return Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy) => policy.Properties.PolicyDocument.Statement);
  }
  function statementWith(template: Template, action: string) {
    return statements(template).find((s) => ([] as string[]).concat(s.Action).includes(action));
  }
  /** The statement's actions, sorted (cdk.json's minimizePolicies may sort and merge them). */
  function actionsOf(statement: { Action: string | string[] }): string[] {
    return ([] as string[]).concat(statement.Action).sort();
  }

  test('reshards and describes only its stream', () => {
    const { template } = provisioned();

    const statement = statementWith(template, 'kinesis:UpdateShardCount')!;
    expect(actionsOf(statement)).toEqual(['kinesis:DescribeStreamSummary', 'kinesis:ListShards', 'kinesis:UpdateShardCount']);
    expect(statement.Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^Stream/), 'Arn'] });
  });

  test('changes only the consumer mapping', () => {
    const { template } = provisioned();

    const statement = statementWith(template, 'lambda:UpdateEventSourceMapping')!;
    expect(actionsOf(statement)).toEqual(['lambda:GetEventSourceMapping', 'lambda:UpdateEventSourceMapping']);
    expect(statement.Resource).toEqual(expect.objectContaining({ 'Fn::Join': expect.anything() }));
    expect(JSON.stringify(statementWith(template, 'lambda:UpdateEventSourceMapping')!.Resource)).toMatch(/event-source-mapping:.*Mapping/);
  });

  test('with adjustParallelization false, no permission on the mapping and no mapping id', () => {
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream', { shardCount: 2 });
    new ShardAutoscaler(stack, 'Autoscaler', { stream, consumer: stubConsumer(stack, stream), adjustParallelization: false });
    const template = Template.fromStack(stack);

    expect(statementWith(template, 'lambda:UpdateEventSourceMapping')).toBeUndefined();
    expect(statementWith(template, 'lambda:GetEventSourceMapping')).toBeUndefined();
    template.hasResourceProperties('AWS::Lambda::Function', {
      ReservedConcurrentExecutions: 1,
      Environment: { Variables: Match.objectLike({ ADJUST_PARALLELIZATION: 'false', EVENT_SOURCE_MAPPING_ID: Match.absent() }) },
    });
    const [consumer] = scalerConsumers(template);
    expect(consumer.functionName).toMatch(/^<Ref:Consumer/);
    expect(consumer.eventSourceMappingId).toBeUndefined();
  });

  test('changes only its own alarms, named by ARN; GetMetricData and DescribeLimits have no resource scoping', () => {
    const { template, autoscaler } = provisioned();

    const alarmStatement = statementWith(template, 'cloudwatch:PutMetricAlarm')!;
    expect(actionsOf(alarmStatement)).toEqual(['cloudwatch:DescribeAlarms', 'cloudwatch:PutMetricAlarm', 'cloudwatch:SetAlarmState']);
    const resources = JSON.stringify(alarmStatement.Resource);
    for (const name of autoscaler.alarmNames) {
      expect(resources).toContain(`:alarm:${name}`);
    }
    expect(resources).not.toContain('*');
    expect(statementWith(template, 'cloudwatch:GetMetricData')!.Resource).toBe('*');
    expect(statementWith(template, 'kinesis:DescribeLimits')!.Resource).toBe('*');
    const unscoped = statements(template)
      .filter((statement) => statement.Resource === '*')
      .flatMap((statement) => actionsOf(statement));
    expect(unscoped.sort()).toEqual(['cloudwatch:GetMetricData', 'kinesis:DescribeLimits']);
  });

  test('reads and writes its state table only', () => {
    const { template } = provisioned();

    const statement = statementWith(template, 'dynamodb:PutItem')!;
    expect(actionsOf(statement)).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem']);
    expect(statement.Resource).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^AutoscalerState/), 'Arn'] });
  });

  test('passes cdk-nag with its IAM5 acknowledgement', () => {
    const app = testApp();
    const stack = new Stack(app, 'Nag');
    const stream = new DataStream(stack, 'Stream', { shardCount: 2 });
    new ShardAutoscaler(stack, 'Autoscaler', { stream });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    expect(nagViolations(app)).toEqual([]);
  });
});

describe('ShardAutoscaler metrics', () => {
  test('ShardCount and ScalingDecision carry the service dimension (and Decision)', () => {
    const { autoscaler } = provisioned();

    expect(autoscaler.metricShardCount()).toEqual(
      expect.objectContaining({ namespace: 'KinesisPipeline', metricName: 'ShardCount', dimensions: { service: autoscaler.serviceName } }),
    );
    expect(autoscaler.metricDecisions({ decision: 'ScaleOut' })).toEqual(
      expect.objectContaining({ metricName: 'ScalingDecision', dimensions: { service: autoscaler.serviceName, Decision: 'ScaleOut' } }),
    );
    expect((autoscaler.metricDecisions() as cloudwatch.MathExpression).expression).toContain(`service="${autoscaler.serviceName}"`);
  });
});

describe('ShardAutoscaler validation', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['minShards below 1', { minShards: 0 }, /minShards must be a whole number of at least 1; received 0/],
    [
      'maxShards below minShards',
      { minShards: 4, maxShards: 2 },
      /maxShards must be a whole number from minShards \(4\) to 10000; received 2/,
    ],
    ['stream outside min..max', { minShards: 3 }, /shardCount must lie within minShards..maxShards \(3..64\); received shardCount 2/],
    ['targetUtilization out of range', { targetUtilization: 95 }, /targetUtilization must be a percentage from 10 to 90; received 95/],
    ['lagThreshold too short', { lagThreshold: Duration.millis(10) }, /lagThreshold must be at least 1 second; received 10 ms/],
    ['cooldown too short', { scaleOutCooldown: Duration.seconds(10) }, /scaleOutCooldown must be at least 1 minute; received 10 seconds/],
    [
      'quiet window not a multiple of 5 minutes',
      { quietWindow: Duration.minutes(17) },
      /quietWindow must be a whole multiple of 5 minutes from 15 minutes to 24 hours; received 17 minutes/,
    ],
  ];
  test.each(cases)('rejects %s', (_name, options, message) => {
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream', { shardCount: 2 });

    expect(() => new ShardAutoscaler(stack, 'Autoscaler', { stream, ...options })).toThrow(message);
  });
});
