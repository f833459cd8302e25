export * from './streaming-pipeline';
export * from './streaming-pipeline-stack';
