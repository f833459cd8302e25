import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  PutRecordsCommand,
  UpdateShardCountCommand,
} from '@aws-sdk/client-kinesis';
import { DEFAULT_MAPPING } from '../assembly';
import { localClientConfig, startKinesisLocal, type Emulator } from '../../../test/helpers/emulators';
import { KinesisPoller } from '../poller';

/**
 * The poller across a reshard on kinesis-local (which has UpdateShardCount): the parent shard is
 * read to its end before its children start, so every record arrives once and in order per key.
 */
let kinesisLocal: Emulator;
let kinesis: KinesisClient;

beforeAll(async () => {
  kinesisLocal = await startKinesisLocal(0, { updateShardCountMs: 200 });
  kinesis = new KinesisClient(localClientConfig(kinesisLocal.endpoint));
}, 60_000);

afterAll(async () => {
  kinesis?.destroy();
  await kinesisLocal?.stop();
});

async function waitActive(name: string): Promise<number> {
  for (;;) {
    const summary = (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }))).StreamDescriptionSummary!;
    if (summary.StreamStatus === 'ACTIVE') {
      return summary.OpenShardCount!;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function put(name: string, from: number, count: number): Promise<void> {
  const records = Array.from({ length: count }, (_v, i) => ({ Data: Buffer.from(`r${from + i}`), PartitionKey: `k${(from + i) % 10}` }));
  await kinesis.send(new PutRecordsCommand({ StreamName: name, Records: records }));
}

test('reads a parent shard to its end, then its children, delivering every record once in order per key', async () => {
  // Prepare
  await kinesis.send(new CreateStreamCommand({ StreamName: 'reshard', ShardCount: 1 }));
  await waitActive('reshard');
  const seen: Array<{ id: number; key: string; shard: string }> = [];
  const poller = new KinesisPoller({
    kinesis,
    streamName: 'reshard',
    streamArn: 'arn:aws:kinesis:us-east-1:000000000000:stream/reshard',
    functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:fake',
    region: 'us-east-1',
    settings: { ...DEFAULT_MAPPING, batchSize: 7, parallelizationFactor: 2 },
    idlePollMs: 20,
    discoveryMs: 200,
    invoke: async (event) => {
      seen.push(
        ...event.Records.map((record) => ({
          id: Number(Buffer.from(record.kinesis.data, 'base64').toString().slice(1)),
          key: record.kinesis.partitionKey,
          shard: record.eventID.split(':')[0],
        })),
      );
      return { ok: true, result: null, durationMs: 1 };
    },
  });
  await poller.start();
  // Act
  await put('reshard', 0, 50);
  await kinesis.send(new UpdateShardCountCommand({ StreamName: 'reshard', TargetShardCount: 2, ScalingType: 'UNIFORM_SCALING' }));
  expect(await waitActive('reshard')).toBe(2);
  await put('reshard', 50, 50);
  const deadline = Date.now() + 20_000;
  while (seen.length < 100 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await poller.stop();
  // Assess
  expect(seen.map((s) => s.id).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_v, i) => i));
  for (let key = 0; key < 10; key += 1) {
    const order = seen.filter((s) => s.key === `k${key}`).map((s) => s.id);
    expect(order).toEqual([...order].sort((a, b) => a - b));
  }
  const shards = new Set(seen.map((s) => s.shard));
  expect(shards.size).toBeGreaterThanOrEqual(2);
  expect(poller.shardIds().finished).toContain('shardId-000000000000');
}, 60_000);
