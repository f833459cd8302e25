import { Construct } from 'constructs';
import { ConsumerFunction, EXAMPLE_PROCESSOR_ENTRY, type ConsumerOptions } from '../consumer-function';
import { DataStream, DataStreamMode, type DataStreamProps, type IDataStream } from '../data-stream';
import type { ILeaseTable } from '../lease-table';
import { FirehoseArchive, type FirehoseArchiveOptions } from '../firehose-archive';
import { ShardAutoscaler, type ShardAutoscalerOptions } from '../shard-autoscaler';
import { PipelineMonitoring, type PipelineMonitoringOptions } from '../pipeline-monitoring';
import { ProducerFunction, type ProducerOptions } from '../producer-function';

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
  /** The consumer's lease table (checkpoints), unless the consumer is off or does not checkpoint. */
  public readonly leaseTable?: ILeaseTable;
  /** The shard autoscaler, unless `autoscaling` is false. */
  public readonly autoscaler?: ShardAutoscaler;
  /** The dashboard, alarms and alarm topic, unless `monitoring` is false. */
  public readonly monitoring?: PipelineMonitoring;

  constructor(scope: Construct, id: string, props: StreamingPipelineProps = {}) {
    super(scope, id);
    if (props.existingStream && props.stream) {
      throw new Error(`StreamingPipeline: give either stream (props of a new stream) or existingStream (a stream to use), not both; received both (existingStream ${props.existingStream.node.path})`);
    }
    this.stream = props.existingStream ?? new DataStream(this, 'Stream', props.stream);
    if (props.archive !== false) {
      this.archive = new FirehoseArchive(this, 'Archive', { ...props.archive, stream: this.stream });
    }
    if (props.producer !== false) {
      // ProducerFunction reads only IDataStream members (node, streamName, grantWrite, grant); its
      // prop type moves to IDataStream once its owner's edits are in.
      this.producer = new ProducerFunction(this, 'Producer', { ...props.producer, stream: this.stream as DataStream });
    }
    if (props.consumer !== false) {
      this.consumer = new ConsumerFunction(this, 'Consumer', { ...props.consumer, processorEntry: props.consumer?.processorEntry ?? EXAMPLE_PROCESSOR_ENTRY, stream: this.stream });
      this.leaseTable = this.consumer.leaseTable;
    }
    // An on-demand stream without a factor to raise leaves the scaler nothing to do: left out by
    // default; asked for explicitly, ShardAutoscaler says why it cannot be.
    const onDemand = this.stream.mode === DataStreamMode.ON_DEMAND;
    const idleOnDemand = onDemand && props.autoscaling === undefined && this.consumer === undefined;
    if (props.autoscaling !== false && !idleOnDemand) {
      // With adjustParallelization (the default) the autoscaler tells the consumer that its
      // factor may reach 10; the consumer's checkpoints stay exact at any factor.
      this.autoscaler = new ShardAutoscaler(this, 'Autoscaler', {
        ...props.autoscaling,
        stream: this.stream,
        consumer: this.consumer,
      });
    }
    // Last, so that it sees every part above.
    if (props.monitoring !== false) {
      this.monitoring = new PipelineMonitoring(this, 'Monitoring', { ...props.monitoring, stream: this.stream, producer: this.producer, consumer: this.consumer, archive: this.archive, autoscaler: this.autoscaler });
    }
  }
}
