import type { Stack } from 'aws-cdk-lib';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import { DataStream, DataStreamEncryption, DataStreamMode } from '../../lib';
import { testStack } from '../helpers/app';

function streamTemplate(props: ConstructorParameters<typeof DataStream>[2] = {}): { stack: Stack; stream: DataStream; template: Template } {
  const stack = testStack();
  const stream = new DataStream(stack, 'Stream', props);
  return { stack, stream, template: Template.fromStack(stack) };
}

describe('DataStream', () => {
  describe('provisioned mode', () => {
    test('defaults to one shard, 24 h retention, the AWS-managed key and RETAIN', () => {
      const { template, stream } = streamTemplate();

      template.hasResource('AWS::Kinesis::Stream', {
        Properties: {
          StreamModeDetails: { StreamMode: 'PROVISIONED' },
          ShardCount: 1,
          RetentionPeriodHours: 24,
          StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
        },
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
      template.resourceCountIs('AWS::KMS::Key', 0);
      expect(stream.mode).toBe('provisioned');
      expect(stream.shardCount).toBe(1);
    });

    test('writes the shard count and derives capacity from it', () => {
      const { template, stream } = streamTemplate({ shardCount: 4 });

      template.hasResourceProperties('AWS::Kinesis::Stream', { ShardCount: 4, StreamModeDetails: { StreamMode: 'PROVISIONED' } });
      expect(stream.writeCapacity).toEqual({ bytesPerSecond: 4 * 1024 * 1024, recordsPerSecond: 4000 });
      expect(stream.readCapacity).toEqual({ bytesPerSecond: 8 * 1024 * 1024, recordsPerSecond: 40000 });
    });
  });

  describe('on-demand mode', () => {
    test('has StreamModeDetails ON_DEMAND and no ShardCount', () => {
      const { template, stream } = streamTemplate({ mode: DataStreamMode.ON_DEMAND });

      template.hasResourceProperties('AWS::Kinesis::Stream', {
        StreamModeDetails: { StreamMode: 'ON_DEMAND' },
        ShardCount: Match.absent(),
        StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
        RetentionPeriodHours: 24,
      });
      expect(stream.shardCount).toBeUndefined();
    });

    test('reports the documented starting capacity of an on-demand stream', () => {
      const { stream } = streamTemplate({ mode: DataStreamMode.ON_DEMAND });

      expect(stream.writeCapacity).toEqual({ bytesPerSecond: 4 * 1024 * 1024, recordsPerSecond: 4000 });
      expect(stream.readCapacity.bytesPerSecond).toBe(8 * 1024 * 1024);
    });
  });

  describe('encryption', () => {
    test('creates a customer-managed key with rotation when asked', () => {
      const { template } = streamTemplate({ encryption: DataStreamEncryption.CUSTOMER_MANAGED });

      template.hasResource('AWS::KMS::Key', { Properties: { EnableKeyRotation: true }, DeletionPolicy: 'Retain' });
      const keys = template.findResources('AWS::KMS::Key');
      template.hasResourceProperties('AWS::Kinesis::Stream', {
        StreamEncryption: { EncryptionType: 'KMS', KeyId: { 'Fn::GetAtt': [Object.keys(keys)[0], 'Arn'] } },
      });
    });

    test('uses a given key', () => {
      const stack = testStack();
      const key = new kms.Key(stack, 'MyKey', { enableKeyRotation: true });
      const stream = new DataStream(stack, 'Stream', { encryptionKey: key });
      const template = Template.fromStack(stack);

      expect(stream.encryptionKey).toBe(key);
      template.resourceCountIs('AWS::KMS::Key', 1);
      template.hasResourceProperties('AWS::Kinesis::Stream', {
        StreamEncryption: {
          EncryptionType: 'KMS',
          KeyId: { 'Fn::GetAtt': [stack.getLogicalId(key.node.defaultChild as kms.CfnKey), 'Arn'] },
        },
      });
    });
  });

  test('writes retention in hours', () => {
    const { template } = streamTemplate({ retention: Duration.days(7) });

    template.hasResourceProperties('AWS::Kinesis::Stream', { RetentionPeriodHours: 168 });
  });

  test('honours an explicit removal policy', () => {
    const { template } = streamTemplate({ removalPolicy: RemovalPolicy.DESTROY });

    template.hasResource('AWS::Kinesis::Stream', { DeletionPolicy: 'Delete' });
  });

  test('enables shard-level metrics when asked', () => {
    const { template } = streamTemplate({
      shardLevelMetrics: [kinesis.ShardLevelMetrics.INCOMING_BYTES, kinesis.ShardLevelMetrics.ITERATOR_AGE_MILLISECONDS],
    });

    template.hasResourceProperties('AWS::Kinesis::Stream', { DesiredShardLevelMetrics: ['IncomingBytes', 'IteratorAgeMilliseconds'] });
  });

  describe('validation', () => {
    test.each([
      [
        { mode: DataStreamMode.ON_DEMAND, shardCount: 2 },
        /shardCount applies to provisioned streams only.*received shardCount 2 with mode 'on-demand'/,
      ],
      [{ shardCount: 0 }, /shardCount must be a whole number of at least 1; received 0/],
      [{ shardCount: 1.5 }, /shardCount must be a whole number of at least 1; received 1.5/],
      [{ retention: Duration.hours(23) }, /retention must be whole hours from 24 to 8760; received 23 hours/],
      [{ retention: Duration.hours(8761) }, /retention must be whole hours from 24 to 8760; received 8761 hours/],
      [{ retention: Duration.minutes(24 * 60 + 30) }, /retention must be whole hours from 24 to 8760; received 24.5 hours/],
      [
        { mode: 'serverless' as DataStreamMode },
        /mode must be one of 'provisioned', 'on-demand' \(DataStreamMode\); received 'serverless'/,
      ],
      [
        { encryption: 'none' as DataStreamEncryption },
        /encryption must be one of 'aws-managed', 'customer-managed' \(DataStreamEncryption\); received 'none'/,
      ],
    ])('rejects %p', (props, message) => {
      expect(() => new DataStream(testStack(), 'Stream', props)).toThrow(message);
    });

    test('rejects a key with AWS-managed encryption', () => {
      const stack = testStack();
      const key = new kms.Key(stack, 'Key');

      expect(() => new DataStream(stack, 'Stream', { encryption: DataStreamEncryption.AWS_MANAGED, encryptionKey: key })).toThrow(
        /encryptionKey needs encryption 'customer-managed'/,
      );
    });

    test('accepts the retention bounds', () => {
      expect(() => new DataStream(testStack(), 'A', { retention: Duration.hours(24) })).not.toThrow();
      expect(() => new DataStream(testStack(), 'B', { retention: Duration.hours(8760) })).not.toThrow();
    });
  });

  describe('grants', () => {
    test('grantWrite covers PutRecords on this stream and encrypt on its key', () => {
      const stack = testStack();
      const stream = new DataStream(stack, 'Stream', { encryption: DataStreamEncryption.CUSTOMER_MANAGED });
      const role = new iam.Role(stack, 'Writer', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
      stream.grantWrite(role);
      const template = Template.fromStack(stack);
      const streamId = stack.getLogicalId(stream.stream.node.defaultChild as kinesis.CfnStream);
      const keyId = stack.getLogicalId(stream.encryptionKey!.node.defaultChild as kms.CfnKey);

      template.hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Action: Match.arrayWith(['kinesis:PutRecord', 'kinesis:PutRecords']),
              Resource: { 'Fn::GetAtt': [streamId, 'Arn'] },
            }),
            Match.objectLike({
              Action: Match.arrayWith(['kms:Encrypt', 'kms:GenerateDataKey*']),
              Resource: { 'Fn::GetAtt': [keyId, 'Arn'] },
            }),
          ]),
        },
      });
    });

    test('grant() scopes arbitrary actions to the stream', () => {
      const stack = testStack();
      const stream = new DataStream(stack, 'Stream');
      const role = new iam.Role(stack, 'Scaler', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
      stream.grant(role, 'kinesis:UpdateShardCount');
      const streamId = stack.getLogicalId(stream.stream.node.defaultChild as kinesis.CfnStream);

      Template.fromStack(stack).hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: {
          Statement: [Match.objectLike({ Action: 'kinesis:UpdateShardCount', Resource: { 'Fn::GetAtt': [streamId, 'Arn'] } })],
        },
      });
    });
  });

  describe('metrics', () => {
    test('carry the StreamName dimension and a sensible statistic', () => {
      const { stack, stream } = streamTemplate();
      const streamRef = stack.resolve(stream.streamName);

      const cases: Array<[ReturnType<DataStream['metric']>, string, string]> = [
        [stream.metricIncomingBytes(), 'IncomingBytes', 'Sum'],
        [stream.metricIncomingRecords(), 'IncomingRecords', 'Sum'],
        [stream.metricIteratorAgeMilliseconds(), 'GetRecords.IteratorAgeMilliseconds', 'Maximum'],
        [stream.metricWriteThrottles(), 'WriteProvisionedThroughputExceeded', 'Sum'],
        [stream.metricReadThrottles(), 'ReadProvisionedThroughputExceeded', 'Sum'],
      ];
      for (const [metric, name, statistic] of cases) {
        expect(metric.namespace).toBe('AWS/Kinesis');
        expect(metric.metricName).toBe(name);
        expect(metric.statistic).toBe(statistic);
        expect(stack.resolve(metric.dimensions)).toEqual({ StreamName: streamRef });
      }
    });

    test('caller options win over defaults', () => {
      const { stream } = streamTemplate();

      expect(stream.metricIncomingBytes({ statistic: 'Average', period: Duration.minutes(5) }).statistic).toBe('Average');
    });

    test('write utilisation divides by the capacity of the period', () => {
      const { stream } = streamTemplate({ shardCount: 2 });
      const utilisation = stream.metricWriteUtilization({ period: Duration.minutes(1) });

      expect(utilisation.expression).toBe(`100 * MAX([bytes / ${2 * 1024 * 1024 * 60}, records / ${2000 * 60}])`);
      expect(Object.keys(utilisation.usingMetrics)).toEqual(['bytes', 'records']);
    });
  });
});
