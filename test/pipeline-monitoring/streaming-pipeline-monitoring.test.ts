import { Match, Template } from 'aws-cdk-lib/assertions';
import { DashboardWidgets, StreamingPipeline } from '../../lib';
import { testStack } from '../helpers/app';
import { dashboardBody, widget } from './fixtures';

describe('StreamingPipeline monitoring', () => {
  test('is on by default: a dashboard, the stream alarms and an encrypted topic', () => {
    const stack = testStack();

    const pipeline = new StreamingPipeline(stack, 'Pipeline');
    const template = Template.fromStack(stack);

    expect(pipeline.monitoring).toBeDefined();
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('^TestStack-Pipeline-Monitoring-[0-9A-F]{8}-StreamIteratorAge$'),
      Dimensions: [{ Name: 'StreamName', Value: { Ref: Match.stringLikeRegexp('^PipelineStream') } }],
    });
  });

  test('passes its options through', () => {
    const stack = testStack();

    new StreamingPipeline(stack, 'Pipeline', { monitoring: { alarmNamePrefix: 'clicks', alarmEmail: 'oncall@example.com' } });
    const template = Template.fromStack(stack);

    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'clicks-WriteThrottles' });
    template.hasResourceProperties('AWS::SNS::Subscription', { Endpoint: 'oncall@example.com' });
  });

  test('shows the autoscaler when it is on', () => {
    const stack = testStack();

    const pipeline = new StreamingPipeline(stack, 'Pipeline');
    const body = JSON.stringify(Template.fromStack(stack).findResources('AWS::CloudWatch::Dashboard'));

    expect(pipeline.autoscaler).toBeDefined();
    expect(body).toContain('Autoscaler: shard count');
  });

  test('with every part: a row per part and alarms with dimensions that notify the topic', () => {
    const stack = testStack();

    const pipeline = new StreamingPipeline(stack, 'Pipeline', { stream: { shardCount: 2 } });
    const template = Template.fromStack(stack);

    const body = dashboardBody(template);
    // The enhanced fan-out graph belongs to enhanced fan-out consumers only (several-consumers.test.ts).
    for (const title of Object.values(DashboardWidgets).filter((name) => name !== DashboardWidgets.CONSUMER_FAN_OUT)) {
      expect(widget(body, title)).toBeDefined();
    }
    const prefix = pipeline.monitoring!.alarmNamePrefix;
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'))
      .map((resource) => resource.Properties)
      .filter((alarm) => String(alarm.AlarmName).startsWith(`${prefix}-`));
    expect(alarms.map((alarm) => alarm.AlarmName.slice(prefix.length + 1)).sort()).toEqual([
      'ConsumerCorruptRecords',
      'ConsumerDestinationDeliveryFailures',
      'ConsumerEmptyAggregates',
      'ConsumerErrors',
      'ConsumerIteratorAge',
      'OnFailureQueueNotEmpty',
      'ProducerFailedRecords',
      'ProducerOnFailureQueueNotEmpty',
      'ReadThrottles',
      'StreamIteratorAge',
      'WriteThrottles',
    ]);
    for (const alarm of alarms) {
      expect(alarm.Dimensions.length).toBeGreaterThan(0);
      expect(alarm.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^PipelineMonitoringAlarmTopic/) }]);
      expect(alarm.OKActions).toEqual(alarm.AlarmActions);
    }
    // The archive's own alarms are reused, not duplicated.
    template.hasResourceProperties('AWS::CloudWatch::CompositeAlarm', {
      AlarmName: `${prefix}-Archive`,
      AlarmActions: [{ Ref: Match.stringLikeRegexp('^PipelineMonitoringAlarmTopic') }],
    });
  });

  test('monitoring: false leaves it out', () => {
    const stack = testStack();

    const pipeline = new StreamingPipeline(stack, 'Pipeline', { monitoring: false });
    const template = Template.fromStack(stack);

    expect(pipeline.monitoring).toBeUndefined();
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
    template.resourceCountIs('AWS::SNS::Topic', 0);
  });
});
