import { CreateTableCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { ProgressStatus, ProgressStore, WrittenSet } from '../../lambda/producer/progress-store';
import { localClientConfig, startDynalite, type Emulator } from '../helpers/emulators';

let dynalite: Emulator;
let client: DynamoDBClient;
let store: ProgressStore;
const TABLE = 'progress';

beforeAll(async () => {
  dynalite = await startDynalite();
  client = new DynamoDBClient(localClientConfig(dynalite.endpoint));
  await client.send(
    new CreateTableCommand({
      TableName: TABLE,
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  store = new ProgressStore({ client, tableName: TABLE, windowSeconds: 3600 });
}, 30_000);

afterAll(async () => {
  client.destroy();
  await dynalite.stop();
});

const item = async (id: string) =>
  (await client.send(new GetItemCommand({ TableName: TABLE, Key: { id: { S: id } }, ConsistentRead: true }))).Item;
const setOf = (count: number, indices: number[]) => {
  const set = WrittenSet.empty(count);
  indices.forEach((i) => set.add(i));
  return set;
};

describe('WrittenSet', () => {
  test('counts what it holds: bits read from the table, then indices added, each once however often (random sets)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), fc.array(fc.nat({ max: 319 }), { maxLength: 200 }), (stored, added) => {
        const set = new WrittenSet(Buffer.from(stored));
        const held = new Set([...Array(stored.length * 8).keys()].filter((i) => (stored[i >> 3] & (1 << (i & 7))) !== 0));
        expect(set.count()).toBe(held.size);
        for (const index of added.filter((i) => i < stored.length * 8)) {
          set.add(index);
          held.add(index);
          expect(set.has(index)).toBe(true);
          expect(set.count()).toBe(held.size);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('ProgressStore on dynalite', () => {
  test('a new request is claimed without a bitmap (nothing written), and COMPLETE drops the bitmap: the next delivery finds it complete', async () => {
    // Act
    const claim = await store.claim('invoke#one-round', '-', 20_000, 'owner-a', Date.now() + 60_000);
    const stored = await item('invoke#one-round');
    const saved = await store.save('invoke#one-round', 'owner-a', setOf(20_000, [0, 19_999]), {
      status: ProgressStatus.COMPLETE,
      failed: '{}',
    });
    const done = await item('invoke#one-round');
    const again = await store.claim('invoke#one-round', '-', 20_000, 'owner-b', Date.now() + 60_000);

    // Assess
    expect(claim.kind).toBe('claimed');
    expect(claim.kind === 'claimed' && claim.written.count()).toBe(0);
    expect(stored?.written).toBeUndefined();
    expect(saved).toBe(true);
    expect(done?.status?.S).toBe(ProgressStatus.COMPLETE);
    expect(done?.written).toBeUndefined();
    expect(again).toEqual({ kind: 'complete', recordCount: 20_000 });
  });

  test('PARTIAL keeps the bitmap and the failures; the next delivery claims it with the written indices', async () => {
    // Prepare
    await store.claim('invoke#partial', '-', 10, 'owner-a', Date.now() + 60_000);
    expect(await store.save('invoke#partial', 'owner-a', setOf(10, [1, 2]))).toBe(true);

    // Act
    const saved = await store.save('invoke#partial', 'owner-a', setOf(10, [1, 2, 5]), {
      status: ProgressStatus.PARTIAL,
      failed: '{"ProvisionedThroughputExceededException":"0,3-4,6-9"}',
    });
    const stored = await item('invoke#partial');
    const next = await store.claim('invoke#partial', '-', 10, 'owner-b', Date.now() + 60_000);

    // Assess
    expect(saved).toBe(true);
    expect(stored?.failed?.S).toBe('{"ProvisionedThroughputExceededException":"0,3-4,6-9"}');
    expect(next.kind).toBe('claimed');
    expect(next.kind === 'claimed' && [...Array(10).keys()].filter((i) => next.written.has(i))).toEqual([1, 2, 5]);
  });

  test('a save by an owner whose lease was taken saves nothing, COMPLETE included', async () => {
    // Prepare
    await store.claim('invoke#taken', '-', 4, 'owner-a', Date.now() - 1); // lease already over
    await store.claim('invoke#taken', '-', 4, 'owner-b', Date.now() + 60_000);

    // Act
    const late = await store.save('invoke#taken', 'owner-a', setOf(4, [0, 1, 2, 3]), { status: ProgressStatus.COMPLETE, failed: '{}' });

    // Assess
    expect(late).toBe(false);
    expect((await item('invoke#taken'))?.status?.S).toBe(ProgressStatus.IN_PROGRESS);
  });

  test('a claimed request refused for its input becomes REFUSED (lease released); the next delivery finds the refusal', async () => {
    // Prepare
    await store.claim('invoke#refused', '-', 2, 'owner-a', Date.now() + 60_000);

    // Act
    const recorded = await store.refuseClaimed('invoke#refused', 'owner-a', 'invalid producer request: record 1: data is required');
    const stored = await item('invoke#refused');
    const next = await store.claim('invoke#refused', '-', 2, 'owner-b', Date.now() + 60_000);
    const again = await store.refuse('invoke#refused', 'x');

    // Assess
    expect(recorded).toBe(true);
    expect(stored?.status?.S).toBe(ProgressStatus.REFUSED);
    expect(stored?.owner).toBeUndefined();
    expect(next).toEqual({ kind: 'refused', errors: 'invalid producer request: record 1: data is required' });
    expect(again).toBe('again');
  });
});
