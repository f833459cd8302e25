import { Duration, Validations, type App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DataStreamMode, OutOfRangeRecords, StreamingPipelineStack } from '../lib';

/** Context key for the provisioned stream's shard count: `cdk synth -c shards=4`. */
export const SHARDS_CONTEXT = 'shards';

/**
 * The deployable app: one pipeline on a provisioned stream (2 shards, or the `shards` context
 * value) and one on an on-demand stream. Environment-agnostic (no lookups), so it synthesizes offline. cdk-nag's AwsSolutions
 * pack runs during every synth and writes each acknowledgement, with its reason, into the
 * template metadata; CloudFormation Validate (cdk.json) fails synth on any finding.
 */
export function buildApp(app: App): StreamingPipelineStack[] {
  const description = 'Kinesis Data Streams pipeline (kinesis-pipeline-cdk)';
  // Each stream's one producer is the pipeline's own, which re-sends records a reshard put on the
  // wrong shard: the consumer skips those copies, as the KCL does, so it sees each record once.
  const consumer = { outOfRangeRecords: OutOfRangeRecords.SKIP };
  const stacks = [
    new StreamingPipelineStack(app, 'ProvisionedPipeline', {
      description: `${description}: provisioned stream`,
      pipeline: { stream: { mode: DataStreamMode.PROVISIONED, shardCount: shardCountOf(app), retention: Duration.hours(24) }, consumer },
    }),
    new StreamingPipelineStack(app, 'OnDemandPipeline', {
      description: `${description}: on-demand stream`,
      pipeline: { stream: { mode: DataStreamMode.ON_DEMAND, retention: Duration.hours(48) }, consumer },
    }),
  ];
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { writeSuppressionsToCloudFormation: true }));
  return stacks;
}

function shardCountOf(app: App): number {
  const raw: unknown = app.node.tryGetContext(SHARDS_CONTEXT);
  if (raw === undefined) {
    return 2;
  }
  const shards = Number(raw);
  if (!Number.isInteger(shards) || shards < 1) {
    throw new Error(`context '${SHARDS_CONTEXT}' (the provisioned stream's shard count) must be a whole number of 1 or more; received '${String(raw)}'`);
  }
  return shards;
}
