import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { buildApp, SHARDS_CONTEXT } from '../../bin/build-app';
import { CONSUMER_DEFAULTS, ConsumerEnv } from '../../lambda/consumer/contract';
import type { AlarmDefinition } from './control-plane';
import { LocalNames, type TemplateResource } from './intrinsics';

/**
 * Reads what the local run needs out of the cloud assembly: the app is synthesized in this
 * process with bundling on (so the handlers are the esbuild bundles that deploy), and the
 * template gives the stream, the tables, the functions (asset folder, handler, environment,
 * timeout) and the consumer's event-source mapping.
 */
export const FunctionRole = {
  PRODUCER: 'producer',
  CONSUMER: 'consumer',
  SCALER: 'scaler',
  OTHER: 'other',
} as const;
export type FunctionRole = (typeof FunctionRole)[keyof typeof FunctionRole];

export interface LocalFunction {
  readonly logicalId: string;
  readonly cdkPath: string;
  readonly name: string;
  readonly role: FunctionRole;
  /** The bundled entry file (index.mjs in the asset folder). */
  readonly entryFile: string;
  readonly handlerName: string;
  /** Environment variables as the template sets them, intrinsics resolved to local names. */
  readonly environment: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly memoryMb: number;
}

export interface LocalStream {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  readonly mode: 'PROVISIONED' | 'ON_DEMAND';
  readonly shardCount: number;
  readonly retentionHours: number;
}

export interface LocalTable {
  readonly logicalId: string;
  readonly name: string;
  readonly keySchema: Array<{ AttributeName: string; KeyType: 'HASH' | 'RANGE' }>;
  readonly attributeDefinitions: Array<{ AttributeName: string; AttributeType: 'S' | 'N' | 'B' }>;
  readonly globalSecondaryIndexes?: Array<Record<string, unknown>>;
}

/** The event-source mapping's settings, with Lambda's defaults where the template is silent. */
export interface MappingSettings {
  readonly batchSize: number;
  readonly batchWindowMs: number;
  readonly parallelizationFactor: number;
  readonly bisectOnError: boolean;
  /** -1: retry until the record expires. */
  readonly maxRetryAttempts: number;
  /** -1: no limit. */
  readonly maxRecordAgeMs: number;
  readonly reportBatchItemFailures: boolean;
  readonly startingPosition: 'TRIM_HORIZON' | 'LATEST';
  readonly onFailureDestination?: string;
}

export interface LocalMapping extends MappingSettings {
  readonly logicalId: string;
  readonly functionLogicalId: string;
  readonly streamLogicalId: string;
}

export interface LocalPipeline {
  readonly stackName: string;
  readonly assemblyDir: string;
  readonly stream: LocalStream;
  readonly tables: readonly LocalTable[];
  readonly functions: readonly LocalFunction[];
  readonly mapping?: LocalMapping;
  readonly producer?: LocalFunction;
  readonly consumer?: LocalFunction;
  readonly scaler?: LocalFunction;
  /** The DynamoDB table the consumer's environment names (its lease table). */
  readonly leaseTable?: LocalTable;
  /** The alarms whose actions invoke the scaler, in the CloudWatch API's shape. */
  readonly scalerAlarms: readonly AlarmDefinition[];
  /** The event-source mapping's id as the scaler's environment names it. */
  readonly mappingId?: string;
  /** Resource types in the template that the local run does not emulate (Firehose, S3, SNS, ...). */
  readonly notEmulated: readonly string[];
}

/** What the local run emulates or has no runtime part; everything else is reported as not emulated. */
const EMULATED_OR_STATIC = [
  'AWS::Kinesis::Stream',
  'AWS::DynamoDB::Table',
  'AWS::DynamoDB::GlobalTable',
  'AWS::Lambda::Function',
  'AWS::Lambda::EventSourceMapping',
  'AWS::CloudWatch::Alarm',
  'AWS::CloudWatch::Dashboard',
  'AWS::IAM::Role',
  'AWS::IAM::Policy',
  'AWS::Lambda::Permission',
  'AWS::Logs::LogGroup',
  'AWS::KMS::Key',
  'AWS::KMS::Alias',
  'AWS::CDK::Metadata',
];

export class AssemblyError extends Error {
  public override readonly name = 'AssemblyError';
}

export const DEFAULT_MAPPING: MappingSettings = {
  batchSize: 100,
  batchWindowMs: 0,
  parallelizationFactor: 1,
  bisectOnError: false,
  maxRetryAttempts: -1,
  maxRecordAgeMs: -1,
  reportBatchItemFailures: false,
  startingPosition: 'TRIM_HORIZON',
};

const PACKAGE_ROOT = path.join(__dirname, '..', '..');

/**
 * Synthesizes the app (bin/build-app.ts) into `outdir` with the context of cdk.json (and the
 * provisioned stream's `shards` when given), bundling only `stackName`'s assets, and returns the stack's template and assembly folder.
 */
export function synthesize(
  stackName: string,
  outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'kinesis-local-cdk-')),
  shards?: number,
): { template: { Resources: Record<string, TemplateResource> }; assemblyDir: string } {
  const cdkJson = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
  // The CLI's own context too: path and asset metadata (which function is which, where its bundle is).
  const app = new App({
    outdir,
    context: {
      ...cdkJson.context,
      ...(shards === undefined ? {} : { [SHARDS_CONTEXT]: shards }),
      'aws:cdk:bundling-stacks': [stackName],
      'aws:cdk:enable-path-metadata': true,
      'aws:cdk:enable-asset-metadata': true,
    },
  });
  const stacks = buildApp(app);
  if (!stacks.some((stack) => stack.stackName === stackName)) {
    throw new AssemblyError(`local: the app has no stack ${stackName}; it has ${stacks.map((stack) => stack.stackName).join(', ')}`);
  }
  const assembly = app.synth();
  const artifact = assembly.getStackByName(stackName);
  return { template: artifact.template as { Resources: Record<string, TemplateResource> }, assemblyDir: assembly.directory };
}

/** Reads the pipeline's parts out of a synthesized stack template. */
export function readPipeline(
  template: { Resources: Record<string, TemplateResource> },
  assemblyDir: string,
  stackName: string,
  region: string,
): LocalPipeline {
  const resources = template.Resources;
  const names = new LocalNames(stackName, resources, region);
  const ofType = (...types: string[]) => Object.entries(resources).filter(([, resource]) => types.includes(resource.Type));

  const streams = ofType('AWS::Kinesis::Stream');
  if (streams.length !== 1) {
    throw new AssemblyError(`local: expected one AWS::Kinesis::Stream in ${stackName}, found ${streams.length}`);
  }
  const [streamId, streamResource] = streams[0];
  const streamProps = streamResource.Properties ?? {};
  const mode =
    (streamProps.StreamModeDetails as { StreamMode?: string } | undefined)?.StreamMode === 'ON_DEMAND' ? 'ON_DEMAND' : 'PROVISIONED';
  const stream: LocalStream = {
    logicalId: streamId,
    name: names.physicalName(streamId),
    arn: names.arn(streamId),
    mode,
    shardCount: Number(names.resolve(streamProps.ShardCount ?? (mode === 'ON_DEMAND' ? 4 : 1))),
    retentionHours: Number(names.resolve(streamProps.RetentionPeriodHours ?? 24)),
  };

  const tables: LocalTable[] = ofType('AWS::DynamoDB::Table', 'AWS::DynamoDB::GlobalTable').map(([id, resource]) => {
    const props = names.resolve(resource.Properties ?? {}) as Record<string, unknown>;
    return {
      logicalId: id,
      name: names.physicalName(id),
      keySchema: props.KeySchema as LocalTable['keySchema'],
      attributeDefinitions: props.AttributeDefinitions as LocalTable['attributeDefinitions'],
      globalSecondaryIndexes: props.GlobalSecondaryIndexes as LocalTable['globalSecondaryIndexes'],
    };
  });

  const mappings = ofType('AWS::Lambda::EventSourceMapping').filter(([, resource]) => {
    const source = resource.Properties?.EventSourceArn;
    return JSON.stringify(source ?? '').includes(streamId);
  });
  const mapping = mappings.length > 0 ? readMapping(mappings[0][0], mappings[0][1], streamId, names) : undefined;

  const functions = ofType('AWS::Lambda::Function').map(([id, resource]) => readFunction(id, resource, assemblyDir, names, mapping));
  const consumer = functions.find((fn) => fn.role === FunctionRole.CONSUMER);
  const leaseTable = consumer ? tables.find((table) => Object.values(consumer.environment).includes(table.name)) : undefined;
  const scaler = functions.find((fn) => fn.role === FunctionRole.SCALER);
  const scalerArn = scaler ? names.arn(scaler.logicalId) : undefined;
  const scalerAlarms = ofType('AWS::CloudWatch::Alarm')
    .map(([, resource]) => names.resolve(resource.Properties ?? {}) as AlarmDefinition)
    .filter((alarm) => scalerArn !== undefined && (alarm.AlarmActions ?? []).includes(scalerArn));
  return {
    stackName,
    assemblyDir,
    stream,
    tables,
    functions,
    mapping,
    producer: functions.find((fn) => fn.role === FunctionRole.PRODUCER),
    consumer,
    scaler,
    leaseTable,
    scalerAlarms,
    mappingId: mapping ? names.physicalName(mapping.logicalId) : undefined,
    notEmulated: [
      ...new Set(
        Object.values(resources)
          .map((resource) => resource.Type)
          .filter((type) => !EMULATED_OR_STATIC.includes(type)),
      ),
    ].sort(),
  };
}

function readMapping(logicalId: string, resource: TemplateResource, streamLogicalId: string, names: LocalNames): LocalMapping {
  const props = resource.Properties ?? {};
  const functionRef = props.FunctionName as { Ref?: string; 'Fn::GetAtt'?: string[] } | string;
  const functionLogicalId = typeof functionRef === 'string' ? functionRef : (functionRef.Ref ?? functionRef['Fn::GetAtt']?.[0] ?? '');
  const resolved = names.resolve(props) as Record<string, unknown>;
  const num = (key: string, fallback: number) => (resolved[key] === undefined ? fallback : Number(resolved[key]));
  const onFailure = (resolved.DestinationConfig as { OnFailure?: { Destination?: string } } | undefined)?.OnFailure?.Destination;
  return {
    logicalId,
    functionLogicalId,
    streamLogicalId,
    batchSize: num('BatchSize', DEFAULT_MAPPING.batchSize),
    batchWindowMs: num('MaximumBatchingWindowInSeconds', 0) * 1000,
    parallelizationFactor: num('ParallelizationFactor', DEFAULT_MAPPING.parallelizationFactor),
    bisectOnError: resolved.BisectBatchOnFunctionError === true || resolved.BisectBatchOnFunctionError === 'true',
    maxRetryAttempts: num('MaximumRetryAttempts', DEFAULT_MAPPING.maxRetryAttempts),
    maxRecordAgeMs:
      resolved.MaximumRecordAgeInSeconds === undefined || Number(resolved.MaximumRecordAgeInSeconds) < 0
        ? -1
        : Number(resolved.MaximumRecordAgeInSeconds) * 1000,
    reportBatchItemFailures: ((resolved.FunctionResponseTypes as string[] | undefined) ?? []).includes('ReportBatchItemFailures'),
    startingPosition: resolved.StartingPosition === 'LATEST' ? 'LATEST' : 'TRIM_HORIZON',
    onFailureDestination: onFailure,
  };
}

function roleOf(logicalId: string, cdkPath: string, mapping?: LocalMapping): FunctionRole {
  if (mapping?.functionLogicalId === logicalId) {
    return FunctionRole.CONSUMER;
  }
  const parts = cdkPath.toLowerCase().split('/');
  if (parts.some((part) => part.includes('producer'))) {
    return FunctionRole.PRODUCER;
  }
  if (parts.some((part) => part.includes('autoscaler') || part === 'scaler')) {
    return FunctionRole.SCALER;
  }
  if (parts.some((part) => part.includes('consumer'))) {
    return FunctionRole.CONSUMER;
  }
  return FunctionRole.OTHER;
}

function readFunction(
  logicalId: string,
  resource: TemplateResource,
  assemblyDir: string,
  names: LocalNames,
  mapping?: LocalMapping,
): LocalFunction {
  const props = resource.Properties ?? {};
  const metadata = resource.Metadata ?? {};
  const declaredPath: unknown = metadata['aws:cdk:path'];
  const cdkPath = typeof declaredPath === 'string' ? declaredPath : logicalId;
  const assetPath = metadata['aws:asset:path'];
  const handler = typeof props.Handler === 'string' ? props.Handler : 'index.handler';
  const dot = handler.lastIndexOf('.');
  const [file, handlerName] = [handler.slice(0, dot), handler.slice(dot + 1)];
  let entryFile = '';
  if (typeof assetPath === 'string') {
    const dir = path.resolve(assemblyDir, assetPath);
    entryFile = ['.mjs', '.js', '.cjs'].map((ext) => path.join(dir, file + ext)).find((candidate) => fs.existsSync(candidate)) ?? '';
  }
  const variables = (props.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
  const environment = Object.fromEntries(
    Object.entries(names.resolve(variables) as Record<string, unknown>).map(([key, value]) => [key, String(value)]),
  );
  return {
    logicalId,
    cdkPath,
    name: names.physicalName(logicalId),
    role: roleOf(logicalId, cdkPath, mapping),
    entryFile,
    handlerName,
    environment,
    timeoutMs: Number(props.Timeout ?? 3) * 1000,
    memoryMb: Number(props.MemorySize ?? 128),
  };
}

/**
 * The consumer's MAX_PARALLELIZATION_FACTOR raised to the factor the run uses, as the construct's
 * `allowParallelizationFactor` would: a consumer told 1 moves its checkpoint with every batch,
 * which is only exact while batches of a shard never run at once.
 */
export function consumerEnvForFactor(environment: Readonly<Record<string, string>>, factor: number): Record<string, string> {
  const declared = Number(environment[ConsumerEnv.MAX_PARALLELIZATION_FACTOR] ?? CONSUMER_DEFAULTS.maxParallelizationFactor);
  return Number.isFinite(declared) && declared >= factor ? {} : { [ConsumerEnv.MAX_PARALLELIZATION_FACTOR]: String(factor) };
}

/** The consumer's runtime settings as its environment gives them (unset: the handler's defaults). */
export function consumerSettingsText(environment: Readonly<Record<string, string>>): string {
  const value = (name: string, fallback: string | number) => environment[name] ?? `${fallback} (default)`;
  return (
    `ordering ${value(ConsumerEnv.ORDERING, CONSUMER_DEFAULTS.ordering)}, max concurrency ${value(ConsumerEnv.MAX_CONCURRENCY, CONSUMER_DEFAULTS.maxConcurrency)}, ` +
    `max parallelization factor ${value(ConsumerEnv.MAX_PARALLELIZATION_FACTOR, CONSUMER_DEFAULTS.maxParallelizationFactor)}, checkpointing ${environment.LEASE_TABLE_NAME ? 'on' : 'off'}`
  );
}
