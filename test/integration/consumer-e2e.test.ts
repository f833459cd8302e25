import { CreateTableCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
  SplitShardCommand,
  type _Record as KinesisRecord,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { createHash } from 'crypto';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import type { UserRecord } from '../../lambda/shared/deaggregate';
import { hashKeyOf } from '../../lambda/shared/hash-key';
import { decodeAggregated, isAggregated } from '../../lambda/shared/kpl-codec';
import { LeaseStore } from '../../lambda/shared/lease-store';
import { coveredByEntry, MAX_PROGRESS_BYTES } from '../../lambda/shared/progress';
import { compareExtended } from '../../lambda/shared/sequence-number';
import { startDynalite, startKinesalite, startStreamArnProxy, type Emulator } from '../helpers/emulators';
import { lambdaContext } from '../consumer/factories';

/**
 * End to end on kinesalite + dynalite: the producer handler writes (KPL-aggregated) records, a
 * small poller stands in for the Lambda event-source mapping (batches per shard, retry from the
 * reported sequence number, and whole batches delivered twice), and the consumer handler must see
 * every user record exactly once, in order per shard (shard ordering), with the checkpoint at each
 * shard's end.
 * With a parallelization factor above 1, a second poller splits each shard into lanes by the
 * Kinesis record's partition key and runs them at once, as Lambda does: exactly once, in order per
 * user partition key, with the progress in the lease items.
 */
const REGION = 'us-east-1';
const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const STREAM = 'consumer-e2e';
const TABLE = 'consumer-e2e-leases';
const OWNER = 'consumer-e2e-fn';
const BATCH_SIZE = 7;

type Handler = (event: KinesisStreamEvent, context: Context) => Promise<unknown>;

let kinesalite: Emulator;
let dynalite: Emulator;
let arnProxy: Emulator;
let kinesis: KinesisClient;
let dynamodb: DynamoDBClient;
let streamArn: string;
const savedEnv = { ...process.env };

beforeAll(async () => {
  [kinesalite, dynalite] = await Promise.all([startKinesalite(), startDynalite()]);
  arnProxy = await startStreamArnProxy(kinesalite.endpoint);
  kinesis = new KinesisClient({
    endpoint: kinesalite.endpoint,
    region: REGION,
    credentials: CREDENTIALS,
    requestHandler: new NodeHttpHandler(),
  });
  dynamodb = new DynamoDBClient({
    endpoint: dynalite.endpoint,
    region: REGION,
    credentials: CREDENTIALS,
    requestHandler: new NodeHttpHandler(),
  });
  await kinesis.send(new CreateStreamCommand({ StreamName: STREAM, ShardCount: 3 }));
  await createLeaseTable(TABLE);
  streamArn = await waitActive();
  Object.assign(process.env, {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_KINESIS: arnProxy.endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint,
    STREAM_ARN: streamArn,
    STREAM_NAME: STREAM,
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_SERVICE_NAME: 'consumer-e2e',
  });
});

afterAll(async () => {
  process.env = savedEnv;
  kinesis.destroy();
  dynamodb.destroy();
  const { resetClients } = await import('../../lambda/shared/clients');
  resetClients();
  await Promise.all([arnProxy.stop(), kinesalite.stop(), dynalite.stop()]);
});

async function createLeaseTable(tableName: string): Promise<void> {
  await dynamodb.send(
    new CreateTableCommand({
      TableName: tableName,
      KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
}

/** A Lambda Kinesis event record of a record GetRecords returned. */
function lambdaRecord(shardId: string, record: KinesisRecord, sourceArn = streamArn): KinesisStreamRecord {
  return {
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${record.SequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::000000000000:role/consumer',
    awsRegion: REGION,
    eventSourceARN: sourceArn,
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: record.PartitionKey!,
      sequenceNumber: record.SequenceNumber!,
      data: Buffer.from(record.Data!).toString('base64'),
      approximateArrivalTimestamp: record.ApproximateArrivalTimestamp!.getTime() / 1000,
    },
  };
}

/**
 * Stands in for the event-source mapping on one shard: batches of BATCH_SIZE from TRIM_HORIZON;
 * a batch item failure re-reads from that sequence number; every third batch is delivered twice
 * (what Lambda does after a timeout or a crash). Returns the invocations it made and the last
 * sequence number the shard held.
 */
async function pollShard(shardId: string, handler: Handler): Promise<{ invocations: number; lastSequenceNumber?: string }> {
  let iterator = (
    await kinesis.send(new GetShardIteratorCommand({ StreamName: STREAM, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }))
  ).ShardIterator;
  let invocations = 0;
  let batches = 0;
  let lastSequenceNumber: string | undefined;
  while (iterator) {
    const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: BATCH_SIZE }));
    const records = page.Records ?? [];
    if (records.length === 0) {
      break;
    }
    lastSequenceNumber = records[records.length - 1].SequenceNumber;
    const event: KinesisStreamEvent = { Records: records.map((record) => lambdaRecord(shardId, record)) };
    batches++;
    const deliveries = batches % 3 === 0 ? 2 : 1;
    let failure: string | undefined;
    for (let delivery = 0; delivery < deliveries; delivery++) {
      const response = (await handler(event, lambdaContext())) as KinesisStreamBatchResponse;
      invocations++;
      failure = response.batchItemFailures[0]?.itemIdentifier;
    }
    iterator = failure
      ? (
          await kinesis.send(
            new GetShardIteratorCommand({
              StreamName: STREAM,
              ShardId: shardId,
              ShardIteratorType: 'AT_SEQUENCE_NUMBER',
              StartingSequenceNumber: failure,
            }),
          )
        ).ShardIterator
      : page.NextShardIterator;
  }
  return { invocations, lastSequenceNumber };
}

describe('producer handler to consumer handler on kinesalite and dynalite', () => {
  test('with shard ordering, every user record is processed exactly once, in order per shard, with the checkpoint at each shard end', async () => {
    // Prepare: the producer handler writes 240 records (aggregated), plus 12 plain records put directly.
    const { handler: produce } = await import('../../lambda/producer/index');
    const { createHandler } = await import('../../lambda/consumer/handler');
    const sent: string[] = [];
    for (let call = 0; call < 4; call++) {
      const records = Array.from({ length: 60 }, (_, i) => ({
        data: { n: call * 60 + i },
        partitionKey: `device-${(call * 60 + i) % 17}`,
      }));
      sent.push(...records.map((record) => JSON.stringify(record.data)));
      const result = (await produce({ records }, lambdaContext())) as { writtenCount: number };
      expect(result.writtenCount).toBe(60);
    }
    const plain = Array.from({ length: 12 }, (_, i) => ({ Data: Buffer.from(JSON.stringify({ plain: i })), PartitionKey: `plain-${i}` }));
    await kinesis.send(new PutRecordsCommand({ StreamName: STREAM, Records: plain }));
    sent.push(...plain.map((record) => record.Data.toString()));

    const seen: UserRecord[] = [];
    let failOnce = true;
    const handler = createHandler(
      async (record) => {
        // The 50th user record fails once: the shard stops there and Lambda retries from it.
        if (failOnce && seen.length === 49) {
          failOnce = false;
          throw new Error('transient failure');
        }
        seen.push({ ...record, data: Buffer.from(record.data) });
      },
      { LEASE_TABLE_NAME: TABLE, LEASE_OWNER: OWNER, RESERVE_MILLIS: '0', ORDERING: 'shard' },
    );

    // Act
    const shards = (await kinesis.send(new ListShardsCommand({ StreamName: STREAM }))).Shards!.map((shard) => shard.ShardId!);
    const polled = new Map<string, { invocations: number; lastSequenceNumber?: string }>();
    for (const shardId of shards) {
      polled.set(shardId, await pollShard(shardId, handler));
    }

    // Assess: exactly once, and the producer's records were aggregated.
    expect(failOnce).toBe(false);
    expect(seen.map((record) => record.data.toString()).sort()).toEqual([...sent].sort());
    expect(seen.some((record) => record.aggregated)).toBe(true);
    expect(seen.filter((record) => !record.aggregated)).toHaveLength(12);
    const leases = new LeaseStore(dynamodb, TABLE);
    for (const shardId of shards) {
      const ofShard = seen.filter((record) => record.shardId === shardId);
      // In order per shard: (sequence, sub-sequence) strictly increasing.
      for (let i = 1; i < ofShard.length; i++) {
        expect(compareExtended(ofShard[i - 1], ofShard[i])).toBeLessThan(0);
      }
      const lease = await leases.get(shardId);
      const last = ofShard[ofShard.length - 1];
      expect(last.sequenceNumber).toBe(polled.get(shardId)!.lastSequenceNumber);
      expect(lease).toMatchObject({
        leaseKey: shardId,
        leaseOwner: OWNER,
        checkpoint: { sequenceNumber: last.sequenceNumber, subSequenceNumber: last.subSequenceNumber },
      });
    }
  }, 30_000);

  test('across a split the producer did not know of, a consumer skipping out-of-range records processes each user record exactly once', async () => {
    // Prepare: the producer's cached map still has the three shards of the first test; split the lowest now.
    const { handler: produce } = await import('../../lambda/producer/index');
    const { createHandler } = await import('../../lambda/consumer/handler');
    const before = (await kinesis.send(new ListShardsCommand({ StreamName: STREAM }))).Shards!;
    const lowest = before.find((shard) => shard.HashKeyRange!.StartingHashKey === '0')!;
    await kinesis.send(
      new SplitShardCommand({
        StreamName: STREAM,
        ShardToSplit: lowest.ShardId,
        NewStartingHashKey: (BigInt(lowest.HashKeyRange!.EndingHashKey!) / 2n).toString(),
      }),
    );
    await waitActive();
    const records = Array.from({ length: 300 }, (_, i) => ({ data: { split: i }, partitionKey: `sensor-${i % 41}` }));
    const result = (await produce({ records }, lambdaContext())) as { writtenCount: number };
    expect(result.writtenCount).toBe(300);
    const sent = records.map((record) => JSON.stringify(record.data));

    const seen: UserRecord[] = [];
    const handler = createHandler(
      async (record) => {
        seen.push({ ...record, data: Buffer.from(record.data) });
      },
      { LEASE_TABLE_NAME: TABLE, LEASE_OWNER: OWNER, RESERVE_MILLIS: '0', OUT_OF_RANGE_RECORDS: 'skip', STREAM_NAME: STREAM },
    );

    // Act: every shard, closed parent and new children, as Lambda reads them.
    const shards = (await kinesis.send(new ListShardsCommand({ StreamName: STREAM }))).Shards!;
    for (const shard of shards) {
      await pollShard(shard.ShardId!, handler);
    }

    // Assess: the stale aggregates put records on the lower child that it does not own (the
    // producer re-sent them), and the consumer processed each record once, on its own shard.
    const lowerChild = shards.find((shard) => shard.ParentShardId === lowest.ShardId && shard.HashKeyRange!.StartingHashKey === '0')!;
    const stored = await storedUserRecords(lowerChild.ShardId!);
    const strays = stored.filter((user) => hashKeyOf(user.partitionKey) > BigInt(lowerChild.HashKeyRange!.EndingHashKey!));
    expect(strays.length).toBeGreaterThan(0);
    const fromSplit = seen.filter((record) => record.data.toString().startsWith('{"split"'));
    expect(fromSplit.map((record) => record.data.toString()).sort()).toEqual([...sent].sort());
    for (const record of fromSplit) {
      const shard = shards.find((s) => s.ShardId === record.shardId)!;
      const hashKey = hashKeyOf(record.partitionKey);
      expect(hashKey >= BigInt(shard.HashKeyRange!.StartingHashKey!) && hashKey <= BigInt(shard.HashKeyRange!.EndingHashKey!)).toBe(true);
    }
  }, 30_000);
});

const PF_STREAM = 'consumer-e2e-pf';
const PF_TABLE = 'consumer-e2e-pf-leases';
const PARALLELIZATION_FACTOR = 4;
const PF_SHARDS = 3;

/** A seeded pseudo-random source (mulberry32): the same batch sizes and failures on every run. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Lambda's lane of a Kinesis record under parallelization factor `factor`: a fixed function of its partition key. */
function laneOf(partitionKey: string, factor: number): number {
  return createHash('md5').update(partitionKey).digest().readUInt32BE(0) % factor;
}

interface LaneStats {
  invocations: number;
  /** Function errors (the handler threw), by name and message. */
  functionErrors: string[];
  partialFailures: number;
  redeliveries: number;
  maxInFlightPerShard: number;
}

/**
 * Stands in for the event-source mapping with parallelization factor `factor` on one shard, as
 * Lambda documents it: the shard's records are split into `factor` lanes by the Kinesis record's
 * partition key; the lanes run at once (up to `factor` invocations of the shard in flight), each
 * lane's batches are consecutive runs of its records (random sizes up to `maxBatch`); a batch
 * item failure retries the lane from that record, a function error retries the whole batch, and
 * now and then a finished batch is delivered again (what Lambda does when it lost the answer).
 */
async function pollShardInLanes(
  shardId: string,
  records: readonly KinesisRecord[],
  handler: Handler,
  options: { factor: number; maxBatch: number; redeliverEvery: number; random: () => number; sourceArn: string; stats: LaneStats },
): Promise<void> {
  const lanes: KinesisRecord[][] = Array.from({ length: options.factor }, () => []);
  for (const record of records) {
    lanes[laneOf(record.PartitionKey!, options.factor)].push(record);
  }
  let inFlight = 0;
  const invoke = async (batch: readonly KinesisRecord[]): Promise<KinesisStreamBatchResponse | undefined> => {
    inFlight++;
    options.stats.maxInFlightPerShard = Math.max(options.stats.maxInFlightPerShard, inFlight);
    options.stats.invocations++;
    try {
      return (await handler(
        { Records: batch.map((record) => lambdaRecord(shardId, record, options.sourceArn)) },
        lambdaContext(),
      )) as KinesisStreamBatchResponse;
    } catch (error) {
      options.stats.functionErrors.push(`${(error as Error).name}: ${(error as Error).message}`);
      return undefined;
    } finally {
      inFlight--;
    }
  };
  await Promise.all(
    lanes.map(async (lane) => {
      let pending = lane;
      while (pending.length > 0) {
        const batch = pending.slice(0, 1 + Math.floor(options.random() * options.maxBatch));
        const response = await invoke(batch);
        if (response === undefined) {
          if (options.stats.functionErrors.length > 20) {
            throw new Error(`consumer keeps failing: ${options.stats.functionErrors.slice(-3).join('; ')}`);
          }
          continue; // function error: the whole batch again
        }
        const failure = response.batchItemFailures[0]?.itemIdentifier;
        if (failure !== undefined) {
          options.stats.partialFailures++;
          const at = batch.findIndex((record) => record.SequenceNumber === failure);
          pending = pending.slice(Math.max(0, at));
          continue;
        }
        if (options.random() * options.redeliverEvery < 1) {
          options.stats.redeliveries++;
          await invoke(batch);
        }
        pending = pending.slice(batch.length);
      }
    }),
  );
}

describe(`consumer handler with parallelization factor ${PARALLELIZATION_FACTOR} and per-key concurrency on kinesalite and dynalite`, () => {
  test('every user record is processed exactly once, in order per user partition key, and the lease items hold the progress', async () => {
    // Prepare: a stream of its own; the producer handler writes 800 records of 48 user keys in 16
    // calls (KPL-aggregated), and 24 plain records of 6 more keys are put directly.
    const { handler: produce } = await import('../../lambda/producer/index');
    const { createHandler } = await import('../../lambda/consumer/handler');
    await kinesis.send(new CreateStreamCommand({ StreamName: PF_STREAM, ShardCount: PF_SHARDS }));
    await createLeaseTable(PF_TABLE);
    const pfStreamArn = await waitActive(PF_STREAM);
    const positions = new Map<string, number>();
    const next = (key: string) => {
      const n = positions.get(key) ?? 0;
      positions.set(key, n + 1);
      return { key, n };
    };
    const streamEnv = { STREAM_NAME: process.env.STREAM_NAME, STREAM_ARN: process.env.STREAM_ARN };
    Object.assign(process.env, { STREAM_NAME: PF_STREAM, STREAM_ARN: pfStreamArn });
    try {
      for (let call = 0; call < 16; call++) {
        const records = Array.from({ length: 50 }, (_, i) => next(`user-${(call * 7 + i) % 48}`)).map((data) => ({
          data,
          partitionKey: data.key,
        }));
        const result = (await produce({ records }, lambdaContext())) as { writtenCount: number };
        expect(result.writtenCount).toBe(50);
      }
    } finally {
      Object.assign(process.env, streamEnv);
    }
    const plain = Array.from({ length: 24 }, (_, i) => next(`plain-${i % 6}`)).map((data) => ({
      Data: Buffer.from(JSON.stringify(data)),
      PartitionKey: data.key,
    }));
    await kinesis.send(new PutRecordsCommand({ StreamName: PF_STREAM, Records: plain }));
    const sentCount = [...positions.values()].reduce((a, b) => a + b, 0);

    const shards = (await kinesis.send(new ListShardsCommand({ StreamName: PF_STREAM }))).Shards!.map((shard) => shard.ShardId!);
    const stored = new Map<string, KinesisRecord[]>();
    for (const shardId of shards) {
      stored.set(shardId, await storedRecords(shardId, PF_STREAM));
    }
    // The producer keeps each user key under one outer (Kinesis record) partition key: the unit
    // of Lambda's order under PF > 1.
    const outerKeysOf = new Map<string, Set<string>>();
    for (const record of [...stored.values()].flat()) {
      const users = isAggregated(record.Data!) ? decodeAggregated(record.Data!) : [{ partitionKey: record.PartitionKey! }];
      for (const user of users) {
        outerKeysOf.set(user.partitionKey, (outerKeysOf.get(user.partitionKey) ?? new Set()).add(record.PartitionKey!));
      }
    }
    expect([...outerKeysOf].filter(([, outer]) => outer.size > 1).map(([key]) => key)).toEqual([]);
    const outerKeys = new Set([...stored.values()].flat().map((record) => record.PartitionKey!));
    expect(outerKeys.size).toBeGreaterThanOrEqual(PARALLELIZATION_FACTOR);

    // The processor: 0 to 2 ms per record, and a transient failure now and then (at most twice per record).
    const random = seededRandom(13);
    const completed: Array<{ key: string; n: number }> = [];
    const failuresOf = new Map<string, number>();
    const inFlightByKey = new Map<string, number>();
    let inFlight = 0;
    let maxInFlight = 0;
    let overlapsWithinKey = 0;
    let processorCalls = 0;
    let wrongKeys = 0;
    const processRecord = async (record: UserRecord) => {
      processorCalls++;
      const { key, n } = JSON.parse(record.data.toString()) as { key: string; n: number };
      if (record.partitionKey !== key) {
        wrongKeys++; // asserted below: an expect here would only fail the record, and Lambda retries it
      }
      const id = `${key}#${n}`;
      if ((inFlightByKey.get(key) ?? 0) > 0) {
        overlapsWithinKey++;
      }
      inFlightByKey.set(key, (inFlightByKey.get(key) ?? 0) + 1);
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      try {
        await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 3)));
        if (random() < 0.03 && (failuresOf.get(id) ?? 0) < 2) {
          failuresOf.set(id, (failuresOf.get(id) ?? 0) + 1);
          throw new Error(`transient failure of ${id}`);
        }
        completed.push({ key, n });
      } finally {
        inFlight--;
        inFlightByKey.set(key, inFlightByKey.get(key)! - 1);
      }
    };
    const consumerEnv = {
      LEASE_TABLE_NAME: PF_TABLE,
      LEASE_OWNER: OWNER,
      RESERVE_MILLIS: '0',
      ORDERING: 'partition-key',
      MAX_CONCURRENCY: '8',
      MAX_PARALLELIZATION_FACTOR: String(PARALLELIZATION_FACTOR),
    };
    const handler = createHandler(processRecord, consumerEnv);
    const stats: LaneStats = { invocations: 0, functionErrors: [], partialFailures: 0, redeliveries: 0, maxInFlightPerShard: 0 };

    // Act: every shard at once, each in PARALLELIZATION_FACTOR lanes.
    await Promise.all(
      shards.map((shardId) =>
        pollShardInLanes(shardId, stored.get(shardId)!, handler, {
          factor: PARALLELIZATION_FACTOR,
          maxBatch: 2,
          redeliverEvery: 4,
          random,
          sourceArn: pfStreamArn,
          stats,
        }),
      ),
    );

    // Assess: the run had what it is meant to have.
    expect(failuresOf.size).toBeGreaterThan(0);
    expect(stats.partialFailures).toBeGreaterThan(0);
    expect(stats.redeliveries).toBeGreaterThan(0);
    expect(stats.functionErrors).toEqual([]);
    expect(wrongKeys).toBe(0);
    expect(stats.maxInFlightPerShard).toBeGreaterThan(1);
    expect(stats.maxInFlightPerShard).toBeLessThanOrEqual(PARALLELIZATION_FACTOR);
    expect(maxInFlight).toBeGreaterThan(PF_SHARDS);
    // Exactly once: every record sent completed once, nothing else completed.
    const counts = new Map<string, number>();
    completed.forEach(({ key, n }) => counts.set(`${key}#${n}`, (counts.get(`${key}#${n}`) ?? 0) + 1));
    expect([...counts].filter(([, times]) => times > 1).map(([id]) => id)).toEqual([]);
    expect(counts.size).toBe(sentCount);
    expect(completed).toHaveLength(sentCount);
    // In order per user partition key, one record of a key at a time.
    expect(overlapsWithinKey).toBe(0);
    for (const [key, count] of positions) {
      expect(completed.filter((record) => record.key === key).map((record) => record.n)).toEqual(
        Array.from({ length: count }, (_, n) => n),
      );
    }
    // The leases hold the progress: each outer key's last user record is covered by the low
    // watermark or by the key's entry, and the checkpoint is never past what the shard holds.
    const leases = new LeaseStore(dynamodb, PF_TABLE);
    for (const shardId of shards) {
      const records = stored.get(shardId)!;
      const lease = (await leases.get(shardId))!;
      expect(lease).toMatchObject({ leaseKey: shardId, leaseOwner: OWNER });
      const lastOfShard = records[records.length - 1];
      if (!['TRIM_HORIZON', 'LATEST'].includes(lease.checkpoint.sequenceNumber)) {
        expect(BigInt(lease.checkpoint.sequenceNumber)).toBeLessThanOrEqual(BigInt(lastOfShard.SequenceNumber!));
      }
      const lastByOuterKey = new Map<string, KinesisRecord>(records.map((record) => [record.PartitionKey!, record]));
      const uncovered = [...lastByOuterKey]
        .filter(([outerKey, record]) => {
          const subs = isAggregated(record.Data!) ? decodeAggregated(record.Data!).length : 1;
          const last = { sequenceNumber: record.SequenceNumber!, subSequenceNumber: subs - 1 };
          const belowWatermark =
            !['TRIM_HORIZON', 'LATEST'].includes(lease.checkpoint.sequenceNumber) && compareExtended(last, lease.checkpoint) <= 0;
          return !belowWatermark && !coveredByEntry(lease.progress?.get(outerKey), BigInt(last.sequenceNumber), last.subSequenceNumber);
        })
        .map(([outerKey]) => outerKey);
      expect(uncovered).toEqual([]);
      const { Item: item } = await dynamodb.send(
        new GetItemCommand({ TableName: PF_TABLE, Key: { leaseKey: { S: shardId } }, ConsistentRead: true }),
      );
      if (item?.progress !== undefined) {
        expect(item.progress.B!.length).toBeLessThanOrEqual(MAX_PROGRESS_BYTES);
      }
    }

    // Act again: a new container (nothing in memory) gets every shard once more, in one batch each,
    // as after a restart of the mapping from its own position: everything is skipped.
    const callsBefore = processorCalls;
    const { resetClients } = await import('../../lambda/shared/clients');
    resetClients();
    const fresh = createHandler(processRecord, consumerEnv);
    for (const shardId of shards) {
      const response = await fresh(
        { Records: stored.get(shardId)!.map((record) => lambdaRecord(shardId, record, pfStreamArn)) },
        lambdaContext(),
      );
      expect(response.batchItemFailures).toEqual([]);
    }
    expect(processorCalls).toBe(callsBefore);
  }, 30_000);
});

/** Waits for the stream to be ACTIVE; answers its ARN. */
async function waitActive(streamName = STREAM): Promise<string> {
  for (;;) {
    const { StreamDescriptionSummary: summary } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
    if (summary?.StreamStatus === 'ACTIVE') {
      return summary.StreamARN!;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The Kinesis records stored on a shard, in order. */
async function storedRecords(shardId: string, streamName = STREAM): Promise<KinesisRecord[]> {
  const out: KinesisRecord[] = [];
  let iterator = (
    await kinesis.send(new GetShardIteratorCommand({ StreamName: streamName, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }))
  ).ShardIterator;
  while (iterator) {
    const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1_000 }));
    out.push(...(page.Records ?? []));
    iterator = (page.Records ?? []).length === 0 ? undefined : page.NextShardIterator;
  }
  return out;
}

/** The user records stored on a shard, aggregates split. */
async function storedUserRecords(shardId: string): Promise<Array<{ partitionKey: string }>> {
  return (await storedRecords(shardId)).flatMap((record) =>
    isAggregated(record.Data!) ? decodeAggregated(record.Data!) : [{ partitionKey: record.PartitionKey! }],
  );
}
