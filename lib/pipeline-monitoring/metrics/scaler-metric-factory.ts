import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { DECISION_DIMENSION, ScalerMetric } from '../../../lambda/scaler/contract';
import { METRICS_NAMESPACE } from '../../private/pipeline-function';
import type { MonitoredAutoscaler } from '../monitored-parts';
import { emfMetric } from './emf-metric';
import type { MetricProps } from './stream-metric-factory';

const { SHARD_COUNT, SCALING_DECISION } = ScalerMetric;
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
      dimensionsMap: { service: this.serviceName, [DECISION_DIMENSION]: decision },
      statistic: cloudwatch.Stats.SUM,
      ...props,
    });
  }

  /** Every kind of decision, one line each (a SEARCH expression), Sum over the period (default 5 minutes). */
  public metricDecisionsByKindSum(props: cloudwatch.MetricOptions = {}): cloudwatch.MathExpression {
    const period = props.period ?? DECISIONS_PERIOD;
    return new cloudwatch.MathExpression({
      expression: `SEARCH('{${METRICS_NAMESPACE},${DECISION_DIMENSION},service} MetricName="${SCALING_DECISION}" service="${this.serviceName}"', 'Sum', ${period.toSeconds()})`,
      usingMetrics: {},
      period,
      label: props.label ?? 'Scaling decisions',
    });
  }
}

/**
 * What monitoring reads of a shard autoscaler (`MonitoredAutoscaler`: `ShardAutoscaler` or your
 * own). Decisions and failures are rare events: summed over at least 5 minutes so they read as
 * bars, not dots.
 */
export class ScalerMetricFactory {
  constructor(private readonly autoscaler: MonitoredAutoscaler) {}

  public metricShardCountMax(props: MetricProps): cloudwatch.IMetric {
    return this.autoscaler.metricShardCount(props);
  }

  /** Every kind of decision, one line each, Sum over `period` or 5 minutes, whichever is longer. */
  public metricDecisionsByKindSum(period: Duration): cloudwatch.IMetric {
    return this.autoscaler.metricDecisions({ period: atLeastFiveMinutes(period) });
  }

  /** The scaler's errors and throttles, Sum over `period` or 5 minutes, whichever is longer. */
  public metricScalerFailuresSum(period: Duration, label: string): cloudwatch.IMetric | undefined {
    return this.autoscaler.metricScalerFailures?.({ period: atLeastFiveMinutes(period), label });
  }

  /** Failed alarm events waiting in the scaler's on-failure queue, Maximum. */
  public metricOnFailureQueueDepthMax(props: MetricProps): cloudwatch.IMetric | undefined {
    return this.autoscaler.onFailureQueue?.metricApproximateNumberOfMessagesVisible({ ...props, statistic: cloudwatch.Stats.MAXIMUM });
  }
}

function atLeastFiveMinutes(period: Duration): Duration {
  return period.toSeconds() >= DECISIONS_PERIOD.toSeconds() ? period : DECISIONS_PERIOD;
}
