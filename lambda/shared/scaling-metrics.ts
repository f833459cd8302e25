import type { MetricDataQuery, MetricDataResult } from '@aws-sdk/client-cloudwatch';
import type { ScalingMetrics } from './scaling-decision';

/** Minutes of the recent (scale-out) window. */
export const RECENT_MINUTES = 5;
const PERIOD_SECONDS = 60;

export interface MetricSources {
  readonly streamName: string;
  readonly consumerFunctionName?: string;
}

/** One-minute GetMetricData queries for the stream's writes, throttles and iterator ages. */
export function scalingQueries(sources: MetricSources): MetricDataQuery[] {
  const kinesis = (id: string, metricName: string, stat: string): MetricDataQuery => ({
    Id: id,
    MetricStat: { Metric: { Namespace: 'AWS/Kinesis', MetricName: metricName, Dimensions: [{ Name: 'StreamName', Value: sources.streamName }] }, Period: PERIOD_SECONDS, Stat: stat },
    ReturnData: true,
  });
  const queries = [
    kinesis('bytes', 'IncomingBytes', 'Sum'),
    kinesis('records', 'IncomingRecords', 'Sum'),
    kinesis('throttled', 'WriteProvisionedThroughputExceeded', 'Sum'),
    kinesis('streamAge', 'GetRecords.IteratorAgeMilliseconds', 'Maximum'),
  ];
  if (sources.consumerFunctionName) {
    queries.push({
      Id: 'consumerAge',
      MetricStat: { Metric: { Namespace: 'AWS/Lambda', MetricName: 'IteratorAge', Dimensions: [{ Name: 'FunctionName', Value: sources.consumerFunctionName }] }, Period: PERIOD_SECONDS, Stat: 'Maximum' },
      ReturnData: true,
    });
  }
  return queries;
}

/**
 * Reduces GetMetricData results to the decision's inputs: per-second peaks of the recent
 * window and of the whole quiet window. Missing series count as zero (an idle stream publishes
 * nothing).
 */
export function toScalingMetrics(results: readonly MetricDataResult[], now: number, windowMinutes: number): ScalingMetrics {
  const recentFrom = now - RECENT_MINUTES * 60_000;
  const series = (id: string) => {
    const result = results.find((r) => r.Id === id);
    const timestamps = result?.Timestamps ?? [];
    return (result?.Values ?? []).map((value, i) => ({ at: new Date(timestamps[i] ?? 0).getTime(), value }));
  };
  const peak = (id: string, from: number) => series(id).filter((point) => point.at >= from).reduce((max, point) => Math.max(max, point.value), 0);
  const windowFrom = now - windowMinutes * 60_000;
  return {
    recentBytesPerSecond: peak('bytes', recentFrom) / PERIOD_SECONDS,
    recentRecordsPerSecond: peak('records', recentFrom) / PERIOD_SECONDS,
    recentThrottledRecordsPerSecond: peak('throttled', recentFrom) / PERIOD_SECONDS,
    windowBytesPerSecond: peak('bytes', windowFrom) / PERIOD_SECONDS,
    windowRecordsPerSecond: peak('records', windowFrom) / PERIOD_SECONDS,
    windowMinutes,
    recentIteratorAgeMs: Math.max(peak('streamAge', recentFrom), peak('consumerAge', recentFrom)),
    windowIteratorAgeMs: Math.max(peak('streamAge', windowFrom), peak('consumerAge', windowFrom)),
  };
}
