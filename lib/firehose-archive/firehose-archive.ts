import { Annotations, Aspects, Duration, Size, SizeRoundingBehavior, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { IDataStream } from '../data-stream';
import { ALARMS_REACH_NOBODY } from '../pipeline-monitoring/pipeline-monitoring';
import { AlarmFactory, MissingData } from '../private/alarm-factory';
import { PropValidator } from '../private/prop-validator';
import { isWatched } from '../private/watched-alarms';
import { ArchiveBucket, type ArchiveBucketProps } from './archive-bucket';

/** Hive-style time partitions, so Athena and Glue read the archive without a crawler. */
export const DEFAULT_DATA_OUTPUT_PREFIX = 'year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/';
/** Failed records go apart, by failure type and time. */
export const DEFAULT_ERROR_OUTPUT_PREFIX =
  'errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/';

/**
 * What the delivery role may do on objects: write them and clean up multipart uploads, plus the
 * reads Firehose documents for an S3 destination. No delete.
 */
const OBJECT_ACTIONS = ['s3:PutObject', 's3:AbortMultipartUpload', 's3:GetObject'];
const BUCKET_ACTIONS = ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'];
const LOG_ACTIONS = ['logs:PutLogEvents'];
/** What Firehose needs of a transformation Lambda (Firehose developer guide, "Grant Firehose access to an S3 destination"). */
const PROCESSOR_ACTIONS = ['lambda:InvokeFunction', 'lambda:GetFunctionConfiguration'];
const BUCKET_KEY_ACTIONS = ['kms:GenerateDataKey', 'kms:Decrypt'];
/** Construct id of the stack-level mapping the aws-kinesisfirehose L2 adds (see the constructor). */
const FIREHOSE_CIDR_MAPPING_ID = '@aws-cdk--aws-kinesisfirehose.CidrBlocks';
/** The Firehose metrics of a Kinesis Data Streams source that count throttled calls. */
const SOURCE_THROTTLE_METRICS = ['ThrottledGetRecords', 'ThrottledGetShardIterator', 'ThrottledDescribeStream'];

/** Dynamic partitioning on fields of JSON records. */
export interface DynamicPartitioningOptions {
  /**
   * Partition keys and the JQ 1.6 query that reads each from a record, e.g.
   * `{ tenant: '.tenant' }`. Use them in `dataOutputPrefix` as `!{partitionKeyFromQuery:tenant}`.
   */
  readonly keys: Record<string, string>;
  /**
   * How long Firehose retries delivery to a partition, 0 to 7200 seconds.
   * @default Duration.seconds(300)
   */
  readonly retryDuration?: Duration;
}

export interface FirehoseArchiveOptions extends ArchiveBucketProps {
  /**
   * An existing bucket to archive into. The bucket options (lifecycle, removal policy,
   * auto-delete) then do not apply and are an error.
   * @default - a bucket is created: KMS-encrypted with a rotating key, TLS only, no public
   *            access, versioned, with server access logs and the lifecycle rules below
   */
  readonly bucket?: s3.IBucket;

  /**
   * Buffer size before Firehose writes an object, whole MiB from 1 to 128 (at least 64 with
   * dynamic partitioning).
   * @default Size.mebibytes(5), or Size.mebibytes(128) with dynamic partitioning
   */
  readonly bufferingSize?: Size;

  /**
   * Longest time Firehose buffers before it writes an object, whole seconds from 0 to 900 (at
   * least 60 with dynamic partitioning).
   * @default Duration.seconds(300)
   */
  readonly bufferingInterval?: Duration;

  /**
   * Compression of the objects.
   * @default firehose.Compression.GZIP
   */
  readonly compression?: firehose.Compression;

  /**
   * Prefix of delivered objects. Must not contain `!{firehose:error-output-type}`.
   * @default DEFAULT_DATA_OUTPUT_PREFIX - `year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/`
   */
  readonly dataOutputPrefix?: string;

  /**
   * Prefix of records Firehose could not deliver or process. Must contain
   * `!{firehose:error-output-type}`.
   * @default DEFAULT_ERROR_OUTPUT_PREFIX - `errors/!{firehose:error-output-type}/year=…/month=…/day=…/`
   */
  readonly errorOutputPrefix?: string;

  /**
   * A Lambda function that transforms records before delivery. Firehose hands it the user
   * records, already de-aggregated from the KPL format. The delivery role may invoke this
   * function (not its other versions or aliases); it may live in another account.
   * @default - no transformation
   */
  readonly processor?: lambda.IFunction;

  /**
   * Partition objects by fields of JSON records (inline JQ parsing). Records that are not JSON
   * go to the error prefix.
   * @default - time partitions only
   */
  readonly dynamicPartitioning?: DynamicPartitioningOptions;

  /**
   * Append a newline after every record, so objects are JSON Lines / newline-delimited text that
   * Athena and `zcat | jq` read record by record.
   * @default true
   */
  readonly newlineDelimiter?: boolean;

  /**
   * How long Firehose's own delivery error logs are kept.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * Data freshness above which the freshness alarm fires.
   * @default - three buffering intervals, and at least 5 minutes (15 minutes with the default interval)
   */
  readonly freshnessAlarmThreshold?: Duration;

  /**
   * Actions of the archive's three alarms (freshness, delivery success, source throttling), on
   * ALARM: e.g. `new actions.SnsAction(topic)`. More can be added with `addAlarmAction`.
   * @default - none: the alarms are for whoever watches `alarms`. `PipelineMonitoring` over this
   *            archive notifies its topic through one composite alarm over them; without either,
   *            synth warns that the archive's alarms reach nobody (`ALARMS_REACH_NOBODY`)
   */
  readonly alarmActions?: cloudwatch.IAlarmAction[];
}

export interface FirehoseArchiveProps extends FirehoseArchiveOptions {
  /** The stream to archive (provisioned or on-demand). */
  readonly stream: IDataStream;
}

/**
 * Every record of a `DataStream` in S3, through a Firehose delivery stream: time-partitioned,
 * compressed, encrypted, impossible to make public, with alarms when delivery falls behind.
 *
 * Records the producer aggregated in the KPL format land as the user records: Firehose
 * de-aggregates KPL records read from a Kinesis Data Streams source before it delivers them (or
 * hands them to a transformation Lambda).
 */
export class FirehoseArchive extends Construct {
  public readonly deliveryStream: firehose.IDeliveryStream;
  /** The bucket the archive writes to. */
  public readonly bucket: s3.IBucket;
  /** The bucket that receives the archive bucket's server access logs, when this construct created it. */
  public readonly accessLogsBucket?: s3.IBucket;
  /**
   * The one role Firehose assumes: reads its stream (and the stream's key), writes under the
   * archive prefixes of its bucket, invokes the processor, writes its log group.
   */
  public readonly deliveryRole: iam.IRole;
  /** Buffering interval, for alarm thresholds. */
  public readonly bufferingInterval: Duration;
  /** Freshness, delivery success and source throttling alarms. */
  public readonly alarms: cloudwatch.IAlarm[];
  public readonly freshnessAlarm: cloudwatch.Alarm;
  public readonly deliverySuccessAlarm: cloudwatch.Alarm;
  public readonly throttlingAlarm: cloudwatch.Alarm;
  private alarmsHaveActions = false;

  constructor(scope: Construct, id: string, props: FirehoseArchiveProps) {
    super(scope, id);
    validateProps(props);
    const dataOutputPrefix = props.dataOutputPrefix ?? DEFAULT_DATA_OUTPUT_PREFIX;
    const errorOutputPrefix = props.errorOutputPrefix ?? DEFAULT_ERROR_OUTPUT_PREFIX;
    this.bufferingInterval = props.bufferingInterval ?? Duration.seconds(300);

    if (props.bucket) {
      this.bucket = props.bucket;
    } else {
      const created = new ArchiveBucket(this, 'Bucket', props);
      this.bucket = created.bucket;
      this.accessLogsBucket = created.accessLogsBucket;
    }

    const logGroup = new logs.LogGroup(this, 'DeliveryLogs', { retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR });
    const role = new iam.Role(this, 'DeliveryRole', {
      assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'Firehose archive: reads its one stream, writes under its bucket prefixes and its log group only',
    });
    this.deliveryRole = role;
    this.grantDelivery(role, logGroup, [dataOutputPrefix, errorOutputPrefix]);
    if (props.processor) {
      // On the function itself only (grantInvoke would also add `<arn>:*`, every version and
      // alias); see GrantlessLambdaProcessor for why the L2 processor does not grant it.
      role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: PROCESSOR_ACTIONS, resources: [props.processor.functionArn] }));
    }

    const cidrMappingExisted = Stack.of(this).node.tryFindChild(FIREHOSE_CIDR_MAPPING_ID) !== undefined;
    this.deliveryStream = new firehose.DeliveryStream(this, 'Resource', {
      // The same role reads the source: the L2 grants it read on this one stream (and decrypt on
      // the stream's key) and makes the delivery stream wait for that policy. Without it, the L2
      // would create a second role without the aws:SourceAccount condition.
      role,
      source: new firehose.KinesisStreamSource(props.stream),
      destination: new firehose.S3Bucket(this.bucket, {
        // The L2 would grant read-write on the whole bucket; its grants go nowhere on this
        // immutable view, and grantDelivery above gives the exact permissions instead.
        role: role.withoutPolicyUpdates(),
        bufferingInterval: this.bufferingInterval,
        bufferingSize: props.bufferingSize ?? (props.dynamicPartitioning ? Size.mebibytes(128) : Size.mebibytes(5)),
        compression: props.compression ?? firehose.Compression.GZIP,
        dataOutputPrefix,
        errorOutputPrefix,
        loggingConfig: new firehose.EnableLogging(logGroup),
        processors: processors(props),
        dynamicPartitioning: props.dynamicPartitioning
          ? { enabled: true, retryDuration: props.dynamicPartitioning.retryDuration }
          : undefined,
      }),
    });

    const freshnessThreshold = props.freshnessAlarmThreshold ?? Duration.seconds(Math.max(3 * this.bufferingInterval.toSeconds(), 300));
    // Generated names; no actions here: `alarms` is for whoever watches the archive
    // (PipelineMonitoring alarms people through one composite alarm over them).
    const alarms = new AlarmFactory(this, {
      actions: { deferredTo: 'the user of FirehoseArchive.alarms (PipelineMonitoring: a composite alarm notifying its topic)' },
    });
    this.freshnessAlarm = alarms.addAlarm('FreshnessAlarm', {
      description: `Firehose archive ${this.node.path} is behind: the oldest undelivered record is older than ${freshnessThreshold.toSeconds()} s.`,
      metric: this.metricDataFreshness({ period: Duration.minutes(5) }),
      threshold: freshnessThreshold.toSeconds(),
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      // No data means nothing flows through the stream: not a delivery problem.
      missingData: MissingData.NOTHING_HAPPENED,
    });
    this.deliverySuccessAlarm = alarms.addAlarm('DeliverySuccessAlarm', {
      description: `Firehose archive ${this.node.path} failed to deliver to S3 (DeliveryToS3.Success below 1); records are retried, then written under the error prefix.`,
      metric: this.metricDeliverySuccess({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MINIMUM }),
      threshold: 1,
      comparison: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 1,
      missingData: MissingData.NOTHING_HAPPENED,
    });
    this.throttlingAlarm = alarms.addAlarm('SourceThrottlingAlarm', {
      description: `Firehose archive ${this.node.path} is throttled reading its stream (GetRecords, GetShardIterator or DescribeStream): it competes with other consumers for the stream's read capacity.`,
      metric: this.metricThrottledRecords({ period: Duration.minutes(5) }),
      threshold: 0,
      comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      missingData: MissingData.NOTHING_HAPPENED,
    });
    this.alarms = [this.freshnessAlarm, this.deliverySuccessAlarm, this.throttlingAlarm];
    this.addAlarmAction(...(props.alarmActions ?? []));
    // At synth, when every construct exists: alarms with no action that nobody watches reach nobody.
    Aspects.of(this).add({
      visit: (node) => {
        if (node === this && !this.alarmsHaveActions && !this.alarms.every(isWatched)) {
          Annotations.of(this).addWarningV2(
            ALARMS_REACH_NOBODY,
            `The archive's alarms (freshness, delivery success, source throttling) have no action and no PipelineMonitoring watches them: ` +
              `give them one (alarmActions or addAlarmAction), put the archive under a PipelineMonitoring, or acknowledge this warning.`,
          );
        }
      },
    });

    // The L2 adds a mapping of Firehose's CIDR blocks to the stack for `connections`, which only
    // destinations in a VPC use; with S3 it would stay unreferenced (a CloudFormation Validate
    // finding, W7001). Remove it when this delivery stream added it and nothing can use it.
    if (!cidrMappingExisted) {
      Stack.of(this).node.tryRemoveChild(FIREHOSE_CIDR_MAPPING_ID);
    }
    Validations.of(this.deliveryStream).acknowledge({
      id: 'AwsSolutions-KDF1',
      reason:
        'Server-side encryption of a delivery stream applies to Direct PUT sources only. This one reads a Kinesis data stream, which is KMS-encrypted at rest, and writes to a KMS-encrypted bucket.',
    });
  }

  /** Any `AWS/Firehose` metric of this delivery stream, with the `DeliveryStreamName` dimension. */
  /** Adds actions (on ALARM) to the archive's three alarms. */
  public addAlarmAction(...actions: cloudwatch.IAlarmAction[]): void {
    if (actions.length === 0) {
      return;
    }
    for (const alarm of [this.freshnessAlarm, this.deliverySuccessAlarm, this.throttlingAlarm]) {
      alarm.addAlarmAction(...actions);
    }
    this.alarmsHaveActions = true;
  }

  public metric(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.deliveryStream.metric(metricName, props);
  }

  /** Age of the oldest record not yet delivered to S3, in seconds, maximum over the period. */
  public metricDataFreshness(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('DeliveryToS3.DataFreshness', { statistic: cloudwatch.Stats.MAXIMUM, ...props });
  }

  /** Share of successful S3 puts (1 = all succeeded), average over the period. */
  public metricDeliverySuccess(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('DeliveryToS3.Success', { statistic: cloudwatch.Stats.AVERAGE, ...props });
  }

  /** Records delivered to S3, summed over the period. */
  public metricDeliveredRecords(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('DeliveryToS3.Records', { statistic: cloudwatch.Stats.SUM, ...props });
  }

  /**
   * Throttled calls of the stream source (GetRecords, GetShardIterator, DescribeStream), summed
   * over the period; missing data counts as 0.
   */
  public metricThrottledRecords(props?: cloudwatch.MetricOptions): cloudwatch.MathExpression {
    const period = props?.period ?? Duration.minutes(5);
    const usingMetrics: Record<string, cloudwatch.IMetric> = {};
    SOURCE_THROTTLE_METRICS.forEach((name, index) => {
      usingMetrics[`t${index}`] = this.metric(name, { statistic: cloudwatch.Stats.SUM, ...props, period });
    });
    return new cloudwatch.MathExpression({
      expression: Object.keys(usingMetrics)
        .map((key) => `FILL(${key}, 0)`)
        .join(' + '),
      usingMetrics,
      period,
      label: props?.label ?? 'Throttled source calls',
    });
  }

  /** The exact permissions of an S3 destination: objects under the given prefixes, the bucket's key, the log group. */
  private grantDelivery(role: iam.Role, logGroup: logs.LogGroup, prefixes: string[]): void {
    const fixedParts = [...new Set(prefixes.map(staticPart))];
    const objectResources = fixedParts.map((fixed) => `${this.bucket.bucketArn}/${fixed}*`);
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: BUCKET_ACTIONS, resources: [this.bucket.bucketArn] }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: OBJECT_ACTIONS, resources: objectResources }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: LOG_ACTIONS, resources: [logGroup.logGroupArn] }));
    if (this.bucket.encryptionKey) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: BUCKET_KEY_ACTIONS,
          resources: [this.bucket.encryptionKey.keyArn],
          // Only through S3, and only for this bucket: S3 names the bucket (with S3 Bucket Keys) or
          // the object (without) in the encryption context, so either the bucket or its prefixes.
          conditions: {
            StringEquals: { 'kms:ViaService': `s3.${Stack.of(this).region}.amazonaws.com` },
            StringLike: { 'kms:EncryptionContext:aws:s3:arn': [this.bucket.bucketArn, ...objectResources] },
          },
        }),
      );
    }
    objectResources.forEach((resource, index) => {
      const bucketWide = fixedParts[index] === '';
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResourceName(this, resource)}]`,
        reason: bucketWide
          ? 'Firehose names the objects it writes, and this archive prefix begins with an expression, so no fixed part can narrow it: the wildcard covers object keys of this one archive bucket only, with no delete.'
          : 'Firehose names the objects it writes; the wildcard covers object keys below one fixed archive prefix of this one bucket, nothing else.',
      });
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${logicalIdOf(logGroup)}.Arn>]`,
      reason:
        "A log group ARN ends in :* to cover its log streams; this is the delivery stream's own log group and only PutLogEvents is allowed.",
    });
  }
}

/** The part of an S3 prefix before its first `!{…}` expression: what an IAM resource can name. */
function staticPart(prefix: string): string {
  const expression = prefix.indexOf('!{');
  return expression === -1 ? prefix : prefix.slice(0, expression);
}

function logicalIdOf(construct: Construct): string {
  const child = construct.node.defaultChild as import('aws-cdk-lib').CfnElement;
  return Stack.of(construct).getLogicalId(child);
}

/** How cdk-nag names a resource in a finding: `Fn::GetAtt` parts become `<LogicalId.Attribute>`, `Ref`s `<Name>`. */
function nagResourceName(scope: Construct, resource: string): string {
  const resolved = Stack.of(scope).resolve(resource) as string | { 'Fn::Join': [string, unknown[]] };
  if (typeof resolved === 'string') {
    return resolved; // a bucket given by a literal ARN
  }
  return resolved['Fn::Join'][1]
    .map((part) => {
      if (typeof part === 'string') {
        return part;
      }
      const intrinsic = part as { 'Fn::GetAtt'?: [string, string]; Ref?: string };
      return intrinsic['Fn::GetAtt'] ? `<${intrinsic['Fn::GetAtt'].join('.')}>` : `<${intrinsic.Ref}>`;
    })
    .join(resolved['Fn::Join'][0]);
}

/**
 * The configuration `firehose.LambdaFunctionProcessor` renders, without its `grantInvoke` on the
 * role it is bound with: that role is the immutable view of the delivery role (so the grant would
 * go nowhere), and for a function of another account or region `grantInvoke` tries to add a
 * resource policy to it and throws. The constructor grants invoke on the function instead.
 */
class GrantlessLambdaProcessor implements firehose.IDataProcessor {
  public readonly props: firehose.DataProcessorProps = {};

  constructor(private readonly fn: lambda.IFunction) {}

  public bind(): firehose.DataProcessorConfig {
    return { processorType: 'Lambda', processorIdentifier: { parameterName: 'LambdaArn', parameterValue: this.fn.functionArn } };
  }
}

function processors(props: FirehoseArchiveProps): firehose.IDataProcessor[] {
  const list: firehose.IDataProcessor[] = [];
  if (props.processor) {
    list.push(new GrantlessLambdaProcessor(props.processor));
  }
  if (props.dynamicPartitioning) {
    list.push(firehose.MetadataExtractionProcessor.jq16(props.dynamicPartitioning.keys));
  }
  if (props.newlineDelimiter ?? true) {
    list.push(new firehose.AppendDelimiterToRecordProcessor());
  }
  return list;
}

function validateProps(props: FirehoseArchiveProps): void {
  const v = new PropValidator('FirehoseArchive');
  const size = props.bufferingSize;
  if (size && !Token.isUnresolved(size.toBytes())) {
    const mib = size.toMebibytes({ rounding: SizeRoundingBehavior.NONE });
    const min = props.dynamicPartitioning ? 64 : 1;
    if (mib < min || mib > 128 || !Number.isInteger(mib)) {
      v.fail(
        `bufferingSize must be whole MiB from ${min} to 128${props.dynamicPartitioning ? ' with dynamic partitioning' : ''}; received ${mib} MiB`,
      );
    }
  }
  const interval = props.bufferingInterval;
  if (interval && !interval.isUnresolved()) {
    const seconds = interval.toSeconds({ integral: false });
    const min = props.dynamicPartitioning ? 60 : 0;
    if (seconds < min || seconds > 900 || !Number.isInteger(seconds)) {
      v.fail(
        `bufferingInterval must be whole seconds from ${min} to 900${props.dynamicPartitioning ? ' with dynamic partitioning' : ''}; received ${seconds} seconds`,
      );
    }
  }
  const prefix = props.dataOutputPrefix;
  if (prefix !== undefined && !Token.isUnresolved(prefix)) {
    if (prefix.includes('!{firehose:error-output-type}')) {
      v.fail(`dataOutputPrefix must not contain !{firehose:error-output-type}; received '${prefix}'`);
    }
    if (props.dynamicPartitioning && !prefix.includes('!{partitionKeyFromQuery:')) {
      v.fail(`dataOutputPrefix must use a partition key (!{partitionKeyFromQuery:<key>}) with dynamic partitioning; received '${prefix}'`);
    }
  }
  if (props.dynamicPartitioning && props.dataOutputPrefix === undefined) {
    v.fail("dataOutputPrefix is required with dynamic partitioning, e.g. 'tenant=!{partitionKeyFromQuery:tenant}/year=!{timestamp:yyyy}/'");
  }
  const errorPrefix = props.errorOutputPrefix;
  if (errorPrefix !== undefined && !Token.isUnresolved(errorPrefix) && !errorPrefix.includes('!{firehose:error-output-type}')) {
    v.fail(`errorOutputPrefix must contain !{firehose:error-output-type}; received '${errorPrefix}'`);
  }
  if (props.dynamicPartitioning) {
    const keys = Object.keys(props.dynamicPartitioning.keys);
    if (keys.length === 0 || keys.length > 50) {
      v.fail(`dynamicPartitioning.keys must name 1 to 50 keys; received ${keys.length}`);
    }
    const retry = props.dynamicPartitioning.retryDuration;
    if (retry && !retry.isUnresolved() && (retry.toSeconds() < 0 || retry.toSeconds() > 7200)) {
      v.fail(`dynamicPartitioning.retryDuration must be from 0 to 7200 seconds; received ${retry.toSeconds()} seconds`);
    }
  }
  const freshness = props.freshnessAlarmThreshold;
  if (freshness && !freshness.isUnresolved() && freshness.toSeconds() < 60) {
    v.fail(`freshnessAlarmThreshold must be at least 60 seconds; received ${freshness.toSeconds()} seconds`);
  }
  if (props.bucket) {
    const bucketOnly = (['lifecycle', 'removalPolicy', 'autoDeleteObjects', 'encryptionKey'] as const).filter(
      (name) => props[name] !== undefined,
    );
    if (bucketOnly.length > 0) {
      v.fail(
        `${bucketOnly.join(', ')} appl${bucketOnly.length === 1 ? 'ies' : 'y'} to the bucket this construct creates; remove ${bucketOnly.length === 1 ? 'it' : 'them'} or do not pass bucket`,
      );
    }
  }
}
