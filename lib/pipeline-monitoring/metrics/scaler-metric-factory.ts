import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { METRICS_NAMESPACE } from '../../private/pipeline-function';
import { emfMetric } from './emf-metric';

const SHARD_COUNT = 'ShardCount';
const SCALING_DECISION = 'ScalingDecision';
/** Decisions are rare events: their default period. */
const DECISIONS_PERIOD = Duration.minutes(5);

/**
 * The scaler handler's custom metrics (namespace KinesisPipeline, `service` dimension, decisions
 * with a `Decision` dimension): the one place their names, dimensions and statistics are written.
 * `ShardAutoscaler`'s `metric*` methods return these.
 */
export class ScalerHandlerMetrics {
  constructor(private readonly serviceName: string) {}

  /** The shard count the scaler saw or set, Maximum. */
  public metricShardCountMax(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return emfMetric(this.serviceName, SHARD_COUNT, { statistic: cloudwatch.Stats.MAXIMUM, ...props });
  }

  /** Decisions of one kind, Sum. */
  public metricDecisionSum(decision: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: SCALING_DECISION,
      dimensionsMap: { service: this.serviceName, Decision: decision },
      statistic: cloudwatch.Stats.SUM,
      ...props,
    });
  }

  /** Every kind of decision, one line each (a SEARCH expression), Sum over the period (default 5 minutes). */
  public metricDecisionsByKindSum(props: cloudwatch.MetricOptions = {}): cloudwatch.MathExpression {
    const period = props.period ?? DECISIONS_PERIOD;
    return new cloudwatch.MathExpression({
      expression: `SEARCH('{${METRICS_NAMESPACE},Decision,service} MetricName="${SCALING_DECISION}" service="${this.serviceName}"', 'Sum', ${period.toSeconds()})`,
      usingMetrics: {},
      period,
      label: props.label ?? 'Scaling decisions',
    });
  }
}
