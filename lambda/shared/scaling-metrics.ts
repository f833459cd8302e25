import type { MetricDataQuery, MetricDataResult } from '@aws-sdk/client-cloudwatch';
import { ConsumerMetric } from '../consumer/contract';
import { METRICS_NAMESPACE } from './env';
import { DEFAULT_RECENT_MINUTES, type ConsumerMetrics, type ScalingMetrics } from './scaling-decision';
import type { ConsumerActivity } from './scaling-lag';

/** Minutes of the recent (scale-out) window. */
export const RECENT_MINUTES = DEFAULT_RECENT_MINUTES;
const PERIOD_SECONDS = 60;
const MINUTE_MS = 60_000;
/**
 * The quiet window ends at the newest write datapoint (CloudWatch publishes a minute or two
 * late), which must be this recent; the query reaches this much further back.
 */
export const LATEST_WRITE_MINUTES = 3;
/** The custom metrics namespace of the pipeline's handlers (EMF). */
export const PIPELINE_NAMESPACE = METRICS_NAMESPACE;

export interface MetricSources {
  readonly streamName: string;
  /** One consumer (the first of `consumers` when both are given). */
  readonly consumerFunctionName?: string;
  /** The consumer handler's `service` dimension (its EMF metrics: UserRecords, ProcessingFailures, DuplicatesSkipped). */
  readonly consumerServiceName?: string;
  /**
   * Every consumer, each with its own queries: the first keeps the plain ids (`consumerAge`,
   * `userRecords`, ...), the one at index i > 0 has them suffixed with i + 1 (`consumerAge2`), as
   * the autoscaler's alarms name them.
   * @default - the one consumer of `consumerFunctionName` / `consumerServiceName`
   */
  readonly consumers?: readonly ConsumerMetricSources[];
}

/** The metrics of one consumer. */
export interface ConsumerMetricSources {
  /** Its Lambda function: AWS/Lambda IteratorAge, Errors and Duration (FunctionName dimension). */
  readonly functionName?: string;
  /** Its handler's `service` dimension (KinesisPipeline UserRecords, ProcessingFailures, DuplicatesSkipped). */
  readonly serviceName?: string;
}

/** The GetMetricData id of a consumer's series: plain for the first, then suffixed with its position (`consumerAge2`). */
export function consumerQueryId(id: string, index: number): string {
  return index === 0 ? id : `${id}${index + 1}`;
}

function consumerSources(sources: MetricSources): readonly ConsumerMetricSources[] {
  if (sources.consumers !== undefined) {
    return sources.consumers;
  }
  return sources.consumerFunctionName || sources.consumerServiceName
    ? [{ functionName: sources.consumerFunctionName, serviceName: sources.consumerServiceName }]
    : [];
}

/** GetMetricData's window for a quiet window of `windowMinutes`. */
export function queryWindow(now: number, windowMinutes: number): { start: Date; end: Date } {
  return { start: new Date(now - (windowMinutes + LATEST_WRITE_MINUTES + 1) * MINUTE_MS), end: new Date(now) };
}

/** One-minute GetMetricData queries: the stream's writes, throttles and iterator age; the consumer's lag, progress and failures. */
export function scalingQueries(sources: MetricSources): MetricDataQuery[] {
  const query = (
    id: string,
    namespace: string,
    metricName: string,
    dimension: { Name: string; Value: string },
    stat: string,
  ): MetricDataQuery => ({
    Id: id,
    MetricStat: { Metric: { Namespace: namespace, MetricName: metricName, Dimensions: [dimension] }, Period: PERIOD_SECONDS, Stat: stat },
    ReturnData: true,
  });
  const stream = { Name: 'StreamName', Value: sources.streamName };
  const queries = [
    query('bytes', 'AWS/Kinesis', 'IncomingBytes', stream, 'Sum'),
    query('records', 'AWS/Kinesis', 'IncomingRecords', stream, 'Sum'),
    query('throttled', 'AWS/Kinesis', 'WriteProvisionedThroughputExceeded', stream, 'Sum'),
    query('streamAge', 'AWS/Kinesis', 'GetRecords.IteratorAgeMilliseconds', stream, 'Maximum'),
  ];
  consumerSources(sources).forEach((consumer, index) => {
    const id = (name: string) => consumerQueryId(name, index);
    if (consumer.functionName) {
      // Lambda publishes IteratorAge for every Kinesis mapping of the function, standard or
      // enhanced fan-out alike (the age of the last record of each batch it finished).
      const fn = { Name: 'FunctionName', Value: consumer.functionName };
      queries.push(
        query(id('consumerAge'), 'AWS/Lambda', 'IteratorAge', fn, 'Maximum'),
        query(id('consumerErrors'), 'AWS/Lambda', 'Errors', fn, 'Sum'),
        query(id('consumerDuration'), 'AWS/Lambda', 'Duration', fn, 'Maximum'),
      );
    }
    if (consumer.serviceName) {
      const service = { Name: 'service', Value: consumer.serviceName };
      queries.push(
        query(id('userRecords'), PIPELINE_NAMESPACE, ConsumerMetric.USER_RECORDS, service, 'Sum'),
        query(id('processingFailures'), PIPELINE_NAMESPACE, ConsumerMetric.PROCESSING_FAILURES, service, 'Sum'),
        query(id('duplicatesSkipped'), PIPELINE_NAMESPACE, ConsumerMetric.DUPLICATES_SKIPPED, service, 'Sum'),
      );
    }
  });
  return queries;
}

export interface ScalingMetricsOptions {
  /** Whether the scaler has one consumer (the plain ids); ignored when `consumers` is given. */
  readonly consumer?: boolean;
  /** That consumer's function timeout, ms. */
  readonly timeoutMs?: number;
  /**
   * Every consumer, in the order of `MetricSources.consumers` (their query ids), with its
   * function timeout: each gets its own activity and iterator age in `ScalingMetrics.consumers`.
   * @default - the one consumer of `consumer` / `timeoutMs`
   */
  readonly consumers?: ReadonlyArray<{ readonly timeoutMs?: number }>;
}

interface Point {
  readonly at: number;
  readonly value: number;
}

/**
 * Reduces GetMetricData results to the decision's inputs, from the datapoints present only: a
 * series (or a window) without datapoints is `undefined`, never 0.
 *
 * - recent: peaks of the last `RECENT_MINUTES`; the consumer's sums over them;
 * - quiet window: the `windowMinutes` minutes ending at the newest write datapoint (when that is
 *   at most `LATEST_WRITE_MINUTES` old); `windowMinutes` of the result counts the minutes in it
 *   that have a write datapoint, so a window with gaps reads as shorter than asked.
 *
 * `timeoutMs` is the consumer function's timeout, carried into the consumer's activity.
 */
export function toScalingMetrics(
  results: readonly MetricDataResult[],
  now: number,
  windowMinutes: number,
  options: ScalingMetricsOptions = {},
): ScalingMetrics {
  const series = (id: string): Point[] => {
    const points: Point[] = [];
    for (const result of results.filter((r) => r.Id === id)) {
      const timestamps = result.Timestamps ?? [];
      (result.Values ?? []).forEach((value, i) => {
        const at = timestamps[i] === undefined ? Number.NaN : new Date(timestamps[i]).getTime();
        if (Number.isFinite(value) && Number.isFinite(at) && at <= now) {
          points.push({ at, value });
        }
      });
    }
    return points;
  };
  const within = (points: Point[], from: number, to = now) => points.filter((p) => p.at >= from && p.at <= to);
  const peak = (points: Point[]) =>
    points.length === 0 ? undefined : points.reduce((max, p) => Math.max(max, p.value), Number.NEGATIVE_INFINITY);
  const sum = (points: Point[]) => (points.length === 0 ? undefined : points.reduce((total, p) => total + p.value, 0));
  const perSecond = (value: number | undefined) => (value === undefined ? undefined : value / PERIOD_SECONDS);
  const maxOf = (...values: Array<number | undefined>) => {
    const known = values.filter((v): v is number => v !== undefined);
    return known.length === 0 ? undefined : Math.max(...known);
  };

  const recentFrom = now - RECENT_MINUTES * MINUTE_MS;
  const bytes = series('bytes');
  const records = series('records');
  const consumerOptions = options.consumers ?? (options.consumer ? [{ timeoutMs: options.timeoutMs }] : []);
  const consumerAges = consumerOptions.map((_, index) => series(consumerQueryId('consumerAge', index)));
  // The worst lag of all: the stream's GetRecords age and every consumer's IteratorAge.
  const ages = [...series('streamAge'), ...consumerAges.flat()];

  // The quiet window: the minutes, ending at the newest write datapoint, that have write datapoints.
  const writes = [...bytes, ...records];
  const newest = writes.reduce((max, p) => Math.max(max, p.at), Number.NEGATIVE_INFINITY);
  let windowFrom = Number.POSITIVE_INFINITY;
  let windowTo = Number.NEGATIVE_INFINITY;
  let covered = 0;
  if (Number.isFinite(newest) && newest >= now - LATEST_WRITE_MINUTES * MINUTE_MS) {
    windowTo = newest;
    windowFrom = newest - (windowMinutes - 1) * MINUTE_MS;
    covered = new Set(within(writes, windowFrom, windowTo).map((p) => Math.floor(p.at / MINUTE_MS))).size;
  }

  const activityOf = (index: number, timeoutMs: number | undefined): ConsumerActivity => {
    const id = (name: string) => consumerQueryId(name, index);
    const progress = within(series(id('userRecords')), recentFrom);
    const failing = [...within(series(id('processingFailures')), recentFrom), ...within(series(id('consumerErrors')), recentFrom)];
    const newestAt = [...progress, ...failing].reduce((max, p) => Math.max(max, p.at), Number.NEGATIVE_INFINITY);
    const at = (points: Point[]) => points.filter((p) => p.at === newestAt);
    return {
      newest: Number.isFinite(newestAt) ? { userRecords: sum(at(progress)), failures: sum(at(failing)) ?? 0 } : undefined,
      userRecords: sum(progress),
      processingFailures: sum(within(series(id('processingFailures')), recentFrom)),
      errors: sum(within(series(id('consumerErrors')), recentFrom)),
      duplicatesSkipped: sum(within(series(id('duplicatesSkipped')), recentFrom)),
      maxDurationMs: peak(within(series(id('consumerDuration')), recentFrom)),
      timeoutMs,
    };
  };
  const consumers: ConsumerMetrics[] = consumerOptions.map((consumer, index) => ({
    activity: activityOf(index, consumer.timeoutMs),
    recentIteratorAgeMs: peak(within(consumerAges[index], recentFrom)),
  }));

  return {
    recentBytesPerSecond: perSecond(peak(within(bytes, recentFrom))),
    recentRecordsPerSecond: perSecond(peak(within(records, recentFrom))),
    recentThrottledRecordsPerSecond: perSecond(peak(within(series('throttled'), recentFrom))),
    windowBytesPerSecond: perSecond(peak(within(bytes, windowFrom, windowTo))),
    windowRecordsPerSecond: perSecond(peak(within(records, windowFrom, windowTo))),
    windowMinutes: Math.min(covered, windowMinutes),
    recentIteratorAgeMs: peak(within(ages, recentFrom)),
    windowIteratorAgeMs: maxOf(peak(within(ages, Number.isFinite(windowFrom) ? windowFrom : recentFrom))),
    recentMinutes: RECENT_MINUTES,
    consumer: consumers[0]?.activity,
    consumers: consumerOptions.length > 0 ? consumers : undefined,
  };
}
