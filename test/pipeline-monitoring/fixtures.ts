import { Duration, type Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { MonitoredArchive, MonitoredConsumer, MonitoredProducer } from '../../lib';

const NAMESPACE = 'KinesisPipeline';

function plainFunction(stack: Stack, id: string): lambda.Function {
  return new lambda.Function(stack, id, {
    runtime: lambda.Runtime.NODEJS_24_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => ({});'),
  });
}

function custom(service: string, metricName: string, statistic: string) {
  return (props?: cloudwatch.MetricOptions) =>
    new cloudwatch.Metric({ namespace: NAMESPACE, metricName, dimensionsMap: { service }, statistic, ...props });
}

/** A producer stub: a plain function with the ProducerFunction metric methods. */
export function stubProducer(stack: Stack): MonitoredProducer & { fn: lambda.Function } {
  const fn = plainFunction(stack, 'Producer');
  const service = 'producer-service';
  return Object.assign(fn, {
    fn,
    onFailureQueue: new sqs.Queue(stack, 'ProducerOnFailure', { enforceSSL: true }),
    metricThrottledEntries: custom(service, 'ThrottledEntries', 'Sum'),
    metricUserRecords: custom(service, 'UserRecords', 'Sum'),
    metricKinesisRecords: custom(service, 'KinesisRecords', 'Sum'),
    metricAggregationRatio: custom(service, 'AggregationRatio', 'Average'),
    metricRetries: custom(service, 'Retries', 'Sum'),
    metricFailedRecords: custom(service, 'FailedRecords', 'Sum'),
    metricResentRecords: custom(service, 'ResentRecords', 'Sum'),
  });
}

/** A consumer stub: a plain function, an on-failure queue, and the ConsumerFunction metric methods. */
export function stubConsumer(
  stack: Stack,
  options: { queue?: boolean; maxBatchingWindow?: Duration } = {},
): MonitoredConsumer & { fn: lambda.Function; queue?: sqs.Queue } {
  const fn = plainFunction(stack, 'Consumer');
  const queue = options.queue === false ? undefined : new sqs.Queue(stack, 'OnFailure', { enforceSSL: true });
  return Object.assign(fn, {
    fn,
    queue,
    onFailureQueue: queue,
    maxBatchingWindow: options.maxBatchingWindow,
    metricIteratorAge: (props?: cloudwatch.MetricOptions) => fn.metric('IteratorAge', { statistic: cloudwatch.Stats.MAXIMUM, ...props }),
    metricDuplicatesSkipped: custom('consumer-service', 'DuplicatesSkipped', 'Sum'),
    metricOutOfRangeSkipped: custom('consumer-service', 'OutOfRangeSkipped', 'Sum'),
  });
}

/** An archive stub: Firehose metrics on a named delivery stream, with or without alarms of its own. */
export function stubArchive(stack: Stack, options: { alarms?: boolean; bufferingInterval?: Duration } = {}): MonitoredArchive {
  const firehose = (metricName: string, statistic: string) => (props?: cloudwatch.MetricOptions) =>
    new cloudwatch.Metric({
      namespace: 'AWS/Firehose',
      metricName,
      dimensionsMap: { DeliveryStreamName: 'archive-stub' },
      statistic,
      ...props,
    });
  const metricDataFreshness = firehose('DeliveryToS3.DataFreshness', 'Maximum');
  const alarms = options.alarms
    ? [new cloudwatch.Alarm(stack, 'ArchiveOwnFreshness', { metric: metricDataFreshness(), threshold: 900, evaluationPeriods: 1 })]
    : undefined;
  return {
    metricDataFreshness,
    metricDeliverySuccess: firehose('DeliveryToS3.Success', 'Average'),
    metricThrottledRecords: firehose('ThrottledRecords', 'Sum'),
    alarms,
    bufferingInterval: options.bufferingInterval,
  };
}

export const minutes = (n: number) => Duration.minutes(n).toMilliseconds();

/**
 * The dashboard body as JSON: the template holds it as an Fn::Join of strings and tokens; tokens
 * become `{{Ref:Id}}` / `{{GetAtt:Id.Attr}}` placeholders inside their JSON strings.
 */
export function dashboardBody(template: Template): DashboardBody {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  return JSON.parse(resolveJoin(dashboards[0].Properties.DashboardBody)) as DashboardBody;
}

export interface DashboardWidget {
  type: string;
  properties: {
    title?: string;
    markdown?: string;
    metrics?: unknown[][];
    annotations?: { horizontal?: Array<{ value: number; label: string }> };
    alarms?: string[];
    period?: number;
  };
}
export interface DashboardBody {
  widgets: DashboardWidget[];
}

export function widget(body: DashboardBody, title: string): DashboardWidget {
  const found = body.widgets.find((candidate) => candidate.properties.title === title);
  if (!found) {
    throw new Error(`no widget titled '${title}' in ${body.widgets.map((w) => w.properties.title).join(', ')}`);
  }
  return found;
}

function resolveJoin(value: unknown): string {
  if (typeof value === 'string') {
    return value;
  }
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join) {
    return join[1].map(resolveJoin).join(join[0]);
  }
  const ref = (value as { Ref?: string }).Ref;
  if (ref) {
    return `{{Ref:${ref}}}`;
  }
  const getAtt = (value as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
  if (getAtt) {
    return `{{GetAtt:${getAtt[0]}.${getAtt[1]}}}`;
  }
  throw new Error(`unexpected token in dashboard body: ${JSON.stringify(value)}`);
}
