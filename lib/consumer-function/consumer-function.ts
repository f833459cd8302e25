import * as fs from 'fs';
import * as path from 'path';
import { Annotations, Duration, Names, RemovalPolicy, Token, Tokenization } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { CONSUMER_DEFAULTS, CONSUMER_LIMITS, ConsumerEnv, MAX_APPLICATION_NAME_LENGTH, Ordering } from '../../lambda/consumer/contract';
import type { IDataStream } from '../data-stream';
import { LeaseTable, type ILeaseTable } from '../lease-table';
import { createOnFailureQueue } from '../private/on-failure-queue';
import { ConsumerHandlerMetrics } from '../pipeline-monitoring/metrics/consumer-metric-factory';
import {
  acknowledgeTracing,
  checkNetworkOptions,
  grantVpcAccess,
  handlerEntry,
  pipelineFunctionDefaults,
} from '../private/pipeline-function';
import { PropValidator } from '../private/prop-validator';

export type { UserRecord } from '../../lambda/shared/deaggregate';
export { CorruptRecord } from '../../lambda/shared/deaggregate';

/** The import specifier lambda/consumer uses for the user's processor; esbuild aliases it to `processorEntry`. */
export const PROCESSOR_MODULE = 'kinesis-pipeline-processor';

/** The example processor of the app: logs each user record's size and partition key. */
export const EXAMPLE_PROCESSOR_ENTRY = handlerEntry('example-processor');

const MAX_BATCH_WINDOW = Duration.seconds(300);
const MIN_RECORD_AGE = Duration.seconds(60);
/** The handler lists the stream's shards for their hash ranges and lineage. */
const LIST_SHARDS = 'kinesis:ListShards';
const MAX_RECORD_AGE = Duration.days(7);
/** Lambda's memory limits, MB. */
const MIN_MEMORY_MB = 128;
const MAX_MEMORY_MB = 10_240;
/** Lambda's maximum timeout. */
const MAX_TIMEOUT = Duration.minutes(15);
/** With checkpointing: a sixth of it (the lease-write reserve) is at least 1 s. */
const MIN_TIMEOUT_CHECKPOINTING = Duration.seconds(6);

/**
 * What the consumer does with a user record inside a KPL aggregate that hashes outside the shard
 * it was read from. Only a producer with a stale shard map puts one there, in the moments after a
 * reshard: a shard-aware producer (`ProducerFunction`, the KPL) then sends it again to the shard
 * that owns it; a producer that packs across shards (aws-kinesis-agg) does not.
 */
export enum OutOfRangeRecords {
  /** Process it: nothing is lost whatever wrote it; a record a shard-aware producer re-sent is processed twice. */
  PROCESS = 'process',
  /**
   * Skip it, as the KCL does: no duplicates when every producer of the stream is shard-aware; a
   * producer that packs across shards loses those records (awslabs/kinesis-aggregation #11, #32).
   * The function reads the shards' hash ranges with ListShards, and publishes `OutOfRangeSkipped`.
   */
  SKIP = 'skip',
}

/**
 * How the user records of one shard are ordered while the processor runs. The values are the
 * handler's (`Ordering` in lambda/consumer/contract.ts), passed to it in the `ORDERING` variable.
 */
export const RecordOrdering = {
  /**
   * Records of one (user) partition key strictly in order, one at a time; records of different
   * keys concurrently, at most `maxConcurrency` in flight. A failure stops its key only: the other
   * keys' finished records are checkpointed and never processed again.
   */
  PARTITION_KEY: Ordering.PARTITION_KEY,
  /** One record at a time per shard, in shard order; the first failure stops the shard. */
  SHARD: Ordering.SHARD,
} as const;
export type RecordOrdering = (typeof RecordOrdering)[keyof typeof RecordOrdering];

/**
 * Where the consumer's mapping describes batches that failed every retry (or expired): an SQS
 * queue, an SNS topic or an S3 bucket (Lambda writes the whole invocation record to S3). The
 * mapping's role is granted to send there.
 */
export class ConsumerFailureDestination {
  /** An SQS queue; `PipelineMonitoring` alarms on its depth. */
  public static queue(queue: sqs.IQueue): ConsumerFailureDestination {
    return new ConsumerFailureDestination(new sources.SqsDlq(queue), { queue });
  }

  /** An SNS topic (subscribe a queue or people to it). */
  public static topic(topic: sns.ITopic): ConsumerFailureDestination {
    return new ConsumerFailureDestination(new sources.SnsDlq(topic), { topic });
  }

  /**
   * An S3 bucket, which keeps the failed invocation's records as well as their description. S3
   * publishes no per-object metric by default, so the mapping also publishes Lambda's `EventCount`
   * metric group (added to `metricsConfig`): its `OnFailureDestinationDeliveredEventCount` counts
   * what reached the bucket, and `PipelineMonitoring` alarms on it.
   */
  public static bucket(bucket: s3.IBucket): ConsumerFailureDestination {
    return new ConsumerFailureDestination(new sources.S3OnFailureDestination(bucket), { bucket });
  }

  /** The queue, for `queue(...)`. */
  public readonly queue?: sqs.IQueue;
  /** The topic, for `topic(...)`. */
  public readonly topic?: sns.ITopic;
  /** The bucket, for `bucket(...)`. */
  public readonly bucket?: s3.IBucket;

  private constructor(
    /** The event source's on-failure destination. */
    public readonly eventSourceDestination: lambda.IEventSourceDlq,
    target: { queue?: sqs.IQueue; topic?: sns.ITopic; bucket?: s3.IBucket },
  ) {
    this.queue = target.queue;
    this.topic = target.topic;
    this.bucket = target.bucket;
  }
}

/** Everything of a consumer but the stream (what `StreamingPipeline` takes as `consumer`). */
export interface ConsumerOptions {
  /**
   * Path to the TypeScript or JavaScript module of your record processor. It exports
   * `processRecord(record: UserRecord, context: Context): Promise<void>`, called once per user
   * record (KPL aggregates are split), in order per partition key (see `ordering`); a rejection
   * stops that record's key (with `RecordOrdering.SHARD`, its shard) at that record. It is bundled
   * into the function by esbuild.
   * @default - in `StreamingPipeline`, the example processor (logs each record); required on `ConsumerFunction`
   */
  readonly processorEntry?: string;
  /**
   * Checkpoint each batch in a KCL lease table: the shard's `checkpoint` is the low watermark, and
   * the user records processed above it are kept per partition key in the same lease item, so a
   * redelivered user record is skipped if and only if it was processed. Exactly once per user
   * record at any `parallelizationFactor` (1 to 10) and `maxConcurrency`, except a crash between a
   * record's processing and its checkpoint (see docs/consumer-exactly-once.md for the design and
   * the limits). `false`: at least once, no table.
   * @default true
   */
  readonly checkpointing?: boolean;
  /**
   * The lease table to checkpoint in. Only with checkpointing. One lease table per consumer
   * application: a table given to a second consumer is refused at synth.
   * @default - a new `LeaseTable`
   */
  readonly leaseTable?: ILeaseTable;
  /**
   * The consumer application's name, written into every lease it writes (`applicationName`). A
   * lease carrying another name is refused at run time (the invocation fails, nothing is skipped),
   * which protects a table shared with another app or stack; a lease without one (the KCL's, an
   * older version's) is adopted. Set it to keep the leases when you move or rename this construct
   * (the default follows the construct path). 1 to 256 characters.
   * @default - a name unique to this construct, from its path (e.g. `StackConsumer1A2B3C4D`)
   */
  readonly applicationName?: string;
  /**
   * Most records per batch, 1 to 10,000.
   * @default 100
   */
  readonly batchSize?: number;
  /**
   * Longest time to gather records before invoking, 0 to 300 seconds.
   * @default - no batching window
   */
  readonly maxBatchingWindow?: Duration;
  /**
   * Concurrent batches per shard, 1 to 10. Above 1 Lambda spreads a shard's records over that many
   * lanes by partition key and keeps order per partition key (which `ProducerFunction` keeps for
   * each user key inside its aggregates). With checkpointing, exactly once holds at any factor:
   * the lease keeps each partition key's progress, so one batch's checkpoint never makes another
   * batch's records look processed (docs/consumer-exactly-once.md). A `ShardAutoscaler` given this
   * consumer may raise the factor up to 10 when the consumer lags.
   * @default 1
   */
  readonly parallelizationFactor?: number;
  /**
   * How the user records of a batch are ordered while the processor runs.
   * @default RecordOrdering.PARTITION_KEY - one key's records in order, different keys concurrently
   */
  readonly ordering?: RecordOrdering;
  /**
   * User records in flight per invocation (different partition keys with
   * `RecordOrdering.PARTITION_KEY`), 1 to 1,000. Size it to what the processor's downstream can
   * take at once: a processor writing to a database is bounded by its connection pool (pools
   * default to 10 to 20 connections), and Confluent's Parallel Consumer for Kafka defaults its
   * `maxConcurrency` to 16. Only 1 (or unset) with `RecordOrdering.SHARD`.
   * @default 16 (1 with `RecordOrdering.SHARD`)
   */
  readonly maxConcurrency?: number;
  /**
   * Where a new mapping starts reading.
   * @default lambda.StartingPosition.TRIM_HORIZON
   */
  readonly startingPosition?: lambda.StartingPosition;
  /**
   * With `AT_TIMESTAMP`: the time to start from, in Unix seconds. Required then, an error otherwise.
   * @default - none
   */
  readonly startingPositionTimestamp?: number;
  /**
   * Retries of a failed batch, 0 to 10,000, or -1 for retries until the records expire.
   * @default 10
   */
  readonly retryAttempts?: number;
  /**
   * Oldest record Lambda still sends, 60 seconds to 7 days.
   * @default - records are sent until they expire from the stream
   */
  readonly maxRecordAge?: Duration;
  /**
   * Split a failed batch in two and retry each half.
   * @default true
   */
  readonly bisectBatchOnError?: boolean;
  /**
   * Event filters (`lambda.FilterCriteria.filter(...)`): filtered-out records never reach the function.
   * @default - every record
   */
  readonly filters?: Array<{ [key: string]: unknown }>;
  /**
   * Enhanced monitoring metrics of the event-source mapping.
   * @default - none
   */
  readonly metricsConfig?: lambda.MetricsConfig;
  /**
   * Read through an enhanced fan-out consumer (a `StreamConsumer`, 2 MiB/s per shard of its own, push delivery).
   * @default false - shared throughput (GetRecords)
   */
  readonly enhancedFanOut?: boolean;
  /**
   * Aggregated user records that hash outside the shard they arrived on: processed or skipped.
   * Choose `SKIP` when every producer of the stream is shard-aware and re-sends (ProducerFunction,
   * the KPL), to get the KCL's behaviour and no duplicates around reshards.
   * @default OutOfRangeRecords.PROCESS - at least once, whatever the producer
   */
  readonly outOfRangeRecords?: OutOfRangeRecords;
  /**
   * Where batches that failed every retry are described. Encrypted and SSL-only when created here.
   * @default - a new SQS queue (SQS-managed encryption, SSL enforced, 14 days retention)
   */
  readonly onFailureQueue?: sqs.IQueue;
  /**
   * Where batches that failed every retry are described: `ConsumerFailureDestination.queue(...)`,
   * `.topic(...)` or `.bucket(...)`. Exclusive with `onFailureQueue`.
   * @default - `onFailureQueue`, or a new SQS queue (SQS-managed encryption, SSL enforced, 14 days)
   */
  readonly onFailure?: ConsumerFailureDestination;
  /**
   * The VPC to run the function in (for a processor that reaches private resources). The role
   * then gets the AWS-managed policy `AWSLambdaVPCAccessExecutionRole` (network interfaces), as
   * Lambda requires (acknowledged for cdk-nag's AwsSolutions-IAM4); the subnets need a route to Kinesis, DynamoDB and CloudWatch (NAT or VPC endpoints).
   * @default - not in a VPC
   */
  readonly vpc?: ec2.IVpc;
  /**
   * Subnets of `vpc` to use. Only with `vpc`.
   * @default - the VPC's private subnets
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * Security groups of the function's network interfaces. Only with `vpc`.
   * @default - a new security group allowing all outbound traffic
   */
  readonly securityGroups?: ec2.ISecurityGroup[];
  /**
   * X-Ray tracing.
   * @default lambda.Tracing.DISABLED
   */
  readonly tracing?: lambda.Tracing;
  /**
   * Lambda layers to add (e.g. a database driver your processor imports as an external module).
   * @default - none
   */
  readonly layers?: lambda.ILayerVersion[];
  /**
   * Concurrent executions reserved for the consumer: at least 1. The mapping runs shards ×
   * parallelization factor invocations at once; fewer throttles it (it waits, nothing is lost).
   * @default - unreserved (the account's unreserved pool)
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * esbuild bundling options merged over the library's (ESM, minified, source maps, local esbuild);
   * `esbuildArgs` are merged too, and the processor alias (`--alias:kinesis-pipeline-processor`)
   * always stays ours.
   * @default - the library's bundling options
   */
  readonly bundling?: nodejs.BundlingOptions;
  /**
   * Function memory, MB: a whole number from 128 to 10,240.
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * Function timeout, whole seconds from 6 seconds (1 second without checkpointing) to 15 minutes. The consumer stops taking new records 1/6 of it (at most 5 s) before the end,
   * checkpoints, and lets Lambda redeliver the rest.
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * Extra environment variables for your processor.
   * @default - none
   */
  readonly environment?: { [key: string]: string };
}

export interface ConsumerFunctionProps extends ConsumerOptions {
  /** The stream to consume. */
  readonly stream: IDataStream;
  /** Path to your processor module (see `ConsumerOptions.processorEntry`). */
  readonly processorEntry: string;
}

/**
 * A Lambda consumer of a `DataStream` around your record processor: deaggregates KPL records,
 * calls the processor in order per partition key with different keys concurrently (or one record
 * at a time per shard), answers partial batch responses naming the lowest record not processed,
 * and checkpoints each batch in a KCL `LeaseTable` so redelivered records are skipped if and only
 * if they were processed.
 */
export class ConsumerFunction extends nodejs.NodejsFunction {
  public readonly eventSourceMappingId: string;
  public readonly eventSourceMappingArn: string;
  public readonly onFailureQueue?: sqs.IQueue;
  /** Where failed batches are described (queue, topic or bucket). */
  public readonly onFailureDestination: ConsumerFailureDestination;
  /** The lease table; undefined with `checkpointing: false`. */
  public readonly leaseTable?: ILeaseTable;
  /** The mapping's parallelization factor, as created. */
  public readonly parallelizationFactor: number;
  /** How a batch's user records are ordered while the processor runs. */
  public readonly ordering: RecordOrdering;
  /** User records in flight per invocation. */
  public readonly maxConcurrency: number;
  public readonly checkpointing: boolean;
  public readonly maxBatchingWindow?: Duration;
  /** The enhanced fan-out consumer, when asked for. */
  public readonly streamConsumer?: kinesis.StreamConsumer;
  /** The `service` dimension of the handler's metrics. */
  public readonly serviceName: string;
  /** The application name written into the leases (with checkpointing). */
  public readonly applicationName: string;
  /**
   * Whether the mapping publishes Lambda's `EventCount` metric group (`metricsConfig`; always with
   * an S3 on-failure destination), so that `metricOnFailureDelivered` has data.
   */
  public readonly eventCountMetrics: boolean;
  private maxParallelizationFactorValue: number;

  constructor(scope: Construct, id: string, props: ConsumerFunctionProps) {
    const checkpointing = props.checkpointing ?? true;
    validateProps(props, checkpointing);
    const processorEntry = path.resolve(props.processorEntry);
    const defaults = pipelineFunctionDefaults(handlerEntry('consumer'));
    const timeout = props.timeout ?? defaults.timeout!;
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Consumer ${id} of a Kinesis stream`,
    });
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    super(scope, id, {
      ...defaults,
      description: `Consumes ${props.stream.node.path}`,
      role,
      logGroup,
      memorySize: props.memorySize ?? defaults.memorySize,
      timeout,
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroups: props.securityGroups,
      tracing: props.tracing,
      layers: props.layers,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      bundling: {
        ...defaults.bundling,
        ...props.bundling,
        esbuildArgs: { ...defaults.bundling?.esbuildArgs, ...props.bundling?.esbuildArgs, [`--alias:${PROCESSOR_MODULE}`]: processorEntry },
      },
    });
    warnIfRecordsExceedLambdaPayload(this, props.stream);
    logGroup.grantWrite(role);
    // The VPC policy and tracing's X-Ray statement, each with the cdk-nag finding it answers.
    grantVpcAccess(role, props.vpc);
    acknowledgeTracing(role, props.tracing);
    this.serviceName = Names.uniqueResourceName(this, { maxLength: 64 });
    this.applicationName = props.applicationName ?? this.serviceName;
    this.checkpointing = checkpointing;
    this.parallelizationFactor = props.parallelizationFactor ?? 1;
    this.maxParallelizationFactorValue = this.parallelizationFactor;
    this.ordering = props.ordering ?? CONSUMER_DEFAULTS.ordering;
    this.maxConcurrency =
      props.maxConcurrency ?? (this.ordering === RecordOrdering.SHARD ? CONSUMER_LIMITS.minConcurrency : CONSUMER_DEFAULTS.maxConcurrency);
    this.maxBatchingWindow = props.maxBatchingWindow;

    const maxReserve = CONSUMER_DEFAULTS.maxReserveMillis;
    const reserveMillis = timeout.isUnresolved() ? maxReserve : Math.min(maxReserve, Math.floor(timeout.toMilliseconds() / 6));
    const env: Record<string, string> = {
      ...defaults.environment,
      ...props.environment,
      [ConsumerEnv.POWERTOOLS_SERVICE_NAME]: this.serviceName,
      [ConsumerEnv.RESERVE_MILLIS]: String(reserveMillis),
      [ConsumerEnv.OUT_OF_RANGE_RECORDS]: props.outOfRangeRecords ?? OutOfRangeRecords.PROCESS,
      [ConsumerEnv.ORDERING]: this.ordering,
      [ConsumerEnv.MAX_CONCURRENCY]: Tokenization.stringifyNumber(this.maxConcurrency),
      [ConsumerEnv.MAX_PARALLELIZATION_FACTOR]: Tokenization.stringifyNumber(this.maxParallelizationFactorValue),
    };
    if (props.outOfRangeRecords === OutOfRangeRecords.SKIP) {
      // The shards' hash ranges, by ListShards on the stream (the event source grants it read access too).
      env[ConsumerEnv.STREAM_NAME] = props.stream.streamName;
    }
    if (props.outOfRangeRecords === OutOfRangeRecords.SKIP || checkpointing) {
      // Hash ranges and lineage (parents, children, end) of the shards, on this stream only.
      props.stream.grant(role, LIST_SHARDS);
    }
    if (checkpointing) {
      const leaseTable = props.leaseTable ?? new LeaseTable(this, 'Leases');
      leaseTable.bindConsumer(this);
      leaseTable.grantLeaseHolder(this);
      env[ConsumerEnv.LEASE_TABLE_NAME] = leaseTable.tableName;
      env[ConsumerEnv.APPLICATION_NAME] = this.applicationName;
      this.leaseTable = leaseTable;
    }
    for (const [key, value] of Object.entries(env)) {
      this.addEnvironment(key, value);
    }

    if (props.onFailure) {
      this.onFailureDestination = props.onFailure;
      this.onFailureQueue = props.onFailure.queue;
    } else if (props.onFailureQueue) {
      this.onFailureQueue = props.onFailureQueue;
    } else {
      this.onFailureQueue = createOnFailureQueue(this, 'OnFailure', "the consumer's event-source mapping");
    }
    this.onFailureDestination ??= ConsumerFailureDestination.queue(this.onFailureQueue!);

    // An S3 destination has no metric of its own: the mapping's EventCount group counts what it sends there.
    const requested = props.metricsConfig?.metrics ?? [];
    const metricsConfig =
      this.onFailureDestination.bucket && !requested.includes(lambda.MetricType.EVENT_COUNT)
        ? { ...props.metricsConfig, metrics: [...requested, lambda.MetricType.EVENT_COUNT] }
        : props.metricsConfig;
    this.eventCountMetrics = metricsConfig?.metrics.includes(lambda.MetricType.EVENT_COUNT) ?? false;
    const sourceProps: sources.KinesisEventSourceProps = {
      startingPosition: props.startingPosition ?? lambda.StartingPosition.TRIM_HORIZON,
      startingPositionTimestamp: props.startingPositionTimestamp,
      batchSize: props.batchSize ?? 100,
      maxBatchingWindow: props.maxBatchingWindow,
      parallelizationFactor: this.parallelizationFactor,
      retryAttempts: props.retryAttempts === -1 ? undefined : (props.retryAttempts ?? 10),
      maxRecordAge: props.maxRecordAge,
      bisectBatchOnError: props.bisectBatchOnError ?? true,
      filters: props.filters,
      metricsConfig,
      reportBatchItemFailures: true,
      onFailure: this.onFailureDestination.eventSourceDestination,
    };
    let source: sources.KinesisEventSource | sources.KinesisConsumerEventSource;
    if (props.enhancedFanOut) {
      this.streamConsumer = new kinesis.StreamConsumer(this, 'FanOut', {
        stream: props.stream,
        streamConsumerName: Names.uniqueResourceName(this, { maxLength: 128 }),
      });
      source = new sources.KinesisConsumerEventSource(this.streamConsumer, sourceProps);
    } else {
      source = new sources.KinesisEventSource(props.stream, sourceProps);
    }
    this.addEventSource(source);
    this.eventSourceMappingId = source.eventSourceMappingId;
    this.eventSourceMappingArn = source.eventSourceMappingArn;
  }

  /**
   * The largest parallelization factor the mapping may run with: the one it was created with, or
   * more after `allowParallelizationFactor`. The handler reads it (`MAX_PARALLELIZATION_FACTOR`).
   */
  public get maxParallelizationFactor(): number {
    return this.maxParallelizationFactorValue;
  }

  /**
   * Tells the handler that something outside this construct (a `ShardAutoscaler`) may raise the
   * mapping's parallelization factor up to `max` (1 to 10). Above 1 the handler keeps the lease's
   * low watermark where it is and carries progress per partition key, so a lane running ahead of
   * another never makes the other's records look processed. Never lowers what was allowed before.
   * With an unresolved factor (a token) the handler is told 10, the highest, which is always exact.
   */
  public allowParallelizationFactor(max: number): void {
    const { minParallelizationFactor: min, maxParallelizationFactor: limit } = CONSUMER_LIMITS;
    if (!Token.isUnresolved(max) && (!Number.isInteger(max) || max < min || max > limit)) {
      throw new Error(`ConsumerFunction: allowParallelizationFactor(max) must be a whole number from ${min} to ${limit}; received ${max}`);
    }
    const current = this.maxParallelizationFactorValue;
    const next = Token.isUnresolved(max) || Token.isUnresolved(current) ? limit : Math.max(current, max);
    this.maxParallelizationFactorValue = next;
    this.addEnvironment(ConsumerEnv.MAX_PARALLELIZATION_FACTOR, Tokenization.stringifyNumber(next));
  }

  /** A custom metric of the handler (namespace KinesisPipeline, `service` dimension). */
  public metricConsumer(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new ConsumerHandlerMetrics(this.serviceName).metric(metricName, props);
  }

  /** User records processed (after deaggregation), Sum. */
  public metricUserRecords(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new ConsumerHandlerMetrics(this.serviceName).metricUserRecordsSum(props);
  }

  /** Redelivered user records skipped because the checkpoint shows them processed, Sum. */
  public metricDuplicatesSkipped(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new ConsumerHandlerMetrics(this.serviceName).metricDuplicatesSkippedSum(props);
  }

  /** Aggregated user records skipped because they hash outside their shard (`OutOfRangeRecords.SKIP` only), Sum. */
  public metricOutOfRangeSkipped(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new ConsumerHandlerMetrics(this.serviceName).metricOutOfRangeSkippedSum(props);
  }

  /**
   * Records with the KPL magic whose MD5 trailer or protobuf body does not check out, handed to
   * the processor whole with `record.corrupt` set ('checksum' or 'undecodable'), Sum. Above 0
   * means a producer or something between it and the stream damaged aggregates.
   */
  public metricCorruptRecords(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new ConsumerHandlerMetrics(this.serviceName).metricCorruptRecordsSum(props);
  }

  /** KPL aggregates that held no user record (nothing reaches the processor for them), Sum. */
  public metricEmptyAggregates(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new ConsumerHandlerMetrics(this.serviceName).metricEmptyAggregatesSum(props);
  }

  /** User records whose processor failed (each stops its partition key, or its shard with `RecordOrdering.SHARD`, for the batch), Sum. */
  public metricProcessingFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new ConsumerHandlerMetrics(this.serviceName).metricProcessingFailuresSum(props);
  }

  /** Lease writes that lost to a concurrent invocation of the same shard and were merged and retried (parallelization factor above 1), Sum. */
  public metricLeaseWriteConflicts(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new ConsumerHandlerMetrics(this.serviceName).metricLeaseWriteConflictsSum(props);
  }

  /** Outer partition keys with progress kept above a shard's checkpoint in its lease, Maximum. */
  public metricProgressKeys(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new ConsumerHandlerMetrics(this.serviceName).metricProgressKeysMax(props);
  }

  /**
   * Progress entries dropped to keep a lease item under its bound (64 KiB): their records are
   * processed again if Lambda delivers them again. Above 0 only with very many outer partition
   * keys above the checkpoint (a producer that is not `ProducerFunction`, at a parallelization
   * factor above 1). Sum.
   */
  public metricProgressEvicted(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new ConsumerHandlerMetrics(this.serviceName).metricProgressEvictedSum(props);
  }

  /** Time from the checkpointed record's arrival in the stream to its checkpoint, milliseconds, Maximum. */
  public metricCheckpointLag(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new ConsumerHandlerMetrics(this.serviceName).metricCheckpointLagMaxMs(props);
  }

  /**
   * Records the mapping sent to its on-failure destination (AWS/Lambda
   * `OnFailureDestinationDeliveredEventCount`, `EventSourceMappingUUID` dimension), Sum. Published
   * only with the mapping's `EventCount` metric group (`eventCountMetrics`).
   */
  public metricOnFailureDelivered(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/Lambda',
      metricName: 'OnFailureDestinationDeliveredEventCount',
      dimensionsMap: { EventSourceMappingUUID: this.eventSourceMappingId },
      statistic: cloudwatch.Stats.SUM,
      ...props,
    });
  }

  /** Times Lambda could not deliver a failed batch's description to the on-failure destination (AWS/Lambda `DestinationDeliveryFailures`), Sum. */
  public metricDestinationDeliveryFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('DestinationDeliveryFailures', { statistic: cloudwatch.Stats.SUM, ...props });
  }

  /** AWS/Lambda IteratorAge of the mapping (age of the last record of each batch), Maximum. */
  public metricIteratorAge(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.metric('IteratorAge', { statistic: cloudwatch.Stats.MAXIMUM, ...props });
  }
}

function validateProps(props: ConsumerFunctionProps, checkpointing: boolean): void {
  const v = new PropValidator('ConsumerFunction');
  if (!props.processorEntry || (!Token.isUnresolved(props.processorEntry) && !fs.existsSync(path.resolve(props.processorEntry)))) {
    v.fail(
      `processorEntry must be the path of an existing TypeScript or JavaScript module exporting processRecord; received '${props.processorEntry}'`,
    );
  }
  v.wholeNumber('batchSize', props.batchSize, 1, 10_000);
  v.wholeNumber('memorySize', props.memorySize, MIN_MEMORY_MB, MAX_MEMORY_MB, ' (MB, the Lambda limits)');
  // The handler keeps the last sixth of the timeout (at most 5 s) to write the checkpoint; under
  // 6 s that reserve is below 1 s, too little for a lease write with its own timeouts.
  v.duration('timeout', props.timeout, checkpointing ? MIN_TIMEOUT_CHECKPOINTING : Duration.seconds(1), MAX_TIMEOUT, {
    wholeSeconds: true,
    hint: ` (the Lambda maximum)${checkpointing ? '; with checkpointing at least 6 seconds, since the last sixth (at most 5 s) is kept back to write the lease' : ''}`,
  });
  v.wholeNumber(
    'parallelizationFactor',
    props.parallelizationFactor,
    CONSUMER_LIMITS.minParallelizationFactor,
    CONSUMER_LIMITS.maxParallelizationFactor,
  );
  v.wholeNumber('maxConcurrency', props.maxConcurrency, CONSUMER_LIMITS.minConcurrency, CONSUMER_LIMITS.maxConcurrency);
  v.oneOf('ordering', props.ordering, Object.values(RecordOrdering), 'RecordOrdering');
  if (
    props.ordering === RecordOrdering.SHARD &&
    props.maxConcurrency !== undefined &&
    !Token.isUnresolved(props.maxConcurrency) &&
    props.maxConcurrency !== 1
  ) {
    v.fail(
      `maxConcurrency must be 1 (or unset) with ordering RecordOrdering.SHARD (one record at a time per shard); received maxConcurrency ${props.maxConcurrency}. Use ordering RecordOrdering.PARTITION_KEY for concurrency across keys`,
    );
  }
  if (props.retryAttempts !== -1) {
    v.wholeNumber('retryAttempts', props.retryAttempts, 0, 10_000, ' (or -1 for retries until the records expire)');
  }
  v.duration('maxBatchingWindow', props.maxBatchingWindow, Duration.seconds(0), MAX_BATCH_WINDOW, { wholeSeconds: true });
  if ((props as { tumblingWindow?: unknown }).tumblingWindow !== undefined) {
    // Removed from the props (TypeScript users get a compile error); plain JavaScript gets this.
    v.fail(
      'tumblingWindow is not supported: Lambda\'s window state is at least once and would not match the exact checkpoints (see "Tumbling windows" in docs/consumer-exactly-once.md); received a tumblingWindow',
    );
  }
  const name = props.applicationName;
  v.text('applicationName', name, { maxLength: MAX_APPLICATION_NAME_LENGTH });
  if (!checkpointing && name !== undefined) {
    v.fail(`applicationName names the leases, so it needs checkpointing; received applicationName '${name}' with checkpointing: false`);
  }
  v.duration('maxRecordAge', props.maxRecordAge, MIN_RECORD_AGE, MAX_RECORD_AGE, { wholeSeconds: true });
  const atTimestamp = props.startingPosition === lambda.StartingPosition.AT_TIMESTAMP;
  if (atTimestamp && props.startingPositionTimestamp === undefined) {
    v.fail('startingPosition AT_TIMESTAMP needs startingPositionTimestamp (Unix seconds); received none');
  }
  if (!atTimestamp && props.startingPositionTimestamp !== undefined) {
    v.fail(
      `startingPositionTimestamp applies to startingPosition AT_TIMESTAMP only; received ${props.startingPositionTimestamp} with ${props.startingPosition ?? 'TRIM_HORIZON'}`,
    );
  }
  v.oneOf('outOfRangeRecords', props.outOfRangeRecords, Object.values(OutOfRangeRecords), 'OutOfRangeRecords');
  if (props.onFailure && props.onFailureQueue) {
    v.fail('give either onFailure or onFailureQueue, not both; received both');
  }
  checkNetworkOptions(props, v);
  v.wholeNumber(
    'reservedConcurrentExecutions',
    props.reservedConcurrentExecutions,
    1,
    undefined,
    ' (0 would stop the consumer: its batches would wait until they expire)',
  );
  if (!checkpointing && props.leaseTable) {
    v.fail('leaseTable needs checkpointing; received a lease table with checkpointing: false');
  }
}

/**
 * Id of the synth warning for a stream whose records can be larger than Lambda can deliver.
 * Acknowledge it (records that large never come) with
 * `Validations.of(consumer).acknowledge({ id: 'annotation::' + RECORDS_ABOVE_LAMBDA_PAYLOAD, reason })`.
 */
export const RECORDS_ABOVE_LAMBDA_PAYLOAD = 'kinesis-pipeline:records-above-lambda-payload';

/**
 * Lambda passes a Kinesis batch to the function in one invocation, up to the synchronous
 * invocation payload limit of 6 MB (Lambda API reference, EventSourceMappingConfiguration.BatchSize),
 * with each record's data base64-encoded in the event (4/3 of its size) beside about 1 KB of
 * metadata. A record above ~4.5 MiB therefore cannot reach the function at all, whatever the
 * batch size, so a stream that accepts such records (maxRecordSize up to 10 MiB) warns at synth.
 */
export const LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024;
const EVENT_RECORD_OVERHEAD_BYTES = 1024;

function warnIfRecordsExceedLambdaPayload(consumer: Construct, stream: IDataStream): void {
  const size = stream.maxRecordSize;
  if (size.isUnresolved()) {
    return;
  }
  const recordBytes = size.toBytes();
  const eventBytes = 4 * Math.ceil(recordBytes / 3) + EVENT_RECORD_OVERHEAD_BYTES;
  if (eventBytes > LAMBDA_PAYLOAD_BYTES) {
    const largest = Math.floor(((LAMBDA_PAYLOAD_BYTES - EVENT_RECORD_OVERHEAD_BYTES) * 3) / 4);
    Annotations.of(consumer).addWarningV2(
      RECORDS_ABOVE_LAMBDA_PAYLOAD,
      `The stream takes records up to ${recordBytes} bytes (maxRecordSize), but Lambda delivers a Kinesis batch in one invocation of at most 6 MB, ` +
        `where a record counts 4/3 of its size (base64): a record above about ${largest} bytes can never reach this consumer and stops its shard ` +
        `until it expires or goes to the on-failure destination. Keep records this consumer reads at most ${largest} bytes (e.g. large payloads in S3 ` +
        `and a reference in the stream), or acknowledge this warning.`,
    );
  }
}
