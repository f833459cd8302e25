import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readPipeline } from '../assembly';
import { LocalNames, UnsupportedIntrinsicError } from '../intrinsics';

/** Reading a synthesized template: which resource is which, and the mapping's settings. */
const assemblyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'assembly-test-'));

beforeAll(() => {
  for (const asset of ['asset.producer', 'asset.consumer']) {
    fs.mkdirSync(path.join(assemblyDir, asset));
    fs.writeFileSync(path.join(assemblyDir, asset, 'index.mjs'), 'export const handler = async () => null;\n');
  }
});

afterAll(() => fs.rmSync(assemblyDir, { recursive: true, force: true }));

const fnResource = (cdkPath: string, asset: string, variables: Record<string, unknown>) => ({
  Type: 'AWS::Lambda::Function',
  Properties: { Handler: 'index.handler', Timeout: 30, MemorySize: 512, Environment: { Variables: variables } },
  Metadata: { 'aws:cdk:path': cdkPath, 'aws:asset:path': asset },
});

const template = {
  Resources: {
    Stream: {
      Type: 'AWS::Kinesis::Stream',
      Properties: { ShardCount: 3, RetentionPeriodHours: 24, StreamModeDetails: { StreamMode: 'PROVISIONED' } },
    },
    Leases: {
      Type: 'AWS::DynamoDB::GlobalTable',
      Properties: {
        KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
      },
    },
    Dlq: { Type: 'AWS::SQS::Queue', Properties: {} },
    Producer: fnResource('Stack/Pipeline/Producer/Resource', 'asset.producer', {
      STREAM_NAME: { Ref: 'Stream' },
      STREAM_ARN: { 'Fn::GetAtt': ['Stream', 'Arn'] },
    }),
    Consumer: fnResource('Stack/Pipeline/Consumer/Resource', 'asset.consumer', {
      LEASE_TABLE_NAME: { Ref: 'Leases' },
      APP: { 'Fn::Join': ['-', [{ Ref: 'AWS::Region' }, 'app']] },
    }),
    Mapping: {
      Type: 'AWS::Lambda::EventSourceMapping',
      Properties: {
        FunctionName: { Ref: 'Consumer' },
        EventSourceArn: { 'Fn::GetAtt': ['Stream', 'Arn'] },
        BatchSize: 250,
        MaximumBatchingWindowInSeconds: 2,
        ParallelizationFactor: 4,
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: 5,
        MaximumRecordAgeInSeconds: 3600,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        StartingPosition: 'LATEST',
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': ['Dlq', 'Arn'] } } },
      },
    },
  },
};

describe('readPipeline', () => {
  test('finds the stream, the lease table, the functions with their bundles and resolved variables, and the mapping', () => {
    // Act
    const pipeline = readPipeline(template, assemblyDir, 'Stack', 'us-east-1');
    // Assess
    expect(pipeline.stream).toEqual({
      logicalId: 'Stream',
      name: 'Stack-Stream',
      arn: 'arn:aws:kinesis:us-east-1:000000000000:stream/Stack-Stream',
      mode: 'PROVISIONED',
      shardCount: 3,
      retentionHours: 24,
    });
    expect(pipeline.producer).toMatchObject({
      role: 'producer',
      entryFile: path.join(assemblyDir, 'asset.producer', 'index.mjs'),
      handlerName: 'handler',
      timeoutMs: 30_000,
      environment: { STREAM_NAME: 'Stack-Stream', STREAM_ARN: pipeline.stream.arn },
    });
    expect(pipeline.consumer).toMatchObject({ role: 'consumer', environment: { LEASE_TABLE_NAME: 'Stack-Leases', APP: 'us-east-1-app' } });
    expect(pipeline.leaseTable).toMatchObject({ name: 'Stack-Leases', keySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }] });
    expect(pipeline.mapping).toMatchObject({
      functionLogicalId: 'Consumer',
      batchSize: 250,
      batchWindowMs: 2000,
      parallelizationFactor: 4,
      bisectOnError: true,
      maxRetryAttempts: 5,
      maxRecordAgeMs: 3_600_000,
      reportBatchItemFailures: true,
      startingPosition: 'LATEST',
      onFailureDestination: 'arn:aws:sqs:us-east-1:000000000000:Stack-Dlq',
    });
    expect(pipeline.scaler).toBeUndefined();
  });

  test('uses Lambda defaults when the template has no mapping, and rejects a template without one stream', () => {
    // Prepare
    const { Mapping: _mapping, ...rest } = template.Resources;
    // Act
    const pipeline = readPipeline({ Resources: rest }, assemblyDir, 'Stack', 'us-east-1');
    // Assess
    expect(pipeline.mapping).toBeUndefined();
    expect(() => readPipeline({ Resources: {} }, assemblyDir, 'Stack', 'us-east-1')).toThrow(
      /expected one AWS::Kinesis::Stream in Stack, found 0/,
    );
  });
});

describe('LocalNames', () => {
  const names = new LocalNames('Stack', template.Resources, 'eu-west-1');

  test('resolves Sub, Select, Split and pseudo parameters', () => {
    expect(names.resolve({ 'Fn::Sub': 'arn:${AWS::Partition}:x:${AWS::Region}:${AWS::AccountId}:${Stream}/${Dlq.Arn}' })).toBe(
      'arn:aws:x:eu-west-1:000000000000:Stack-Stream/arn:aws:sqs:eu-west-1:000000000000:Stack-Dlq',
    );
    expect(names.resolve({ 'Fn::Select': [1, { 'Fn::Split': ['/', 'a/b/c'] }] })).toBe('b');
  });

  test('names an unsupported intrinsic and an unknown resource', () => {
    expect(() => names.resolve({ 'Fn::ImportValue': 'x' })).toThrow(UnsupportedIntrinsicError);
    expect(() => names.resolve({ Ref: 'Nothing' })).toThrow(/no resource Nothing/);
  });
});
