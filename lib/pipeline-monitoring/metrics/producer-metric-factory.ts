import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { ProducerMetric } from '../../../lambda/producer/contract';
import type { MonitoredProducer } from '../monitored-parts';
import { emfMetric } from './emf-metric';
import type { MetricProps } from './stream-metric-factory';

/**
 * The producer handler's custom metrics (namespace KinesisPipeline, `service` dimension): the one
 * place their names, dimension and statistics are written. `ProducerFunction`'s `metric*` methods
 * return these; monitoring reads them through `MonitoredProducer`.
 */
export class ProducerHandlerMetrics {
  constructor(private readonly serviceName: string) {}

  /** Any custom metric of the producer, by name. */
  public metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return emfMetric(this.serviceName, metricName, props);
  }

  public metricUserRecordsSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(ProducerMetric.USER_RECORDS, { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricKinesisRecordsSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(ProducerMetric.KINESIS_RECORDS, { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricAggregationRatioAverage(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(ProducerMetric.AGGREGATION_RATIO, { statistic: cloudwatch.Stats.AVERAGE, ...props });
  }

  public metricRetriesSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(ProducerMetric.RETRIES, { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricThrottledEntriesSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(ProducerMetric.THROTTLED_ENTRIES, { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricResentRecordsSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(ProducerMetric.RESENT_RECORDS, { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricAlreadyWrittenRecordsSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(ProducerMetric.ALREADY_WRITTEN_RECORDS, { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricUnknownOutcomeRetriesSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(ProducerMetric.UNKNOWN_OUTCOME_RETRIES, { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricFailedRecordsSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric(ProducerMetric.FAILED_RECORDS, { statistic: cloudwatch.Stats.SUM, ...props });
  }
}

/**
 * What monitoring reads of a producer (`MonitoredProducer`: `ProducerFunction` or your own), the
 * statistic in the method name and given to the part.
 */
export class ProducerMetricFactory {
  constructor(private readonly producer: MonitoredProducer) {}

  public metricUserRecordsSum(props: MetricProps): cloudwatch.IMetric {
    return this.producer.metricUserRecords({ ...props, statistic: cloudwatch.Stats.SUM });
  }

  public metricKinesisRecordsSum(props: MetricProps): cloudwatch.IMetric {
    return this.producer.metricKinesisRecords({ ...props, statistic: cloudwatch.Stats.SUM });
  }

  public metricAggregationRatioAverage(props: MetricProps): cloudwatch.IMetric {
    return this.producer.metricAggregationRatio({ ...props, statistic: cloudwatch.Stats.AVERAGE });
  }

  public metricRetriesSum(props: MetricProps): cloudwatch.IMetric {
    return this.producer.metricRetries({ ...props, statistic: cloudwatch.Stats.SUM });
  }

  public metricFailedRecordsSum(props: MetricProps): cloudwatch.IMetric {
    return this.producer.metricFailedRecords({ ...props, statistic: cloudwatch.Stats.SUM });
  }

  public metricThrottledEntriesSum(props: MetricProps): cloudwatch.IMetric | undefined {
    return this.producer.metricThrottledEntries?.({ ...props, statistic: cloudwatch.Stats.SUM });
  }

  public metricResentRecordsSum(props: MetricProps): cloudwatch.IMetric | undefined {
    return this.producer.metricResentRecords?.({ ...props, statistic: cloudwatch.Stats.SUM });
  }

  public metricErrorsSum(props: MetricProps): cloudwatch.IMetric {
    return this.producer.metricErrors({ ...props, statistic: cloudwatch.Stats.SUM });
  }

  public metricDurationP99Ms(props: MetricProps): cloudwatch.IMetric {
    return this.producer.metricDuration({ ...props, statistic: cloudwatch.Stats.p(99) });
  }

  /** Failed asynchronous invocations waiting in the on-failure queue, Maximum. */
  public metricOnFailureQueueDepthMax(props: MetricProps): cloudwatch.IMetric | undefined {
    return this.producer.onFailureQueue?.metricApproximateNumberOfMessagesVisible({ ...props, statistic: cloudwatch.Stats.MAXIMUM });
  }
}
