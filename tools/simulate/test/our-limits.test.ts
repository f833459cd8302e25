import { Template, Match } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { configFromEnv } from '../../../lambda/scaler/index';
import { DataStream, ShardAutoscaler } from '../../../lib';
import { testStack } from '../../../test/helpers/app';
import { OUR_LIMITS } from '../policies';

/** A CloudFormation value as text: `Fn::Join` joined (a JSON variable stays JSON), any other reference `<token>`. */
function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as Record<string, unknown> | null)?.['Fn::Join'];
  if (Array.isArray(join)) {
    const [separator, parts] = join as [string, unknown[]];
    return parts.map(asText).join(separator);
  }
  return '<token>';
}

describe('npm run simulate replays ShardAutoscaler as deployed', () => {
  test('OUR_LIMITS are the limits the scaler reads from the environment ShardAutoscaler sets by default', () => {
    // Prepare: a default autoscaler with a plain consumer on the stream
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream', { shardCount: 2 });
    const fn = new lambda.Function(stack, 'Consumer', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => ({});'),
    });
    const mapping = new lambda.EventSourceMapping(stack, 'Mapping', {
      target: fn,
      eventSourceArn: stream.streamArn,
      startingPosition: lambda.StartingPosition.TRIM_HORIZON,
    });
    const autoscaler = new ShardAutoscaler(stack, 'Autoscaler', {
      stream,
      consumer: {
        eventSourceMappingId: mapping.eventSourceMappingId,
        eventSourceMappingArn: mapping.eventSourceMappingArn,
        functionName: fn.functionName,
        metricIteratorAge: (props) => fn.metric('IteratorAge', { statistic: cloudwatch.Stats.MAXIMUM, ...props }),
      },
    });

    // Act: the scaler's environment as synthesized, read by the handler's own parser
    const functions = Template.fromStack(stack).findResources('AWS::Lambda::Function', {
      Properties: { Environment: { Variables: { MIN_SHARDS: Match.anyValue() } } },
    });
    const variables = (Object.values(functions)[0] as { Properties: { Environment: { Variables: Record<string, unknown> } } }).Properties
      .Environment.Variables;
    const env = Object.fromEntries(Object.entries(variables).map(([name, value]) => [name, asText(value)]));
    env.ALARM_ARNS = autoscaler.alarmNames.map((name) => `arn:aws:cloudwatch:us-east-1:111122223333:alarm:${name}`).join(',');

    // Assess
    expect(configFromEnv(env).limits).toEqual(OUR_LIMITS);
  });
});
