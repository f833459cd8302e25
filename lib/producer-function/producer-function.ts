import * as path from 'path';
import { Duration, Names, RemovalPolicy, Size, Validations } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { PRODUCER_DEFAULTS, PRODUCER_LIMITS, ProducerEnv } from '../../lambda/producer/contract';
import { defaultBatchBytes } from '../../lambda/producer/limits';
import type { IDataStream } from '../data-stream';
import { ProducerHandlerMetrics } from '../pipeline-monitoring/metrics/producer-metric-factory';
import { createOnFailureQueue } from '../private/on-failure-queue';
import { PropValidator } from '../private/prop-validator';
import {
  acknowledgeTracing,
  checkNetworkOptions,
  checkUserEnvironment,
  grantVpcAccess,
  handlerEntry,
  mergeBundling,
  pipelineFunctionDefaults,
  type PipelineFunctionOptions,
} from '../private/pipeline-function';

/** Read the shard map; `grantWrite` covers PutRecord(s) and encryption with the stream's key. */
const SHARD_MAP_ACTIONS = ['kinesis:ListShards'];
/** Claim a request, record what was written, remember a refusal (conditional writes on one item). */
const PROGRESS_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'];
/** The attribute holding a progress item's expiry (epoch seconds), the table's TTL attribute. */
export const PROGRESS_TTL_ATTRIBUTE = 'expiresAt';

/** The SDK module the bundle replaces with `lambda/producer/env-credentials.ts`. */
export const CREDENTIAL_PROVIDER_MODULE = '@aws-sdk/credential-provider-node';
const ENV_CREDENTIALS_ENTRY = path.join(path.dirname(handlerEntry('producer')), 'env-credentials.ts');

/** PutRecords limits as the Kinesis API reference documents them (sources in lambda/shared/kinesis-limits.ts), defaults from the handler's contract. */
const MAX_PUT_RECORDS_REQUEST = Size.bytes(PRODUCER_LIMITS.maxPutRecordsBytes);
const MAX_PUT_RECORDS_ENTRIES = PRODUCER_LIMITS.maxPutRecordsEntries;
const MAX_AGGREGATE_COUNT = PRODUCER_LIMITS.maxRecordsPerAggregate;
const DEFAULT_BASE_RETRY_DELAY = Duration.millis(PRODUCER_DEFAULTS.retryBaseMs);
const DEFAULT_MAX_RETRY_DELAY = Duration.millis(PRODUCER_DEFAULTS.retryMaxMs);
const DEFAULT_SAFETY_MARGIN = Duration.millis(PRODUCER_DEFAULTS.safetyMarginMs);
const DEFAULT_SHARD_MAP_TTL = Duration.millis(PRODUCER_DEFAULTS.shardMapTtlMs);
const DEFAULT_CALL_TIMEOUT = Duration.millis(PRODUCER_DEFAULTS.callTimeoutMs);
const DEFAULT_DEDUPLICATION_WINDOW = Duration.seconds(PRODUCER_DEFAULTS.progressWindowSeconds);

/** Everything of a producer but the stream (what `StreamingPipeline` takes as `producer`). */
export interface ProducerOptions extends PipelineFunctionOptions {
  /**
   * Largest KPL aggregated record (KPL `AggregationMaxSize`), from 64 bytes to the stream's
   * `maxRecordSize` (1 MiB unless the stream allows more). An aggregate is never larger than the
   * stream's record limit either way.
   * @default Size.bytes(51200)
   */
  readonly maxAggregateSize?: Size;
  /**
   * Most user records in one aggregated record (KPL `AggregationMaxCount`), 1 to 4294967295.
   * 1 turns aggregation off.
   * @default 4294967295
   */
  readonly maxRecordsPerAggregate?: number;
  /**
   * Ordering groups, 0 to 256: keeps the order of each user partition key under a consumer's
   * parallelization factor above 1. Lambda then keeps order per Kinesis-record partition key, and a
   * KPL aggregate has only one; so each user key belongs to one of this many groups (its MD5 hash
   * key modulo the number) and every aggregate travels under its group's key (`og-<group>`), routed
   * to its shard by the explicit hash key. A record that would go alone (raw) goes as a one-record
   * aggregate under its group's key, routed by its own hash key, so it must fit `maxRecordSize`
   * with about 40 bytes of KPL framing and its keys. Each shard sees up to this many outer keys,
   * which a consumer's parallelization factor spreads over its concurrent batches.
   *
   * Cost: an aggregate holds records of one shard and one group, so a request keeps up to one open
   * aggregate per shard and group present and sends at least that many Kinesis records: large
   * requests aggregate nearly as well (the producer benchmark's 200,000 and 50,000-record requests:
   * within 10 % of 0), small ones much less (500 records of 100 bytes over 100 keys on 4 shards:
   * about 10 user records per Kinesis record at 16 groups, 7 at 32, instead of 125). More groups
   * spread a shard over more concurrent batches and aggregate less; 16 keys per shard use about 8
   * of the 10 lanes of parallelization factor 10.
   *
   * 0 sends aggregates under their first record's key and lone records raw, as the KPL does:
   * per-key order is then NOT kept under a parallelization factor above 1 (a consumer at 1 keeps
   * it either way). Changing the number moves keys to other groups: records of a key written
   * before and after the change (and by old and new containers during the deployment) may be
   * processed out of order under a parallelization factor above 1; for the same reason, every
   * producer writing one stream should use the same number. Not used when
   * `maxRecordsPerAggregate` is 1: every record then goes raw under its own key, which keeps order.
   * @default 16
   */
  readonly orderingGroups?: number;
  /**
   * Most entries per PutRecords request, 1 to 500.
   * @default 500
   */
  readonly maxBatchEntries?: number;
  /**
   * Largest PutRecords request (data plus partition keys), 1 byte to 10 MiB (the documented
   * PutRecords limit). A record larger than this still goes, alone in its request.
   * @default - 5 MiB on a stream of 1 MiB records (the limit every Kinesis producer has used);
   *            10 MiB on a stream with a larger `maxRecordSize`, so a request holds its largest record
   */
  readonly maxBatchSize?: Size;
  /**
   * Largest Kinesis record (data plus partition key); larger user records are refused, naming the
   * record and the rule. 1 byte to the stream's `maxRecordSize` (1 to 10 MiB). Note what reaches
   * the function: Lambda takes at most 6 MB in a synchronous invoke or Function URL request and
   * 1 MB in an asynchronous one, JSON included, so records near 10 MiB cannot come through it.
   * @default - the stream's `maxRecordSize`
   */
  readonly maxRecordSize?: Size;
  /**
   * Delay cap of the first PutRecords retry; each retry doubles it up to `maxRetryDelay`, and the
   * actual delay is drawn uniformly below the cap (full jitter).
   * @default Duration.millis(100)
   */
  readonly baseRetryDelay?: Duration;
  /**
   * Largest retry delay cap; at least `baseRetryDelay`.
   * @default Duration.seconds(5)
   */
  readonly maxRetryDelay?: Duration;
  /**
   * Time kept back from the invocation's remaining time, to answer before the timeout. Retries stop
   * when they would run into it; records still unwritten are reported failed.
   * @default Duration.seconds(1)
   */
  readonly safetyMargin?: Duration;
  /**
   * How long a container keeps its shard map before listing the shards again (it also reloads at
   * once when Kinesis puts a record on another shard than the map says).
   * @default Duration.minutes(1)
   */
  readonly shardMapTtl?: Duration;
  /**
   * A direct invoke throws `ProducerWriteError` (naming each unwritten record) when any record could
   * not be written, so Lambda retries asynchronous invokes and finally sends them to the on-failure
   * destination. `false` returns the partial result instead. HTTP requests always get a response.
   * @default true
   */
  readonly throwOnUndelivered?: boolean;
  /**
   * Retries never copy: the producer keeps, per request, which records Kinesis acknowledged, in a
   * DynamoDB table it creates (encrypted, point-in-time recovery, items expire after
   * `deduplicationWindow`), so a request delivered again (Lambda's asynchronous retries after a
   * `ProducerWriteError`, the asynchronous queue's duplicate deliveries, a caller's retry with the
   * same `requestId`) writes only the records not in the stream yet, and two deliveries running at
   * once never both write. `false`: no table, every delivery writes every record (at least once).
   * See docs/producer-reliability.md.
   * @default true
   */
  readonly deduplication?: boolean;
  /**
   * How long the progress of a request is kept, from 6 hours (Lambda's asynchronous retry
   * horizon: a retry or duplicate delivery of an asynchronous event comes within its maximum
   * event age, 6 hours) to 30 days.
   * @default Duration.hours(6)
   */
  readonly deduplicationWindow?: Duration;
  /**
   * Longest one PutRecords or ListShards call may take, 100 ms to 1 minute: a hung call is cut
   * then and retried inside the invocation's time. (Every AWS client of the handlers also has a
   * 2 s connection timeout and a 5 s request timeout that fire.)
   * @default Duration.seconds(5)
   */
  readonly callTimeout?: Duration;
  /**
   * Adds a Function URL with `AWS_IAM` auth (callers need `lambda:InvokeFunctionUrl`, see `grantInvokeUrl`).
   * @default false
   */
  readonly functionUrl?: boolean;
  /**
   * Where asynchronous invokes that failed every retry go.
   * @default - an SQS-managed encrypted, TLS-only queue kept 14 days
   */
  readonly onFailureQueue?: sqs.IQueue;
  /**
   * Retries of a failed asynchronous invoke, 0 to 2.
   * @default 2
   */
  readonly asyncRetryAttempts?: number;
  /**
   * Reserved concurrency of the function.
   * @default - no reserved concurrency (the account's unreserved pool)
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * Function timeout, 3 seconds to 15 minutes; it bounds the retry budget.
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * Memory, MiB.
   * @default 512
   */
  readonly memorySize?: number;
}

export interface ProducerFunctionProps extends ProducerOptions {
  /** The stream the producer writes to. */
  readonly stream: IDataStream;
}

/**
 * A Lambda that writes user records to a `DataStream` as the KPL does: aggregated into KPL records
 * that each hold records of one shard only (so KCL consumers drop nothing after a reshard), in
 * PutRecords batches, retrying only failed entries with full-jitter backoff inside the
 * invocation's time, and answering exactly which records were written and which were not.
 * Every record of one user partition key travels under the same outer partition key (its ordering
 * group's, see `orderingGroups`), so consumers keep per-key order at any parallelization factor.
 *
 * Input: a direct invoke `{ records: [{ data, partitionKey?, explicitHashKey? }] }`, or the same
 * JSON as the body of a Function URL / API Gateway v2 request. See docs/constructs/producer-function.md.
 */
export class ProducerFunction extends nodejs.NodejsFunction {
  /** The stream written to. */
  public readonly stream: IDataStream;
  /** The Function URL (AWS_IAM auth), when `functionUrl` is true. */
  public readonly functionUrl?: lambda.FunctionUrl;
  /** Where failed asynchronous invokes go. */
  public readonly onFailureQueue: sqs.IQueue;
  /** The `service` dimension of the handler's metrics. */
  public readonly serviceName: string;
  /** The progress table that keeps retries from copying records (unless `deduplication` is false). */
  public readonly progressTable?: dynamodb.ITableV2;

  constructor(scope: Construct, id: string, props: ProducerFunctionProps) {
    validateProps(id, props);
    const defaults = pipelineFunctionDefaults(handlerEntry('producer'));
    const maxRecordSize = props.maxRecordSize ?? props.stream.maxRecordSize;
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Producer ${id} writing to a Kinesis stream`,
    });
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    super(scope, id, {
      ...defaults,
      description: `KPL-aggregating producer of ${props.stream.node.path}`,
      role,
      logGroup,
      timeout: props.timeout ?? defaults.timeout,
      memorySize: props.memorySize ?? defaults.memorySize,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroups: props.securityGroups,
      tracing: props.tracing,
      layers: props.layers,
      // Lambda passes the role's credentials in environment variables: bundle a reader of those
      // instead of the SDK's whole provider chain (a third of the bundle, and of its load time).
      bundling: mergeBundling(defaults, props.bundling, { [`--alias:${CREDENTIAL_PROVIDER_MODULE}`]: ENV_CREDENTIALS_ENTRY }),
    });
    logGroup.grantWrite(role);
    grantVpcAccess(role, props.vpc);
    acknowledgeTracing(role, props.tracing);
    this.stream = props.stream;
    this.serviceName = Names.uniqueResourceName(this, { maxLength: 64 });

    // The handler's variables, by their names in its contract (lambda/producer/contract.ts).
    const E = ProducerEnv;
    const env: Record<string, string> = {
      [E.POWERTOOLS_SERVICE_NAME]: this.serviceName,
      [E.STREAM_NAME]: props.stream.streamName,
      [E.MAX_AGGREGATE_BYTES]: String((props.maxAggregateSize ?? Size.bytes(PRODUCER_DEFAULTS.limits.maxAggregateBytes)).toBytes()),
      [E.MAX_RECORDS_PER_AGGREGATE]: String(props.maxRecordsPerAggregate ?? PRODUCER_DEFAULTS.limits.maxRecordsPerAggregate),
      [E.MAX_BATCH_ENTRIES]: String(props.maxBatchEntries ?? PRODUCER_DEFAULTS.limits.maxBatchEntries),
      [E.MAX_BATCH_BYTES]: String(props.maxBatchSize?.toBytes() ?? batchBytesFor(maxRecordSize)),
      // The stream's record limit (or a smaller one given): records above it are refused, and no
      // aggregate the handler builds is larger.
      [E.MAX_ENTRY_BYTES]: String(maxRecordSize.toBytes()),
      [E.ORDERING_GROUPS]: String(props.orderingGroups ?? PRODUCER_DEFAULTS.limits.orderingGroups),
      [E.RETRY_BASE_MS]: String((props.baseRetryDelay ?? DEFAULT_BASE_RETRY_DELAY).toMilliseconds()),
      [E.RETRY_MAX_MS]: String((props.maxRetryDelay ?? DEFAULT_MAX_RETRY_DELAY).toMilliseconds()),
      [E.SAFETY_MARGIN_MS]: String((props.safetyMargin ?? DEFAULT_SAFETY_MARGIN).toMilliseconds()),
      [E.SHARD_MAP_TTL_MS]: String((props.shardMapTtl ?? DEFAULT_SHARD_MAP_TTL).toMilliseconds()),
      [E.THROW_ON_UNDELIVERED]: String(props.throwOnUndelivered ?? PRODUCER_DEFAULTS.throwOnUndelivered),
      [E.CALL_TIMEOUT_MS]: String((props.callTimeout ?? DEFAULT_CALL_TIMEOUT).toMilliseconds()),
    };
    if (props.deduplication ?? true) {
      const table = new dynamodb.TableV2(this, 'Progress', {
        partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
        billing: dynamodb.Billing.onDemand(),
        encryption: dynamodb.TableEncryptionV2.awsManagedKey(),
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        timeToLiveAttribute: PROGRESS_TTL_ATTRIBUTE,
        // Progress of requests in flight only: nothing to keep once the stack is gone.
        removalPolicy: RemovalPolicy.DESTROY,
      });
      table.grant(role, ...PROGRESS_ACTIONS);
      this.progressTable = table;
      env[E.PROGRESS_TABLE_NAME] = table.tableName;
      env[E.PROGRESS_WINDOW_SECONDS] = String((props.deduplicationWindow ?? DEFAULT_DEDUPLICATION_WINDOW).toSeconds());
    }
    // Every name the handler reads is ours, the progress table's too when deduplication is off (the
    // handler would otherwise write to a user's table by that name).
    checkUserEnvironment(
      props.environment,
      [...Object.keys(defaults.environment ?? {}), ...Object.keys(env), ...PROGRESS_ENV],
      new PropValidator(`ProducerFunction ${id}`),
    );
    for (const [key, value] of Object.entries({ ...props.environment, ...env })) {
      this.addEnvironment(key, value);
    }

    props.stream.grantWrite(role);
    props.stream.grant(role, ...SHARD_MAP_ACTIONS);
    if (props.stream.encryptionKey) {
      // kms:GenerateDataKey* and kms:ReEncrypt* are the L2 grantWrite's action wildcards; the
      // statement's resource is the stream's one key, which is what writing to the stream needs.
      Validations.of(role).acknowledge(
        {
          id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
          reason:
            "grantWrite on a stream with a customer key: data keys of that one key only (the statement's resource is the key ARN), as PutRecords on an encrypted stream needs",
        },
        {
          id: 'AwsSolutions-IAM5[Action::kms:ReEncrypt*]',
          reason:
            "grantWrite on a stream with a customer key: re-encryption under that one key only (the statement's resource is the key ARN)",
        },
      );
    }

    if (props.onFailureQueue) {
      this.onFailureQueue = props.onFailureQueue;
    } else {
      this.onFailureQueue = createOnFailureQueue(this, 'OnFailure', "the producer's asynchronous invokes");
    }
    this.configureAsyncInvoke({
      onFailure: new destinations.SqsDestination(this.onFailureQueue),
      retryAttempts: props.asyncRetryAttempts ?? 2,
    });

    if (props.functionUrl) {
      this.functionUrl = this.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });
    }
  }

  /** A custom metric of the handler (namespace KinesisPipeline, `service` dimension). */
  public metricProducer(metricName: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new ProducerHandlerMetrics(this.serviceName).metric(metricName, props);
  }

  /** User records received in valid requests, Sum. */
  public metricUserRecords(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new ProducerHandlerMetrics(this.serviceName).metricUserRecordsSum(props);
  }

  /** Kinesis records (aggregated or raw) acknowledged by PutRecords, Sum. */
  public metricKinesisRecords(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new ProducerHandlerMetrics(this.serviceName).metricKinesisRecordsSum(props);
  }

  /** User records written per Kinesis record, Average. */
  public metricAggregationRatio(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new ProducerHandlerMetrics(this.serviceName).metricAggregationRatioAverage(props);
  }

  /** PutRecords entries sent again after a retryable failure, Sum. */
  public metricRetries(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new ProducerHandlerMetrics(this.serviceName).metricRetriesSum(props);
  }

  /** Entries or requests throttled (ProvisionedThroughputExceeded, KMS throttling), Sum. */
  public metricThrottledEntries(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new ProducerHandlerMetrics(this.serviceName).metricThrottledEntriesSum(props);
  }

  /**
   * User records sent again because the aggregate carrying them was stored on a shard that does
   * not own their hash key (a reshard made the shard map stale), Sum. Non-zero only around reshards.
   */
  public metricResentRecords(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new ProducerHandlerMetrics(this.serviceName).metricResentRecordsSum(props);
  }

  /** User records a delivery found written by an earlier delivery of the same request (not sent again), Sum. */
  public metricAlreadyWrittenRecords(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new ProducerHandlerMetrics(this.serviceName).metricAlreadyWrittenRecordsSum(props);
  }

  /**
   * Entries sent again after an answer that did not say whether Kinesis stored them (timeout,
   * 5xx, reset, missing entry): each may be in the stream twice, the producer's one at-least-once window. Sum.
   */
  public metricUnknownOutcomeRetries(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new ProducerHandlerMetrics(this.serviceName).metricUnknownOutcomeRetriesSum(props);
  }

  /** User records not written after all retries, Sum. */
  public metricFailedRecords(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new ProducerHandlerMetrics(this.serviceName).metricFailedRecordsSum(props);
  }
}

/** The progress table's variables (set only with deduplication, reserved always). */
const PROGRESS_ENV = [ProducerEnv.PROGRESS_TABLE_NAME, ProducerEnv.PROGRESS_WINDOW_SECONDS];

/** The PutRecords request size for records up to `maxRecordSize` (a token size: the documented 10 MiB). */
function batchBytesFor(maxRecordSize: Size): number {
  return maxRecordSize.isUnresolved() ? PRODUCER_LIMITS.maxPutRecordsBytes : defaultBatchBytes(maxRecordSize.toBytes());
}

function validateProps(id: string, props: ProducerFunctionProps): void {
  const v = new PropValidator(`ProducerFunction ${id}`);
  const streamLimit = props.stream.maxRecordSize;
  const streamLimitName = `the stream's maxRecordSize`;
  v.size('maxAggregateSize', props.maxAggregateSize, 64, streamLimit, streamLimitName);
  v.size('maxBatchSize', props.maxBatchSize, 1, MAX_PUT_RECORDS_REQUEST, 'the PutRecords request limit');
  v.size('maxRecordSize', props.maxRecordSize, 1, streamLimit, streamLimitName);
  checkNetworkOptions(props, v);
  v.wholeNumber('maxRecordsPerAggregate', props.maxRecordsPerAggregate, 1, MAX_AGGREGATE_COUNT);
  v.wholeNumber('maxBatchEntries', props.maxBatchEntries, 1, MAX_PUT_RECORDS_ENTRIES);
  v.wholeNumber('orderingGroups', props.orderingGroups, 0, PRODUCER_LIMITS.maxOrderingGroups);
  v.wholeNumber('asyncRetryAttempts', props.asyncRetryAttempts, 0, 2);
  v.wholeNumber('reservedConcurrentExecutions', props.reservedConcurrentExecutions, 0, 1_000_000);
  v.wholeNumber('memorySize', props.memorySize, 128, 10_240);
  v.duration('timeout', props.timeout, Duration.seconds(3), Duration.minutes(15));
  v.duration('baseRetryDelay', props.baseRetryDelay, Duration.millis(1), Duration.minutes(1));
  v.duration('maxRetryDelay', props.maxRetryDelay, Duration.millis(1), Duration.minutes(5));
  v.duration('shardMapTtl', props.shardMapTtl, Duration.seconds(1), Duration.hours(24));
  v.duration('deduplicationWindow', props.deduplicationWindow, Duration.hours(6), Duration.days(30));
  v.duration('callTimeout', props.callTimeout, Duration.millis(100), Duration.minutes(1));
  if (props.deduplication === false && props.deduplicationWindow !== undefined) {
    v.fail('deduplicationWindow needs deduplication; received deduplication false');
  }
  const timeout = props.timeout ?? Duration.seconds(30);
  const margin = props.safetyMargin ?? DEFAULT_SAFETY_MARGIN;
  if (!timeout.isUnresolved() && !margin.isUnresolved() && margin.toMilliseconds() >= timeout.toMilliseconds()) {
    v.fail(`safetyMargin must be shorter than timeout (${timeout.toHumanString()}); received ${margin.toHumanString()}`);
  }
  // Against the default of the one not given too: a base of 10 s with the default 5 s cap would be
  // cut to the cap on every retry.
  const base = props.baseRetryDelay ?? DEFAULT_BASE_RETRY_DELAY;
  const cap = props.maxRetryDelay ?? DEFAULT_MAX_RETRY_DELAY;
  if (!base.isUnresolved() && !cap.isUnresolved() && base.toMilliseconds() > cap.toMilliseconds()) {
    v.fail(
      `baseRetryDelay must not exceed maxRetryDelay (${cap.toHumanString()}${props.maxRetryDelay ? '' : ', the default'}); received baseRetryDelay ${base.toHumanString()}`,
    );
  }
}
