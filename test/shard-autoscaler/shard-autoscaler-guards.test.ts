import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConsumerFunction, DataStream, DataStreamMode, EXAMPLE_PROCESSOR_ENTRY, ShardAutoscaler } from '../../lib';
import { testApp, testStack } from '../helpers/app';
import { nagViolations } from '../helpers/nag';
import { scalerConsumers, scalerVariables } from './scaler-env';

function withConsumer(mode: DataStreamMode = DataStreamMode.PROVISIONED) {
  const stack = testStack();
  const stream = new DataStream(stack, 'Stream', mode === DataStreamMode.PROVISIONED ? { shardCount: 2 } : { mode });
  const consumer = new ConsumerFunction(stack, 'Consumer', {
    stream,
    processorEntry: EXAMPLE_PROCESSOR_ENTRY,
    timeout: Duration.seconds(45),
  });
  const autoscaler = new ShardAutoscaler(stack, 'Autoscaler', { stream, consumer });
  return { stack, stream, consumer, autoscaler };
}

describe('ShardAutoscaler: its own alarms only', () => {
  test('the scaler knows the ARN of each of its alarms (ALARM_ARNS), in this account and region', () => {
    const { stack, autoscaler } = withConsumer();

    const arns = JSON.stringify(scalerVariables(Template.fromStack(stack)).ALARM_ARNS);

    for (const name of autoscaler.alarmNames) {
      expect(arns).toContain(`:alarm:${name}`);
    }
    expect(arns).toContain('AWS::AccountId');
    expect(arns).toContain('AWS::Region');
  });

  test("it reads the consumer's progress metrics (service dimension) and knows its timeout", () => {
    const { stack, consumer } = withConsumer();

    expect(scalerConsumers(Template.fromStack(stack))).toEqual([
      expect.objectContaining({ serviceName: consumer.serviceName, timeoutMs: 45000 }),
    ]);
  });
});

describe('ShardAutoscaler: failed invocations and people', () => {
  test('failed alarm events go to an encrypted on-failure queue after 2 retries', () => {
    const { stack } = withConsumer();
    const template = Template.fromStack(stack);

    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: Match.stringLikeRegexp('^AutoscalerFunction') },
      MaximumRetryAttempts: 2,
      MaximumEventAgeInSeconds: 3600,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AutoscalerFailedEvents'), 'Arn'] } } },
    });
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 1209600 });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith(['sqs:SendMessage']),
            Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AutoscalerFailedEvents'), 'Arn'] },
          }),
        ]),
      },
    });
  });

  test("notifyOperators: an alarm on the scaler's errors and throttles, and one for a stuck consumer, both with the action", () => {
    const { stack, autoscaler } = withConsumer();
    const topic = new sns.Topic(stack, 'Topic', { enforceSSL: true });

    const alarms = autoscaler.notifyOperators(new actions.SnsAction(topic));

    const template = Template.fromStack(stack);
    expect(alarms).toHaveLength(2);
    expect(autoscaler.operatorAlarms).toHaveLength(2);
    const topicRef = { Ref: Match.stringLikeRegexp('^Topic') };
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('-ScalerErrors$'),
      Threshold: 1,
      AlarmActions: [topicRef],
      OKActions: [topicRef],
      Metrics: Match.arrayWith([
        Match.objectLike({ Expression: 'FILL(errors, 0) + FILL(throttles, 0)' }),
        Match.objectLike({
          Id: 'errors',
          MetricStat: Match.objectLike({
            Stat: 'Sum',
            Period: 300,
            Metric: {
              Namespace: 'AWS/Lambda',
              MetricName: 'Errors',
              Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp('^AutoscalerFunction') } }],
            },
          }),
        }),
        Match.objectLike({
          Id: 'throttles',
          MetricStat: Match.objectLike({
            Stat: 'Sum',
            Metric: {
              Namespace: 'AWS/Lambda',
              MetricName: 'Throttles',
              Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp('^AutoscalerFunction') } }],
            },
          }),
        }),
      ]),
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('-ConsumerStuck$'),
      Namespace: 'KinesisPipeline',
      MetricName: 'ScalingDecision',
      Dimensions: Match.arrayWith([
        { Name: 'Decision', Value: 'ConsumerStuck' },
        { Name: 'service', Value: autoscaler.serviceName },
      ]),
      Statistic: 'Sum',
      Threshold: 1,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 1,
      AlarmActions: [topicRef],
    });
  });

  test('the scaler may set the stuck alarm (with its reason), and that alarm only', () => {
    const { stack, autoscaler } = withConsumer();
    autoscaler.notifyOperators(new actions.SnsAction(new sns.Topic(stack, 'Topic', { enforceSSL: true })));
    const template = Template.fromStack(stack);

    const variables = scalerVariables(template);
    expect(variables.STUCK_ALARM_NAME).toMatch(/-ConsumerStuck$/);
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (policy) => policy.Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>,
    );
    const stuckStatement = statements.find((statement) =>
      JSON.stringify(statement.Resource).includes(`:alarm:${String(variables.STUCK_ALARM_NAME)}`),
    );
    expect(stuckStatement?.Action).toBe('cloudwatch:SetAlarmState');
  });

  test('without notifyOperators there is no alarm without an action, and no stuck alarm for the scaler to set', () => {
    const { stack, autoscaler } = withConsumer();
    const template = Template.fromStack(stack);

    expect(autoscaler.operatorAlarms).toEqual([]);
    expect(scalerVariables(template).STUCK_ALARM_NAME).toBeUndefined();
    for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) {
      expect(alarm.Properties.AlarmActions?.length).toBeGreaterThan(0);
    }
  });

  test('with its operator alarms it still passes cdk-nag', () => {
    const app = testApp();
    const stack = new Stack(app, 'Nag');
    const stream = new DataStream(stack, 'Stream', { shardCount: 2 });
    const autoscaler = new ShardAutoscaler(stack, 'Autoscaler', { stream });
    autoscaler.notifyOperators(new actions.SnsAction(new sns.Topic(stack, 'Topic', { enforceSSL: true })));
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    // The stub topic is not ours to judge (PipelineMonitoring's is encrypted with its own key).
    expect(nagViolations(app).filter((violation) => !violation.paths.every((p) => p.includes('/Topic')))).toEqual([]);
  });
});

describe('ShardAutoscaler on an on-demand stream', () => {
  test.each([
    [
      'minShards',
      { minShards: 2 },
      /minShards applies to provisioned streams only: the stream is on-demand \(Kinesis manages its shards\); leave it out. Received 2/,
    ],
    ['maxShards', { maxShards: 16 }, /maxShards applies to provisioned streams only.*Received 16/],
    ['targetUtilization', { targetUtilization: 50 }, /targetUtilization applies to provisioned streams only.*Received 50/],
    ['quietWindow', { quietWindow: Duration.hours(2) }, /quietWindow applies to provisioned streams only.*Received 2 hours/],
    ['scaleInCooldown', { scaleInCooldown: Duration.hours(2) }, /scaleInCooldown applies to provisioned streams only/],
    [
      'adjustParallelization false',
      { adjustParallelization: false },
      /only lever is the consumer's parallelization factor: it needs a consumer and adjustParallelization true; received consumer given, adjustParallelization false/,
    ],
  ])('refuses %s instead of ignoring it', (_name, options, message) => {
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream', { mode: DataStreamMode.ON_DEMAND });
    const consumer = new ConsumerFunction(stack, 'Consumer', { stream, processorEntry: EXAMPLE_PROCESSOR_ENTRY });

    expect(() => new ShardAutoscaler(stack, 'Autoscaler', { stream, consumer, ...options })).toThrow(message);
  });

  test('refuses to exist without a consumer: it could do nothing', () => {
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream', { mode: DataStreamMode.ON_DEMAND });

    expect(() => new ShardAutoscaler(stack, 'Autoscaler', { stream })).toThrow(/received consumer none, adjustParallelization true/);
  });

  test('with a consumer: the consumer lag alarm, the mapping, no shard permission', () => {
    const { stack, autoscaler } = withConsumer(DataStreamMode.ON_DEMAND);
    const template = Template.fromStack(stack);

    expect(autoscaler.alarmNames.map((name) => name.split('-').pop())).toEqual(['ConsumerLag']);
    expect(scalerVariables(template)).toEqual(expect.objectContaining({ ADJUST_PARALLELIZATION: 'true' }));
    expect(scalerConsumers(template)).toEqual([
      expect.objectContaining({ eventSourceMappingId: expect.stringMatching(/^<Ref:ConsumerKinesisEventSource/) }),
    ]);
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toMatch(/UpdateShardCount|DescribeLimits/);
  });
});

describe('ShardAutoscaler adjustParallelization', () => {
  test('true without a consumer is refused (nothing to adjust)', () => {
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream', { shardCount: 2 });

    expect(() => new ShardAutoscaler(stack, 'Autoscaler', { stream, adjustParallelization: true })).toThrow(
      /ShardAutoscaler: adjustParallelization true needs a consumer .*received adjustParallelization true with no consumer/,
    );
  });

  test('unset without a consumer is fine on a provisioned stream', () => {
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream', { shardCount: 2 });

    expect(() => new ShardAutoscaler(stack, 'Autoscaler', { stream })).not.toThrow();
  });
});
