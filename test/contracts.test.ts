import * as fs from 'fs';
import * as path from 'path';
import { Duration, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import { ConsumerConfigError, ConsumerEnv, ConsumerMetric, loadConsumerConfig, OutOfRange, Ordering } from '../lambda/consumer/contract';
import { loadProducerConfig, PRODUCER_DEFAULTS, ProducerConfigError, ProducerEnv, ProducerMetric } from '../lambda/producer/contract';
import { AUTOSCALER_DEFAULTS, loadScalerConfig, ScalerConfigError, ScalerEnv, ScalerMetric } from '../lambda/scaler/contract';
import { EnvConfigError, envReader, METRICS_NAMESPACE } from '../lambda/shared/env';
import { PER_SHARD_LIMITS, PUT_RECORDS_LIMITS, UPDATE_SHARD_COUNT_LIMITS } from '../lambda/shared/kinesis-limits';
import { ConsumerFunction, DataStream, EXAMPLE_PROCESSOR_ENTRY, OutOfRangeRecords, ProducerFunction, ShardAutoscaler } from '../lib';
import { testStack } from './helpers/app';

const ROOT = path.join(__dirname, '..');

/** CloudFormation pseudo parameters and references as a deployed stack would resolve them. */
const PSEUDO: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': 'us-east-1',
  'AWS::AccountId': '111122223333',
  'AWS::URLSuffix': 'amazonaws.com',
};

/** A synthesized value as the function would see it: Fn::Join joined, a Ref or GetAtt a plausible physical name. */
function resolve(value: unknown): string {
  if (typeof value === 'string') {
    return value;
  }
  const object = value as Record<string, unknown>;
  if (Array.isArray(object['Fn::Join'])) {
    const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
    return parts.map(resolve).join(separator);
  }
  if (typeof object.Ref === 'string') {
    return PSEUDO[object.Ref] ?? `${object.Ref}-physical`;
  }
  if (Array.isArray(object['Fn::GetAtt'])) {
    return `${(object['Fn::GetAtt'] as string[]).join('-')}-physical`;
  }
  throw new Error(`unexpected value in a function's environment: ${JSON.stringify(value)}`);
}

/** The environment of the one Lambda function whose logical id starts with `prefix`, resolved. */
function environmentOf(stack: Stack, prefix: string): Record<string, string> {
  const functions = Template.fromStack(stack).findResources('AWS::Lambda::Function');
  const ids = Object.keys(functions).filter((id) => id.startsWith(prefix));
  expect(ids).toHaveLength(1);
  const variables = (functions[ids[0]].Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables;
  return Object.fromEntries(Object.entries(variables).map(([name, value]) => [name, resolve(value)]));
}

function representativeStack() {
  const stack = testStack();
  const stream = new DataStream(stack, 'Stream', { shardCount: 2 });
  new ProducerFunction(stack, 'Producer', { stream });
  const consumer = new ConsumerFunction(stack, 'Consumer', {
    stream,
    processorEntry: EXAMPLE_PROCESSOR_ENTRY,
    outOfRangeRecords: OutOfRangeRecords.SKIP,
  });
  const autoscaler = new ShardAutoscaler(stack, 'Autoscaler', { stream, consumers: [consumer], lagThreshold: Duration.minutes(2) });
  // The operators' alarms set STUCK_ALARM_NAME too.
  autoscaler.notifyOperators(new cwActions.SnsAction(new sns.Topic(stack, 'Operators', { enforceSSL: true })));
  return stack;
}

describe('each construct sets only the variables its handler contract names, and the handler accepts them', () => {
  const stack = representativeStack();

  test('ProducerFunction -> loadProducerConfig', () => {
    // Act
    const env = environmentOf(stack, 'Producer');

    // Assess: every variable is a contract name, none missing, and the handler reads the defaults back
    expect(Object.keys(env).sort()).toEqual(Object.values(ProducerEnv).sort());
    const config = loadProducerConfig(env);
    expect(config.streamName).toMatch(/^Stream.*-physical$/);
    expect(config.limits).toEqual(PRODUCER_DEFAULTS.limits);
    expect(config).toMatchObject({
      backoff: { baseMs: PRODUCER_DEFAULTS.retryBaseMs, maxMs: PRODUCER_DEFAULTS.retryMaxMs },
      safetyMarginMs: PRODUCER_DEFAULTS.safetyMarginMs,
      shardMapTtlMs: PRODUCER_DEFAULTS.shardMapTtlMs,
      throwOnUndelivered: true,
      callTimeoutMs: PRODUCER_DEFAULTS.callTimeoutMs,
      progressWindowSeconds: PRODUCER_DEFAULTS.progressWindowSeconds,
    });
    expect(config.progressTableName).toMatch(/^ProducerProgress.*-physical$/);
  });

  test('ConsumerFunction -> loadConsumerConfig', () => {
    // Act
    const env = environmentOf(stack, 'Consumer');

    // Assess: the autoscaler raised the factor it may use to 10, and told the handler
    const names = new Set<string>(Object.values(ConsumerEnv));
    expect(Object.keys(env).filter((name) => !names.has(name))).toEqual([]);
    expect(loadConsumerConfig(env)).toMatchObject({
      ordering: Ordering.PARTITION_KEY,
      maxConcurrency: 16,
      maxParallelizationFactor: 10,
      outOfRangeRecords: OutOfRange.SKIP,
      reserveMillis: 5_000,
      leaseTableName: expect.stringMatching(/^ConsumerLeases.*-physical$/),
      streamName: expect.stringMatching(/-physical$/),
      applicationName: env[ConsumerEnv.POWERTOOLS_SERVICE_NAME],
    });
  });

  test('ShardAutoscaler -> loadScalerConfig', () => {
    // Act
    const env = environmentOf(stack, 'Autoscaler');

    // Assess
    const names = new Set<string>(Object.values(ScalerEnv));
    expect(Object.keys(env).filter((name) => !names.has(name))).toEqual([]);
    const config = loadScalerConfig(env);
    expect(config.limits).toEqual({
      minShards: AUTOSCALER_DEFAULTS.minShards,
      maxShards: AUTOSCALER_DEFAULTS.maxShards,
      targetUtilization: 0.6,
      scaleOutUtilization: 0.8,
      scaleInUtilization: 0.3,
      lagThresholdMs: 120_000,
      scaleOutCooldownMs: AUTOSCALER_DEFAULTS.scaleOutCooldownMs,
      scaleInCooldownMs: AUTOSCALER_DEFAULTS.scaleInCooldownMs,
      quietWindowMinutes: AUTOSCALER_DEFAULTS.quietWindowMinutes,
      reservedScaleOutCalls: AUTOSCALER_DEFAULTS.reservedScaleOutCalls,
      adjustParallelization: true,
    });
    expect(config.consumers).toEqual([
      expect.objectContaining({ id: 'consumer', eventSourceMappingId: expect.stringMatching(/-physical$/) }),
    ]);
    expect(config.alarmArns).toHaveLength(config.alarmNames.length);
    expect(config.stuckAlarmName).toMatch(/ConsumerStuck$/);
  });

  test("OutOfRangeRecords (the construct's enum) has the handler's values", () => {
    expect(Object.values(OutOfRangeRecords).sort()).toEqual(Object.values(OutOfRange).sort());
  });
});

describe('no variable or metric name is written outside its contract', () => {
  /** Quoted literals (or `env.NAME`) of `names` in a source file. */
  function literalsIn(file: string, names: readonly string[]): string[] {
    const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
    return names.filter((name) => new RegExp(`['"]${name}['"]|\\benv\\.${name}\\b`).test(text)).map((name) => `${file}: ${name}`);
  }
  const sides = [
    {
      contract: ProducerEnv,
      metrics: ProducerMetric,
      files: ['lambda/producer/producer.ts', 'lambda/producer/index.ts', 'lib/producer-function/producer-function.ts'],
    },
    {
      contract: ConsumerEnv,
      metrics: ConsumerMetric,
      files: ['lambda/consumer/handler.ts', 'lambda/consumer/index.ts', 'lib/consumer-function/consumer-function.ts'],
    },
    {
      contract: ScalerEnv,
      metrics: ScalerMetric,
      files: ['lambda/scaler/index.ts', 'lambda/scaler/scaler.ts', 'lib/shard-autoscaler/shard-autoscaler.ts'],
    },
  ];

  test.each(sides.map((side) => [side.files[0], side] as const))('%s, its construct and handler entry', (_name, side) => {
    const envNames = Object.values(side.contract);
    expect(side.files.flatMap((file) => literalsIn(file, envNames))).toEqual([]);
  });

  test('every metric a handler publishes is published by a contract name', () => {
    const handlers = ['lambda/producer/index.ts', 'lambda/consumer/handler.ts', 'lambda/scaler/index.ts'];
    const literal = /addMetric\(\s*['"`]/;
    expect(handlers.filter((file) => literal.test(fs.readFileSync(path.join(ROOT, file), 'utf8')))).toEqual([]);
  });

  test("the metric factories of lib/ read the handlers' metrics by the contracts' names", () => {
    const metricNames = [...Object.values(ProducerMetric), ...Object.values(ConsumerMetric), ...Object.values(ScalerMetric)];
    const factories = fs
      .readdirSync(path.join(ROOT, 'lib/pipeline-monitoring/metrics'))
      .map((file) => `lib/pipeline-monitoring/metrics/${file}`);
    const constructs = [
      'lib/producer-function/producer-function.ts',
      'lib/consumer-function/consumer-function.ts',
      'lib/shard-autoscaler/shard-autoscaler.ts',
    ];
    expect([...factories, ...constructs].flatMap((file) => literalsIn(file, metricNames))).toEqual([]);
  });

  test('the metrics namespace the functions get is the one the constructs read', () => {
    const stack = representativeStack();
    expect(environmentOf(stack, 'Producer')[ProducerEnv.POWERTOOLS_METRICS_NAMESPACE]).toBe(METRICS_NAMESPACE);
  });
});

describe('one error for every handler setting', () => {
  test.each([
    [
      'producer',
      () => loadProducerConfig({ STREAM_NAME: 's', MAX_BATCH_ENTRIES: '0' }),
      ProducerConfigError,
      "producer: MAX_BATCH_ENTRIES must be a positive integer; received '0'",
    ],
    [
      'consumer',
      () => loadConsumerConfig({ MAX_CONCURRENCY: '1001' }),
      ConsumerConfigError,
      "consumer: MAX_CONCURRENCY must be a whole number from 1 to 1000; received '1001'",
    ],
    [
      'scaler',
      () =>
        loadScalerConfig({
          STREAM_NAME: 's',
          STATE_TABLE_NAME: 't',
          ALARM_NAMES: 'a',
          ALARM_ARNS: 'arn:aws:cloudwatch:us-east-1:111122223333:alarm:a',
          MIN_SHARDS: 'one',
        }),
      ScalerConfigError,
      "scaler: MIN_SHARDS must be a number; received 'one'",
    ],
  ] as const)('%s: an EnvConfigError naming the handler, the variable, the rule and the value', (_handler, load, ErrorClass, message) => {
    // Act
    let caught: unknown;
    try {
      load();
    } catch (error) {
      caught = error;
    }

    // Assess
    expect(caught).toBeInstanceOf(ErrorClass);
    expect(caught).toBeInstanceOf(EnvConfigError);
    expect((caught as Error).message).toBe(message);
  });

  test('readers: unset is the fallback or an error naming the rule; booleans, enums and JSON are strict', () => {
    const read = envReader({ N: '', B: 'yes', E: 'c', J: '{"a":1}', S: 'x' }, 'test');
    expect(read.integer('N', { fallback: 3 })).toBe(3);
    expect(() => read.integer('N')).toThrow(/^test: N is not set; it must be a positive integer$/);
    expect(() => read.boolean('B')).toThrow(/^test: B must be 'true' or 'false'; received 'yes'$/);
    expect(() => read.oneOf('E', ['a', 'b'])).toThrow(/^test: E must be 'a' or 'b'; received 'c'$/);
    expect(read.json('J', 'an object', (value) => value)).toEqual({ a: 1 });
    expect(() => read.json('S', 'an object', (value) => value)).toThrow(/^test: S must be an object; it is not JSON/);
    const error = (() => {
      try {
        read.integer('S', { min: 0, max: 9 });
      } catch (caught) {
        return caught as EnvConfigError;
      }
      return undefined;
    })();
    expect(error).toMatchObject({ source: 'test', variable: 'S', rule: 'a whole number from 0 to 9', value: 'x' });
  });
});

describe('Kinesis limits are defined once', () => {
  test('the documented figures', () => {
    expect(PER_SHARD_LIMITS.write).toEqual({ bytesPerSecond: 1024 * 1024, recordsPerSecond: 1000 });
    expect(PER_SHARD_LIMITS.read.bytesPerSecond).toBe(2 * 1024 * 1024);
    expect(PUT_RECORDS_LIMITS).toMatchObject({ maxPutRecordsEntries: 500, maxPutRecordsBytes: 10 * 1024 * 1024 });
    expect(UPDATE_SHARD_COUNT_LIMITS).toEqual({
      callsPerRollingDay: 10,
      maxScaleOutFactor: 2,
      maxScaleInDivisor: 2,
      maxShardsPerStream: 10000,
    });
  });

  test('no other module of lib/, lambda/ or tools/simulate writes them', () => {
    const files = [
      'lib/data-stream/capacity.ts',
      'lambda/shared/scaling-decision.ts',
      'lambda/producer/limits.ts',
      'tools/simulate/policies.ts',
      'lib/shard-autoscaler/shard-autoscaler.ts',
    ];
    const written = /1024 \* 1024|=\s*(1000|10000|10_000|500)\s*;|\b(?:bytesPerSecond|recordsPerSecond):\s*\d/;
    expect(files.filter((file) => written.test(fs.readFileSync(path.join(ROOT, file), 'utf8')))).toEqual([]);
  });
});
