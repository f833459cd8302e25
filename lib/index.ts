export * from './data-stream';
export * from './streaming-pipeline';
