import { Match, Template } from 'aws-cdk-lib/assertions';
import { DataStreamMode, StreamingPipeline } from '../../lib';
import { testStack } from '../helpers/app';

describe('StreamingPipeline autoscaling', () => {
  test('a provisioned pipeline gets the autoscaler with all five alarms by default', () => {
    const stack = testStack();

    const pipeline = new StreamingPipeline(stack, 'Pipeline', { stream: { shardCount: 2 } });

    expect(pipeline.autoscaler).toBeDefined();
    expect(pipeline.autoscaler!.alarmNames.map((name) => name.split('-').pop())).toEqual(['WriteUtilization', 'WriteThrottles', 'StreamLag', 'ScaleIn']);
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 1 });
  });

  test('options reach the autoscaler', () => {
    const stack = testStack();

    new StreamingPipeline(stack, 'Pipeline', { stream: { shardCount: 2 }, autoscaling: { maxShards: 8, targetUtilization: 50 } });

    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ MAX_SHARDS: '8', TARGET_UTILIZATION: '0.5', SCALE_OUT_UTILIZATION: '0.75' }) },
    });
  });

  test('an on-demand pipeline keeps the lag alarm only and cannot reshard', () => {
    const stack = testStack();

    // Monitoring off: its own alarms would be counted too.
    const pipeline = new StreamingPipeline(stack, 'Pipeline', { stream: { mode: DataStreamMode.ON_DEMAND }, monitoring: false });

    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 1);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'GetRecords.IteratorAgeMilliseconds', Namespace: 'AWS/Kinesis' });
    expect(pipeline.autoscaler!.alarmNames.map((name) => name.split('-').pop())).toEqual(['StreamLag']);
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toContain('kinesis:UpdateShardCount');
  });

  test('autoscaling: false leaves it out', () => {
    const stack = testStack();

    const pipeline = new StreamingPipeline(stack, 'Pipeline', { autoscaling: false, monitoring: false });

    expect(pipeline.autoscaler).toBeUndefined();
    Template.fromStack(stack).resourceCountIs('AWS::CloudWatch::Alarm', 0);
  });

  test('a stream larger than 64 shards raises the default maxShards instead of failing', () => {
    const stack = testStack();

    new StreamingPipeline(stack, 'Pipeline', { stream: { shardCount: 100 } });

    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ MAX_SHARDS: '100' }) } });
  });
});
