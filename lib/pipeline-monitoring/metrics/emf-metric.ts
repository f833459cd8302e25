import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { METRICS_NAMESPACE } from '../../private/pipeline-function';

/**
 * One custom metric of a pipeline handler: namespace `KinesisPipeline`, the handler's `service`
 * dimension, then the caller's options (statistic, period, label) spread last.
 */
export function emfMetric(serviceName: string, metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
  return new cloudwatch.Metric({ namespace: METRICS_NAMESPACE, metricName, dimensionsMap: { service: serviceName }, ...props });
}
