import * as fc from 'fast-check';
import { planEntries, type KinesisEntry } from '../../lambda/producer/aggregate';
import { DEFAULT_LIMITS, MAX_ORDERING_GROUPS, type ProducerLimits } from '../../lambda/producer/limits';
import { KNOWN_KEYS } from '../../lambda/producer/packer';
import { parseRequest } from '../../lambda/producer/validate';
import { hashKeyOf } from '../../lambda/shared/hash-key';
import { ShardMap } from '../../lambda/shared/shard-map';
import { reshardedMap } from './fixtures';

/**
 * The packer keeps each partition key's bytes, shard and group from one request to the next, per
 * shard map and number of ordering groups. Whatever came before, a request must pack exactly as it
 * packs on a map nobody has packed on, and a reshard (a new map) must route every key by the new
 * map.
 */

const comparable = (entries: readonly KinesisEntry[]) => entries.map((entry) => ({ ...entry, data: entry.data.toString('base64') }));

/** The same shards in a new map object: no key known on it yet. */
const fresh = (map: ShardMap) => new ShardMap(map.shards);

const keyPool = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 10, unit: 'grapheme' }), { minLength: 1, maxLength: 40 });

/** Requests over one key pool, each on one of several maps (resharded at random), with one of several group counts. */
const scenario = fc.record({
  keys: keyPool,
  maps: fc.array(fc.tuple(fc.integer({ min: 1, max: 6 }), fc.nat({ max: 6 }), fc.integer()), { minLength: 1, maxLength: 3 }),
  groups: fc.uniqueArray(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: MAX_ORDERING_GROUPS })), { minLength: 1, maxLength: 2 }),
  requests: fc.array(
    fc.record({
      map: fc.nat(),
      groups: fc.nat(),
      picks: fc.array(fc.record({ key: fc.nat(), bytes: fc.integer({ min: 0, max: 400 }) }), { minLength: 1, maxLength: 120 }),
    }),
    { minLength: 1, maxLength: 8 },
  ),
});

describe('partition keys known from earlier requests', () => {
  test('every request packs as it would on a map nobody packed on, over random sequences of requests, maps and group counts', () => {
    fc.assert(
      fc.property(scenario, ({ keys, maps, groups, requests }) => {
        const shardMaps = maps.map(([initial, steps, seed]) => {
          let state = seed >>> 0;
          const random = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
          return reshardedMap(random, initial, steps);
        });
        for (const request of requests) {
          const map = shardMaps[request.map % shardMaps.length];
          const limits: ProducerLimits = {
            ...DEFAULT_LIMITS,
            maxAggregateBytes: 1_500,
            orderingGroups: groups[request.groups % groups.length],
          };
          const body = {
            records: request.picks.map((pick, i) => ({
              partitionKey: keys[pick.key % keys.length],
              data: `${i}:`.padEnd(pick.bytes, '.'),
            })),
          };
          const kept = planEntries(parseRequest(body, limits.maxEntryBytes, limits), map, limits);
          const alone = planEntries(parseRequest(body, limits.maxEntryBytes, limits), fresh(map), limits);
          expect(comparable(kept)).toEqual(comparable(alone));
        }
      }),
      { numRuns: 120 },
    );
  });

  test('after a reshard, keys known on the old map are routed by the new one', () => {
    const keys = Array.from({ length: 500 }, (_, i) => `user-${i}`);
    const body = { records: keys.map((partitionKey) => ({ partitionKey, data: 'x'.repeat(50) })) };
    const limits: ProducerLimits = { ...DEFAULT_LIMITS, orderingGroups: 0 };
    const before = reshardedMap(() => 0.5, 2, 0);
    planEntries(parseRequest(body, limits.maxEntryBytes, limits), before, limits);
    const after = reshardedMap(() => 0.37, 2, 3);
    const entries = planEntries(parseRequest(body, limits.maxEntryBytes, limits), after, limits);
    for (const entry of entries) {
      const shard = after.rangeOf(entry.shardId)!;
      for (const index of entry.indices) {
        const hashKey = hashKeyOf(keys[index]);
        expect(hashKey >= shard.start && hashKey <= shard.end).toBe(true);
      }
    }
    expect(entries.reduce((n, entry) => n + entry.indices.length, 0)).toBe(keys.length);
  });

  test('more keys than are kept: the memory starts over and packing stays the same', () => {
    const map = reshardedMap(() => 0.5, 4, 0);
    const limits: ProducerLimits = { ...DEFAULT_LIMITS };
    const body = { records: Array.from({ length: KNOWN_KEYS + 50 }, (_, i) => ({ partitionKey: `k${i}`, data: 'y' })) };
    const kept = planEntries(parseRequest(body, limits.maxEntryBytes, limits), map, limits);
    const again = planEntries(parseRequest(body, limits.maxEntryBytes, limits), map, limits);
    const alone = planEntries(parseRequest(body, limits.maxEntryBytes, limits), fresh(map), limits);
    expect(comparable(kept)).toEqual(comparable(alone));
    expect(comparable(again)).toEqual(comparable(alone));
  });
});
