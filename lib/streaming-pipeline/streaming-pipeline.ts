import { Construct } from 'constructs';
import { DataStream, type DataStreamProps } from '../data-stream';

export interface StreamingPipelineProps {
  /**
   * The stream every other part reads or writes.
   * @default - a provisioned stream of 1 shard, 24 hours retention, encrypted with the
   *            AWS-managed key alias/aws/kinesis, retained when the stack is deleted
   */
  readonly stream?: DataStreamProps;
}

/**
 * A Kinesis Data Streams pipeline with safe defaults: the stream, and (as they are enabled)
 * the producer, the checkpointing consumer, the Firehose archive, shard autoscaling and
 * monitoring. `new StreamingPipeline(stack, 'Pipeline')` needs no props.
 */
export class StreamingPipeline extends Construct {
  /** The pipeline's stream. */
  public readonly stream: DataStream;

  constructor(scope: Construct, id: string, props: StreamingPipelineProps = {}) {
    super(scope, id);
    this.stream = new DataStream(this, 'Stream', props.stream);
  }
}
