/**
 * `npm run bench -- consumer [--profile] [--ref=<git revision>]`: what users run.
 *
 * Headline: user records/s per invocation of a batch of 100 KPL aggregates (1,000 user records of
 * ~100 B; 100 or 1,000 user keys), the processor awaiting 2 ms per user record, for
 * - ours: lambda/consumer bundled as ConsumerFunction bundles it (pipelineFunctionDefaults, with
 *   the processor alias), `handler(event, context)`, checkpointing in a lease table on dynalite
 *   (real writes on loopback), ORDERING partition-key with MAX_CONCURRENCY 100, and shard;
 * - Powertools `BatchProcessor` (Kinesis, `processPartialResponse`) bundled the same way, whose
 *   record handler deaggregates and awaits the processor per user record: parallel (its default)
 *   and sequential (`processInParallel: false`).
 * Each contender runs in its own fresh process (bench/consumer/worker.ts); rounds take turns over
 * all of them; the figure is the median after warm-ups. Then DynamoDB write units of the
 * checkpoints per 1,000 user records at parallelization factor 1 and 10 (10 processes, one lane
 * each), the deaggregation micro-benchmark (diagnosis), bundle sizes, and with `--profile` the top
 * self-time frames of ours. `--ref=<rev>` bundles ours from that git revision's lambda/ (a
 * "before" figure), the rest from the working tree.
 */
import { bundleLikeConstruct, checkoutHandler, median } from './bundle';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { CreateTableCommand, DynamoDBClient, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { KinesisStreamRecord } from 'aws-lambda';
import { deaggregateSync } from 'aws-kinesis-agg';
import * as esbuild from 'esbuild';
import { consumeBatch, type RecordProcessor } from '../lambda/consumer/consumer';
import { deaggregateRecords } from '../lambda/shared/deaggregate';
import { MAX_HASH_KEY } from '../lambda/shared/hash-key';
import { encodeAggregated } from '../test/helpers/kpl-encoder';
import { localClientConfig, startDynalite, type Emulator } from '../test/helpers/emulators';
import { aggregateStream, eventJson, eventRecord, ORDERING_GROUPS, SEQUENCE_BASE, shardId, type StreamAggregate } from './consumer/batch';
import { BenchWorker, type Invocation } from './consumer/child';
import { DynamoMeter, itemSize, type ItemUsage } from './consumer/dynamo-meter';
import { profileTables, summariseProfile } from './consumer/profile';

const ROOT = path.join(__dirname, '..');
const PROCESSOR_MODULE = 'kinesis-pipeline-processor';
const PROCESSOR_ENTRY = path.join(__dirname, 'consumer', 'processor.ts');
const AGGREGATES_PER_BATCH = 100;
const KEY_COUNTS = [100, 1_000] as const;
type Keys = (typeof KEY_COUNTS)[number];
const MAX_CONCURRENCY = 100;
/** Steady state: up to WARMUPS warm-ups and SAMPLES timed invocations per contender and key count; slow ones stop earlier (see `needs`). */
const WARMUPS = 3;
const SAMPLES = 20;
const MIN_SAMPLES = 3;
const SLOT_WARMUP_MILLIS = 1_500;
const SLOT_SAMPLE_MILLIS = 3_000;
/** Parallelization factor 10: 10 lanes, each a process running its lane's batches in turn. */
const LANES = 10;
const PF10_AGGREGATES = 2_000;
const MAX_RETRIES = 3;
const ISSUE_TARGET_RATE = 20_000;

interface Contender {
  readonly id: string;
  readonly label: string;
  readonly bundle: 'ours' | 'powertools';
  readonly env: Record<string, string>;
  /** Lease table (ours). */
  readonly table?: string;
}

interface Slot {
  readonly contender: Contender;
  readonly keys: Keys;
  readonly shard: string;
  readonly template: StreamAggregate[];
  next: bigint;
  readonly warm: Invocation[];
  readonly samples: Invocation[];
  delivered: number;
  processed: number;
  orderViolations: number;
  errors: string[];
}

function baseEnv(functionName: string): Record<string, string> {
  return {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_LAMBDA_FUNCTION_NAME: functionName,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
    POWERTOOLS_SERVICE_NAME: functionName,
    POWERTOOLS_METRICS_NAMESPACE: 'KinesisPipeline',
    BENCH_PROCESSOR_DELAY_MS: '2',
  };
}

/** ConsumerFunction's environment (30 s timeout: RESERVE_MILLIS 5,000) against the metered lease table. */
function oursEnv(
  functionName: string,
  table: string,
  ordering: string,
  maxConcurrency: number,
  maxPf: number,
  dynamoEndpoint: string,
): Record<string, string> {
  return {
    ...baseEnv(functionName),
    AWS_ENDPOINT_URL_DYNAMODB: dynamoEndpoint,
    LEASE_TABLE_NAME: table,
    RESERVE_MILLIS: '5000',
    OUT_OF_RANGE_RECORDS: 'process',
    ORDERING: ordering,
    MAX_CONCURRENCY: String(maxConcurrency),
    MAX_PARALLELIZATION_FACTOR: String(maxPf),
  };
}

function withoutLeases(env: Record<string, string>): Record<string, string> {
  const { LEASE_TABLE_NAME: _table, ...rest } = env;
  return rest;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const rate = (users: number, millis: number) => users / (millis / 1000);

/** The next batch of a slot: its template aggregates at the next 100 positions of its shard. */
function nextEvent(slot: Slot): string {
  const arrival = Date.now() / 1000 - 1;
  const records = slot.template.map((aggregate, j) => eventRecord(aggregate, slot.shard, slot.next + BigInt(j), arrival));
  slot.next += BigInt(slot.template.length);
  return eventJson(records);
}

function needs(slot: Slot): 'warm' | 'sample' | undefined {
  const sum = (list: Invocation[]) => list.reduce((total, i) => total + i.millis, 0);
  if (slot.warm.length < WARMUPS && !(slot.warm.length >= 1 && sum(slot.warm) > SLOT_WARMUP_MILLIS)) {
    return 'warm';
  }
  if (slot.samples.length < SAMPLES && !(slot.samples.length >= MIN_SAMPLES && sum(slot.samples) > SLOT_SAMPLE_MILLIS)) {
    return 'sample';
  }
  return undefined;
}

async function invokeSlot(worker: BenchWorker, slot: Slot): Promise<Invocation> {
  const users = slot.template.reduce((sum, a) => sum + a.userRecords, 0);
  const result = await worker.invoke(nextEvent(slot));
  slot.delivered += users;
  slot.processed += result.processed;
  slot.orderViolations += result.orderViolations;
  if (result.error) {
    slot.errors.push(result.error.split('\n')[0]);
  } else if (result.failures.length > 0) {
    slot.errors.push(`batchItemFailures from ${result.failures[0]}`);
  }
  return result;
}

/** PF 10: one shard's stream split over LANES lanes by outer partition key; each lane's batches in turn on its own process, lanes at once. */
async function parallelizationFactor10(
  workers: BenchWorker[],
  keys: Keys,
  shard: string,
): Promise<{
  delivered: number;
  invocations: number;
  once: number;
  twice: number;
  never: number;
  retries: number;
  errors: string[];
  millis: number;
}> {
  const stream = aggregateStream(PF10_AGGREGATES, keys);
  const arrival = Date.now() / 1000 - 1;
  const records = stream.map((aggregate, i) => ({ aggregate, record: eventRecord(aggregate, shard, SEQUENCE_BASE + BigInt(i), arrival) }));
  const lanes: KinesisStreamRecord[][] = Array.from({ length: LANES }, () => []);
  for (const { aggregate, record } of records) {
    // Lambda spreads a shard's records over its lanes by partition key; here group modulo 10, so every lane has some.
    lanes[aggregate.group % LANES].push(record);
  }
  const counts = new Map<string, number>();
  for (const { aggregate, record } of records) {
    for (let sub = 0; sub < aggregate.userRecords; sub++) {
      counts.set(`${record.kinesis.sequenceNumber}/${sub}`, 0);
    }
  }
  let invocations = 0;
  let retries = 0;
  const errors: string[] = [];
  const start = process.hrtime.bigint();
  await Promise.all(
    lanes.map(async (lane, l) => {
      for (let from = 0; from < lane.length; from += AGGREGATES_PER_BATCH) {
        let batch = lane.slice(from, from + AGGREGATES_PER_BATCH);
        for (let attempt = 0; batch.length > 0; attempt++) {
          const result = await workers[l].invoke(eventJson(batch));
          invocations++;
          for (const id of result.ids ?? []) {
            counts.set(id, (counts.get(id) ?? 0) + 1);
          }
          let retryFrom: number | undefined;
          if (result.error) {
            errors.push(result.error.split('\n')[0]);
            retryFrom = 0;
          } else if (result.failures.length > 0) {
            retryFrom = Math.max(
              0,
              batch.findIndex((r) => r.kinesis.sequenceNumber === result.failures[0]),
            );
          }
          if (retryFrom === undefined || attempt >= MAX_RETRIES) {
            break;
          }
          retries++;
          batch = batch.slice(retryFrom);
        }
      }
    }),
  );
  const millis = Number(process.hrtime.bigint() - start) / 1e6;
  let once = 0;
  let twice = 0;
  let never = 0;
  for (const count of counts.values()) {
    if (count === 0) {
      never++;
    } else if (count === 1) {
      once++;
    } else {
      twice++;
    }
  }
  return { delivered: counts.size, invocations, once, twice, never, retries, errors, millis };
}

/** The size of each lease item of `table` now. */
async function leaseSizes(client: DynamoDBClient, table: string): Promise<Map<string, number>> {
  const { Items } = await client.send(new ScanCommand({ TableName: table }));
  return new Map((Items ?? []).map((item) => [item.leaseKey?.S ?? '?', itemSize(item as never)]));
}

async function createLeaseTable(client: DynamoDBClient, table: string, shards: string[], owner: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: table,
      AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  // The shard's lease exists already and is ours (a running consumer): only checkpoint writes are counted.
  for (const shard of shards) {
    await client.send(
      new PutItemCommand({
        TableName: table,
        Item: {
          leaseKey: { S: shard },
          leaseOwner: { S: owner },
          leaseCounter: { N: '1' },
          ownerSwitchesSinceCheckpoint: { N: '0' },
          checkpoint: { S: 'TRIM_HORIZON' },
          checkpointSubSequenceNumber: { N: '0' },
        },
      }),
    );
  }
}

async function headline(
  options: { ref?: string; profile: boolean; profileFile?: string },
  dir: string,
  bundles: { ours: string; powertools: string; worker: string },
  dynalite: Emulator,
  meter: DynamoMeter,
): Promise<void> {
  const setup = new DynamoDBClient(localClientConfig(dynalite.endpoint));
  const contenders: Contender[] = [
    {
      id: 'pk',
      label: `ours, \`PARTITION_KEY\`, maxConcurrency ${MAX_CONCURRENCY}`,
      bundle: 'ours',
      table: 'bench-ours-pk',
      env: oursEnv('bench-ours-pk', 'bench-ours-pk', 'partition-key', MAX_CONCURRENCY, 1, meter.endpoint),
    },
    // Diagnosis: the same without a lease table (no reads, no writes), to show what checkpointing costs.
    {
      id: 'pk-nolease',
      label: `ours, \`PARTITION_KEY\`, maxConcurrency ${MAX_CONCURRENCY}, checkpointing off (diagnosis)`,
      bundle: 'ours',
      env: withoutLeases(oursEnv('bench-ours-pk-nolease', '', 'partition-key', MAX_CONCURRENCY, 1, meter.endpoint)),
    },
    {
      id: 'shard',
      label: 'ours, `SHARD`',
      bundle: 'ours',
      table: 'bench-ours-shard',
      env: oursEnv('bench-ours-shard', 'bench-ours-shard', 'shard', 1, 1, meter.endpoint),
    },
    {
      id: 'pt-parallel',
      label: 'Powertools `BatchProcessor`, parallel (unordered)',
      bundle: 'powertools',
      env: { ...baseEnv('bench-powertools-parallel'), BENCH_POWERTOOLS_MODE: 'parallel' },
    },
    {
      id: 'pt-sequential',
      label: 'Powertools `BatchProcessor`, sequential',
      bundle: 'powertools',
      env: { ...baseEnv('bench-powertools-sequential'), BENCH_POWERTOOLS_MODE: 'sequential' },
    },
  ];
  const templates = new Map<Keys, StreamAggregate[]>(KEY_COUNTS.map((keys) => [keys, aggregateStream(AGGREGATES_PER_BATCH, keys)]));
  const shardOf = (keys: Keys) => shardId(keys === 100 ? 0 : 1);
  const workers = new Map<string, BenchWorker>();
  const extra: BenchWorker[] = [];
  try {
    for (const contender of contenders) {
      if (contender.table) {
        await createLeaseTable(setup, contender.table, KEY_COUNTS.map(shardOf), contender.env.AWS_LAMBDA_FUNCTION_NAME);
      }
      workers.set(
        contender.id,
        await BenchWorker.start(contender.id, bundles.worker, { ...contender.env, BENCH_HANDLER: bundles[contender.bundle] }),
      );
    }
    const slots: Slot[] = [];
    for (const keys of KEY_COUNTS) {
      for (const contender of contenders) {
        slots.push({
          contender,
          keys,
          shard: shardOf(keys),
          template: templates.get(keys)!,
          next: SEQUENCE_BASE,
          warm: [],
          samples: [],
          delivered: 0,
          processed: 0,
          orderViolations: 0,
          errors: [],
        });
      }
    }
    const started = process.hrtime.bigint();
    // Rounds: every contender that still needs an invocation gets one, in turn, so machine load falls on all alike.
    for (let round = 0; slots.some((slot) => needs(slot) !== undefined); round++) {
      for (const slot of slots) {
        const need = needs(slot);
        if (need !== undefined) {
          const result = await invokeSlot(workers.get(slot.contender.id)!, slot);
          (need === 'warm' ? slot.warm : slot.samples).push(result);
        }
      }
    }
    const headlineSeconds = Number(process.hrtime.bigint() - started) / 1e9;

    const slotOf = (id: string, keys: Keys) => slots.find((slot) => slot.contender.id === id && slot.keys === keys)!;
    const rateOf = (slot: Slot) =>
      rate(
        slot.template.reduce((sum, a) => sum + a.userRecords, 0),
        median(slot.samples.map((s) => s.millis)),
      );
    const ours100 = rateOf(slotOf('pk', 100));
    const ours1000 = rateOf(slotOf('pk', 1_000));
    const parallel100 = rateOf(slotOf('pt-parallel', 100));
    const parallel1000 = rateOf(slotOf('pt-parallel', 1_000));
    const check = (ok: boolean) => (ok ? 'met' : '**not met**');
    console.log(
      `ours bundled from ${options.ref ? `git revision \`${options.ref}\`` : 'the working tree'}; batch of ${AGGREGATES_PER_BATCH} KPL aggregates = 1,000 user records of 100 B (${ORDERING_GROUPS} ordering groups as outer keys), processor awaiting 2 ms per user record;`,
    );
    console.log(
      `median per contender after warm-ups, each contender in its own fresh process, rounds taking turns (${headlineSeconds.toFixed(0)} s)\n`,
    );
    console.log(
      '| contender | user records/s, 100 keys | user records/s, 1,000 keys | ratio to ours `PARTITION_KEY` (100 / 1,000 keys) | per-key order violations (100 / 1,000 keys) | target (issue 13) |',
    );
    console.log('| --- | ---: | ---: | ---: | ---: | --- |');
    for (const contender of contenders) {
      const a = slotOf(contender.id, 100);
      const b = slotOf(contender.id, 1_000);
      let target = '';
      if (contender.id === 'pk') {
        target = `≥ ${fmt(ISSUE_TARGET_RATE)}/s with 100 keys: ${check(ours100 >= ISSUE_TARGET_RATE)}; ≥ ½ Powertools parallel: ${check(ours100 >= parallel100 / 2 && ours1000 >= parallel1000 / 2)} (${(ours100 / parallel100).toFixed(2)}× / ${(ours1000 / parallel1000).toFixed(2)}×)`;
      } else if (contender.id === 'pt-parallel') {
        target = 'the reference of "within 2x"';
      }
      console.log(
        `| ${contender.label} | ${fmt(rateOf(a))} | ${fmt(rateOf(b))} | ${(rateOf(a) / ours100).toFixed(2)}× / ${(rateOf(b) / ours1000).toFixed(2)}× | ${fmt(a.orderViolations)} / ${fmt(b.orderViolations)} | ${target} |`,
      );
    }
    console.log(
      '\n| contender, keys | median ms per batch | min–max ms | CPU ms per batch (median) | warm-ups + samples | user records processed / delivered | errors |',
    );
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const slot of slots) {
      const ms = slot.samples.map((s) => s.millis);
      console.log(
        `| ${slot.contender.label}, ${fmt(slot.keys)} keys | ${median(ms).toFixed(1)} | ${Math.min(...ms).toFixed(1)}–${Math.max(...ms).toFixed(1)} | ${median(slot.samples.map((s) => s.cpuMillis)).toFixed(1)} | ${slot.warm.length} + ${slot.samples.length} | ${fmt(slot.processed)} / ${fmt(slot.delivered)} | ${slot.errors.length === 0 ? '' : `${slot.errors.length}: ${slot.errors[0]}`} |`,
      );
    }

    // Checkpoint cost at PF 1: the headline's own lease writes (consecutive batches of one shard).
    const usageRows: string[] = [];
    const usageRow = (
      label: string,
      pf: number,
      users: number,
      invocations: number,
      usage: ItemUsage,
      size: number | undefined,
      exact: string,
    ) => {
      usageRows.push(
        `| ${label} | ${pf} | ${fmt(users)} | ${invocations} | ${usage.writes} (${usage.conditionalFailures} lost races) | ${usage.wcu} | **${((usage.wcu / users) * 1000).toFixed(2)}** | ${((usage.rcu / users) * 1000).toFixed(2)} | ${size === undefined ? '' : `${fmt(size)} B`} | ${exact} |`,
      );
    };
    for (const id of ['pk', 'shard']) {
      const contender = contenders.find((c) => c.id === id)!;
      const sizes = await leaseSizes(setup, contender.table!);
      for (const keys of KEY_COUNTS) {
        const slot = slotOf(id, keys);
        const usage = await meter.of(contender.table!, slot.shard);
        usageRow(
          `${contender.label}, ${fmt(keys)} keys (the batches above)`,
          1,
          slot.delivered,
          slot.warm.length + slot.samples.length,
          usage,
          sizes.get(slot.shard),
          `${fmt(slot.processed)} processed`,
        );
      }
    }

    // PF 10: 10 processes of ours (MAX_PARALLELIZATION_FACTOR 10), one lane each, lanes at once.
    const pf10Table = 'bench-ours-pf10';
    const pf10Shards = KEY_COUNTS.map((keys) => shardId(keys === 100 ? 10 : 11));
    await createLeaseTable(setup, pf10Table, pf10Shards, pf10Table);
    const lanes: BenchWorker[] = [];
    for (let l = 0; l < LANES; l++) {
      lanes.push(
        await BenchWorker.start(`pf10-lane-${l}`, bundles.worker, {
          ...oursEnv(pf10Table, pf10Table, 'partition-key', MAX_CONCURRENCY, LANES, meter.endpoint),
          BENCH_HANDLER: bundles.ours,
          BENCH_TRACK_IDS: '1',
        }),
      );
    }
    extra.push(...lanes);
    const pf10Notes: string[] = [];
    for (const [k, keys] of KEY_COUNTS.entries()) {
      const outcome = await parallelizationFactor10(lanes, keys, pf10Shards[k]);
      const usage = await meter.of(pf10Table, pf10Shards[k]);
      const sizes = await leaseSizes(setup, pf10Table);
      usageRow(
        `ours \`PARTITION_KEY\`, ${fmt(keys)} keys, ${LANES} lanes at once`,
        LANES,
        outcome.delivered,
        outcome.invocations,
        usage,
        sizes.get(pf10Shards[k]),
        `${fmt(outcome.once)} once, ${fmt(outcome.twice)} twice+, **${fmt(outcome.never)} never**`,
      );
      pf10Notes.push(
        `${fmt(keys)} keys: ${(outcome.millis / 1000).toFixed(1)} s, ${outcome.retries} redeliveries (partial batch response or error)${outcome.errors.length > 0 ? `, ${outcome.errors.length} invocation errors, first: ${outcome.errors[0]}` : ''}`,
      );
    }
    console.log(
      '\nCheckpoint cost: DynamoDB write units (1 WCU per started KB of the larger of the item before and after the write; a lost conditional write is billed too) of the lease item, metered by a proxy in front of dynalite',
    );
    console.log(
      `(PF 10: ${fmt(PF10_AGGREGATES)} aggregates of one shard split by outer partition key over ${LANES} lanes, each lane a process taking its batches of ≤ ${AGGREGATES_PER_BATCH} in turn; ${pf10Notes.join('; ')})\n`,
    );
    console.log(
      '| consumer | PF | user records | invocations | lease writes | WCU | **WCU per 1,000 user records** | RCU per 1,000 | lease item at the end | exactly once |',
    );
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    console.log(usageRows.join('\n'));

    if (options.profile) {
      const profiled = await BenchWorker.start('profile', bundles.worker, {
        ...contenders[0].env,
        LEASE_TABLE_NAME: 'bench-profile',
        BENCH_HANDLER: bundles.ours,
      });
      extra.push(profiled);
      const slot: Slot = {
        contender: contenders[0],
        keys: 100,
        shard: shardId(5),
        template: templates.get(100)!,
        next: SEQUENCE_BASE,
        warm: [],
        samples: [],
        delivered: 0,
        processed: 0,
        orderViolations: 0,
        errors: [],
      };
      await createLeaseTable(setup, 'bench-profile', [slot.shard], contenders[0].env.AWS_LAMBDA_FUNCTION_NAME);
      for (let i = 0; i < WARMUPS; i++) {
        await invokeSlot(profiled, slot);
      }
      const file = path.join(dir, 'ours.cpuprofile');
      await profiled.profileStart();
      const profiledRuns = 20;
      for (let i = 0; i < profiledRuns; i++) {
        await invokeSlot(profiled, slot);
      }
      await profiled.profileStop(file);
      if (options.profileFile) {
        fs.copyFileSync(file, path.resolve(options.profileFile));
      }
      const summary = summariseProfile(file, ROOT);
      const busy = summary.totalMillis - summary.idleMillis - summary.harnessMillis;
      console.log(
        `\nCPU profile of ours (\`PARTITION_KEY\`, 100 keys, checkpointing), ${profiledRuns} invocations after ${WARMUPS} warm-ups, sampled every 100 µs: ${busy.toFixed(0)} ms busy in the handler of ${summary.totalMillis.toFixed(0)} ms (${summary.idleMillis.toFixed(0)} ms idle, ${summary.harnessMillis.toFixed(0)} ms bench harness left out): ${(busy / profiledRuns).toFixed(1)} ms CPU per batch of 1,000 user records\n`,
      );
      console.log(
        profileTables(summary, busy, 'top self-time frames (source-mapped; a native frame is named after its JavaScript caller)'),
      );
    }
  } finally {
    await Promise.all([...workers.values(), ...extra].map((worker) => worker.stop()));
    setup.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Diagnosis: deaggregate-and-dispatch of 4,000 Kinesis records in this process (no I/O, no
// processor time), ours against aws-kinesis-agg's deaggregateSync with the same dispatch loop.

const MICRO_BATCH = 4_000;
const MICRO_ROUNDS = 5;

function microRecord(index: number, data: Buffer): KinesisStreamRecord {
  const sequenceNumber = String(SEQUENCE_BASE + BigInt(index));
  return {
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `shardId-000000000000:${sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::123456789012:role/c',
    awsRegion: 'us-east-1',
    eventSourceARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/s',
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: `pk-${index % 100}`,
      sequenceNumber,
      data: data.toString('base64'),
      approximateArrivalTimestamp: 1_700_000_000,
    },
  };
}

/** MICRO_BATCH Kinesis records: KPL aggregates of `perAggregate` user records of 100 bytes, or plain 100-byte records. */
function microBatch(perAggregate: number): KinesisStreamRecord[] {
  const payload = Buffer.alloc(100, 'x');
  return Array.from({ length: MICRO_BATCH }, (_, i) =>
    microRecord(
      i,
      perAggregate === 0
        ? payload
        : encodeAggregated(
            Array.from({ length: perAggregate }, (_unused, j) => ({ partitionKey: `device-${(i + j) % 997}`, data: payload })),
          ),
    ),
  );
}

/** Median of MICRO_ROUNDS runs of each, interleaved (a, b, a, b, …) so both see the same machine load. */
async function compare(
  a: () => Promise<number>,
  b: () => Promise<number>,
): Promise<{ a: number; b: number; users: number; otherUsers: number }> {
  await a();
  await b(); // warm-up
  const samples: [number[], number[]] = [[], []];
  let users = 0;
  let otherUsers = 0;
  for (let round = 0; round < MICRO_ROUNDS; round++) {
    let start = process.hrtime.bigint();
    users = await a();
    samples[0].push(Number(process.hrtime.bigint() - start) / 1e6);
    start = process.hrtime.bigint();
    otherUsers = await b();
    samples[1].push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return { a: median(samples[0]), b: median(samples[1]), users, otherUsers };
}

const microContext = { getRemainingTimeInMillis: () => 900_000 } as never;

/** A shard owning all but the last hash key: with OutOfRangeRecords.SKIP every sub-record is checked, and kept. */
const NEARLY_ALL = async () => ({ start: 0n, end: MAX_HASH_KEY - 1n });

async function ours(
  records: KinesisStreamRecord[],
  shardRange?: typeof NEARLY_ALL,
  ordering: 'shard' | 'partition-key' = 'shard',
): Promise<number> {
  let users = 0;
  const processRecord: RecordProcessor = async () => {
    users++;
  };
  // SHARD: one record at a time, as the reference loop (deaggregation and dispatch); PARTITION_KEY adds the scheduler's cost.
  await consumeBatch(records, microContext, { processRecord, owner: 'bench', shardRange, ordering, maxConcurrency: MAX_CONCURRENCY });
  return users;
}

async function reference(records: KinesisStreamRecord[]): Promise<number> {
  let users = 0;
  const processRecord = async (_record: unknown) => {
    users++;
  };
  for (const record of records) {
    let out: unknown[] = [];
    deaggregateSync(record.kinesis, true, (error, userRecords) => {
      if (error) {
        throw error;
      }
      out = userRecords ?? [];
    });
    for (const user of out) {
      await processRecord(user);
    }
  }
  return users;
}

async function micro(): Promise<void> {
  const rows: string[] = [
    '| batch of 4,000 Kinesis records, in this process | user records | ours (ms) | aws-kinesis-agg deaggregateSync (ms) | ours user records/s | speed-up |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  const row = (label: string, m: { a: number; b: number; users: number; otherUsers: number }) => {
    if (m.users !== m.otherUsers) {
      throw new Error(`user record counts differ: ours ${m.users}, reference ${m.otherUsers}`);
    }
    rows.push(
      `| ${label} | ${m.users} | ${m.a.toFixed(1)} | ${m.b.toFixed(1)} | ${fmt(m.users / (m.a / 1000))} | ${(m.b / m.a).toFixed(2)}× |`,
    );
  };
  for (const [label, perAggregate] of [
    ['plain 100 B records', 0],
    ['KPL aggregates of 4 × 100 B', 4],
    ['KPL aggregates of 25 × 100 B', 25],
  ] as const) {
    const records = microBatch(perAggregate);
    row(
      `${label} (consumeBatch, \`SHARD\`, no leases)`,
      await compare(
        () => ours(records),
        () => reference(records),
      ),
    );
  }
  const records = microBatch(25);
  row(
    `KPL aggregates of 25 × 100 B (consumeBatch, \`PARTITION_KEY\`, maxConcurrency ${MAX_CONCURRENCY}, no leases: the scheduler's cost)`,
    await compare(
      () => ours(records, undefined, 'partition-key'),
      () => reference(records),
    ),
  );
  row(
    "KPL aggregates of 25 × 100 B (consumeBatch, `OutOfRangeRecords.SKIP`: each record checked against its shard's range)",
    await compare(
      () => ours(records, NEARLY_ALL),
      () => reference(records),
    ),
  );
  row(
    'KPL aggregates of 25 × 100 B (deaggregate only)',
    await compare(
      async () => deaggregateRecords(records).reduce((n, users) => n + users.length, 0),
      async () => {
        let n = 0;
        for (const record of records) {
          deaggregateSync(record.kinesis, true, (_e, users) => {
            n += users?.length ?? 0;
          });
        }
        return n;
      },
    ),
  );
  console.log(
    `\nDiagnosis (not the result): deaggregate and dispatch in this process, processor returning at once, median of ${MICRO_ROUNDS} interleaved runs\n`,
  );
  console.log(rows.join('\n'));
}

function sizes(file: string): { bytes: number; gzip: number } {
  const code = fs.readFileSync(file);
  return { bytes: code.length, gzip: zlib.gzipSync(code).length };
}

export async function run(): Promise<void> {
  const options = {
    profile: process.argv.some((arg) => arg === '--profile' || arg.startsWith('--profile=')),
    profileFile: process.argv.find((arg) => arg.startsWith('--profile='))?.slice('--profile='.length),
    ref: process.argv.find((arg) => arg.startsWith('--ref='))?.slice('--ref='.length),
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'consumer-bench-'));
  let dynalite: Emulator | undefined;
  let meter: DynamoMeter | undefined;
  try {
    const oursEntry = options.ref
      ? checkoutHandler(ROOT, options.ref, path.join(dir, 'src', 'consumer'), 'consumer')
      : path.join(ROOT, 'lambda', 'consumer', 'index.ts');
    const bundles = {
      ours: path.join(dir, 'ours.mjs'),
      powertools: path.join(dir, 'powertools.mjs'),
      worker: path.join(dir, 'worker.mjs'),
      example: path.join(dir, 'example.mjs'),
    };
    await bundleLikeConstruct(oursEntry, bundles.ours, { [PROCESSOR_MODULE]: PROCESSOR_ENTRY });
    await bundleLikeConstruct(path.join(__dirname, 'consumer', 'powertools-handler.ts'), bundles.powertools, {
      [PROCESSOR_MODULE]: PROCESSOR_ENTRY,
    });
    await esbuild.build({
      entryPoints: [path.join(__dirname, 'consumer', 'worker.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: bundles.worker,
      logLevel: 'silent',
    });

    dynalite = await startDynalite();
    meter = await DynamoMeter.start(dynalite.endpoint);
    await headline(options, dir, bundles, dynalite, meter);
    await meter.stop();
    meter = undefined;
    await dynalite.stop();
    dynalite = undefined;

    if (options.ref) {
      console.log('\n(the rows below measure the working tree, not the revision above)');
    }
    await micro();

    // The app's consumer as deployed (example processor), and the reference's pieces.
    await bundleLikeConstruct(oursEntry, bundles.example, {
      [PROCESSOR_MODULE]: path.join(ROOT, 'lambda', 'example-processor', 'index.ts'),
    });
    const agg = await esbuild.build({
      entryPoints: [require.resolve('aws-kinesis-agg')],
      bundle: true,
      write: false,
      minify: true,
      platform: 'node',
      format: 'esm',
      target: 'node24',
      mainFields: ['module', 'main'],
      logLevel: 'silent',
    });
    const aggCode = agg.outputFiles[0].contents;
    console.log(
      '\n| bundle (esbuild, minified, ESM, node24, as ConsumerFunction bundles it) | bytes | gzip bytes |\n| --- | ---: | ---: |',
    );
    for (const [label, file] of [
      [
        'consumer handler with the example processor (deaggregation, scheduler, leases, DynamoDB and Kinesis clients, Powertools logger and metrics)',
        bundles.example,
      ],
      ['consumer handler with the bench processor (the contender above)', bundles.ours],
      ['Powertools BatchProcessor reference (batch, our deaggregation, bench processor)', bundles.powertools],
    ] as const) {
      const s = sizes(file);
      console.log(`| ${label} | ${fmt(s.bytes)} | ${fmt(s.gzip)} |`);
    }
    console.log(`| aws-kinesis-agg alone (protobufjs inside) | ${fmt(aggCode.length)} | ${fmt(zlib.gzipSync(aggCode).length)} |`);
  } finally {
    await meter?.stop();
    await dynalite?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
