import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DashboardWidgets, DataStream, DataStreamMode, PipelineMonitoring, ShardAutoscaler, type PipelineMonitoringProps } from '../../lib';
import { testApp, testStack } from '../helpers/app';
import { nagViolations } from '../helpers/nag';
import { dashboardBody, minutes, stubArchive, stubConsumer, stubProducer, widget } from './fixtures';

type Parts = Partial<Omit<PipelineMonitoringProps, 'stream'>>;

function monitored(
  options: {
    stream?: ConstructorParameters<typeof DataStream>[2];
    all?: boolean;
    props?: Parts;
    consumer?: Parameters<typeof stubConsumer>[1];
    archive?: Parameters<typeof stubArchive>[1];
  } = {},
) {
  const stack = testStack();
  const stream = new DataStream(stack, 'Stream', options.stream ?? { shardCount: 2 });
  const parts: Parts = options.all
    ? { producer: stubProducer(stack), consumer: stubConsumer(stack, options.consumer), archive: stubArchive(stack, options.archive) }
    : {};
  const monitoring = new PipelineMonitoring(stack, 'Monitoring', { stream, ...parts, ...options.props });
  return { stack, stream, monitoring, template: Template.fromStack(stack) };
}

const streamRef = { Ref: Match.stringLikeRegexp('^Stream') };
const topicRef = { Ref: Match.stringLikeRegexp('^MonitoringAlarmTopic') };
const consumerRef = { Ref: Match.stringLikeRegexp('^Consumer') };

describe('PipelineMonitoring alarms', () => {
  test('stream alarms carry the StreamName dimension and notify the topic on ALARM and OK', () => {
    const { template } = monitored();

    for (const [suffix, metricName, statistic] of [
      ['StreamIteratorAge', 'GetRecords.IteratorAgeMilliseconds', 'Maximum'],
      ['WriteThrottles', 'WriteProvisionedThroughputExceeded', 'Sum'],
      ['ReadThrottles', 'ReadProvisionedThroughputExceeded', 'Sum'],
    ]) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: Match.stringLikeRegexp(`-${suffix}$`),
        Namespace: 'AWS/Kinesis',
        MetricName: metricName,
        Statistic: statistic,
        Dimensions: [{ Name: 'StreamName', Value: streamRef }],
        AlarmActions: [topicRef],
        OKActions: [topicRef],
        TreatMissingData: 'notBreaching',
      });
    }
  });

  test('iterator-age threshold is retention x fraction: 24 h x 0.25 = 6 h by default', () => {
    const { template, monitoring } = monitored();

    expect(monitoring.iteratorAgeThreshold.toHours()).toBe(6);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('-StreamIteratorAge$'),
      Threshold: 6 * 60 * minutes(1),
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Period: 300,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
    });
  });

  test('iterator-age threshold follows the retention and the fraction props', () => {
    const { template } = monitored({
      stream: { shardCount: 1, retention: Duration.days(7) },
      props: { iteratorAgeRetentionFraction: 0.5 },
    });

    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('-StreamIteratorAge$'),
      Threshold: 84 * 60 * minutes(1),
    });
  });

  test('throttling alarms need throttleAlarmMinutes minutes in a row', () => {
    const { template } = monitored({ props: { throttleAlarmMinutes: 3 } });

    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('-WriteThrottles$'),
      Period: 60,
      Threshold: 1,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
    });
  });

  test('producer failed records: KinesisPipeline FailedRecords with the service dimension, any record', () => {
    const { template } = monitored({ all: true });

    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('-ProducerFailedRecords$'),
      Namespace: 'KinesisPipeline',
      MetricName: 'FailedRecords',
      Dimensions: [{ Name: 'service', Value: 'producer-service' }],
      Statistic: 'Sum',
      Threshold: 1,
      AlarmActions: [topicRef],
      TreatMissingData: 'notBreaching',
    });
  });

  test('producer on-failure queue not empty: its QueueName, keeps its state without data', () => {
    const { template } = monitored({ all: true });

    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('-ProducerOnFailureQueueNotEmpty$'),
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ProducerOnFailure'), 'QueueName'] } }],
      Threshold: 1,
      TreatMissingData: 'ignore',
      AlarmActions: [topicRef],
    });
  });

  test('consumer errors and iterator age carry the FunctionName; the batching window adds to the age threshold', () => {
    const { template } = monitored({ all: true, consumer: { maxBatchingWindow: Duration.seconds(30) } });

    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('-ConsumerErrors$'),
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: consumerRef }],
      Statistic: 'Sum',
      Threshold: 1,
      AlarmActions: [topicRef],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('-ConsumerIteratorAge$'),
      Namespace: 'AWS/Lambda',
      MetricName: 'IteratorAge',
      Dimensions: [{ Name: 'FunctionName', Value: consumerRef }],
      Statistic: 'Maximum',
      Threshold: 6 * 60 * minutes(1) + 30_000,
    });
  });

  test('on-failure queue not empty: ApproximateNumberOfMessagesVisible of the queue, keeps its state without data', () => {
    const { template } = monitored({ all: true });

    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('-[0-9A-F]{8}-OnFailureQueueNotEmpty$'),
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^OnFailure'), 'QueueName'] } }],
      Statistic: 'Maximum',
      Threshold: 1,
      TreatMissingData: 'ignore',
      AlarmActions: [topicRef],
    });
  });

  test('a consumer without an on-failure queue gets no queue alarm', () => {
    const { template } = monitored({ all: true, consumer: { queue: false } });

    template.resourcePropertiesCountIs(
      'AWS::CloudWatch::Alarm',
      { AlarmName: Match.stringLikeRegexp('-[0-9A-F]{8}-OnFailureQueueNotEmpty$') },
      0,
    );
  });

  test('archive without alarms of its own: a freshness alarm at three buffering intervals', () => {
    const { template } = monitored({ all: true, archive: { bufferingInterval: Duration.seconds(120) } });

    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('-ArchiveFreshness$'),
      Namespace: 'AWS/Firehose',
      MetricName: 'DeliveryToS3.DataFreshness',
      Dimensions: [{ Name: 'DeliveryStreamName', Value: 'archive-stub' }],
      Threshold: 360,
      AlarmActions: [topicRef],
    });
    template.resourceCountIs('AWS::CloudWatch::CompositeAlarm', 0);
  });

  test('archiveFreshnessThreshold overrides the buffering-derived default', () => {
    const { template } = monitored({ all: true, props: { archiveFreshnessThreshold: Duration.minutes(30) } });

    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: Match.stringLikeRegexp('-ArchiveFreshness$'), Threshold: 1800 });
  });

  test('archive with alarms of its own: reused through one composite alarm, no second freshness alarm', () => {
    const { template } = monitored({ all: true, archive: { alarms: true } });

    template.resourcePropertiesCountIs('AWS::CloudWatch::Alarm', { AlarmName: Match.stringLikeRegexp('-ArchiveFreshness$') }, 0);
    template.hasResourceProperties('AWS::CloudWatch::CompositeAlarm', {
      AlarmName: Match.stringLikeRegexp('-Archive$'),
      AlarmRule: {
        'Fn::Join': [
          '',
          Match.arrayWith([Match.stringLikeRegexp('ALARM\\("'), { 'Fn::GetAtt': [Match.stringLikeRegexp('^ArchiveOwnFreshness'), 'Arn'] }]),
        ],
      },
      AlarmActions: [topicRef],
      OKActions: [topicRef],
    });
  });

  test('every alarm has dimensions on its metric, the name prefix, and both actions to the topic', () => {
    const { template, monitoring } = monitored({ all: true });

    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'))
      .map((resource) => resource.Properties)
      .filter((alarm) => String(alarm.AlarmName ?? '').startsWith(monitoring.alarmNamePrefix));
    expect(alarms.length).toBe(monitoring.alarms.length);
    expect(alarms.map((alarm) => alarm.AlarmName.slice(monitoring.alarmNamePrefix.length)).sort()).toEqual([
      '-ArchiveFreshness',
      '-ConsumerDestinationDeliveryFailures',
      '-ConsumerErrors',
      '-ConsumerIteratorAge',
      '-OnFailureQueueNotEmpty',
      '-ProducerFailedRecords',
      '-ProducerOnFailureQueueNotEmpty',
      '-ReadThrottles',
      '-StreamIteratorAge',
      '-WriteThrottles',
    ]);
    for (const alarm of alarms) {
      expect(alarm.Dimensions.length).toBeGreaterThan(0);
      expect(alarm.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^MonitoringAlarmTopic/) }]);
      expect(alarm.OKActions).toEqual(alarm.AlarmActions);
      expect(alarm.TreatMissingData).toBeDefined();
    }
  });

  test('the default prefix derives from the construct path; alarmNamePrefix replaces it', () => {
    const derived = monitored().monitoring.alarmNamePrefix;
    const { template } = monitored({ props: { alarmNamePrefix: 'ingest-prod' } });

    expect(derived).toMatch(/^TestStack-Monitoring-[0-9A-F]{8}$/);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'ingest-prod-StreamIteratorAge' });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'ingest-prod-WriteThrottles' });
  });

  test("the autoscaler's alarms keep invoking the scaler only: monitoring adds no action to them", () => {
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream', { shardCount: 2 });
    const autoscaler = new ShardAutoscaler(stack, 'Autoscaler', { stream });
    new PipelineMonitoring(stack, 'Monitoring', { stream, autoscaler });
    const template = Template.fromStack(stack);

    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: Match.stringLikeRegexp('-WriteUtilization$'),
      AlarmActions: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^AutoscalerFunction'), 'Arn'] }],
    });
  });
});

describe("PipelineMonitoring and the autoscaler's alarms for people", () => {
  test("the scaler's errors/throttles alarm and the stuck-consumer alarm notify the topic, count among the alarms and show on the dashboard", () => {
    // Prepare
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream', { shardCount: 2 });
    const consumer = stubConsumer(stack);
    const autoscaler = new ShardAutoscaler(stack, 'Autoscaler', {
      stream,
      consumer: {
        ...consumer,
        eventSourceMappingId: 'esm',
        eventSourceMappingArn: 'arn:aws:lambda:us-east-1:111122223333:event-source-mapping:esm',
        functionName: consumer.functionName,
        metricIteratorAge: consumer.metricIteratorAge,
      },
    });
    // Act
    const monitoring = new PipelineMonitoring(stack, 'Monitoring', { stream, consumer, autoscaler });
    // Assess
    const template = Template.fromStack(stack);
    expect(autoscaler.operatorAlarms).toHaveLength(2);
    expect(monitoring.alarms).toEqual(expect.arrayContaining(autoscaler.operatorAlarms));
    for (const suffix of ['ScalerErrors', 'ConsumerStuck']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: Match.stringLikeRegexp(`-${suffix}$`),
        AlarmActions: [topicRef],
        OKActions: [topicRef],
      });
    }
    const body = dashboardBody(template);
    expect(widget(body, DashboardWidgets.AUTOSCALER_FAILURES).properties.metrics).toEqual(
      expect.arrayContaining([
        [expect.objectContaining({ expression: 'FILL(errors, 0) + FILL(throttles, 0)' })],
        [
          'AWS/SQS',
          'ApproximateNumberOfMessagesVisible',
          'QueueName',
          expect.stringMatching(/^\{\{GetAtt:AutoscalerFailedEvents/),
          expect.objectContaining({ stat: 'Maximum' }),
        ],
      ]),
    );
    const alarmArns = JSON.stringify(widget(body, DashboardWidgets.ALARMS).properties.alarms);
    expect(alarmArns).toMatch(/ScalerErrorsAlarm/);
    expect(alarmArns).toMatch(/ConsumerStuckAlarm/);
  });
});

describe('PipelineMonitoring topic', () => {
  test('is encrypted with a rotating customer key that CloudWatch of this account may use', () => {
    const { template } = monitored();

    template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('^MonitoringAlarmTopicKey'), 'Arn'] },
    });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } },
          }),
        ]),
      },
    });
  });

  test('denies publishing without TLS', () => {
    const { template } = monitored();

    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 'sns:Publish',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  test('subscribes alarmEmail; none without it', () => {
    monitored().template.resourceCountIs('AWS::SNS::Subscription', 0);
    const { template } = monitored({ props: { alarmEmail: 'oncall@example.com' } });

    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com', TopicArn: topicRef });
  });

  test('passes cdk-nag AwsSolutions (SNS2 encryption, SNS3 TLS) with every part', () => {
    const app = testApp();
    const nagStack = new Stack(app, 'Nag');
    const stream = new DataStream(nagStack, 'Stream');
    // Stub Lambda functions are not nag-clean themselves; the real parts have their own nag tests.
    const autoscaler = new ShardAutoscaler(nagStack, 'Autoscaler', { stream });
    new PipelineMonitoring(nagStack, 'Monitoring', {
      stream,
      autoscaler,
      archive: stubArchive(nagStack, { alarms: true }),
      alarmEmail: 'oncall@example.com',
    });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

    const violations = nagViolations(app);

    expect(violations).toEqual([]);
  });
});

describe('PipelineMonitoring dashboard', () => {
  test('has the alarm overview and the stream row for a stream alone, and no other rows', () => {
    const body = dashboardBody(monitored().template);
    const titles = body.widgets.map((w) => w.properties.title).filter(Boolean);

    expect(titles).toEqual([
      DashboardWidgets.ALARMS,
      DashboardWidgets.STREAM_BYTES,
      DashboardWidgets.STREAM_RECORDS,
      DashboardWidgets.STREAM_THROTTLES,
      DashboardWidgets.STREAM_ITERATOR_AGE,
    ]);
    expect(widget(body, DashboardWidgets.ALARMS).properties.alarms).toHaveLength(3);
  });

  test('draws write capacity scaled to the period: 2 shards x 1 MiB/s and 1,000 records/s over 60 s', () => {
    const body = dashboardBody(monitored().template);

    expect(widget(body, DashboardWidgets.STREAM_BYTES).properties.annotations?.horizontal?.[0].value).toBe(2 * 1024 * 1024 * 60);
    expect(widget(body, DashboardWidgets.STREAM_RECORDS).properties.annotations?.horizontal?.[0].value).toBe(2 * 1000 * 60);
    expect(widget(body, DashboardWidgets.STREAM_BYTES).properties.metrics).toEqual([
      ['AWS/Kinesis', 'IncomingBytes', 'StreamName', expect.stringMatching(/^\{\{Ref:Stream/), expect.objectContaining({ stat: 'Sum' })],
    ]);
  });

  test('capacity follows dashboardPeriod and the on-demand starting capacity', () => {
    const body = dashboardBody(
      monitored({ stream: { mode: DataStreamMode.ON_DEMAND }, props: { dashboardPeriod: Duration.minutes(5) } }).template,
    );

    const bytes = widget(body, DashboardWidgets.STREAM_BYTES).properties;
    expect(bytes.annotations?.horizontal?.[0]).toEqual(
      expect.objectContaining({ value: 4 * 1024 * 1024 * 300, label: expect.stringMatching(/on-demand starting capacity/) }),
    );
    expect(bytes.period).toBe(300);
  });

  test('draws the iterator-age alarm threshold on the stream and consumer graphs', () => {
    const body = dashboardBody(
      monitored({ all: true, stream: { retention: Duration.hours(48) }, consumer: { maxBatchingWindow: Duration.seconds(10) } }).template,
    );

    expect(widget(body, DashboardWidgets.STREAM_ITERATOR_AGE).properties.annotations?.horizontal?.[0].value).toBe(12 * 60 * minutes(1));
    expect(widget(body, DashboardWidgets.CONSUMER_ITERATOR_AGE).properties.annotations?.horizontal?.[0].value).toBe(
      12 * 60 * minutes(1) + 10_000,
    );
  });

  test('holds a row per part given: producer, consumer (with queue depth), archive, autoscaler', () => {
    const stack = testStack();
    const stream = new DataStream(stack, 'Stream', { shardCount: 2 });
    const autoscaler = new ShardAutoscaler(stack, 'Autoscaler', { stream });
    new PipelineMonitoring(stack, 'Monitoring', {
      stream,
      producer: stubProducer(stack),
      consumer: stubConsumer(stack),
      archive: stubArchive(stack),
      autoscaler,
    });
    const body = dashboardBody(Template.fromStack(stack));

    // The enhanced fan-out graph belongs to enhanced fan-out consumers only (several-consumers.test.ts).
    for (const title of Object.values(DashboardWidgets).filter((name) => name !== DashboardWidgets.CONSUMER_FAN_OUT)) {
      expect(widget(body, title)).toBeDefined();
    }
    expect(widget(body, DashboardWidgets.PRODUCER_RETRIES).properties.metrics).toEqual([
      ['KinesisPipeline', 'Retries', 'service', 'producer-service', expect.anything()],
      ['KinesisPipeline', 'FailedRecords', 'service', 'producer-service', expect.anything()],
      ['KinesisPipeline', 'ThrottledEntries', 'service', 'producer-service', expect.anything()],
      ['KinesisPipeline', 'ResentRecords', 'service', 'producer-service', expect.anything()],
      [
        'AWS/SQS',
        'ApproximateNumberOfMessagesVisible',
        'QueueName',
        expect.stringMatching(/^\{\{GetAtt:ProducerOnFailure/),
        expect.objectContaining({ stat: 'Maximum' }),
      ],
    ]);
    expect(widget(body, DashboardWidgets.CONSUMER_DUPLICATES).properties.metrics).toEqual([
      ['KinesisPipeline', 'DuplicatesSkipped', 'service', 'consumer-service', expect.anything()],
      ['KinesisPipeline', 'OutOfRangeSkipped', 'service', 'consumer-service', expect.anything()],
    ]);
    expect(widget(body, DashboardWidgets.CONSUMER_FAILURE_QUEUE).properties.metrics).toEqual([
      [
        'AWS/SQS',
        'ApproximateNumberOfMessagesVisible',
        'QueueName',
        expect.stringMatching(/^\{\{GetAtt:OnFailure.*\.QueueName\}\}$/),
        expect.objectContaining({ stat: 'Maximum' }),
      ],
    ]);
    expect(widget(body, DashboardWidgets.CONSUMER_CONCURRENCY).properties.metrics).toEqual([
      [
        'AWS/Lambda',
        'ConcurrentExecutions',
        'FunctionName',
        expect.stringMatching(/^\{\{Ref:Consumer/),
        expect.objectContaining({ stat: 'Maximum' }),
      ],
    ]);
    expect(widget(body, DashboardWidgets.AUTOSCALER_ALARMS).properties.alarms).toHaveLength(4);
  });
});

describe('PipelineMonitoring validation', () => {
  const cases: Array<[string, Parts, RegExp]> = [
    [
      'fraction 0',
      { iteratorAgeRetentionFraction: 0 },
      /PipelineMonitoring: iteratorAgeRetentionFraction must be above 0 and below 1; received 0/,
    ],
    ['fraction 1', { iteratorAgeRetentionFraction: 1 }, /iteratorAgeRetentionFraction .* received 1$/],
    ['throttle minutes 0', { throttleAlarmMinutes: 0 }, /throttleAlarmMinutes must be a whole number from 1 to 60; received 0/],
    ['throttle minutes 2.5', { throttleAlarmMinutes: 2.5 }, /throttleAlarmMinutes .* received 2.5/],
    ['throttle minutes 61', { throttleAlarmMinutes: 61 }, /throttleAlarmMinutes .* received 61/],
    ['empty prefix', { alarmNamePrefix: '' }, /alarmNamePrefix must be 1 to 200 printable ASCII characters; received ''/],
    ['non-ASCII prefix', { alarmNamePrefix: 'pipeline-é' }, /alarmNamePrefix .* received 'pipeline-é'/],
    ['long prefix', { alarmNamePrefix: 'x'.repeat(201) }, /alarmNamePrefix/],
    ['bad email', { alarmEmail: 'oncall' }, /alarmEmail must be an email address \(name@domain\); received 'oncall'/],
    [
      'short freshness',
      { archiveFreshnessThreshold: Duration.seconds(30) },
      /archiveFreshnessThreshold must be at least 1 minute; received 30 seconds/,
    ],
    [
      'period in seconds',
      { dashboardPeriod: Duration.seconds(90) },
      /dashboardPeriod must be whole minutes from 1 to 60; received 90 seconds/,
    ],
    ['period too long', { dashboardPeriod: Duration.hours(2) }, /dashboardPeriod .* received 7200 seconds/],
  ];

  test.each(cases)('rejects %s', (_name, props, message) => {
    expect(() => monitored({ props })).toThrow(message);
  });
});
