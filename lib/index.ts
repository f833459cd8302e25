export * from './data-stream';
export * from './streaming-pipeline';
export * from './shard-autoscaler';
export * from './pipeline-monitoring';
