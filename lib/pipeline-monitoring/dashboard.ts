import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';
import { DataStreamMode, type IDataStream } from '../data-stream';
import type { MonitoredArchive, MonitoredAutoscaler, MonitoredConsumer, MonitoredProducer } from './monitored-parts';

/** Titles of the dashboard's widgets, so tests and users can find them. */
export const DashboardWidgets = {
  ALARMS: 'Alarms',
  CONSUMER_FAN_OUT: 'Consumer: enhanced fan-out (SubscribeToShard)',
  STREAM_BYTES: 'Stream: incoming bytes',
  STREAM_RECORDS: 'Stream: incoming records',
  STREAM_THROTTLES: 'Stream: throttled requests',
  STREAM_ITERATOR_AGE: 'Stream: iterator age',
  PRODUCER_RECORDS: 'Producer: records in',
  PRODUCER_AGGREGATION: 'Producer: aggregation ratio',
  PRODUCER_RETRIES: 'Producer: retries and failed records',
  CONSUMER_ITERATOR_AGE: 'Consumer: iterator age',
  CONSUMER_ERRORS: 'Consumer: errors and throttles',
  CONSUMER_DURATION: 'Consumer: duration',
  CONSUMER_CONCURRENCY: 'Consumer: concurrency',
  CONSUMER_DUPLICATES: 'Consumer: duplicates skipped',
  CONSUMER_FAILURE_QUEUE: 'Consumer: on-failure queue depth',
  ARCHIVE_FRESHNESS: 'Archive: data freshness',
  ARCHIVE_SUCCESS: 'Archive: delivery success',
  ARCHIVE_THROTTLES: 'Archive: throttled reads',
  AUTOSCALER_SHARDS: 'Autoscaler: shard count',
  AUTOSCALER_DECISIONS: 'Autoscaler: decisions',
  AUTOSCALER_ALARMS: 'Autoscaler: scaling alarms',
  AUTOSCALER_FAILURES: 'Autoscaler: errors, throttles, failed events',
} as const;

const W = DashboardWidgets;
const HEIGHT = 6;
const MiB = 1024 * 1024;

export interface DashboardSpec {
  readonly stream: IDataStream;
  readonly producer?: MonitoredProducer;
  /** The consumers, `tag` '' for the first (unchanged titles), '2', '3', … for the others. */
  readonly consumers: ReadonlyArray<{ readonly consumer: MonitoredConsumer; readonly tag: string; readonly iteratorAgeThreshold: Duration }>;
  readonly archive?: MonitoredArchive;
  readonly autoscaler?: MonitoredAutoscaler;
  readonly dashboardName?: string;
  readonly period: Duration;
  readonly iteratorAgeThreshold: Duration;
  readonly alarms: cloudwatch.IAlarm[];
}

/** The pipeline dashboard: a header and a row of graphs per part that is given. */
export function buildDashboard(scope: Construct, id: string, spec: DashboardSpec): cloudwatch.Dashboard {
  const { stream, producer, consumers, archive, autoscaler, period } = spec;
  const dashboard = new cloudwatch.Dashboard(scope, id, {
    dashboardName: spec.dashboardName,
    periodOverride: cloudwatch.PeriodOverride.INHERIT,
  });
  const seconds = period.toSeconds();
  const p = { period };
  const graph = (title: string, left: cloudwatch.IMetric[], extra: Partial<cloudwatch.GraphWidgetProps> = {}) =>
    new cloudwatch.GraphWidget({ title, left, width: 6, height: HEIGHT, period, ...extra });
  const header = (markdown: string) => new cloudwatch.TextWidget({ markdown, width: 24, height: 1 });
  const capacityLabel = stream.mode === DataStreamMode.ON_DEMAND
    ? 'on-demand starting capacity'
    : `capacity of ${stream.shardCount} shard(s) at deploy`;
  // An import without mode (or shard count) has no capacity figures: no capacity line then.
  const capacity = stream.writeCapacity;

  dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: W.ALARMS, alarms: spec.alarms, width: 24, height: 3 }));

  dashboard.addWidgets(header(`### Stream \`${stream.node.path}\` (${stream.mode ?? 'mode unknown'}, ${retentionLabel(stream)})`));
  dashboard.addWidgets(
    graph(W.STREAM_BYTES, [stream.metricIncomingBytes({ ...p, label: 'Bytes written' })], {
      leftAnnotations: capacity ? [{ value: capacity.bytesPerSecond * seconds, label: `Write ${capacityLabel}: ${capacity.bytesPerSecond / MiB} MiB/s`, color: cloudwatch.Color.RED }] : [],
      leftYAxis: { min: 0 },
    }),
    graph(W.STREAM_RECORDS, [stream.metricIncomingRecords({ ...p, label: 'Records written' })], {
      leftAnnotations: capacity ? [{ value: capacity.recordsPerSecond * seconds, label: `Write ${capacityLabel}: ${capacity.recordsPerSecond} records/s`, color: cloudwatch.Color.RED }] : [],
      leftYAxis: { min: 0 },
    }),
    graph(W.STREAM_THROTTLES, [
      stream.metricWriteThrottles({ ...p, label: 'Write throttles' }),
      stream.metricReadThrottles({ ...p, label: 'Read throttles' }),
    ], { leftYAxis: { min: 0 } }),
    graph(W.STREAM_ITERATOR_AGE, [stream.metricIteratorAgeMilliseconds({ ...p, label: 'GetRecords iterator age (ms)' })], {
      leftAnnotations: [{ value: spec.iteratorAgeThreshold.toMilliseconds(), label: `Alarm: ${spec.iteratorAgeThreshold.toHumanString()}`, color: cloudwatch.Color.RED }],
      leftYAxis: { min: 0 },
    }),
  );

  if (producer) {
    dashboard.addWidgets(header('### Producer'));
    dashboard.addWidgets(
      graph(W.PRODUCER_RECORDS, [
        producer.metricUserRecords({ ...p, label: 'User records in' }),
        producer.metricKinesisRecords({ ...p, label: 'Kinesis records written' }),
      ], { leftYAxis: { min: 0 } }),
      graph(W.PRODUCER_AGGREGATION, [producer.metricAggregationRatio({ ...p, label: 'User records per Kinesis record' })], { leftYAxis: { min: 0 } }),
      graph(W.PRODUCER_RETRIES, [
        producer.metricRetries({ ...p, label: 'Retries' }),
        producer.metricFailedRecords({ ...p, label: 'Failed records' }),
        ...(producer.metricThrottledEntries ? [producer.metricThrottledEntries({ ...p, label: 'Throttled entries' })] : []),
        ...(producer.metricResentRecords ? [producer.metricResentRecords({ ...p, label: 'Re-sent after a reshard' })] : []),
        ...(producer.onFailureQueue ? [producer.onFailureQueue.metricApproximateNumberOfMessagesVisible({ ...p, statistic: cloudwatch.Stats.MAXIMUM, label: 'Failed invocations waiting (on-failure queue)' })] : []),
      ], { leftYAxis: { min: 0 } }),
      graph('Producer: errors and duration', [producer.metricErrors({ ...p, label: 'Errors' })], {
        right: [producer.metricDuration({ ...p, statistic: cloudwatch.Stats.p(99), label: 'Duration p99 (ms)' })],
        leftYAxis: { min: 0 },
      }),
    );
  }

  for (const { consumer, tag, iteratorAgeThreshold } of consumers) {
    // The first consumer keeps the plain titles; the others' carry their number.
    const t = (title: string) => (tag ? `${title} (${tag})` : title);
    dashboard.addWidgets(header(tag ? `### Consumer ${tag}` : '### Consumer'));
    const widgets: cloudwatch.IWidget[] = [
      graph(t(W.CONSUMER_ITERATOR_AGE), [consumer.metricIteratorAge({ ...p, statistic: cloudwatch.Stats.MAXIMUM, label: 'IteratorAge (ms)' })], {
        leftAnnotations: [{ value: iteratorAgeThreshold.toMilliseconds(), label: `Alarm: ${iteratorAgeThreshold.toHumanString()}`, color: cloudwatch.Color.RED }],
        leftYAxis: { min: 0 },
        width: 4,
      }),
      graph(t(W.CONSUMER_ERRORS), [
        consumer.metricErrors({ ...p, label: 'Errors' }),
        consumer.metricThrottles({ ...p, label: 'Throttles' }),
      ], { leftYAxis: { min: 0 }, width: 4 }),
      graph(t(W.CONSUMER_DURATION), [
        consumer.metricDuration({ ...p, statistic: cloudwatch.Stats.AVERAGE, label: 'Average (ms)' }),
        consumer.metricDuration({ ...p, statistic: cloudwatch.Stats.p(99), label: 'p99 (ms)' }),
      ], { leftYAxis: { min: 0 }, width: 4 }),
      graph(t(W.CONSUMER_CONCURRENCY), [consumer.metric('ConcurrentExecutions', { ...p, statistic: cloudwatch.Stats.MAXIMUM, label: 'Concurrent executions' })], { leftYAxis: { min: 0 }, width: 4 }),
      graph(t(W.CONSUMER_DUPLICATES), [
        consumer.metricDuplicatesSkipped({ ...p, label: 'Duplicates skipped' }),
        ...(consumer.metricOutOfRangeSkipped ? [consumer.metricOutOfRangeSkipped({ ...p, label: 'Outside the shard, skipped' })] : []),
      ], { leftYAxis: { min: 0 }, width: 4 }),
    ];
    if (consumer.streamConsumer) {
      // Enhanced fan-out: Kinesis publishes per consumer (StreamName and ConsumerName dimensions).
      const efo = (metricName: string, statistic: string, label: string) => stream.metric(metricName, {
        ...p,
        statistic,
        label,
        dimensionsMap: { StreamName: stream.streamName, ConsumerName: consumer.streamConsumer!.streamConsumerName },
      });
      widgets.push(graph(t(W.CONSUMER_FAN_OUT), [efo('SubscribeToShardEvent.MillisBehindLatest', cloudwatch.Stats.MAXIMUM, 'Behind latest (ms)')], {
        right: [efo('SubscribeToShard.RateExceeded', cloudwatch.Stats.SUM, 'Subscribe rate exceeded')],
        leftYAxis: { min: 0 },
        width: 4,
      }));
    }
    if (consumer.onFailureQueue) {
      widgets.push(graph(t(W.CONSUMER_FAILURE_QUEUE), [
        consumer.onFailureQueue.metricApproximateNumberOfMessagesVisible({ ...p, statistic: cloudwatch.Stats.MAXIMUM, label: 'Failed batches waiting' }),
      ], { leftYAxis: { min: 0 }, width: 4 }));
    }
    dashboard.addWidgets(...widgets);
  }

  if (archive) {
    dashboard.addWidgets(header('### Firehose archive'));
    const width = archive.metricThrottledRecords ? 8 : 12;
    const widgets: cloudwatch.IWidget[] = [
      graph(W.ARCHIVE_FRESHNESS, [archive.metricDataFreshness({ ...p, statistic: cloudwatch.Stats.MAXIMUM, label: 'Data freshness (s)' })], { leftYAxis: { min: 0 }, width }),
      graph(W.ARCHIVE_SUCCESS, [archive.metricDeliverySuccess({ ...p, label: 'Delivery success' })], { leftYAxis: { min: 0, max: 1 }, width }),
    ];
    if (archive.metricThrottledRecords) {
      widgets.push(graph(W.ARCHIVE_THROTTLES, [archive.metricThrottledRecords({ ...p, label: 'Throttled records' })], { leftYAxis: { min: 0 }, width }));
    }
    dashboard.addWidgets(...widgets);
  }

  if (autoscaler) {
    dashboard.addWidgets(header('### Shard autoscaler'));
    const failures: cloudwatch.IMetric[] = [
      ...(autoscaler.metricScalerFailures ? [autoscaler.metricScalerFailures({ period: maxPeriod(period), label: 'Errors + throttles' })] : []),
      ...(autoscaler.onFailureQueue ? [autoscaler.onFailureQueue.metricApproximateNumberOfMessagesVisible({ ...p, statistic: cloudwatch.Stats.MAXIMUM, label: 'Failed events waiting (on-failure queue)' })] : []),
    ];
    const hasAlarms = autoscaler.alarms !== undefined && autoscaler.alarms.length > 0;
    const width = 24 / (2 + (failures.length > 0 ? 1 : 0) + (hasAlarms ? 1 : 0));
    const widgets: cloudwatch.IWidget[] = [
      graph(W.AUTOSCALER_SHARDS, [autoscaler.metricShardCount({ ...p, label: 'Shards' })], { leftYAxis: { min: 0 }, width }),
      graph(W.AUTOSCALER_DECISIONS, [autoscaler.metricDecisions({ period: maxPeriod(period) })], { leftYAxis: { min: 0 }, width }),
    ];
    if (failures.length > 0) {
      widgets.push(graph(W.AUTOSCALER_FAILURES, failures, { leftYAxis: { min: 0 }, width }));
    }
    if (hasAlarms) {
      widgets.push(new cloudwatch.AlarmStatusWidget({ title: W.AUTOSCALER_ALARMS, alarms: [...autoscaler.alarms], width, height: HEIGHT }));
    }
    dashboard.addWidgets(...widgets);
  }
  return dashboard;
}

/** Decisions are rare events: sum them over at least 5 minutes so they read as bars, not dots. */
function maxPeriod(period: Duration): Duration {
  return period.toSeconds() >= 300 ? period : Duration.minutes(5);
}

/** "24 h retention", or what was assumed when the retention is a token or unknown (imports). */
export function retentionLabel(stream: IDataStream): string {
  if (stream.retention === undefined) {
    return 'retention (unknown for this import; 24 h assumed)';
  }
  return stream.retention.isUnresolved() ? 'retention (a token; 24 h assumed)' : `${stream.retention.toHours()} h retention`;
}
