import { Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DataStreamMode, EXAMPLE_PROCESSOR_ENTRY, LeaseTable, StreamingPipeline, type StreamingPipelineProps } from '../../lib';
import { testApp, testStack } from '../helpers/app';
import { nagViolations } from '../helpers/nag';
import { scalerConsumers } from '../shard-autoscaler/scaler-env';

/** A pipeline with the default consumer, one on enhanced fan-out (Analytics) and one without checkpoints (Audit). */
function threeConsumers(props: StreamingPipelineProps = {}, stack: Stack = testStack()) {
  const pipeline = new StreamingPipeline(stack, 'Pipeline', {
    stream: { shardCount: 2 },
    monitoring: { alarmEmails: ['oncall@example.com'], alarmNamePrefix: 'orders' },
    consumers: [
      { id: 'Analytics', processorEntry: EXAMPLE_PROCESSOR_ENTRY, enhancedFanOut: true },
      { id: 'Audit', processorEntry: EXAMPLE_PROCESSOR_ENTRY, checkpointing: false },
    ],
    ...props,
  });
  return { stack, pipeline };
}

const functionRef = (id: string) => ({ Ref: Match.stringLikeRegexp(`^Pipeline${id}[0-9A-F]{8}$`) });

describe('StreamingPipeline with several consumers', () => {
  test('each consumer has its own function and mapping; the enhanced fan-out one reads through its own stream consumer', () => {
    const { stack, pipeline } = threeConsumers();
    const template = Template.fromStack(stack);

    expect(pipeline.consumers.map((consumer) => consumer.node.id)).toEqual(['Consumer', 'Analytics', 'Audit']);
    expect(pipeline.consumers[0]).toBe(pipeline.consumer);
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 3);
    for (const id of ['Consumer', 'Audit']) {
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: functionRef(id),
        EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^PipelineStream'), 'Arn'] },
      });
    }
    template.hasResourceProperties('AWS::Kinesis::StreamConsumer', {
      StreamARN: { 'Fn::GetAtt': [Match.stringLikeRegexp('^PipelineStream'), 'Arn'] },
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: functionRef('Analytics'),
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^PipelineAnalyticsFanOut'), 'ConsumerARN'] },
    });
  });

  test('one lease table per checkpointing consumer application, each function writing its own', () => {
    const { stack, pipeline } = threeConsumers();
    const template = Template.fromStack(stack);

    const [main, analytics, audit] = pipeline.consumers;
    expect(main.leaseTable).toBeDefined();
    expect(analytics.leaseTable).toBeDefined();
    expect(analytics.leaseTable).not.toBe(main.leaseTable);
    expect(audit.leaseTable).toBeUndefined();
    expect(main.applicationName).not.toEqual(analytics.applicationName);
    for (const id of ['Consumer', 'Analytics']) {
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ LEASE_TABLE_NAME: { Ref: Match.stringLikeRegexp(`^Pipeline${id}Leases`) } }) },
      });
    }
  });

  test('the autoscaler gets every consumer: a lag alarm each, and all three in its environment', () => {
    const { stack, pipeline } = threeConsumers();
    const template = Template.fromStack(stack);

    for (const [suffix, id] of [
      ['ConsumerLag', 'Consumer'],
      ['Consumer2Lag', 'Analytics'],
      ['Consumer3Lag', 'Audit'],
    ]) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: Match.stringLikeRegexp(`Autoscaler.*-${suffix}$`),
        Namespace: 'AWS/Lambda',
        MetricName: 'IteratorAge',
        Dimensions: [{ Name: 'FunctionName', Value: functionRef(id) }],
        AlarmActions: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^PipelineAutoscalerFunction'), 'Arn'] }],
      });
    }
    expect(scalerConsumers(template).map((c) => [c.id, c.functionName.replace(/[0-9A-F]{8}>$/, '>')])).toEqual([
      ['consumer', '<Ref:PipelineConsumer>'],
      ['consumer2', '<Ref:PipelineAnalytics>'],
      ['consumer3', '<Ref:PipelineAudit>'],
    ]);
    expect(pipeline.consumers.map((consumer) => consumer.maxParallelizationFactor)).toEqual([10, 10, 10]);
  });

  test('monitoring gets every consumer: its alarms (on its own function) notify the alarm topic', () => {
    const { stack } = threeConsumers();
    const template = Template.fromStack(stack);

    for (const [tag, id] of [
      ['', 'Consumer'],
      ['2', 'Analytics'],
      ['3', 'Audit'],
    ]) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `orders-Consumer${tag}IteratorAge`,
        Namespace: 'AWS/Lambda',
        MetricName: 'IteratorAge',
        Dimensions: [{ Name: 'FunctionName', Value: functionRef(id) }],
        AlarmActions: [{ Ref: Match.stringLikeRegexp('^PipelineMonitoringAlarmTopic') }],
      });
    }
  });

  test("consumer: false with one consumer in consumers: it is the pipeline's consumer for the autoscaler and monitoring", () => {
    const stack = testStack();
    const pipeline = new StreamingPipeline(stack, 'Pipeline', {
      stream: { mode: DataStreamMode.ON_DEMAND },
      consumer: false,
      consumers: [{ id: 'Billing', processorEntry: EXAMPLE_PROCESSOR_ENTRY }],
      monitoring: { alarmEmails: ['oncall@example.com'], alarmNamePrefix: 'orders' },
    });
    const template = Template.fromStack(stack);

    expect(pipeline.consumer).toBeUndefined();
    expect(pipeline.autoscaler).toBeDefined();
    expect(pipeline.autoscaler!.alarmNames.map((name) => name.split('-').pop())).toEqual(['ConsumerLag']);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'orders-ConsumerIteratorAge',
      Dimensions: [{ Name: 'FunctionName', Value: functionRef('Billing') }],
    });
  });

  test('is cdk-nag clean', () => {
    const app = testApp();
    threeConsumers({}, new Stack(app, 'Several'));
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    expect(nagViolations(app)).toEqual([]);
  });
});

describe('StreamingPipeline consumers validation', () => {
  const entry = EXAMPLE_PROCESSOR_ENTRY;

  test.each([
    [
      'a repeated id',
      [
        { id: 'Analytics', processorEntry: entry },
        { id: 'Analytics', processorEntry: entry },
      ],
      /consumers\[1\]\.id must be unique among the consumers; received 'Analytics', already the id of consumers\[0\]/,
    ],
    [
      'the id of a part of the pipeline',
      [{ id: 'Consumer', processorEntry: entry }],
      /consumers\[0\]\.id must not be one of the pipeline's own parts \(Stream, Producer, Consumer, Archive, Autoscaler, Monitoring\); received 'Consumer'/,
    ],
    ['an empty id', [{ id: '', processorEntry: entry }], /consumers\[0\]\.id must be a non-empty construct id without '\/'; received ''/],
    [
      'an id with a slash',
      [{ id: 'a/b', processorEntry: entry }],
      /consumers\[0\]\.id must be a non-empty construct id without '\/'; received 'a\/b'/,
    ],
    [
      'an applicationName of another consumer',
      [{ id: 'Analytics', processorEntry: entry, applicationName: 'orders' }],
      /consumers\[0\] \(Analytics\) has applicationName 'orders', already the applicationName of consumer/,
    ],
  ])('refuses %s', (_name, consumers, message) => {
    expect(() => new StreamingPipeline(testStack(), 'Pipeline', { consumer: { applicationName: 'orders' }, consumers })).toThrow(message);
  });

  test('refuses one lease table for two consumer applications', () => {
    const stack = testStack();
    const table = new LeaseTable(stack, 'Leases');

    expect(
      () =>
        new StreamingPipeline(stack, 'Pipeline', {
          consumer: { leaseTable: table },
          consumers: [{ id: 'Analytics', processorEntry: EXAMPLE_PROCESSOR_ENTRY, leaseTable: table }],
        }),
    ).toThrow(
      /StreamingPipeline: one lease table per consumer application: consumers\[0\] \(Analytics\) is given the lease table TestStack\/Leases, which is already the lease table of consumer/,
    );
  });

  test("each consumer's own options are validated by ConsumerFunction, naming the prop", () => {
    expect(
      () =>
        new StreamingPipeline(testStack(), 'Pipeline', {
          consumers: [{ id: 'Analytics', processorEntry: EXAMPLE_PROCESSOR_ENTRY, batchSize: 0 }],
        }),
    ).toThrow(/ConsumerFunction: batchSize must be a whole number from 1 to 10000; received 0/);
  });
});
