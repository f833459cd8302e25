import { CfnParameter, Size, Token } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import { DataStream, DataStreamMode } from '../../lib';
import { testStack } from '../helpers/app';

const STREAM_ARN = 'arn:aws:kinesis:eu-west-1:111122223333:stream/orders';

describe('DataStream maxRecordSize', () => {
  test('writes MaxRecordSizeInKiB and exposes the size', () => {
    // Prepare
    const stack = testStack();

    // Act
    const stream = new DataStream(stack, 'Stream', { maxRecordSize: Size.mebibytes(10) });

    // Assess
    Template.fromStack(stack).hasResourceProperties('AWS::Kinesis::Stream', { MaxRecordSizeInKiB: 10240 });
    expect(stream.maxRecordSize.toBytes()).toBe(10 * 1024 * 1024);
  });

  test('takes any whole KiB in range, on an on-demand stream too', () => {
    const stack = testStack();

    new DataStream(stack, 'Stream', { mode: DataStreamMode.ON_DEMAND, maxRecordSize: Size.kibibytes(5000) });

    Template.fromStack(stack).hasResourceProperties('AWS::Kinesis::Stream', {
      MaxRecordSizeInKiB: 5000,
      StreamModeDetails: { StreamMode: 'ON_DEMAND' },
    });
  });

  test("by default leaves Kinesis' 1 MiB: no property, maxRecordSize 1 MiB", () => {
    const stack = testStack();

    const stream = new DataStream(stack, 'Stream');

    Template.fromStack(stack).hasResourceProperties('AWS::Kinesis::Stream', { MaxRecordSizeInKiB: Match.absent() });
    expect(stream.maxRecordSize.toBytes()).toBe(1024 * 1024);
  });

  test.each([
    [
      'below 1 MiB',
      Size.kibibytes(1023),
      /maxRecordSize must be whole KiB from 1024 KiB \(1 MiB\) to 10240 KiB \(10 MiB\); received 1047552 bytes \(1023 KiB\)/,
    ],
    ['above 10 MiB', Size.kibibytes(10241), /maxRecordSize must be whole KiB .*received 10486784 bytes \(10241 KiB\)/],
    ['not whole KiB', Size.bytes(2 * 1024 * 1024 + 1), /maxRecordSize must be whole KiB .*received 2097153 bytes/],
  ])('refuses a size %s, naming the prop, the range and the value', (_name, maxRecordSize, message) => {
    const stack = testStack();

    expect(() => new DataStream(stack, 'Stream', { maxRecordSize })).toThrow(message);
  });

  test('passes a token through to MaxRecordSizeInKiB unchecked', () => {
    const stack = testStack();
    const kib = new CfnParameter(stack, 'RecordKiB', { type: 'Number' });

    new DataStream(stack, 'Stream', { maxRecordSize: Size.kibibytes(kib.valueAsNumber) });

    Template.fromStack(stack).hasResourceProperties('AWS::Kinesis::Stream', { MaxRecordSizeInKiB: { Ref: 'RecordKiB' } });
  });

  test("imports: fromStreamAttributes takes it (default 1 MiB) and validates it; fromStream keeps a DataStream's", () => {
    const stack = testStack();
    const own = new DataStream(stack, 'Own', { maxRecordSize: Size.mebibytes(4) });

    const withSize = DataStream.fromStreamAttributes(stack, 'Big', { streamArn: STREAM_ARN, maxRecordSize: Size.mebibytes(10) });
    const withoutSize = DataStream.fromStreamArn(stack, 'Plain', STREAM_ARN);
    const wrapped = DataStream.fromStream(stack, 'Wrapped', own, { retention: own.retention });
    const l2 = DataStream.fromStream(stack, 'L2', kinesis.Stream.fromStreamArn(stack, 'L2Stream', STREAM_ARN), {
      maxRecordSize: Size.mebibytes(2),
    });

    expect(withSize.maxRecordSize.toBytes()).toBe(10 * 1024 * 1024);
    expect(withoutSize.maxRecordSize.toBytes()).toBe(1024 * 1024);
    expect(wrapped.maxRecordSize.toBytes()).toBe(4 * 1024 * 1024);
    expect(l2.maxRecordSize.toBytes()).toBe(2 * 1024 * 1024);
    expect(() => DataStream.fromStreamAttributes(stack, 'Huge', { streamArn: STREAM_ARN, maxRecordSize: Size.mebibytes(11) })).toThrow(
      /DataStream.fromStreamAttributes: maxRecordSize must be whole KiB from 1024 KiB \(1 MiB\) to 10240 KiB \(10 MiB\); received 11534336 bytes/,
    );
  });
});

describe('DataStream resource policy', () => {
  test('addToResourcePolicy creates an AWS::Kinesis::ResourcePolicy on the stream with the statement', () => {
    // Prepare
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream');

    // Act
    const result = stream.addToResourcePolicy(
      new iam.PolicyStatement({
        actions: ['kinesis:DescribeStreamSummary', 'kinesis:ListShards', 'kinesis:PutRecord', 'kinesis:PutRecords'],
        principals: [new iam.AccountPrincipal('444455556666')],
        resources: [stream.streamArn],
      }),
    );

    // Assess
    expect(result.statementAdded).toBe(true);
    Template.fromStack(stack).hasResourceProperties('AWS::Kinesis::ResourcePolicy', {
      ResourceArn: stack.resolve(stream.streamArn),
      ResourcePolicy: {
        Statement: [
          Match.objectLike({
            Effect: 'Allow',
            Action: ['kinesis:DescribeStreamSummary', 'kinesis:ListShards', 'kinesis:PutRecord', 'kinesis:PutRecords'],
            Principal: { AWS: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp(':iam::444455556666:root')])] } },
            Resource: stack.resolve(stream.streamArn),
          }),
        ],
      },
    });
  });

  test("grantWrite to another account's role adds a resource-policy statement for that role", () => {
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream');
    const role = iam.Role.fromRoleArn(stack, 'Partner', 'arn:aws:iam::444455556666:role/partner-producer');

    stream.grantWrite(role);

    Template.fromStack(stack).hasResourceProperties('AWS::Kinesis::ResourcePolicy', {
      ResourcePolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith(['kinesis:PutRecords']),
            Principal: { AWS: 'arn:aws:iam::444455556666:role/partner-producer' },
          }),
        ]),
      },
    });
  });

  test('an imported stream keeps its own policy: statementAdded false, no resource', () => {
    const stack = testStack();
    new DataStream(stack, 'Local'); // a stack needs one resource to synthesize
    const imported = DataStream.fromStreamArn(stack, 'Imported', STREAM_ARN);

    const result = imported.addToResourcePolicy(
      new iam.PolicyStatement({
        actions: ['kinesis:GetRecords'],
        principals: [new iam.AccountPrincipal('444455556666')],
        resources: [STREAM_ARN],
      }),
    );

    expect(result.statementAdded).toBe(false);
    Template.fromStack(stack).resourceCountIs('AWS::Kinesis::ResourcePolicy', 0);
    expect(Token.isUnresolved(imported.streamArn)).toBe(false);
  });
});
