import { App, Duration, RemovalPolicy, Size, Stack, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as cwactions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import {
  ALARMS_REACH_NOBODY,
  DataStream,
  DataStreamMode,
  FirehoseArchive,
  type FirehoseArchiveOptions,
  PipelineMonitoring,
  StreamingPipeline,
} from '../../lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { testApp, testStack } from '../helpers/app';
import { nagViolations } from '../helpers/nag';

interface Built {
  stack: Stack;
  archive: FirehoseArchive;
  stream: DataStream;
  template: Template;
}

function build(options: FirehoseArchiveOptions = {}, mode: DataStreamMode = DataStreamMode.PROVISIONED): Built {
  const stack = testStack();
  const stream = new DataStream(stack, 'Stream', { mode });
  const archive = new FirehoseArchive(stack, 'Archive', { stream, ...options });
  return { stack, archive, stream, template: Template.fromStack(stack) };
}

const ref = (stack: Stack, construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as never);

interface Statement {
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

/** Every statement of every policy attached to the archive's delivery role. */
function roleStatements(stack: Stack, archive: FirehoseArchive, template: Template): Statement[] {
  const roleId = stack.getLogicalId(archive.deliveryRole.node.defaultChild as never);
  const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } });
  return Object.values(policies).flatMap(
    (policy) => (policy as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement,
  );
}

describe('FirehoseArchive', () => {
  describe('delivery stream', () => {
    test.each([DataStreamMode.PROVISIONED, DataStreamMode.ON_DEMAND])(
      'reads the %s stream and writes GZIP objects under hour partitions',
      (mode) => {
        const { stack, stream, archive, template } = build({}, mode);

        template.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
          DeliveryStreamType: 'KinesisStreamAsSource',
          KinesisStreamSourceConfiguration: { KinesisStreamARN: { 'Fn::GetAtt': [ref(stack, stream.stream), 'Arn'] } },
          ExtendedS3DestinationConfiguration: Match.objectLike({
            BucketARN: { 'Fn::GetAtt': [stack.getLogicalId((archive.bucket as s3.Bucket).node.defaultChild as s3.CfnBucket), 'Arn'] },
            BufferingHints: { IntervalInSeconds: 300, SizeInMBs: 5 },
            CompressionFormat: 'GZIP',
            Prefix: 'year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/',
            ErrorOutputPrefix: Match.stringLikeRegexp('^errors/!\\{firehose:error-output-type\\}/'),
            CloudWatchLoggingOptions: Match.objectLike({ Enabled: true }),
            ProcessingConfiguration: { Enabled: true, Processors: [{ Type: 'AppendDelimiterToRecord', Parameters: [] }] },
          }),
        });
      },
    );

    test('applies buffering, compression and prefixes from props', () => {
      const { template } = build({
        bufferingSize: Size.mebibytes(64),
        bufferingInterval: Duration.seconds(60),
        compression: firehose.Compression.SNAPPY,
        dataOutputPrefix: 'raw/!{timestamp:yyyy}/',
        errorOutputPrefix: 'failed/!{firehose:error-output-type}/',
        newlineDelimiter: false,
      });

      template.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
        ExtendedS3DestinationConfiguration: Match.objectLike({
          BufferingHints: { IntervalInSeconds: 60, SizeInMBs: 64 },
          CompressionFormat: 'Snappy',
          Prefix: 'raw/!{timestamp:yyyy}/',
          ErrorOutputPrefix: 'failed/!{firehose:error-output-type}/',
          ProcessingConfiguration: Match.absent(),
        }),
      });
    });

    test('partitions dynamically on a JSON field with a JQ query', () => {
      const { template } = build({
        dynamicPartitioning: { keys: { tenant: '.tenant' } },
        dataOutputPrefix: 'tenant=!{partitionKeyFromQuery:tenant}/year=!{timestamp:yyyy}/',
      });

      template.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
        ExtendedS3DestinationConfiguration: Match.objectLike({
          DynamicPartitioningConfiguration: { Enabled: true },
          BufferingHints: { IntervalInSeconds: 300, SizeInMBs: 128 },
          ProcessingConfiguration: {
            Enabled: true,
            Processors: Match.arrayWith([
              Match.objectLike({
                Type: 'MetadataExtraction',
                Parameters: Match.arrayWith([{ ParameterName: 'MetadataExtractionQuery', ParameterValue: '{"tenant":.tenant}' }]),
              }),
              Match.objectLike({ Type: 'AppendDelimiterToRecord' }),
            ]),
          },
        }),
      });
    });

    test('runs a Lambda processor before delivery', () => {
      const stack = testStack();
      const stream = new DataStream(stack, 'Stream');
      const fn = new lambda.Function(stack, 'Transform', {
        runtime: lambda.Runtime.NODEJS_24_X,
        handler: 'index.handler',
        code: lambda.Code.fromInline('exports.handler = async (e) => e'),
      });
      const archive = new FirehoseArchive(stack, 'Archive', { stream, processor: fn });

      Template.fromStack(stack).hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
        ExtendedS3DestinationConfiguration: Match.objectLike({
          ProcessingConfiguration: {
            Enabled: true,
            Processors: [
              {
                Type: 'Lambda',
                Parameters: [
                  {
                    ParameterName: 'RoleArn',
                    ParameterValue: { 'Fn::GetAtt': [stack.getLogicalId(archive.deliveryRole.node.defaultChild as never), 'Arn'] },
                  },
                  {
                    ParameterName: 'LambdaArn',
                    ParameterValue: { 'Fn::GetAtt': [stack.getLogicalId(fn.node.defaultChild as lambda.CfnFunction), 'Arn'] },
                  },
                ],
              },
              { Type: 'AppendDelimiterToRecord', Parameters: [] },
            ],
          },
        }),
      });
    });

    test('takes a processor function of another account', () => {
      const stack = testStack();
      const stream = new DataStream(stack, 'Stream');
      const fn = lambda.Function.fromFunctionArn(stack, 'Transform', 'arn:aws:lambda:eu-west-1:123456789012:function:transform');
      new FirehoseArchive(stack, 'Archive', { stream, processor: fn });

      const template = Template.fromStack(stack);
      template.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
        ExtendedS3DestinationConfiguration: Match.objectLike({
          ProcessingConfiguration: Match.objectLike({
            Processors: Match.arrayWith([
              Match.objectLike({ Parameters: Match.arrayWith([{ ParameterName: 'LambdaArn', ParameterValue: fn.functionArn }]) }),
            ]),
          }),
        }),
      });
      template.resourceCountIs('AWS::Lambda::Permission', 0);
    });

    test('builds the README example', () => {
      const stack = testStack();
      const stream = new DataStream(stack, 'Stream');
      new FirehoseArchive(stack, 'Archive', {
        stream,
        bufferingInterval: Duration.minutes(1),
        dynamicPartitioning: { keys: { tenant: '.tenant' } },
        dataOutputPrefix: 'tenant=!{partitionKeyFromQuery:tenant}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/',
        lifecycle: { expireAfter: Duration.days(730) },
      });

      Template.fromStack(stack).hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
        ExtendedS3DestinationConfiguration: Match.objectLike({
          BufferingHints: { IntervalInSeconds: 60, SizeInMBs: 128 },
          DynamicPartitioningConfiguration: { Enabled: true },
          Prefix: 'tenant=!{partitionKeyFromQuery:tenant}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/',
        }),
      });
    });

    test('leaves no unreferenced Firehose CIDR mapping in the stack', () => {
      const { template } = build();

      expect(template.toJSON().Mappings ?? {}).toEqual({});
    });
  });

  describe('bucket', () => {
    test('is KMS-encrypted with a rotating key, TLS only, private, versioned, logged and retained', () => {
      const { stack, archive, template } = build();
      const bucketId = stack.getLogicalId((archive.bucket as s3.Bucket).node.defaultChild as s3.CfnBucket);
      const logsId = stack.getLogicalId((archive.accessLogsBucket as s3.Bucket).node.defaultChild as s3.CfnBucket);

      template.hasResource('AWS::S3::Bucket', {
        Properties: Match.objectLike({
          BucketEncryption: {
            ServerSideEncryptionConfiguration: [
              { BucketKeyEnabled: true, ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: Match.anyValue() } },
            ],
          },
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            BlockPublicPolicy: true,
            IgnorePublicAcls: true,
            RestrictPublicBuckets: true,
          },
          VersioningConfiguration: { Status: 'Enabled' },
          LoggingConfiguration: { DestinationBucketName: { Ref: logsId }, LogFilePrefix: 'archive/' },
        }),
        DeletionPolicy: 'Retain',
      });
      template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: bucketId },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    });

    test('has lifecycle rules from props', () => {
      const { template } = build({
        lifecycle: {
          infrequentAccessAfter: Duration.days(45),
          glacierAfter: Duration.days(180),
          expireAfter: Duration.days(730),
          noncurrentVersionExpiration: Duration.days(7),
        },
      });

      template.hasResourceProperties('AWS::S3::Bucket', {
        LifecycleConfiguration: {
          Rules: [
            Match.objectLike({
              Status: 'Enabled',
              ExpirationInDays: 730,
              NoncurrentVersionExpiration: { NoncurrentDays: 7 },
              Transitions: [
                { StorageClass: 'STANDARD_IA', TransitionInDays: 45 },
                { StorageClass: 'GLACIER', TransitionInDays: 180 },
              ],
            }),
          ],
        },
      });
    });

    test('auto-deletes objects only when asked', () => {
      expect(build().template.findResources('Custom::S3AutoDeleteObjects')).toEqual({});
      const { template } = build({ removalPolicy: RemovalPolicy.DESTROY, autoDeleteObjects: true });
      template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Delete' });
      expect(Object.keys(template.findResources('Custom::S3AutoDeleteObjects')).length).toBeGreaterThan(0);
    });

    test('sends access logs through a bucket policy, or through the log-delivery ACL in apps without that feature flag', () => {
      // Prepare
      const { template } = build();
      const withoutFlag = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'NoFlags');
      new FirehoseArchive(withoutFlag, 'Archive', { stream: new DataStream(withoutFlag, 'Stream') });

      // Assess
      template.hasResourceProperties('AWS::S3::Bucket', {
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        LoggingConfiguration: Match.absent(),
      });
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({ Action: 's3:PutObject', Principal: { Service: 'logging.s3.amazonaws.com' } })]),
        },
      });
      Template.fromStack(withoutFlag).hasResourceProperties('AWS::S3::Bucket', {
        AccessControl: 'LogDeliveryWrite',
        LoggingConfiguration: Match.absent(),
      });
    });

    test("uses a given KMS-encrypted bucket's key through S3 only", () => {
      // Prepare
      const stack = testStack();
      const stream = new DataStream(stack, 'Stream');
      const key = kms.Key.fromKeyArn(stack, 'TheirKey', 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555');
      const bucket = s3.Bucket.fromBucketAttributes(stack, 'Existing', { bucketArn: 'arn:aws:s3:::their-archive', encryptionKey: key });

      // Act
      const archive = new FirehoseArchive(stack, 'Archive', { stream, bucket });

      // Assess
      expect(roleStatements(stack, archive, Template.fromStack(stack))).toContainEqual(
        expect.objectContaining({
          Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
          Resource: key.keyArn,
          Condition: {
            StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['s3.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } },
            StringLike: {
              'kms:EncryptionContext:aws:s3:arn': [
                'arn:aws:s3:::their-archive',
                'arn:aws:s3:::their-archive/year=*',
                'arn:aws:s3:::their-archive/errors/*',
              ],
            },
          },
        }),
      );
      Template.fromStack(stack).resourceCountIs('AWS::KMS::Key', 0);
    });

    test('uses a given bucket and creates none', () => {
      const stack = testStack();
      const stream = new DataStream(stack, 'Stream');
      const bucket = s3.Bucket.fromBucketName(stack, 'Existing', 'my-archive');
      const archive = new FirehoseArchive(stack, 'Archive', { stream, bucket });

      expect(archive.bucket).toBe(bucket);
      const template = Template.fromStack(stack);
      template.resourceCountIs('AWS::S3::Bucket', 0);
      template.hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Action: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
              Resource: Match.arrayWith([{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::my-archive/year=*']] }]),
            }),
          ]),
        },
      });
    });
  });

  describe('delivery role', () => {
    test('writes only under its prefixes of its bucket, with no delete and no bucket-wide object wildcard', () => {
      const { stack, archive, template } = build();
      const bucketArn = { 'Fn::GetAtt': [stack.getLogicalId((archive.bucket as s3.Bucket).node.defaultChild as s3.CfnBucket), 'Arn'] };
      const roleId = stack.getLogicalId(archive.deliveryRole.node.defaultChild as never);

      const policies = template.findResources('AWS::IAM::Policy', { Properties: { Roles: [{ Ref: roleId }] } });
      const statements = Object.values(policies).flatMap(
        (policy) =>
          (policy as { Properties: { PolicyDocument: { Statement: Array<{ Action: string | string[]; Resource: unknown }> } } }).Properties
            .PolicyDocument.Statement,
      );
      expect(statements).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Action: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
            Resource: bucketArn,
          }),
          expect.objectContaining({
            Action: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
            Resource: expect.arrayContaining([
              { 'Fn::Join': ['', [bucketArn, '/year=*']] },
              { 'Fn::Join': ['', [bucketArn, '/errors/*']] },
            ]),
          }),
          // The key only through S3 and only for this bucket (its ARN with S3 Bucket Keys, its prefixes without).
          expect.objectContaining({
            Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
            Condition: {
              StringEquals: { 'kms:ViaService': expect.anything() },
              StringLike: {
                'kms:EncryptionContext:aws:s3:arn': [
                  bucketArn,
                  { 'Fn::Join': ['', [bucketArn, '/year=*']] },
                  { 'Fn::Join': ['', [bucketArn, '/errors/*']] },
                ],
              },
            },
          }),
        ]),
      );
      const actions = statements.flatMap((statement) => [statement.Action].flat());
      expect(actions.filter((action) => /Delete|\*/.test(action))).toEqual([]);
      expect(JSON.stringify(statements)).not.toContain('"/*"');
    });

    test('is one role, assumable by Firehose for this account only, for both the source and the destination', () => {
      const { stack, archive, template } = build();
      const roleArn = { 'Fn::GetAtt': [stack.getLogicalId(archive.deliveryRole.node.defaultChild as never), 'Arn'] };

      template.resourceCountIs('AWS::IAM::Role', 1);
      template.hasResourceProperties('AWS::IAM::Role', {
        AssumeRolePolicyDocument: {
          Statement: [
            {
              Action: 'sts:AssumeRole',
              Effect: 'Allow',
              Principal: { Service: 'firehose.amazonaws.com' },
              Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
            },
          ],
        },
      });
      template.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
        KinesisStreamSourceConfiguration: Match.objectLike({ RoleARN: roleArn }),
        ExtendedS3DestinationConfiguration: Match.objectLike({ RoleARN: roleArn }),
      });
    });

    test("reads only its one stream, and decrypts only with that stream's key", () => {
      // Prepare
      const stack = testStack();
      const stream = new DataStream(stack, 'Stream', { encryption: 'customer-managed' });
      const archive = new FirehoseArchive(stack, 'Archive', { stream });
      const template = Template.fromStack(stack);
      const streamArn = { 'Fn::GetAtt': [ref(stack, stream.stream), 'Arn'] };
      const streamKeyArn = { 'Fn::GetAtt': [ref(stack, stream.encryptionKey as never), 'Arn'] };

      // Act
      const statements = roleStatements(stack, archive, template);

      // Assess
      const kinesisStatements = statements.filter((statement) => [statement.Action].flat().some((action) => action.startsWith('kinesis:')));
      expect(kinesisStatements).toEqual([
        expect.objectContaining({
          Action: expect.arrayContaining([
            'kinesis:GetRecords',
            'kinesis:GetShardIterator',
            'kinesis:DescribeStream',
            'kinesis:ListShards',
          ]),
          Resource: streamArn,
        }),
      ]);
      expect(statements).toContainEqual(expect.objectContaining({ Action: 'kms:Decrypt', Resource: streamKeyArn }));
      const kmsResources = statements
        .filter((statement) => [statement.Action].flat().some((action) => action.startsWith('kms:')))
        .map((statement) => statement.Resource);
      expect(kmsResources).toEqual(expect.arrayContaining([streamKeyArn]));
      expect(kmsResources).toHaveLength(2); // the stream's key and the bucket's key, nothing else
    });

    test('invokes the processor function itself, not its versions or aliases', () => {
      // Prepare
      const stack = testStack();
      const stream = new DataStream(stack, 'Stream');
      const fn = new lambda.Function(stack, 'Transform', {
        runtime: lambda.Runtime.NODEJS_24_X,
        handler: 'index.handler',
        code: lambda.Code.fromInline('exports.handler = async (e) => e'),
      });
      const archive = new FirehoseArchive(stack, 'Archive', { stream, processor: fn });

      // Act
      const statements = roleStatements(stack, archive, Template.fromStack(stack));

      // Assess
      const lambdaStatements = statements.filter((statement) => [statement.Action].flat().some((action) => action.startsWith('lambda:')));
      expect(lambdaStatements).toEqual([
        expect.objectContaining({
          Action: ['lambda:GetFunctionConfiguration', 'lambda:InvokeFunction'],
          Resource: { 'Fn::GetAtt': [stack.getLogicalId(fn.node.defaultChild as lambda.CfnFunction), 'Arn'] },
        }),
      ]);
    });

    test('names the fixed part of a dynamic-partitioning prefix', () => {
      const { stack, archive, template } = build({
        dynamicPartitioning: { keys: { tenant: '.tenant' } },
        dataOutputPrefix: 'by-tenant/tenant=!{partitionKeyFromQuery:tenant}/',
        errorOutputPrefix: 'by-tenant-errors/!{firehose:error-output-type}/',
      });
      const bucketArn = { 'Fn::GetAtt': [stack.getLogicalId((archive.bucket as s3.Bucket).node.defaultChild as s3.CfnBucket), 'Arn'] };

      expect(roleStatements(stack, archive, template)).toContainEqual(
        expect.objectContaining({
          Action: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
          Resource: expect.arrayContaining([
            { 'Fn::Join': ['', [bucketArn, '/by-tenant/tenant=*']] },
            { 'Fn::Join': ['', [bucketArn, '/by-tenant-errors/*']] },
          ]),
        }),
      );
    });

    test('covers the whole archive bucket only when a prefix begins with an expression', () => {
      const { stack, archive, template } = build({ dataOutputPrefix: '!{timestamp:yyyy}/' });
      const bucketArn = { 'Fn::GetAtt': [stack.getLogicalId((archive.bucket as s3.Bucket).node.defaultChild as s3.CfnBucket), 'Arn'] };

      expect(roleStatements(stack, archive, template)).toContainEqual(
        expect.objectContaining({
          Action: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
          Resource: expect.arrayContaining([{ 'Fn::Join': ['', [bucketArn, '/*']] }]),
        }),
      );
    });
  });

  describe('alarms', () => {
    test('watch freshness, delivery success and source throttling with the DeliveryStreamName dimension', () => {
      // Prepare
      const { stack, archive, template } = build();
      const name = {
        Ref: stack.getLogicalId((archive.deliveryStream as firehose.DeliveryStream).node.defaultChild as firehose.CfnDeliveryStream),
      };
      const dimensions = [{ Name: 'DeliveryStreamName', Value: name }];

      // Assess
      template.resourceCountIs('AWS::CloudWatch::Alarm', 3);
      expect(archive.alarms).toEqual([archive.freshnessAlarm, archive.deliverySuccessAlarm, archive.throttlingAlarm]);
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'DeliveryToS3.DataFreshness',
        Namespace: 'AWS/Firehose',
        Dimensions: dimensions,
        Period: 300,
        Statistic: 'Maximum',
        Threshold: 900,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
        TreatMissingData: 'notBreaching',
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'DeliveryToS3.Success',
        Namespace: 'AWS/Firehose',
        Dimensions: dimensions,
        Period: 300,
        Statistic: 'Minimum',
        Threshold: 1,
        ComparisonOperator: 'LessThanThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
        Metrics: Match.arrayWith([
          Match.objectLike({ Expression: 'FILL(t0, 0) + FILL(t1, 0) + FILL(t2, 0)', ReturnData: true }),
          ...['ThrottledGetRecords', 'ThrottledGetShardIterator', 'ThrottledDescribeStream'].map((metricName, index) =>
            Match.objectLike({
              Id: `t${index}`,
              ReturnData: false,
              MetricStat: {
                Metric: { MetricName: metricName, Namespace: 'AWS/Firehose', Dimensions: dimensions },
                Period: 300,
                Stat: 'Sum',
              },
            }),
          ),
        ]),
      });
    });

    test('takes a freshness threshold from props', () => {
      const { template } = build({ freshnessAlarmThreshold: Duration.minutes(30) });

      template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'DeliveryToS3.DataFreshness', Threshold: 1800 });
    });

    test('derives the freshness threshold from the buffering interval', () => {
      const { template } = build({ bufferingInterval: Duration.seconds(600) });

      template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'DeliveryToS3.DataFreshness', Threshold: 1800 });
    });

    test('never sets a freshness threshold under 5 minutes', () => {
      const { template } = build({ bufferingInterval: Duration.seconds(0) });

      template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'DeliveryToS3.DataFreshness', Threshold: 300 });
    });
  });

  describe('metrics', () => {
    test('carry the namespace, the DeliveryStreamName dimension and a statistic; caller options win', () => {
      // Prepare
      const { stack, archive } = build();
      const name = stack.resolve(archive.deliveryStream.deliveryStreamName);

      // Act
      const freshness = archive.metricDataFreshness();
      const success = archive.metricDeliverySuccess({ statistic: 'Minimum', period: Duration.minutes(1) });
      const throttled = archive.metricThrottledRecords({ period: Duration.minutes(1) });

      // Assess
      expect(freshness).toMatchObject({ namespace: 'AWS/Firehose', metricName: 'DeliveryToS3.DataFreshness', statistic: 'Maximum' });
      expect(stack.resolve(freshness.dimensions)).toEqual({ DeliveryStreamName: name });
      expect(success).toMatchObject({ metricName: 'DeliveryToS3.Success', statistic: 'Minimum' });
      expect(success.period.toSeconds()).toBe(60);
      expect(throttled.period.toSeconds()).toBe(60);
      expect(
        Object.values(throttled.usingMetrics).map((metric) => (metric as import('aws-cdk-lib/aws-cloudwatch').Metric).metricName),
      ).toEqual(['ThrottledGetRecords', 'ThrottledGetShardIterator', 'ThrottledDescribeStream']);
      expect(archive.metricDeliveredRecords()).toMatchObject({ metricName: 'DeliveryToS3.Records', statistic: 'Sum' });
    });
  });

  describe('validation', () => {
    test.each<[FirehoseArchiveOptions, RegExp]>([
      [{ bufferingSize: Size.mebibytes(129) }, /bufferingSize must be whole MiB from 1 to 128; received 129 MiB/],
      [{ bufferingSize: Size.kibibytes(512) }, /bufferingSize must be whole MiB from 1 to 128; received 0.5 MiB/],
      [{ bufferingSize: Size.kibibytes(1536) }, /bufferingSize must be whole MiB from 1 to 128; received 1.5 MiB/],
      [{ bufferingInterval: Duration.seconds(901) }, /bufferingInterval must be whole seconds from 0 to 900; received 901 seconds/],
      [{ bufferingInterval: Duration.millis(1500) }, /bufferingInterval must be whole seconds from 0 to 900; received 1.5 seconds/],
      [{ dataOutputPrefix: 'x/!{firehose:error-output-type}/' }, /dataOutputPrefix must not contain !\{firehose:error-output-type\}/],
      [{ errorOutputPrefix: 'errors/' }, /errorOutputPrefix must contain !\{firehose:error-output-type\}; received 'errors\/'/],
      [{ dynamicPartitioning: { keys: { tenant: '.tenant' } } }, /dataOutputPrefix is required with dynamic partitioning/],
      [
        { dynamicPartitioning: { keys: { tenant: '.tenant' } }, dataOutputPrefix: 'year=!{timestamp:yyyy}/' },
        /dataOutputPrefix must use a partition key/,
      ],
      [
        { dynamicPartitioning: { keys: {} }, dataOutputPrefix: 'k=!{partitionKeyFromQuery:k}/' },
        /dynamicPartitioning.keys must name 1 to 50 keys; received 0/,
      ],
      [
        {
          dynamicPartitioning: { keys: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, `.k${i}`])) },
          dataOutputPrefix: 'k=!{partitionKeyFromQuery:k0}/',
        },
        /dynamicPartitioning.keys must name 1 to 50 keys; received 51/,
      ],
      [
        {
          dynamicPartitioning: { keys: { k: '.k' } },
          dataOutputPrefix: 'k=!{partitionKeyFromQuery:k}/',
          bufferingSize: Size.mebibytes(32),
        },
        /bufferingSize must be whole MiB from 64 to 128 with dynamic partitioning; received 32 MiB/,
      ],
      [
        {
          dynamicPartitioning: { keys: { k: '.k' } },
          dataOutputPrefix: 'k=!{partitionKeyFromQuery:k}/',
          bufferingInterval: Duration.seconds(30),
        },
        /bufferingInterval must be whole seconds from 60 to 900 with dynamic partitioning; received 30 seconds/,
      ],
      [
        {
          dynamicPartitioning: { keys: { k: '.k' }, retryDuration: Duration.seconds(7201) },
          dataOutputPrefix: 'k=!{partitionKeyFromQuery:k}/',
        },
        /retryDuration must be from 0 to 7200 seconds; received 7201 seconds/,
      ],
      [{ freshnessAlarmThreshold: Duration.seconds(30) }, /freshnessAlarmThreshold must be at least 60 seconds; received 30 seconds/],
      [{ autoDeleteObjects: true }, /autoDeleteObjects needs removalPolicy RemovalPolicy.DESTROY/],
      [
        { lifecycle: { infrequentAccessAfter: Duration.days(10) } },
        /lifecycle.infrequentAccessAfter must be whole days, at least 30.*received 10 days/,
      ],
      [
        { lifecycle: { glacierAfter: Duration.days(30) } },
        /lifecycle.glacierAfter must be whole days after infrequentAccessAfter \(30\); received 30 days/,
      ],
      [
        { lifecycle: { expireAfter: Duration.days(60) } },
        /lifecycle.expireAfter must be whole days after glacierAfter \(90\); received 60 days/,
      ],
      [
        { lifecycle: { noncurrentVersionExpiration: Duration.hours(12) } },
        /lifecycle.noncurrentVersionExpiration must be whole days, at least 1; received 0.5 days/,
      ],
    ])('rejects %p', (options, message) => {
      expect(() => build(options)).toThrow(message);
    });

    test('accepts the edges of every range', () => {
      expect(() => build({ bufferingSize: Size.mebibytes(1), bufferingInterval: Duration.seconds(0) })).not.toThrow();
      expect(() =>
        build({
          bufferingSize: Size.mebibytes(128),
          bufferingInterval: Duration.seconds(900),
          freshnessAlarmThreshold: Duration.seconds(60),
        }),
      ).not.toThrow();
      expect(() =>
        build({
          dynamicPartitioning: { keys: { k: '.k' }, retryDuration: Duration.seconds(7200) },
          dataOutputPrefix: 'k=!{partitionKeyFromQuery:k}/',
          bufferingSize: Size.mebibytes(64),
          bufferingInterval: Duration.seconds(60),
        }),
      ).not.toThrow();
    });

    test('rejects one bucket option together with a given bucket', () => {
      const stack = testStack();
      const stream = new DataStream(stack, 'Stream');
      const bucket = s3.Bucket.fromBucketName(stack, 'Existing', 'my-archive');

      expect(() => new FirehoseArchive(stack, 'Archive', { stream, bucket, autoDeleteObjects: false })).toThrow(
        /autoDeleteObjects applies to the bucket this construct creates; remove it or do not pass bucket/,
      );
    });

    test('rejects bucket options together with a given bucket', () => {
      const stack = testStack();
      const stream = new DataStream(stack, 'Stream');
      const bucket = s3.Bucket.fromBucketName(stack, 'Existing', 'my-archive');

      expect(() => new FirehoseArchive(stack, 'Archive', { stream, bucket, removalPolicy: RemovalPolicy.DESTROY, lifecycle: {} })).toThrow(
        /lifecycle, removalPolicy apply to the bucket this construct creates; remove them or do not pass bucket/,
      );
    });
  });

  describe('in StreamingPipeline', () => {
    test('archives by default and can be turned off', () => {
      const on = testStack();
      const pipeline = new StreamingPipeline(on, 'Pipeline', { autoscaling: false, monitoring: false });
      expect(pipeline.archive).toBeInstanceOf(FirehoseArchive);
      Template.fromStack(on).resourceCountIs('AWS::KinesisFirehose::DeliveryStream', 1);

      const off = testStack();
      expect(new StreamingPipeline(off, 'Pipeline', { archive: false, autoscaling: false, monitoring: false }).archive).toBeUndefined();
      Template.fromStack(off).resourceCountIs('AWS::KinesisFirehose::DeliveryStream', 0);
    });
  });
});

describe('FirehoseArchive alarms reach somebody', () => {
  const onCallArn = 'arn:aws:sns:eu-west-1:123456789012:on-call';

  test('alarmActions go on all three alarms, and addAlarmAction adds more', () => {
    const stack = testStack();
    const archive = new FirehoseArchive(stack, 'Archive', {
      stream: new DataStream(stack, 'Stream'),
      alarmActions: [new cwactions.SnsAction(sns.Topic.fromTopicArn(stack, 'OnCall', onCallArn))],
    });
    archive.addAlarmAction(new cwactions.SnsAction(sns.Topic.fromTopicArn(stack, 'Team', 'arn:aws:sns:eu-west-1:123456789012:team')));

    const alarms = Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm');
    expect(Object.keys(alarms)).toHaveLength(3);
    for (const alarm of Object.values(alarms)) {
      expect(alarm.Properties.AlarmActions).toEqual([onCallArn, 'arn:aws:sns:eu-west-1:123456789012:team']);
    }
    Annotations.fromStack(stack).hasNoWarning('*', Match.stringLikeRegexp('reach nobody'));
  });

  test('a standalone archive without actions warns at synth that its alarms reach nobody (acknowledgeable)', () => {
    const stack = testStack();
    new FirehoseArchive(stack, 'Archive', { stream: new DataStream(stack, 'Stream') });

    Annotations.fromStack(stack).hasWarning(
      '/TestStack/Archive',
      Match.stringLikeRegexp(`no action and no PipelineMonitoring watches them.*\\[ack: ${ALARMS_REACH_NOBODY}\\]`),
    );
  });

  test('under PipelineMonitoring (its composite alarm watches them) there is no warning', () => {
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream');
    const archive = new FirehoseArchive(stack, 'Archive', { stream });
    new PipelineMonitoring(stack, 'Monitoring', { stream, archive, alarmEmail: 'ops@example.com' });

    Annotations.fromStack(stack).hasNoWarning('/TestStack/Archive', Match.anyValue());
  });
});

describe('FirehoseArchive under cdk-nag and CloudFormation Validate', () => {
  test.each<[string, (stack: Stack, stream: DataStream) => FirehoseArchiveOptions]>([
    ['the defaults', () => ({})],
    [
      'dynamic partitioning, a processor and auto-delete',
      (stack) => ({
        dynamicPartitioning: { keys: { tenant: '.tenant' } },
        dataOutputPrefix: 'tenant=!{partitionKeyFromQuery:tenant}/',
        processor: lambda.Function.fromFunctionArn(stack, 'Transform', 'arn:aws:lambda:eu-west-1:123456789012:function:transform'),
        removalPolicy: RemovalPolicy.DESTROY,
        autoDeleteObjects: true,
      }),
    ],
    ['a prefix that begins with an expression', () => ({ dataOutputPrefix: '!{timestamp:yyyy}/!{timestamp:MM}/' })],
    [
      'a given bucket (literal ARN) and its key',
      (stack) => ({
        bucket: s3.Bucket.fromBucketAttributes(stack, 'Existing', {
          bucketArn: 'arn:aws:s3:::their-archive',
          encryptionKey: kms.Key.fromKeyArn(
            stack,
            'TheirKey',
            'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555',
          ),
        }),
      }),
    ],
    ['a given bucket (by name)', (stack) => ({ bucket: s3.Bucket.fromBucketName(stack, 'Existing', 'their-archive') })],
  ])('reports nothing unacknowledged with %s', (_name, options) => {
    // Prepare
    const app = testApp();
    const stack = new Stack(app, 'Archived');
    const stream = new DataStream(stack, 'Stream', { encryption: 'customer-managed' });
    // A standalone archive's alarms need an action (else synth warns that they reach nobody).
    const onCall = new cwactions.SnsAction(sns.Topic.fromTopicArn(stack, 'OnCall', 'arn:aws:sns:eu-west-1:123456789012:on-call'));
    new FirehoseArchive(stack, 'Archive', { stream, alarmActions: [onCall], ...options(stack, stream) });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    // Act
    const violations = nagViolations(app);

    // Assess
    expect(violations).toEqual([]);
  });
});

describe('FirehoseArchive without the cdk.json feature flags', () => {
  test('still synthesizes: the access-log bucket falls back to the log-delivery ACL', () => {
    const { App } = jest.requireActual<typeof import('aws-cdk-lib')>('aws-cdk-lib');
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Plain');
    const archive = new FirehoseArchive(stack, 'Archive', { stream: new DataStream(stack, 'Stream') });

    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::S3::Bucket', { AccessControl: 'LogDeliveryWrite' });
    expect(archive.accessLogsBucket).toBeDefined();
  });
});
