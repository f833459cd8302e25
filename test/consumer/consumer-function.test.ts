import { Duration, Lazy, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { Ordering } from '../../lambda/consumer/contract';
import {
  ConsumerFailureDestination,
  ConsumerFunction,
  DataStream,
  EXAMPLE_PROCESSOR_ENTRY,
  LeaseTable,
  OutOfRangeRecords,
  RecordOrdering,
  StreamingPipeline,
  type ConsumerFunctionProps,
} from '../../lib';
import { testApp, testStack } from '../helpers/app';
import { nagViolations } from '../helpers/nag';
import { scalerConsumers } from '../shard-autoscaler/scaler-env';

/** A consumer on a 2-shard stream, not yet synthesized. */
function construct(props: Partial<ConsumerFunctionProps> = {}) {
  const stack = testStack();
  const stream = new DataStream(stack, 'Stream', { shardCount: 2 });
  const consumer = new ConsumerFunction(stack, 'Consumer', { stream, processorEntry: EXAMPLE_PROCESSOR_ENTRY, ...props });
  return { stack, stream, consumer };
}

function build(props: Partial<ConsumerFunctionProps> = {}) {
  const built = construct(props);
  return { ...built, template: Template.fromStack(built.stack) };
}

const streamArn = { 'Fn::GetAtt': [Match.stringLikeRegexp('^Stream'), 'Arn'] };

/** The consumer function's environment variables (only the consumer sets ORDERING). */
function consumerVariables(variables: Record<string, unknown>) {
  return { Environment: { Variables: Match.objectLike({ ORDERING: Match.anyValue(), ...variables }) } };
}

describe('ConsumerFunction', () => {
  test('maps the stream with partial batch responses, bisect, retries and an on-failure queue', () => {
    // Act
    const { template } = build();
    // Assess
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: streamArn,
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 100,
      ParallelizationFactor: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 10,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ConsumerOnFailure'), 'Arn'] } } },
    });
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 1209600 });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Environment: {
        Variables: Match.objectLike({
          LEASE_TABLE_NAME: { Ref: Match.stringLikeRegexp('^ConsumerLeases') },
          POWERTOOLS_SERVICE_NAME: Match.stringLikeRegexp('Consumer'),
          RESERVE_MILLIS: '5000',
        }),
      },
    });
    template.hasResourceProperties(
      'AWS::Lambda::Function',
      consumerVariables({ ORDERING: 'partition-key', MAX_CONCURRENCY: '16', MAX_PARALLELIZATION_FACTOR: '1' }),
    );
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 1);
  });

  test('passes every mapping prop through', () => {
    // Act
    const { template } = build({
      batchSize: 10_000,
      maxBatchingWindow: Duration.seconds(300),
      startingPosition: lambda.StartingPosition.AT_TIMESTAMP,
      startingPositionTimestamp: 1_700_000_000,
      retryAttempts: -1,
      maxRecordAge: Duration.hours(1),
      bisectBatchOnError: false,
      filters: [lambda.FilterCriteria.filter({ partitionKey: lambda.FilterRule.isEqual('a') })],
      metricsConfig: { metrics: [lambda.MetricType.EVENT_COUNT] },
    });
    // Assess
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 10000,
      MaximumBatchingWindowInSeconds: 300,
      StartingPosition: 'AT_TIMESTAMP',
      StartingPositionTimestamp: 1700000000,
      MaximumRetryAttempts: Match.absent(),
      MaximumRecordAgeInSeconds: 3600,
      BisectBatchOnFunctionError: false,
      TumblingWindowInSeconds: Match.absent(),
      FilterCriteria: { Filters: [{ Pattern: '{"partitionKey":["a"]}' }] },
      MetricsConfig: { Metrics: ['EventCount'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  test('grants stream reads, lease item writes on its table and queue sends only', () => {
    // Act
    const { template } = build();
    // Assess
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (policy) =>
        (policy as { Properties: { PolicyDocument: { Statement: Array<{ Action: string | string[]; Resource: unknown }> } } }).Properties
          .PolicyDocument.Statement,
    );
    const find = (action: string) => statements.filter((s) => ([] as string[]).concat(s.Action).includes(action));
    expect(find('dynamodb:PutItem')).toEqual([
      expect.objectContaining({
        Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^ConsumerLeases/), 'Arn'] },
      }),
    ]);
    expect(find('kinesis:GetRecords').map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': [expect.stringMatching(/^Stream/), 'Arn'] }]);
    expect(find('sqs:SendMessage').map((s) => s.Resource)).toEqual([
      { 'Fn::GetAtt': [expect.stringMatching(/^ConsumerOnFailure/), 'Arn'] },
    ]);
    expect(statements.some((s) => JSON.stringify(s.Resource).includes('"*"'))).toBe(false);
  });

  test('processes out-of-range aggregated records by default; SKIP passes the stream name and grants ListShards on the stream only', () => {
    // Act
    const byDefault = build().template;
    const skipping = build({ outOfRangeRecords: OutOfRangeRecords.SKIP }).template;
    // Assess
    byDefault.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ OUT_OF_RANGE_RECORDS: 'process', STREAM_NAME: Match.absent() }) },
    });
    skipping.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ OUT_OF_RANGE_RECORDS: 'skip', STREAM_NAME: { Ref: Match.stringLikeRegexp('^Stream') } }),
      },
    });
    const statements = Object.values(skipping.findResources('AWS::IAM::Policy')).flatMap(
      (policy) =>
        (policy as { Properties: { PolicyDocument: { Statement: Array<{ Action: string | string[]; Resource: unknown }> } } }).Properties
          .PolicyDocument.Statement,
    );
    const listShards = statements.filter((s) => ([] as string[]).concat(s.Action).includes('kinesis:ListShards'));
    expect(listShards.length).toBeGreaterThan(0);
    expect(listShards.map((s) => s.Resource)).toEqual(listShards.map(() => ({ 'Fn::GetAtt': [expect.stringMatching(/^Stream/), 'Arn'] })));
  });

  test('writes a stable application name into the leases (APPLICATION_NAME), its own or the one given, and grants ListShards on the stream for the lineage', () => {
    // Act
    const byDefault = build();
    const named = build({ applicationName: 'billing' });
    const off = build({ checkpointing: false });
    // Assess
    expect(byDefault.consumer.applicationName).toBe(byDefault.consumer.serviceName);
    byDefault.template.hasResourceProperties(
      'AWS::Lambda::Function',
      consumerVariables({ APPLICATION_NAME: byDefault.consumer.serviceName }),
    );
    named.template.hasResourceProperties('AWS::Lambda::Function', consumerVariables({ APPLICATION_NAME: 'billing' }));
    off.template.hasResourceProperties('AWS::Lambda::Function', consumerVariables({ APPLICATION_NAME: Match.absent() }));
    const statements = Object.values(byDefault.template.findResources('AWS::IAM::Policy')).flatMap(
      (policy) =>
        (policy as { Properties: { PolicyDocument: { Statement: Array<{ Action: string | string[]; Resource: unknown }> } } }).Properties
          .PolicyDocument.Statement,
    );
    const listShards = statements.filter((s) => ([] as string[]).concat(s.Action).includes('kinesis:ListShards'));
    expect(listShards.map((s) => s.Resource)).toEqual(listShards.map(() => ({ 'Fn::GetAtt': [expect.stringMatching(/^Stream/), 'Arn'] })));
    expect(listShards.length).toBeGreaterThan(0);
  });

  test('refuses a lease table given to a second consumer, naming the rule and both consumers', () => {
    // Prepare
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream');
    const leaseTable = new LeaseTable(stack, 'Shared');
    new ConsumerFunction(stack, 'Billing', { stream, processorEntry: EXAMPLE_PROCESSOR_ENTRY, leaseTable });
    // Act / Assess
    expect(() => new ConsumerFunction(stack, 'Analytics', { stream, processorEntry: EXAMPLE_PROCESSOR_ENTRY, leaseTable })).toThrow(
      /LeaseTable \S*Shared: one lease table per consumer application .*lease table of \S*Billing and cannot also be given to \S*Analytics/,
    );
    expect(leaseTable.boundConsumer?.node.id).toBe('Billing');
  });

  test('uses a given lease table and queue, and reads through enhanced fan-out when asked', () => {
    // Prepare
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream');
    const leaseTable = new LeaseTable(stack, 'Shared', { leaseOwnerIndex: true });
    const queue = new sqs.Queue(stack, 'Mine', { enforceSSL: true });
    // Act
    const consumer = new ConsumerFunction(stack, 'Consumer', {
      stream,
      processorEntry: EXAMPLE_PROCESSOR_ENTRY,
      leaseTable,
      onFailureQueue: queue,
      enhancedFanOut: true,
    });
    // Assess
    const template = Template.fromStack(stack);
    expect(consumer.leaseTable).toBe(leaseTable);
    expect(consumer.onFailureQueue).toBe(queue);
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 1);
    template.resourceCountIs('AWS::SQS::Queue', 1);
    template.hasResourceProperties('AWS::Kinesis::StreamConsumer', { StreamARN: streamArn });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ConsumerFanOut'), 'ConsumerARN'] },
    });
  });

  test("RecordOrdering carries the handler contract's values", () => {
    // Assess
    expect(RecordOrdering).toEqual({ PARTITION_KEY: Ordering.PARTITION_KEY, SHARD: Ordering.SHARD });
    expect([RecordOrdering.PARTITION_KEY, RecordOrdering.SHARD]).toEqual(['partition-key', 'shard']);
  });

  test('passes ordering and maxConcurrency to the handler', () => {
    // Act
    const { template, consumer } = build({ ordering: RecordOrdering.PARTITION_KEY, maxConcurrency: 1_000 });
    // Assess
    expect([consumer.ordering, consumer.maxConcurrency]).toEqual(['partition-key', 1000]);
    template.hasResourceProperties('AWS::Lambda::Function', consumerVariables({ ORDERING: 'partition-key', MAX_CONCURRENCY: '1000' }));
  });

  test('SHARD ordering runs one record at a time: MAX_CONCURRENCY 1 by default, and an explicit 1 is accepted', () => {
    // Act
    const byDefault = build({ ordering: RecordOrdering.SHARD });
    const explicit = build({ ordering: RecordOrdering.SHARD, maxConcurrency: 1 });
    // Assess
    expect(byDefault.consumer.maxConcurrency).toBe(1);
    for (const { template } of [byDefault, explicit]) {
      template.hasResourceProperties('AWS::Lambda::Function', consumerVariables({ ORDERING: 'shard', MAX_CONCURRENCY: '1' }));
    }
  });

  test('with checkpointing, a parallelization factor above 1 is accepted: on the mapping, told to the handler, with the lease table', () => {
    // Act
    const { template, consumer } = build({ parallelizationFactor: 10 });
    // Assess
    expect(consumer.checkpointing).toBe(true);
    expect(consumer.maxParallelizationFactor).toBe(10);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { EventSourceArn: streamArn, ParallelizationFactor: 10 });
    template.hasResourceProperties(
      'AWS::Lambda::Function',
      consumerVariables({ MAX_PARALLELIZATION_FACTOR: '10', LEASE_TABLE_NAME: { Ref: Match.stringLikeRegexp('^ConsumerLeases') } }),
    );
  });

  test('allowParallelizationFactor raises MAX_PARALLELIZATION_FACTOR, never lowers it, and leaves the mapping alone', () => {
    // Prepare
    const raised = construct();
    const kept = construct({ parallelizationFactor: 4 });
    // Act
    raised.consumer.allowParallelizationFactor(10);
    kept.consumer.allowParallelizationFactor(2);
    // Assess
    expect([raised.consumer.maxParallelizationFactor, kept.consumer.maxParallelizationFactor]).toEqual([10, 4]);
    const raisedTemplate = Template.fromStack(raised.stack);
    raisedTemplate.hasResourceProperties('AWS::Lambda::Function', consumerVariables({ MAX_PARALLELIZATION_FACTOR: '10' }));
    raisedTemplate.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ParallelizationFactor: 1 });
    Template.fromStack(kept.stack).hasResourceProperties('AWS::Lambda::Function', consumerVariables({ MAX_PARALLELIZATION_FACTOR: '4' }));
  });

  test('allowParallelizationFactor with an unresolved factor tells the handler the highest, 10', () => {
    // Prepare
    const { consumer, stack } = construct({ parallelizationFactor: Lazy.number({ produce: () => 3 }) });
    // Act
    consumer.allowParallelizationFactor(2);
    // Assess
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', consumerVariables({ MAX_PARALLELIZATION_FACTOR: '10' }));
  });

  test.each([0, 11, 2.5])('allowParallelizationFactor rejects %p', (max) => {
    // Prepare
    const { consumer } = build();
    // Act / Assess
    expect(() => consumer.allowParallelizationFactor(max)).toThrow(
      new RegExp(`allowParallelizationFactor\\(max\\) must be a whole number from 1 to 10; received ${max}`),
    );
  });

  test('skips unresolved tokens in validation', () => {
    // Act
    const { template } = build({
      ordering: RecordOrdering.SHARD,
      maxConcurrency: Lazy.number({ produce: () => 1 }),
      parallelizationFactor: Lazy.number({ produce: () => 2 }),
    });
    // Assess
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ParallelizationFactor: 2 });
    template.hasResourceProperties(
      'AWS::Lambda::Function',
      consumerVariables({ ORDERING: 'shard', MAX_CONCURRENCY: '1', MAX_PARALLELIZATION_FACTOR: '2' }),
    );
  });

  test('without checkpointing: no table, at any parallelization factor', () => {
    // Act
    const { template, consumer } = build({ checkpointing: false, parallelizationFactor: 10 });
    // Assess
    expect(consumer.leaseTable).toBeUndefined();
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 0);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ParallelizationFactor: 10 });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ LEASE_TABLE_NAME: Match.absent() }) },
    });
  });

  test.each([
    [{ batchSize: 0 }, /batchSize must be a whole number from 1 to 10000; received 0/],
    [{ batchSize: 10_001 }, /batchSize .* received 10001/],
    [{ parallelizationFactor: 11 }, /parallelizationFactor must be a whole number from 1 to 10; received 11/],
    [{ parallelizationFactor: 0, checkpointing: false }, /parallelizationFactor must be a whole number from 1 to 10; received 0/],
    [{ maxConcurrency: 0 }, /maxConcurrency must be a whole number from 1 to 1000; received 0/],
    [{ maxConcurrency: 1_001 }, /maxConcurrency must be a whole number from 1 to 1000; received 1001/],
    [{ maxConcurrency: 1.5 }, /maxConcurrency must be a whole number from 1 to 1000; received 1.5/],
    [{ ordering: 'key' as RecordOrdering }, /ordering must be one of 'partition-key', 'shard' \(RecordOrdering\); received 'key'/],
    [
      { ordering: RecordOrdering.SHARD, maxConcurrency: 16 },
      /maxConcurrency must be 1 \(or unset\) with ordering RecordOrdering.SHARD .*received maxConcurrency 16/,
    ],
    [
      { maxBatchingWindow: Duration.seconds(301) },
      /maxBatchingWindow must be whole seconds from 0 seconds to 5 minutes; received 5 minutes 1 second/,
    ],
    [
      { tumblingWindow: Duration.seconds(60) },
      /tumblingWindow is not supported: Lambda's window state is at least once .*received a tumblingWindow/,
    ],
    [{ applicationName: '' }, /applicationName must be 1 to 256 characters; received '' \(0 characters\)/],
    [{ applicationName: 'a'.repeat(257) }, /applicationName must be 1 to 256 characters; received 'a+' \(257 characters\)/],
    [
      { applicationName: 'billing', checkpointing: false },
      /applicationName names the leases, so it needs checkpointing; received applicationName 'billing' with checkpointing: false/,
    ],
    [{ maxRecordAge: Duration.seconds(59) }, /maxRecordAge must be whole seconds from 1 minute to 7 days; received 59 seconds/],
    [{ maxRecordAge: Duration.days(8) }, /maxRecordAge .* received 8 days/],
    [
      { retryAttempts: -2 },
      /retryAttempts must be a whole number from 0 to 10000 \(or -1 for retries until the records expire\); received -2$/,
    ],
    [{ memorySize: 64 }, /memorySize must be a whole number from 128 to 10240 \(MB, the Lambda limits\); received 64$/],
    [{ memorySize: 10_241 }, /memorySize must be a whole number from 128 to 10240 .*received 10241$/],
    [
      { timeout: Duration.minutes(20) },
      /timeout must be whole seconds from 6 seconds to 15 minutes \(the Lambda maximum\); with checkpointing at least 6 seconds.*received 20 minutes$/,
    ],
    [{ timeout: Duration.seconds(5) }, /timeout must be whole seconds from 6 seconds to 15 minutes .*received 5 seconds$/],
    [
      { timeout: Duration.minutes(16), checkpointing: false },
      /timeout must be whole seconds from 1 second to 15 minutes \(the Lambda maximum\); received 16 minutes$/,
    ],
    [
      { timeout: Duration.millis(1500), checkpointing: false },
      /timeout must be whole seconds from 1 second to 15 minutes .*received 1 second 500 millis$/,
    ],
    [{ startingPosition: lambda.StartingPosition.AT_TIMESTAMP }, /AT_TIMESTAMP needs startingPositionTimestamp/],
    [{ startingPositionTimestamp: 1 }, /startingPositionTimestamp applies to startingPosition AT_TIMESTAMP only/],
    [{ processorEntry: '/nope/processor.ts' }, /processorEntry must be the path of an existing .* received '\/nope\/processor.ts'/],
    [{ checkpointing: false, leaseTable: {} as LeaseTable }, /leaseTable needs checkpointing/],
    [
      { outOfRangeRecords: 'drop' as OutOfRangeRecords },
      /outOfRangeRecords must be one of 'process', 'skip' \(OutOfRangeRecords\); received 'drop'/,
    ],
  ])('rejects %o', (props, message) => {
    // Act / Assess
    expect(() => build(props as Partial<ConsumerFunctionProps>)).toThrow(message);
  });

  test('metrics carry the namespace and service dimension; iterator age is AWS/Lambda Maximum', () => {
    // Prepare
    const { consumer, stack } = build();
    // Act
    const metrics = [
      consumer.metricUserRecords(),
      consumer.metricDuplicatesSkipped(),
      consumer.metricProcessingFailures(),
      consumer.metricOutOfRangeSkipped(),
      consumer.metricCheckpointLag({ period: Duration.minutes(5) }),
      consumer.metricLeaseWriteConflicts(),
      consumer.metricProgressKeys(),
      consumer.metricProgressEvicted(),
      consumer.metricCorruptRecords(),
      consumer.metricEmptyAggregates(),
    ];
    const age = consumer.metricIteratorAge();
    // Assess
    expect(metrics.map((m) => [m.namespace, m.metricName, m.statistic])).toEqual([
      ['KinesisPipeline', 'UserRecords', 'Sum'],
      ['KinesisPipeline', 'DuplicatesSkipped', 'Sum'],
      ['KinesisPipeline', 'ProcessingFailures', 'Sum'],
      ['KinesisPipeline', 'OutOfRangeSkipped', 'Sum'],
      ['KinesisPipeline', 'CheckpointLag', 'Maximum'],
      ['KinesisPipeline', 'LeaseWriteConflicts', 'Sum'],
      ['KinesisPipeline', 'ProgressKeys', 'Maximum'],
      ['KinesisPipeline', 'ProgressEvicted', 'Sum'],
      ['KinesisPipeline', 'CorruptRecords', 'Sum'],
      ['KinesisPipeline', 'EmptyAggregates', 'Sum'],
    ]);
    expect(metrics.every((m) => m.dimensions?.service === consumer.serviceName)).toBe(true);
    expect(metrics[0].dimensions).toEqual({ service: consumer.serviceName });
    expect(metrics[4].period.toMinutes()).toBe(5);
    expect([age.namespace, age.metricName, age.statistic]).toEqual(['AWS/Lambda', 'IteratorAge', 'Maximum']);
    expect(stack.resolve(age.dimensions)).toEqual({ FunctionName: { Ref: expect.stringMatching(/^Consumer/) } });
  });
});

describe('StreamingPipeline consumer', () => {
  test('is on by default with the example processor and a lease table, and the autoscaler may raise its parallelization factor', () => {
    // Prepare
    const stack = testStack();
    // Act
    const pipeline = new StreamingPipeline(stack, 'Pipeline');
    // Assess
    const template = Template.fromStack(stack);
    expect(pipeline.consumer).toBeInstanceOf(ConsumerFunction);
    expect(pipeline.leaseTable).toBe(pipeline.consumer?.leaseTable);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ParallelizationFactor: 1,
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ ADJUST_PARALLELIZATION: 'true' }) },
    });
    expect(scalerConsumers(template).map((consumer) => consumer.functionName)).toEqual([expect.stringMatching(/^<Ref:PipelineConsumer/)]);
    template.hasResourceProperties(
      'AWS::Lambda::Function',
      consumerVariables({ MAX_PARALLELIZATION_FACTOR: '10', LEASE_TABLE_NAME: { Ref: Match.stringLikeRegexp('^PipelineConsumerLeases') } }),
    );
  });

  test('can be turned off', () => {
    // Prepare
    const stack = testStack();
    // Act
    const pipeline = new StreamingPipeline(stack, 'Off', { consumer: false });
    // Assess
    expect(pipeline.consumer).toBeUndefined();
    Template.fromStack(stack).resourceCountIs('AWS::Lambda::EventSourceMapping', 0);
  });

  test('accepts adjustParallelization: true with checkpointing and passes ordering, concurrency and a factor above 1 through', () => {
    // Prepare
    const stack = testStack();
    // Act
    const pipeline = new StreamingPipeline(stack, 'Pipeline', {
      consumer: { parallelizationFactor: 2, ordering: RecordOrdering.PARTITION_KEY, maxConcurrency: 50 },
      autoscaling: { adjustParallelization: true },
    });
    // Assess
    const template = Template.fromStack(stack);
    expect(pipeline.consumer?.checkpointing).toBe(true);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ParallelizationFactor: 2 });
    template.hasResourceProperties(
      'AWS::Lambda::Function',
      consumerVariables({ ORDERING: 'partition-key', MAX_CONCURRENCY: '50', MAX_PARALLELIZATION_FACTOR: '10' }),
    );
  });

  test('is clean under cdk-nag', () => {
    // Prepare
    const app = testApp();
    const stack = new Stack(app, 'Nag');
    new ConsumerFunction(stack, 'Consumer', { stream: new DataStream(stack, 'Stream'), processorEntry: EXAMPLE_PROCESSOR_ENTRY });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    // Act
    const violations = nagViolations(app);
    // Assess
    expect(violations).toEqual([]);
  });
});

describe('ConsumerFunction Lambda props', () => {
  test('vpc, subnets, security groups, tracing, layers and reserved concurrency reach the function', () => {
    const stack = testStack();
    const vpc = new ec2.Vpc(stack, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'isolated', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
    });
    const securityGroup = new ec2.SecurityGroup(stack, 'Sg', { vpc });
    const layer = lambda.LayerVersion.fromLayerVersionArn(stack, 'Layer', 'arn:aws:lambda:eu-west-1:111122223333:layer:pg:3');
    const stream = new DataStream(stack, 'Stream');
    new ConsumerFunction(stack, 'Consumer', {
      stream,
      processorEntry: EXAMPLE_PROCESSOR_ENTRY,
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      securityGroups: [securityGroup],
      tracing: lambda.Tracing.ACTIVE,
      layers: [layer],
      reservedConcurrentExecutions: 4,
      bundling: { minify: false, esbuildArgs: { '--log-level': 'warning' } },
    });

    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ ORDERING: Match.anyValue() }) },
      VpcConfig: {
        SecurityGroupIds: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^Sg'), 'GroupId'] }],
        SubnetIds: Match.arrayWith([{ Ref: Match.stringLikeRegexp('^VpcisolatedSubnet1') }]),
      },
      TracingConfig: { Mode: 'Active' },
      Layers: ['arn:aws:lambda:eu-west-1:111122223333:layer:pg:3'],
      ReservedConcurrentExecutions: 4,
    });
    template.hasResourceProperties('AWS::IAM::Role', {
      ManagedPolicyArns: [
        { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole']] },
      ],
    });
  });

  test('on-failure destination SNS: the mapping names the topic and the role may publish to it only', () => {
    const stack = testStack();
    const topic = new sns.Topic(stack, 'Failed');
    const stream = new DataStream(stack, 'Stream');
    const consumer = new ConsumerFunction(stack, 'Consumer', {
      stream,
      processorEntry: EXAMPLE_PROCESSOR_ENTRY,
      onFailure: ConsumerFailureDestination.topic(topic),
    });

    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      DestinationConfig: { OnFailure: { Destination: { Ref: Match.stringLikeRegexp('^Failed') } } },
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Action: 'sns:Publish', Resource: { Ref: Match.stringLikeRegexp('^Failed') } })]),
      },
    });
    template.resourceCountIs('AWS::SQS::Queue', 0);
    expect(consumer.onFailureQueue).toBeUndefined();
    expect(consumer.onFailureDestination.topic).toBe(topic);
  });

  test('on-failure destination S3: the mapping names the bucket and the role may write to it', () => {
    const stack = testStack();
    const bucket = new s3.Bucket(stack, 'Failed');
    const stream = new DataStream(stack, 'Stream');
    new ConsumerFunction(stack, 'Consumer', {
      stream,
      processorEntry: EXAMPLE_PROCESSOR_ENTRY,
      onFailure: ConsumerFailureDestination.bucket(bucket),
    });

    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Failed'), 'Arn'] } } },
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: Match.arrayWith([Match.stringLikeRegexp('^s3:PutObject')]),
            Resource: Match.arrayWith([{ 'Fn::Join': ['', [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^Failed'), 'Arn'] }, '/*']] }]),
          }),
        ]),
      },
    });
  });

  test('on-failure destination SQS through onFailure keeps the queue for monitoring', () => {
    const stack = testStack();
    const queue = new sqs.Queue(stack, 'Failed', { enforceSSL: true });
    const stream = new DataStream(stack, 'Stream');
    const consumer = new ConsumerFunction(stack, 'Consumer', {
      stream,
      processorEntry: EXAMPLE_PROCESSOR_ENTRY,
      onFailure: ConsumerFailureDestination.queue(queue),
    });

    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Failed'), 'Arn'] } } },
    });
    expect(consumer.onFailureQueue).toBe(queue);
  });

  test.each([
    [
      'onFailure with onFailureQueue',
      (stack: Stack) => ({
        onFailure: ConsumerFailureDestination.queue(new sqs.Queue(stack, 'A')),
        onFailureQueue: new sqs.Queue(stack, 'B'),
      }),
      /give either onFailure or onFailureQueue, not both; received both/,
    ],
    [
      'securityGroups without vpc',
      (stack: Stack) => ({ securityGroups: [ec2.SecurityGroup.fromSecurityGroupId(stack, 'Sg', 'sg-12345')] }),
      /securityGroups needs vpc .*received securityGroups without vpc/,
    ],
    [
      'vpcSubnets without vpc',
      () => ({ vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED } }),
      /vpcSubnets needs vpc .*received vpcSubnets without vpc/,
    ],
    [
      'reservedConcurrentExecutions 0',
      () => ({ reservedConcurrentExecutions: 0 }),
      /reservedConcurrentExecutions must be a whole number of at least 1 .*received 0$/,
    ],
  ])('rejects %s', (_name, props, message) => {
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream');

    expect(() => new ConsumerFunction(stack, 'Consumer', { stream, processorEntry: EXAMPLE_PROCESSOR_ENTRY, ...props(stack) })).toThrow(
      message,
    );
  });
});
