import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as kms from 'aws-cdk-lib/aws-kms';
import { AwsSolutionsChecks } from 'cdk-nag';
import {
  ConsumerFunction,
  DataStream,
  DataStreamMode,
  EXAMPLE_PROCESSOR_ENTRY,
  FirehoseArchive,
  LeaseTable,
  PipelineMonitoring,
  ProducerFunction,
  ShardAutoscaler,
  StreamingPipeline,
} from '../../lib';
import { testApp, testStack } from '../helpers/app';
import { nagViolations } from '../helpers/nag';

const STREAM_ARN = 'arn:aws:kinesis:eu-west-1:111122223333:stream/orders';
const KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const TABLE_ARN = 'arn:aws:dynamodb:eu-west-1:111122223333:table/orders-app';

function role(stack: Stack): iam.Role {
  return new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
}

describe('DataStream imports', () => {
  test('fromStreamArn: name from the ARN, nothing of the capacity known, utilisation refused', () => {
    const stack = testStack();
    const stream = DataStream.fromStreamArn(stack, 'Orders', STREAM_ARN);

    expect(stack.resolve(stream.streamName)).toBe('orders');
    expect(stream.streamArn).toBe(STREAM_ARN);
    expect([stream.mode, stream.shardCount, stream.retention, stream.writeCapacity, stream.encryptionKey]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(stream.env).toEqual(expect.objectContaining({ account: '111122223333', region: 'eu-west-1' }));
    expect(() => stream.metricWriteUtilization()).toThrow(
      /metricWriteUtilization needs the stream's write capacity, unknown for this import; import it with DataStream.fromStreamAttributes and give mode/,
    );
  });

  test('fromStreamAttributes: grants name the stream ARN and cover the key', () => {
    const stack = testStack();
    const stream = DataStream.fromStreamAttributes(stack, 'Orders', {
      streamArn: STREAM_ARN,
      encryptionKey: kms.Key.fromKeyArn(stack, 'Key', KEY_ARN),
      mode: DataStreamMode.PROVISIONED,
      shardCount: 4,
      retention: Duration.hours(48),
    });
    stream.grantRead(role(stack));

    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: Match.arrayWith(['kinesis:GetRecords', 'kinesis:GetShardIterator']), Resource: STREAM_ARN }),
          Match.objectLike({ Action: 'kms:Decrypt', Resource: KEY_ARN }),
        ]),
      },
    });
    expect(stream.writeCapacity).toEqual({ bytesPerSecond: 4 * 1024 * 1024, recordsPerSecond: 4000 });
    expect(stream.metricWriteUtilization().expression).toContain(`bytes / ${4 * 1024 * 1024 * 60}`);
    expect(stack.resolve(stream.metricIteratorAgeMilliseconds().dimensions)).toEqual({ StreamName: 'orders' });
  });

  test('fromStreamAttributes: an on-demand import has the on-demand starting capacity', () => {
    const stream = DataStream.fromStreamAttributes(testStack(), 'Orders', { streamArn: STREAM_ARN, mode: DataStreamMode.ON_DEMAND });

    expect(stream.writeCapacity).toEqual({ bytesPerSecond: 4 * 1024 * 1024, recordsPerSecond: 4000 });
  });

  test.each([
    [
      { mode: DataStreamMode.ON_DEMAND, shardCount: 2 },
      /fromStreamAttributes: shardCount applies to provisioned streams only; .*received shardCount 2 with mode 'on-demand'/,
    ],
    [{ shardCount: 0 }, /fromStreamAttributes: shardCount must be a whole number of at least 1; received 0/],
    [{ retention: Duration.hours(12) }, /fromStreamAttributes: retention must be whole hours from 24 to 8760; received 12 hours/],
    [
      { mode: 'fast' as DataStreamMode },
      /fromStreamAttributes: mode must be one of 'provisioned', 'on-demand' \(DataStreamMode\); received 'fast'/,
    ],
  ])('fromStreamAttributes refuses %p', (attrs, message) => {
    expect(() => DataStream.fromStreamAttributes(testStack(), 'Orders', { streamArn: STREAM_ARN, ...attrs })).toThrow(message);
  });

  test('fromStream: returns a DataStream as it is, wraps an L2 stream with its key and the attributes given', () => {
    const stack = testStack();
    const own = new DataStream(stack, 'Own');
    expect(DataStream.fromStream(stack, 'Same', own)).toBe(own);

    const key = new kms.Key(stack, 'Key');
    const l2 = new kinesis.Stream(stack, 'L2', { encryption: kinesis.StreamEncryption.KMS, encryptionKey: key, shardCount: 3 });
    const wrapped = DataStream.fromStream(stack, 'Wrapped', l2, { mode: DataStreamMode.PROVISIONED, shardCount: 3 });
    wrapped.grantWrite(role(stack));

    expect(wrapped.encryptionKey).toBe(key);
    expect(wrapped.shardCount).toBe(3);
    Template.fromStack(stack).hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith(['kinesis:PutRecord', 'kinesis:PutRecords']),
            Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^L2'), 'Arn'] },
          }),
          Match.objectLike({
            Action: Match.arrayWith(['kms:Encrypt', 'kms:GenerateDataKey*']),
            Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Key'), 'Arn'] },
          }),
        ]),
      },
    });
  });
});

describe('ShardAutoscaler on an import', () => {
  test('refuses a stream whose mode is unknown', () => {
    const stack = testStack();
    const stream = DataStream.fromStreamArn(stack, 'Orders', STREAM_ARN);

    expect(() => new ShardAutoscaler(stack, 'Autoscaler', { stream })).toThrow(
      /ShardAutoscaler: stream .*Orders has no known mode \(an import\).*giving mode, and shardCount for a provisioned stream; received mode undefined/,
    );
  });

  test('refuses a provisioned import without its shard count', () => {
    const stack = testStack();
    const stream = DataStream.fromStreamAttributes(stack, 'Orders', { streamArn: STREAM_ARN, mode: DataStreamMode.PROVISIONED });

    expect(() => new ShardAutoscaler(stack, 'Autoscaler', { stream })).toThrow(
      /ShardAutoscaler: stream .*Orders is provisioned with no known shardCount \(an import\).*received shardCount undefined/,
    );
  });
});

describe('LeaseTable imports', () => {
  test("fromTableName: lease-holder grants name the table in this stack's account and region", () => {
    const stack = new Stack(testApp(), 'Env', { env: { account: '111122223333', region: 'eu-west-1' } });
    const table = LeaseTable.fromTableName(stack, 'Leases', 'orders-app');
    table.grantLeaseHolder(role(stack));

    Template.fromStack(stack).hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
            Resource: 'arn:aws:dynamodb:eu-west-1:111122223333:table/orders-app',
          }),
        ]),
      },
    });
  });

  test('fromTableArn: grants name the ARN and cover the key', () => {
    const stack = testStack();
    const table = LeaseTable.fromTableArn(stack, 'Leases', TABLE_ARN, { encryptionKey: kms.Key.fromKeyArn(stack, 'Key', KEY_ARN) });
    table.grantLeaseHolder(role(stack));

    expect(stack.resolve(table.tableName)).toBe('orders-app');
    Template.fromStack(stack).hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: Match.arrayWith(['kms:Decrypt']), Resource: KEY_ARN }),
          Match.objectLike({ Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], Resource: TABLE_ARN }),
        ]),
      },
    });
  });

  test('fromTableArn refuses an ARN that names no table', () => {
    expect(() => LeaseTable.fromTableArn(testStack(), 'Leases', 'arn:aws:dynamodb:eu-west-1:111122223333:orders')).toThrow(
      /LeaseTable.fromTableArn: tableArn must be a DynamoDB table ARN .*received 'arn:aws:dynamodb:eu-west-1:111122223333:orders'/,
    );
  });

  test('one consumer per table holds across two imports of the same table in one app', () => {
    const stack = testStack();
    const stream = DataStream.fromStreamArn(stack, 'Orders', STREAM_ARN);
    new ConsumerFunction(stack, 'First', {
      stream,
      processorEntry: EXAMPLE_PROCESSOR_ENTRY,
      leaseTable: LeaseTable.fromTableName(stack, 'LeasesA', 'orders-app'),
    });

    expect(
      () =>
        new ConsumerFunction(stack, 'Second', {
          stream,
          processorEntry: EXAMPLE_PROCESSOR_ENTRY,
          leaseTable: LeaseTable.fromTableArn(stack, 'LeasesB', TABLE_ARN),
        }),
    ).toThrow(
      /one lease table per consumer application.*it is the lease table of TestStack\/First and cannot also be given to TestStack\/Second/,
    );
  });
});

describe('a pipeline around an existing stream', () => {
  test('StreamingPipeline refuses both stream and existingStream', () => {
    const stack = testStack();
    const existingStream = DataStream.fromStreamArn(stack, 'Orders', STREAM_ARN);

    expect(() => new StreamingPipeline(stack, 'Pipeline', { existingStream, stream: { shardCount: 2 } })).toThrow(
      /StreamingPipeline: give either stream .* or existingStream .*not both; received both/,
    );
  });

  test('StreamingPipeline on an import without mode: autoscaling says what it needs; off, the pipeline builds', () => {
    const stack = testStack();
    const existingStream = DataStream.fromStreamArn(stack, 'Orders', STREAM_ARN);

    expect(() => new StreamingPipeline(stack, 'Pipeline', { existingStream })).toThrow(
      /ShardAutoscaler: stream TestStack\/Orders has no known mode \(an import\)/,
    );
    const other = testStack();
    new StreamingPipeline(other, 'Pipeline', { existingStream: DataStream.fromStreamArn(other, 'Orders', STREAM_ARN), autoscaling: false });
    Template.fromStack(other).hasResourceProperties('AWS::Lambda::EventSourceMapping', { EventSourceArn: STREAM_ARN });
  });

  test('StreamingPipeline builds on existingStream and creates no stream', () => {
    const stack = testStack();
    const existingStream = DataStream.fromStreamAttributes(stack, 'Orders', {
      streamArn: STREAM_ARN,
      mode: DataStreamMode.PROVISIONED,
      shardCount: 2,
    });
    const pipeline = new StreamingPipeline(stack, 'Pipeline', { existingStream });

    expect(pipeline.stream).toBe(existingStream);
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Kinesis::Stream', 0);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { EventSourceArn: STREAM_ARN });
  });

  test('a producer, two consumers (one enhanced fan-out), an archive, an autoscaler and monitoring on a stream imported by ARN synthesize cdk-nag clean, scoped to its ARN and key', () => {
    const app = testApp();
    const stack = new Stack(app, 'Imported');
    const stream = DataStream.fromStreamAttributes(stack, 'Orders', {
      streamArn: STREAM_ARN,
      encryptionKey: kms.Key.fromKeyArn(stack, 'StreamKey', KEY_ARN),
      mode: DataStreamMode.PROVISIONED,
      shardCount: 2,
      retention: Duration.hours(48),
    });
    const consumer = new ConsumerFunction(stack, 'Consumer', { stream, processorEntry: EXAMPLE_PROCESSOR_ENTRY });
    const fanOut = new ConsumerFunction(stack, 'FanOut', { stream, processorEntry: EXAMPLE_PROCESSOR_ENTRY, enhancedFanOut: true });
    const producer = new ProducerFunction(stack, 'Producer', { stream });
    // ProducerFunction acknowledges the L2 grantWrite's kms:GenerateDataKey* / kms:ReEncrypt* on the key itself.
    const archive = new FirehoseArchive(stack, 'Archive', { stream });
    const autoscaler = new ShardAutoscaler(stack, 'Autoscaler', { stream, consumer });
    const monitoring = new PipelineMonitoring(stack, 'Monitoring', {
      stream,
      producer,
      consumer,
      consumers: [fanOut],
      archive,
      autoscaler,
      alarmEmails: ['oncall@example.com'],
    });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Kinesis::Stream', 0);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { EventSourceArn: STREAM_ARN });
    template.hasResourceProperties('AWS::Kinesis::StreamConsumer', { StreamARN: STREAM_ARN });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Action: Match.arrayWith(['kinesis:PutRecords']), Resource: STREAM_ARN })]),
      },
    });
    template.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
      KinesisStreamSourceConfiguration: Match.objectLike({ KinesisStreamARN: STREAM_ARN }),
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: 'kms:Decrypt', Resource: KEY_ARN })]) },
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'GetRecords.IteratorAgeMilliseconds',
      Dimensions: [{ Name: 'StreamName', Value: 'orders' }],
      // 48 h retention × the default fraction.
      Threshold: monitoring.iteratorAgeThreshold.toMilliseconds(),
    });
    expect(monitoring.iteratorAgeThreshold.toHours()).toBe(12); // 48 h × the default 0.25, not the 24 h assumed when unknown
    expect(nagViolations(app)).toEqual([]);
  });
});

describe('cross-account grants', () => {
  test("DataStream.grantRead to another account writes the stream's resource policy", () => {
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream');
    stream.grantRead(new iam.AccountPrincipal('999988887777'));

    Template.fromStack(stack).hasResourceProperties('AWS::Kinesis::ResourcePolicy', {
      ResourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Stream'), 'Arn'] },
      ResourcePolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: Match.arrayWith(['kinesis:GetRecords']), Principal: { AWS: Match.anyValue() } }),
        ]),
      },
    });
  });
});
