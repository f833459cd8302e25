import { Match, Template } from 'aws-cdk-lib/assertions';
import { ConsumerFunction, DataStream, DataStreamMode, EXAMPLE_PROCESSOR_ENTRY, ShardAutoscaler } from '../../lib';
import { testStack } from '../helpers/app';
import { scalerConsumers, scalerVariables } from './scaler-env';

/** A stream with a standard consumer (Billing) and an enhanced fan-out one (Analytics). */
function twoConsumers(
  mode: DataStreamMode = DataStreamMode.PROVISIONED,
  options: { adjustParallelization?: boolean; beforeSynth?: (autoscaler: ShardAutoscaler) => void } = {},
) {
  const stack = testStack();
  const stream = new DataStream(stack, 'Stream', mode === DataStreamMode.PROVISIONED ? { shardCount: 2 } : { mode });
  const billing = new ConsumerFunction(stack, 'Billing', { stream, processorEntry: EXAMPLE_PROCESSOR_ENTRY });
  const analytics = new ConsumerFunction(stack, 'Analytics', { stream, processorEntry: EXAMPLE_PROCESSOR_ENTRY, enhancedFanOut: true });
  const autoscaler = new ShardAutoscaler(stack, 'Autoscaler', {
    stream,
    consumers: [billing, analytics],
    adjustParallelization: options.adjustParallelization,
  });
  options.beforeSynth?.(autoscaler);
  return { stack, stream, billing, analytics, autoscaler, template: Template.fromStack(stack) };
}

const scalerAction = [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^AutoscalerFunction'), 'Arn'] }];

describe('ShardAutoscaler with several consumers', () => {
  test("each consumer (standard and enhanced fan-out) has its own lag alarm on its own function's IteratorAge, invoking the scaler", () => {
    // Prepare, Act
    const { template, autoscaler } = twoConsumers();
    // Assess
    for (const [suffix, id] of [
      ['ConsumerLag', 'Billing'],
      ['Consumer2Lag', 'Analytics'],
    ]) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: Match.stringLikeRegexp(`-${suffix}$`),
        Namespace: 'AWS/Lambda',
        MetricName: 'IteratorAge',
        Statistic: 'Maximum',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp(`^${id}[0-9A-F]{8}$`) } }],
        Threshold: 60_000,
        AlarmActions: scalerAction,
      });
    }
    expect(autoscaler.alarmNames.map((name) => name.split('-').pop())).toEqual([
      'WriteUtilization',
      'WriteThrottles',
      'StreamLag',
      'ConsumerLag',
      'Consumer2Lag',
      'ScaleIn',
    ]);
    // The quiet window reads every consumer's lag: no scale-in while either lags.
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('-ScaleIn$'),
      Metrics: Match.arrayWith([
        Match.objectLike({
          Expression: Match.stringLikeRegexp(
            '^IF\\(MAX\\(\\[FILL\\(streamAge, 0\\), FILL\\(consumerAge, 0\\), FILL\\(consumerAge2, 0\\)\\]\\) >= 60000, 100, ',
          ),
        }),
        Match.objectLike({
          Id: 'consumerAge',
          MetricStat: Match.objectLike({
            Metric: {
              Namespace: 'AWS/Lambda',
              MetricName: 'IteratorAge',
              Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp('^Billing[0-9A-F]{8}$') } }],
            },
          }),
        }),
        Match.objectLike({
          Id: 'consumerAge2',
          MetricStat: Match.objectLike({
            Metric: {
              Namespace: 'AWS/Lambda',
              MetricName: 'IteratorAge',
              Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp('^Analytics[0-9A-F]{8}$') } }],
            },
          }),
        }),
      ]),
    });
  });

  test("IAM: reads and changes exactly the two consumers' mappings", () => {
    const { template } = twoConsumers();

    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (policy) => policy.Properties.PolicyDocument.Statement as Array<{ Action: string | string[]; Resource: unknown }>,
    );
    const mapping = statements.filter((s) => ([] as string[]).concat(s.Action).includes('lambda:UpdateEventSourceMapping'));
    expect(mapping).toHaveLength(1);
    expect(([] as string[]).concat(mapping[0].Action).sort()).toEqual(['lambda:GetEventSourceMapping', 'lambda:UpdateEventSourceMapping']);
    const resources = mapping[0].Resource as unknown[];
    expect(resources).toHaveLength(2);
    // (cdk.json's minimizePolicies may order them.)
    const mappingRefs = resources
      .map((resource) => JSON.stringify(resource).match(/:event-source-mapping:","?\{"Ref":"([A-Za-z0-9]+)"/)?.[1])
      .sort();
    expect(mappingRefs).toEqual([
      expect.stringMatching(/^AnalyticsKinesisConsumerEventSource/),
      expect.stringMatching(/^BillingKinesisEventSource/),
    ]);
  });

  test("the environment carries both consumers, which the handler's parser accepts; both are told their factor may reach 10", () => {
    const { template, billing, analytics } = twoConsumers();

    expect(scalerVariables(template)).toEqual(expect.objectContaining({ ADJUST_PARALLELIZATION: 'true' }));
    expect(scalerVariables(template).EVENT_SOURCE_MAPPING_ID).toBeUndefined();
    expect(scalerConsumers(template)).toEqual([
      {
        id: 'consumer',
        functionName: expect.stringMatching(/^<Ref:Billing[0-9A-F]{8}>$/),
        serviceName: billing.serviceName,
        timeoutMs: 30_000,
        eventSourceMappingId: expect.stringMatching(/^<Ref:BillingKinesisEventSource/),
      },
      {
        id: 'consumer2',
        functionName: expect.stringMatching(/^<Ref:Analytics[0-9A-F]{8}>$/),
        serviceName: analytics.serviceName,
        timeoutMs: 30_000,
        eventSourceMappingId: expect.stringMatching(/^<Ref:AnalyticsKinesisConsumerEventSource/),
      },
    ]);
    expect([billing.maxParallelizationFactor, analytics.maxParallelizationFactor]).toEqual([10, 10]);
  });

  test('with adjustParallelization false: both consumers watched, no mapping ids and no mapping permission', () => {
    const { template, billing, analytics } = twoConsumers(DataStreamMode.PROVISIONED, { adjustParallelization: false });

    expect(scalerConsumers(template).map((c) => [c.id, c.eventSourceMappingId])).toEqual([
      ['consumer', undefined],
      ['consumer2', undefined],
    ]);
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toContain('lambda:UpdateEventSourceMapping');
    expect([billing.maxParallelizationFactor, analytics.maxParallelizationFactor]).toEqual([1, 1]);
  });

  test('on an on-demand stream: one lag alarm per consumer and nothing else', () => {
    const { autoscaler } = twoConsumers(DataStreamMode.ON_DEMAND);

    expect(autoscaler.alarmNames.map((name) => name.split('-').pop())).toEqual(['ConsumerLag', 'Consumer2Lag']);
  });

  test('the stuck-consumer alarm serves every consumer (the scaler names the stuck one in its reason)', () => {
    const { template, autoscaler } = twoConsumers(DataStreamMode.PROVISIONED, { beforeSynth: (scaler) => scaler.notifyOperators() });

    expect(autoscaler.operatorAlarms).toHaveLength(2);
    expect(scalerVariables(template).STUCK_ALARM_NAME).toMatch(/-ConsumerStuck$/);
  });

  test('consumer and consumers together are refused; so is a consumer listed twice', () => {
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream', { shardCount: 2 });
    const billing = new ConsumerFunction(stack, 'Billing', { stream, processorEntry: EXAMPLE_PROCESSOR_ENTRY });

    expect(() => new ShardAutoscaler(stack, 'Both', { stream, consumer: billing, consumers: [billing] })).toThrow(
      /ShardAutoscaler: give either consumers \(every consumer\) or consumer \(deprecated: one consumer\), not both; received consumer .* and 1 consumers/,
    );
    expect(() => new ShardAutoscaler(stack, 'Twice', { stream, consumers: [billing, billing] })).toThrow(
      /ShardAutoscaler: consumers must list each consumer once; received consumers\[1\]/,
    );
  });

  test('an empty consumers list is no consumer: refused on an on-demand stream', () => {
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream', { mode: DataStreamMode.ON_DEMAND });

    expect(() => new ShardAutoscaler(stack, 'Autoscaler', { stream, consumers: [] })).toThrow(/received consumer none/);
  });
});
