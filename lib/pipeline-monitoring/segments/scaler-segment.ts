import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { DashboardWidgets as W } from '../dashboard';
import { ScalerMetricFactory } from '../metrics/scaler-metric-factory';
import type { MonitoredAutoscaler } from '../monitored-parts';
import { alarmStatus, graph, header, present, type MonitoringSegment, type SegmentContext } from './segment';

export interface ScalerSegmentProps {
  readonly autoscaler: MonitoredAutoscaler;
  /** What the autoscaler's alarms for people notify (the facade's topic). */
  readonly notify: cloudwatch.IAlarmAction;
}

/**
 * The shard autoscaler. Its scaling alarms invoke the scaler: they are shown, and page nobody
 * (when scaling cannot keep up, the throttling and iterator-age alarms do). Its alarms for people
 * (the scaler's errors and throttles, a stuck consumer) are its own, created in its scope by its
 * alarm factory; they get the facade's topic through `notifyOperators` and count among the alarms.
 */
export class ScalerSegment implements MonitoringSegment {
  public readonly alarms: cloudwatch.IAlarm[];
  private readonly metrics: ScalerMetricFactory;

  constructor(
    private readonly context: SegmentContext,
    private readonly props: ScalerSegmentProps,
  ) {
    this.metrics = new ScalerMetricFactory(props.autoscaler);
    this.alarms = props.autoscaler.notifyOperators ? props.autoscaler.notifyOperators(props.notify) : [];
  }

  public dashboardRows(): cloudwatch.IWidget[][] {
    const { autoscaler } = this.props;
    const period = this.context.dashboardPeriod;
    const p = { period };
    const metrics = this.metrics;
    const failures = present(
      metrics.metricScalerFailuresSum(period, 'Errors + throttles'),
      metrics.metricOnFailureQueueDepthMax({ ...p, label: 'Failed events waiting (on-failure queue)' }),
    );
    const scalingAlarms = autoscaler.alarms ?? [];
    const width = 24 / (2 + (failures.length > 0 ? 1 : 0) + (scalingAlarms.length > 0 ? 1 : 0));
    const widgets: cloudwatch.IWidget[] = [
      graph(W.AUTOSCALER_SHARDS, [metrics.metricShardCountMax({ ...p, label: 'Shards' })], period, { leftYAxis: { min: 0 }, width }),
      graph(W.AUTOSCALER_DECISIONS, [metrics.metricDecisionsByKindSum(period)], period, { leftYAxis: { min: 0 }, width }),
    ];
    if (failures.length > 0) {
      widgets.push(graph(W.AUTOSCALER_FAILURES, failures, period, { leftYAxis: { min: 0 }, width }));
    }
    if (scalingAlarms.length > 0) {
      widgets.push(alarmStatus(W.AUTOSCALER_ALARMS, [...scalingAlarms], width));
    }
    return [[header('### Shard autoscaler')], widgets];
  }
}
