/**
 * `npm run bench -- consumer`: deaggregate-and-dispatch throughput of a full batch (10,000 Kinesis
 * records) through our consumer core against aws-kinesis-agg's `deaggregateSync` with the same
 * dispatch loop, measured in the same process; and the size of the consumer's Lambda bundle.
 */
import * as path from 'path';
import * as zlib from 'zlib';
import type { KinesisStreamRecord } from 'aws-lambda';
import { deaggregateSync } from 'aws-kinesis-agg';
import * as esbuild from 'esbuild';
import { consumeBatch, type RecordProcessor } from '../lambda/consumer/consumer';
import { deaggregateRecord } from '../lambda/shared/deaggregate';
import { MAX_HASH_KEY } from '../lambda/shared/hash-key';
import { encodeAggregated } from '../lambda/shared/kpl-codec';

const BATCH = 10_000;
const ROUNDS = 11;
const ROOT = path.join(__dirname, '..');

function kinesisRecord(index: number, data: Buffer): KinesisStreamRecord {
  const sequenceNumber = String(49590338271490256608559692538361571095921575989136588800n + BigInt(index));
  return {
    eventSource: 'aws:kinesis', eventVersion: '1.0', eventID: `shardId-000000000000:${sequenceNumber}`, eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::123456789012:role/c', awsRegion: 'us-east-1', eventSourceARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/s',
    kinesis: { kinesisSchemaVersion: '1.0', partitionKey: `pk-${index % 100}`, sequenceNumber, data: data.toString('base64'), approximateArrivalTimestamp: 1_700_000_000 },
  };
}

/** 10,000 Kinesis records: KPL aggregates of `perAggregate` user records of 100 bytes, or plain 100-byte records. */
function batch(perAggregate: number): KinesisStreamRecord[] {
  const payload = Buffer.alloc(100, 'x');
  return Array.from({ length: BATCH }, (_, i) => kinesisRecord(i, perAggregate === 0
    ? payload
    : encodeAggregated(Array.from({ length: perAggregate }, (_unused, j) => ({ partitionKey: `device-${(i + j) % 997}`, data: payload })))));
}

/** Median of ROUNDS runs of each, interleaved (a, b, a, b, …) so both see the same machine load. */
async function compare(a: () => Promise<number>, b: () => Promise<number>): Promise<{ a: number; b: number; users: number; otherUsers: number }> {
  await a();
  await b(); // warm-up
  const samples: [number[], number[]] = [[], []];
  let users = 0;
  let otherUsers = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let start = process.hrtime.bigint();
    users = await a();
    samples[0].push(Number(process.hrtime.bigint() - start) / 1e6);
    start = process.hrtime.bigint();
    otherUsers = await b();
    samples[1].push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  const median = (values: number[]) => values.sort((x, y) => x - y)[Math.floor(values.length / 2)];
  return { a: median(samples[0]), b: median(samples[1]), users, otherUsers };
}

const context = { getRemainingTimeInMillis: () => 900_000 } as never;

/** A shard owning all but the last hash key: with OutOfRangeRecords.SKIP every sub-record is checked, and kept. */
const NEARLY_ALL = async () => ({ start: 0n, end: MAX_HASH_KEY - 1n });

async function ours(records: KinesisStreamRecord[], shardRange?: typeof NEARLY_ALL): Promise<number> {
  let users = 0;
  const processRecord: RecordProcessor = async () => {
    users++;
  };
  await consumeBatch(records, context, { processRecord, owner: 'bench', shardRange });
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

async function bundleSize(entry: string, alias?: Record<string, string>): Promise<{ bytes: number; gzip: number }> {
  const result = await esbuild.build({
    entryPoints: [entry], bundle: true, write: false, minify: true, platform: 'node', format: 'esm', target: 'node24',
    mainFields: ['module', 'main'], alias, logLevel: 'silent',
  });
  const code = result.outputFiles[0].contents;
  return { bytes: code.length, gzip: zlib.gzipSync(code).length };
}

export async function run(): Promise<void> {
  const rows: string[] = ['| batch of 10,000 Kinesis records | user records | ours (ms) | aws-kinesis-agg deaggregateSync (ms) | ours user records/s | speed-up |', '| --- | ---: | ---: | ---: | ---: | ---: |'];
  const row = (label: string, m: { a: number; b: number; users: number; otherUsers: number }) => {
    if (m.users !== m.otherUsers) {
      throw new Error(`user record counts differ: ours ${m.users}, reference ${m.otherUsers}`);
    }
    rows.push(`| ${label} | ${m.users} | ${m.a.toFixed(1)} | ${m.b.toFixed(1)} | ${Math.round(m.users / (m.a / 1000)).toLocaleString('en-US')} | ${(m.b / m.a).toFixed(2)}× |`);
  };
  for (const [label, perAggregate] of [['plain 100 B records', 0], ['KPL aggregates of 4 × 100 B', 4], ['KPL aggregates of 25 × 100 B', 25]] as const) {
    const records = batch(perAggregate);
    row(`${label} (dispatch)`, await compare(() => ours(records), () => reference(records)));
  }
  const records = batch(25);
  row('KPL aggregates of 25 × 100 B (dispatch, `OutOfRangeRecords.SKIP`: each record checked against its shard\'s range)', await compare(() => ours(records, NEARLY_ALL), () => reference(records)));
  row('KPL aggregates of 25 × 100 B (deaggregate only)', await compare(async () => {
    let n = 0;
    for (const record of records) {
      n += deaggregateRecord(record).length;
    }
    return n;
  }, async () => {
    let n = 0;
    for (const record of records) {
      deaggregateSync(record.kinesis, true, (_e, users) => {
        n += users?.length ?? 0;
      });
    }
    return n;
  }));
  console.log(rows.join('\n'));

  const consumer = await bundleSize(path.join(ROOT, 'lambda/consumer/index.ts'), { 'kinesis-pipeline-processor': path.join(ROOT, 'lambda/example-processor/index.ts') });
  const agg = await bundleSize(require.resolve('aws-kinesis-agg'));
  console.log('\n| bundle (esbuild, minified, ESM, node24) | bytes | gzip bytes |\n| --- | ---: | ---: |');
  console.log(`| consumer handler (deaggregation, leases, DynamoDB and Kinesis clients, Powertools, example processor) | ${consumer.bytes.toLocaleString('en-US')} | ${consumer.gzip.toLocaleString('en-US')} |`);
  console.log(`| aws-kinesis-agg alone (reference, protobufjs inside) | ${agg.bytes.toLocaleString('en-US')} | ${agg.gzip.toLocaleString('en-US')} |`);
}
