import { Duration } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { IDataStream } from '../../data-stream';
import { DashboardWidgets as W } from '../dashboard';
import { ConsumerMetricFactory } from '../metrics/consumer-metric-factory';
import { StreamMetricFactory } from '../metrics/stream-metric-factory';
import type { MonitoredConsumer } from '../monitored-parts';
import { graph, header, present, thresholdLine, type MonitoringSegment, type SegmentContext } from './segment';

const ALARM_PERIOD = Duration.minutes(5);
const NARROW = 4;

export interface ConsumerSegmentProps {
  readonly stream: IDataStream;
  readonly consumer: MonitoredConsumer;
  /** '' for the first consumer (unchanged alarm names and titles), then '2', '3', … */
  readonly tag: string;
  /** The stream's iterator-age threshold plus the consumer's batching window. */
  readonly iteratorAgeThreshold: Duration;
}

/**
 * One consumer (standard or enhanced fan-out): its lag, its failed invocations, every on-failure
 * destination (SQS depth, SNS messages, S3 deliveries, and Lambda's failures to deliver to any of
 * them), its subscription's lag when it reads through enhanced fan-out, and its input (corrupt and
 * empty KPL aggregates). Its alarm names and titles carry its tag.
 */
export class ConsumerSegment implements MonitoringSegment {
  public readonly alarms: cloudwatch.IAlarm[] = [];
  private readonly metrics: ConsumerMetricFactory;
  private readonly streamMetrics: StreamMetricFactory;

  constructor(
    private readonly context: SegmentContext,
    private readonly props: ConsumerSegmentProps,
  ) {
    const { stream, consumer, tag, iteratorAgeThreshold } = props;
    const metrics = new ConsumerMetricFactory(consumer);
    this.metrics = metrics;
    this.streamMetrics = new StreamMetricFactory(stream);
    const alarms = context.alarmFactory;
    const p = { period: ALARM_PERIOD };
    const add = (alarm: cloudwatch.IAlarm) => this.alarms.push(alarm);

    // Lambda publishes IteratorAge only when it invokes: an idle stream has none.
    add(
      alarms.addSustainedAlarm(`Consumer${tag}IteratorAgeAlarm`, {
        name: `Consumer${tag}IteratorAge`,
        description: `The consumer ${consumer.functionName} is behind: IteratorAge at or above ${iteratorAgeThreshold.toMinutes({ integral: false })} minutes (the stream threshold plus its batching window) for 15 minutes.`,
        metric: metrics.metricIteratorAgeMaxMs(p),
        threshold: iteratorAgeThreshold.toMilliseconds(),
        periods: 3,
      }),
    );
    add(
      alarms.addOccurrenceAlarm(`Consumer${tag}ErrorsAlarm`, {
        name: `Consumer${tag}Errors`,
        description: `The consumer ${consumer.functionName} failed invocations (function errors or timeouts, not partial-batch failures): the batch is retried, then bisected and sent to the on-failure destination.`,
        metric: metrics.metricErrorsSum(p),
      }),
    );
    this.addFailureDestinationAlarms();
    this.addFanOutAlarm();
    this.addCorruptInputAlarms();
  }

  public dashboardRows(): cloudwatch.IWidget[][] {
    const { consumer, tag, iteratorAgeThreshold } = this.props;
    const period = this.context.dashboardPeriod;
    const p = { period };
    const metrics = this.metrics;
    // The first consumer keeps the plain titles; the others' carry their number.
    const t = (title: string) => (tag ? `${title} (${tag})` : title);
    const widgets: cloudwatch.IWidget[] = [
      graph(t(W.CONSUMER_ITERATOR_AGE), [metrics.metricIteratorAgeMaxMs({ ...p, label: 'IteratorAge (ms)' })], period, {
        leftAnnotations: [thresholdLine(iteratorAgeThreshold.toMilliseconds(), `Alarm: ${iteratorAgeThreshold.toHumanString()}`)],
        leftYAxis: { min: 0 },
        width: NARROW,
      }),
      graph(
        t(W.CONSUMER_ERRORS),
        [metrics.metricErrorsSum({ ...p, label: 'Errors' }), metrics.metricThrottlesSum({ ...p, label: 'Throttles' })],
        period,
        { leftYAxis: { min: 0 }, width: NARROW },
      ),
      graph(
        t(W.CONSUMER_DURATION),
        [metrics.metricDurationAverageMs({ ...p, label: 'Average (ms)' }), metrics.metricDurationP99Ms({ ...p, label: 'p99 (ms)' })],
        period,
        { leftYAxis: { min: 0 }, width: NARROW },
      ),
      graph(t(W.CONSUMER_CONCURRENCY), [metrics.metricConcurrentExecutionsMax({ ...p, label: 'Concurrent executions' })], period, {
        leftYAxis: { min: 0 },
        width: NARROW,
      }),
      graph(
        t(W.CONSUMER_DUPLICATES),
        present(
          metrics.metricDuplicatesSkippedSum({ ...p, label: 'Duplicates skipped' }),
          metrics.metricOutOfRangeSkippedSum({ ...p, label: 'Outside the shard, skipped' }),
        ),
        period,
        { leftYAxis: { min: 0 }, width: NARROW },
      ),
    ];
    const fanOut = consumer.streamConsumer;
    if (fanOut) {
      // Enhanced fan-out: Kinesis publishes per consumer (StreamName and ConsumerName dimensions).
      widgets.push(
        graph(
          t(W.CONSUMER_FAN_OUT),
          [this.streamMetrics.metricFanOutBehindLatestMaxMs(fanOut.streamConsumerName, { ...p, label: 'Behind latest (ms)' })],
          period,
          {
            right: [this.streamMetrics.metricFanOutRateExceededSum(fanOut.streamConsumerName, { ...p, label: 'Subscribe rate exceeded' })],
            leftYAxis: { min: 0 },
            width: NARROW,
          },
        ),
      );
    }
    const queueDepth = metrics.metricOnFailureQueueDepthMax({ ...p, label: 'Failed batches waiting' });
    if (queueDepth) {
      widgets.push(graph(t(W.CONSUMER_FAILURE_QUEUE), [queueDepth], period, { leftYAxis: { min: 0 }, width: NARROW }));
    }
    return [[header(tag ? `### Consumer ${tag}` : '### Consumer')], widgets];
  }

  /**
   * The on-failure destination, and the delivery to any destination:
   * - SQS queue: its depth (a message nobody touched keeps the alarm on);
   * - SNS topic: any message published there (AWS/SNS `NumberOfMessagesPublished`, TopicName) is a
   *   batch Lambda gave up on: its records were not processed;
   * - S3 bucket: S3 has no per-object metric by default, so the mapping's own count of what it sent
   *   there (AWS/Lambda `OnFailureDestinationDeliveredEventCount`, EventSourceMappingUUID; the
   *   mapping's `EventCount` metric group, which `ConsumerFunction` turns on for a bucket);
   * - every destination: AWS/Lambda `DestinationDeliveryFailures` (FunctionName), which Lambda
   *   publishes for stream event-source mappings whose on-failure destination refused the
   *   description (permissions, size, a FIFO target): then even the trace of the lost batch is gone.
   * SNS, S3 and delivery failures are published only when something happens: missing data is not breaching.
   */
  private addFailureDestinationAlarms(): void {
    const { stream, consumer, tag } = this.props;
    const alarms = this.context.alarmFactory;
    const p = { period: ALARM_PERIOD };
    const queue = consumer.onFailureQueue;
    const queueDepth = this.metrics.metricOnFailureQueueDepthMax(p);
    if (queue && queueDepth) {
      this.alarms.push(
        alarms.addQueueNotEmptyAlarm(tag ? `Consumer${tag}OnFailureQueueAlarm` : 'OnFailureQueueAlarm', {
          name: tag ? `Consumer${tag}OnFailureQueueNotEmpty` : 'OnFailureQueueNotEmpty',
          description: `Batches of ${stream.node.path} that the consumer ${consumer.functionName} could not process wait in its on-failure queue (${queue.queueName}): inspect, fix and replay them before the stream's retention ends.`,
          metric: queueDepth,
        }),
      );
    }
    const topic = consumer.onFailureDestination?.topic;
    const published = this.metrics.metricOnFailureTopicPublishedSum(p);
    if (topic && published) {
      this.alarms.push(
        alarms.addOccurrenceAlarm(`Consumer${tag}OnFailureTopicAlarm`, {
          name: `Consumer${tag}OnFailureTopicPublished`,
          description: `Batches of ${stream.node.path} that the consumer ${consumer.functionName} could not process were described on its on-failure topic (${topic.topicName}): their records were not processed. Read them from the topic's subscriber, fix and replay them before the stream's retention ends.`,
          metric: published,
        }),
      );
    }
    const bucket = consumer.onFailureDestination?.bucket;
    const delivered = this.metrics.metricOnFailureDeliveredSum(p);
    if (bucket && delivered) {
      this.alarms.push(
        alarms.addOccurrenceAlarm(`Consumer${tag}OnFailureBucketAlarm`, {
          name: `Consumer${tag}OnFailureBucketDelivered`,
          description: `Batches of ${stream.node.path} that the consumer ${consumer.functionName} could not process were written to its on-failure bucket (${bucket.bucketName}): their records were not processed. Replay them from the bucket before the stream's retention ends.`,
          metric: delivered,
        }),
      );
    }
    if (queue || topic || bucket) {
      this.alarms.push(
        alarms.addOccurrenceAlarm(`Consumer${tag}DestinationDeliveryFailuresAlarm`, {
          name: `Consumer${tag}DestinationDeliveryFailures`,
          description: `Lambda could not deliver the description of a failed batch of the consumer ${consumer.functionName} to its on-failure destination (DestinationDeliveryFailures: permissions, size or an unsupported target): those records were not processed and left no trace there. Check the destination and the function role, and the stream's retention.`,
          metric: this.metrics.metricDestinationDeliveryFailuresSum(p),
        }),
      );
    }
  }

  /**
   * An enhanced fan-out consumer: Kinesis' own measure of how far its subscription is behind the
   * tip (AWS/Kinesis `SubscribeToShardEvent.MillisBehindLatest`, StreamName and ConsumerName,
   * Maximum), at the consumer's iterator-age threshold. The consumer's IteratorAge alarm (AWS/Lambda,
   * which Lambda publishes for fan-out mappings too) covers the function; this one covers the
   * subscription, and is the only lag the stream sees for it: a fan-out consumer makes no GetRecords
   * calls, so the stream's GetRecords.IteratorAgeMilliseconds alarm never includes it. Published per
   * SubscribeToShard event: none while nothing is subscribed or delivered.
   */
  private addFanOutAlarm(): void {
    const { stream, consumer, tag, iteratorAgeThreshold: threshold } = this.props;
    const fanOut = consumer.streamConsumer;
    if (!fanOut) {
      return;
    }
    this.alarms.push(
      this.context.alarmFactory.addSustainedAlarm(`Consumer${tag}FanOutBehindAlarm`, {
        name: `Consumer${tag}FanOutBehindLatest`,
        description: `The enhanced fan-out consumer ${fanOut.streamConsumerName} of ${stream.node.path} (function ${consumer.functionName}) is behind: SubscribeToShardEvent.MillisBehindLatest at or above ${threshold.toMinutes({ integral: false })} minutes for 15 minutes. Records expire at the retention.`,
        metric: this.streamMetrics.metricFanOutBehindLatestMaxMsForAlarm(fanOut.streamConsumerName, { period: ALARM_PERIOD }),
        threshold: threshold.toMilliseconds(),
        periods: 3,
      }),
    );
  }

  /**
   * The consumer's input (issue 14): KPL aggregates it could not read, and empty ones. Both
   * metrics are published per invocation; none means nothing arrived, not nothing wrong.
   */
  private addCorruptInputAlarms(): void {
    const { consumer, tag } = this.props;
    const alarms = this.context.alarmFactory;
    const p = { period: ALARM_PERIOD };
    const corrupt = this.metrics.metricCorruptRecordsSum(p);
    if (corrupt) {
      this.alarms.push(
        alarms.addOccurrenceAlarm(`Consumer${tag}CorruptRecordsAlarm`, {
          name: `Consumer${tag}CorruptRecords`,
          description: `The consumer ${consumer.functionName} received KPL aggregates whose MD5 or body does not check out: each reached the processor whole, flagged record.corrupt ('checksum' or 'undecodable'), instead of as its user records. Find the producer (or what sits between it and the stream) that damages them.`,
          metric: corrupt,
        }),
      );
    }
    const empty = this.metrics.metricEmptyAggregatesSum(p);
    if (empty) {
      this.alarms.push(
        alarms.addOccurrenceAlarm(`Consumer${tag}EmptyAggregatesAlarm`, {
          name: `Consumer${tag}EmptyAggregates`,
          description: `The consumer ${consumer.functionName} received KPL aggregates holding no user record: nothing reached the processor for them. A producer writes empty aggregates (a bug, or records lost before they were packed).`,
          metric: empty,
        }),
      );
    }
  }
}
