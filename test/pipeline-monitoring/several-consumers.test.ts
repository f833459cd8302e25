import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ConsumerFunction, DashboardWidgets, DataStream, EXAMPLE_PROCESSOR_ENTRY, PipelineMonitoring } from '../../lib';
import { testStack } from '../helpers/app';

describe('PipelineMonitoring with several consumers', () => {
  test('each consumer (standard and enhanced fan-out) gets its own alarms, on its own function, and its own dashboard row', () => {
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream', { shardCount: 2 });
    const billing = new ConsumerFunction(stack, 'Billing', { stream, processorEntry: EXAMPLE_PROCESSOR_ENTRY });
    const analytics = new ConsumerFunction(stack, 'Analytics', {
      stream,
      processorEntry: EXAMPLE_PROCESSOR_ENTRY,
      enhancedFanOut: true,
      maxBatchingWindow: Duration.seconds(10),
    });
    const audit = new ConsumerFunction(stack, 'Audit', { stream, processorEntry: EXAMPLE_PROCESSOR_ENTRY, checkpointing: false });
    const monitoring = new PipelineMonitoring(stack, 'Monitoring', {
      stream,
      consumer: billing,
      consumers: [analytics, audit],
      alarmEmails: ['oncall@example.com'],
      alarmNamePrefix: 'orders',
    });

    const template = Template.fromStack(stack);
    for (const [tag, id] of [
      ['', 'Billing'],
      ['2', 'Analytics'],
      ['3', 'Audit'],
    ]) {
      for (const [suffix, metricName] of [
        ['IteratorAge', 'IteratorAge'],
        ['Errors', 'Errors'],
      ]) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          AlarmName: `orders-Consumer${tag}${suffix}`,
          Namespace: 'AWS/Lambda',
          MetricName: metricName,
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp(`^${id}`) } }],
          AlarmActions: [{ Ref: Match.stringLikeRegexp('^MonitoringAlarmTopic') }],
        });
      }
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: tag ? `orders-Consumer${tag}OnFailureQueueNotEmpty` : 'orders-OnFailureQueueNotEmpty',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp(`^${id}OnFailure`), 'QueueName'] } }],
      });
    }
    // The batching window of the second consumer moves its threshold only.
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'orders-Consumer2IteratorAge',
      Threshold: monitoring.iteratorAgeThreshold.plus(Duration.seconds(10)).toMilliseconds(),
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'orders-ConsumerIteratorAge',
      Threshold: monitoring.iteratorAgeThreshold.toMilliseconds(),
    });

    const body = JSON.stringify(template.findResources('AWS::CloudWatch::Dashboard'));
    for (const title of [
      DashboardWidgets.CONSUMER_ITERATOR_AGE,
      `${DashboardWidgets.CONSUMER_ITERATOR_AGE} (2)`,
      `${DashboardWidgets.CONSUMER_ITERATOR_AGE} (3)`,
      '### Consumer 3',
    ]) {
      expect(body).toContain(title);
    }
    // Only the enhanced fan-out consumer (the second) has a SubscribeToShard graph, with both dimensions.
    expect(body).toContain(`${DashboardWidgets.CONSUMER_FAN_OUT} (2)`);
    expect(body).not.toContain(`${DashboardWidgets.CONSUMER_FAN_OUT}"`);
    expect(body).not.toContain(`${DashboardWidgets.CONSUMER_FAN_OUT} (3)`);
    expect(body).toMatch(
      /SubscribeToShardEvent\.MillisBehindLatest\\+",\\+"ConsumerName\\+",\\+"",\{"Fn::GetAtt":\["AnalyticsFanOut[0-9A-F]+","ConsumerName"\]\},"\\+",\\+"StreamName\\+",\\+"",\{"Ref":"Stream[0-9A-F]+"\}/,
    );
  });
});
