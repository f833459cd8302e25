import { CfnParameter, Duration, Size } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { DataStream, ProducerFunction, StreamingPipeline, type ProducerFunctionProps } from '../../lib';
import { testStack } from '../helpers/app';

function build(props: Partial<ProducerFunctionProps> = {}) {
  const stack = testStack();
  const stream = new DataStream(stack, 'Stream', { encryption: 'customer-managed' });
  const producer = new ProducerFunction(stack, 'Producer', { stream, ...props });
  return { stack, stream, producer, template: Template.fromStack(stack) };
}

describe('ProducerFunction', () => {
  test('creates an encrypted progress table with PITR and TTL, may read and write its items only, and names it in the environment', () => {
    // Act
    const { template, stack, producer } = build({ deduplicationWindow: Duration.hours(12), callTimeout: Duration.seconds(3) });

    // Assess
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      Replicas: [Match.objectLike({ PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } })],
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
            Resource: stack.resolve(producer.progressTable!.tableArn),
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          PROGRESS_TABLE_NAME: stack.resolve(producer.progressTable!.tableName),
          PROGRESS_WINDOW_SECONDS: String(12 * 3600),
          CALL_TIMEOUT_MS: '3000',
        }),
      },
    });
  });

  test('without deduplication there is no progress table and no progress setting', () => {
    // Act
    const { template, producer } = build({ deduplication: false });

    // Assess
    expect(producer.progressTable).toBeUndefined();
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 0);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ PROGRESS_TABLE_NAME: Match.absent(), PROGRESS_WINDOW_SECONDS: Match.absent() }) },
    });
  });

  test.each([
    [{ deduplicationWindow: Duration.hours(1) }, /deduplicationWindow must be from 6 hours to 30 days; received 1 hour/],
    [{ deduplicationWindow: Duration.days(31) }, /deduplicationWindow must be from 6 hours to 30 days; received 31 days/],
    [{ callTimeout: Duration.millis(50) }, /callTimeout must be from 100 millis to 1 minute; received 50 millis/],
    [{ deduplication: false, deduplicationWindow: Duration.hours(6) }, /deduplicationWindow needs deduplication/],
  ])('refuses %o', (props, message) => {
    expect(() => build(props)).toThrow(message);
  });

  test('is a Node.js 24 ARM64 function with the limits and stream in its environment', () => {
    // Act
    const { template, stack, stream, producer } = build({
      maxAggregateSize: Size.kibibytes(25),
      maxBatchEntries: 100,
      safetyMargin: Duration.seconds(2),
    });

    // Assess
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Timeout: 30,
      Environment: {
        Variables: Match.objectLike({
          STREAM_NAME: stack.resolve(stream.streamName),
          MAX_AGGREGATE_BYTES: '25600',
          MAX_RECORDS_PER_AGGREGATE: '4294967295',
          MAX_BATCH_ENTRIES: '100',
          MAX_BATCH_BYTES: String(5 * 1024 * 1024),
          MAX_ENTRY_BYTES: String(1024 * 1024),
          ORDERING_GROUPS: '16',
          SAFETY_MARGIN_MS: '2000',
          THROW_ON_UNDELIVERED: 'true',
          POWERTOOLS_SERVICE_NAME: producer.serviceName,
          POWERTOOLS_METRICS_NAMESPACE: 'KinesisPipeline',
        }),
      },
    });
  });

  test('may write to its stream and list its shards, on the stream ARN only, and encrypt with its key', () => {
    // Act
    const { template, stack, stream } = build();

    // Assess
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['kinesis:ListShards', 'kinesis:PutRecord', 'kinesis:PutRecords'],
            Resource: stack.resolve(stream.streamArn),
          }),
          Match.objectLike({
            Action: Match.arrayWith(['kms:Encrypt', 'kms:GenerateDataKey*']),
            Resource: stack.resolve(stream.encryptionKey!.keyArn),
          }),
        ]),
      },
    });
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (policy) =>
        (policy as { Properties: { PolicyDocument: { Statement: { Resource: unknown }[] } } }).Properties.PolicyDocument.Statement,
    );
    expect(statements.filter((s) => s.Resource === '*')).toEqual([]);
  });

  test('sends failed asynchronous invokes to an encrypted, TLS-only queue', () => {
    // Act
    const { template } = build();

    // Assess
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 1_209_600 });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('ProducerOnFailure'), 'Arn'] } } },
    });
  });

  test('uses a given on-failure queue, reserved concurrency and an AWS_IAM Function URL', () => {
    // Prepare
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream');
    const queue = new sqs.Queue(stack, 'Mine', { enforceSSL: true });

    // Act
    const producer = new ProducerFunction(stack, 'Producer', {
      stream,
      onFailureQueue: queue,
      reservedConcurrentExecutions: 5,
      functionUrl: true,
      asyncRetryAttempts: 0,
    });
    producer.functionUrl!.grantInvokeUrl(new iam.AccountPrincipal('123456789012'));
    const template = Template.fromStack(stack);

    // Assess
    expect(producer.onFailureQueue).toBe(queue);
    template.resourceCountIs('AWS::SQS::Queue', 1);
    template.hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 5 });
    template.hasResourceProperties('AWS::Lambda::Url', { AuthType: 'AWS_IAM' });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 0,
      DestinationConfig: { OnFailure: { Destination: stack.resolve(queue.queueArn) } },
    });
  });

  test('metric methods fill in the namespace, the service dimension and a statistic; caller options win', () => {
    // Prepare
    const { producer } = build();

    // Act
    const metrics = {
      UserRecords: producer.metricUserRecords(),
      KinesisRecords: producer.metricKinesisRecords(),
      AggregationRatio: producer.metricAggregationRatio(),
      Retries: producer.metricRetries(),
      ThrottledEntries: producer.metricThrottledEntries(),
      ResentRecords: producer.metricResentRecords(),
      FailedRecords: producer.metricFailedRecords({ period: Duration.minutes(1), statistic: 'Maximum' }),
    };

    // Assess
    for (const [name, metric] of Object.entries(metrics)) {
      expect(metric).toMatchObject({ namespace: 'KinesisPipeline', metricName: name, dimensions: { service: producer.serviceName } });
    }
    expect(metrics.UserRecords.statistic).toBe('Sum');
    expect(metrics.AggregationRatio.statistic).toBe('Average');
    expect(metrics.FailedRecords.statistic).toBe('Maximum');
    expect(metrics.FailedRecords.period.toSeconds()).toBe(60);
  });

  test.each([
    [
      'maxAggregateSize',
      { maxAggregateSize: Size.mebibytes(2) },
      /maxAggregateSize must be from 64 bytes to 1048576 bytes \(the stream's maxRecordSize\); received 2097152 bytes/,
    ],
    [
      'maxBatchSize',
      { maxBatchSize: Size.mebibytes(11) },
      /maxBatchSize must be from 1 bytes to 10485760 bytes \(the PutRecords request limit\); received 11534336 bytes/,
    ],
    ['maxRecordSize', { maxRecordSize: Size.bytes(0) }, /maxRecordSize must be/],
    [
      'maxRecordsPerAggregate',
      { maxRecordsPerAggregate: 0 },
      /maxRecordsPerAggregate must be a whole number from 1 to 4294967295; received 0/,
    ],
    ['maxBatchEntries', { maxBatchEntries: 501 }, /maxBatchEntries must be a whole number from 1 to 500; received 501/],
    [
      'orderingGroups above 256',
      { orderingGroups: 257 },
      /ProducerFunction Producer: orderingGroups must be a whole number from 0 to 256; received 257/,
    ],
    ['orderingGroups below 0', { orderingGroups: -1 }, /orderingGroups must be a whole number from 0 to 256; received -1/],
    ['orderingGroups not whole', { orderingGroups: 2.5 }, /orderingGroups must be a whole number from 0 to 256; received 2.5/],
    ['asyncRetryAttempts', { asyncRetryAttempts: 3 }, /asyncRetryAttempts must be a whole number from 0 to 2; received 3/],
    ['reservedConcurrentExecutions', { reservedConcurrentExecutions: 1.5 }, /reservedConcurrentExecutions must be a whole number/],
    ['memorySize', { memorySize: 64 }, /memorySize must be a whole number from 128/],
    ['timeout', { timeout: Duration.minutes(20) }, /timeout must be from 3 seconds to 15 minutes; received 20 minutes/],
    [
      'safetyMargin',
      { timeout: Duration.seconds(5), safetyMargin: Duration.seconds(5) },
      /safetyMargin must be shorter than timeout \(5 seconds\); received 5 seconds/,
    ],
    [
      'baseRetryDelay',
      { baseRetryDelay: Duration.seconds(2), maxRetryDelay: Duration.seconds(1) },
      /baseRetryDelay must not exceed maxRetryDelay/,
    ],
    ['shardMapTtl', { shardMapTtl: Duration.millis(10) }, /shardMapTtl must be from 1 second/],
    [
      'baseRetryDelay range',
      { baseRetryDelay: Duration.millis(0) },
      /ProducerFunction Producer: baseRetryDelay must be from 1 milli to 1 minute; received 0 millis/,
    ],
    [
      'maxRetryDelay range',
      { maxRetryDelay: Duration.minutes(6) },
      /ProducerFunction Producer: maxRetryDelay must be from 1 milli to 5 minutes; received 6 minutes/,
    ],
  ])('rejects a bad %s', (_name, props, message) => {
    expect(() => build(props as Partial<ProducerFunctionProps>)).toThrow(message);
  });

  test.each([0, 1, 256])('passes orderingGroups %i to the handler', (orderingGroups) => {
    // Act
    const { template } = build({ orderingGroups });

    // Assess
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ ORDERING_GROUPS: String(orderingGroups) }) },
    });
  });

  test('an unresolved orderingGroups (a token) is not validated at synthesis and reaches the handler', () => {
    // Prepare
    const stack = testStack();
    const groups = new CfnParameter(stack, 'Groups', { type: 'Number' }).valueAsNumber;

    // Act
    new ProducerFunction(stack, 'Producer', { stream: new DataStream(stack, 'Stream'), orderingGroups: groups });

    // Assess
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ ORDERING_GROUPS: { Ref: 'Groups' } }) },
    });
  });
});

describe('StreamingPipeline producer', () => {
  test('is on by default and feeds monitoring; false turns it off', () => {
    // Prepare
    const withStack = testStack('With');
    const withoutStack = testStack('Without');

    // Act
    const on = new StreamingPipeline(withStack, 'Pipeline', { producer: { functionUrl: true } });
    const off = new StreamingPipeline(withoutStack, 'Pipeline', {
      producer: false,
      consumer: false,
      archive: false,
      autoscaling: false,
      monitoring: false,
    });

    // Assess
    expect(on.producer).toBeInstanceOf(ProducerFunction);
    expect(off.producer).toBeUndefined();
    Template.fromStack(withStack).hasResourceProperties('AWS::Lambda::Url', { AuthType: 'AWS_IAM' });
    Template.fromStack(withStack).hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'KinesisPipeline',
      MetricName: 'FailedRecords',
      Dimensions: [{ Name: 'service', Value: on.producer!.serviceName }],
    });
    Template.fromStack(withoutStack).resourceCountIs('AWS::Lambda::Function', 0);
  });
});
