export * from './data-stream';
export * from './streaming-pipeline';
export * from './firehose-archive';
export * from './shard-autoscaler';
export * from './pipeline-monitoring';
export * from './lease-table';
export * from './consumer-function';
export * from './producer-function';
// The Lambda settings both function constructs' props extend (vpc, tracing, layers, environment, bundling, ...).
export type { PipelineFunctionOptions } from './private/pipeline-function';
