import { Duration } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { DataStreamMode, type IDataStream } from '../../data-stream';
import { DashboardWidgets as W, retentionLabel } from '../dashboard';
import { StreamMetricFactory } from '../metrics/stream-metric-factory';
import { graph, header, thresholdLine, type MonitoringSegment, type SegmentContext } from './segment';

const MiB = 1024 * 1024;
const ALARM_PERIOD = Duration.minutes(5);
const THROTTLE_PERIOD = Duration.minutes(1);

export interface StreamSegmentProps {
  readonly stream: IDataStream;
  /** Threshold of the iterator-age alarm: retention × `retentionFraction`. */
  readonly iteratorAgeThreshold: Duration;
  readonly retentionFraction: number;
  /** Minutes in a row with throttled writes (or reads) before the throttling alarms fire. */
  readonly throttleMinutes: number;
}

/**
 * The stream: GetRecords iterator age against the retention, write and read throttling. Kinesis
 * publishes these only while requests happen: no data means no reads (or no writes), which is not
 * a fault in itself, so missing data is not breaching.
 */
export class StreamSegment implements MonitoringSegment {
  public readonly alarms: cloudwatch.IAlarm[];
  private readonly metrics: StreamMetricFactory;

  constructor(
    private readonly context: SegmentContext,
    private readonly props: StreamSegmentProps,
  ) {
    const { stream, iteratorAgeThreshold, throttleMinutes } = props;
    const metrics = new StreamMetricFactory(stream);
    this.metrics = metrics;
    const alarms = context.alarmFactory;
    this.alarms = [
      alarms.addSustainedAlarm('StreamIteratorAgeAlarm', {
        name: 'StreamIteratorAge',
        description: `Records of ${stream.node.path} wait unread: GetRecords iterator age at or above ${iteratorAgeThreshold.toMinutes({ integral: false })} minutes (${props.retentionFraction} of the ${retentionLabel(stream)}) for 15 minutes. Records expire at the retention; find the consumer that is stuck or behind.`,
        metric: metrics.metricGetRecordsIteratorAgeMaxMs({ period: ALARM_PERIOD }),
        threshold: iteratorAgeThreshold.toMilliseconds(),
        periods: 3,
      }),
      alarms.addSustainedAlarm('WriteThrottlesAlarm', {
        name: 'WriteThrottles',
        description: `Writes to ${stream.node.path} throttled (WriteProvisionedThroughputExceeded) in ${throttleMinutes} minutes in a row: the stream lacks write capacity${stream.mode === DataStreamMode.ON_DEMAND ? ' (on-demand scales to twice the peak of 30 days; a sudden spike or a hot partition key throttles)' : ' or a partition key is hot'}.`,
        metric: metrics.metricWriteThrottlesSum({ period: THROTTLE_PERIOD }),
        threshold: 1,
        periods: throttleMinutes,
      }),
      alarms.addSustainedAlarm('ReadThrottlesAlarm', {
        name: 'ReadThrottles',
        description: `Reads from ${stream.node.path} throttled (ReadProvisionedThroughputExceeded) in ${throttleMinutes} minutes in a row: standard consumers share 2 MiB/s and 5 GetRecords calls per second per shard; too many consumers, or one that should use enhanced fan-out.`,
        metric: metrics.metricReadThrottlesSum({ period: THROTTLE_PERIOD }),
        threshold: 1,
        periods: throttleMinutes,
      }),
    ];
  }

  public dashboardRows(): cloudwatch.IWidget[][] {
    const { stream, iteratorAgeThreshold } = this.props;
    const period = this.context.dashboardPeriod;
    const seconds = period.toSeconds();
    const metrics = this.metrics;
    const capacityLabel =
      stream.mode === DataStreamMode.ON_DEMAND ? 'on-demand starting capacity' : `capacity of ${stream.shardCount} shard(s) at deploy`;
    // An import without mode (or shard count) has no capacity figures: no capacity line then.
    const capacity = stream.writeCapacity;
    return [
      [header(`### Stream \`${stream.node.path}\` (${stream.mode ?? 'mode unknown'}, ${retentionLabel(stream)})`)],
      [
        graph(W.STREAM_BYTES, [metrics.metricIncomingBytesSum({ period, label: 'Bytes written' })], period, {
          leftAnnotations: capacity
            ? [thresholdLine(capacity.bytesPerSecond * seconds, `Write ${capacityLabel}: ${capacity.bytesPerSecond / MiB} MiB/s`)]
            : [],
          leftYAxis: { min: 0 },
        }),
        graph(W.STREAM_RECORDS, [metrics.metricIncomingRecordsSum({ period, label: 'Records written' })], period, {
          leftAnnotations: capacity
            ? [thresholdLine(capacity.recordsPerSecond * seconds, `Write ${capacityLabel}: ${capacity.recordsPerSecond} records/s`)]
            : [],
          leftYAxis: { min: 0 },
        }),
        graph(
          W.STREAM_THROTTLES,
          [
            metrics.metricWriteThrottlesSum({ period, label: 'Write throttles' }),
            metrics.metricReadThrottlesSum({ period, label: 'Read throttles' }),
          ],
          period,
          { leftYAxis: { min: 0 } },
        ),
        graph(
          W.STREAM_ITERATOR_AGE,
          [metrics.metricGetRecordsIteratorAgeMaxMs({ period, label: 'GetRecords iterator age (ms)' })],
          period,
          {
            leftAnnotations: [thresholdLine(iteratorAgeThreshold.toMilliseconds(), `Alarm: ${iteratorAgeThreshold.toHumanString()}`)],
            leftYAxis: { min: 0 },
          },
        ),
      ],
    ];
  }
}
