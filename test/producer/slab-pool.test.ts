import { KinesisClient, type PutRecordsCommand, type PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import * as fc from 'fast-check';
import type { ProducerRecord } from '../../lambda/producer/aggregate';
import { DEFAULT_LIMITS } from '../../lambda/producer/limits';
import { kinesisProtocol } from '../../lambda/producer/put-records-codec';
import { SlabPool } from '../../lambda/producer/slab-pool';
import { preparePlan, writeRecords, type WriteOptions } from '../../lambda/producer/writer';
import { ShardMap } from '../../lambda/shared/shard-map';
import { decodeAggregated, isAggregated } from '../../lambda/shared/kpl-codec';
import { FakeKinesis } from './faults/fake-kinesis';
import { evenShards, routeLikeKinesis, usersOf, writerTestOptions } from './fixtures';

const MiB = 1024 * 1024;

describe('SlabPool', () => {
  test('a slab is at least the bytes asked, a power of two from the smallest slab up', () => {
    const pool = new SlabPool(64 * MiB, 64 * 1024);
    expect(pool.lease().slab(1).length).toBe(64 * 1024);
    expect(pool.lease().slab(64 * 1024).length).toBe(64 * 1024);
    expect(pool.lease().slab(64 * 1024 + 1).length).toBe(128 * 1024);
    expect(pool.lease().slab(3 * MiB).length).toBe(4 * MiB);
  });

  test('slabs given back are lent again, the smallest that fits first; a lease never given back lends nothing again', () => {
    // Prepare
    const pool = new SlabPool();
    const first = pool.lease();
    const small = first.slab(100 * 1024);
    const large = first.slab(3 * MiB);
    const kept = pool.lease();
    const neverBack = kept.slab(100 * 1024);

    // Act
    first.release();
    const next = pool.lease();

    // Assess
    expect(pool.pooledBytes).toBe(small.length + large.length);
    expect(next.slab(2 * MiB).buffer).toBe(large.buffer);
    expect(next.slab(10).buffer).toBe(small.buffer);
    expect(next.slab(10).buffer).not.toBe(neverBack.buffer); // kept's slab is still lent
    expect(pool.pooledBytes).toBe(0);
  });

  test('giving a lease back twice gives its slabs back once; a lease given back lends no more', () => {
    // Prepare
    const pool = new SlabPool();
    const lease = pool.lease();
    const slab = lease.slab(1000);

    // Act
    lease.release();
    lease.release();

    // Assess: two leases now get two different slabs, not the one slab twice.
    expect(pool.pooledBytes).toBe(slab.length);
    const a = pool.lease().slab(1000);
    const b = pool.lease().slab(1000);
    expect(a.buffer).toBe(slab.buffer);
    expect(b.buffer).not.toBe(slab.buffer);
    expect(() => lease.slab(10)).toThrow('slab lease used after it was given back');
  });

  test('keeps at most maxPooledBytes, the largest slabs first', () => {
    // Prepare
    const pool = new SlabPool(5 * MiB, 1024 * 1024);
    const lease = pool.lease();
    const sizes = [1, 4, 2, 1].map((mib) => lease.slab(mib * MiB));

    // Act
    lease.release();

    // Assess: of the 8 MiB given back, the 4 MiB slab is kept (it serves any request up to 4 MiB).
    expect(pool.pooledBytes).toBe(4 * MiB);
    const next = pool.lease();
    expect(next.slab(3 * MiB).buffer).toBe(sizes[1].buffer);
  });

  test('no slab is lent to two leases at once, whatever the order of leases, slabs and releases (random interleavings)', () => {
    // Each lease writes its own byte over all it is lent; a slab lent twice at once would show
    // the other lease's byte.
    const op = fc.oneof(
      { arbitrary: fc.record({ kind: fc.constant('open' as const) }), weight: 2 },
      {
        arbitrary: fc.record({ kind: fc.constant('slab' as const), lease: fc.nat(), bytes: fc.integer({ min: 1, max: 300_000 }) }),
        weight: 3,
      },
      { arbitrary: fc.record({ kind: fc.constant('release' as const), lease: fc.nat() }), weight: 1 },
    );
    const maxPooledArb = fc.oneof(fc.constant(64 * MiB), fc.integer({ min: 0, max: 1_000_000 }));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), maxPooledArb, (ops, maxPooled) => {
        const pool = new SlabPool(maxPooled, 4096);
        const live: Array<{ lease: ReturnType<SlabPool['lease']>; mark: number; slabs: Buffer[] }> = [];
        let marks = 0;
        for (const step of ops) {
          if (step.kind === 'open' || live.length === 0) {
            live.push({ lease: pool.lease(), mark: ++marks % 256, slabs: [] });
            continue;
          }
          const holder = live[step.lease % live.length];
          if (step.kind === 'slab') {
            const slab = holder.lease.slab(step.bytes);
            expect(slab.length).toBeGreaterThanOrEqual(step.bytes);
            slab.fill(holder.mark);
            holder.slabs.push(slab);
          } else {
            holder.lease.release();
            live.splice(live.indexOf(holder), 1);
          }
          const lent = new Set<ArrayBufferLike>();
          for (const { mark, slabs } of live) {
            for (const slab of slabs) {
              expect(lent.has(slab.buffer)).toBe(false);
              lent.add(slab.buffer);
              expect(slab.every((byte) => byte === mark)).toBe(true);
            }
          }
          expect(pool.pooledBytes).toBeLessThanOrEqual(maxPooled);
        }
      }),
      { numRuns: 200 },
    );
  });
});

/** A client whose PutRecords answers as Kinesis routes each entry, after `delay`; every entry fails once first when `failFirst`. */
function fakeKinesis(map: ShardMap, sent: PutRecordsCommandInput[], delay: () => Promise<void>, failFirst = false): KinesisClient {
  const route = routeLikeKinesis(() => map);
  const seen = new Set<string>();
  return {
    send: async (command: PutRecordsCommand) => {
      // What the SDK does: the request's bytes are read (serialised) when it is sent.
      const input: PutRecordsCommandInput = {
        ...command.input,
        Records: command.input.Records!.map((entry) => ({ ...entry, Data: Buffer.from(entry.Data!) })),
      };
      sent.push(input);
      await delay();
      const answer = route(input);
      return {
        ...answer,
        Records: answer.Records!.map((result, i) => {
          const id = Buffer.from(input.Records![i].Data!).toString('base64');
          if (failFirst && !seen.has(id)) {
            seen.add(id);
            return { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'slow down' };
          }
          return result;
        }),
      };
    },
  } as unknown as KinesisClient;
}

function writerOptions(client: KinesisClient, map: ShardMap, slabs: SlabPool, overrides: Partial<WriteOptions> = {}): WriteOptions {
  return writerTestOptions({
    client,
    limits: { ...DEFAULT_LIMITS, maxAggregateBytes: 2_000 },
    shardMap: async () => map,
    slabs,
    ...overrides,
  });
}

/** Records whose data names their write and index: `<name>:<index>:` padded with the name's letter. */
function named(name: string, count: number, bytes: number): ProducerRecord[] {
  return Array.from({ length: count }, (_, index) => ({
    index,
    partitionKey: `key-${index % 37}`,
    data: Buffer.from(`${name}:${index}:`.padEnd(bytes, name)),
  }));
}

describe('writes and the slab pool', () => {
  test("a write gives its slabs (and its prepared plan's) back when it returns; the next write is planned in them", async () => {
    // Prepare
    const map = new ShardMap(evenShards(2));
    const slabs = new SlabPool();
    const sent: PutRecordsCommandInput[] = [];
    const client = fakeKinesis(map, sent, async () => undefined);
    const records = named('a', 300, 50);
    const prepared = await preparePlan(records, async () => map, writerOptions(client, map, slabs).limits, slabs);
    const preparedSlab = prepared!.entries[0].data.buffer;

    // Act
    const first = await writeRecords(records, writerOptions(client, map, slabs, { prepared }));
    const pooledAfterFirst = slabs.pooledBytes;
    const next = slabs.lease();
    const reused = next.slab(1).buffer;

    // Assess
    expect(first.written).toHaveLength(300);
    expect(pooledAfterFirst).toBeGreaterThan(0);
    expect(reused).toBe(preparedSlab);
  });

  test('a write that throws keeps its slabs out of the pool (a call of it might still be reading them)', async () => {
    // Prepare
    const map = new ShardMap(evenShards(2));
    const slabs = new SlabPool();
    const client = fakeKinesis(map, [], async () => undefined);
    const onWritten = async (): Promise<boolean> => {
      throw new Error('listener failed');
    };

    // Act
    const write = writeRecords(named('a', 100, 50), writerOptions(client, map, slabs, { onWritten }));

    // Assess
    await expect(write).rejects.toThrow('listener failed');
    expect(slabs.pooledBytes).toBe(0);
  });

  test('writes at once on one pool each send their own bytes, retries too, whatever order their calls answer in (random interleavings)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 10, max: 400 }),
        fc.boolean(),
        async (s, shards, bytes, failFirst) => {
          const map = new ShardMap(evenShards(shards));
          const slabs = new SlabPool();
          const sent: PutRecordsCommandInput[] = [];
          const client = fakeKinesis(map, sent, () => s.schedule(Promise.resolve()), failFirst);
          const names = ['a', 'b', 'c'];
          const writes = names.map((name, i) =>
            s.schedule(Promise.resolve()).then(async () => {
              const records = named(name, 60 + 40 * i, bytes);
              const prepared =
                i === 0 ? await preparePlan(records, async () => map, writerOptions(client, map, slabs).limits, slabs) : undefined;
              return writeRecords(records, writerOptions(client, map, slabs, prepared ? { prepared } : {}));
            }),
          );
          await s.waitFor(Promise.all(writes));
          const outcomes = await Promise.all(writes);

          // Every record of every write acknowledged, and every entry ever sent carried whole
          // records of one write, each with its own bytes.
          outcomes.forEach((outcome, i) => {
            expect(outcome.failed).toEqual([]);
            expect(outcome.written).toHaveLength(60 + 40 * i);
          });
          for (const input of sent) {
            for (const entry of input.Records!) {
              for (const user of usersOf(entry)) {
                const text = Buffer.from(user.data).toString();
                const [name, index] = text.split(':');
                expect(text).toBe(`${name}:${index}:`.padEnd(bytes, name));
                expect(user.partitionKey).toBe(`key-${Number(index) % 37}`);
              }
            }
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('PutRecords bodies in lent memory', () => {
  const fake = new FakeKinesis(2);
  let client: KinesisClient;
  /** The body of every PutRecords the client sent, as the SDK handed it to the transport. */
  const bodies: Uint8Array[] = [];

  beforeAll(async () => {
    const endpoint = await fake.start();
    client = new KinesisClient({
      region: 'us-east-1',
      endpoint,
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler(),
      protocol: kinesisProtocol({ cbor: true }),
    });
    client.middlewareStack.add(
      (next) => async (args) => {
        bodies.push((args.request as { body: Uint8Array }).body);
        return next(args);
      },
      { step: 'finalizeRequest', priority: 'low' },
    );
  });
  afterAll(async () => {
    client.destroy();
    await fake.stop();
  });

  /** The user records the fake stored from entry `from` to entry `to`, as `<name>:<index>` texts, sorted. */
  const storedUsers = (from: number, to = fake.stored.length): string[] =>
    fake.stored
      .slice(from, to)
      .flatMap(({ data, partitionKey }) =>
        (isAggregated(data) ? decodeAggregated(data) : [{ data, partitionKey }]).map(
          (user) => Buffer.from(user.data).toString().split('/')[0],
        ),
      )
      .sort();

  test('a write sends its CBOR bodies from its lease; once it returns, the next write on the pool sends its own bytes from the same memory', async () => {
    // Prepare
    const map = new ShardMap(fake.shards.map(({ shardId, start, end }) => ({ shardId, start, end })));
    const slabs = new SlabPool();
    const lent: ArrayBufferLike[] = [];
    const take = slabs.take.bind(slabs);
    slabs.take = (bytes: number): Buffer => {
      const slab = take(bytes);
      lent.push(slab.buffer);
      return slab;
    };
    const write = (name: string) =>
      writeRecords(
        Array.from({ length: 400 }, (_, index) => ({
          index,
          partitionKey: `key-${index % 23}`,
          data: `${name}:${index}/`.padEnd(60, name),
        })),
        writerOptions(client, map, slabs),
      );

    // Act
    const first = await write('a');
    const firstBodies = bodies.splice(0);
    const storedBefore = fake.stored.length;
    const second = await write('b');
    const secondBodies = bodies.splice(0);

    // Assess: every body in memory the pool lent, the second write's in the first one's memory,
    // and each write stored exactly its own records.
    expect(first.failed).toEqual([]);
    expect(second.failed).toEqual([]);
    expect(firstBodies.length).toBeGreaterThan(0);
    for (const body of [...firstBodies, ...secondBodies]) {
      expect(lent).toContain(body.buffer);
    }
    const firstMemory = firstBodies.map((body) => body.buffer);
    for (const body of secondBodies) {
      expect(firstMemory).toContain(body.buffer); // the same memory (identity), not equal bytes
    }
    const indices = Array.from({ length: 400 }, (_, index) => index);
    expect(storedUsers(0, storedBefore)).toEqual(indices.map((i) => `a:${i}`).sort());
    expect(storedUsers(storedBefore)).toEqual(indices.map((i) => `b:${i}`).sort());
  });
});
