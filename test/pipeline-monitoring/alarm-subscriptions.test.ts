import type { Stack } from 'aws-cdk-lib';
import { Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { buildApp } from '../../bin/build-app';
import { ALARMS_REACH_NOBODY, DataStream, PipelineMonitoring, type PipelineMonitoringProps } from '../../lib';
import { testApp, testStack } from '../helpers/app';

const topicRef = { Ref: Match.stringLikeRegexp('^MonitoringAlarmTopic') };
const nobody = Match.stringLikeRegexp('has no subscription: they reach nobody');

function monitoring(props: Partial<PipelineMonitoringProps> = {}, stack: Stack = testStack()) {
  const stream = new DataStream(stack, 'Stream');
  return { stack, monitoring: new PipelineMonitoring(stack, 'Monitoring', { stream, ...props }) };
}

describe('PipelineMonitoring alarm subscriptions', () => {
  test('alarmEmails subscribes each address once (alarmEmail too)', () => {
    const { stack } = monitoring({ alarmEmail: 'a@example.com', alarmEmails: ['a@example.com', 'b@example.com'] });
    const template = Template.fromStack(stack);

    template.resourceCountIs('AWS::SNS::Subscription', 2);
    for (const endpoint of ['a@example.com', 'b@example.com']) {
      template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: endpoint, TopicArn: topicRef });
    }
    expect(Annotations.fromStack(stack).findWarning('*', nobody)).toEqual([]);
  });

  test('alarmSubscriptions adds any subscription (an SQS queue here)', () => {
    const stack = testStack();
    const queue = new sqs.Queue(stack, 'Pager', { enforceSSL: true });
    monitoring({ alarmSubscriptions: [new subscriptions.SqsSubscription(queue)] }, stack);

    Template.fromStack(stack).hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'sqs',
      Endpoint: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Pager'), 'Arn'] },
      TopicArn: topicRef,
    });
    expect(Annotations.fromStack(stack).findWarning('*', nobody)).toEqual([]);
  });

  test('warns at synth when the alarms reach nobody, and not after a later addSubscription', () => {
    const { stack } = monitoring();
    Annotations.fromStack(stack).hasWarning(
      '/TestStack/Monitoring',
      Match.stringLikeRegexp(
        `alarms of TestStack/Monitoring notify the topic .*has no subscription: they reach nobody. Give alarmEmails or alarmSubscriptions.*\\[ack: ${ALARMS_REACH_NOBODY}\\]`,
      ),
    );

    const later = monitoring();
    later.monitoring.alarmTopic.addSubscription(new subscriptions.UrlSubscription('https://example.com/page'));
    expect(Annotations.fromStack(later.stack).findWarning('*', nobody)).toEqual([]);
  });

  test('the warning can be acknowledged (a topic read outside the app)', () => {
    const { stack, monitoring: m } = monitoring();
    Validations.of(m).acknowledge({ id: `annotation::${ALARMS_REACH_NOBODY}`, reason: 'subscribed by the paging stack' });

    expect(Annotations.fromStack(stack).findWarning('*', nobody)).toEqual([]);
  });

  test('refuses an address in alarmEmails that is not one, naming its index', () => {
    expect(() => monitoring({ alarmEmails: ['ok@example.com', 'oncall'] })).toThrow(
      /PipelineMonitoring: alarmEmails\[1\] must be an email address \(name@domain\); received 'oncall'/,
    );
  });

  test("another topic's subscription does not count", () => {
    const stack = testStack();
    new sns.Topic(stack, 'Other').addSubscription(new subscriptions.EmailSubscription('x@example.com'));
    monitoring({}, stack);

    Annotations.fromStack(stack).hasWarning('/TestStack/Monitoring', nobody);
  });
});

describe("the app's alarmEmail context", () => {
  test('subscribes the addresses of -c alarmEmail=... in both stacks, and warns without it', () => {
    for (const stack of buildApp(testApp({ context: { alarmEmail: 'oncall@example.com, lead@example.com' } }))) {
      const template = Template.fromStack(stack);
      template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
      template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'lead@example.com' });
      expect(Annotations.fromStack(stack).findWarning('*', nobody)).toEqual([]);
    }
    for (const stack of buildApp(testApp())) {
      Annotations.fromStack(stack).hasWarning(`/${stack.stackName}/Pipeline/Monitoring`, nobody);
    }
  });

  test('refuses a context value that is not an address', () => {
    expect(() => buildApp(testApp({ context: { alarmEmail: 'oncall' } }))).toThrow(
      /alarmEmails\[0\] must be an email address \(name@domain\); received 'oncall'/,
    );
  });
});
