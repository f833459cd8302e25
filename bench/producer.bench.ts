/**
 * `npm run bench -- producer [--profile] [--ref=<git revision>] [--e2e-only | --codec-only]`.
 *
 * Headline (bench/producer/end-to-end.ts): the bundled handler end to end against the reference a
 * user would write, first three invocations and steady state, with `--profile` the top self-time
 * frames of ours, with `--ref` ours bundled from that revision too (a "before" in the same run).
 * Then the diagnosis: what ordering groups cost (Kinesis records and packing speed against no
 * groups), our shard-aware KPL aggregation and deaggregation against aws-kinesis-agg on the same
 * input in the same process, plus the producer bundle's size and cold import time.
 * `npm run bench -- producer`.
 */
import { bundleLikeConstruct } from './bundle';
import { endToEnd } from './producer/end-to-end';
import type * as CodecModule from './producer/codec-entry';
import { pathToFileURL } from 'url';
import { execFileSync } from 'child_process';
import { createHash, hash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { dataOf, type KinesisEntry, type ProducerRecord } from '../lambda/producer/aggregate';
import { DEFAULT_LIMITS, MiB, type ProducerLimits } from '../lambda/producer/limits';
import { parseRequest } from '../lambda/producer/validate';
import { MAX_HASH_KEY } from '../lambda/shared/hash-key';
import { ShardMap } from '../lambda/shared/shard-map';
import { handlerEntry } from '../lib/private/pipeline-function';
import { CREDENTIAL_PROVIDER_MODULE } from '../lib/producer-function/producer-function';

interface Encoded {
  data: Buffer;
  partitionKey: string;
  explicitHashKey?: string;
}
type BufferRecord = ProducerRecord & { readonly data: Buffer };

const ROUNDS = 15;

/** The contenders of the codec rows, bundled as a handler is (bench/producer/codec-entry.ts); loaded by run(). */
let codec: typeof CodecModule;

/**
 * `count` records of `bytes` bytes over `keys` partition keys, as the handler makes them from a
 * request body (JSON.parse, then parseRequest): the same objects go to both contenders.
 */
function dataset(count: number, bytes: number, keys: number): BufferRecord[] {
  const body = JSON.stringify({
    records: Array.from({ length: count }, (_, index) => ({
      partitionKey: `partition-key-${index % keys}`,
      data: `${index}|`.repeat(bytes).slice(0, bytes),
    })),
  });
  // Bytes for every contender alike (the handler's validation keeps texts, which its packer then
  // encodes; here all three get the same Buffers, so the rows compare aggregation only), with
  // what validation learns of each record on the way (its bytes, its key's number).
  return parseRequest(JSON.parse(body), MiB).map((record) => ({
    index: record.index,
    partitionKey: record.partitionKey,
    keyId: record.keyId,
    data: dataOf(record),
    dataBytes: record.dataBytes,
  }));
}

/** Four even shards: our side also does the shard grouping aws-kinesis-agg does not. */
function fourShards(): ShardMap {
  const width = (MAX_HASH_KEY + 1n) / 4n;
  return new ShardMap(
    Array.from({ length: 4 }, (_, i) => ({
      shardId: `shardId-${i}`,
      start: width * BigInt(i),
      end: i === 3 ? MAX_HASH_KEY : width * BigInt(i + 1) - 1n,
    })),
  );
}

/**
 * CPU time (user + system, ms) of each function: the best of ROUNDS runs after a warm-up, the
 * functions taking turns round by round so that whatever else the machine is doing falls on all
 * of them alike. CPU time, not wall time, and the best run, to disturb the figures least.
 */
async function timeEach(fns: ReadonlyArray<() => unknown>): Promise<number[]> {
  for (const fn of fns) {
    await fn();
  }
  const best = fns.map(() => Infinity);
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < fns.length; i++) {
      const start = process.cpuUsage();
      await fns[i]();
      const used = process.cpuUsage(start);
      best[i] = Math.min(best[i], (used.user + used.system) / 1000);
    }
  }
  return best;
}

function theirAggregate(records: readonly ProducerRecord[]): Promise<Encoded[]> {
  return new Promise((resolve, reject) => {
    const out: Encoded[] = [];
    codec.aggregate(
      records.map((r) => ({ partitionKey: r.partitionKey, data: r.data })) as never,
      (encoded, done) => {
        out.push(encoded);
        done();
      },
      () => resolve(out),
      reject,
    );
  });
}

function theirDeaggregate(blobs: readonly string[]): number {
  let count = 0;
  for (const data of blobs) {
    codec.deaggregateSync({ data, partitionKey: 'p', sequenceNumber: '1' } as never, true, (error, records) => {
      if (error) {
        throw error;
      }
      count += records!.length;
    });
  }
  return count;
}

/** As the consumer deaggregates a batch (deaggregateRecords): every checksum at once, then each body. */
function ourDeaggregate(blobs: readonly string[]): number {
  const buffers = blobs.map((data) => Buffer.from(data, 'base64'));
  const matches = codec.checksumsMatch(buffers);
  let count = 0;
  for (let i = 0; i < buffers.length; i++) {
    if (!matches[i]) {
      throw new Error(`aggregate ${i}: checksum does not match`);
    }
    count += codec.decodeCheckedAggregate(buffers[i]).length;
  }
  return count;
}

/** Bytes a stream stores and bills beyond the user data: data plus partition key, minus user data. */
function overhead(entries: readonly Encoded[], userBytes: number): number {
  return entries.reduce((sum, e) => sum + e.data.length + Buffer.byteLength(e.partitionKey), 0) - userBytes;
}

const rate = (count: number, ms: number) => Math.round(count / (ms / 1000));
const fmt = (n: number) => n.toLocaleString('en-US');

/**
 * `codec.planEntries` as the writer calls it: in a lease of a pool kept from one call to the next,
 * given back once the entries are used. Here they are only counted afterwards (their bytes may be
 * another call's by then).
 */
let slabs: InstanceType<typeof CodecModule.SlabPool>;
function planned(records: readonly ProducerRecord[], map: ShardMap, limits: ProducerLimits): KinesisEntry[] {
  const lease = slabs.lease();
  const entries = codec.planEntries(records, map, limits, lease);
  lease.release();
  return entries;
}

/** Issue 18's codec targets: ours with default aggregates as a share of the copy + MD5 floor's rate, by record size. */
const FLOOR_SHARE_TARGET: Record<number, number> = { 100: 0.6, 1024: 0.85 };

async function compare(label: string, records: BufferRecord[]): Promise<string[]> {
  const userBytes = records.reduce((sum, r) => sum + r.data.length, 0);
  const map = fourShards();
  const matched = { ...DEFAULT_LIMITS, maxAggregateBytes: MiB - 512 }; // aws-kinesis-agg fills records up to 1 MiB
  let ours: KinesisEntry[] = [];
  let oursDefault: KinesisEntry[] = [];
  let theirs: Encoded[] = [];
  const floorOut = Buffer.alloc(userBytes);
  // The four-lane floor's messages and digests: the floor's buffer in default-aggregate pieces.
  const pieces: Buffer[] = [];
  for (let at = 0; at < userBytes; at += DEFAULT_LIMITS.maxAggregateBytes) {
    pieces.push(floorOut.subarray(at, Math.min(userBytes, at + DEFAULT_LIMITS.maxAggregateBytes)));
  }
  const pieceDigests = pieces.map(() => Buffer.alloc(16));
  /** Both floors' copy: every record's bytes into `floorOut`, one after another. */
  const copyIntoFloor = (): void => {
    let at = 0;
    for (const record of records) {
      floorOut.set(record.data, at);
      at += record.data.length;
    }
  };
  // Ours with the default ordering groups: aggregates of one shard and one group each.
  const [oursMs, oursDefaultMs, theirsMs, aggregateFloorMs, lanesFloorMs] = await timeEach([
    () => {
      ours = planned(records, map, matched);
    },
    () => {
      oursDefault = planned(records, map, DEFAULT_LIMITS);
    },
    async () => {
      theirs = await theirAggregate(records);
    },
    // The floor (issue 18's): work every KPL aggregator must do whatever its design: copy the
    // user bytes and MD5 them, with `crypto` in one call. Into one buffer,
    // allocated and touched once: fresh memory made the floor swing by 2x from one process to
    // the next (one buffer of 20-50 MB, or aggregate-size ones, mapped afresh by glibc or not,
    // by what was freed before), so the floor leaves out the cost of fresh memory that ours pays.
    () => {
      copyIntoFloor();
      hash('md5', floorOut, 'buffer');
    },
    // The same with our four-lane MD5 (md5-lanes.ts) over default-size pieces: the floor of an
    // aggregator that hashes as ours does.
    () => {
      copyIntoFloor();
      codec.md5Each(pieces, pieceDigests);
    },
  ]);
  const blobs = theirs.map((e) => e.data.toString('base64'));
  let decodedOurs = 0;
  let decodedTheirs = 0;
  const [ourDecodeMs, theirDecodeMs, deaggregateFloorMs] = await timeEach([
    () => {
      decodedOurs = ourDeaggregate(blobs);
    },
    () => {
      decodedTheirs = theirDeaggregate(blobs);
    },
    () => {
      for (const blob of blobs) {
        createHash('md5').update(Buffer.from(blob, 'base64')).digest(); // the deaggregation floor
      }
    },
  ]);
  if (decodedOurs !== records.length || decodedTheirs !== records.length) {
    throw new Error(`deaggregated ${decodedOurs} / ${decodedTheirs} of ${records.length} records`);
  }
  const row = (what: string, us: number, them: number, ratio: string) => `| ${label} | ${what} | ${fmt(us)} | ${fmt(them)} | ${ratio} |`;
  /** A floor's rate (and the ceiling it sets over aws-kinesis-agg), then ours with default aggregates as a share of it. */
  const floorRows = (what: string, floorMs: number, against: string): string[] => [
    row(
      `${what}, user records/s`,
      rate(records.length, floorMs),
      rate(records.length, theirsMs),
      `ceiling ${(theirsMs / floorMs).toFixed(1)}x`,
    ),
    row(
      `aggregate, ours with default aggregates against ${against}, user records/s`,
      rate(records.length, oursDefaultMs),
      rate(records.length, theirsMs),
      `${Math.round((100 * floorMs) / oursDefaultMs)} % of ${against.split(' (')[0]}`,
    ),
  ];
  return [
    row(
      `aggregate, user records/s (ours: 4-shard grouping, ${DEFAULT_LIMITS.orderingGroups} ordering groups, 1 MiB aggregates)`,
      rate(records.length, oursMs),
      rate(records.length, theirsMs),
      `${(theirsMs / oursMs).toFixed(1)}x`,
    ),
    row(
      `aggregate, user records/s (ours: default 51,200-byte aggregates, ${DEFAULT_LIMITS.orderingGroups} ordering groups)`,
      rate(records.length, oursDefaultMs),
      rate(records.length, theirsMs),
      `${(theirsMs / oursDefaultMs).toFixed(1)}x`,
    ),
    ...floorRows(
      "aggregate floor (issue 18's): copy + MD5 of the user bytes, crypto in one call",
      aggregateFloorMs,
      `the floor (issue 18: a share of the floor's rate, target ${Math.round(100 * FLOOR_SHARE_TARGET[records[0].data.length])} %)`,
    ),
    ...floorRows(
      'aggregate floor with four-lane MD5: copy + MD5 of the user bytes in 51,200-byte pieces, four at a time (the most an aggregator hashing as ours can reach)',
      lanesFloorMs,
      'the four-lane floor',
    ),
    row(
      'deaggregate its records (base64 in), user records/s',
      rate(records.length, ourDecodeMs),
      rate(records.length, theirDecodeMs),
      `${(theirDecodeMs / ourDecodeMs).toFixed(1)}x`,
    ),
    row(
      'deaggregate floor: base64 decode + MD5 (crypto), user records/s',
      rate(records.length, deaggregateFloorMs),
      rate(records.length, theirDecodeMs),
      `ceiling ${(theirDecodeMs / deaggregateFloorMs).toFixed(1)}x`,
    ),
    row(
      'overhead bytes, 1 MiB aggregates (Kinesis records)',
      overhead(ours, userBytes),
      overhead(theirs, userBytes),
      `${(overhead(ours, userBytes) / overhead(theirs, userBytes)).toFixed(2)} (${ours.length} vs ${theirs.length} records)`,
    ),
    row(
      'overhead bytes, default 51,200-byte aggregates',
      overhead(oursDefault, userBytes),
      overhead(theirs, userBytes),
      `${(overhead(oursDefault, userBytes) / overhead(theirs, userBytes)).toFixed(2)} (${oursDefault.length} records)`,
    ),
  ];
}

/** The producer bundle as ProducerFunction builds it (the constructs' bundling plus its alias). */
async function bundle(dir: string, withAlias: boolean): Promise<number> {
  const outfile = path.join(dir, withAlias ? 'index.mjs' : 'sdk-chain.mjs');
  return bundleLikeConstruct(
    handlerEntry('producer'),
    outfile,
    withAlias ? { [CREDENTIAL_PROVIDER_MODULE]: path.join(path.dirname(handlerEntry('producer')), 'env-credentials.ts') } : {},
  );
}

/** Median wall time of `node <args>` over 15 runs, ms. */
function nodeTime(args: string[]): number {
  const runs: number[] = [];
  for (let i = 0; i < 15; i++) {
    const start = process.hrtime.bigint();
    execFileSync(process.execPath, args, {
      stdio: 'ignore',
      env: { ...process.env, POWERTOOLS_SERVICE_NAME: 'bench', AWS_REGION: 'us-east-1' },
    });
    runs.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return runs.sort((a, b) => a - b)[7];
}

/**
 * What ordering groups cost: Kinesis records, user records per Kinesis record and packing speed
 * with the default limits, for no groups (0: aggregates under their first record's key, as before
 * groups), the default number and twice that, in the same run, taking turns. Requests as the
 * benchmark's above, and smaller ones as a Lambda producer often gets them.
 */
async function orderingGroups(label: string, records: ProducerRecord[], repeat: number): Promise<string[]> {
  const map = fourShards();
  const settings = [0, DEFAULT_LIMITS.orderingGroups, DEFAULT_LIMITS.orderingGroups * 2];
  const limits = settings.map((groups): ProducerLimits => ({ ...DEFAULT_LIMITS, orderingGroups: groups }));
  const counts = limits.map((l) => planned(records, map, l).length);
  const times = await timeEach(
    limits.map((l) => () => {
      for (let r = 0; r < repeat; r++) {
        planned(records, map, l);
      }
    }),
  );
  const ratio = (i: number) => records.length / counts[i];
  return settings.map(
    (groups, i) =>
      `| ${label} | ${groups === 0 ? '0 (off)' : groups === DEFAULT_LIMITS.orderingGroups ? `${groups} (default)` : groups} | ${fmt(counts[i])} | ${ratio(i).toFixed(1)} | ${i === 0 ? '' : `${((ratio(i) / ratio(0) - 1) * 100).toFixed(0)} %`} | ${fmt(rate(records.length * repeat, times[i]))} | ${i === 0 ? '' : `${(times[0] / times[i]).toFixed(2)}x`} |`,
  );
}

export async function run(): Promise<void> {
  if (!process.argv.includes('--codec-only')) {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'producer-e2e-'));
    try {
      await endToEnd(scratch, {
        profile: process.argv.includes('--profile'),
        ref: process.argv.find((arg) => arg.startsWith('--ref='))?.slice('--ref='.length),
      });
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  }
  if (process.argv.includes('--e2e-only')) {
    return;
  }
  const codecDir = fs.mkdtempSync(path.join(os.tmpdir(), 'producer-codec-'));
  try {
    await bundleLikeConstruct(path.join(__dirname, 'producer', 'codec-entry.ts'), path.join(codecDir, 'codec.mjs'));
    codec = (await import(pathToFileURL(path.join(codecDir, 'codec.mjs')).href)) as typeof CodecModule;
    slabs = new codec.SlabPool();
  } finally {
    fs.rmSync(codecDir, { recursive: true, force: true });
  }
  console.log(
    `\nDiagnosis (inner functions, bundled as a handler is, not the result): CPU time, best of ${ROUNDS} runs each, taking turns (the machine may be shared)\n`,
  );
  console.log(
    '| request (4 shards, default limits) | ordering groups | Kinesis records | user records per Kinesis record | vs 0 | packing, user records/s | speed vs 0 |',
  );
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [label, records, repeat] of [
    ['200,000 × 100 B, 1,000 keys', dataset(200_000, 100, 1_000), 1],
    ['50,000 × 1 KiB, 1,000 keys', dataset(50_000, 1_024, 1_000), 1],
    ['5,000 × 100 B, 1,000 keys', dataset(5_000, 100, 1_000), 20],
    ['500 × 100 B, 100 keys', dataset(500, 100, 100), 200],
  ] as const) {
    for (const line of await orderingGroups(label, records, repeat)) {
      console.log(line);
    }
  }
  console.log('');
  console.log('| input | figure | ours | aws-kinesis-agg 4.2.8 | ratio |');
  console.log('| --- | --- | ---: | ---: | --- |');
  for (const line of await compare('200,000 × 100 B, 1,000 keys', dataset(200_000, 100, 1_000))) {
    console.log(line);
  }
  for (const line of await compare('50,000 × 1 KiB, 1,000 keys', dataset(50_000, 1_024, 1_000))) {
    console.log(line);
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'producer-bundle-'));
  try {
    const size = await bundle(dir, true);
    const sdkChain = await bundle(dir, false);
    const bare = nodeTime(['-e', '0']);
    const cold = nodeTime(['-e', `import(${JSON.stringify(path.join(dir, 'index.mjs'))})`]);
    const coldChain = nodeTime(['-e', `import(${JSON.stringify(path.join(dir, 'sdk-chain.mjs'))})`]);
    console.log('\n| producer bundle | figure | target |');
    console.log('| --- | --- | --- |');
    console.log(`| size (minified ESM, as ProducerFunction bundles it) | ${(size / 1024).toFixed(1)} KiB | < 350 KB |`);
    console.log(`| size with the SDK's default credential chain | ${(sdkChain / 1024).toFixed(1)} KiB | |`);
    console.log(
      `| cold import, median of 15 (node -e 0: ${bare.toFixed(0)} ms) | ${cold.toFixed(0)} ms (+${(cold - bare).toFixed(0)} ms) | |`,
    );
    console.log(
      `| cold import with the SDK's default credential chain | ${coldChain.toFixed(0)} ms (+${(coldChain - bare).toFixed(0)} ms) | |`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
