/**
 * The producer's headline benchmark: what users run. The handler bundled as ProducerFunction
 * bundles it, with the environment ProducerFunction gives it (read from a synthesized stack:
 * deduplication on, its progress table on dynalite), invoked as Lambda invokes it (a direct
 * invoke, a fresh request id each time), each contender in a fresh Node.js process started with the
 * flags Lambda's Node.js runtime gives a function of ProducerFunction's memory, all behind one
 * loopback Kinesis endpoint (endpoint.ts), every endpoint over https as on AWS (../loopback-tls.ts),
 * against the reference a user would write (reference-handler.ts: aws-kinesis-agg + PutRecords,
 * bundled the same way). Ours with
 * deduplication off is a diagnosis row: what the progress table's round trips cost.
 *
 * First three invocations: FRESH processes per contender and input, three invocations each, the
 * contenders taking turns. Steady state: one process per contender and input, WARMUPS
 * invocations, then SAMPLES rounds taking turns. Medians with min–max. Then a check round (the
 * endpoint decodes what arrives and counts user records, and those on a shard that does not own
 * them) and a CPU profile of ours.
 */
import * as fs from 'fs';
import * as path from 'path';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import * as esbuild from 'esbuild';
import { Random } from '../../test/consumer/lambda-model';
import { localClientConfig, startDynaliteProcess, type Emulator } from '../../test/helpers/emulators';
import { bundleLikeConstruct, checkoutHandler, median } from '../bundle';
import { BenchWorker, lambdaNodeFlags, workerNodeVersion, type Invocation } from '../consumer/child';
import { mergeSummaries, profileTables, summariseProfile } from '../consumer/profile';
import { loopbackTls } from '../loopback-tls';
import { InstantProgressTable, KinesisEndpoint } from './endpoint';

const ROOT = path.join(__dirname, '..', '..');
// Nine: with five, a median of the first invocations moved by 10-20 % from one run to the next
// (the reference's third invocation 36-53 ms over three runs on one day), enough to flip a verdict.
const FRESH = Number(process.env.BENCH_FRESH ?? 9);
const WARMUPS = 5;
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 15);
const SHARDS = 4;
const PROFILED = 20;

interface Input {
  readonly label: string;
  readonly count: number;
  readonly bytes: number;
  readonly keys: number;
  readonly event: string;
  readonly target: number;
}
interface Contender {
  readonly id: string;
  readonly label: string;
  readonly bundle: string;
  readonly env: Record<string, string>;
  readonly ours: boolean;
  /** Settings that depend on the input (the floor's entry count), and no check round. */
  readonly floor?: (inp: Input) => Record<string, string>;
}

/** The floor sends what ours sends: 51,200-byte aggregates holding the input's bytes (with about 8 bytes of framing per record). */
const floorEnv = (inp: Input): Record<string, string> => ({
  BENCH_FLOOR_ENTRIES: String(Math.ceil((inp.count * (inp.bytes + 8)) / 51_000)),
  BENCH_FLOOR_ENTRY_BYTES: '51000',
});

function input(count: number, bytes: number, keys: number, target: number): Input {
  const records = Array.from({ length: count }, (_, index) => ({
    partitionKey: `partition-key-${index % keys}`,
    data: `${index}|`.repeat(bytes).slice(0, bytes),
  }));
  return {
    label: `${count.toLocaleString('en-US')} × ${bytes.toLocaleString('en-US')} B, ${keys.toLocaleString('en-US')} keys`,
    count,
    bytes,
    keys,
    event: JSON.stringify({ records }),
    target,
  };
}

/**
 * The environment ProducerFunction sets (defaults), from a synthesized stack, with the stream and
 * table names filled in, and the function's memory (MB).
 */
function constructFunction(deduplication: boolean): { env: Record<string, string>; memoryMb: number } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { App, Stack } = require('aws-cdk-lib') as typeof import('aws-cdk-lib');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Template } = require('aws-cdk-lib/assertions') as typeof import('aws-cdk-lib/assertions');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { DataStream, ProducerFunction } = require('../../lib') as typeof import('../../lib');
  const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Bench');
  const stream = new DataStream(stack, 'Stream', {});
  new ProducerFunction(stack, 'Producer', { stream, deduplication });
  const functions = Template.fromStack(stack).findResources('AWS::Lambda::Function');
  const producer = Object.values(functions).find(
    (f) =>
      (f as { Properties: { Environment?: { Variables?: Record<string, unknown> } } }).Properties.Environment?.Variables?.STREAM_NAME !==
      undefined,
  ) as { Properties: { Environment: { Variables: Record<string, unknown> }; MemorySize?: number } };
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(producer.Properties.Environment.Variables)) {
    env[name] =
      typeof value === 'string'
        ? value
        : name === 'STREAM_NAME'
          ? 'bench-stream'
          : name === 'PROGRESS_TABLE_NAME'
            ? 'bench-progress'
            : JSON.stringify(value);
  }
  return { env, memoryMb: producer.Properties.MemorySize ?? 128 };
}

/** What a function's process sees (`caFile`: the root the loopback endpoints' certificates chain to). */
function lambdaEnv(name: string, kinesis: string, dynamo: string, memoryMb: number, caFile: string): Record<string, string> {
  return {
    NODE_EXTRA_CA_CERTS: caFile,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_SESSION_TOKEN: 'local',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_LAMBDA_FUNCTION_NAME: name,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(memoryMb),
    AWS_ENDPOINT_URL_KINESIS: kinesis,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo,
    STREAM_NAME: 'bench-stream',
  };
}

/** Draws of the bootstrap below. */
const RESAMPLES = 2000;

/**
 * How far the ratio of two medians (`reference`'s over `contender`'s) moves with the sample: a 90 %
 * percentile-bootstrap interval, each side resampled with replacement. Seeded (the consumer
 * model's PRNG): the same timings print the same interval.
 */
function ratioInterval(reference: readonly number[], contender: readonly number[]): [number, number] {
  const random = new Random(0x5eed);
  const draw = (values: readonly number[]) => median(Array.from(values, () => values[random.int(values.length)]));
  const ratios = Array.from({ length: RESAMPLES }, () => draw(reference) / draw(contender)).sort((a, b) => a - b);
  return [ratios[Math.floor(RESAMPLES * 0.05)], ratios[Math.ceil(RESAMPLES * 0.95) - 1]];
}

const cell = (values: number[]) => `${median(values).toFixed(1)} (${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)})`;

function checked(contender: Contender, invocation: Invocation, count: number, errors: string[]): Invocation {
  if (invocation.error || invocation.processed !== count || invocation.failures.length > 0) {
    errors.push(
      `${contender.id}: ${invocation.error?.split('\n')[0] ?? `${invocation.processed} of ${count} written${invocation.failures.length ? `, ${invocation.failures[0]}` : ''}`}`,
    );
  }
  return invocation;
}

export interface EndToEndOptions {
  readonly ref?: string;
  readonly profile: boolean;
}

export async function endToEnd(dir: string, options: EndToEndOptions): Promise<void> {
  const oursBundle = path.join(dir, 'ours.mjs');
  const refBundle = path.join(dir, 'ours-ref.mjs');
  const referenceBundle = path.join(dir, 'reference.mjs');
  const floorBundle = path.join(dir, 'floor.mjs');
  const workerBundle = path.join(dir, 'worker.mjs');
  const credentials = '@aws-sdk/credential-provider-node';
  const entry = path.join(ROOT, 'lambda', 'producer', 'index.ts');
  await bundleLikeConstruct(entry, oursBundle, { [credentials]: path.join(path.dirname(entry), 'env-credentials.ts') });
  if (options.ref) {
    const refEntry = checkoutHandler(ROOT, options.ref, path.join(dir, 'src', 'producer'), 'producer');
    await bundleLikeConstruct(refEntry, refBundle, { [credentials]: path.join(path.dirname(refEntry), 'env-credentials.ts') });
  }
  await bundleLikeConstruct(path.join(__dirname, 'reference-handler.ts'), referenceBundle);
  await bundleLikeConstruct(path.join(__dirname, 'floor-handler.ts'), floorBundle, {
    [credentials]: path.join(path.dirname(entry), 'env-credentials.ts'),
  });
  await esbuild.build({
    entryPoints: [path.join(__dirname, 'worker.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: workerBundle,
    logLevel: 'silent',
  });

  const { env: on, memoryMb } = constructFunction(true);
  const { env: off } = constructFunction(false);
  // Every contender gets ProducerFunction's memory and the Node.js flags Lambda starts it with.
  const nodeFlags = lambdaNodeFlags(memoryMb);
  // Every endpoint is https, as Kinesis and DynamoDB are (bench/loopback-tls.ts says why it matters).
  const tls = loopbackTls(path.join(dir, 'tls'));
  const endpoint = new KinesisEndpoint(SHARDS, tls);
  const instant = new InstantProgressTable(tls);
  let dynalite: Emulator | undefined;
  const workers: BenchWorker[] = [];
  try {
    const kinesis = await endpoint.start();
    // In a process of its own: in the bench's, the contenders that call dynalite waited 10-30 ms
    // per steady invocation (the guarantees' floor 29-48 ms wall at 12-15 ms CPU; 18-19 ms so).
    dynalite = await startDynaliteProcess({ tls });
    const setup = new DynamoDBClient(localClientConfig(dynalite.endpoint, { ca: tls.ca }));
    await setup.send(
      new CreateTableCommand({
        TableName: 'bench-progress',
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    setup.destroy();
    const instantUrl = await instant.start();
    const base = (name: string) => lambdaEnv(name, kinesis, dynalite!.endpoint, memoryMb, tls.caFile);
    const contenders: Contender[] = [
      {
        id: 'ours',
        label: 'ours (ProducerFunction defaults: deduplication on)',
        bundle: oursBundle,
        env: { ...base('bench-ours'), ...on },
        ours: true,
      },
      {
        id: 'ours-instant',
        label: "ours, deduplication on, progress table answering at once (diagnosis: dynalite's share)",
        bundle: oursBundle,
        env: { ...base('bench-ours-instant'), ...on, AWS_ENDPOINT_URL_DYNAMODB: instantUrl },
        ours: true,
      },
      {
        id: 'ours-json',
        label: 'ours, deduplication on, PutRecords as JSON (AWS_CBOR_DISABLE; diagnosis: what CBOR gains)',
        bundle: oursBundle,
        env: { ...base('bench-ours-json'), ...on, AWS_CBOR_DISABLE: 'true' },
        ours: true,
      },
      {
        id: 'ours-nodedup',
        label: 'ours, deduplication off (diagnosis)',
        bundle: oursBundle,
        env: { ...base('bench-ours-nodedup'), ...off },
        ours: true,
      },
      ...(options.ref
        ? [
            {
              id: 'ref',
              label: `ours at \`${options.ref}\` (before), deduplication on`,
              bundle: refBundle,
              env: { ...base('bench-ref'), ...on },
              ours: true,
            },
            {
              id: 'ref-nodedup',
              label: `ours at \`${options.ref}\` (before), deduplication off`,
              bundle: refBundle,
              env: { ...base('bench-ref-nodedup'), ...off },
              ours: true,
            },
          ]
        : []),
      {
        id: 'reference',
        label: 'reference: aws-kinesis-agg 4.2.8 + PutRecords',
        bundle: referenceBundle,
        env: base('bench-reference'),
        ours: false,
      },
      {
        id: 'floor',
        label: 'transport floor: the same bytes as ours, pre-built, one PutRecords (diagnosis)',
        bundle: floorBundle,
        env: base('bench-floor'),
        ours: false,
        floor: floorEnv,
      },
      {
        id: 'bound',
        label:
          "guarantees' floor: the transport floor + the claim and COMPLETE on the same table, the shard map (ListShards once per container) and each record's shard by its key, each record's UTF-8 into the aggregates, MD5 per aggregate (diagnosis)",
        bundle: floorBundle,
        env: { ...base('bench-bound'), PROGRESS_TABLE_NAME: 'bench-progress', BENCH_FLOOR_GUARANTEES: '1' },
        ours: false,
        floor: floorEnv,
      },
      {
        id: 'contract',
        label:
          "contract floor: the guarantees' floor + each record checked (an object, a key of 1-256 characters, data a string of at most 1 MiB) and written as a KPL record, each key's records together, each key once in its aggregate's table (diagnosis)",
        bundle: floorBundle,
        env: { ...base('bench-contract'), PROGRESS_TABLE_NAME: 'bench-progress', BENCH_FLOOR_GUARANTEES: '1', BENCH_FLOOR_CONTRACT: '1' },
        ours: false,
        floor: floorEnv,
      },
    ];
    const inputs = [input(20_000, 100, 1_000, 1.5), input(4_000, 1_000, 1_000, 1.2)];
    /** A fresh process for `contender` on `inp`, started as Lambda starts the function; stopped at the end if still running. */
    const startWorker = async (contender: Contender, inp: Input, name = contender.id): Promise<BenchWorker> => {
      const worker = await BenchWorker.start(
        name,
        workerBundle,
        { ...contender.env, ...contender.floor?.(inp), BENCH_HANDLER: contender.bundle },
        nodeFlags,
      );
      workers.push(worker);
      return worker;
    };
    const errors: string[] = [];
    const started = process.hrtime.bigint();

    // First three invocations of fresh processes, contenders taking turns.
    const firsts = new Map<string, number[][]>();
    const imports = new Map<string, number[]>();
    for (let p = 0; p < FRESH; p++) {
      for (const [k, inp] of inputs.entries()) {
        for (const contender of contenders) {
          const worker = await startWorker(contender, inp);
          const key = `${k}/${contender.id}`;
          const list = firsts.get(key) ?? [[], [], []];
          firsts.set(key, list);
          imports.set(contender.id, [...(imports.get(contender.id) ?? []), worker.importMillis]);
          for (let i = 0; i < 3; i++) {
            list[i].push(checked(contender, await worker.invoke(inp.event, 60_000), inp.count, errors).millis);
          }
          await worker.stop();
          workers.pop();
        }
      }
    }

    // Steady state: one process each, warm-ups, then rounds taking turns.
    const steady = new Map<string, { millis: number[]; cpu: number[] }>();
    for (const [k, inp] of inputs.entries()) {
      const running: BenchWorker[] = [];
      for (const contender of contenders) {
        running.push(await startWorker(contender, inp));
      }
      for (let round = 0; round < WARMUPS + SAMPLES; round++) {
        for (const [c, contender] of contenders.entries()) {
          const invocation = checked(contender, await running[c].invoke(inp.event, 60_000), inp.count, errors);
          if (round >= WARMUPS) {
            const s = steady.get(`${k}/${contender.id}`) ?? { millis: [], cpu: [] };
            s.millis.push(invocation.millis);
            s.cpu.push(invocation.cpuMillis);
            steady.set(`${k}/${contender.id}`, s);
          }
        }
      }
      // Check round: what arrived, decoded.
      endpoint.verify = true;
      for (const [c, contender] of contenders.entries()) {
        if (contender.floor) {
          steady.get(`${k}/${contender.id}`)!.cpu.push(-1);
          continue;
        }
        endpoint.resetCounts();
        await running[c].invoke(inp.event, 60_000);
        const ok = endpoint.userRecords === inp.count && endpoint.userBytes === inp.count * inp.bytes;
        if (!ok) {
          errors.push(
            `${contender.id}: the endpoint received ${endpoint.userRecords} user records (${endpoint.userBytes} B), expected ${inp.count}`,
          );
        }
        steady.get(`${k}/${contender.id}`)!.cpu.push(-1 - endpoint.misrouted); // misrouted count, kept aside below
      }
      endpoint.verify = false;
      await Promise.all(running.map((w) => w.stop()));
      workers.splice(0, workers.length);
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;

    console.log(
      `\nEnd to end (what users run): handler bundles as the constructs bundle them, direct invokes, each contender in its own fresh Node.js ${workerNodeVersion()} process started as Lambda's runtime starts a ${memoryMb} MB function (ProducerFunction's memory: \`${nodeFlags.join(' ')}\`), one loopback Kinesis endpoint (${SHARDS} shards, ShardId by hash range), progress table on dynalite (loopback, a process of its own), both over https (TLS 1.3, RSA 2048 certificates with an intermediate); ${FRESH} fresh processes × 3 invocations and ${WARMUPS} warm-ups + ${SAMPLES} steady invocations per contender and input, taking turns (${seconds.toFixed(0)} s). Wall ms per invocation, median (min–max).\n`,
    );
    console.log(
      '| input | contender | 1st invocation | 2nd | 3rd | steady state | steady CPU ms | user records on a shard not owning them |',
    );
    console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const [k, inp] of inputs.entries()) {
      for (const contender of contenders) {
        const f = firsts.get(`${k}/${contender.id}`)!;
        const s = steady.get(`${k}/${contender.id}`)!;
        const cpu = s.cpu.filter((c) => c >= 0);
        const misrouted = -1 - s.cpu.find((c) => c < 0)!;
        console.log(
          `| ${inp.label} | ${contender.label} | ${cell(f[0])} | ${cell(f[1])} | ${cell(f[2])} | ${cell(s.millis)} | ${median(cpu).toFixed(1)} | ${misrouted.toLocaleString('en-US')} |`,
        );
      }
    }
    console.log(
      "\nSpeed: the reference's median over the contender's, with a 90 % bootstrap interval of that ratio (how far it moves with the sample; the verdict reads the ratio itself).\n",
    );
    console.log('| input | contender | speed vs reference: 1st | 2nd | 3rd | steady | target (issue 18) |');
    console.log('| --- | --- | ---: | ---: | ---: | ---: | --- |');
    for (const [k, inp] of inputs.entries()) {
      const ref = firsts.get(`${k}/reference`)!;
      const refSteady = steady.get(`${k}/reference`)!.millis;
      /** The reference's median time over a contender's, with its interval: 1st, 2nd, 3rd invocation, steady state. */
      const speedOf = (id: string): Array<{ ratio: number; interval: [number, number] }> => {
        const f = firsts.get(`${k}/${id}`)!;
        const pairs: Array<[number[], number[]]> = [
          ...[0, 1, 2].map((i): [number[], number[]] => [ref[i], f[i]]),
          [refSteady, steady.get(`${k}/${id}`)!.millis],
        ];
        return pairs.map(([r, c]) => ({ ratio: median(r) / median(c), interval: ratioInterval(r, c) }));
      };
      const cells = (speeds: ReturnType<typeof speedOf>) =>
        speeds.map(({ ratio, interval: [low, high] }) => `${ratio.toFixed(2)}x (${low.toFixed(2)}–${high.toFixed(2)})`).join(' | ');
      const reach = (speeds: ReturnType<typeof speedOf>) =>
        speeds.every(({ ratio }) => ratio >= inp.target) ? 'target within reach' : `**≥ ${inp.target}x out of reach** where below it`;
      for (const contender of contenders.filter((c) => c.ours)) {
        const speeds = speedOf(contender.id);
        const met = speeds.every(({ ratio }) => ratio >= inp.target);
        console.log(`| ${inp.label} | ${contender.label} | ${cells(speeds)} | ≥ ${inp.target}x: ${met ? 'met' : '**not met**'} |`);
      }
      console.log(
        `| ${inp.label} | ceiling: reference over the transport floor (no producer can beat this) | ${cells(speedOf('floor'))} | |`,
      );
      const boundCeiling = speedOf('bound');
      console.log(
        `| ${inp.label} | ceiling with deduplication: reference over the guarantees' floor (no producer that deduplicates can beat this) | ${cells(boundCeiling)} | ${reach(boundCeiling)} |`,
      );
      const contractCeiling = speedOf('contract');
      console.log(
        `| ${inp.label} | ceiling with the whole contract: reference over the contract floor (no producer that deduplicates, validates and writes KPL records can beat this) | ${cells(contractCeiling)} | ${reach(contractCeiling)} |`,
      );
    }
    console.log(
      `\nImport of the bundle in a fresh process (before the first invocation), median ms: ${contenders.map((c) => `${c.id} ${median(imports.get(c.id)!).toFixed(0)}`).join(', ')}`,
    );
    if (errors.length > 0) {
      console.log(`\n**${errors.length} errors**, first: ${errors.slice(0, 3).join(' / ')}`);
    }

    if (options.profile) {
      const profiled = contenders.filter((c) => c.id === 'ours' || c.id === 'ours-nodedup' || c.id === 'ref' || c.id === 'bound');
      /** Profiles `invocations` invocations after `warmups` unprofiled ones, in `processes` fresh processes; their summaries summed. */
      const profile = async (contender: Contender, phase: string, warmups: number, invocations: number, processes: number) => {
        const summaries = [];
        for (let p = 0; p < processes; p++) {
          const worker = await startWorker(contender, inputs[0], `profile-${contender.id}`);
          for (let i = 0; i < warmups; i++) {
            await worker.invoke(inputs[0].event, 60_000);
          }
          const file = path.join(dir, `${contender.id}.cpuprofile`);
          await worker.profileStart();
          for (let i = 0; i < invocations; i++) {
            await worker.invoke(inputs[0].event, 60_000);
          }
          await worker.profileStop(file);
          if (process.env.BENCH_PROFILE_DIR) {
            // Kept for a closer look (Chrome DevTools, or a script over its nodes), with the bundle's
            // source map beside the bundle's own path.
            const name = `${contender.id}-${phase}${processes > 1 ? `-${p}` : ''}`;
            fs.copyFileSync(file, path.join(process.env.BENCH_PROFILE_DIR, `${name}.cpuprofile`));
            fs.copyFileSync(`${contender.bundle}.map`, path.join(process.env.BENCH_PROFILE_DIR, `${path.basename(contender.bundle)}.map`));
            const heap = file.replace(/\.cpuprofile$/, '.heapprofile');
            if (fs.existsSync(heap)) {
              fs.copyFileSync(heap, path.join(process.env.BENCH_PROFILE_DIR, `${name}.heapprofile`));
            }
          }
          await worker.stop();
          workers.pop();
          summaries.push(summariseProfile(file, ROOT, Infinity));
        }
        return mergeSummaries(summaries, 15);
      };
      for (const [phase, title, warmups, invocations, processes] of [
        ['first', 'first three invocations of a fresh process', 0, 3, 1],
        ['early', `second and third invocations of ${FRESH} fresh processes, summed`, 1, 2, FRESH],
        ['steady', `${PROFILED} invocations after 3 warm-ups (steady state)`, 3, PROFILED, 1],
      ] as const) {
        for (const contender of profiled) {
          const summary = await profile(contender, phase, warmups, invocations, processes);
          const busy = summary.totalMillis - summary.idleMillis - summary.harnessMillis;
          const count = invocations * processes;
          console.log(
            `\nCPU profile of ${contender.id === 'bound' ? "the guarantees' floor" : contender.label}, ${inputs[0].label}, ${title}: ${busy.toFixed(0)} ms busy (${(busy / count).toFixed(1)} ms per invocation), ${summary.idleMillis.toFixed(0)} ms idle (waiting on sockets)\n`,
          );
          console.log(profileTables(summary, busy));
        }
      }
    }
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await endpoint.stop();
    await instant.stop();
    await dynalite?.stop();
  }
}
