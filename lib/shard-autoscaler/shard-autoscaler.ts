import { ArnFormat, Duration, Names, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { quietExpression, utilizationExpression } from '../../lambda/shared/scaling-alarms';
import { MAX_PARALLELIZATION_FACTOR } from '../../lambda/shared/scaling-decision';
import { DataStreamMode, type DataStream } from '../data-stream';
import { handlerEntry, METRICS_NAMESPACE, pipelineFunctionDefaults } from '../private/pipeline-function';

const STREAM_ACTIONS = ['kinesis:UpdateShardCount', 'kinesis:DescribeStreamSummary', 'kinesis:ListShards'];
const STREAM_DESCRIBE_ACTIONS = ['kinesis:DescribeStreamSummary', 'kinesis:ListShards'];
const ACCOUNT_ACTIONS = ['kinesis:DescribeLimits'];
const MAPPING_ACTIONS = ['lambda:GetEventSourceMapping', 'lambda:UpdateEventSourceMapping'];
const METRIC_READ_ACTIONS = ['cloudwatch:GetMetricData'];
const ALARM_ACTIONS = ['cloudwatch:DescribeAlarms', 'cloudwatch:PutMetricAlarm', 'cloudwatch:SetAlarmState'];
const STATE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem'];

/** Maximum shards per stream that UpdateShardCount accepts (without a quota increase). */
export const MAX_STREAM_SHARDS = 10000;
const SCALE_IN_PERIOD = Duration.minutes(5);
const RESERVED_SCALE_OUT_CALLS = 2;

/**
 * What the autoscaler needs of a consumer: the event-source mapping whose parallelization factor
 * it may raise, and the function whose IteratorAge shows consumer lag. `ConsumerFunction` has
 * these members; any Lambda Kinesis consumer can be described with them.
 */
export interface ShardAutoscalerConsumer {
  readonly eventSourceMappingId: string;
  readonly eventSourceMappingArn: string;
  readonly functionName: string;
  /** AWS/Lambda IteratorAge of the consumer, FunctionName dimension, Maximum. */
  metricIteratorAge(props?: cloudwatch.MetricOptions): cloudwatch.IMetric;
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
   * Fewest shards the scaler leaves. Whole number, at least 1.
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
   * Whether a consumer-bound lag raises the consumer mapping's parallelization factor (up to 10)
   * before shards are added. Only with a `consumer`, which is told so through its
   * `allowParallelizationFactor` (a checkpointing `ConsumerFunction` then stays exactly once at
   * any factor, keeping each partition key's progress in its lease).
   * @default true
   */
  readonly adjustParallelization?: boolean;
}

export interface ShardAutoscalerProps extends ShardAutoscalerOptions {
  /** The stream to scale. On an on-demand stream only the lag alarms (and the parallelization factor) are managed. */
  readonly stream: DataStream;
  /**
   * The stream's Lambda consumer.
   * @default - no consumer: lag is read from the stream's GetRecords iterator age only, and
   *            lag that is not write-bound adds shards
   */
  readonly consumer?: ShardAutoscalerConsumer;
}

/**
 * CloudWatch alarms on a stream's write utilisation, write throttling, consumer lag and a long
 * quiet window, whose Lambda actions invoke a scaler function (reserved concurrency 1). The scaler
 * changes the shard count with UpdateShardCount within its rules, or raises the consumer's
 * parallelization factor when the consumer is the bottleneck, keeps its cooldowns and daily call
 * budget in a DynamoDB table, and rewrites its alarms' capacity constants after each reshard.
 *
 * On an on-demand stream Kinesis manages the shards (UpdateShardCount would fail, and capacity
 * follows the traffic by itself), so only the lag alarms are created; their action may raise the
 * consumer's parallelization factor, never the shard count.
 */
export class ShardAutoscaler extends Construct {
  /** The scaler function. */
  public readonly function: lambda.IFunction;
  /** Every alarm that invokes the scaler. */
  public readonly alarms: cloudwatch.IAlarm[];
  /** The table of the scaler's state (cooldowns, daily call budget, handled events). */
  public readonly stateTable: dynamodb.ITableV2;
  /** Names of the alarms, derived from the construct path, so IAM can name them before they exist. */
  public readonly alarmNames: string[];
  /** The service dimension of the scaler's own metrics. */
  public readonly serviceName: string;

  constructor(scope: Construct, id: string, props: ShardAutoscalerProps) {
    super(scope, id);
    const settings = resolveSettings(props);
    const stream = props.stream;
    const provisioned = stream.mode === DataStreamMode.PROVISIONED;
    const stack = Stack.of(this);
    this.serviceName = Names.uniqueResourceName(this, { maxLength: 64 });
    const prefix = Names.uniqueResourceName(this, { maxLength: 200, separator: '-' });
    const alarmName = (suffix: string) => `${prefix}-${suffix}`;

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
      consumerLag: alarmName('ConsumerLag'),
      scaleIn: alarmName('ScaleIn'),
    };
    this.alarmNames = provisioned ? [names.utilization, names.throttles, names.streamLag] : [names.streamLag];
    if (props.consumer) {
      this.alarmNames.push(names.consumerLag);
    }
    if (provisioned) {
      this.alarmNames.push(names.scaleIn);
    }

    // The mapping is read and changed only when the scaler may change its parallelization factor;
    // the consumer is told how high the factor may go, before its environment is synthesized.
    const manageMapping = settings.adjustParallelization && props.consumer !== undefined;
    if (manageMapping) {
      props.consumer?.allowParallelizationFactor?.(MAX_PARALLELIZATION_FACTOR);
    }
    const fn = new nodejs.NodejsFunction(this, 'Function', {
      ...pipelineFunctionDefaults(handlerEntry('scaler')),
      description: `Shard autoscaler of ${stream.node.path}`,
      role,
      logGroup,
      timeout: Duration.seconds(60),
      reservedConcurrentExecutions: 1,
      environment: {
        ...pipelineFunctionDefaults(handlerEntry('scaler')).environment,
        POWERTOOLS_SERVICE_NAME: this.serviceName,
        STREAM_NAME: stream.streamName,
        STATE_TABLE_NAME: table.tableName,
        ALARM_NAMES: this.alarmNames.join(','),
        MIN_SHARDS: String(settings.minShards),
        MAX_SHARDS: String(settings.maxShards),
        TARGET_UTILIZATION: String(settings.targetUtilization / 100),
        SCALE_OUT_UTILIZATION: String(settings.scaleOutUtilization / 100),
        SCALE_IN_UTILIZATION: String(settings.scaleInUtilization / 100),
        LAG_THRESHOLD_MS: String(settings.lagThreshold.toMilliseconds()),
        SCALE_OUT_COOLDOWN_MS: String(settings.scaleOutCooldown.toMilliseconds()),
        SCALE_IN_COOLDOWN_MS: String(settings.scaleInCooldown.toMilliseconds()),
        QUIET_WINDOW_MINUTES: String(settings.quietWindow.toMinutes()),
        RESERVED_SCALE_OUT_CALLS: String(RESERVED_SCALE_OUT_CALLS),
        ADJUST_PARALLELIZATION: String(manageMapping),
        ...(props.consumer ? { CONSUMER_FUNCTION_NAME: props.consumer.functionName } : {}),
        ...(props.consumer && manageMapping ? { EVENT_SOURCE_MAPPING_ID: props.consumer.eventSourceMappingId } : {}),
      },
    });
    this.function = fn;

    // IAM: each action on the one resource it needs.
    stream.grant(role, ...(provisioned ? STREAM_ACTIONS : STREAM_DESCRIBE_ACTIONS));
    table.grant(role, ...STATE_ACTIONS);
    const alarmArns = this.alarmNames.map((name) => stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ALARM_ACTIONS, resources: alarmArns }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: METRIC_READ_ACTIONS, resources: ['*'] }));
    if (provisioned) {
      role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ACCOUNT_ACTIONS, resources: ['*'] }));
    }
    if (props.consumer && manageMapping) {
      role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: MAPPING_ACTIONS, resources: [props.consumer.eventSourceMappingArn] }));
    }
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'cloudwatch:GetMetricData and kinesis:DescribeLimits support no resource-level permissions (Service Authorization Reference); every other action is scoped to this stream, mapping, table or the autoscaler\'s own alarms',
    });

    // Alarms, each invoking the scaler.
    const action = new actions.LambdaAction(fn, { useUniquePermissionId: true });
    const alarms: cloudwatch.Alarm[] = [];
    const minute = Duration.minutes(1);
    const addAlarm = (idPart: string, alarmProps: cloudwatch.AlarmProps) => {
      const alarm = new cloudwatch.Alarm(this, idPart, alarmProps);
      alarm.addAlarmAction(action);
      alarms.push(alarm);
      return alarm;
    };
    const bytes = stream.metricIncomingBytes({ period: minute });
    const records = stream.metricIncomingRecords({ period: minute });
    const streamAge = stream.metricIteratorAgeMilliseconds({ period: minute });
    const lagMs = settings.lagThreshold.toMilliseconds();

    if (provisioned) {
      addAlarm('WriteUtilizationAlarm', {
        alarmName: names.utilization,
        alarmDescription: `Write utilisation of ${stream.node.path} at or above ${settings.scaleOutUtilization} % of its shards: the scaler adds shards. The scaler rewrites the capacity constants after each reshard.`,
        metric: new cloudwatch.MathExpression({ expression: utilizationExpression(shards, 60), usingMetrics: { bytes, records }, period: minute, label: 'Write utilisation (%)' }),
        threshold: settings.scaleOutUtilization,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      addAlarm('WriteThrottlesAlarm', {
        alarmName: names.throttles,
        alarmDescription: `Writes to ${stream.node.path} throttled (WriteProvisionedThroughputExceeded) in 2 consecutive minutes: the scaler adds shards.`,
        metric: stream.metricWriteThrottles({ period: minute }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 2,
        datapointsToAlarm: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
    addAlarm('StreamLagAlarm', {
      alarmName: names.streamLag,
      alarmDescription: `Consumers of ${stream.node.path} lag: GetRecords iterator age at or above ${lagMs} ms for 3 minutes. The scaler raises the consumer's parallelization factor, then (provisioned streams) the shards.`,
      metric: streamAge,
      threshold: lagMs,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (props.consumer) {
      addAlarm('ConsumerLagAlarm', {
        alarmName: names.consumerLag,
        alarmDescription: `The consumer ${props.consumer.functionName} lags: IteratorAge at or above ${lagMs} ms for 3 minutes. The scaler raises its parallelization factor, then (provisioned streams) the shards.`,
        metric: props.consumer.metricIteratorAge({ period: minute, statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: lagMs,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
    if (provisioned) {
      const period = SCALE_IN_PERIOD;
      const usingMetrics: Record<string, cloudwatch.IMetric> = {
        bytes: stream.metricIncomingBytes({ period }),
        records: stream.metricIncomingRecords({ period }),
        streamAge: stream.metricIteratorAgeMilliseconds({ period }),
      };
      if (props.consumer) {
        usingMetrics.consumerAge = props.consumer.metricIteratorAge({ period, statistic: cloudwatch.Stats.MAXIMUM });
      }
      const periods = settings.quietWindow.toMinutes() / period.toMinutes();
      addAlarm('ScaleInAlarm', {
        alarmName: names.scaleIn,
        alarmDescription: `Write utilisation of ${stream.node.path} below ${settings.scaleInUtilization} % for ${settings.quietWindow.toMinutes()} minutes with no consumer lag (lag reads as 100 %): the scaler removes shards, at most half.`,
        metric: new cloudwatch.MathExpression({
          expression: quietExpression(shards, period.toSeconds(), lagMs, props.consumer !== undefined),
          usingMetrics,
          period,
          label: 'Write utilisation, 100 while consumers lag (%)',
        }),
        threshold: settings.scaleInUtilization,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: periods,
        datapointsToAlarm: periods,
        treatMissingData: cloudwatch.TreatMissingData.MISSING,
      });
    }
    this.alarms = alarms;
  }

  /** The shard count the scaler saw or set, maximum over the period. */
  public metricShardCount(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: 'ShardCount',
      dimensionsMap: { service: this.serviceName },
      statistic: cloudwatch.Stats.MAXIMUM,
      ...props,
    });
  }

  /**
   * Scaling decisions, summed over the period: of one kind (`decision`: ScaleOut, ScaleIn,
   * RaiseParallelization, NoChange, Blocked, OnDemand, Busy, Rejected, Duplicate), or all kinds
   * as one line each (a SEARCH expression) when `decision` is omitted.
   */
  public metricDecisions(props: cloudwatch.MetricOptions & { readonly decision?: string } = {}): cloudwatch.IMetric {
    const { decision, ...options } = props;
    if (decision !== undefined) {
      return new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: 'ScalingDecision',
        dimensionsMap: { service: this.serviceName, Decision: decision },
        statistic: cloudwatch.Stats.SUM,
        ...options,
      });
    }
    const period = options.period ?? Duration.minutes(5);
    return new cloudwatch.MathExpression({
      expression: `SEARCH('{${METRICS_NAMESPACE},Decision,service} MetricName="ScalingDecision" service="${this.serviceName}"', 'Sum', ${period.toSeconds()})`,
      usingMetrics: {},
      period,
      label: options.label ?? 'Scaling decisions',
    });
  }
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

function resolveSettings(props: ShardAutoscalerProps): Settings {
  const minShards = props.minShards ?? 1;
  const initialShards = props.stream.shardCount !== undefined && !Token.isUnresolved(props.stream.shardCount) ? props.stream.shardCount : 1;
  const maxShards = props.maxShards ?? Math.max(64, minShards, initialShards);
  const targetUtilization = props.targetUtilization ?? 60;
  const lagThreshold = props.lagThreshold ?? Duration.minutes(1);
  const scaleOutCooldown = props.scaleOutCooldown ?? Duration.minutes(5);
  const scaleInCooldown = props.scaleInCooldown ?? Duration.hours(1);
  const quietWindow = props.quietWindow ?? Duration.hours(1);
  const fail = (message: string): never => {
    throw new Error(`ShardAutoscaler: ${message}`);
  };
  const known = (value: number) => !Token.isUnresolved(value);
  if (known(minShards) && (!Number.isInteger(minShards) || minShards < 1)) {
    fail(`minShards must be a whole number of at least 1; received ${minShards}`);
  }
  if (known(maxShards) && (!Number.isInteger(maxShards) || maxShards < minShards || maxShards > MAX_STREAM_SHARDS)) {
    fail(`maxShards must be a whole number from minShards (${minShards}) to ${MAX_STREAM_SHARDS}; received ${maxShards}`);
  }
  const initial = props.stream.shardCount;
  if (initial !== undefined && known(initial) && (initial < minShards || initial > maxShards)) {
    fail(`the stream's shardCount must lie within minShards..maxShards (${minShards}..${maxShards}); received shardCount ${initial}`);
  }
  if (known(targetUtilization) && !(targetUtilization >= 10 && targetUtilization <= 90)) {
    fail(`targetUtilization must be a percentage from 10 to 90; received ${targetUtilization}`);
  }
  if (!lagThreshold.isUnresolved() && lagThreshold.toMilliseconds() < 1000) {
    fail(`lagThreshold must be at least 1 second; received ${lagThreshold.toMilliseconds()} ms`);
  }
  for (const [name, value] of [['scaleOutCooldown', scaleOutCooldown], ['scaleInCooldown', scaleInCooldown]] as const) {
    if (!value.isUnresolved() && value.toSeconds() < 60) {
      fail(`${name} must be at least 1 minute; received ${value.toSeconds()} seconds`);
    }
  }
  if (!quietWindow.isUnresolved()) {
    const minutes = quietWindow.toMinutes({ integral: false });
    if (!Number.isInteger(minutes / 5) || minutes < 15 || minutes > 24 * 60) {
      fail(`quietWindow must be a whole multiple of 5 minutes from 15 minutes to 24 hours; received ${minutes} minutes`);
    }
  }
  return {
    minShards,
    maxShards,
    targetUtilization,
    scaleOutUtilization: Math.round(targetUtilization + (100 - targetUtilization) / 2),
    scaleInUtilization: Math.round(targetUtilization / 2),
    lagThreshold,
    scaleOutCooldown,
    scaleInCooldown,
    quietWindow,
    adjustParallelization: props.adjustParallelization ?? true,
  };
}
