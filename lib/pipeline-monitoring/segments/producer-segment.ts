import { Duration } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { IDataStream } from '../../data-stream';
import { DashboardWidgets as W } from '../dashboard';
import { ProducerMetricFactory } from '../metrics/producer-metric-factory';
import type { MonitoredProducer } from '../monitored-parts';
import { graph, header, present, type MonitoringSegment, type SegmentContext } from './segment';

/** Title of the producer's errors and duration graph. */
const ERRORS_AND_DURATION = 'Producer: errors and duration';

export interface ProducerSegmentProps {
  readonly stream: IDataStream;
  readonly producer: MonitoredProducer;
}

/**
 * The producer: records it gave up on (published by invocations; none means nothing was lost),
 * and asynchronous invocations that failed every attempt (its on-failure queue, when it has one).
 */
export class ProducerSegment implements MonitoringSegment {
  public readonly alarms: cloudwatch.IAlarm[] = [];
  private readonly metrics: ProducerMetricFactory;

  constructor(
    private readonly context: SegmentContext,
    props: ProducerSegmentProps,
  ) {
    const { stream, producer } = props;
    const metrics = new ProducerMetricFactory(producer);
    this.metrics = metrics;
    const alarms = context.alarmFactory;
    this.alarms.push(
      alarms.addOccurrenceAlarm('ProducerFailedRecordsAlarm', {
        name: 'ProducerFailedRecords',
        description: `The producer ${producer.functionName} gave up on records after all retries (reported to its callers as failed): they are not in ${stream.node.path}.`,
        metric: metrics.metricFailedRecordsSum({ period: Duration.minutes(1) }),
      }),
    );
    const queueDepth = metrics.metricOnFailureQueueDepthMax({ period: Duration.minutes(5) });
    if (producer.onFailureQueue && queueDepth) {
      this.alarms.push(
        alarms.addQueueNotEmptyAlarm('ProducerOnFailureQueueAlarm', {
          name: 'ProducerOnFailureQueueNotEmpty',
          description: `Asynchronous invocations of the producer ${producer.functionName} failed every attempt and wait in its on-failure queue (${producer.onFailureQueue.queueName}): their records are not in ${stream.node.path}; replay them.`,
          metric: queueDepth,
        }),
      );
    }
  }

  public dashboardRows(): cloudwatch.IWidget[][] {
    const period = this.context.dashboardPeriod;
    const p = { period };
    const metrics = this.metrics;
    return [
      [header('### Producer')],
      [
        graph(
          W.PRODUCER_RECORDS,
          [
            metrics.metricUserRecordsSum({ ...p, label: 'User records in' }),
            metrics.metricKinesisRecordsSum({ ...p, label: 'Kinesis records written' }),
          ],
          period,
          { leftYAxis: { min: 0 } },
        ),
        graph(W.PRODUCER_AGGREGATION, [metrics.metricAggregationRatioAverage({ ...p, label: 'User records per Kinesis record' })], period, {
          leftYAxis: { min: 0 },
        }),
        graph(
          W.PRODUCER_RETRIES,
          present(
            metrics.metricRetriesSum({ ...p, label: 'Retries' }),
            metrics.metricFailedRecordsSum({ ...p, label: 'Failed records' }),
            metrics.metricThrottledEntriesSum({ ...p, label: 'Throttled entries' }),
            metrics.metricResentRecordsSum({ ...p, label: 'Re-sent after a reshard' }),
            metrics.metricOnFailureQueueDepthMax({ ...p, label: 'Failed invocations waiting (on-failure queue)' }),
          ),
          period,
          { leftYAxis: { min: 0 } },
        ),
        graph(ERRORS_AND_DURATION, [metrics.metricErrorsSum({ ...p, label: 'Errors' })], period, {
          right: [metrics.metricDurationP99Ms({ ...p, label: 'Duration p99 (ms)' })],
          leftYAxis: { min: 0 },
        }),
      ],
    ];
  }
}
