import { Match, Template } from 'aws-cdk-lib/assertions';
import { ConsumerFunction, DataStream, EXAMPLE_PROCESSOR_ENTRY, PipelineMonitoring } from '../../lib';
import { testStack } from '../helpers/app';

describe('PipelineMonitoring consumer input alarms', () => {
  test.each([
    ['ConsumerCorruptRecords', 'CorruptRecords', /MD5 or body does not check out/],
    ['ConsumerEmptyAggregates', 'EmptyAggregates', /holding no user record/],
  ])(
    "%s alarms on the consumer's %s (its service dimension, Sum over 5 minutes, at 1 or more) and notifies the topic",
    (suffix, metricName, description) => {
      // Prepare
      const stack = testStack();
      const stream = new DataStream(stack, 'Stream');
      const consumer = new ConsumerFunction(stack, 'Consumer', { stream, processorEntry: EXAMPLE_PROCESSOR_ENTRY });
      // Act
      const monitoring = new PipelineMonitoring(stack, 'Monitoring', { stream, consumer, alarmNamePrefix: 'p' });
      // Assess
      const template = Template.fromStack(stack);
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `p-${suffix}`,
        Namespace: 'KinesisPipeline',
        MetricName: metricName,
        Dimensions: [{ Name: 'service', Value: consumer.serviceName }],
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [{ Ref: Match.stringLikeRegexp('^MonitoringAlarmTopic') }],
        OKActions: [{ Ref: Match.stringLikeRegexp('^MonitoringAlarmTopic') }],
      });
      const [alarm] = Object.values(template.findResources('AWS::CloudWatch::Alarm', { Properties: { AlarmName: `p-${suffix}` } }));
      expect(JSON.stringify(alarm.Properties.AlarmDescription)).toMatch(description);
      expect(monitoring.alarms.map((a) => a.node.id)).toContain(`${suffix}Alarm`);
    },
  );
});
