/**
 * Lease items after a split and a merge, on kinesis-local (ListShards by StreamARN) and dynalite,
 * read raw and checked with the KCL's attribute names and types as its DynamoDBLeaseSerializer
 * writes and reads them (awslabs/amazon-kinesis-client,
 * amazon-kinesis-client/src/main/java/software/amazon/kinesis/leases/dynamodb/DynamoDBLeaseSerializer.java):
 * leaseKey S, leaseOwner S, leaseCounter N, ownerSwitchesSinceCheckpoint N, checkpoint S,
 * checkpointSubSequenceNumber N, parentShardId SS, childShardIds SS, startingHashKey S,
 * endingHashKey S (decimal BigInteger). Also: two consumer applications on one table.
 */
import { CreateTableCommand, DynamoDBClient, GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  MergeShardsCommand,
  PutRecordCommand,
  SplitShardCommand,
} from '@aws-sdk/client-kinesis';
import type { KinesisStreamRecord } from 'aws-lambda';
import { consumeBatch, type RecordProcessor } from '../../lambda/consumer/consumer';
import { ShardLineageCache } from '../../lambda/consumer/lineage';
import { LeaseApplicationMismatchError, LeaseStore } from '../../lambda/shared/lease-store';
import { listShards } from '../../lambda/shared/shard-map';
import { startDynalite, startKinesisLocal, type Dynalite, type KinesisLocal } from '../scaler/emulators';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { lambdaContext } from '../consumer/factories';

const localClientConfig = (endpoint: string) => ({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  requestHandler: new NodeHttpHandler(),
});

jest.setTimeout(120_000);

let kinesisLocal: KinesisLocal;
let dynalite: Dynalite;
let kinesis: KinesisClient;
let dynamo: DynamoDBClient;

beforeAll(async () => {
  [kinesisLocal, dynalite] = await Promise.all([startKinesisLocal({ updateShardCountMs: 100 }), startDynalite()]);
  kinesis = new KinesisClient(localClientConfig(kinesisLocal.endpoint));
  dynamo = new DynamoDBClient(localClientConfig(dynalite.endpoint));
  for (const table of ['lineage', 'shared']) {
    await dynamo.send(
      new CreateTableCommand({
        TableName: table,
        KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  }
});

afterAll(async () => {
  kinesis?.destroy();
  dynamo?.destroy();
  await Promise.all([kinesisLocal?.stop(), dynalite?.stop()]);
});

async function active(stream: string): Promise<string> {
  for (;;) {
    const summary = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
    if (summary.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') {
      return summary.StreamDescriptionSummary.StreamARN!;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Every record of a shard, as Lambda would deliver them. */
async function lambdaRecords(stream: string, streamArn: string, shardId: string): Promise<KinesisStreamRecord[]> {
  const { ShardIterator } = await kinesis.send(
    new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
  );
  const { Records = [] } = await kinesis.send(new GetRecordsCommand({ ShardIterator }));
  return Records.map((r) => ({
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${r.SequenceNumber!}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::000000000000:role/consumer',
    awsRegion: 'us-east-1',
    eventSourceARN: streamArn,
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: r.PartitionKey!,
      sequenceNumber: r.SequenceNumber!,
      data: Buffer.from(r.Data!).toString('base64'),
      approximateArrivalTimestamp: (r.ApproximateArrivalTimestamp?.getTime() ?? 0) / 1000,
    },
  }));
}

/** The KCL's view of a lease item: its attribute names with the types its serializer reads. */
function asKcl(item: Record<string, AttributeValue>) {
  return {
    leaseKey: item.leaseKey?.S,
    leaseOwner: item.leaseOwner?.S,
    leaseCounter: item.leaseCounter?.N,
    ownerSwitchesSinceCheckpoint: item.ownerSwitchesSinceCheckpoint?.N,
    checkpoint: item.checkpoint?.S,
    checkpointSubSequenceNumber: item.checkpointSubSequenceNumber?.N,
    parentShardId: item.parentShardId?.SS,
    childShardIds: item.childShardIds?.SS,
    startingHashKey: item.startingHashKey?.S,
    endingHashKey: item.endingHashKey?.S,
  };
}

describe('consumer leases across a split and a merge (kinesis-local, dynalite)', () => {
  test('every lease carries the KCL hash range and parent shard ids as the KCL reads them; closed shards their children', async () => {
    // Prepare: a stream of 2 shards, shard 0 split (2, 3), then 2 and 3 merged (4); a record on each shard of the lineage
    const stream = 'lineage';
    await kinesis.send(new CreateStreamCommand({ StreamName: stream, ShardCount: 2 }));
    const streamArn = await active(stream);
    const put = (hashKey: string, data: string) =>
      kinesis.send(new PutRecordCommand({ StreamName: stream, PartitionKey: data, ExplicitHashKey: hashKey, Data: Buffer.from(data) }));
    await put('1', 'on-0');
    await kinesis.send(
      new SplitShardCommand({
        StreamName: stream,
        ShardToSplit: 'shardId-000000000000',
        NewStartingHashKey: '85070591730234615865843651857942052864',
      }),
    );
    await active(stream);
    await put('1', 'on-2');
    await put('85070591730234615865843651857942052864', 'on-3');
    await kinesis.send(
      new MergeShardsCommand({ StreamName: stream, ShardToMerge: 'shardId-000000000002', AdjacentShardToMerge: 'shardId-000000000003' }),
    );
    await active(stream);
    await put('1', 'on-4');
    const leases = new LeaseStore(dynamo, 'lineage', { applicationName: 'lineage-app' });
    const cache = new ShardLineageCache(() => listShards(kinesis, streamArn));
    const seen: string[] = [];
    const processRecord: RecordProcessor = async (record) => {
      seen.push(record.data.toString());
    };
    const shards = ['shardId-000000000000', 'shardId-000000000002', 'shardId-000000000003', 'shardId-000000000004'];
    // Act: the consumer takes each shard's records in lineage order, as Lambda delivers them
    for (const shardId of shards) {
      const outcome = await consumeBatch(await lambdaRecords(stream, streamArn, shardId), lambdaContext(), {
        processRecord,
        owner: 'fn',
        leases,
        shardLineage: (id, fresh) => cache.get(id, fresh),
      });
      expect(outcome.response.batchItemFailures).toEqual([]);
    }
    // Assess: read raw, as the KCL reads them
    const listed = new Map(
      ((await kinesis.send(new ListShardsCommand({ StreamARN: streamArn }))).Shards ?? []).map((s) => [s.ShardId!, s]),
    );
    const items = new Map<string, ReturnType<typeof asKcl>>();
    for (const shardId of shards) {
      const { Item } = await dynamo.send(
        new GetItemCommand({ TableName: 'lineage', Key: { leaseKey: { S: shardId } }, ConsistentRead: true }),
      );
      expect(Item?.applicationName).toEqual({ S: 'lineage-app' });
      expect(Item?.leaseCounter?.N).toMatch(/^\d+$/);
      expect(Item?.checkpoint?.S).toMatch(/^\d+$/);
      items.set(shardId, asKcl(Item!));
      expect(items.get(shardId)).toMatchObject({
        leaseKey: shardId,
        leaseOwner: 'fn',
        ownerSwitchesSinceCheckpoint: '0',
        checkpointSubSequenceNumber: '0',
        startingHashKey: listed.get(shardId)!.HashKeyRange!.StartingHashKey,
        endingHashKey: listed.get(shardId)!.HashKeyRange!.EndingHashKey,
      });
    }
    expect(seen).toEqual(['on-0', 'on-2', 'on-3', 'on-4']);
    expect(items.get('shardId-000000000000')).toMatchObject({
      parentShardId: undefined,
      childShardIds: ['shardId-000000000002', 'shardId-000000000003'],
    });
    expect(items.get('shardId-000000000002')).toMatchObject({
      parentShardId: ['shardId-000000000000'],
      childShardIds: ['shardId-000000000004'],
    });
    expect(items.get('shardId-000000000003')).toMatchObject({
      parentShardId: ['shardId-000000000000'],
      childShardIds: ['shardId-000000000004'],
    });
    expect(items.get('shardId-000000000004')).toMatchObject({
      parentShardId: ['shardId-000000000002', 'shardId-000000000003'],
      childShardIds: undefined,
    });
    // kinesis-local reports 2^63 - 1 as every closed shard's end (below its start): never relied on, so no SHARD_END.
    expect([...items.values()].map((item) => item.checkpoint)).not.toContain('SHARD_END');
  });
});

describe('two consumer applications on one lease table (dynalite)', () => {
  test('the second application is refused at its first lease read, with table, lease and both names; it processes and skips nothing', async () => {
    // Prepare
    const billing = new LeaseStore(dynamo, 'shared', { applicationName: 'billing' });
    const analytics = new LeaseStore(dynamo, 'shared', { applicationName: 'analytics' });
    const billed: string[] = [];
    const analysed: string[] = [];
    const batch = ['r1', 'r2', 'r3'].map((data, i): KinesisStreamRecord => ({
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `shardId-000000000000:${1000 + i}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: 'arn',
      awsRegion: 'us-east-1',
      eventSourceARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/s',
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: data,
        sequenceNumber: String(1000 + i),
        data: Buffer.from(data).toString('base64'),
        approximateArrivalTimestamp: 1,
      },
    }));
    await consumeBatch(batch, lambdaContext(), {
      processRecord: async (r) => {
        billed.push(r.data.toString());
      },
      owner: 'billing-fn',
      leases: billing,
    });
    // Act
    const run = consumeBatch(batch, lambdaContext(), {
      processRecord: async (r) => {
        analysed.push(r.data.toString());
      },
      owner: 'analytics-fn',
      leases: analytics,
    });
    // Assess
    await expect(run).rejects.toThrow(LeaseApplicationMismatchError);
    await expect(run).rejects.toThrow(
      /lease shardId-000000000000 in table shared belongs to consumer application 'billing', not to this one \('analytics'\)/,
    );
    expect(billed).toEqual(['r1', 'r2', 'r3']);
    expect(analysed).toEqual([]);
    const { Item } = await dynamo.send(new GetItemCommand({ TableName: 'shared', Key: { leaseKey: { S: 'shardId-000000000000' } } }));
    expect(Item).toMatchObject({ applicationName: { S: 'billing' }, leaseOwner: { S: 'billing-fn' }, checkpoint: { S: '1002' } });
  });
});
