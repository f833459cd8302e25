import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { ConsumerMetric } from '../../../lambda/consumer/contract';
import type { MonitoredConsumer } from '../monitored-parts';
import { emfMetric } from './emf-metric';
import type { MetricProps } from './stream-metric-factory';

/**
 * The consumer handler's custom metrics (namespace KinesisPipeline, `service` dimension): the one
 * place in `lib/` their names, dimension and statistics are written. `ConsumerFunction`'s
 * `metric*` methods return these; monitoring reads them through `MonitoredConsumer`.
 */
export class ConsumerHandlerMetrics {
  constructor(private readonly serviceName: string) {}

  /** Any custom metric of the consumer, by name. */
  public metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return emfMetric(this.serviceName, metricName, props);
  }

  public metricUserRecordsSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(ConsumerMetric.USER_RECORDS, { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricDuplicatesSkippedSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(ConsumerMetric.DUPLICATES_SKIPPED, { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricOutOfRangeSkippedSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(ConsumerMetric.OUT_OF_RANGE_SKIPPED, { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricCorruptRecordsSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(ConsumerMetric.CORRUPT_RECORDS, { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricEmptyAggregatesSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(ConsumerMetric.EMPTY_AGGREGATES, { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricProcessingFailuresSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(ConsumerMetric.PROCESSING_FAILURES, { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricLeaseWriteConflictsSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(ConsumerMetric.LEASE_WRITE_CONFLICTS, { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricProgressKeysMax(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(ConsumerMetric.PROGRESS_KEYS, { statistic: cloudwatch.Stats.MAXIMUM, ...props });
  }

  public metricProgressEvictedSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(ConsumerMetric.PROGRESS_EVICTED, { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricCheckpointLagMaxMs(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(ConsumerMetric.CHECKPOINT_LAG, { statistic: cloudwatch.Stats.MAXIMUM, ...props });
  }
}

/**
 * What monitoring reads of a consumer (`MonitoredConsumer`: `ConsumerFunction` or your own), the
 * statistic in the method name and given to the part; optional metrics are `undefined` when the
 * part does not offer them.
 */
export class ConsumerMetricFactory {
  constructor(private readonly consumer: MonitoredConsumer) {}

  /** AWS/Lambda IteratorAge of the mapping, Maximum. */
  public metricIteratorAgeMaxMs(props: MetricProps): cloudwatch.IMetric {
    return this.consumer.metricIteratorAge({ ...props, statistic: cloudwatch.Stats.MAXIMUM });
  }

  public metricErrorsSum(props: MetricProps): cloudwatch.IMetric {
    return this.consumer.metricErrors({ ...props, statistic: cloudwatch.Stats.SUM });
  }

  public metricThrottlesSum(props: MetricProps): cloudwatch.IMetric {
    return this.consumer.metricThrottles({ ...props, statistic: cloudwatch.Stats.SUM });
  }

  public metricDurationAverageMs(props: MetricProps): cloudwatch.IMetric {
    return this.consumer.metricDuration({ ...props, statistic: cloudwatch.Stats.AVERAGE });
  }

  public metricDurationP99Ms(props: MetricProps): cloudwatch.IMetric {
    return this.consumer.metricDuration({ ...props, statistic: cloudwatch.Stats.p(99) });
  }

  public metricConcurrentExecutionsMax(props: MetricProps): cloudwatch.IMetric {
    return this.consumer.metric('ConcurrentExecutions', { ...props, statistic: cloudwatch.Stats.MAXIMUM });
  }

  /** AWS/Lambda DestinationDeliveryFailures of the function, Sum. */
  public metricDestinationDeliveryFailuresSum(props: MetricProps): cloudwatch.IMetric {
    return this.consumer.metric('DestinationDeliveryFailures', { ...props, statistic: cloudwatch.Stats.SUM });
  }

  public metricDuplicatesSkippedSum(props: MetricProps): cloudwatch.IMetric {
    return this.consumer.metricDuplicatesSkipped({ ...props, statistic: cloudwatch.Stats.SUM });
  }

  public metricOutOfRangeSkippedSum(props: MetricProps): cloudwatch.IMetric | undefined {
    return this.consumer.metricOutOfRangeSkipped?.({ ...props, statistic: cloudwatch.Stats.SUM });
  }

  public metricCorruptRecordsSum(props: MetricProps): cloudwatch.IMetric | undefined {
    return this.consumer.metricCorruptRecords?.({ ...props, statistic: cloudwatch.Stats.SUM });
  }

  public metricEmptyAggregatesSum(props: MetricProps): cloudwatch.IMetric | undefined {
    return this.consumer.metricEmptyAggregates?.({ ...props, statistic: cloudwatch.Stats.SUM });
  }

  /** Records the mapping sent to its on-failure destination, Sum: only when it publishes its EventCount group. */
  public metricOnFailureDeliveredSum(props: MetricProps): cloudwatch.IMetric | undefined {
    return this.consumer.eventCountMetrics
      ? this.consumer.metricOnFailureDelivered?.({ ...props, statistic: cloudwatch.Stats.SUM })
      : undefined;
  }

  /** Failed batches waiting in the on-failure queue, Maximum. */
  public metricOnFailureQueueDepthMax(props: MetricProps): cloudwatch.IMetric | undefined {
    return this.consumer.onFailureQueue?.metricApproximateNumberOfMessagesVisible({ ...props, statistic: cloudwatch.Stats.MAXIMUM });
  }

  /** Failed batches described on the on-failure topic (AWS/SNS NumberOfMessagesPublished), Sum. */
  public metricOnFailureTopicPublishedSum(props: MetricProps): cloudwatch.IMetric | undefined {
    return this.consumer.onFailureDestination?.topic?.metricNumberOfMessagesPublished({ ...props, statistic: cloudwatch.Stats.SUM });
  }
}
