import { execFile, execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { ACCOUNT, ONCALL_EMAIL, ORDERS_KEY_ARN, ORDERS_MAX_RECORD_MIB, ORDERS_STREAM_ARN } from '../fixtures/user-app/existing-resources';
import { CDK_JSON_CONTEXT } from '../helpers/app';
import { compileApp, createAppDir, PACKAGE, packedInstall, ROOT, type PackedInstall } from '../helpers/packed-app';

/**
 * A user's own CDK app (test/fixtures/user-app) around a stream that already exists, installed
 * from the packed tarball: it imports the stream by ARN with its customer managed key and wires a
 * producer, two checkpointing consumers (one on enhanced fan-out), an archive, the autoscaler and
 * monitoring to it. It is type-checked against the shipped declarations and synthesized with the
 * CDK CLI as a user runs it, asset bundling included (the processors are the user's TypeScript,
 * bundled from the app's folder), with cdk-nag's AwsSolutions pack registered by the app.
 */
const FIXTURE = path.join(__dirname, '../fixtures/user-app');
const STACK = 'OrdersPipeline';
const CDK_CLI = path.join(ROOT, 'node_modules/aws-cdk/bin/cdk');
const run = promisify(execFile);

interface SynthResult {
  readonly outdir: string;
  readonly exitCode: number;
  readonly output: string;
}

interface Problem {
  readonly source: 'cdk-nag' | 'annotation';
  readonly severity: string;
  readonly rule: string;
  readonly paths: string[];
}

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown>; Metadata?: Record<string, string> }>;

/**
 * `cdk synth` in the app folder. The child gets no AWS credentials or profile and no instance
 * metadata endpoint: the stacks name their account and region, and nothing may call AWS.
 */
async function cdkSynth(appDir: string, entry: string, outdir: string): Promise<SynthResult> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: path.join(appDir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: path.join(appDir, 'no-aws-credentials'),
  };
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_DEFAULT_PROFILE']) {
    delete env[name];
  }
  try {
    const { stdout, stderr } = await run(process.execPath, [CDK_CLI, 'synth', '--quiet', '--app', `node ${entry}`, '--output', outdir], {
      cwd: appDir,
      env,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { outdir: path.join(appDir, outdir), exitCode: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return {
      outdir: path.join(appDir, outdir),
      exitCode: typeof failed.code === 'number' ? failed.code : -1,
      output: `${failed.stdout ?? ''}${failed.stderr ?? ''}`,
    };
  }
}

/**
 * Every cdk-nag violation in the assembly's validation report, and every error or warning
 * annotation in its metadata: what a user would see as a failed or noisy synth.
 */
function problemsOf(outdir: string): Problem[] {
  const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')) as {
    pluginReports: Array<{
      violations?: Array<{ ruleName: string; severity: string; violatingConstructs?: Array<{ constructPath?: string }> }>;
    }>;
  };
  const nag = report.pluginReports.flatMap((plugin) =>
    (plugin.violations ?? []).map((violation): Problem => ({
      source: 'cdk-nag',
      severity: violation.severity,
      rule: violation.ruleName,
      paths: (violation.violatingConstructs ?? []).map((construct) => construct.constructPath ?? '?'),
    })),
  );
  const annotations = fs
    .readdirSync(outdir)
    .filter((file) => file.endsWith('.metadata.json') || file === 'manifest.json')
    .flatMap((file) => {
      const json = JSON.parse(fs.readFileSync(path.join(outdir, file), 'utf8')) as Record<string, unknown>;
      const byPath = (
        file === 'manifest.json'
          ? Object.values((json.artifacts ?? {}) as Record<string, { metadata?: Record<string, unknown> }>).map(
              (artifact) => artifact.metadata ?? {},
            )
          : [json]
      ) as Array<Record<string, Array<{ type: string; data: unknown }>>>;
      return byPath.flatMap((entries) =>
        Object.entries(entries).flatMap(([constructPath, list]) =>
          list
            .filter((entry) => entry.type === 'aws:cdk:error' || entry.type === 'aws:cdk:warning')
            .map((entry): Problem => ({
              source: 'annotation',
              severity: entry.type.slice('aws:cdk:'.length),
              rule: String(entry.data),
              paths: [constructPath],
            })),
        ),
      );
    });
  return [...nag, ...annotations];
}

function readTemplate(outdir: string, stack: string): Template {
  return Template.fromJSON(JSON.parse(fs.readFileSync(path.join(outdir, `${stack}.template.json`), 'utf8')) as Record<string, unknown>);
}

/** The logical id of the one resource of `type` at construct path `cdkPath`. */
function logicalId(resources: Resources, type: string, cdkPath: string): string {
  const ids = Object.entries(resources)
    .filter(([, resource]) => resource.Type === type && resource.Metadata?.['aws:cdk:path'] === cdkPath)
    .map(([id]) => id);
  expect(ids).toHaveLength(1);
  return ids[0];
}

/** The logical id of the role a function runs as. */
function roleOf(resources: Resources, functionId: string): string {
  const role = resources[functionId].Properties?.Role as { 'Fn::GetAtt': [string, string] };
  return role['Fn::GetAtt'][0];
}

/** Every statement of every IAM policy attached to the role. */
function statementsOf(resources: Resources, roleId: string): Array<{ Action: string | string[]; Resource: unknown }> {
  return Object.values(resources)
    .filter(
      (resource) =>
        resource.Type === 'AWS::IAM::Policy' && JSON.stringify(resource.Properties?.Roles) === JSON.stringify([{ Ref: roleId }]),
    )
    .flatMap(
      (policy) => (policy.Properties!.PolicyDocument as { Statement: Array<{ Action: string | string[]; Resource: unknown }> }).Statement,
    );
}

function actionsOf(statement: { Action: string | string[] }): string[] {
  return typeof statement.Action === 'string' ? [statement.Action] : statement.Action;
}

describe('a user app installed from the packed tarball, around an existing stream', () => {
  let install: PackedInstall;
  let appDir: string;
  let app: SynthResult;
  let canary: SynthResult;
  let template: Template;
  let resources: Resources;
  const ids = { producer: '', fulfilment: '', audit: '', scaler: '', fanOut: '', topic: '' };

  beforeAll(async () => {
    // Prepare: the installed package, the user's app copied next to it, a cdk.json as `cdk init`
    // writes (the recommended feature flags, the same as this repository's), compiled with tsc.
    install = await packedInstall();
    appDir = createAppDir(install, 'user-app');
    fs.cpSync(FIXTURE, appDir, { recursive: true });
    fs.writeFileSync(
      path.join(appDir, 'cdk.json'),
      JSON.stringify({ app: 'node app.js', notices: false, context: CDK_JSON_CONTEXT }, undefined, 2),
    );
    compileApp(appDir, ['app.ts', 'nag-canary.ts', 'processors/fulfilment.ts', 'processors/audit.ts']);

    // Act: synthesize the app and the nag canary side by side.
    [app, canary] = await Promise.all([cdkSynth(appDir, 'app.js', 'cdk.out'), cdkSynth(appDir, 'nag-canary.js', 'canary.out')]);
    if (app.exitCode !== 0) {
      throw new Error(`cdk synth of the user app failed (exit ${app.exitCode}):\n${app.output}`);
    }
    template = readTemplate(app.outdir, STACK);
    resources = template.toJSON().Resources as Resources;
    ids.producer = logicalId(resources, 'AWS::Lambda::Function', `${STACK}/Producer/Resource`);
    ids.fulfilment = logicalId(resources, 'AWS::Lambda::Function', `${STACK}/Fulfilment/Resource`);
    ids.audit = logicalId(resources, 'AWS::Lambda::Function', `${STACK}/Audit/Resource`);
    ids.scaler = logicalId(resources, 'AWS::Lambda::Function', `${STACK}/Autoscaler/Function/Resource`);
    ids.fanOut = Object.keys(template.findResources('AWS::Kinesis::StreamConsumer', { Properties: { StreamARN: ORDERS_STREAM_ARN } }))[0];
    ids.topic = logicalId(resources, 'AWS::SNS::Topic', `${STACK}/Monitoring/AlarmTopic/Resource`);
  }, 900_000);

  afterAll(() => {
    if (appDir) {
      fs.rmSync(appDir, { recursive: true, force: true });
    }
  });

  test('the app compiled and ran against the installed package, not the repository', () => {
    const resolved = execFileSync(process.execPath, ['-p', `require.resolve('${PACKAGE.name}')`], { cwd: appDir, encoding: 'utf8' }).trim();

    expect(resolved).toBe(path.join(install.dir, 'node_modules', PACKAGE.name, 'dist/lib/index.js'));
    expect(fs.readFileSync(path.join(appDir, 'app.js'), 'utf8')).toContain(`require("${PACKAGE.name}")`);
    template.resourceCountIs('AWS::Kinesis::Stream', 0);
  });

  test('the producer writes to the imported stream ARN only, and encrypts with its key', () => {
    const producerRole = roleOf(resources, ids.producer);

    template.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: producerRole }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: Match.arrayWith(['kinesis:PutRecord', 'kinesis:PutRecords']), Resource: ORDERS_STREAM_ARN }),
          Match.objectLike({ Action: Match.arrayWith(['kms:Encrypt', 'kms:GenerateDataKey*']), Resource: ORDERS_KEY_ARN }),
        ]),
      },
    });
    // No other role may write to the stream, and no statement names it with a wildcard.
    const writers = Object.values(resources)
      .filter((resource) => resource.Type === 'AWS::IAM::Policy')
      .flatMap((policy) =>
        (policy.Properties!.PolicyDocument as { Statement: Array<{ Action: string | string[]; Resource: unknown }> }).Statement.filter(
          (statement) => actionsOf(statement).some((action) => action.startsWith('kinesis:Put')),
        ).map((statement) => ({ roles: policy.Properties!.Roles, resource: statement.Resource })),
      );
    expect(writers).toEqual([{ roles: [{ Ref: producerRole }], resource: ORDERS_STREAM_ARN }]);
    expect(resources[ids.producer].Properties).toEqual(expect.objectContaining({ TracingConfig: { Mode: 'Active' } }));
    // Its record limit follows the imported stream's maxRecordSize, and a request holds such a record.
    const environment = (resources[ids.producer].Properties!.Environment as { Variables: Record<string, string> }).Variables;
    expect(Number(environment.MAX_ENTRY_BYTES)).toBe(ORDERS_MAX_RECORD_MIB * 1024 * 1024);
    expect(Number(environment.MAX_BATCH_BYTES)).toBeGreaterThanOrEqual(ORDERS_MAX_RECORD_MIB * 1024 * 1024);
  });

  test('two event-source mappings: the fulfilment consumer on the stream, the audit consumer on its own enhanced fan-out consumer', () => {
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: ORDERS_STREAM_ARN,
      FunctionName: { Ref: ids.fulfilment },
      BatchSize: 200,
      MaximumBatchingWindowInSeconds: 2,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    expect(ids.fanOut).toMatch(/^AuditFanOut/);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [ids.fanOut, 'ConsumerARN'] },
      FunctionName: { Ref: ids.audit },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    expect(resources[ids.audit].Properties).toEqual(
      expect.objectContaining({ ReservedConcurrentExecutions: 20, TracingConfig: { Mode: 'Active' } }),
    );
    // The audit consumer may subscribe through its own stream consumer, and both decrypt with the stream's key.
    expect(statementsOf(resources, roleOf(resources, ids.audit))).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          Action: expect.arrayContaining(['kinesis:SubscribeToShard']),
          Resource: { 'Fn::GetAtt': [ids.fanOut, 'ConsumerARN'] },
        }),
      ]),
    );
    for (const consumer of [ids.fulfilment, ids.audit]) {
      expect(statementsOf(resources, roleOf(resources, consumer))).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ Action: expect.arrayContaining(['kinesis:GetRecords']), Resource: ORDERS_STREAM_ARN }),
          expect.objectContaining({ Action: 'kms:Decrypt', Resource: ORDERS_KEY_ARN }),
        ]),
      );
    }
  });

  test('each consumer checkpoints in a lease table of its own, with the KCL lease schema', () => {
    const leaseTables = Object.keys(
      template.findResources('AWS::DynamoDB::GlobalTable', { Properties: { KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }] } }),
    );
    const tableOf = (functionId: string) =>
      statementsOf(resources, roleOf(resources, functionId))
        .filter((statement) => actionsOf(statement).includes('dynamodb:UpdateItem'))
        .map((statement) => (statement.Resource as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0]);

    expect(leaseTables).toHaveLength(2);
    expect(tableOf(ids.fulfilment)).toEqual([expect.stringMatching(/^FulfilmentLeases/)]);
    expect(tableOf(ids.audit)).toEqual([expect.stringMatching(/^AuditLeases/)]);
    expect([...tableOf(ids.fulfilment), ...tableOf(ids.audit)].sort()).toEqual([...leaseTables].sort());
  });

  test('the archive reads the imported stream, decrypting with its key', () => {
    template.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
      DeliveryStreamType: 'KinesisStreamAsSource',
      KinesisStreamSourceConfiguration: Match.objectLike({ KinesisStreamARN: ORDERS_STREAM_ARN }),
    });
    const deliveryRole = logicalId(resources, 'AWS::IAM::Role', `${STACK}/Archive/DeliveryRole/Resource`);
    expect(statementsOf(resources, deliveryRole)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Action: expect.arrayContaining(['kinesis:GetRecords']), Resource: ORDERS_STREAM_ARN }),
        expect.objectContaining({ Action: 'kms:Decrypt', Resource: ORDERS_KEY_ARN }),
      ]),
    );
  });

  test("the autoscaler's alarms watch the stream and each consumer's lag and invoke the scaler, which may change both mappings and nothing else", () => {
    const invokeScaler = [{ 'Fn::GetAtt': [ids.scaler, 'Arn'] }];
    const prefix = `${STACK}-Autoscaler-`;

    for (const [suffix, consumer] of [
      ['ConsumerLag', ids.fulfilment],
      ['Consumer2Lag', ids.audit],
    ]) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: Match.stringLikeRegexp(`^${prefix}.*-${suffix}$`),
        Namespace: 'AWS/Lambda',
        MetricName: 'IteratorAge',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: consumer } }],
        AlarmActions: invokeScaler,
      });
    }
    for (const metricName of ['GetRecords.IteratorAgeMilliseconds', 'WriteProvisionedThroughputExceeded']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: Match.stringLikeRegexp(`^${prefix}`),
        MetricName: metricName,
        Dimensions: [{ Name: 'StreamName', Value: 'orders' }],
        AlarmActions: invokeScaler,
      });
    }
    // The scaler may change each consumer's mapping (its parallelization factor), and no other.
    const mappingArn = (mapping: RegExp) => ({
      'Fn::Join': ['', [`arn:aws:lambda:eu-west-1:${ACCOUNT}:event-source-mapping:`, { Ref: expect.stringMatching(mapping) }]],
    });
    const mappingStatements = statementsOf(resources, roleOf(resources, ids.scaler)).filter((statement) =>
      actionsOf(statement).includes('lambda:UpdateEventSourceMapping'),
    );
    expect(mappingStatements).toEqual([
      expect.objectContaining({
        Resource: expect.arrayContaining([mappingArn(/^FulfilmentKinesisEventSource/), mappingArn(/^AuditKinesisConsumerEventSource/)]),
      }),
    ]);
    expect(mappingStatements[0].Resource).toHaveLength(2);
  });

  test('monitoring alarms on both consumers notify the on-call topic, and every alarm reaches someone', () => {
    const notify = [{ Ref: ids.topic }];
    for (const consumer of [ids.fulfilment, ids.audit]) {
      for (const metricName of ['IteratorAge', 'Errors']) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          AlarmName: Match.stringLikeRegexp(`^${STACK}-Monitoring-`),
          MetricName: metricName,
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: consumer } }],
          AlarmActions: notify,
        });
      }
    }
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp(`^${STACK}-Monitoring-.*StreamIteratorAge$`),
      Dimensions: [{ Name: 'StreamName', Value: 'orders' }],
      Threshold: 12 * 3600 * 1000, // a quarter of the imported stream's 48 hours
      AlarmActions: notify,
    });
    template.hasResourceProperties('AWS::SNS::Subscription', { TopicArn: { Ref: ids.topic }, Protocol: 'email', Endpoint: ONCALL_EMAIL });

    // An alarm without actions of its own must be in the rule of a composite alarm that has some.
    const composites = Object.values(template.findResources('AWS::CloudWatch::CompositeAlarm'));
    const silent = Object.entries(template.findResources('AWS::CloudWatch::Alarm'))
      .filter(([, alarm]) => ((alarm.Properties as { AlarmActions?: unknown[] }).AlarmActions ?? []).length === 0)
      .map(([id]) => id)
      .filter(
        (id) =>
          !composites.some(
            (composite) =>
              (composite.Properties.AlarmActions ?? []).length > 0 && JSON.stringify(composite.Properties.AlarmRule).includes(`"${id}"`),
          ),
      );
    expect(Object.keys(template.findResources('AWS::CloudWatch::Alarm')).length).toBeGreaterThan(20);
    expect(silent).toEqual([]);
  });

  test("the user's processors are bundled into their consumers, every function from the installed package's handlers", () => {
    const bundleOf = (functionId: string) => {
      const assetPath = resources[functionId].Metadata!['aws:asset:path'];
      return fs.readFileSync(path.join(app.outdir, assetPath, 'index.mjs'), 'utf8');
    };
    // Which processor markers each bundle holds (booleans, so a failure does not print 400 KB of bundle).
    const markers = (functionId: string) => {
      const bundle = bundleOf(functionId);
      return {
        fulfilment: bundle.includes('user-app:fulfilment-processor'),
        audit: bundle.includes('user-app:audit-processor'),
        // The order parser both processors import, resolved from the processors' own folder.
        orderParser: bundle.includes('is not an order event'),
      };
    };

    expect(markers(ids.fulfilment)).toEqual({ fulfilment: true, audit: false, orderParser: true });
    expect(markers(ids.audit)).toEqual({ fulfilment: false, audit: true, orderParser: true });
    for (const fn of [ids.producer, ids.scaler]) {
      expect(bundleOf(fn).length).toBeGreaterThan(10_000);
    }
  });

  test('cdk-nag (AwsSolutions) finds nothing, and the synth has no error or warning annotations', () => {
    expect(problemsOf(app.outdir)).toEqual([]);
  });

  test("the same synth and report reading catch a violation: the canary's careless archive bucket fails cdk-nag", () => {
    expect(canary.exitCode).not.toBe(0);
    expect(problemsOf(canary.outdir)).toEqual(
      expect.arrayContaining([
        { source: 'cdk-nag', severity: 'error', rule: 'AwsSolutions-S1', paths: ['NagCanary/CarelessBucket/Resource'] },
        { source: 'cdk-nag', severity: 'error', rule: 'AwsSolutions-S10', paths: ['NagCanary/CarelessBucket/Resource'] },
      ]),
    );
    expect(canary.output).toMatch(/AwsSolutions-S10/);
  });
});
