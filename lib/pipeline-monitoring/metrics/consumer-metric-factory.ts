import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { ConsumerMetric } from '../../../lambda/consumer/contract';
import { emfMetric } from './emf-metric';

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
    return this.metric('OutOfRangeSkipped', { statistic: cloudwatch.Stats.SUM, ...props });
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
    return this.metric('LeaseWriteConflicts', { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricProgressKeysMax(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('ProgressKeys', { statistic: cloudwatch.Stats.MAXIMUM, ...props });
  }

  public metricProgressEvictedSum(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('ProgressEvicted', { statistic: cloudwatch.Stats.SUM, ...props });
  }

  public metricCheckpointLagMaxMs(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('CheckpointLag', { statistic: cloudwatch.Stats.MAXIMUM, ...props });
  }
}
