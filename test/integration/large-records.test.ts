import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { decodeAggregated, isAggregated } from '../../lambda/shared/kpl-codec';
import { localClientConfig, startKinesisLocal, type Emulator } from '../helpers/emulators';
import { loadProducer, type LoadedProducer } from '../helpers/producer-handler';
import { lambdaContext } from '../producer/fixtures';

/**
 * Records up to 10 MiB end to end on kinesis-local, which honours `MaxRecordSizeInKiB` (it refuses
 * a PutRecords entry above the stream's limit with InvalidArgumentException): the producer handler
 * writes multi-MiB records to a 10 MiB stream and reading the stream back gives exactly what was
 * sent; on a 1 MiB stream the handler refuses them before any call.
 */
const MiB = 1024 * 1024;
const BIG = 'large-records-10mib';
const SMALL = 'large-records-1mib';

let emulator: Emulator;
let kinesis: KinesisClient;
let producer: LoadedProducer | undefined;
const savedEnv = { ...process.env };

async function waitActive(stream: string): Promise<{ maxKiB?: number }> {
  for (;;) {
    const { StreamDescriptionSummary: summary } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
    if (summary?.StreamStatus === 'ACTIVE') {
      return { maxKiB: summary.MaxRecordSizeInKiB };
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Every user record of a stream, deaggregated, as `{ key, data }`, in shard order. */
async function readBack(stream: string): Promise<{ key: string; data: Buffer }[]> {
  const out: { key: string; data: Buffer }[] = [];
  const { Shards } = await kinesis.send(new ListShardsCommand({ StreamName: stream }));
  for (const shard of Shards!) {
    let { ShardIterator: iterator } = await kinesis.send(
      new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }),
    );
    while (iterator) {
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 100 }));
      for (const record of page.Records ?? []) {
        if (isAggregated(record.Data!)) {
          out.push(...decodeAggregated(record.Data!).map((user) => ({ key: user.partitionKey, data: Buffer.from(user.data) })));
        } else {
          out.push({ key: record.PartitionKey!, data: Buffer.from(record.Data!) });
        }
      }
      iterator = (page.Records ?? []).length === 0 ? undefined : page.NextShardIterator;
    }
  }
  return out;
}

/** `bytes` of text that names its record, so a mix-up shows. */
function payload(name: string, bytes: number): string {
  const head = `${name}:`;
  return head + name.charAt(0).repeat(bytes - head.length);
}

beforeAll(async () => {
  emulator = await startKinesisLocal();
  kinesis = new KinesisClient(localClientConfig(emulator.endpoint));
  await kinesis.send(new CreateStreamCommand({ StreamName: BIG, ShardCount: 1, MaxRecordSizeInKiB: 10240 }));
  await kinesis.send(new CreateStreamCommand({ StreamName: SMALL, ShardCount: 1 }));
  await Promise.all([waitActive(BIG), waitActive(SMALL)]);
  producer = await loadProducer({
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_KINESIS: emulator.endpoint,
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_SERVICE_NAME: 'large-records-it',
    // kinesis-local (Scala.js) takes seconds to parse a 13 MB base64 body: the handler's 5 s
    // request timeout would cut the call after Kinesis stored it and the retry would store it again
    // (the producer's named at-least-once window, which this test would report as a copy).
    CALL_TIMEOUT_MS: '60000',
    CLIENT_REQUEST_TIMEOUT_MS: '60000',
  });
}, 60_000);

beforeEach(() => producer!.reset());

afterAll(async () => {
  process.env = savedEnv;
  producer?.reset();
  kinesis?.destroy();
  await emulator?.stop();
});

describe('large records on kinesis-local', () => {
  test('the emulator enforces MaxRecordSizeInKiB: a 5 MiB entry is refused on a 1 MiB stream', async () => {
    const { maxKiB } = await waitActive(BIG);
    expect(maxKiB).toBe(10240);

    const answer = await kinesis.send(
      new PutRecordsCommand({ StreamName: SMALL, Records: [{ PartitionKey: 'k', Data: Buffer.alloc(5 * MiB) }] }),
    );

    expect(answer.FailedRecordCount).toBe(1);
    expect(answer.Records![0].ErrorCode).toBe('InvalidArgumentException');
  }, 60_000);

  test('the producer writes 5, 9.5 and 3 MiB records and small ones to a 10 MiB stream; reading back gives exactly what was sent', async () => {
    // Prepare
    process.env.STREAM_NAME = BIG;
    process.env.MAX_ENTRY_BYTES = String(10 * MiB);
    const sent = [
      { partitionKey: 'a', data: payload('alpha', 5 * MiB) },
      { partitionKey: 'b', data: 'small-1' },
      { partitionKey: 'c', data: payload('gamma', Math.floor(9.5 * MiB)) },
      { partitionKey: 'b', data: 'small-2' },
      { partitionKey: 'd', data: payload('delta', 3 * MiB) },
    ];

    // Act
    const result = await producer!.handler({ records: sent }, lambdaContext(120_000));

    // Assess
    expect(result).toEqual({ recordCount: 5, writtenCount: 5, failedCount: 0, failed: [] });
    const back = await readBack(BIG);
    expect(back.map((r) => r.key).sort()).toEqual(sent.map((r) => r.partitionKey).sort());
    for (const record of sent) {
      const copies = back.filter((r) => r.data.equals(Buffer.from(record.data)));
      expect(copies.map((r) => r.key)).toEqual([record.partitionKey]);
    }
    expect(back.filter((r) => r.key === 'b').map((r) => r.data.toString())).toEqual(['small-1', 'small-2']);
  }, 300_000);

  test('on a 1 MiB stream the producer refuses the 5 MiB record, naming it, and writes nothing', async () => {
    process.env.STREAM_NAME = SMALL;
    process.env.MAX_ENTRY_BYTES = String(MiB);

    await expect(
      producer!.handler(
        {
          records: [
            { partitionKey: 'k', data: 'fine' },
            { partitionKey: 'a', data: payload('alpha', 5 * MiB) },
          ],
        },
        lambdaContext(60_000),
      ),
    ).rejects.toThrow(/record 1: data plus partitionKey must be at most the entry limit/);
    expect(await readBack(SMALL)).toEqual([]);
  }, 60_000);
});
