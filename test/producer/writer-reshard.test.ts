import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import type { ProducerRecord } from '../../lambda/producer/aggregate';
import { DEFAULT_LIMITS, DEFAULT_ORDERING_GROUPS } from '../../lambda/producer/limits';
import { outerKeyOf } from '../../lambda/producer/ordering';
import { writeRecords, type WriteOptions } from '../../lambda/producer/writer';
import { MAX_HASH_KEY, inHashRange, routingHashKey } from '../../lambda/shared/hash-key';
import { decodeAggregated, isAggregated } from '../../lambda/shared/kpl-codec';
import { TimeBudget } from '../../lambda/shared/retry';
import { ShardMap, type ShardRange } from '../../lambda/shared/shard-map';
import { isLoneEntry, routeLikeKinesis, userRecords, usersOf, writerTestOptions, type StoredEntry } from './fixtures';

/**
 * A split between loading the shard map and writing: the aggregate planned for the parent is
 * stored on the child that owns its ExplicitHashKey, which does not own every record inside. A
 * KCL consumer keeps only the records its shard owns, so those the child does not own must be
 * sent again, and only those: every record is then delivered exactly once to a KCL consumer.
 * With ordering groups and without: a record that goes alone is routed by its own hash key.
 */
const kinesis = mockClient(KinesisClient);
const MID = (MAX_HASH_KEY + 1n) / 2n;
const PARENT: ShardRange = { shardId: 'shardId-000000000000', start: 0n, end: MAX_HASH_KEY };
const LOW: ShardRange = { shardId: 'shardId-000000000001', start: 0n, end: MID - 1n };
const HIGH: ShardRange = { shardId: 'shardId-000000000002', start: MID, end: MAX_HASH_KEY };
const BEFORE = new ShardMap([PARENT]);
/** After the split: the children open, the parent closed but still listed. */
const AFTER = new ShardMap([LOW, HIGH], [PARENT]);

let limits = DEFAULT_LIMITS;

function options(overrides: Partial<WriteOptions>): WriteOptions {
  return writerTestOptions({
    client: new KinesisClient({ region: 'us-east-1' }),
    limits: { ...limits, maxAggregateBytes: 50_000 },
    shardMap: async () => BEFORE,
    ...overrides,
  });
}

/** The request indices a KCL consumer of each shard processes: the records the shard owns, in order. */
function deliveredByKcl(stored: readonly StoredEntry[]): Map<number, number> {
  const copies = new Map<number, number>();
  for (const entry of stored) {
    const shard = AFTER.rangeOf(entry.shardId)!;
    const users = isAggregated(entry.data) ? decodeAggregated(entry.data) : [{ partitionKey: entry.partitionKey, data: entry.data }];
    for (const user of users) {
      if (inHashRange(shard, routingHashKey(user))) {
        const index = Number(Buffer.from(user.data).toString().split(':')[0]);
        copies.set(index, (copies.get(index) ?? 0) + 1);
      }
    }
  }
  return copies;
}

const ownedBy = (shard: ShardRange, records: readonly ProducerRecord[]) =>
  records.filter((r) => inHashRange(shard, routingHashKey(r))).map((r) => r.index);

/** Request indices of the user records in `entries` that share their entry with others. */
const aggregatedIn = (entries: readonly { Data?: Uint8Array }[]) =>
  new Set(
    entries.flatMap((entry) => {
      const users = usersOf(entry);
      return users.length > 1 ? users.map((u) => Number(Buffer.from(u.data).toString().split(':')[0])) : [];
    }),
  );

/**
 * With ordering groups, user records (and their explicit hash keys) of every entry of every
 * request: each under its user key's group key, first sends and re-sends alike.
 */
function expectOuterKeysKept(): void {
  if (limits.orderingGroups === 0) {
    return;
  }
  const entries = kinesis.commandCalls(PutRecordsCommand).flatMap((call) => call.args[0].input.Records!);
  const wrong = entries.flatMap((entry) => usersOf(entry).filter((u) => entry.PartitionKey !== outerKeyOf(u.partitionKey, limits)));
  expect(entries.every((entry) => isAggregated(entry.Data!))).toBe(true);
  expect(wrong).toEqual([]);
}

beforeEach(() => kinesis.reset());

describe.each([
  ['with ordering groups', DEFAULT_ORDERING_GROUPS],
  ['without ordering groups', 0],
])('writeRecords across a split it did not know of (%s)', (_name, orderingGroups) => {
  beforeAll(() => {
    limits = { ...DEFAULT_LIMITS, orderingGroups };
  });

  test('records the landing child owns are written; only the others are re-sent, at once, on the reloaded map', async () => {
    // Prepare: the writer's map still shows the parent; Kinesis has split it.
    const records = userRecords(200, { keys: 40, explicitEvery: 7 });
    const stored: StoredEntry[] = [];
    kinesis.on(PutRecordsCommand).callsFake(routeLikeKinesis(() => AFTER, stored));
    const loads: boolean[] = [];
    const delays: number[] = [];

    // Act
    const outcome = await writeRecords(
      records,
      options({
        shardMap: async (refresh) => {
          loads.push(refresh);
          return loads.length === 1 ? BEFORE : AFTER;
        },
        wait: async (ms) => {
          delays.push(ms);
        },
      }),
    );

    // Assess
    const calls = kinesis.commandCalls(PutRecordsCommand);
    expect(calls).toHaveLength(2);
    // Records that shared an aggregate went to the parent's start (the low child); a record that
    // went alone was routed by its own hash key, so it is where it belongs already.
    const aggregated = aggregatedIn(calls[0].args[0].input.Records!);
    const high = ownedBy(HIGH, records).filter((index) => aggregated.has(index));
    expect(high.length).toBeGreaterThan(50);
    expect(outcome.resentRecords).toBe(high.length);
    expect(outcome.misroutedEntries).toBeGreaterThan(0);
    expect(loads[1]).toBe(true);
    expect(delays).toEqual([]); // re-sends wait for no backoff
    // The second request carries exactly the records the low child does not own, on the high child.
    const resent = calls[1].args[0].input.Records!.flatMap((r) =>
      isAggregated(r.Data!) ? decodeAggregated(r.Data!) : [{ data: r.Data! }],
    );
    expect(resent.map((u) => Number(Buffer.from(u.data).toString().split(':')[0])).sort((a, b) => a - b)).toEqual(high);
    expect(stored.slice(-calls[1].args[0].input.Records!.length).every((entry) => entry.shardId === HIGH.shardId)).toBe(true);
    expect(outcome.written).toEqual(records.map((r) => r.index));
    expect(outcome.failed).toEqual([]);
    const copies = deliveredByKcl(stored);
    expect(records.filter((r) => copies.get(r.index) !== 1)).toEqual([]);
    expectOuterKeysKept();
  });

  test('when the reload fails, every record of a stray aggregate goes again alone, routed by its own hash key: delivered at least once, never lost', async () => {
    // Prepare: ListShards fails, so the writer keeps the old map, which does not know the children.
    const records = userRecords(60, { keys: 12 });
    const stored: StoredEntry[] = [];
    kinesis.on(PutRecordsCommand).callsFake(routeLikeKinesis(() => AFTER, stored));
    let loads = 0;
    const delays: number[] = [];

    // Act
    const outcome = await writeRecords(
      records,
      options({
        shardMap: async (refresh) => {
          loads++;
          if (refresh) {
            // Not retryable: the writer keeps the map it has (a throttled reload is retried, see writer.test.ts).
            throw Object.assign(new Error('not allowed'), { name: 'AccessDeniedException' });
          }
          return loads === 1 ? BEFORE : AFTER;
        },
        wait: async (ms) => {
          delays.push(ms);
        },
      }),
    );

    // Assess
    const calls = kinesis.commandCalls(PutRecordsCommand);
    expect(calls.length).toBeGreaterThanOrEqual(2);
    const strayed = [...aggregatedIn(calls[0].args[0].input.Records!)].sort((a, b) => a - b);
    expect(strayed.length).toBeGreaterThan(40);
    // The re-sends go alone, one entry of a cell at a time (so over several requests).
    const second = calls.slice(1).flatMap((call) => call.args[0].input.Records!);
    expect(second.every((r) => isLoneEntry(r, limits))).toBe(true);
    if (orderingGroups === 0) {
      expect(second.some((r) => r.ExplicitHashKey !== undefined)).toBe(false);
    }
    expect(
      second
        .flatMap(usersOf)
        .map((u) => Number(Buffer.from(u.data).toString().split(':')[0]))
        .sort((a, b) => a - b),
    ).toEqual(strayed);
    expect(delays).toEqual([]); // re-sends wait for no backoff
    expect(outcome.resentRecords).toBe(strayed.length);
    expect(outcome.written).toEqual(records.map((r) => r.index));
    const copies = deliveredByKcl(stored);
    expect(records.filter((r) => (copies.get(r.index) ?? 0) < 1)).toEqual([]);
    expectOuterKeysKept();
  });

  test('records that cannot be re-sent before the time budget ends are reported WrongShard, not written', async () => {
    // Prepare: the budget is spent by the time the first answer is in.
    const records = userRecords(80, { keys: 16 });
    let now = 0;
    const stored: StoredEntry[] = [];
    const route = routeLikeKinesis(() => AFTER, stored);
    kinesis.on(PutRecordsCommand).callsFake((input) => {
      now = 5_000;
      return route(input);
    });

    // Act
    const outcome = await writeRecords(
      records,
      options({
        budget: new TimeBudget(5_100, () => now),
        shardMap: async (refresh) => (refresh ? AFTER : BEFORE),
      }),
    );

    // Assess: the high child's records that shared an aggregate landed on the low child.
    const aggregated = aggregatedIn(kinesis.commandCalls(PutRecordsCommand)[0].args[0].input.Records!);
    const high = ownedBy(HIGH, records).filter((index) => aggregated.has(index));
    expect(high.length).toBeGreaterThan(20);
    expect(outcome.failed.map((f) => f.index)).toEqual(high);
    expect(outcome.failed.every((f) => f.errorCode === 'WrongShard' && /does not own its hash key/.test(f.errorMessage!))).toBe(true);
    expect(outcome.written).toEqual(records.map((r) => r.index).filter((index) => !high.includes(index)));
    expect(outcome.writtenCount).toBe(outcome.written.length);
    expect(outcome.resentRecords).toBe(0);
  });

  test('a record whose re-send lands wrong again (the reloaded map is still stale) goes alone the third time: it ends, nothing is lost', async () => {
    // Prepare: every load answers a map that knows the children's ranges but still routes to the parent.
    const lagging = new ShardMap([PARENT], [LOW, HIGH]);
    const records = userRecords(120, { keys: 30 });
    const stored: StoredEntry[] = [];
    kinesis.on(PutRecordsCommand).callsFake(routeLikeKinesis(() => AFTER, stored));

    // Act
    const outcome = await writeRecords(records, options({ shardMap: async () => lagging }));

    // Assess
    const calls = kinesis.commandCalls(PutRecordsCommand);
    expect(calls.length).toBeGreaterThanOrEqual(3);
    // From the third request on, every entry goes alone (one of a cell at a time, so over several requests).
    const alone = calls.slice(2).flatMap((call) => call.args[0].input.Records!);
    expect(alone.every((r) => isLoneEntry(r, limits))).toBe(true);
    // They carry the records the second one re-sent in aggregates (all the high child's).
    const again = aggregatedIn(calls[1].args[0].input.Records!);
    expect(again.size).toBeGreaterThan(30);
    expect(
      alone
        .flatMap(usersOf)
        .map((u) => Number(Buffer.from(u.data).toString().split(':')[0]))
        .sort((a, b) => a - b),
    ).toEqual([...again].sort((a, b) => a - b));
    expect([...again].every((index) => ownedBy(HIGH, records).includes(index))).toBe(true);
    expect(outcome.written).toEqual(records.map((r) => r.index));
    const copies = deliveredByKcl(stored);
    expect(records.filter((r) => copies.get(r.index) !== 1)).toEqual([]);
    expectOuterKeysKept();
  });

  test('raw records on an unexpected shard are written as they are, and the map is reloaded in the same call for the next request', async () => {
    // Prepare: one record per entry, so nothing is aggregated; a key each, so all go in one request.
    const records = userRecords(20, { keys: 1_000_000 });
    kinesis.on(PutRecordsCommand).callsFake(routeLikeKinesis(() => AFTER));
    const loads: boolean[] = [];

    // Act
    const outcome = await writeRecords(
      records,
      options({
        limits: { ...DEFAULT_LIMITS, maxRecordsPerAggregate: 1 },
        shardMap: async (refresh) => {
          loads.push(refresh);
          return refresh ? AFTER : BEFORE;
        },
      }),
    );

    // Assess
    expect(kinesis.commandCalls(PutRecordsCommand)).toHaveLength(1);
    expect(outcome.misroutedEntries).toBe(20);
    expect(outcome.resentRecords).toBe(0);
    expect(outcome.written).toEqual(records.map((r) => r.index));
    expect(loads).toEqual([false, true]);
  });

  test('after a merge nothing is re-sent: the merged shard owns every record of the aggregate', async () => {
    // Prepare: the writer still has the two children; Kinesis merged them back into one shard.
    const merged: ShardRange = { shardId: 'shardId-000000000003', start: 0n, end: MAX_HASH_KEY };
    const afterMerge = new ShardMap([merged], [LOW, HIGH]);
    const records = userRecords(100, { keys: 20 });
    kinesis.on(PutRecordsCommand).callsFake(routeLikeKinesis(() => afterMerge));

    // Act
    const outcome = await writeRecords(records, options({ shardMap: async (refresh) => (refresh ? afterMerge : AFTER) }));

    // Assess
    expect(kinesis.commandCalls(PutRecordsCommand)).toHaveLength(1);
    expect(outcome.misroutedEntries).toBeGreaterThan(0);
    expect(outcome.resentRecords).toBe(0);
    expect(outcome.written).toEqual(records.map((r) => r.index));
  });
});
