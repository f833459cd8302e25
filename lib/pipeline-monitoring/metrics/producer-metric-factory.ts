import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { emfMetric } from './emf-metric';

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
    return this.metric('UserRecords', { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricKinesisRecordsSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('KinesisRecords', { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricAggregationRatioAverage(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('AggregationRatio', { statistic: cloudwatch.Stats.AVERAGE, ...props });
  }

  public metricRetriesSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('Retries', { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricThrottledEntriesSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('ThrottledEntries', { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricResentRecordsSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('ResentRecords', { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricAlreadyWrittenRecordsSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('AlreadyWrittenRecords', { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricUnknownOutcomeRetriesSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('UnknownOutcomeRetries', { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricFailedRecordsSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('FailedRecords', { statistic: cloudwatch.Stats.SUM, ...props });
  }
}
