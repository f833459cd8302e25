import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { MonitoredArchive } from '../monitored-parts';
import type { MetricProps } from './stream-metric-factory';

/**
 * What monitoring reads of a Firehose archive (`MonitoredArchive`: `FirehoseArchive` or your
 * own), statistic and unit in the method name.
 */
export class ArchiveMetricFactory {
  constructor(private readonly archive: MonitoredArchive) {}

  /** DeliveryToS3.DataFreshness, Maximum, seconds. */
  public metricDataFreshnessMaxSeconds(props: MetricProps): cloudwatch.IMetric {
    return this.archive.metricDataFreshness({ ...props, statistic: cloudwatch.Stats.MAXIMUM });
  }

  /** DeliveryToS3.Success, Average (the share of successful deliveries). */
  public metricDeliverySuccessAverage(props: MetricProps): cloudwatch.IMetric {
    return this.archive.metricDeliverySuccess({ ...props, statistic: cloudwatch.Stats.AVERAGE });
  }

  /** Throttled reads from the stream, Sum as the archive adds them up (`FirehoseArchive`: a sum of three metrics). */
  public metricThrottledRecordsSum(props: MetricProps): cloudwatch.IMetric | undefined {
    return this.archive.metricThrottledRecords?.(props);
  }
}
