import { Construct } from 'constructs';
import { DataStream, type DataStreamProps } from '../data-stream';
import { FirehoseArchive, type FirehoseArchiveOptions } from '../firehose-archive';
import { ShardAutoscaler, type ShardAutoscalerOptions } from '../shard-autoscaler';
import { PipelineMonitoring, type PipelineMonitoringOptions } from '../pipeline-monitoring';

export interface StreamingPipelineProps {
  /**
   * The stream every other part reads or writes.
   * @default - a provisioned stream of 1 shard, 24 hours retention, encrypted with the
   *            AWS-managed key alias/aws/kinesis, retained when the stack is deleted
   */
  readonly stream?: DataStreamProps;

  /**
   * A Firehose delivery stream that archives every user record (KPL aggregates de-aggregated)
   * into S3: GZIP, hour partitions, KMS-encrypted, TLS-only, versioned bucket, with alarms.
   * `false` turns it off.
   * @default - on, with the FirehoseArchive defaults
   */
  readonly archive?: FirehoseArchiveOptions | false;

  /**
   * Shard autoscaling. On a provisioned stream: alarms on write utilisation, throttling, lag and a
   * quiet window invoke a scaler that changes the shard count (and the consumer's parallelization
   * factor). On an on-demand stream Kinesis manages the shards itself, so only the lag alarms
   * are kept; the scaler never calls UpdateShardCount there. `false` turns it off.
   * @default - on, with the ShardAutoscaler defaults
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
  public readonly stream: DataStream;
  /** The Firehose archive, unless `archive` is false. */
  public readonly archive?: FirehoseArchive;
  /** The shard autoscaler, unless `autoscaling` is false. */
  public readonly autoscaler?: ShardAutoscaler;
  /** The dashboard, alarms and alarm topic, unless `monitoring` is false. */
  public readonly monitoring?: PipelineMonitoring;

  constructor(scope: Construct, id: string, props: StreamingPipelineProps = {}) {
    super(scope, id);
    this.stream = new DataStream(this, 'Stream', props.stream);
    if (props.archive !== false) {
      this.archive = new FirehoseArchive(this, 'Archive', { ...props.archive, stream: this.stream });
    }
    if (props.autoscaling !== false) {
      this.autoscaler = new ShardAutoscaler(this, 'Autoscaler', { ...props.autoscaling, stream: this.stream });
    }
    // Last, so that it sees every part above.
    if (props.monitoring !== false) {
      this.monitoring = new PipelineMonitoring(this, 'Monitoring', { ...props.monitoring, stream: this.stream, archive: this.archive, autoscaler: this.autoscaler });
    }
  }
}
