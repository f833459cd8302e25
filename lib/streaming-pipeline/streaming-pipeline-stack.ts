import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { StreamingPipeline, type StreamingPipelineProps } from './streaming-pipeline';

export interface StreamingPipelineStackProps extends StackProps {
  /**
   * The pipeline this stack holds.
   * @default - `StreamingPipeline`'s defaults
   */
  readonly pipeline?: StreamingPipelineProps;
}

/** A stack that holds one `StreamingPipeline`; what `bin/app.ts` deploys. */
export class StreamingPipelineStack extends Stack {
  public readonly pipeline: StreamingPipeline;

  constructor(scope: Construct, id: string, props: StreamingPipelineStackProps = {}) {
    super(scope, id, props);
    this.pipeline = new StreamingPipeline(this, 'Pipeline', props.pipeline);
  }
}
