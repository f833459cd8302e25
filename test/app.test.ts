import * as fs from 'fs';
import * as path from 'path';
import { Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildApp } from '../bin/build-app';
import { testApp } from './helpers/app';
import { nagViolations } from './helpers/nag';

describe('the deployable app', () => {
  test('has a provisioned (2 shards) and an on-demand pipeline stack', () => {
    const stacks = buildApp(testApp());

    expect(stacks.map((stack) => stack.stackName)).toEqual(['ProvisionedPipeline', 'OnDemandPipeline']);
    Template.fromStack(stacks[0]).hasResourceProperties('AWS::Kinesis::Stream', {
      ShardCount: 2,
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
    });
    Template.fromStack(stacks[1]).hasResourceProperties('AWS::Kinesis::Stream', { StreamModeDetails: { StreamMode: 'ON_DEMAND' } });
  });

  test('its consumers skip records outside their shard (the only producer re-sends them), reading ranges from their own stream', () => {
    for (const stack of buildApp(testApp())) {
      const template = Template.fromStack(stack);
      const streams = Object.keys(template.findResources('AWS::Kinesis::Stream'));
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ OUT_OF_RANGE_RECORDS: 'skip', STREAM_NAME: { Ref: streams[0] } }) },
      });
    }
  });

  test('its consumers show the design card: a 1 s batch window, parallelization factor 2, checkpointing, per-key concurrency', () => {
    for (const stack of buildApp(testApp())) {
      const template = Template.fromStack(stack);
      const consumer = stack.pipeline.consumer!;
      expect([consumer.checkpointing, consumer.ordering, consumer.maxConcurrency]).toEqual([true, 'partition-key', 50]);
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: Match.stringLikeRegexp('^PipelineConsumer') },
        MaximumBatchingWindowInSeconds: 1,
        ParallelizationFactor: 2,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
      const factors = Object.values(template.findResources('AWS::Lambda::EventSourceMapping')).map(
        (mapping) => mapping.Properties.ParallelizationFactor as number,
      );
      expect(factors.every((factor) => factor > 1)).toBe(true);
      template.hasResourceProperties('AWS::DynamoDB::GlobalTable', { KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }] });
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({
            LEASE_TABLE_NAME: { Ref: Match.stringLikeRegexp('^PipelineConsumerLeases') },
            ORDERING: 'partition-key',
            MAX_CONCURRENCY: '50',
            // The autoscaler may raise the factor up to 10, and has told the handler so.
            MAX_PARALLELIZATION_FACTOR: '10',
            OUT_OF_RANGE_RECORDS: 'skip',
          }),
        },
      });
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ ADJUST_PARALLELIZATION: 'true' }) },
      });
    }
  });

  test('takes the provisioned shard count from the shards context, and rejects one that is not a whole number of 1 or more', () => {
    const [provisioned] = buildApp(testApp({ context: { shards: '4' } }));

    Template.fromStack(provisioned).hasResourceProperties('AWS::Kinesis::Stream', { ShardCount: 4 });
    expect(() => buildApp(testApp({ context: { shards: '0' } }))).toThrow(
      "context 'shards' (the provisioned stream's shard count) must be a whole number of 1 or more; received '0'",
    );
    expect(() => buildApp(testApp({ context: { shards: 'two' } }))).toThrow(/must be a whole number of 1 or more; received 'two'/);
  });

  test('is environment-agnostic (no lookups, no account or region baked in)', () => {
    for (const stack of buildApp(testApp())) {
      expect(stack.environment).toBe('aws://unknown-account/unknown-region');
    }
  });

  test('passes cdk-nag AwsSolutions and CloudFormation Validate with nothing unacknowledged', () => {
    const violations = nagViolations(appWithStacks({ alarmEmail: 'oncall@example.com' }));

    expect(violations).toEqual([]);
  });

  test('without -c alarmEmail its only findings are the warnings that the alarms reach nobody', () => {
    const assembly = appWithStacks().synth();
    const report = JSON.parse(fs.readFileSync(path.join(assembly.directory, 'validation-report.json'), 'utf8')) as {
      pluginReports: Array<{ violations?: Array<{ ruleName: string; severity: string }> }>;
    };
    const violations = report.pluginReports.flatMap((plugin) => plugin.violations ?? []);

    expect(violations.map((violation) => [violation.ruleName, violation.severity])).toEqual([
      [expect.stringMatching(/alarms-reach-nobody/), 'warning'],
      [expect.stringMatching(/alarms-reach-nobody/), 'warning'],
    ]);
  });

  test('writes every acknowledgement and its reason into the template metadata', () => {
    const app = testApp();
    const stacks = buildApp(app);
    const assembly = app.synth();

    for (const stack of stacks) {
      const resources = Object.values(
        assembly.getStackByName(stack.stackName).template.Resources as Record<
          string,
          { Metadata?: { cdk_nag?: { rules_to_suppress: Array<{ id: string; reason: string }> } } }
        >,
      );
      for (const resource of resources) {
        for (const rule of resource.Metadata?.cdk_nag?.rules_to_suppress ?? []) {
          expect(rule.id).toMatch(/^AwsSolutions-/);
          expect(rule.reason.length).toBeGreaterThan(20);
        }
      }
    }
  });

  test('the nag check can fail: an unprotected bucket is reported', () => {
    const app = testApp();
    const stack = new Stack(app, 'Canary');
    new s3.Bucket(stack, 'Open');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    expect(() => app.synth()).toThrow(/AwsSolutions-S10/);
  });
});

function appWithStacks(context: Record<string, unknown> = {}) {
  const app = testApp({ context });
  buildApp(app);
  return app;
}
