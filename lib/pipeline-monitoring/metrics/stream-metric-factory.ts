import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { IDataStream } from '../../data-stream';

const KINESIS_NAMESPACE = 'AWS/Kinesis';
const FAN_OUT_BEHIND_LATEST = 'SubscribeToShardEvent.MillisBehindLatest';
const FAN_OUT_RATE_EXCEEDED = 'SubscribeToShard.RateExceeded';

/** Period, and a label for graphs. */
export type MetricProps = Pick<cloudwatch.MetricOptions, 'period' | 'label'>;

/**
 * The stream's AWS/Kinesis metrics monitoring reads, statistic and unit in the method name: the
 * stream's own helpers (StreamName dimension), and the per-consumer metrics of enhanced fan-out
 * (StreamName and ConsumerName dimensions).
 */
export class StreamMetricFactory {
  constructor(private readonly stream: IDataStream) {}

  public metricIncomingBytesSum(props: MetricProps): cloudwatch.Metric {
    return this.stream.metricIncomingBytes(props);
  }

  public metricIncomingRecordsSum(props: MetricProps): cloudwatch.Metric {
    return this.stream.metricIncomingRecords(props);
  }

  /** WriteProvisionedThroughputExceeded, Sum. */
  public metricWriteThrottlesSum(props: MetricProps): cloudwatch.Metric {
    return this.stream.metricWriteThrottles(props);
  }

  /** ReadProvisionedThroughputExceeded, Sum. */
  public metricReadThrottlesSum(props: MetricProps): cloudwatch.Metric {
    return this.stream.metricReadThrottles(props);
  }

  /** GetRecords.IteratorAgeMilliseconds, Maximum: standard (GetRecords) consumers only. */
  public metricGetRecordsIteratorAgeMaxMs(props: MetricProps): cloudwatch.Metric {
    return this.stream.metricIteratorAgeMilliseconds(props);
  }

  /** How far an enhanced fan-out consumer's subscription is behind the tip, Maximum, through the stream (a graph follows an imported stream's account and region). */
  public metricFanOutBehindLatestMaxMs(consumerName: string, props: MetricProps): cloudwatch.Metric {
    return this.fanOut(FAN_OUT_BEHIND_LATEST, consumerName, cloudwatch.Stats.MAXIMUM, props);
  }

  /** SubscribeToShard calls refused for their rate, per enhanced fan-out consumer, Sum. */
  public metricFanOutRateExceededSum(consumerName: string, props: MetricProps): cloudwatch.Metric {
    return this.fanOut(FAN_OUT_RATE_EXCEEDED, consumerName, cloudwatch.Stats.SUM, props);
  }

  /** `metricFanOutBehindLatestMaxMs` for an alarm: not attached to the stream, evaluated where the alarm is. */
  public metricFanOutBehindLatestMaxMsForAlarm(consumerName: string, props: MetricProps): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: KINESIS_NAMESPACE,
      metricName: FAN_OUT_BEHIND_LATEST,
      dimensionsMap: this.fanOutDimensions(consumerName),
      statistic: cloudwatch.Stats.MAXIMUM,
      ...props,
    });
  }

  private fanOut(metricName: string, consumerName: string, statistic: string, props: MetricProps): cloudwatch.Metric {
    return this.stream.metric(metricName, { ...props, statistic, dimensionsMap: this.fanOutDimensions(consumerName) });
  }

  private fanOutDimensions(consumerName: string): cloudwatch.DimensionsMap {
    return { StreamName: this.stream.streamName, ConsumerName: consumerName };
  }
}
