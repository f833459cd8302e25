import * as agg from 'aws-kinesis-agg';
import * as fc from 'fast-check';
import { dataOf, loneEntries, planEntries, type KinesisEntry, type ProducerRecord } from '../../lambda/producer/aggregate';
import { DEFAULT_LIMITS, MAX_ORDERING_GROUPS, type ProducerLimits } from '../../lambda/producer/limits';
import { groupOf, outerKeyOf } from '../../lambda/producer/ordering';
import { MAX_HASH_KEY, hashKeyOf, inHashRange, routingHashKey } from '../../lambda/shared/hash-key';
import { decodeAggregated, isAggregated, type KplUserRecord } from '../../lambda/shared/kpl-codec';
import { ShardMap, type ShardRange } from '../../lambda/shared/shard-map';

/**
 * The producer side of per-key order under a parallelization factor above 1: Lambda keeps order
 * per Kinesis-record (outer) partition key, so every user record of one partition key must travel
 * under one outer key, a fixed function of the user key (`outerKeyOf`), in any request, on any
 * shard map. Random requests (keys, sizes, explicit hash keys), random shard maps and limits.
 */

/** A shard map of contiguous ranges cut at random hash keys (as any series of splits and merges leaves it). */
const shardMaps = fc.uniqueArray(fc.bigInt({ min: 1n, max: MAX_HASH_KEY }), { maxLength: 12 }).map((cuts) => {
  const starts = [0n, ...cuts.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))];
  return new ShardMap(
    starts.map((start, i): ShardRange => ({
      shardId: `shardId-${String(i).padStart(12, '0')}`,
      start,
      end: i + 1 < starts.length ? starts[i + 1] - 1n : MAX_HASH_KEY,
    })),
  );
});

const keyPool = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 24, unit: 'grapheme' }), { minLength: 1, maxLength: 40 });

interface Draft {
  readonly key: number;
  readonly bytes: number;
  readonly explicitHashKey?: bigint;
}

const drafts = fc.array(
  fc.record(
    {
      key: fc.nat(),
      bytes: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 4_000 })),
      explicitHashKey: fc.option(fc.bigInt({ min: 0n, max: MAX_HASH_KEY }), { nil: undefined, freq: 6 }),
    },
    { requiredKeys: ['key', 'bytes'] },
  ),
  { minLength: 1, maxLength: 250 },
);

const limitsArb = fc
  .record({
    maxAggregateBytes: fc.oneof(fc.integer({ min: 64, max: 2_000 }), fc.constant(DEFAULT_LIMITS.maxAggregateBytes)),
    maxRecordsPerAggregate: fc.oneof(fc.integer({ min: 2, max: 20 }), fc.constant(DEFAULT_LIMITS.maxRecordsPerAggregate)),
    orderingGroups: fc.oneof(fc.integer({ min: 1, max: MAX_ORDERING_GROUPS }), fc.constant(DEFAULT_LIMITS.orderingGroups)),
  })
  .map((drawn): ProducerLimits => ({ ...DEFAULT_LIMITS, ...drawn }));

/** A request's user records: data says `<request>:<index>:` and is padded to its size. */
function request(name: string, keys: readonly string[], list: readonly Draft[]): ProducerRecord[] {
  return list.map((draft, index) => {
    const head = Buffer.from(`${name}:${index}:`);
    const data = Buffer.concat([head, Buffer.alloc(Math.max(0, draft.bytes - head.length), 0x2e)]);
    return {
      index,
      partitionKey: keys[draft.key % keys.length],
      data,
      ...(draft.explicitHashKey === undefined ? {} : { explicitHashKey: draft.explicitHashKey.toString() }),
    };
  });
}

/** What aws-kinesis-agg (the Lambda deaggregator AWS publishes) reads from an entry: partition keys and data, base64. */
function theirUsersOf(entry: KinesisEntry): string[] {
  const out: string[] = [];
  agg.deaggregateSync(
    { data: entry.data.toString('base64'), partitionKey: entry.partitionKey, sequenceNumber: '1' } as never,
    true,
    (error, records) => {
      if (error) {
        throw error;
      }
      out.push(...records!.map((r) => `${r.partitionKey} ${r.data}`));
    },
  );
  return out;
}

/**
 * Every property of one planned request, as a list of what breaks it (empty when none): each entry
 * a KPL aggregate (as aws-kinesis-agg reads it too) whose user records are the request's, each
 * once, in order per key and shard, all of one group and one shard, routed to that shard (a lone
 * record by its own hash key), within the limits. Adds each user key's outer keys to `outerKeys`.
 */
function breaches(
  records: readonly ProducerRecord[],
  entries: readonly KinesisEntry[],
  map: ShardMap,
  limits: ProducerLimits,
  outerKeys: Map<string, Set<string>>,
): string[] {
  const out: string[] = [];
  const seen: number[] = [];
  const lastIndex = new Map<string, number>();
  for (const [at, entry] of entries.entries()) {
    const where = `entry ${at} (${entry.partitionKey}, ${entry.indices.length} records)`;
    if (!isAggregated(entry.data)) {
      out.push(`${where}: not a KPL aggregate`);
      continue;
    }
    const users: KplUserRecord[] = decodeAggregated(entry.data);
    const theirs = theirUsersOf(entry);
    if (
      users.length !== entry.indices.length ||
      theirs.join('\n') !== users.map((u) => `${u.partitionKey} ${Buffer.from(u.data).toString('base64')}`).join('\n')
    ) {
      out.push(`${where}: decodes to other records, or aws-kinesis-agg reads other records`);
    }
    const shard = map.rangeOf(entry.shardId)!;
    if (map.shardFor(BigInt(entry.explicitHashKey!)) !== shard) {
      out.push(`${where}: ExplicitHashKey routes it to another shard than ${entry.shardId}`);
    }
    const groups = new Set<number>();
    users.forEach((user, i) => {
      const sent = records[entry.indices[i]];
      if (user.partitionKey !== sent.partitionKey || user.explicitHashKey !== sent.explicitHashKey || !dataOf(sent).equals(user.data)) {
        out.push(`${where}: user record ${i} is not request record ${sent.index}`);
      }
      if (!inHashRange(shard, routingHashKey(user))) {
        out.push(`${where}: record ${sent.index} hashes outside ${entry.shardId}`);
      }
      groups.add(groupOf(hashKeyOf(user.partitionKey), limits.orderingGroups));
      let keys = outerKeys.get(user.partitionKey);
      if (keys === undefined) {
        keys = new Set();
        outerKeys.set(user.partitionKey, keys);
      }
      keys.add(entry.partitionKey);
      // In request order per user key and shard (explicit hash keys may send a key's records to several).
      const lane = `${entry.shardId} ${user.partitionKey}`;
      if (sent.index <= (lastIndex.get(lane) ?? -1)) {
        out.push(`${where}: record ${sent.index} of key ${user.partitionKey} after a later one`);
      }
      lastIndex.set(lane, sent.index);
    });
    if (groups.size !== 1) {
      out.push(`${where}: records of ${groups.size} ordering groups`);
    }
    if (users.length === 1 && entry.explicitHashKey !== routingHashKey(users[0]).toString()) {
      out.push(`${where}: alone, but not routed by its own hash key`);
    }
    if (users.length > 1 && (entry.data.length > limits.maxAggregateBytes || users.length > limits.maxRecordsPerAggregate)) {
      out.push(`${where}: over the aggregate limits`);
    }
    if (entry.size !== entry.data.length + Buffer.byteLength(entry.partitionKey) || entry.size > limits.maxEntryBytes) {
      out.push(`${where}: size ${entry.size} wrong or over the entry limit`);
    }
    seen.push(...entry.indices);
  }
  if (seen.sort((a, b) => a - b).join() !== records.map((r) => r.index).join()) {
    out.push('the entries do not hold every record exactly once');
  }
  return out;
}

/** User keys whose records travelled under another outer key than `outerKeyOf` says, or under several. */
function keysOffTheirOuterKey(outerKeys: Map<string, Set<string>>, limits: ProducerLimits): string[] {
  return [...outerKeys]
    .filter(([key, outer]) => outer.size !== 1 || !outer.has(outerKeyOf(key, limits)!))
    .map(([key, outer]) => `${key}: ${[...outer].join(', ')}`);
}

describe('ordering groups (property)', () => {
  test('every user key travels under exactly one outer key, outerKeyOf(key), across independent requests and shard maps; each aggregate holds one group of one shard', () => {
    fc.assert(
      fc.property(keyPool, drafts, drafts, shardMaps, shardMaps, limitsArb, (keys, first, second, mapA, mapB, limits) => {
        // Prepare: two requests over the same keys, planned on unrelated maps (another container, after reshards).
        const requestA = request('a', keys, first);
        const requestB = request('b', keys, second);

        // Act
        const entriesA = planEntries(requestA, mapA, limits);
        const entriesB = planEntries(requestB, mapB, limits);

        // Assess
        const outerKeys = new Map<string, Set<string>>();
        expect(breaches(requestA, entriesA, mapA, limits, outerKeys)).toEqual([]);
        expect(breaches(requestB, entriesB, mapB, limits, outerKeys)).toEqual([]);
        expect(keysOffTheirOuterKey(outerKeys, limits)).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  test('records re-sent alone keep their outer key and go where Kinesis routes them', () => {
    fc.assert(
      fc.property(keyPool, drafts, shardMaps, limitsArb, (keys, list, map, limits) => {
        // Prepare
        const records = request('r', keys, list);

        // Act
        const planned = planEntries(records, map, limits);
        const alone = loneEntries(records, map, limits);

        // Assess: the same outer key as in any aggregate, one record each, routed by its own hash key.
        const outerKeys = new Map<string, Set<string>>();
        expect(breaches(records, planned, map, limits, outerKeys)).toEqual([]);
        expect(breaches(records, alone, map, limits, outerKeys)).toEqual([]);
        expect(alone.every((entry) => entry.indices.length === 1)).toBe(true);
        expect(keysOffTheirOuterKey(outerKeys, limits)).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });
});
