import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeStreamSummaryCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import {
  consumerEnvForFactor,
  consumerSettingsText,
  readPipeline,
  synthesize,
  type LocalFunction,
  type LocalPipeline,
  type MappingSettings,
  DEFAULT_MAPPING,
} from './assembly';
import { LocalAlarms, startControlPlane, type AlarmEventOut } from './control-plane';
import { LOCAL_REGION, localClientConfig, startDynalite, startStreamArnProxy } from '../../test/helpers/emulators';
import { CleanUp, KinesisEmulator, startKinesis } from './emulators';
import { FunctionHost, type InvokeOutcome } from './function-host';
import { inHashRange, routingHashKey } from '../../lambda/shared/hash-key';
import type { Lease } from '../../lambda/shared/lease-item';
import { Ledger } from './ledger';
import { leaseCovers, readLeases, viewOfLease } from './leases';
import { directWriter, LoadGenerator, producerWriter } from './load-generator';
import { MetricStore } from './metrics';
import { KinesisPoller, type FailureRecord } from './poller';
import { createStream, createTable } from './provision';
import { exactlyOnce, formatSummary, type LocalRunReport } from './summary';
import { TerminalView, type ViewSample } from './view';

/**
 * `npm run local`, end to end: synthesize, start the emulators, create the stream and tables,
 * run the bundled producer under load and the bundled consumer behind a local event-source
 * mapping, show a live view, drain, stop everything and summarise.
 */
export interface LocalRunOptions {
  readonly stackName?: string;
  readonly durationMs: number;
  readonly rate: number;
  readonly recordSize: number;
  readonly partitionKeys?: number;
  /** Shards of the provisioned stream, synthesized as the app's `shards` context. @default 2 */
  readonly shards?: number;
  /**
   * The mapping's parallelization factor instead of the template's (1 to 10); the consumer's
   * MAX_PARALLELIZATION_FACTOR is raised to it when lower. @default the template's
   */
  readonly parallelizationFactor?: number;
  /** Every n-th finished batch is delivered once more (Lambda's at-least-once); 0: never. @default 0 */
  readonly redeliverEvery?: number;
  readonly kinesisPort?: number;
  readonly dynamodbPort?: number;
  readonly emulator?: 'auto' | KinesisEmulator;
  /** Longest wait, after the load stops, for the consumer to catch up. @default 20 s */
  readonly drainMs?: number;
  readonly view?: 'tty' | 'lines' | 'none';
  /** Where the handler logs and the on-failure destination go. @default a new temporary folder */
  readonly outDir?: string;
  readonly out?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Called once everything has started (the CLI installs its signal handlers with it). */
  readonly cleanUp?: CleanUp;
}

export interface LocalRunResult {
  readonly report: LocalRunReport;
  readonly ok: boolean;
  readonly lines: string[];
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function runLocal(options: LocalRunOptions): Promise<LocalRunResult> {
  const out = options.out ?? process.stdout;
  const say = (line: string) => out.write(`${line}\n`);
  const cleanUp = options.cleanUp ?? new CleanUp();
  const stackName = options.stackName ?? 'ProvisionedPipeline';
  const outDir = options.outDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'kinesis-local-run-'));
  fs.mkdirSync(outDir, { recursive: true });
  try {
    say(`local: synthesizing ${stackName} (bundling its handlers with esbuild) ...`);
    const { template, assemblyDir } = synthesize(stackName, path.join(outDir, 'cdk.out'), options.shards);
    const pipeline = readPipeline(template, assemblyDir, stackName, LOCAL_REGION);

    const kind =
      options.emulator && options.emulator !== 'auto'
        ? options.emulator
        : pipeline.stream.mode === 'ON_DEMAND'
          ? KinesisEmulator.KINESIS_LOCAL
          : KinesisEmulator.KINESALITE;
    if (pipeline.stream.mode === 'ON_DEMAND' && kind === KinesisEmulator.KINESALITE) {
      throw new Error('local: kinesalite has no on-demand streams; use --emulator kinesis-local');
    }
    // The scaler runs where the emulator can reshard (kinesis-local), on the template's own alarms.
    const store = new MetricStore();
    const runScaler =
      pipeline.scaler?.entryFile !== undefined && pipeline.scaler.entryFile !== '' && kind === KinesisEmulator.KINESIS_LOCAL;
    const alarms = runScaler ? new LocalAlarms(store, pipeline.scalerAlarms, LOCAL_REGION) : undefined;
    let poller: KinesisPoller | undefined;
    const settings: MappingSettings = {
      ...(pipeline.mapping ?? DEFAULT_MAPPING),
      ...(options.parallelizationFactor === undefined ? {} : { parallelizationFactor: options.parallelizationFactor }),
    };
    const mappingControl = {
      describe: (uuid: string) => ({
        UUID: uuid,
        State: 'Enabled',
        BatchSize: settings.batchSize,
        ParallelizationFactor: poller?.parallelizationFactor ?? settings.parallelizationFactor,
        EventSourceArn: pipeline.stream.arn,
      }),
      update: (uuid: string, changes: Record<string, unknown>) => {
        if (typeof changes.ParallelizationFactor === 'number') {
          poller?.setParallelizationFactor(changes.ParallelizationFactor);
        }
        return mappingControl.describe(uuid);
      },
    };
    const [kinesisEmulator, dynalite, controlPlane] = await Promise.all([
      startKinesis(kind, options.kinesisPort),
      startDynalite(options.dynamodbPort),
      startControlPlane(store, alarms, mappingControl),
    ]);
    cleanUp.add(kinesisEmulator.name, () => kinesisEmulator.stop());
    cleanUp.add('dynalite', () => dynalite.stop());
    cleanUp.add('local control plane', () => controlPlane.stop());
    // The handlers address the stream by ARN; kinesalite only knows names.
    const handlerKinesis = kind === KinesisEmulator.KINESALITE ? await startStreamArnProxy(kinesisEmulator.endpoint) : kinesisEmulator;
    if (handlerKinesis !== kinesisEmulator) {
      cleanUp.add('StreamARN proxy', () => handlerKinesis.stop());
    }
    const kinesis = new KinesisClient(localClientConfig(kinesisEmulator.endpoint));
    const dynamodb = new DynamoDBClient(localClientConfig(dynalite.endpoint));
    cleanUp.add('clients', () => {
      kinesis.destroy();
      dynamodb.destroy();
    });
    say(
      `local: ${kinesisEmulator.name} on ${kinesisEmulator.endpoint}, dynalite on ${dynalite.endpoint}; stream ${pipeline.stream.name} (${pipeline.stream.mode === 'ON_DEMAND' ? 'on-demand' : `${pipeline.stream.shardCount} shards`}), ${pipeline.tables.length} table(s)`,
    );
    await createStream(kinesis, pipeline.stream);
    await Promise.all(pipeline.tables.map((table) => createTable(dynamodb, table)));

    const localEnv = (fn: LocalFunction): Record<string, string> => ({
      ...fn.environment,
      ...(fn.role === 'consumer' ? consumerEnvForFactor(fn.environment, settings.parallelizationFactor) : {}),
      // The example processor logs each user record at DEBUG: the run counts what the processor saw.
      ...(fn.role === 'consumer' ? { POWERTOOLS_LOG_LEVEL: 'DEBUG' } : {}),
      PATH: process.env.PATH ?? '',
      TZ: 'UTC',
      AWS_REGION: LOCAL_REGION,
      AWS_DEFAULT_REGION: LOCAL_REGION,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      // Services without an emulator answer from a local guard, never from AWS.
      AWS_ENDPOINT_URL: controlPlane.endpoint,
      AWS_ENDPOINT_URL_KINESIS: handlerKinesis.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint,
      AWS_LAMBDA_FUNCTION_NAME: fn.name,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    });
    const host = (fn: LocalFunction): FunctionHost => {
      const log = fs.createWriteStream(path.join(outDir, `${fn.role}.log`), { flags: 'a' });
      const created = new FunctionHost(fn, localEnv(fn), log, LOCAL_REGION);
      cleanUp.add(`${fn.role} function`, async () => {
        await created.close();
        log.end();
      });
      return created;
    };
    const producer = pipeline.producer?.entryFile ? host(pipeline.producer) : undefined;
    const consumer = pipeline.consumer?.entryFile ? host(pipeline.consumer) : undefined;
    const scaler = runScaler ? host(pipeline.scaler) : undefined;
    const scalerLog: Array<{ at: number; alarm: string; text: string }> = [];
    let scalerQueue = Promise.resolve();
    const invokeScaler = (event: AlarmEventOut): void => {
      // Reserved concurrency 1: one invocation at a time, in alarm order.
      scalerQueue = scalerQueue.then(async () => {
        const outcome = await scaler!.invoke(event);
        const result = outcome.ok ? (outcome.result as { decision?: string; reason?: string; shards?: number }) : undefined;
        scalerLog.push({
          at: Date.now(),
          alarm: event.alarmData.alarmName,
          text: outcome.ok
            ? `${result?.decision ?? '?'}${result?.shards !== undefined ? ` (shards ${result.shards})` : ''}: ${result?.reason ?? ''}`
            : `error ${outcome.error.name}: ${outcome.error.message}`,
        });
      });
    };

    // A consumer that skips aggregated records outside their shard (the app's does: its producer
    // re-sends them) acknowledges batches without those copies: the ledger leaves them out too.
    const skipsOutOfRange = pipeline.consumer?.environment.OUT_OF_RANGE_RECORDS === 'skip';
    const ledger = new Ledger(
      skipsOutOfRange
        ? (shardId, user) => {
            const range = poller?.rangeOf(shardId);
            return range === undefined || inHashRange(range, routingHashKey(user));
          }
        : undefined,
    );
    if (consumer) {
      consumer.onLogLine = (line) => {
        if (line.message === 'user record' && typeof line.sequenceNumber === 'string') {
          ledger.recordProcessorSaw(line.sequenceNumber, Number(line.subSequenceNumber ?? 0));
        }
      };
    }
    const failures: FailureRecord[] = [];
    const failureFile = path.join(outDir, 'on-failure-destination.jsonl');
    const standIn = async (): Promise<InvokeOutcome> => ({ ok: true, result: { batchItemFailures: [] }, durationMs: 0 });
    const streamDimension = [{ Name: 'StreamName', Value: pipeline.stream.name }];
    const consumerDimension = [{ Name: 'FunctionName', Value: pipeline.consumer?.name ?? 'stand-in' }];
    poller = new KinesisPoller({
      kinesis,
      streamName: pipeline.stream.name,
      streamArn: pipeline.stream.arn,
      functionArn: `arn:aws:lambda:${LOCAL_REGION}:000000000000:function:${pipeline.consumer?.name ?? 'stand-in'}`,
      region: LOCAL_REGION,
      settings,
      redeliverEvery: options.redeliverEvery ?? 0,
      invoke: consumer ? (event) => consumer.invoke(event) : standIn,
      hooks: {
        onProcessed: (records) => ledger.recordProcessed(records),
        onFailure: (entry, records) => {
          failures.push(entry);
          fs.appendFileSync(failureFile, `${JSON.stringify(entry)}\n`);
          ledger.recordFailed(records);
        },
        onRead: (_shardId, records, millisBehindLatest) => {
          ledger.recordRead(records);
          for (const record of records) {
            store.put(
              'AWS/Kinesis',
              'IncomingBytes',
              streamDimension,
              record.data.length + Buffer.byteLength(record.partitionKey),
              record.arrival,
            );
            store.put('AWS/Kinesis', 'IncomingRecords', streamDimension, 1, record.arrival);
          }
          store.put('AWS/Kinesis', 'GetRecords.IteratorAgeMilliseconds', streamDimension, millisBehindLatest);
        },
        onInvoke: (age) => store.put('AWS/Lambda', 'IteratorAge', consumerDimension, age),
      },
    });
    // Environments started before the load, so cold starts do not hold back the first second.
    await Promise.all([producer?.prewarm(2), consumer?.prewarm(Math.min(4, pipeline.stream.shardCount))]);
    const activePoller = poller;
    await activePoller.start();
    cleanUp.add('event-source poller', () => activePoller.stop());
    const alarmTimer = alarms ? setInterval(() => alarms.evaluate(Date.now()).forEach(invokeScaler), 5000) : undefined;
    cleanUp.add('alarm evaluation', () => clearInterval(alarmTimer));

    const load = new LoadGenerator(producer ? producerWriter(producer) : directWriter(kinesis, pipeline.stream.name), ledger, {
      rate: options.rate,
      recordSize: options.recordSize,
      partitionKeys: options.partitionKeys,
    });
    const title = `local run · ${stackName} · ${kinesisEmulator.name} :${kinesisEmulator.port} · dynalite :${dynalite.port}`;
    const view = new TerminalView(out, title, options.view ?? (out.isTTY ? 'tty' : 'lines'));
    let leases = new Map<string, Lease>();
    let shardCount = pipeline.stream.shardCount;
    const started = Date.now();
    let last = { at: started, produced: 0, consumed: 0 };
    let draining = false;
    const sample = async (): Promise<ViewSample> => {
      if (pipeline.leaseTable) {
        leases = await readLeases(dynamodb, pipeline.leaseTable.name).catch(() => leases);
      }
      const summary = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: pipeline.stream.name })).catch(() => undefined);
      shardCount = summary?.StreamDescriptionSummary?.OpenShardCount ?? shardCount;
      const now = Date.now();
      const seconds = Math.max(0.001, (now - last.at) / 1000);
      const current = { at: now, produced: ledger.producedCount, consumed: ledger.consumedCount };
      const rates = { produced: (current.produced - last.produced) / seconds, consumed: (current.consumed - last.consumed) / seconds };
      last = current;
      const { active, finished } = activePoller.shardIds();
      return {
        elapsedMs: now - started,
        durationMs: options.durationMs,
        draining,
        producedPerSecond: rates.produced,
        consumedPerSecond: rates.consumed,
        producedTotal: current.produced,
        consumedTotal: current.consumed,
        rejected: load.stats.rejected,
        pending: ledger.pending(),
        iteratorAgeMs: Math.max(0, ...poller.stats.iteratorAgeMs.values()),
        millisBehindLatest: Math.max(0, ...poller.stats.millisBehindLatest.values()),
        shardCount,
        inFlight: activePoller.inFlight(),
        failureBatches: activePoller.stats.failureBatches,
        retries: activePoller.stats.retries,
        scaler: scalerLog.length
          ? `${scalerLog[scalerLog.length - 1].alarm.split('-').pop()}: ${scalerLog[scalerLog.length - 1].text}`
          : alarms
            ? `alarms ${alarms
                .names()
                .map((name) => `${name.split('-').pop()}=${alarms.state(name)}`)
                .join(' ')}`
            : undefined,
        checkpoints: [...new Set([...active, ...finished, ...leases.keys()])].sort().map((shardId) => {
          const lease = leases.get(shardId);
          return {
            shardId,
            ...(lease ? viewOfLease(lease) : {}),
            processed: activePoller.stats.lastProcessed.get(shardId),
            lanes: activePoller.lanesOf(shardId),
          };
        }),
      };
    };
    let viewBusy = false;
    const viewTimer = setInterval(() => {
      if (viewBusy) {
        return;
      }
      viewBusy = true;
      void sample()
        .then((s) => view.update(s))
        .catch(() => undefined)
        .finally(() => {
          viewBusy = false;
        });
    }, 1000);
    cleanUp.add('terminal view', () => clearInterval(viewTimer));

    load.start();
    await sleep(options.durationMs);
    await load.stop();
    draining = true;
    const drainStart = Date.now();
    const drainLimit = options.drainMs ?? 20_000;
    while (Date.now() - drainStart < drainLimit && (ledger.pending() > 0 || activePoller.inFlight() > 0)) {
      await sleep(100);
    }
    // Let the consumer's last checkpoint land before the final reading.
    await sleep(Math.min(1000, settings.batchWindowMs + 300));
    const drainMs = Date.now() - drainStart;
    clearInterval(viewTimer);
    clearInterval(alarmTimer);
    await scalerQueue;
    await activePoller.stop();
    const final = await sample();
    view.update(final);

    const report: LocalRunReport = {
      stackName,
      emulators: `${kinesisEmulator.name} + dynalite`,
      producer: pipeline.producer
        ? `${pipeline.producer.cdkPath} (bundled, ${describeHost(producer!)})`
        : 'none in the template: plain PutRecords',
      consumer: pipeline.consumer
        ? `${pipeline.consumer.cdkPath} (bundled, ${describeHost(consumer!)})`
        : 'none in the template: a stand-in that accepts every batch',
      scaler: !pipeline.scaler
        ? 'none in the template'
        : !runScaler
          ? `${pipeline.scaler.cdkPath}: not run (${kind} has no UpdateShardCount; use --emulator kinesis-local)`
          : `${pipeline.scaler.cdkPath} (bundled), ${scalerLog.length} invocations; alarms at the end: ${alarms!
              .names()
              .map((name) => `${name.split('-').pop()} ${alarms!.state(name)}`)
              .join(', ')}`,
      // The on-failure queue is kept in memory (and a file) by the poller.
      notEmulated: pipeline.notEmulated.filter((type) => !(type === 'AWS::SQS::Queue' && settings.onFailureDestination?.includes(':sqs:'))),
      handlerMetrics: Object.fromEntries(
        [
          ['producer', producer],
          ['consumer', consumer],
        ]
          .filter((entry): entry is [string, FunctionHost] => entry[1] !== undefined)
          .map(([role, h]) => [role, h.metrics]),
      ),
      scalerInvocations: scalerLog.map((entry) => `+${((entry.at - started) / 1000).toFixed(0)} s ${entry.alarm}: ${entry.text}`),
      mapping: `batch ${settings.batchSize}, window ${settings.batchWindowMs / 1000} s, parallelization ${settings.parallelizationFactor}${options.parallelizationFactor === undefined ? '' : ' (--parallelization-factor)'}, bisect ${settings.bisectOnError ? 'on' : 'off'}, retries ${settings.maxRetryAttempts}, partial batch responses ${settings.reportBatchItemFailures ? 'on' : 'off'}, on-failure ${settings.onFailureDestination ?? 'none'}${pipeline.mapping ? '' : ' (Lambda defaults: no mapping in the template)'}`,
      durationMs: options.durationMs,
      drainMs,
      rate: options.rate,
      recordSize: options.recordSize,
      consumerSettings: pipeline.consumer ? consumerSettingsText(localEnv(pipeline.consumer)) : undefined,
      parallelizationFactor: settings.parallelizationFactor,
      redeliverEvery: options.redeliverEvery ?? 0,
      ledger: ledger.result(),
      // Every acknowledged record must be processed by the lease's account (checkpoint or per-key progress).
      leaseCoverage:
        pipeline.leaseTable && consumer
          ? ledger.checkpointCoverage((shardId, key, sequence, sub) => leaseCovers(leases.get(shardId), key, sequence, sub))
          : undefined,
      load: load.stats,
      poller: activePoller.stats,
      shardCount: final.shardCount,
      checkpoints: final.checkpoints,
      failureFile: failures.length ? failureFile : undefined,
      logDir: outDir,
    };
    const lines = formatSummary(report);
    lines.forEach(say);
    return { report, ok: exactlyOnce(report), lines };
  } finally {
    await cleanUp.stopAll();
  }
}

function describeHost(host: FunctionHost): string {
  const average = host.invocations > 0 ? Math.round(host.totalDurationMs / host.invocations) : 0;
  return `${host.invocations} invocations, ${host.errors} errors, ${host.coldStarts} environments, ${average} ms average, ${host.maxDurationMs} ms max`;
}

export type { LocalPipeline };
