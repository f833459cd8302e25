import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { consumeBatch, type RecordProcessor } from '../../lambda/consumer/consumer';
import { encodeAggregated } from '../helpers/kpl-encoder';
import { LeaseStore } from '../../lambda/shared/lease-store';
import { startDynalite, type Dynalite } from '../scaler/emulators';
import { kinesisRecord, lambdaContext, SEQ_BASE } from '../consumer/factories';

let dynalite: Dynalite;
let client: DynamoDBClient;
let leases: LeaseStore;

beforeAll(async () => {
  dynalite = await startDynalite();
  client = new DynamoDBClient({
    endpoint: dynalite.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestHandler: new NodeHttpHandler(),
  });
  await client.send(
    new CreateTableCommand({
      TableName: 'leases',
      KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  leases = new LeaseStore(client, 'leases');
});

afterAll(async () => {
  client.destroy();
  await dynalite.stop();
});

function batchOn(shardId: string) {
  const aggregate = encodeAggregated(['a', 'b', 'c', 'd'].map((value) => ({ partitionKey: value, data: Buffer.from(value) })));
  return [
    kinesisRecord('p1', { offset: 1, shardId }),
    kinesisRecord(aggregate, { offset: 2, shardId }),
    kinesisRecord('p3', { offset: 3, shardId }),
  ];
}

describe('consumer checkpoints on dynalite', () => {
  test.each([
    // Per key: the failed key stops alone, d and p3 go on, and the retry runs c only.
    ['partition-key', 'shardId-000000000001', ['p1', 'a', 'b', 'd', 'p3', 'c'], { duplicatesSkipped: 4, userRecords: 1 }],
    // Per shard: the shard stops at c, and the retry runs c, d and p3.
    ['shard', 'shardId-000000000003', ['p1', 'a', 'b', 'c', 'd', 'p3'], { duplicatesSkipped: 2, userRecords: 3 }],
  ] as const)(
    'with %s ordering, a partial failure inside an aggregate, its retry and a redelivery process each user record exactly once',
    async (ordering, shardId, order, retried) => {
      // Prepare
      const seen: string[] = [];
      let failures = 0;
      const processRecord: RecordProcessor = async (record) => {
        if (record.data.toString() === 'c' && failures++ === 0) {
          throw new Error('transient');
        }
        seen.push(record.data.toString());
      };
      const deps = { processRecord, owner: 'fn', leases, ordering };
      const batch = batchOn(shardId);
      // Act
      const first = await consumeBatch(batch, lambdaContext(), deps);
      const failedAt = first.response.batchItemFailures[0].itemIdentifier;
      const retry = await consumeBatch(
        batch.filter((r) => BigInt(r.kinesis.sequenceNumber) >= BigInt(failedAt)),
        lambdaContext(),
        deps,
      );
      const redelivery = await consumeBatch(batch, lambdaContext(), deps);
      // Assess
      expect(failedAt).toBe(String(SEQ_BASE + 2n));
      expect(seen).toEqual(order);
      expect(retry.shards[0]).toMatchObject(retried);
      expect(redelivery.shards[0]).toMatchObject({
        duplicatesSkipped: 6,
        userRecords: 0,
        checkpoint: { sequenceNumber: String(SEQ_BASE + 3n), subSequenceNumber: 0 },
      });
      expect(await leases.get(shardId)).toMatchObject({
        leaseOwner: 'fn',
        checkpoint: { sequenceNumber: String(SEQ_BASE + 3n), subSequenceNumber: 0 },
        progress: undefined,
      });
    },
  );

  test('two invocations racing on one shard leave the furthest checkpoint, never a lower one', async () => {
    // Prepare
    const shardId = 'shardId-000000000002';
    const batch = batchOn(shardId);
    const processRecord: RecordProcessor = async () => new Promise((resolve) => setTimeout(resolve, 5));
    // Act
    const outcomes = await Promise.all([
      consumeBatch(batch, lambdaContext(), { processRecord, owner: 'fn', leases }),
      consumeBatch(batch.slice(0, 2), lambdaContext(), { processRecord, owner: 'fn', leases }),
    ]);
    // Assess
    expect(outcomes.map((o) => o.response.batchItemFailures)).toEqual([[], []]);
    expect((await leases.get(shardId))?.checkpoint).toEqual({ sequenceNumber: String(SEQ_BASE + 3n), subSequenceNumber: 0 });
  });
});
