import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { ConsumerFailureDestination, ConsumerFunction, DataStream, EXAMPLE_PROCESSOR_ENTRY, PipelineMonitoring } from '../../lib';
import { testStack } from '../helpers/app';

/** Three consumers: failures to an SNS topic (Orders), to an S3 bucket (Archive), and an enhanced fan-out one with the default queue (Analytics). */
function monitoredConsumers() {
  const stack = testStack();
  const stream = new DataStream(stack, 'Stream', { shardCount: 2 });
  const topic = new sns.Topic(stack, 'FailedTopic', { enforceSSL: true });
  const bucket = new s3.Bucket(stack, 'FailedBucket', { enforceSSL: true });
  const orders = new ConsumerFunction(stack, 'Orders', {
    stream,
    processorEntry: EXAMPLE_PROCESSOR_ENTRY,
    onFailure: ConsumerFailureDestination.topic(topic),
  });
  const archive = new ConsumerFunction(stack, 'Archive', {
    stream,
    processorEntry: EXAMPLE_PROCESSOR_ENTRY,
    onFailure: ConsumerFailureDestination.bucket(bucket),
  });
  const analytics = new ConsumerFunction(stack, 'Analytics', { stream, processorEntry: EXAMPLE_PROCESSOR_ENTRY, enhancedFanOut: true });
  const monitoring = new PipelineMonitoring(stack, 'Monitoring', {
    stream,
    consumers: [orders, archive, analytics],
    alarmEmails: ['oncall@example.com'],
    alarmNamePrefix: 'orders',
  });
  return { stack, orders, archive, analytics, monitoring, template: Template.fromStack(stack) };
}

const topicAction = [{ Ref: Match.stringLikeRegexp('^MonitoringAlarmTopic') }];
const functionRef = (id: string) => ({ Ref: Match.stringLikeRegexp(`^${id}[0-9A-F]{8}$`) });

describe('PipelineMonitoring: on-failure destinations beyond SQS, and enhanced fan-out', () => {
  test('an SNS failure destination: any message published to the topic alarms, on its TopicName, notifying people', () => {
    const { template } = monitoredConsumers();

    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'orders-ConsumerOnFailureTopicPublished',
      Namespace: 'AWS/SNS',
      MetricName: 'NumberOfMessagesPublished',
      Statistic: 'Sum',
      Period: 300,
      Dimensions: [{ Name: 'TopicName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^FailedTopic'), 'TopicName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: topicAction,
      OKActions: topicAction,
    });
  });

  test('an S3 failure destination: the mapping publishes its EventCount group, and what it sends to the bucket alarms, by mapping UUID', () => {
    const { template, archive, orders } = monitoredConsumers();

    expect([archive.eventCountMetrics, orders.eventCountMetrics]).toEqual([true, false]);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: functionRef('Archive'),
      MetricsConfig: { Metrics: ['EventCount'] },
    });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: functionRef('Orders'),
      MetricsConfig: Match.absent(),
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'orders-Consumer2OnFailureBucketDelivered',
      Namespace: 'AWS/Lambda',
      MetricName: 'OnFailureDestinationDeliveredEventCount',
      Statistic: 'Sum',
      Dimensions: [{ Name: 'EventSourceMappingUUID', Value: { Ref: Match.stringLikeRegexp('^ArchiveKinesisEventSource') } }],
      Threshold: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: topicAction,
      OKActions: topicAction,
    });
  });

  test("every consumer: Lambda's DestinationDeliveryFailures on its own function", () => {
    const { template } = monitoredConsumers();

    for (const [tag, id] of [
      ['', 'Orders'],
      ['2', 'Archive'],
      ['3', 'Analytics'],
    ]) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `orders-Consumer${tag}DestinationDeliveryFailures`,
        Namespace: 'AWS/Lambda',
        MetricName: 'DestinationDeliveryFailures',
        Statistic: 'Sum',
        Dimensions: [{ Name: 'FunctionName', Value: functionRef(id) }],
        Threshold: 1,
        AlarmActions: topicAction,
        OKActions: topicAction,
      });
    }
  });

  test('an enhanced fan-out consumer: SubscribeToShardEvent.MillisBehindLatest on its StreamName and ConsumerName, at its iterator-age threshold', () => {
    const { template, monitoring } = monitoredConsumers();

    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'orders-Consumer3FanOutBehindLatest',
      Namespace: 'AWS/Kinesis',
      MetricName: 'SubscribeToShardEvent.MillisBehindLatest',
      Statistic: 'Maximum',
      // Both dimensions, and no other (CloudWatch matches dimensions exactly).
      Dimensions: [
        { Name: 'ConsumerName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AnalyticsFanOut'), 'ConsumerName'] } },
        { Name: 'StreamName', Value: { Ref: Match.stringLikeRegexp('^Stream') } },
      ],
      Threshold: monitoring.iteratorAgeThreshold.toMilliseconds(),
      EvaluationPeriods: 3,
      AlarmActions: topicAction,
      OKActions: topicAction,
    });
  });

  test('each alarm only where it applies: no topic or bucket alarm for a queue, no fan-out alarm for a standard consumer', () => {
    const { template } = monitoredConsumers();
    const names = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((alarm) => String(alarm.Properties.AlarmName));

    expect(names.filter((name) => /OnFailureTopic|OnFailureBucket|FanOutBehind/.test(name)).sort()).toEqual([
      'orders-Consumer2OnFailureBucketDelivered',
      'orders-Consumer3FanOutBehindLatest',
      'orders-ConsumerOnFailureTopicPublished',
    ]);
    // The queue consumer keeps its queue-depth alarm.
    expect(names).toContain('orders-Consumer3OnFailureQueueNotEmpty');
  });
});
