import { Aspects, RemovalPolicies, RemovalPolicy, Stack, Token, type IAspect } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct, type IConstruct } from 'constructs';
import { ConsumerFunction, EXAMPLE_PROCESSOR_ENTRY, type ConsumerOptions } from '../consumer-function';
import { DataStream, DataStreamMode, type DataStreamProps, type IDataStream } from '../data-stream';
import type { ILeaseTable } from '../lease-table';
import { FirehoseArchive, type FirehoseArchiveOptions } from '../firehose-archive';
import { ShardAutoscaler, type ShardAutoscalerOptions } from '../shard-autoscaler';
import { PipelineMonitoring, type PipelineMonitoringOptions } from '../pipeline-monitoring';
import { ProducerFunction, type ProducerOptions } from '../producer-function';
import { PropValidator } from '../private/prop-validator';

/**
 * One more consumer of the pipeline's stream: a `ConsumerFunction` of its own (its own mapping,
 * function, on-failure destination and, with checkpointing, its own lease table), e.g. one on
 * enhanced fan-out beside the standard one.
 */
export interface StreamingPipelineConsumerProps extends ConsumerOptions {
  /**
   * The consumer's construct id in the pipeline: unique among the pipeline's consumers, not one of
   * the pipeline's own parts (`Stream`, `Producer`, `Consumer`, `Archive`, `Autoscaler`,
   * `Monitoring`), and without `/`. Its default application name (the leases' `applicationName`)
   * and its resources' names follow it.
   */
  readonly id: string;
  /** Path to this consumer's record processor module (see `ConsumerOptions.processorEntry`). */
  readonly processorEntry: string;
}

export interface StreamingPipelineProps {
  /**
   * The stream every other part reads or writes.
   * @default - a provisioned stream of 1 shard, 24 hours retention, encrypted with the
   *            AWS-managed key alias/aws/kinesis, retained when the stack is deleted
   */
  readonly stream?: DataStreamProps;

  /**
   * An existing stream to build the pipeline around instead of creating one (exclusive with
   * `stream`): `DataStream.fromStreamArn`, `fromStreamAttributes` or `fromStream`. Autoscaling
   * needs its mode (and shard count for a provisioned stream): import it with those attributes,
   * or turn `autoscaling` off.
   * @default - a new stream from the `stream` props
   */
  readonly existingStream?: IDataStream;

  /**
   * One switch for everything stateful the pipeline creates: the stream (and a key created for
   * it), the lease table, the scaler's state table, the archive bucket and its access-log bucket,
   * the on-failure queues, the log groups and the KMS keys. It overrides each part's own setting.
   * With `DESTROY` the archive buckets are also emptied on deletion (`autoDeleteObjects`, a
   * custom-resource Lambda), unless `archive.autoDeleteObjects` is false or `archive.bucket` is
   * yours; an `existingStream` is never touched.
   * @default - each part's default: the stream, the lease table and the archive are retained;
   *            queues, log groups and the scaler's state are destroyed
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * How long every log group of the pipeline keeps its events.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * A KMS key that encrypts every log group of the pipeline. A key of this app is granted to the
   * CloudWatch Logs service of the stack's region; for an imported key, allow
   * `logs.<region>.amazonaws.com` in its key policy yourself.
   * @default - encrypted by CloudWatch Logs with its own keys
   */
  readonly logEncryptionKey?: kms.IKey;

  /**
   * A Firehose delivery stream that archives every user record (KPL aggregates de-aggregated)
   * into S3: GZIP, hour partitions, KMS-encrypted, TLS-only, versioned bucket, with alarms.
   * `false` turns it off.
   * @default - on, with the FirehoseArchive defaults
   */
  readonly archive?: FirehoseArchiveOptions | false;

  /**
   * A Lambda consumer that deaggregates KPL records, calls a record processor in order per
   * partition key (different keys concurrently) and checkpoints in a KCL lease table, skipping
   * redelivered records if and only if they were processed. `false` turns it off. It is handed to
   * the autoscaler, which may raise its parallelization factor up to 10 when it lags (unless
   * `autoscaling.adjustParallelization` is false); exactly once holds at any factor.
   * @default - on, with the example processor (logs each record) and the ConsumerFunction defaults
   */
  readonly consumer?: ConsumerOptions | false;

  /**
   * More consumers of the stream, each a `ConsumerFunction` of its own (its own processor,
   * options, `enhancedFanOut`, and with checkpointing its own lease table: one lease table per
   * consumer application, so a `leaseTable` or `applicationName` given to two consumers is
   * refused). Every consumer is handed to the autoscaler (its own lag alarm; the factor of its own
   * mapping) and to monitoring (its own alarms and dashboard row, named `Consumer2…` after
   * `consumer`'s). Works with `consumer: false` too.
   * @default - none: only `consumer`
   */
  readonly consumers?: StreamingPipelineConsumerProps[];

  /**
   * A Lambda producer that writes user records with shard-aware KPL aggregation, PutRecords
   * retries within its time budget, and an exact report of what was and was not written.
   * `false` turns it off.
   * @default - on, with the ProducerFunction defaults (no Function URL)
   */
  readonly producer?: ProducerOptions | false;

  /**
   * Shard autoscaling. On a provisioned stream: alarms on write utilisation, throttling, lag and a
   * quiet window invoke a scaler that changes the shard count and the consumer's parallelization
   * factor, and tells people when the consumer is stuck. On an on-demand stream Kinesis manages
   * the shards itself: the scaler's only job there is the consumer's factor (and the stuck-consumer
   * alarm), so it is created only with a consumer and `adjustParallelization` on; shard props
   * (`minShards`, `maxShards`, …) are refused there. `false` turns it off.
   * @default - on, with the ShardAutoscaler defaults; on an on-demand stream without a consumer,
   *            left out (given explicitly there, without a consumer or with
   *            `adjustParallelization: false`, it is an error that says so)
   */
  readonly autoscaling?: ShardAutoscalerOptions | false;

  /**
   * A CloudWatch dashboard of every part and the alarms operators need (iterator age against the
   * retention, throttling, failed records, consumer errors, on-failure queue, archive freshness),
   * notifying an encrypted SNS topic. `false` turns it off.
   * @default - on, with the PipelineMonitoring defaults
   */
  readonly monitoring?: PipelineMonitoringOptions | false;
}

/**
 * A Kinesis Data Streams pipeline with safe defaults: the stream, and (as they are enabled)
 * the producer, the checkpointing consumer, the Firehose archive, shard autoscaling and
 * monitoring. `new StreamingPipeline(stack, 'Pipeline')` needs no props.
 */
export class StreamingPipeline extends Construct {
  /** The pipeline's stream. */
  public readonly stream: IDataStream;
  /** The Firehose archive, unless `archive` is false. */
  public readonly archive?: FirehoseArchive;
  /** The KPL-aggregating producer, unless `producer` is false. */
  public readonly producer?: ProducerFunction;
  /** The Lambda consumer, unless `consumer` is false. */
  public readonly consumer?: ConsumerFunction;
  /** Every consumer of the pipeline: `consumer` (unless false) first, then those of `consumers`, in order. */
  public readonly consumers: ConsumerFunction[];
  /** The consumer's lease table (checkpoints), unless the consumer is off or does not checkpoint. */
  public readonly leaseTable?: ILeaseTable;
  /** The shard autoscaler, unless `autoscaling` is false. */
  public readonly autoscaler?: ShardAutoscaler;
  /** The dashboard, alarms and alarm topic, unless `monitoring` is false. */
  public readonly monitoring?: PipelineMonitoring;

  constructor(scope: Construct, id: string, props: StreamingPipelineProps = {}) {
    super(scope, id);
    if (props.existingStream && props.stream) {
      new PropValidator('StreamingPipeline').fail(
        `give either stream (props of a new stream) or existingStream (a stream to use), not both; received both (existingStream ${props.existingStream.node.path})`,
      );
    }
    const removalPolicy = props.removalPolicy;
    this.stream =
      props.existingStream ??
      new DataStream(this, 'Stream', { ...props.stream, removalPolicy: removalPolicy ?? props.stream?.removalPolicy });
    if (props.archive !== false) {
      const emptyOnDelete = removalPolicy === RemovalPolicy.DESTROY && props.archive?.bucket === undefined;
      this.archive = new FirehoseArchive(this, 'Archive', {
        ...props.archive,
        ...(emptyOnDelete ? { removalPolicy, autoDeleteObjects: props.archive?.autoDeleteObjects ?? true } : {}),
        stream: this.stream,
      });
    }
    if (props.producer !== false) {
      this.producer = new ProducerFunction(this, 'Producer', { ...props.producer, stream: this.stream });
    }
    validateConsumers(props);
    if (props.consumer !== false) {
      this.consumer = new ConsumerFunction(this, 'Consumer', {
        ...props.consumer,
        processorEntry: props.consumer?.processorEntry ?? EXAMPLE_PROCESSOR_ENTRY,
        stream: this.stream,
      });
      this.leaseTable = this.consumer.leaseTable;
    }
    const more = (props.consumers ?? []).map(
      ({ id: consumerId, ...options }) => new ConsumerFunction(this, consumerId, { ...options, stream: this.stream }),
    );
    this.consumers = [...(this.consumer ? [this.consumer] : []), ...more];
    // An on-demand stream without a factor to raise leaves the scaler nothing to do: left out by
    // default; asked for explicitly, ShardAutoscaler says why it cannot be.
    const onDemand = this.stream.mode === DataStreamMode.ON_DEMAND;
    const idleOnDemand = onDemand && props.autoscaling === undefined && this.consumers.length === 0;
    if (props.autoscaling !== false && !idleOnDemand) {
      // With adjustParallelization (the default) the autoscaler tells the consumer that its
      // factor may reach 10; the consumer's checkpoints stay exact at any factor.
      this.autoscaler = new ShardAutoscaler(this, 'Autoscaler', {
        ...props.autoscaling,
        stream: this.stream,
        consumers: this.consumers,
      });
    }
    // Last, so that it sees every part above.
    if (props.monitoring !== false) {
      const [first, ...others] = this.consumers;
      this.monitoring = new PipelineMonitoring(this, 'Monitoring', {
        ...props.monitoring,
        stream: this.stream,
        producer: this.producer,
        consumer: first,
        consumers: others,
        archive: this.archive,
        autoscaler: this.autoscaler,
      });
    }
    if (removalPolicy !== undefined) {
      RemovalPolicies.of(this).apply(removalPolicy, { applyToResourceTypes: [...STATEFUL_RESOURCE_TYPES] });
    }
    if (props.logRetention !== undefined || props.logEncryptionKey !== undefined) {
      if (props.logEncryptionKey) {
        props.logEncryptionKey.grantEncryptDecrypt(new iam.ServicePrincipal(`logs.${Stack.of(this).region}.amazonaws.com`));
      }
      Aspects.of(this).add(new LogGroupSettings(props.logRetention, props.logEncryptionKey));
    }
  }
}

/** Construct ids of the pipeline's own parts: a consumer of `consumers` cannot take one. */
const PART_IDS = ['Stream', 'Producer', 'Consumer', 'Archive', 'Autoscaler', 'Monitoring'] as const;

/**
 * The consumers' ids and their applications: unique ids that are not the parts' own, and one
 * lease table per application (a table, or an application name, given to two consumers).
 */
function validateConsumers(props: StreamingPipelineProps): void {
  const v = new PropValidator('StreamingPipeline');
  const extra = props.consumers ?? [];
  const ids = new Map<string, number>();
  extra.forEach((consumer, index) => {
    const id = consumer.id;
    if (typeof id !== 'string' || id.length === 0 || id.includes('/')) {
      v.fail(`consumers[${index}].id must be a non-empty construct id without '/'; received '${String(id)}'`);
    }
    if ((PART_IDS as readonly string[]).includes(id)) {
      v.fail(`consumers[${index}].id must not be one of the pipeline's own parts (${PART_IDS.join(', ')}); received '${id}'`);
    }
    if (ids.has(id)) {
      v.fail(`consumers[${index}].id must be unique among the consumers; received '${id}', already the id of consumers[${ids.get(id)}]`);
    }
    ids.set(id, index);
  });
  // Every consumer with its name in errors, `consumer` first.
  const all: Array<{ name: string; options: ConsumerOptions }> = [
    ...(props.consumer !== false ? [{ name: 'consumer', options: props.consumer ?? {} }] : []),
    ...extra.map((consumer, index) => ({ name: `consumers[${index}] (${consumer.id})`, options: consumer })),
  ];
  const tables = new Map<ILeaseTable, string>();
  const applications = new Map<string, string>();
  for (const { name, options } of all) {
    const table = options.leaseTable;
    if (table !== undefined) {
      const previous = tables.get(table);
      if (previous !== undefined) {
        v.fail(
          `one lease table per consumer application: ${name} is given the lease table ${table.node.path}, which is already the lease table of ${previous}; give each consumer its own (leave leaseTable unset for a new one)`,
        );
      }
      tables.set(table, name);
    }
    const application = options.applicationName;
    if (application !== undefined && !Token.isUnresolved(application)) {
      const previous = applications.get(application);
      if (previous !== undefined) {
        v.fail(
          `one consumer application per consumer: ${name} has applicationName '${application}', already the applicationName of ${previous}; two consumers under one name would skip each other's records in a shared lease table`,
        );
      }
      applications.set(application, name);
    }
  }
}

/** CloudFormation types `removalPolicy` applies to: what holds data (or decrypts it). */
export const STATEFUL_RESOURCE_TYPES = [
  'AWS::Kinesis::Stream',
  'AWS::DynamoDB::GlobalTable',
  'AWS::DynamoDB::Table',
  'AWS::S3::Bucket',
  'AWS::SQS::Queue',
  'AWS::Logs::LogGroup',
  'AWS::KMS::Key',
] as const;

/** Sets retention and the KMS key on every log group of the pipeline. */
class LogGroupSettings implements IAspect {
  constructor(
    private readonly retention?: logs.RetentionDays,
    private readonly key?: kms.IKey,
  ) {}

  public visit(node: IConstruct): void {
    if (node instanceof logs.CfnLogGroup) {
      if (this.retention !== undefined) {
        node.retentionInDays = this.retention === logs.RetentionDays.INFINITE ? undefined : this.retention;
      }
      if (this.key) {
        node.kmsKeyId = this.key.keyArn;
      }
    }
  }
}
