export * from './firehose-archive';
export * from './archive-bucket';
