import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand, DescribeStreamSummaryCommand, GetRecordsCommand, GetShardIteratorCommand, KinesisClient, ListShardsCommand, PutRecordsCommand,
  SplitShardCommand, type _Record as KinesisRecord,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import * as http from 'http';
import type * as net from 'net';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import type { UserRecord } from '../../lambda/shared/deaggregate';
import { hashKeyOf } from '../../lambda/shared/hash-key';
import { decodeAggregated, isAggregated } from '../../lambda/shared/kpl-codec';
import { LeaseStore } from '../../lambda/shared/lease-store';
import { compareExtended } from '../../lambda/shared/sequence-number';
import { startDynalite, startKinesalite, type Emulator } from '../../scripts/local/emulators';
import { lambdaContext } from '../consumer/factories';

/**
 * End to end on kinesalite + dynalite: the producer handler writes (KPL-aggregated) records, a
 * small poller stands in for the Lambda event-source mapping (batches per shard, retry from the
 * reported sequence number, and whole batches delivered twice), and the consumer handler must see
 * every user record exactly once, in order per shard, with the checkpoint at each shard's end.
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
let arnProxy: http.Server;
let arnProxyEndpoint: string;
let kinesis: KinesisClient;
let dynamodb: DynamoDBClient;
let streamArn: string;
const savedEnv = { ...process.env };

beforeAll(async () => {
  [kinesalite, dynalite] = await Promise.all([startKinesalite(), startDynalite()]);
  [arnProxy, arnProxyEndpoint] = await startArnProxy(kinesalite.endpoint);
  kinesis = new KinesisClient({ endpoint: kinesalite.endpoint, region: REGION, credentials: CREDENTIALS, requestHandler: new NodeHttpHandler() });
  dynamodb = new DynamoDBClient({ endpoint: dynalite.endpoint, region: REGION, credentials: CREDENTIALS, requestHandler: new NodeHttpHandler() });
  await kinesis.send(new CreateStreamCommand({ StreamName: STREAM, ShardCount: 3 }));
  await dynamodb.send(new CreateTableCommand({
    TableName: TABLE,
    KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
    AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
    BillingMode: 'PAY_PER_REQUEST',
  }));
  for (;;) {
    const { StreamDescriptionSummary: summary } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: STREAM }));
    if (summary?.StreamStatus === 'ACTIVE') {
      streamArn = summary.StreamARN!;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  Object.assign(process.env, {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_KINESIS: arnProxyEndpoint,
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
  await new Promise((resolve) => {
    arnProxy.close(resolve);
    arnProxy.closeAllConnections();
  });
  await Promise.all([kinesalite.stop(), dynalite.stop()]);
});

/**
 * kinesalite (3.3.3) predates the StreamARN parameter (which the producer may send): this
 * loopback proxy rewrites `StreamARN` into `StreamName` and forwards everything else unchanged.
 */
async function startArnProxy(target: string): Promise<[http.Server, string]> {
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      if (typeof body.StreamARN === 'string') {
        body.StreamName ??= body.StreamARN.slice(body.StreamARN.lastIndexOf('/') + 1);
        delete body.StreamARN;
      }
      const payload = Buffer.from(JSON.stringify(body));
      const headers = { ...request.headers, 'content-length': String(payload.length) };
      const forward = http.request(`${target}${request.url ?? '/'}`, { method: request.method, headers }, (answer) => {
        response.writeHead(answer.statusCode ?? 500, answer.headers);
        answer.pipe(response);
      });
      forward.on('error', (error) => response.destroy(error));
      forward.end(payload);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return [server, `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`];
}

/** A Lambda Kinesis event record of a record GetRecords returned. */
function lambdaRecord(shardId: string, record: KinesisRecord): KinesisStreamRecord {
  return {
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${record.SequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::000000000000:role/consumer',
    awsRegion: REGION,
    eventSourceARN: streamArn,
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
  let iterator = (await kinesis.send(new GetShardIteratorCommand({ StreamName: STREAM, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
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
      ? (await kinesis.send(new GetShardIteratorCommand({ StreamName: STREAM, ShardId: shardId, ShardIteratorType: 'AT_SEQUENCE_NUMBER', StartingSequenceNumber: failure }))).ShardIterator
      : page.NextShardIterator;
  }
  return { invocations, lastSequenceNumber };
}

describe('producer handler to consumer handler on kinesalite and dynalite', () => {
  test('every user record is processed exactly once, in order per shard, with the checkpoint at each shard end', async () => {
    // Prepare: the producer handler writes 240 records (aggregated), plus 12 plain records put directly.
    const { handler: produce } = await import('../../lambda/producer/index');
    const { createHandler } = await import('../../lambda/consumer/handler');
    const sent: string[] = [];
    for (let call = 0; call < 4; call++) {
      const records = Array.from({ length: 60 }, (_, i) => ({ data: { n: call * 60 + i }, partitionKey: `device-${(call * 60 + i) % 17}` }));
      sent.push(...records.map((record) => JSON.stringify(record.data)));
      const result = await produce({ records }, lambdaContext()) as { writtenCount: number };
      expect(result.writtenCount).toBe(60);
    }
    const plain = Array.from({ length: 12 }, (_, i) => ({ Data: Buffer.from(JSON.stringify({ plain: i })), PartitionKey: `plain-${i}` }));
    await kinesis.send(new PutRecordsCommand({ StreamName: STREAM, Records: plain }));
    sent.push(...plain.map((record) => record.Data.toString()));

    const seen: UserRecord[] = [];
    let failOnce = true;
    const handler = createHandler(async (record) => {
      // The 50th user record fails once: the shard stops there and Lambda retries from it.
      if (failOnce && seen.length === 49) {
        failOnce = false;
        throw new Error('transient failure');
      }
      seen.push({ ...record, data: Buffer.from(record.data) });
    }, { LEASE_TABLE_NAME: TABLE, LEASE_OWNER: OWNER, RESERVE_MILLIS: '0' });

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
      expect(lease).toMatchObject({ leaseKey: shardId, leaseOwner: OWNER, checkpoint: { sequenceNumber: last.sequenceNumber, subSequenceNumber: last.subSequenceNumber } });
    }
  }, 30_000);

  test('across a split the producer did not know of, a consumer skipping out-of-range records processes each user record exactly once', async () => {
    // Prepare: the producer's cached map still has the three shards of the first test; split the lowest now.
    const { handler: produce } = await import('../../lambda/producer/index');
    const { createHandler } = await import('../../lambda/consumer/handler');
    const before = (await kinesis.send(new ListShardsCommand({ StreamName: STREAM }))).Shards!;
    const lowest = before.find((shard) => shard.HashKeyRange!.StartingHashKey === '0')!;
    await kinesis.send(new SplitShardCommand({ StreamName: STREAM, ShardToSplit: lowest.ShardId, NewStartingHashKey: (BigInt(lowest.HashKeyRange!.EndingHashKey!) / 2n).toString() }));
    await waitActive();
    const records = Array.from({ length: 300 }, (_, i) => ({ data: { split: i }, partitionKey: `sensor-${i % 41}` }));
    const result = await produce({ records }, lambdaContext()) as { writtenCount: number };
    expect(result.writtenCount).toBe(300);
    const sent = records.map((record) => JSON.stringify(record.data));

    const seen: UserRecord[] = [];
    const handler = createHandler(async (record) => {
      seen.push({ ...record, data: Buffer.from(record.data) });
    }, { LEASE_TABLE_NAME: TABLE, LEASE_OWNER: OWNER, RESERVE_MILLIS: '0', OUT_OF_RANGE_RECORDS: 'skip', STREAM_NAME: STREAM });

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

async function waitActive(): Promise<void> {
  for (;;) {
    const { StreamDescriptionSummary: summary } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: STREAM }));
    if (summary?.StreamStatus === 'ACTIVE') {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The user records stored on a shard, aggregates split. */
async function storedUserRecords(shardId: string): Promise<Array<{ partitionKey: string }>> {
  const out: Array<{ partitionKey: string }> = [];
  let iterator = (await kinesis.send(new GetShardIteratorCommand({ StreamName: STREAM, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
  while (iterator) {
    const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1_000 }));
    for (const record of page.Records ?? []) {
      out.push(...(isAggregated(record.Data!) ? decodeAggregated(record.Data!) : [{ partitionKey: record.PartitionKey! }]));
    }
    iterator = (page.Records ?? []).length === 0 ? undefined : page.NextShardIterator;
  }
  return out;
}
