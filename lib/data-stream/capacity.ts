/**
 * The stream's capacity figures, from the one place that defines Kinesis' limits
 * (lambda/shared/kinesis-limits.ts, which the handlers and the simulator import too).
 */
export { ON_DEMAND_DEFAULT_CAPACITY, PER_SHARD_LIMITS, RECORD_SIZE_LIMITS, type StreamCapacity } from '../../lambda/shared/kinesis-limits';
