import type { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { AlarmFactory } from '../../private/alarm-factory';

/**
 * The monitoring of one part of the pipeline: the alarms it created (through the facade's alarm
 * factory, in the facade's scope) and its rows of the dashboard.
 */
export interface MonitoringSegment {
  /** The part's alarms for people, in the order they were created. */
  readonly alarms: readonly cloudwatch.IAlarm[];
  /** The part's dashboard rows, top to bottom; the widgets of a row left to right. */
  dashboardRows(): cloudwatch.IWidget[][];
}

/** What every segment gets from the facade. */
export interface SegmentContext {
  /** Names alarms with the facade's prefix and gives each the alarm topic, on ALARM and on OK. */
  readonly alarmFactory: AlarmFactory;
  /** Period of the dashboard's graphs. */
  readonly dashboardPeriod: Duration;
}

const HEIGHT = 6;

/** A graph of the dashboard: a quarter of its width, `HEIGHT` high, at the dashboard's period, unless `extra` says otherwise. */
export function graph(
  title: string,
  left: cloudwatch.IMetric[],
  period: Duration,
  extra: Partial<cloudwatch.GraphWidgetProps> = {},
): cloudwatch.GraphWidget {
  return new cloudwatch.GraphWidget({ title, left, width: 6, height: HEIGHT, period, ...extra });
}

/** A part's title line, across the dashboard. */
export function header(markdown: string): cloudwatch.TextWidget {
  return new cloudwatch.TextWidget({ markdown, width: 24, height: 1 });
}

/** An alarm status widget as high as a graph. */
export function alarmStatus(title: string, alarms: cloudwatch.IAlarm[], width: number): cloudwatch.AlarmStatusWidget {
  return new cloudwatch.AlarmStatusWidget({ title, alarms, width, height: HEIGHT });
}

/** A red horizontal line at an alarm's threshold. */
export function thresholdLine(value: number, label: string): cloudwatch.HorizontalAnnotation {
  return { value, label, color: cloudwatch.Color.RED };
}

/** Present metrics only. */
export function present(...metrics: Array<cloudwatch.IMetric | undefined>): cloudwatch.IMetric[] {
  return metrics.filter((metric): metric is cloudwatch.IMetric => metric !== undefined);
}
