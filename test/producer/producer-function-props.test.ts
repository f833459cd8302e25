import * as fs from 'fs';
import * as path from 'path';
import { Duration, Size, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DataStream, ProducerFunction, type ProducerFunctionProps } from '../../lib';
import { testApp, testStack } from '../helpers/app';
import { nagViolations } from '../helpers/nag';

const MiB = 1024 * 1024;

function build(
  streamProps: ConstructorParameters<typeof DataStream>[2] = {},
  props: Partial<ProducerFunctionProps> = {},
  stack: Stack = testStack(),
) {
  const stream = new DataStream(stack, 'Stream', streamProps);
  const producer = new ProducerFunction(stack, 'Producer', { stream, ...props });
  return { stack, stream, producer, template: Template.fromStack(stack) };
}

function producerEnv(template: Template): Record<string, unknown> {
  const functions = template.findResources('AWS::Lambda::Function', {
    Properties: { Environment: { Variables: { STREAM_NAME: Match.anyValue() } } },
  });
  const [fn] = Object.values(functions) as Array<{ Properties: { Environment: { Variables: Record<string, unknown> } } }>;
  return fn.Properties.Environment.Variables;
}

describe('ProducerFunction limits follow the stream', () => {
  test('on a default stream: 1 MiB records, 5 MiB requests, 500 entries', () => {
    const { template } = build();

    expect(producerEnv(template)).toMatchObject({
      MAX_ENTRY_BYTES: String(MiB),
      MAX_BATCH_BYTES: String(5 * MiB),
      MAX_BATCH_ENTRIES: '500',
    });
  });

  test('on a 10 MiB stream: 10 MiB records and the documented 10 MiB request', () => {
    const { template } = build({ maxRecordSize: Size.mebibytes(10) });

    expect(producerEnv(template)).toMatchObject({ MAX_ENTRY_BYTES: String(10 * MiB), MAX_BATCH_BYTES: String(10 * MiB) });
  });

  test('on an imported stream with its maxRecordSize', () => {
    const stack = testStack();
    const stream = DataStream.fromStreamAttributes(stack, 'Imported', {
      streamArn: 'arn:aws:kinesis:eu-west-1:111122223333:stream/orders',
      maxRecordSize: Size.mebibytes(6),
    });

    new ProducerFunction(stack, 'Producer', { stream });

    expect(producerEnv(Template.fromStack(stack))).toMatchObject({ MAX_ENTRY_BYTES: String(6 * MiB), MAX_BATCH_BYTES: String(10 * MiB) });
  });

  test("a smaller maxRecordSize and larger aggregates are taken up to the stream's limit", () => {
    const { template } = build(
      { maxRecordSize: Size.mebibytes(10) },
      { maxRecordSize: Size.mebibytes(4), maxAggregateSize: Size.mebibytes(2), maxBatchSize: Size.mebibytes(8) },
    );

    expect(producerEnv(template)).toMatchObject({
      MAX_ENTRY_BYTES: String(4 * MiB),
      MAX_AGGREGATE_BYTES: String(2 * MiB),
      MAX_BATCH_BYTES: String(8 * MiB),
    });
  });

  test.each([
    [
      "maxRecordSize above the stream's",
      { maxRecordSize: Size.mebibytes(3) },
      /ProducerFunction Producer: maxRecordSize must be from 1 bytes to 2097152 bytes \(the stream's maxRecordSize\); received 3145728 bytes/,
    ],
    [
      "maxAggregateSize above the stream's",
      { maxAggregateSize: Size.kibibytes(2049) },
      /ProducerFunction Producer: maxAggregateSize must be from 64 bytes to 2097152 bytes \(the stream's maxRecordSize\); received 2098176 bytes/,
    ],
  ])('refuses %s', (_name, props, message) => {
    expect(() => build({ maxRecordSize: Size.mebibytes(2) }, props)).toThrow(message);
  });
});

describe('ProducerFunction retry delays', () => {
  test('refuses a baseRetryDelay above the default maxRetryDelay, naming both', () => {
    expect(() => build({}, { baseRetryDelay: Duration.seconds(10) })).toThrow(
      /ProducerFunction Producer: baseRetryDelay must not exceed maxRetryDelay \(5 seconds, the default\); received baseRetryDelay 10 seconds/,
    );
  });

  test('refuses a maxRetryDelay below the default baseRetryDelay', () => {
    expect(() => build({}, { maxRetryDelay: Duration.millis(50) })).toThrow(
      /baseRetryDelay must not exceed maxRetryDelay \(50 millis\); received baseRetryDelay 100 millis/,
    );
  });

  test('takes a base above the default cap when the cap is raised too', () => {
    const { template } = build({}, { baseRetryDelay: Duration.seconds(10), maxRetryDelay: Duration.seconds(30) });

    expect(producerEnv(template)).toMatchObject({ RETRY_BASE_MS: '10000', RETRY_MAX_MS: '30000' });
  });
});

describe('ProducerFunction Lambda props', () => {
  test('vpc, subnets and security groups: VpcConfig, and the role may manage network interfaces', () => {
    // Prepare
    const stack = testStack();
    const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
    const sg = new ec2.SecurityGroup(stack, 'Sg', { vpc });

    // Act
    const { template } = build({}, { vpc, vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }, securityGroups: [sg] }, stack);

    // Assess
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ STREAM_NAME: Match.anyValue() }) },
      VpcConfig: {
        SecurityGroupIds: [stack.resolve(sg.securityGroupId)],
        SubnetIds: stack.resolve(vpc.privateSubnets.map((subnet) => subnet.subnetId)),
      },
    });
    template.hasResourceProperties('AWS::IAM::Role', {
      Description: Match.stringLikeRegexp('^Producer'),
      ManagedPolicyArns: [{ 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('service-role/AWSLambdaVPCAccessExecutionRole')])] }],
    });
  });

  test('refuses subnets or security groups without a vpc, naming the prop', () => {
    expect(() => build({}, { vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS } })).toThrow(
      /ProducerFunction Producer: vpcSubnets needs vpc \(the function's network\); received vpcSubnets without vpc/,
    );
  });

  test('tracing and layers', () => {
    const stack = testStack();
    const layer = lambda.LayerVersion.fromLayerVersionArn(stack, 'Layer', 'arn:aws:lambda:eu-west-1:111122223333:layer:otel:3');

    const { template } = build({}, { tracing: lambda.Tracing.ACTIVE, layers: [layer] }, stack);

    template.hasResourceProperties('AWS::Lambda::Function', {
      TracingConfig: { Mode: 'Active' },
      Layers: ['arn:aws:lambda:eu-west-1:111122223333:layer:otel:3'],
    });
  });

  test("user environment variables are merged with the handler's", () => {
    const { template } = build({}, { environment: { TEAM: 'orders', LOG_LEVEL: 'DEBUG' } });

    expect(producerEnv(template)).toMatchObject({
      TEAM: 'orders',
      LOG_LEVEL: 'DEBUG',
      MAX_ENTRY_BYTES: String(MiB),
      NODE_OPTIONS: '--enable-source-maps',
    });
  });

  test.each<[string, Partial<ProducerFunctionProps>, RegExp]>([
    [
      'a handler setting',
      { environment: { MAX_ENTRY_BYTES: '10' } },
      /ProducerFunction Producer: environment must not set 'MAX_ENTRY_BYTES': the construct sets it/,
    ],
    ['a library default', { environment: { NODE_OPTIONS: '--inspect' } }, /environment must not set 'NODE_OPTIONS'/],
    [
      'the progress table even without deduplication',
      { environment: { PROGRESS_TABLE_NAME: 'mine' }, deduplication: false },
      /environment must not set 'PROGRESS_TABLE_NAME'/,
    ],
  ])('refuses a variable that collides with %s, naming it', (_name, props, message) => {
    expect(() => build({}, props)).toThrow(message);
  });

  test('a producer in a VPC, traced, on a 10 MiB stream is clean under cdk-nag', () => {
    // Prepare
    const app = testApp();
    const stack = new Stack(app, 'Nag');
    const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
      vpcId: 'vpc-0123456789abcdef0',
      availabilityZones: ['eu-west-1a'],
      privateSubnetIds: ['subnet-0123456789abcdef0'],
      privateSubnetRouteTableIds: ['rtb-0123456789abcdef0'],
    });
    const stream = new DataStream(stack, 'Stream', { maxRecordSize: Size.mebibytes(10) });
    new ProducerFunction(stack, 'Producer', { stream, vpc, tracing: lambda.Tracing.ACTIVE, environment: { TEAM: 'orders' } });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    // Act / Assess
    expect(nagViolations(app)).toEqual([]);
  });

  test('bundling overrides are honoured and the credential alias stays (bundled for real)', () => {
    // Prepare
    const app = testApp({ bundle: true });
    const stack = new Stack(app, 'Bundled');

    // Act
    build({}, { bundling: { footer: '// producer-footer-marker', esbuildArgs: { '--log-level': 'error' } } }, stack);
    const assembly = app.synth();

    // Assess
    const artifact = assembly.getStackByName('Bundled');
    const template = artifact.template as {
      Resources: Record<
        string,
        { Type: string; Properties: { Code?: { S3Key?: string }; Environment?: { Variables?: Record<string, unknown> } } }
      >;
    };
    const fn = Object.values(template.Resources).find(
      (r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment?.Variables?.STREAM_NAME !== undefined,
    )!;
    const hash = String(fn.Properties.Code!.S3Key).replace(/\.zip$/, '');
    const bundle = fs.readFileSync(path.join(assembly.directory, `asset.${hash}`, 'index.mjs'), 'utf8');
    expect(bundle).toContain('// producer-footer-marker');
    expect(bundle.startsWith('import { createRequire as __cr }')).toBe(true); // the library's banner stays
    expect(bundle).not.toContain('AWS_WEB_IDENTITY_TOKEN_FILE'); // the SDK's provider chain (web identity among it) is still aliased away
  }, 120_000);
});
