import { Duration } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { IDataStream } from '../../data-stream';
import { DashboardWidgets as W } from '../dashboard';
import { markWatched } from '../../private/watched-alarms';
import { ArchiveMetricFactory } from '../metrics/archive-metric-factory';
import type { MonitoredArchive } from '../monitored-parts';
import { graph, header, type MonitoringSegment, type SegmentContext } from './segment';

const DEFAULT_BUFFERING_INTERVAL = Duration.seconds(300);
const FRESHNESS_BUFFER_INTERVALS = 3;

export interface ArchiveSegmentProps {
  readonly stream: IDataStream;
  readonly archive: MonitoredArchive;
  /**
   * Data freshness at which the archive counts as behind, when the archive has no alarms of its own.
   * @default - three of the archive's buffering intervals
   */
  readonly freshnessThreshold?: Duration;
}

/**
 * The Firehose archive. Its own alarms are reused (one composite alarm over them notifies people)
 * rather than duplicated; an archive without alarms gets a freshness alarm here.
 */
export class ArchiveSegment implements MonitoringSegment {
  public readonly alarms: cloudwatch.IAlarm[];
  private readonly metrics: ArchiveMetricFactory;

  constructor(
    private readonly context: SegmentContext,
    props: ArchiveSegmentProps,
  ) {
    const { stream, archive } = props;
    const metrics = new ArchiveMetricFactory(archive);
    this.metrics = metrics;
    const alarms = context.alarmFactory;
    const own = archive.alarms ?? [];
    if (own.length > 0) {
      markWatched(own);
      this.alarms = [
        alarms.addAnyOfAlarm('ArchiveAlarm', {
          name: 'Archive',
          description: `The Firehose archive of ${stream.node.path} is behind or failing: one of its ${own.length} alarms is in ALARM.`,
          alarms: own,
        }),
      ];
      return;
    }
    const threshold =
      props.freshnessThreshold ??
      Duration.seconds((archive.bufferingInterval ?? DEFAULT_BUFFERING_INTERVAL).toSeconds() * FRESHNESS_BUFFER_INTERVALS);
    // Published while Firehose reads: none means nothing to deliver.
    this.alarms = [
      alarms.addSustainedAlarm('ArchiveFreshnessAlarm', {
        name: 'ArchiveFreshness',
        description: `The Firehose archive of ${stream.node.path} is behind: data freshness at or above ${threshold.toSeconds()} s for 15 minutes.`,
        metric: metrics.metricDataFreshnessMaxSeconds({ period: Duration.minutes(5) }),
        threshold: threshold.toSeconds(),
        periods: 3,
      }),
    ];
  }

  public dashboardRows(): cloudwatch.IWidget[][] {
    const period = this.context.dashboardPeriod;
    const p = { period };
    const metrics = this.metrics;
    const throttled = metrics.metricThrottledRecordsSum({ ...p, label: 'Throttled records' });
    const width = throttled ? 8 : 12;
    const widgets: cloudwatch.IWidget[] = [
      graph(W.ARCHIVE_FRESHNESS, [metrics.metricDataFreshnessMaxSeconds({ ...p, label: 'Data freshness (s)' })], period, {
        leftYAxis: { min: 0 },
        width,
      }),
      graph(W.ARCHIVE_SUCCESS, [metrics.metricDeliverySuccessAverage({ ...p, label: 'Delivery success' })], period, {
        leftYAxis: { min: 0, max: 1 },
        width,
      }),
    ];
    if (throttled) {
      widgets.push(graph(W.ARCHIVE_THROTTLES, [throttled], period, { leftYAxis: { min: 0 }, width }));
    }
    return [[header('### Firehose archive')], widgets];
  }
}
