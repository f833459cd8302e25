import { ArnFormat, Duration, Names, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { quietExpression, utilizationExpression } from '../../lambda/shared/scaling-alarms';
import { MAX_PARALLELIZATION_FACTOR, ScalingDecisionKind } from '../../lambda/shared/scaling-decision';
import {
  AUTOSCALER_DEFAULTS,
  consumerId,
  scaleInUtilizationPercent,
  scaleOutUtilizationPercent,
  ScalerEnv,
  type ScalerConsumerConfig,
} from '../../lambda/scaler/contract';
import { UPDATE_SHARD_COUNT_LIMITS } from '../../lambda/shared/kinesis-limits';
import { DataStreamMode, type IDataStream } from '../data-stream';
import { AlarmFactory, alarmNameOf, MissingData } from '../private/alarm-factory';
import { createOnFailureQueue } from '../private/on-failure-queue';
import { ScalerHandlerMetrics } from '../pipeline-monitoring/metrics/scaler-metric-factory';
import { handlerEntry, pipelineFunctionDefaults } from '../private/pipeline-function';
import { PropValidator } from '../private/prop-validator';

const STREAM_ACTIONS = ['kinesis:UpdateShardCount', 'kinesis:DescribeStreamSummary', 'kinesis:ListShards'];
const STREAM_DESCRIBE_ACTIONS = ['kinesis:DescribeStreamSummary', 'kinesis:ListShards'];
const ACCOUNT_ACTIONS = ['kinesis:DescribeLimits'];
const MAPPING_ACTIONS = ['lambda:GetEventSourceMapping', 'lambda:UpdateEventSourceMapping'];
const METRIC_READ_ACTIONS = ['cloudwatch:GetMetricData'];
const ALARM_ACTIONS = ['cloudwatch:DescribeAlarms', 'cloudwatch:PutMetricAlarm', 'cloudwatch:SetAlarmState'];
const STUCK_ALARM_ACTIONS = ['cloudwatch:SetAlarmState'];
const STATE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem'];

/** Maximum shards per stream that UpdateShardCount accepts (without a quota increase). */
export const MAX_STREAM_SHARDS = UPDATE_SHARD_COUNT_LIMITS.maxShardsPerStream;
const SCALE_IN_PERIOD = Duration.minutes(5);
/** Lambda's retries of a failed asynchronous invocation, then the on-failure queue. */
const ASYNC_RETRY_ATTEMPTS = 2;
const ASYNC_MAX_EVENT_AGE = Duration.hours(1);
const OPERATOR_ALARM_PERIOD = Duration.minutes(5);
/** Props that only mean something for a provisioned stream (the shards Kinesis manages itself when on-demand). */
const PROVISIONED_ONLY_PROPS = ['minShards', 'maxShards', 'targetUtilization', 'scaleInCooldown', 'quietWindow'] as const;

/**
 * What the autoscaler needs of a consumer: the event-source mapping whose parallelization factor
 * it may raise, and the function whose IteratorAge shows consumer lag. `ConsumerFunction` has
 * these members; any Lambda Kinesis consumer can be described with them.
 *
 * Standard and enhanced fan-out consumers are watched the same way, on the function's
 * AWS/Lambda `IteratorAge`: Lambda publishes it for every Kinesis event-source mapping, including
 * one that reads through a stream consumer (enhanced fan-out), as the age of the last record of
 * each batch the function finished. It is the lag the scaler's levers change (the mapping's
 * factor, then shards). The stream's `GetRecords.IteratorAgeMilliseconds` does not see an
 * enhanced fan-out consumer at all (it reads with SubscribeToShard, not GetRecords), so each
 * consumer has its own lag alarm on its own IteratorAge. Kinesis' own view of such a consumer,
 * `SubscribeToShardEvent.MillisBehindLatest` (StreamName and ConsumerName dimensions), measures
 * the subscription rather than the function the scaler's levers act on; `PipelineMonitoring`
 * alarms people on it.
 */
export interface ShardAutoscalerConsumer {
  readonly eventSourceMappingId: string;
  readonly eventSourceMappingArn: string;
  readonly functionName: string;
  /** AWS/Lambda IteratorAge of the consumer, FunctionName dimension, Maximum. */
  metricIteratorAge(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
  /**
   * The `service` dimension of the consumer handler's EMF metrics (namespace KinesisPipeline:
   * UserRecords, ProcessingFailures, DuplicatesSkipped), as `ConsumerFunction` publishes them.
   * With it the scaler tells a stuck consumer (failures, no progress: no shards, people alarmed)
   * from a slow one (progress: the factor, then shards).
   * @default - no progress metrics: lag with failed invocations (AWS/Lambda Errors) and no
   *            progress datapoint counts as stuck; lag without either is unknown and changes nothing
   */
  readonly serviceName?: string;
  /**
   * The consumer function's timeout: the scaler compares its longest batches with it.
   * @default - not compared
   */
  readonly timeout?: Duration;
  /**
   * Called once, at construction, when the autoscaler may raise the mapping's parallelization
   * factor (`adjustParallelization` with this consumer), with the highest factor it may set (10).
   * A consumer whose correctness depends on the factor (one that checkpoints per shard, as
   * `ConsumerFunction` does at factor 1) learns here that its mapping may run several batches of
   * a shard at once; `ConsumerFunction` passes it to its handler (`MAX_PARALLELIZATION_FACTOR`).
   * Optional: a consumer without it must be correct at any factor from 1 to 10.
   */
  allowParallelizationFactor?(max: number): void;
}

export interface ShardAutoscalerOptions {
  /**
   * Fewest shards the scaler leaves. Whole number, at least 1. Provisioned streams only: refused
   * on an on-demand stream (as are `maxShards`, `targetUtilization`, `scaleInCooldown` and `quietWindow`).
   * @default 1
   */
  readonly minShards?: number;
  /**
   * Most shards the scaler creates. Whole number, from `minShards` to 10,000; keep it under the
   * account's shard quota (the scaler also reads the quota with DescribeLimits).
   * @default - 64, or the stream's shard count (or minShards) when larger
   */
  readonly maxShards?: number;
  /**
   * Write utilisation, in percent of the shards' capacity, that a new shard count aims at.
   * From 10 to 90. Writes count as stream-bound at half-way between it and 100 %, and shards
   * may be removed below half of it.
   * @default 60
   */
  readonly targetUtilization?: number;
  /**
   * Iterator age (stream GetRecords and consumer IteratorAge) from which consumers count as lagging.
   * @default Duration.minutes(1)
   */
  readonly lagThreshold?: Duration;
  /**
   * Least time between two scale-outs (and between two parallelization changes).
   * @default Duration.minutes(5)
   */
  readonly scaleOutCooldown?: Duration;
  /**
   * Least time after any shard change before shards are removed.
   * @default Duration.hours(1)
   */
  readonly scaleInCooldown?: Duration;
  /**
   * How long utilisation must stay below the scale-in threshold, with no consumer lag, before
   * shards are removed. Whole multiple of 5 minutes, from 15 minutes to 24 hours.
   * @default Duration.hours(1)
   */
  readonly quietWindow?: Duration;
  /**
   * Whether a lag from a slow consumer (one that makes progress) raises the consumer mapping's
   * parallelization factor (up to 10) before shards are added. A stuck consumer (failures, no
   * progress) never gets more shards or batches. Only with a `consumer`, which is told so through
   * its `allowParallelizationFactor` (a checkpointing `ConsumerFunction` then stays exactly once
   * at any factor, keeping each partition key's progress in its lease). On an on-demand stream it
   * is the scaler's only lever, so it must stay on there. Set to `true` without a `consumer`, it is
   * an error.
   * @default true - used when a consumer is given
   */
  readonly adjustParallelization?: boolean;
}

export interface ShardAutoscalerProps extends ShardAutoscalerOptions {
  /**
   * The stream to scale. On an on-demand stream Kinesis manages the shards: the scaler's only job
   * there is the consumer's parallelization factor (and telling people of a stuck consumer), so a
   * `consumer` with `adjustParallelization` is required, and the shard props are refused.
   */
  readonly stream: IDataStream;
  /**
   * The stream's Lambda consumer.
   * @deprecated use `consumers: [consumer]` (exclusive with `consumers`)
   * @default - no consumer
   */
  readonly consumer?: ShardAutoscalerConsumer;
  /**
   * The stream's Lambda consumers (standard and enhanced fan-out). Each gets its own lag alarm
   * (`ConsumerLag`, `Consumer2Lag`, ...), on its own function's IteratorAge. The scaler adds shards
   * on the worst lag, never while a lagging consumer is stuck, and raises the parallelization
   * factor only of the mappings of lagging consumers that make progress, each on its own.
   * Exclusive with `consumer`.
   * @default - no consumer (provisioned streams only): lag is read from the stream's GetRecords
   *            iterator age only, and lag that is not write-bound adds shards
   */
  readonly consumers?: ShardAutoscalerConsumer[];
}

/**
 * CloudWatch alarms on a stream's write utilisation, write throttling, consumer lag and a long
 * quiet window, whose Lambda actions invoke a scaler function (reserved concurrency 1). The scaler
 * acts on events of these alarms only (source, account, ARN and name checked, and the alarm in
 * ALARM now), on metric datapoints it has (none is unknown, never 0), and tells three lags apart:
 * stream-bound (shards), consumer-slow (the consumer's parallelization factor, then shards) and
 * consumer-stuck (nothing added; people alarmed through `notifyOperators`). It keeps its cooldowns,
 * refusal backoff and daily call budget in a DynamoDB table, rewrites its alarms' capacity
 * constants after each reshard, and resets a fired alarm whenever it should look again, so a
 * condition that lasts invokes it again. Failed invocations go to `onFailureQueue`.
 *
 * On an on-demand stream Kinesis manages the shards (UpdateShardCount would fail, and capacity
 * follows the traffic by itself): there the autoscaler needs a consumer whose factor it may
 * raise, only the consumer's lag alarm is created, and the shard props are refused.
 */
export class ShardAutoscaler extends Construct {
  /** The scaler function. */
  public readonly function: lambda.IFunction;
  /**
   * Where asynchronous invocations (alarm events) go after they failed Lambda's retries, or
   * waited more than an hour: encrypted, TLS only, kept 14 days.
   */
  public readonly onFailureQueue: sqs.IQueue;
  /** Every alarm that invokes the scaler. */
  public readonly alarms: cloudwatch.IAlarm[];
  /** The table of the scaler's state (cooldowns, daily call budget, handled events). */
  public readonly stateTable: dynamodb.ITableV2;
  /** Names of the alarms, derived from the construct path, so IAM can name them before they exist. */
  public readonly alarmNames: string[];
  /** The service dimension of the scaler's own metrics. */
  public readonly serviceName: string;
  private readonly scalerFunction: nodejs.NodejsFunction;
  private readonly scalerRole: iam.Role;
  private readonly operatorAlarmsList: cloudwatch.Alarm[] = [];
  private readonly alarmNamePrefix: string;
  private readonly hasConsumer: boolean;

  constructor(scope: Construct, id: string, props: ShardAutoscalerProps) {
    super(scope, id);
    const consumers = consumersOf(props);
    const settings = resolveSettings(props, consumers);
    const stream = props.stream;
    const provisioned = stream.mode === DataStreamMode.PROVISIONED;
    const stack = Stack.of(this);
    this.serviceName = Names.uniqueResourceName(this, { maxLength: 64 });
    const prefix = Names.uniqueResourceName(this, { maxLength: 200, separator: '-' });
    const alarmName = (suffix: string) => alarmNameOf(prefix, suffix);
    this.alarmNamePrefix = prefix;
    this.hasConsumer = consumers.length > 0;

    const table = new dynamodb.TableV2(this, 'State', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billing: dynamodb.Billing.onDemand(),
      encryption: dynamodb.TableEncryptionV2.awsManagedKey(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // Cooldown timestamps and handled-event keys: losing them only resets the cooldowns.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stateTable = table;

    const logGroup = new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.DESTROY });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Scales the Kinesis stream of ${this.node.path}`,
    });
    logGroup.grantWrite(role);

    const shards = stream.shardCount ?? 1;
    const names = {
      utilization: alarmName('WriteUtilization'),
      throttles: alarmName('WriteThrottles'),
      streamLag: alarmName('StreamLag'),
      scaleIn: alarmName('ScaleIn'),
    };
    // One lag alarm per consumer: `ConsumerLag` for the first (its name since one consumer), then `Consumer2Lag`, ...
    const consumerLagNames = consumers.map((_, index) => alarmName(`Consumer${consumerTag(index)}Lag`));
    // On-demand: only the consumer's lag, the one thing its lever (the factor) can change.
    this.alarmNames = provisioned ? [names.utilization, names.throttles, names.streamLag] : [];
    this.alarmNames.push(...consumerLagNames);
    if (provisioned) {
      this.alarmNames.push(names.scaleIn);
    }

    // The mapping is read and changed only when the scaler may change its parallelization factor;
    // the consumer is told how high the factor may go, before its environment is synthesized.
    const manageMapping = settings.adjustParallelization && consumers.length > 0;
    if (manageMapping) {
      for (const consumer of consumers) {
        consumer.allowParallelizationFactor?.(MAX_PARALLELIZATION_FACTOR);
      }
    }
    const alarmArns = this.alarmNames.map((name) =>
      stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
    );
    // Every consumer in one variable (the handler parses and checks it: lambda/scaler/contract.ts).
    const consumerSettings: ScalerConsumerConfig[] = consumers.map((consumer, index) => ({
      id: consumerId(index),
      functionName: consumer.functionName,
      ...(consumer.serviceName ? { serviceName: consumer.serviceName } : {}),
      ...(consumer.timeout && !consumer.timeout.isUnresolved() ? { timeoutMs: consumer.timeout.toMilliseconds() } : {}),
      ...(manageMapping ? { eventSourceMappingId: consumer.eventSourceMappingId } : {}),
    }));

    const onFailure = createOnFailureQueue(this, 'FailedEvents', "the scaler's asynchronous invocations");
    this.onFailureQueue = onFailure;
    const fn = new nodejs.NodejsFunction(this, 'Function', {
      ...pipelineFunctionDefaults(handlerEntry('scaler')),
      description: `Shard autoscaler of ${stream.node.path}`,
      role,
      logGroup,
      timeout: Duration.seconds(60),
      reservedConcurrentExecutions: 1,
      environment: {
        ...pipelineFunctionDefaults(handlerEntry('scaler')).environment,
        // The handler's variables, by their names in its contract (lambda/scaler/contract.ts).
        [ScalerEnv.POWERTOOLS_SERVICE_NAME]: this.serviceName,
        [ScalerEnv.STREAM_NAME]: stream.streamName,
        [ScalerEnv.STATE_TABLE_NAME]: table.tableName,
        [ScalerEnv.ALARM_NAMES]: this.alarmNames.join(','),
        [ScalerEnv.ALARM_ARNS]: alarmArns.join(','),
        [ScalerEnv.MIN_SHARDS]: String(settings.minShards),
        [ScalerEnv.MAX_SHARDS]: String(settings.maxShards),
        [ScalerEnv.TARGET_UTILIZATION]: String(settings.targetUtilization / 100),
        [ScalerEnv.SCALE_OUT_UTILIZATION]: String(settings.scaleOutUtilization / 100),
        [ScalerEnv.SCALE_IN_UTILIZATION]: String(settings.scaleInUtilization / 100),
        [ScalerEnv.LAG_THRESHOLD_MS]: String(settings.lagThreshold.toMilliseconds()),
        [ScalerEnv.SCALE_OUT_COOLDOWN_MS]: String(settings.scaleOutCooldown.toMilliseconds()),
        [ScalerEnv.SCALE_IN_COOLDOWN_MS]: String(settings.scaleInCooldown.toMilliseconds()),
        [ScalerEnv.QUIET_WINDOW_MINUTES]: String(settings.quietWindow.toMinutes()),
        [ScalerEnv.RESERVED_SCALE_OUT_CALLS]: String(AUTOSCALER_DEFAULTS.reservedScaleOutCalls),
        [ScalerEnv.ADJUST_PARALLELIZATION]: String(manageMapping),
        ...(consumers.length > 0 ? { [ScalerEnv.CONSUMERS]: stack.toJsonString(consumerSettings) } : {}),
      },
    });
    this.function = fn;
    this.scalerFunction = fn;
    this.scalerRole = role;
    // Failed alarm events: Lambda retries twice, then the queue (the alarm was reset, so a
    // condition that lasts fires it again anyway).
    fn.configureAsyncInvoke({
      retryAttempts: ASYNC_RETRY_ATTEMPTS,
      maxEventAge: ASYNC_MAX_EVENT_AGE,
      onFailure: new destinations.SqsDestination(onFailure),
    });

    // IAM: each action on the one resource it needs.
    stream.grant(role, ...(provisioned ? STREAM_ACTIONS : STREAM_DESCRIBE_ACTIONS));
    table.grant(role, ...STATE_ACTIONS);
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ALARM_ACTIONS, resources: alarmArns }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: METRIC_READ_ACTIONS, resources: ['*'] }));
    if (provisioned) {
      role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ACCOUNT_ACTIONS, resources: ['*'] }));
    }
    if (manageMapping) {
      // Each consumer's own mapping, and nothing else.
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: MAPPING_ACTIONS, resources: consumers.map((consumer) => consumer.eventSourceMappingArn) }),
      );
    }
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        "cloudwatch:GetMetricData and kinesis:DescribeLimits support no resource-level permissions (Service Authorization Reference); every other action is scoped to this stream, mapping, table or the autoscaler's own alarms",
    });

    // Alarms, each invoking the scaler (on ALARM only: it resets them itself).
    const alarmFactory = new AlarmFactory(this, {
      namePrefix: prefix,
      actions: { onAlarm: [new actions.LambdaAction(fn, { useUniquePermissionId: true })] },
    });
    this.alarms = scalingAlarms(alarmFactory, { stream, consumers, settings, shards, provisioned });
  }

  /**
   * The alarms for people, created on the first call and given `actions` (on ALARM and on OK):
   * - `ScalerErrors`: the scaler's invocations failed (errors) or were throttled in 5 minutes: it
   *   is not scaling; failed events wait in `onFailureQueue`;
   * - `ConsumerStuck` (with a consumer): the scaler found the consumer lagging with failures and no
   *   progress, so it adds no shards; the scaler sets this alarm to ALARM with its evidence as the
   *   reason (which the notification carries), and its decision metric keeps it there while it lasts.
   * `PipelineMonitoring` calls it with its alarm topic. Without a call these alarms do not exist
   * (no alarm without an action): a stuck consumer is then only logged and counted.
   */
  public notifyOperators(...alarmActions: cloudwatch.IAlarmAction[]): cloudwatch.IAlarm[] {
    if (this.operatorAlarmsList.length === 0) {
      this.createOperatorAlarms(alarmActions);
    } else {
      for (const alarm of this.operatorAlarmsList) {
        alarm.addAlarmAction(...alarmActions);
        alarm.addOkAction(...alarmActions);
      }
    }
    return [...this.operatorAlarmsList];
  }

  /** The alarms for people (`notifyOperators`): empty until it is called. */
  public get operatorAlarms(): cloudwatch.IAlarm[] {
    return [...this.operatorAlarmsList];
  }

  /** The scaler function's errors and throttles, summed over the period (one line). */
  public metricScalerFailures(props: cloudwatch.MetricOptions = {}): cloudwatch.IMetric {
    const period = props.period ?? OPERATOR_ALARM_PERIOD;
    return new cloudwatch.MathExpression({
      expression: 'FILL(errors, 0) + FILL(throttles, 0)',
      usingMetrics: {
        errors: this.scalerFunction.metricErrors({ period, statistic: cloudwatch.Stats.SUM }),
        throttles: this.scalerFunction.metricThrottles({ period, statistic: cloudwatch.Stats.SUM }),
      },
      period,
      label: props.label ?? 'Scaler errors + throttles',
    });
  }

  private createOperatorAlarms(alarmActions: cloudwatch.IAlarmAction[]): void {
    const alarmFactory = new AlarmFactory(this, {
      namePrefix: this.alarmNamePrefix,
      actions: { onAlarm: alarmActions, onOk: alarmActions },
    });
    // Published per invocation: no invocations, no errors.
    const errors = alarmFactory.addOccurrenceAlarm('ScalerErrorsAlarm', {
      name: 'ScalerErrors',
      description: `The shard autoscaler ${this.node.path} failed or was throttled in the last 5 minutes: it is not scaling. Its alarms were reset, so it is invoked again while their conditions last; events that failed every retry wait in its on-failure queue. See its log.`,
      metric: this.metricScalerFailures(),
    });
    this.operatorAlarmsList.push(errors);
    if (this.hasConsumer) {
      const stuckName = alarmFactory.alarmName('ConsumerStuck');
      // The lag alarm re-fires every few minutes while the consumer is stuck: 15 minutes of none means it recovered.
      const stuck = alarmFactory.addOccurrenceAlarm('ConsumerStuckAlarm', {
        name: 'ConsumerStuck',
        description: `A consumer lags, fails and makes no progress (a poison record, a failing dependency, a disabled or throttled mapping): the autoscaler ${this.node.path} adds no shards, which cannot help (it still raises the factor of another consumer that is only slow). The state reason names the consumer and holds the scaler's evidence. Fix or skip the failing records.`,
        metric: this.metricDecisions({ decision: ScalingDecisionKind.CONSUMER_STUCK, period: OPERATOR_ALARM_PERIOD }),
        evaluationPeriods: 3,
        datapointsToAlarm: 1,
      });
      this.operatorAlarmsList.push(stuck);
      this.scalerFunction.addEnvironment(ScalerEnv.STUCK_ALARM_NAME, stuckName);
      const arn = Stack.of(this).formatArn({
        service: 'cloudwatch',
        resource: 'alarm',
        resourceName: stuckName,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
      this.scalerRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: STUCK_ALARM_ACTIONS, resources: [arn] }));
    }
  }

  /** The shard count the scaler saw or set, maximum over the period. */
  public metricShardCount(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new ScalerHandlerMetrics(this.serviceName).metricShardCountMax(props);
  }

  /**
   * Scaling decisions, summed over the period: of one kind (`decision`: ScaleOut, ScaleIn,
   * RaiseParallelization, NoChange, Blocked, OnDemand, Busy, Rejected, Duplicate, Ignored,
   * NoData, ConsumerStuck), or all kinds
   * as one line each (a SEARCH expression) when `decision` is omitted.
   */
  public metricDecisions(props: cloudwatch.MetricOptions & { readonly decision?: string } = {}): cloudwatch.IMetric {
    const { decision, ...options } = props;
    const metrics = new ScalerHandlerMetrics(this.serviceName);
    return decision !== undefined ? metrics.metricDecisionSum(decision, options) : metrics.metricDecisionsByKindSum(options);
  }
}

/** A consumer's tag in alarm names and metric ids: '' for the first (its name since one consumer), then '2', '3', ... */
function consumerTag(index: number): string {
  return index === 0 ? '' : String(index + 1);
}

/**
 * The alarms that invoke the scaler: on a provisioned stream write utilisation, write throttling
 * and the stream's lag (scale out) and a quiet window (scale in); on any stream each consumer's
 * lag (`ConsumerLag`, `Consumer2Lag`, ...).
 */
function scalingAlarms(
  alarmFactory: AlarmFactory,
  spec: {
    readonly stream: IDataStream;
    readonly consumers: readonly ShardAutoscalerConsumer[];
    readonly settings: Settings;
    readonly shards: number;
    readonly provisioned: boolean;
  },
): cloudwatch.Alarm[] {
  const { stream, consumers, settings, shards, provisioned } = spec;
  const alarms: cloudwatch.Alarm[] = [];
  const minute = Duration.minutes(1);
  const bytes = stream.metricIncomingBytes({ period: minute });
  const records = stream.metricIncomingRecords({ period: minute });
  const streamAge = stream.metricIteratorAgeMilliseconds({ period: minute });
  const lagMs = settings.lagThreshold.toMilliseconds();

  if (provisioned) {
    alarms.push(
      alarmFactory.addSustainedAlarm('WriteUtilizationAlarm', {
        name: 'WriteUtilization',
        description: `Write utilisation of ${stream.node.path} at or above ${settings.scaleOutUtilization} % of its shards: the scaler adds shards. The scaler rewrites the capacity constants after each reshard.`,
        metric: new cloudwatch.MathExpression({
          expression: utilizationExpression(shards, 60),
          usingMetrics: { bytes, records },
          period: minute,
          label: 'Write utilisation (%)',
        }),
        threshold: settings.scaleOutUtilization,
        periods: 2,
      }),
    );
    alarms.push(
      alarmFactory.addSustainedAlarm('WriteThrottlesAlarm', {
        name: 'WriteThrottles',
        description: `Writes to ${stream.node.path} throttled (WriteProvisionedThroughputExceeded) in 2 consecutive minutes: the scaler adds shards.`,
        metric: stream.metricWriteThrottles({ period: minute }),
        threshold: 1,
        periods: 2,
      }),
    );
    alarms.push(
      alarmFactory.addSustainedAlarm('StreamLagAlarm', {
        name: 'StreamLag',
        description: `Consumers of ${stream.node.path} lag: GetRecords iterator age at or above ${lagMs} ms for 3 minutes. The scaler tells a stuck consumer from a slow one (its factor first, then the shards).`,
        metric: streamAge,
        threshold: lagMs,
        periods: 3,
      }),
    );
  }
  consumers.forEach((consumer, index) => {
    alarms.push(
      alarmFactory.addSustainedAlarm(`Consumer${consumerTag(index)}LagAlarm`, {
        name: `Consumer${consumerTag(index)}Lag`,
        description: `The consumer ${consumer.functionName} lags: IteratorAge at or above ${lagMs} ms for 3 minutes. The scaler tells a stuck consumer (failures, no progress: people are alarmed, no shards) from a slow one (its own parallelization factor is raised, then, on provisioned streams, the shards).`,
        metric: consumer.metricIteratorAge({ period: minute, statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: lagMs,
        periods: 3,
      }),
    );
  });
  if (provisioned) {
    const period = SCALE_IN_PERIOD;
    const usingMetrics: Record<string, cloudwatch.IMetric> = {
      bytes: stream.metricIncomingBytes({ period }),
      records: stream.metricIncomingRecords({ period }),
      streamAge: stream.metricIteratorAgeMilliseconds({ period }),
    };
    const consumerAgeIds = consumers.map((_, index) => `consumerAge${consumerTag(index)}`);
    consumers.forEach((consumer, index) => {
      usingMetrics[consumerAgeIds[index]] = consumer.metricIteratorAge({ period, statistic: cloudwatch.Stats.MAXIMUM });
    });
    const periods = settings.quietWindow.toMinutes() / period.toMinutes();
    alarms.push(
      alarmFactory.addAlarm('ScaleInAlarm', {
        name: 'ScaleIn',
        description: `Write utilisation of ${stream.node.path} below ${settings.scaleInUtilization} % for ${settings.quietWindow.toMinutes()} minutes with no consumer lag (lag reads as 100 %): the scaler removes shards, at most half.`,
        metric: new cloudwatch.MathExpression({
          expression: quietExpression(shards, period.toSeconds(), lagMs, consumerAgeIds),
          usingMetrics,
          period,
          label: 'Write utilisation, 100 while consumers lag (%)',
        }),
        threshold: settings.scaleInUtilization,
        comparison: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: periods,
        datapointsToAlarm: periods,
        // A quiet window is never read into missing data: no data, no scale-in.
        missingData: MissingData.UNKNOWN,
      }),
    );
  }
  return alarms;
}

interface Settings {
  readonly minShards: number;
  readonly maxShards: number;
  readonly targetUtilization: number;
  readonly scaleOutUtilization: number;
  readonly scaleInUtilization: number;
  readonly lagThreshold: Duration;
  readonly scaleOutCooldown: Duration;
  readonly scaleInCooldown: Duration;
  readonly quietWindow: Duration;
  readonly adjustParallelization: boolean;
}

/** `consumers`, or the deprecated `consumer`; both together is an error. */
function consumersOf(props: ShardAutoscalerProps): ShardAutoscalerConsumer[] {
  const v = new PropValidator('ShardAutoscaler');
  if (props.consumer && props.consumers) {
    v.fail(
      `give either consumers (every consumer) or consumer (deprecated: one consumer), not both; received consumer ${props.consumer.functionName} and ${props.consumers.length} consumers`,
    );
  }
  const consumers = props.consumers ?? (props.consumer ? [props.consumer] : []);
  const seen = new Map<string, number>();
  consumers.forEach((consumer, index) => {
    const arn = consumer.eventSourceMappingArn;
    if (!Token.isUnresolved(arn) && seen.has(arn)) {
      v.fail(
        `consumers must have distinct event-source mappings; received consumers[${seen.get(arn)}] and consumers[${index}] with mapping ${arn}`,
      );
    }
    seen.set(arn, index);
  });
  const unique = new Set(consumers);
  if (unique.size !== consumers.length) {
    const index = consumers.findIndex((consumer, i) => consumers.indexOf(consumer) !== i);
    v.fail(`consumers must list each consumer once; received consumers[${index}] (${consumers[index].functionName}) again`);
  }
  return consumers;
}

function resolveSettings(props: ShardAutoscalerProps, consumers: readonly ShardAutoscalerConsumer[]): Settings {
  const D = AUTOSCALER_DEFAULTS;
  const minShards = props.minShards ?? D.minShards;
  const initialShards = props.stream.shardCount !== undefined && !Token.isUnresolved(props.stream.shardCount) ? props.stream.shardCount : 1;
  const maxShards = props.maxShards ?? Math.max(D.maxShards, minShards, initialShards);
  const targetUtilization = props.targetUtilization ?? D.targetUtilizationPercent;
  const lagThreshold = props.lagThreshold ?? Duration.millis(D.lagThresholdMs);
  const scaleOutCooldown = props.scaleOutCooldown ?? Duration.millis(D.scaleOutCooldownMs);
  const scaleInCooldown = props.scaleInCooldown ?? Duration.millis(D.scaleInCooldownMs);
  const quietWindow = props.quietWindow ?? Duration.minutes(D.quietWindowMinutes);
  const v = new PropValidator('ShardAutoscaler');
  const known = (value: number) => !Token.isUnresolved(value);
  if (props.stream.mode === undefined) {
    v.fail(
      `stream ${props.stream.node.path} has no known mode (an import): the scaler must know whether it may change shards. Import it with DataStream.fromStreamAttributes (or fromStream) giving mode, and shardCount for a provisioned stream; received mode undefined`,
    );
  }
  if (props.stream.mode === DataStreamMode.PROVISIONED && props.stream.shardCount === undefined) {
    v.fail(
      `stream ${props.stream.node.path} is provisioned with no known shardCount (an import): the scaler's alarm thresholds start from it. Give shardCount to DataStream.fromStreamAttributes (or fromStream); received shardCount undefined`,
    );
  }
  const hasConsumer = consumers.length > 0;
  if (props.adjustParallelization === true && !hasConsumer) {
    v.fail(
      'adjustParallelization true needs a consumer whose parallelization factor the scaler may change; give consumers, or leave adjustParallelization unset; received adjustParallelization true with no consumer',
    );
  }
  if (props.stream.mode === DataStreamMode.ON_DEMAND) {
    for (const name of PROVISIONED_ONLY_PROPS) {
      if (props[name] !== undefined) {
        const value = props[name];
        v.fail(
          `${name} applies to provisioned streams only: the stream is on-demand (Kinesis manages its shards); leave it out. Received ${value instanceof Duration ? value.toHumanString() : String(value)}`,
        );
      }
    }
    if (!hasConsumer || props.adjustParallelization === false) {
      v.fail(
        `on an on-demand stream the scaler's only lever is the consumer's parallelization factor: it needs a consumer and adjustParallelization true; received consumer ${hasConsumer ? 'given' : 'none'}, adjustParallelization ${String(props.adjustParallelization ?? true)}`,
      );
    }
  }
  v.wholeNumber('minShards', minShards, 1);
  if (known(maxShards) && (!Number.isInteger(maxShards) || maxShards < minShards || maxShards > MAX_STREAM_SHARDS)) {
    v.fail(`maxShards must be a whole number from minShards (${minShards}) to ${MAX_STREAM_SHARDS}; received ${maxShards}`);
  }
  const initial = props.stream.shardCount;
  if (initial !== undefined && known(initial) && (initial < minShards || initial > maxShards)) {
    v.fail(`the stream's shardCount must lie within minShards..maxShards (${minShards}..${maxShards}); received shardCount ${initial}`);
  }
  v.number('targetUtilization', targetUtilization, 10, 90, { rule: 'a percentage' });
  if (!lagThreshold.isUnresolved() && lagThreshold.toMilliseconds() < 1000) {
    v.fail(`lagThreshold must be at least 1 second; received ${lagThreshold.toMilliseconds()} ms`);
  }
  for (const [name, value] of [
    ['scaleOutCooldown', scaleOutCooldown],
    ['scaleInCooldown', scaleInCooldown],
  ] as const) {
    if (!value.isUnresolved() && value.toSeconds() < 60) {
      v.fail(`${name} must be at least 1 minute; received ${value.toSeconds()} seconds`);
    }
  }
  if (!quietWindow.isUnresolved()) {
    const minutes = quietWindow.toMinutes({ integral: false });
    if (!Number.isInteger(minutes / 5) || minutes < 15 || minutes > 24 * 60) {
      v.fail(`quietWindow must be a whole multiple of 5 minutes from 15 minutes to 24 hours; received ${minutes} minutes`);
    }
  }
  return {
    minShards,
    maxShards,
    targetUtilization,
    scaleOutUtilization: scaleOutUtilizationPercent(targetUtilization),
    scaleInUtilization: scaleInUtilizationPercent(targetUtilization),
    lagThreshold,
    scaleOutCooldown,
    scaleInCooldown,
    quietWindow,
    adjustParallelization: props.adjustParallelization ?? D.adjustParallelization,
  };
}
