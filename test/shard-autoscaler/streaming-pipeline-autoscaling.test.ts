import { Match, Template } from 'aws-cdk-lib/assertions';
import { DataStreamMode, StreamingPipeline } from '../../lib';
import { testStack } from '../helpers/app';
import { scalerConsumers } from './scaler-env';

describe('StreamingPipeline autoscaling', () => {
  test('a provisioned pipeline gets the autoscaler with all five alarms by default', () => {
    const stack = testStack();

    const pipeline = new StreamingPipeline(stack, 'Pipeline', { stream: { shardCount: 2 } });

    expect(pipeline.autoscaler).toBeDefined();
    expect(pipeline.autoscaler!.alarmNames.map((name) => name.split('-').pop())).toEqual(
      expect.arrayContaining(['WriteUtilization', 'WriteThrottles', 'StreamLag', 'ScaleIn']),
    );
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 1 });
    for (const alarmName of pipeline.autoscaler!.alarmNames) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: alarmName,
        AlarmActions: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^PipelineAutoscalerFunction'), 'Arn'] }],
      });
    }
  });

  test('the pipeline consumer is handed to the autoscaler: its lag alarm, and its mapping, whose factor it may raise while the consumer checkpoints', () => {
    const stack = testStack();

    const pipeline = new StreamingPipeline(stack, 'Pipeline', { stream: { shardCount: 2 } });

    const template = Template.fromStack(stack);
    expect(pipeline.consumer?.checkpointing).toBe(true);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('Autoscaler.*-ConsumerLag$'),
      Namespace: 'AWS/Lambda',
      MetricName: 'IteratorAge',
      Statistic: 'Maximum',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp('^PipelineConsumer') } }],
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      ReservedConcurrentExecutions: 1,
      Environment: { Variables: Match.objectLike({ ADJUST_PARALLELIZATION: 'true' }) },
    });
    expect(scalerConsumers(template)).toEqual([
      expect.objectContaining({
        functionName: expect.stringMatching(/^<Ref:PipelineConsumer/),
        eventSourceMappingId: expect.stringMatching(/^<Ref:PipelineConsumerKinesisEventSource/),
      }),
    ]);
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Action: ['lambda:GetEventSourceMapping', 'lambda:UpdateEventSourceMapping'] })]),
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          MAX_PARALLELIZATION_FACTOR: '10',
          LEASE_TABLE_NAME: { Ref: Match.stringLikeRegexp('^PipelineConsumerLeases') },
        }),
      },
    });
  });

  test("adjustParallelization: true with a checkpointing consumer is accepted; false leaves the mapping and the consumer's factor alone", () => {
    const on = testStack();
    const off = testStack();

    const allowed = new StreamingPipeline(on, 'Pipeline', {
      consumer: { parallelizationFactor: 2 },
      autoscaling: { adjustParallelization: true },
    });
    const kept = new StreamingPipeline(off, 'Pipeline', {
      consumer: { parallelizationFactor: 2 },
      autoscaling: { adjustParallelization: false },
    });

    expect([allowed.consumer?.maxParallelizationFactor, kept.consumer?.maxParallelizationFactor]).toEqual([10, 2]);
    Template.fromStack(on).hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ ADJUST_PARALLELIZATION: 'true' }) },
    });
    const template = Template.fromStack(off);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ ADJUST_PARALLELIZATION: 'false', EVENT_SOURCE_MAPPING_ID: Match.absent() }) },
    });
    expect(scalerConsumers(template)[0].eventSourceMappingId).toBeUndefined();
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ MAX_PARALLELIZATION_FACTOR: '2' }) },
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ParallelizationFactor: 2 });
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toContain('lambda:UpdateEventSourceMapping');
  });

  test('options reach the autoscaler', () => {
    const stack = testStack();

    new StreamingPipeline(stack, 'Pipeline', { stream: { shardCount: 2 }, autoscaling: { maxShards: 8, targetUtilization: 50 } });

    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ MAX_SHARDS: '8', TARGET_UTILIZATION: '0.5', SCALE_OUT_UTILIZATION: '0.75' }) },
    });
  });

  test("an on-demand pipeline: the scaler has a job (the consumer's factor and the stuck alarm), its consumer lag alarm only, and cannot reshard", () => {
    const stack = testStack();

    // Monitoring off: its own alarms would be counted too.
    const pipeline = new StreamingPipeline(stack, 'Pipeline', { stream: { mode: DataStreamMode.ON_DEMAND }, monitoring: false });

    const template = Template.fromStack(stack);
    const scalerAlarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((alarm) =>
      pipeline.autoscaler!.alarmNames.includes(alarm.Properties.AlarmName),
    );
    expect(scalerAlarms.map((alarm) => [alarm.Properties.Namespace, alarm.Properties.MetricName])).toEqual([['AWS/Lambda', 'IteratorAge']]);
    expect(pipeline.autoscaler!.alarmNames.map((name) => name.split('-').pop())).toEqual(['ConsumerLag']);
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toContain('kinesis:UpdateShardCount');
    template.hasResourceProperties('AWS::Lambda::Function', {
      ReservedConcurrentExecutions: 1,
      Environment: { Variables: Match.objectLike({ ADJUST_PARALLELIZATION: 'true' }) },
    });
    expect(scalerConsumers(template)).toEqual([
      expect.objectContaining({ eventSourceMappingId: expect.stringMatching(/^<Ref:PipelineConsumerKinesisEventSource/) }),
    ]);
  });

  test('an on-demand pipeline without a consumer has no scaler that could do nothing', () => {
    const stack = testStack();

    const pipeline = new StreamingPipeline(stack, 'Pipeline', {
      stream: { mode: DataStreamMode.ON_DEMAND },
      consumer: false,
      monitoring: false,
    });

    expect(pipeline.autoscaler).toBeUndefined();
    Template.fromStack(stack).resourcePropertiesCountIs(
      'AWS::Lambda::Permission',
      { Principal: 'lambda.alarms.cloudwatch.amazonaws.com' },
      0,
    );
  });

  test.each([
    [
      'maxShards',
      { maxShards: 8 },
      /maxShards applies to provisioned streams only: the stream is on-demand \(Kinesis manages its shards\); leave it out. Received 8/,
    ],
    ['minShards', { minShards: 2 }, /minShards applies to provisioned streams only.*Received 2/],
    [
      'adjustParallelization false',
      { adjustParallelization: false },
      /on an on-demand stream the scaler's only lever is the consumer's parallelization factor.*adjustParallelization false/,
    ],
  ])('an on-demand pipeline refuses %s instead of ignoring it', (_name, autoscaling, message) => {
    expect(() => new StreamingPipeline(testStack(), 'Pipeline', { stream: { mode: DataStreamMode.ON_DEMAND }, autoscaling })).toThrow(
      message,
    );
  });

  test('an on-demand pipeline asked for autoscaling without a consumer says why it cannot', () => {
    expect(
      () =>
        new StreamingPipeline(testStack(), 'Pipeline', { stream: { mode: DataStreamMode.ON_DEMAND }, consumer: false, autoscaling: {} }),
    ).toThrow(/needs a consumer and adjustParallelization true; received consumer none/);
  });

  test('autoscaling: false leaves it out', () => {
    const stack = testStack();

    const pipeline = new StreamingPipeline(stack, 'Pipeline', { autoscaling: false, monitoring: false });

    expect(pipeline.autoscaler).toBeUndefined();
    const template = Template.fromStack(stack);
    const alarmNames = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((alarm) => String(alarm.Properties.AlarmName));
    expect(alarmNames.filter((name) => /Autoscaler/.test(name))).toEqual([]);
    template.resourcePropertiesCountIs('AWS::Lambda::Permission', { Principal: 'lambda.alarms.cloudwatch.amazonaws.com' }, 0);
  });

  test('a stream larger than 64 shards raises the default maxShards instead of failing', () => {
    const stack = testStack();

    new StreamingPipeline(stack, 'Pipeline', { stream: { shardCount: 100 } });

    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ MAX_SHARDS: '100' }) },
    });
  });
});
