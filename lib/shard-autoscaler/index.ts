export * from './shard-autoscaler';
