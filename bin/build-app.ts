import { Duration, Validations, type App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DataStreamMode, OutOfRangeRecords, RecordOrdering, StreamingPipelineStack, type ConsumerOptions } from '../lib';

/** Context key for the provisioned stream's shard count: `cdk synth -c shards=4`. */
export const SHARDS_CONTEXT = 'shards';
/** Context key for the people the alarms notify: `cdk deploy -c alarmEmail=oncall@example.com` (comma-separated for several). */
export const ALARM_EMAIL_CONTEXT = 'alarmEmail';

/**
 * The deployable app: one pipeline on a provisioned stream (2 shards, or the `shards` context
 * value) and one on an on-demand stream, both with the consumer's design card (a 1 s batch window,
 * parallelization factor 2, checkpointing, per-key ordered concurrency). Environment-agnostic (no lookups), so it synthesizes offline. cdk-nag's AwsSolutions
 * pack runs during every synth and writes each acknowledgement, with its reason, into the
 * template metadata; CloudFormation Validate (cdk.json) fails synth on any finding. The alarm
 * topics notify the `alarmEmail` context's addresses; without them synth warns that the alarms
 * reach nobody.
 */
export function buildApp(app: App): StreamingPipelineStack[] {
  const description = 'Kinesis Data Streams pipeline (kinesis-pipeline-cdk)';
  const consumer: ConsumerOptions = {
    // Each stream's one producer is the pipeline's own, which re-sends records a reshard put on the
    // wrong shard: the consumer skips those copies, as the KCL does, so it sees each record once.
    outOfRangeRecords: OutOfRangeRecords.SKIP,
    // Gather up to 1 s of records per invocation: fuller batches (fewer invocations and lease
    // writes per user record) for at most 1 s of added latency, far below the 1-minute lag alarms.
    maxBatchingWindow: Duration.seconds(1),
    // Two batches of each shard at once, each in order per partition key (the producer keeps every
    // user key under one outer key); checkpointing stays on (the default) and exactly once, since
    // the lease keeps each key's progress. The autoscaler may raise it up to 10 when the consumer lags.
    parallelizationFactor: 2,
    // One key's records in order, different keys at once: the example processor only logs (no
    // connection pool to protect), so 50 in flight keeps I/O waits overlapped for a batch's keys; a
    // processor writing to a database would use its pool size (the default, 16, fits pools of 10 to 20).
    ordering: RecordOrdering.PARTITION_KEY,
    maxConcurrency: 50,
  };
  const monitoring = { alarmEmails: alarmEmailsOf(app) };
  const stacks = [
    new StreamingPipelineStack(app, 'ProvisionedPipeline', {
      description: `${description}: provisioned stream`,
      pipeline: {
        stream: { mode: DataStreamMode.PROVISIONED, shardCount: shardCountOf(app), retention: Duration.hours(24) },
        consumer,
        monitoring,
      },
    }),
    new StreamingPipelineStack(app, 'OnDemandPipeline', {
      description: `${description}: on-demand stream`,
      pipeline: { stream: { mode: DataStreamMode.ON_DEMAND, retention: Duration.hours(48) }, consumer, monitoring },
    }),
  ];
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { writeSuppressionsToCloudFormation: true }));
  return stacks;
}

/** The `alarmEmail` context: none, one address, or several separated by commas (each checked by PipelineMonitoring). */
function alarmEmailsOf(app: App): string[] {
  const raw: unknown = app.node.tryGetContext(ALARM_EMAIL_CONTEXT);
  if (raw === undefined) {
    return [];
  }
  return textOf(raw)
    .split(',')
    .map((email) => email.trim())
    .filter((email) => email.length > 0);
}

function shardCountOf(app: App): number {
  const raw: unknown = app.node.tryGetContext(SHARDS_CONTEXT);
  if (raw === undefined) {
    return 2;
  }
  const shards = Number(raw);
  if (!Number.isInteger(shards) || shards < 1) {
    throw new Error(
      `context '${SHARDS_CONTEXT}' (the provisioned stream's shard count) must be a whole number of 1 or more; received '${textOf(raw)}'`,
    );
  }
  return shards;
}

/** A context value as text: `-c key=value` gives a string; cdk.json may give any JSON value. */
function textOf(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}
