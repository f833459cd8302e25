import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { Construct } from 'constructs';
import type { IDataStream } from '../data-stream';
import type { MonitoringSegment } from './segments/segment';

/** Titles of the dashboard's widgets, so tests and users can find them. */
export const DashboardWidgets = {
  ALARMS: 'Alarms',
  CONSUMER_FAN_OUT: 'Consumer: enhanced fan-out (SubscribeToShard)',
  STREAM_BYTES: 'Stream: incoming bytes',
  STREAM_RECORDS: 'Stream: incoming records',
  STREAM_THROTTLES: 'Stream: throttled requests',
  STREAM_ITERATOR_AGE: 'Stream: iterator age',
  PRODUCER_RECORDS: 'Producer: records in',
  PRODUCER_AGGREGATION: 'Producer: aggregation ratio',
  PRODUCER_RETRIES: 'Producer: retries and failed records',
  CONSUMER_ITERATOR_AGE: 'Consumer: iterator age',
  CONSUMER_ERRORS: 'Consumer: errors and throttles',
  CONSUMER_DURATION: 'Consumer: duration',
  CONSUMER_CONCURRENCY: 'Consumer: concurrency',
  CONSUMER_DUPLICATES: 'Consumer: duplicates skipped',
  CONSUMER_FAILURE_QUEUE: 'Consumer: on-failure queue depth',
  ARCHIVE_FRESHNESS: 'Archive: data freshness',
  ARCHIVE_SUCCESS: 'Archive: delivery success',
  ARCHIVE_THROTTLES: 'Archive: throttled reads',
  AUTOSCALER_SHARDS: 'Autoscaler: shard count',
  AUTOSCALER_DECISIONS: 'Autoscaler: decisions',
  AUTOSCALER_ALARMS: 'Autoscaler: scaling alarms',
  AUTOSCALER_FAILURES: 'Autoscaler: errors, throttles, failed events',
} as const;

export interface DashboardSpec {
  readonly dashboardName?: string;
  /** Every alarm for people, in the status widget at the top. */
  readonly alarms: cloudwatch.IAlarm[];
  /** The parts, top to bottom. */
  readonly segments: readonly MonitoringSegment[];
}

/** The pipeline dashboard: the status of every alarm, then each segment's rows. */
export function buildDashboard(scope: Construct, id: string, spec: DashboardSpec): cloudwatch.Dashboard {
  const dashboard = new cloudwatch.Dashboard(scope, id, {
    dashboardName: spec.dashboardName,
    periodOverride: cloudwatch.PeriodOverride.INHERIT,
  });
  dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: DashboardWidgets.ALARMS, alarms: spec.alarms, width: 24, height: 3 }));
  for (const segment of spec.segments) {
    for (const row of segment.dashboardRows()) {
      dashboard.addWidgets(...row);
    }
  }
  return dashboard;
}

/** "24 h retention", or what was assumed when the retention is a token or unknown (imports). */
export function retentionLabel(stream: IDataStream): string {
  if (stream.retention === undefined) {
    return 'retention (unknown for this import; 24 h assumed)';
  }
  return stream.retention.isUnresolved() ? 'retention (a token; 24 h assumed)' : `${stream.retention.toHours()} h retention`;
}
