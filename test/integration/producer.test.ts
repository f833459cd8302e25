import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  MergeShardsCommand,
  SplitShardCommand,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { DEFAULT_LIMITS } from '../../lambda/producer/limits';
import { outerKeyOf } from '../../lambda/producer/ordering';
import { hashKeyOf } from '../../lambda/shared/hash-key';
import { decodeAggregated, isAggregated } from '../../lambda/shared/kpl-codec';
import { startKinesalite, type Emulator } from '../helpers/emulators';
import { loadProducer, type LoadedProducer } from '../helpers/producer-handler';
import { lambdaContext } from '../producer/fixtures';

/**
 * The producer handler on kinesalite (in-process, in memory, on loopback), after a split and a
 * merge have left uneven hash ranges: reading every shard back and deaggregating must give every
 * user record exactly once, on the shard that owns its hash key, in order per partition key.
 * The bundled handler's own code runs here, with its endpoint from AWS_ENDPOINT_URL_KINESIS.
 */
const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const STREAM = 'producer-it';
const MAX = (1n << 128n) - 1n;

interface ProduceResult {
  recordCount: number;
  writtenCount: number;
  failedCount: number;
  failed: { index: number; errorCode: string }[];
}
interface ReadBack {
  shard: Shard;
  partitionKey: string;
  explicitHashKey?: string;
  data: string;
  outerKey: string;
}

let kinesalite: Emulator;
let kinesis: KinesisClient;
let producer: LoadedProducer | undefined;
const savedEnv = { ...process.env };

async function waitActive(): Promise<string> {
  for (;;) {
    const { StreamDescriptionSummary: summary } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: STREAM }));
    if (summary?.StreamStatus === 'ACTIVE') {
      return summary.StreamARN!;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function allShards(): Promise<Shard[]> {
  const { Shards } = await kinesis.send(new ListShardsCommand({ StreamName: STREAM }));
  return Shards!;
}

function isOpen(shard: Shard): boolean {
  return shard.SequenceNumberRange?.EndingSequenceNumber === undefined;
}

/** Every user record on every shard (open and closed), in shard order, deaggregated. */
async function readBack(): Promise<ReadBack[]> {
  const out: ReadBack[] = [];
  for (const shard of await allShards()) {
    let { ShardIterator: iterator } = await kinesis.send(
      new GetShardIteratorCommand({ StreamName: STREAM, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }),
    );
    while (iterator) {
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const record of page.Records ?? []) {
        if (isAggregated(record.Data!)) {
          for (const user of decodeAggregated(record.Data!)) {
            out.push({
              shard,
              partitionKey: user.partitionKey,
              explicitHashKey: user.explicitHashKey,
              data: Buffer.from(user.data).toString('utf8'),
              outerKey: record.PartitionKey!,
            });
          }
        } else {
          out.push({
            shard,
            partitionKey: record.PartitionKey!,
            data: Buffer.from(record.Data!).toString('utf8'),
            outerKey: record.PartitionKey!,
          });
        }
      }
      iterator = (page.Records ?? []).length === 0 ? undefined : page.NextShardIterator;
    }
  }
  return out;
}

/** User records that did not travel under their key's ordering group key (the handler runs with the default groups). */
function offTheirOuterKey(records: readonly ReadBack[]): ReadBack[] {
  return records.filter((r) => r.outerKey !== outerKeyOf(r.partitionKey, DEFAULT_LIMITS));
}

function holds(shard: Shard, hashKey: bigint): boolean {
  return BigInt(shard.HashKeyRange!.StartingHashKey!) <= hashKey && hashKey <= BigInt(shard.HashKeyRange!.EndingHashKey!);
}

/** A request of `count` records over `keys` partition keys; data is `<batch>:<key>:<n>` (n counts per key). */
function request(batch: string, count: number, keys: number, bytes = 100): { records: { data: string; partitionKey: string }[] } {
  const perKey = new Map<string, number>();
  return {
    records: Array.from({ length: count }, (_, i) => {
      const partitionKey = `key-${(i * 7919) % keys}-ü`;
      const n = perKey.get(partitionKey) ?? 0;
      perKey.set(partitionKey, n + 1);
      const head = `${batch}:${partitionKey}:${n}:`;
      return { partitionKey, data: head + 'x'.repeat(Math.max(0, bytes - Buffer.byteLength(head))) };
    }),
  };
}

beforeAll(async () => {
  kinesalite = await startKinesalite();
  kinesis = new KinesisClient({
    endpoint: kinesalite.endpoint,
    region: REGION,
    credentials: CREDENTIALS,
    requestHandler: new NodeHttpHandler(),
  });
  await kinesis.send(new CreateStreamCommand({ StreamName: STREAM, ShardCount: 2 }));
  await waitActive();
  // Uneven ranges: split shard 0 at a third of its range, then merge the upper half with shard 1.
  const [first] = await allShards();
  const firstEnd = BigInt(first.HashKeyRange!.EndingHashKey!);
  await kinesis.send(
    new SplitShardCommand({ StreamName: STREAM, ShardToSplit: first.ShardId, NewStartingHashKey: (firstEnd / 3n).toString() }),
  );
  await waitActive();
  const open = (await allShards())
    .filter(isOpen)
    .sort((a, b) => (BigInt(a.HashKeyRange!.StartingHashKey!) < BigInt(b.HashKeyRange!.StartingHashKey!) ? -1 : 1));
  await kinesis.send(new MergeShardsCommand({ StreamName: STREAM, ShardToMerge: open[1].ShardId, AdjacentShardToMerge: open[2].ShardId }));
  await waitActive();
  producer = await loadProducer({
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_KINESIS: kinesalite.endpoint,
    STREAM_NAME: STREAM,
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_SERVICE_NAME: 'producer-it',
  });
});

afterAll(async () => {
  process.env = savedEnv;
  producer?.reset();
  kinesis?.destroy();
  await kinesalite?.stop();
});

describe('producer on kinesalite', () => {
  test('after a split and a merge, every user record is written once, on the shard owning its hash key, in order per key', async () => {
    // Prepare
    const openShards = (await allShards()).filter(isOpen);
    expect(openShards).toHaveLength(2);
    const input = request('a', 3_000, 200);
    input.records.push({ partitionKey: 'explicit', data: 'a:explicit:0:top', explicitHashKey: MAX.toString() } as never);

    // Act
    const result = (await producer!.handler(input, lambdaContext())) as ProduceResult;

    // Assess
    expect(result).toEqual({ recordCount: 3_001, writtenCount: 3_001, failedCount: 0, failed: [] });
    const back = await readBack();
    expect(back).toHaveLength(3_001);
    expect(new Set(back.map((r) => r.data)).size).toBe(3_001);
    for (const record of back) {
      expect(isOpen(record.shard)).toBe(true);
      const hashKey =
        record.explicitHashKey !== undefined
          ? BigInt(record.explicitHashKey)
          : record.partitionKey === 'explicit'
            ? MAX
            : hashKeyOf(record.partitionKey);
      expect(holds(record.shard, hashKey)).toBe(true);
    }
    const sequenceOf = new Map<string, number>();
    for (const record of back.filter((r) => r.partitionKey !== 'explicit')) {
      const [, , n] = record.data.split(':');
      const expected = sequenceOf.get(record.partitionKey) ?? 0;
      expect(Number(n)).toBe(expected);
      sequenceOf.set(record.partitionKey, expected + 1);
    }
    expect([...sequenceOf.values()].reduce((a, b) => a + b, 0)).toBe(3_000);
    // Every user key under one outer key, its group's, the explicit-hash-key record too.
    expect(offTheirOuterKey(back)).toEqual([]);
    expect(new Set(back.map((r) => r.outerKey)).size).toBe(DEFAULT_LIMITS.orderingGroups);
  });

  test('after a split the cached map does not know, records the landing child does not own are re-sent: a KCL reader sees each once', async () => {
    // Prepare: the container has a cached map (from the previous test); split the lower shard now.
    const before = (await readBack()).length;
    const lower = (await allShards()).filter(isOpen).find((s) => s.HashKeyRange!.StartingHashKey === '0')!;
    await kinesis.send(
      new SplitShardCommand({
        StreamName: STREAM,
        ShardToSplit: lower.ShardId,
        NewStartingHashKey: (BigInt(lower.HashKeyRange!.EndingHashKey!) / 2n).toString(),
      }),
    );
    await waitActive();

    // Act: the first request goes out with the stale map, the second with the reloaded one.
    const stale = (await producer!.handler(request('b', 500, 50), lambdaContext())) as ProduceResult;
    const fresh = (await producer!.handler(request('c', 500, 50), lambdaContext())) as ProduceResult;

    // Assess
    expect(stale).toEqual({ recordCount: 500, writtenCount: 500, failedCount: 0, failed: [] });
    expect(fresh).toEqual({ recordCount: 500, writtenCount: 500, failedCount: 0, failed: [] });
    const back = (await readBack()).slice(before);
    const staleRecords = back.filter((r) => r.data.startsWith('b:'));
    // The stale aggregates landed on the lower child, some of their records outside it ...
    const strays = staleRecords.filter((r) => !holds(r.shard, hashKeyOf(r.partitionKey)));
    expect(strays.length).toBeGreaterThan(0);
    expect(strays.every((r) => r.shard.HashKeyRange!.StartingHashKey === '0')).toBe(true);
    // ... and those were sent again to the shard that owns them: keeping only the records a shard
    // owns (as the KCL does), every one of the 500 is there exactly once.
    const delivered = staleRecords.filter((r) => holds(r.shard, hashKeyOf(r.partitionKey)));
    expect(delivered).toHaveLength(500);
    expect(new Set(delivered.map((r) => r.data)).size).toBe(500);
    expect(back).toHaveLength(500 + strays.length + 500);
    expect(offTheirOuterKey(back)).toEqual([]);
    const freshRecords = back.filter((r) => r.data.startsWith('c:'));
    expect(freshRecords).toHaveLength(500);
    for (const record of freshRecords) {
      expect(isOpen(record.shard)).toBe(true);
      expect(holds(record.shard, hashKeyOf(record.partitionKey))).toBe(true);
    }
  });

  test('an HTTP event with a bad record is refused with 400 naming the record and writes nothing', async () => {
    // Prepare
    const before = (await readBack()).length;
    const body = JSON.stringify({ records: [{ data: 'ok', partitionKey: 'k' }, { partitionKey: 'k' }] });

    // Act
    const answer = (await producer!.handler(
      { version: '2.0', body, isBase64Encoded: false, requestContext: { http: { method: 'POST' } } },
      lambdaContext(),
    )) as { statusCode: number; body: string };

    // Assess
    expect(answer.statusCode).toBe(400);
    expect(JSON.parse(answer.body)).toEqual(
      expect.objectContaining({ errors: [{ index: 1, rule: expect.stringMatching(/data is required/) }] }),
    );
    expect(await readBack()).toHaveLength(before);
  });
});
