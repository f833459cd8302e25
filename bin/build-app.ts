import { Duration, Validations, type App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DataStreamMode, StreamingPipelineStack } from '../lib';

/**
 * The deployable app: one pipeline on a provisioned stream of 2 shards and one on an on-demand
 * stream. Environment-agnostic (no lookups), so it synthesizes offline. cdk-nag's AwsSolutions
 * pack runs during every synth and writes each acknowledgement, with its reason, into the
 * template metadata; CloudFormation Validate (cdk.json) fails synth on any finding.
 */
export function buildApp(app: App): StreamingPipelineStack[] {
  const description = 'Kinesis Data Streams pipeline (kinesis-pipeline-cdk)';
  const stacks = [
    new StreamingPipelineStack(app, 'ProvisionedPipeline', {
      description: `${description}: provisioned stream`,
      pipeline: { stream: { mode: DataStreamMode.PROVISIONED, shardCount: 2, retention: Duration.hours(24) } },
    }),
    new StreamingPipelineStack(app, 'OnDemandPipeline', {
      description: `${description}: on-demand stream`,
      pipeline: { stream: { mode: DataStreamMode.ON_DEMAND, retention: Duration.hours(48) } },
    }),
  ];
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { writeSuppressionsToCloudFormation: true }));
  return stacks;
}
