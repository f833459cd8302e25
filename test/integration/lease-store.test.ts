import { CreateTableCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { LeaseLostError, LeaseStore } from '../../lambda/shared/lease-store';
import { startDynalite, type Dynalite } from '../scaler/emulators';

let dynalite: Dynalite;
let client: DynamoDBClient;
let store: LeaseStore;
const TABLE = 'leases';

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
      TableName: TABLE,
      KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  store = new LeaseStore(client, TABLE);
});

afterAll(async () => {
  client.destroy();
  await dynalite.stop();
});

describe('LeaseStore on dynalite', () => {
  test('creates, takes and checkpoints with the counter going up by one each time', async () => {
    // Prepare
    const created = await store.create('shardId-000000000000', 'a');
    // Act
    const taken = await store.take(created, 'b');
    const checkpointed = await store.checkpoint(taken, {
      sequenceNumber: '4959033827149025660855969253836157109592157598913658',
      subSequenceNumber: 4,
    });
    // Assess
    const stored = await store.get('shardId-000000000000');
    expect(stored).toEqual(checkpointed);
    expect(stored).toMatchObject({
      leaseOwner: 'b',
      leaseCounter: 3,
      ownerSwitchesSinceCheckpoint: 0,
      checkpoint: { sequenceNumber: '4959033827149025660855969253836157109592157598913658', subSequenceNumber: 4 },
    });
    expect(taken.ownerSwitchesSinceCheckpoint).toBe(1);
  });

  test('of two racing creates exactly one wins, the other learns it lost', async () => {
    // Act
    const results = await Promise.allSettled([store.create('race-create', 'a'), store.create('race-create', 'b')]);
    // Assess
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(LeaseLostError);
    expect((lost.reason as LeaseLostError).operation).toBe('create');
  });

  test('of two writers checkpointing or taking from the same counter exactly one wins', async () => {
    // Prepare
    const lease = await store.create('race-write', 'a');
    // Act
    const results = await Promise.allSettled([
      store.checkpoint(lease, { sequenceNumber: '100', subSequenceNumber: 0 }),
      store.take(lease, 'b'),
      store.checkpoint(lease, { sequenceNumber: '200', subSequenceNumber: 0 }),
    ]);
    // Assess
    const won = results.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<unknown>[];
    expect(won).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').every((r) => r.reason instanceof LeaseLostError)).toBe(true);
    expect(await store.get('race-write')).toEqual(won[0].value);
  });

  test('a stale lease (old counter or another owner) cannot checkpoint', async () => {
    // Prepare
    const lease = await store.create('stale', 'a');
    const takenByB = await store.take(lease, 'b');
    // Act / Assess
    await expect(store.checkpoint(lease, { sequenceNumber: '1', subSequenceNumber: 0 })).rejects.toBeInstanceOf(LeaseLostError);
    await expect(store.checkpoint({ ...takenByB, leaseOwner: 'a' }, { sequenceNumber: '1', subSequenceNumber: 0 })).rejects.toBeInstanceOf(
      LeaseLostError,
    );
    expect((await store.get('stale'))?.checkpoint.sequenceNumber).toBe('TRIM_HORIZON');
  });

  test('keeps the per-key progress beside the KCL checkpoint as a binary attribute, and removes it when empty', async () => {
    // Prepare
    const lease = await store.create('with-progress', 'a');
    const progress = new Map([
      [
        'group-7',
        {
          upTo: { sequence: 49590338271490256608559692538361571095921575989136588800n, sub: 3 },
          runs: [
            {
              from: { sequence: 49590338271490256608559692538361571095921575989136588900n, sub: 0 },
              to: { sequence: 49590338271490256608559692538361571095921575989136588900n, sub: 9 },
            },
          ],
          seenAt: 1_700_000_000_000,
        },
      ],
    ]);
    // Act
    const written = await store.checkpoint(
      lease,
      { sequenceNumber: '49590338271490256608559692538361571095921575989136588700', subSequenceNumber: 0 },
      progress,
    );
    const read = await store.get('with-progress');
    const { Item } = await client.send(new GetItemCommand({ TableName: TABLE, Key: { leaseKey: { S: 'with-progress' } } }));
    const cleared = await store.checkpoint(
      written,
      { sequenceNumber: '49590338271490256608559692538361571095921575989136588901', subSequenceNumber: 0 },
      new Map(),
    );
    // Assess
    expect(read?.progress).toEqual(progress);
    expect(Item?.progress?.B).toBeInstanceOf(Uint8Array);
    expect(Item?.checkpoint).toEqual({ S: '49590338271490256608559692538361571095921575989136588700' });
    expect((await store.get('with-progress'))?.progress).toBeUndefined();
    expect(cleared.progress).toBeUndefined();
  });
});
