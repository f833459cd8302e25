import { CreateStreamCommand, KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent } from 'aws-lambda';
import { DEFAULT_MAPPING, type MappingSettings } from '../assembly';
import { localClientConfig, startKinesalite, type Emulator } from '../../../test/helpers/emulators';
import type { InvokeOutcome } from '../function-host';
import { firstFailureIndex, KinesisPoller, laneOf, type FailureRecord, type PolledRecord } from '../poller';

/**
 * The local event-source poller against kinesalite, with fake consumers standing in for the
 * bundled one: batch size, parallelization factor with order per key, partial batch responses,
 * bisect, retries and the on-failure destination.
 */
let kinesalite: Emulator;
let kinesis: KinesisClient;
let streams = 0;

beforeAll(async () => {
  kinesalite = await startKinesalite();
  kinesis = new KinesisClient(localClientConfig(kinesalite.endpoint));
});

afterAll(async () => {
  kinesis?.destroy();
  await kinesalite?.stop();
});

interface Seen {
  readonly id: string;
  readonly key: string;
  readonly shard: string;
}

/** A stream with `shards` shards holding `count` records: data `r<i>`, key `k<i % keys>`. */
async function streamWith(shards: number, count: number, keys: number): Promise<string> {
  streams += 1;
  const name = `poller-${streams}`;
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  for (let start = 0; start < count; start += 500) {
    const records = Array.from({ length: Math.min(500, count - start) }, (_v, i) => ({
      Data: Buffer.from(`r${start + i}`),
      PartitionKey: `k${(start + i) % keys}`,
    }));
    await kinesis.send(new PutRecordsCommand({ StreamName: name, Records: records }));
  }
  return name;
}

function ids(event: KinesisStreamEvent): Seen[] {
  return event.Records.map((record) => ({
    id: Buffer.from(record.kinesis.data, 'base64').toString(),
    key: record.kinesis.partitionKey,
    shard: record.eventID.split(':')[0],
  }));
}

/** Runs a poller over `streamName` with `consumer` until `done()` holds (or 15 s pass). */
async function poll(
  streamName: string,
  settings: Partial<MappingSettings>,
  consumer: (event: KinesisStreamEvent) => Promise<InvokeOutcome>,
  done: () => boolean,
  redeliverEvery = 0,
) {
  const processed: PolledRecord[] = [];
  const failures: Array<{ entry: FailureRecord; records: readonly PolledRecord[] }> = [];
  const poller = new KinesisPoller({
    kinesis,
    streamName,
    streamArn: `arn:aws:kinesis:us-east-1:000000000000:stream/${streamName}`,
    functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:fake',
    region: 'us-east-1',
    settings: { ...DEFAULT_MAPPING, ...settings },
    invoke: consumer,
    retryBaseMs: 1,
    idlePollMs: 20,
    redeliverEvery,
    hooks: { onProcessed: (records) => processed.push(...records), onFailure: (entry, records) => failures.push({ entry, records }) },
  });
  await poller.start();
  const deadline = Date.now() + 15_000;
  while (!done() && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await poller.stop();
  return {
    processed: processed.map((record) => Buffer.from(record.data).toString()),
    failures,
    stats: poller.stats,
    lanes: poller.lanesOf('shardId-000000000000'),
    records: processed,
  };
}

const ok = (result: unknown = null): InvokeOutcome => ({ ok: true, result, durationMs: 1 });
const fail = (message: string): InvokeOutcome => ({ ok: false, error: { name: 'Error', message }, durationMs: 1 });

describe('KinesisPoller', () => {
  test('delivers every record once, in batches of at most the batch size, in order per partition key with parallelization 4', async () => {
    // Prepare
    const name = await streamWith(2, 600, 20);
    const seen: Seen[] = [];
    const batchSizes: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    // Act
    const { processed, stats, lanes, records } = await poll(
      name,
      { batchSize: 25, parallelizationFactor: 4 },
      async (event) => {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        batchSizes.push(event.Records.length);
        await new Promise((resolve) => setTimeout(resolve, 5));
        seen.push(...ids(event));
        inFlight -= 1;
        return ok();
      },
      () => seen.length >= 600,
    );
    // Assess
    expect(seen).toHaveLength(600);
    expect(new Set(seen.map((s) => s.id)).size).toBe(600);
    expect(Math.max(...batchSizes)).toBeLessThanOrEqual(25);
    expect(maxInFlight).toBeGreaterThan(1);
    expect(maxInFlight).toBeLessThanOrEqual(8);
    for (let key = 0; key < 20; key += 1) {
      const order = seen.filter((s) => s.key === `k${key}`).map((s) => Number(s.id.slice(1)));
      expect(order).toEqual([...order].sort((a, b) => a - b));
    }
    expect(new Set(processed).size).toBe(600);
    expect(lanes).toBe(4);
    expect(stats.maxInFlightPerShard).toBeGreaterThan(1);
    expect(stats.maxInFlightPerShard).toBeLessThanOrEqual(4);
    // Lanes finish in any order: a shard's last processed is its highest sequence number.
    for (const [shardId, last] of stats.lastProcessed) {
      const highest = records
        .filter((record) => record.shardId === shardId)
        .reduce((max, record) => (BigInt(record.sequenceNumber) > max ? BigInt(record.sequenceNumber) : max), 0n);
      expect(last).toBe(highest.toString());
    }
  });

  test('delivers every n-th finished batch once more right after, and reports its records processed once', async () => {
    // Prepare: a consumer that (wrongly) fails a batch it has seen before.
    const name = await streamWith(1, 40, 4);
    const events: string[] = [];
    const delivered = new Set<string>();
    // Act
    const { processed, stats } = await poll(
      name,
      { batchSize: 5, parallelizationFactor: 2 },
      async (event) => {
        const batch = ids(event).map((s) => s.id);
        const again = events.includes(batch.join());
        events.push(batch.join());
        batch.forEach((id) => delivered.add(id));
        return ok({ batchItemFailures: again ? [{ itemIdentifier: event.Records[0].kinesis.sequenceNumber }] : [] });
      },
      () => delivered.size >= 40,
      3,
    );
    // Assess
    expect(processed.sort()).toEqual(Array.from({ length: 40 }, (_v, i) => `r${i}`).sort());
    expect(stats.finishedBatches).toBeGreaterThanOrEqual(8);
    expect(stats.redeliveries).toBe(Math.floor(stats.finishedBatches / 3));
    expect(events.length).toBe(stats.finishedBatches + stats.redeliveries);
    expect(events.length - new Set(events).size).toBe(stats.redeliveries);
    // A redelivery is not retried: its failure is counted for the verdict.
    expect(stats.redeliveryFailures).toBe(stats.redeliveries);
    expect(stats.partialFailures).toBe(0);
  });

  test('restarts from the lowest failed sequence number of a partial batch response and processes each record once', async () => {
    // Prepare
    const name = await streamWith(1, 50, 5);
    const deliveries = new Map<string, number>();
    const failedOnce = new Set<string>();
    // Act
    const { processed, stats } = await poll(
      name,
      { batchSize: 10, reportBatchItemFailures: true },
      async (event) => {
        event.Records.forEach((record) => {
          const id = Buffer.from(record.kinesis.data, 'base64').toString();
          deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
        });
        // r13 and r17 fail on their first delivery.
        const failures = event.Records.filter((record) => {
          const id = Buffer.from(record.kinesis.data, 'base64').toString();
          if ((id === 'r13' || id === 'r17') && !failedOnce.has(id)) {
            failedOnce.add(id);
            return true;
          }
          return false;
        }).map((record) => ({ itemIdentifier: record.kinesis.sequenceNumber }));
        return ok({ batchItemFailures: failures });
      },
      () => deliveries.size >= 50 && (deliveries.get('r49') ?? 0) > 0,
    );
    // Assess
    expect(processed).toHaveLength(50);
    expect(new Set(processed).size).toBe(50);
    expect(deliveries.get('r12')).toBe(1);
    expect(deliveries.get('r13')).toBe(2);
    expect(deliveries.get('r14')).toBe(2);
    expect(deliveries.get('r17')).toBe(2);
    // r13 and r17 fail in the same batch (r10..r19): one restart, from r13.
    expect(stats.partialFailures).toBe(1);
  });

  test('ignores batchItemFailures when partial batch responses are off', async () => {
    // Prepare
    const name = await streamWith(1, 10, 2);
    let calls = 0;
    // Act
    const { processed, stats } = await poll(
      name,
      { batchSize: 10, reportBatchItemFailures: false },
      async (event) => {
        calls += event.Records.length;
        return ok({ batchItemFailures: [{ itemIdentifier: event.Records[0].kinesis.sequenceNumber }] });
      },
      () => calls >= 10,
    );
    // Assess
    expect(processed).toHaveLength(10);
    expect(stats.retries).toBe(0);
  });

  test('bisects a failing batch, sends the poison record to the on-failure destination after the retries, and processes the rest once', async () => {
    // Prepare
    const name = await streamWith(1, 16, 4);
    const attemptsOfPoison: number[] = [];
    let processedCount = 0;
    // Act
    const { processed, failures, stats } = await poll(
      name,
      { batchSize: 16, bisectOnError: true, maxRetryAttempts: 2 },
      async (event) => {
        const batch = ids(event).map((s) => s.id);
        if (batch.includes('r5')) {
          attemptsOfPoison.push(batch.length);
          return fail('poison r5');
        }
        processedCount += batch.length;
        return ok();
      },
      () => processedCount >= 15,
    );
    // Assess
    expect(processed.sort()).toEqual(
      Array.from({ length: 16 }, (_v, i) => `r${i}`)
        .filter((id) => id !== 'r5')
        .sort(),
    );
    expect(attemptsOfPoison).toEqual([16, 8, 4, 2, 1, 1, 1]);
    expect(stats.bisects).toBe(4);
    expect(failures).toHaveLength(1);
    expect(failures[0].entry).toMatchObject({
      requestContext: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: 3 },
      responseContext: { functionError: 'Unhandled' },
      KinesisBatchInfo: { shardId: 'shardId-000000000000', batchSize: 1, streamArn: expect.stringContaining(name) },
    });
    expect(failures[0].records.map((record) => Buffer.from(record.data).toString())).toEqual(['r5']);
  });

  test('without bisect retries the whole batch, then gives it up to the on-failure destination', async () => {
    // Prepare
    const name = await streamWith(1, 4, 1);
    let invocations = 0;
    // Act
    const { processed, failures, stats } = await poll(
      name,
      { batchSize: 10, maxRetryAttempts: 1 },
      async () => {
        invocations += 1;
        return fail('always');
      },
      () => invocations >= 2,
    );
    // Assess
    expect(processed).toEqual([]);
    expect(failures).toHaveLength(1);
    expect(failures[0].entry.KinesisBatchInfo.batchSize).toBe(4);
    expect(stats).toMatchObject({ functionErrors: 2, retries: 1, failureBatches: 1, failureRecords: 4 });
    expect(invocations).toBe(2);
  });

  test('gathers records for the batching window before invoking', async () => {
    // Prepare
    streams += 1;
    const name = `poller-${streams}`;
    await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
    const batches: number[] = [];
    const putSlowly = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (let i = 0; i < 5; i += 1) {
        await kinesis.send(new PutRecordsCommand({ StreamName: name, Records: [{ Data: Buffer.from(`r${i}`), PartitionKey: 'k' }] }));
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
    })();
    // Act
    const { processed } = await poll(
      name,
      { batchSize: 100, batchWindowMs: 2000, startingPosition: 'TRIM_HORIZON' },
      async (event) => {
        batches.push(event.Records.length);
        return ok();
      },
      () => batches.length > 0,
    );
    await putSlowly;
    // Assess
    expect(batches).toEqual([5]);
    expect(processed).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
  });
});

describe('firstFailureIndex', () => {
  const batch = ['1', '2', '3'].map((sequenceNumber) => ({
    shardId: 's',
    sequenceNumber,
    partitionKey: 'k',
    data: new Uint8Array(),
    arrival: 0,
  }));

  test('is the lowest failed position', () => {
    expect(firstFailureIndex({ batchItemFailures: [{ itemIdentifier: '3' }, { itemIdentifier: '2' }] }, batch, true)).toBe(1);
  });

  test('is -1 for success, an empty list or responses turned off', () => {
    expect(firstFailureIndex(null, batch, true)).toBe(-1);
    expect(firstFailureIndex({ batchItemFailures: [] }, batch, true)).toBe(-1);
    expect(firstFailureIndex({ batchItemFailures: [{ itemIdentifier: '2' }] }, batch, false)).toBe(-1);
  });

  test('fails the whole batch for an empty or unknown itemIdentifier', () => {
    expect(firstFailureIndex({ batchItemFailures: [{ itemIdentifier: '' }] }, batch, true)).toBe(0);
    expect(firstFailureIndex({ batchItemFailures: [{ itemIdentifier: '9' }] }, batch, true)).toBe(0);
    expect(firstFailureIndex({ batchItemFailures: [null] }, batch, true)).toBe(0);
  });
});

describe('laneOf', () => {
  test('keeps a key in one lane and spreads keys over the lanes', () => {
    const lanes = new Set(Array.from({ length: 100 }, (_v, i) => laneOf(`key-${i}`, 4)));
    expect(lanes).toEqual(new Set([0, 1, 2, 3]));
    expect(laneOf('same', 7)).toBe(laneOf('same', 7));
    expect(laneOf('any', 1)).toBe(0);
  });
});
