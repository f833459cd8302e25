import type { Duration } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';

/*
 * What monitoring needs of each optional part of a pipeline, as small structural interfaces.
 * `ProducerFunction`, `ConsumerFunction`, `FirehoseArchive` and `ShardAutoscaler` have these
 * members; anything else that has them (your own Lambda, your own delivery stream) can be
 * monitored the same way.
 */

/** A Lambda function's standard AWS/Lambda metrics (what `lambda.IFunction` offers). */
export interface MonitoredFunction {
  /** Name of the function, for alarm descriptions. */
  readonly functionName: string;
  /** Any AWS/Lambda metric of the function, with the `FunctionName` dimension. */
  metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /** Invocations that ended in a function error, Sum. */
  metricErrors(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /** Invocations throttled by Lambda, Sum. */
  metricThrottles(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /** Run time per invocation. */
  metricDuration(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
}

/** A producer: `ProducerFunction`. Custom metrics in namespace KinesisPipeline, `service` dimension. */
export interface MonitoredProducer extends MonitoredFunction {
  /** User records received, Sum. */
  metricUserRecords(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /** Kinesis records written (after KPL aggregation), Sum. */
  metricKinesisRecords(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /** User records per Kinesis record. */
  metricAggregationRatio(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /** PutRecords retries, Sum. */
  metricRetries(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /** User records that could not be written after all retries, Sum. */
  metricFailedRecords(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /** PutRecords entries Kinesis throttled, Sum, when the producer offers it. */
  metricThrottledEntries?(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /** User records sent again because a reshard put their aggregate on a shard not owning them, Sum, when the producer offers it. */
  metricResentRecords?(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /**
   * Where asynchronous invocations that failed every attempt are sent: their records never
   * reached the stream.
   * @default - no queue: no producer queue alarm
   */
  readonly onFailureQueue?: sqs.IQueue;
}

/** A Lambda consumer on an event-source mapping: `ConsumerFunction`. */
export interface MonitoredConsumer extends MonitoredFunction {
  /** AWS/Lambda IteratorAge of the mapping, `FunctionName` dimension, Maximum. */
  metricIteratorAge(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /** Records skipped because their checkpoint showed them processed already, Sum. */
  metricDuplicatesSkipped(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /** Aggregated records skipped because they hash outside their shard, Sum, when the consumer offers it. */
  metricOutOfRangeSkipped?(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /** Records with the KPL magic whose MD5 or body does not check out (handed over whole, flagged), Sum, when the consumer offers it. */
  metricCorruptRecords?(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /** KPL aggregates holding no user record, Sum, when the consumer offers it. */
  metricEmptyAggregates?(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /** Where batches that failed all retries are sent. */
  readonly onFailureQueue?: sqs.IQueue;
  /**
   * Where batches that failed all retries are described when it is not a queue
   * (`ConsumerFailureDestination`): an SNS topic (alarmed on any message published to it) or an
   * S3 bucket (alarmed on `metricOnFailureDelivered`, with `eventCountMetrics`).
   * @default - `onFailureQueue` only
   */
  readonly onFailureDestination?: { readonly topic?: sns.ITopic; readonly bucket?: s3.IBucket };
  /**
   * Records the mapping sent to its on-failure destination (AWS/Lambda
   * `OnFailureDestinationDeliveredEventCount`, `EventSourceMappingUUID` dimension), Sum, when the
   * consumer offers it; it has data only with `eventCountMetrics`.
   */
  metricOnFailureDelivered?(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /**
   * Whether the mapping publishes Lambda's `EventCount` metric group (`metricOnFailureDelivered` has data).
   * @default false
   */
  readonly eventCountMetrics?: boolean;
  /**
   * The mapping's batching window: records may wait this long before the function sees them,
   * so it is added to the consumer's iterator-age threshold.
   * @default - no batching window
   */
  readonly maxBatchingWindow?: Duration;
  /**
   * The enhanced fan-out consumer it reads through (`ConsumerFunction` with `enhancedFanOut`):
   * its `SubscribeToShardEvent.MillisBehindLatest` (dimensions `StreamName`, `ConsumerName`) is
   * graphed in the consumer's row.
   * @default - a standard (GetRecords) consumer
   */
  readonly streamConsumer?: { readonly streamConsumerName: string };
}

/** A Firehose archive of the stream: `FirehoseArchive`. */
export interface MonitoredArchive {
  /** Age of the oldest record not yet delivered (AWS/Firehose DeliveryToS3.DataFreshness), Maximum. */
  metricDataFreshness(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /** Share of successful deliveries to S3 (DeliveryToS3.Success), Average. */
  metricDeliverySuccess(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /** Records Firehose was throttled on reading from the stream, when the archive offers it. */
  metricThrottledRecords?(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /**
   * The archive's own alarms. When there are any, monitoring reuses them (one composite alarm
   * that notifies the topic) instead of building a second freshness alarm.
   * @default - none: monitoring builds a freshness alarm
   */
  readonly alarms?: readonly cloudwatch.IAlarm[];
  /**
   * Firehose buffering interval: the freshness alarm's default threshold is three of them.
   * @default - 300 seconds, Firehose's default
   */
  readonly bufferingInterval?: Duration;
}

/** A shard autoscaler of the stream: `ShardAutoscaler`. */
export interface MonitoredAutoscaler {
  /** The shard count the scaler saw or set, Maximum. */
  metricShardCount(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /** Scaling decisions, Sum (one line per kind). */
  metricDecisions(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /** The alarms that invoke the scaler, shown on the dashboard (they notify the scaler, not people). */
  readonly alarms?: readonly cloudwatch.IAlarm[];
  /**
   * Creates (once) the autoscaler's alarms for people (its own errors and throttles, a stuck
   * consumer) with these actions, and returns them; monitoring passes its topic and shows them.
   * @default - the autoscaler has no alarms for people
   */
  notifyOperators?(...actions: cloudwatch.IAlarmAction[]): cloudwatch.IAlarm[];
  /** The scaler function's errors and throttles, Sum, when the autoscaler offers it. */
  metricScalerFailures?(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /**
   * Where the scaler's failed invocations (alarm events) go.
   * @default - no queue shown
   */
  readonly onFailureQueue?: sqs.IQueue;
}
