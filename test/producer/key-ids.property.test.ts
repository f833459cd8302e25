import * as fc from 'fast-check';
import { planEntries, type KinesisEntry, type ProducerRecord } from '../../lambda/producer/aggregate';
import { DEFAULT_LIMITS, MAX_ORDERING_GROUPS, type ProducerLimits } from '../../lambda/producer/limits';
import { parseRequest } from '../../lambda/producer/validate';
import { MAX_HASH_KEY } from '../../lambda/shared/hash-key';
import { ShardMap } from '../../lambda/shared/shard-map';
import { evenShards } from './fixtures';

/**
 * Validation numbers each request's partition keys (`ProducerRecord.keyId`) and the packer finds
 * keys by those numbers instead of by string. The numbers must name keys exactly (one number per
 * key, one key per number), and packing by them must give the entries packing by strings gives,
 * byte for byte, for a whole request, for the part of it the writer plans again, and for records
 * from elsewhere mixed in.
 */

const keyPool = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12, unit: 'grapheme' }), { minLength: 1, maxLength: 30 });

/** A request body: records over the key pool (or without a key: a random one), some with explicit hash keys. */
const bodies = fc
  .tuple(
    keyPool,
    fc.array(
      fc.record({
        key: fc.option(fc.nat(), { nil: undefined, freq: 8 }),
        bytes: fc.oneof(fc.integer({ min: 0, max: 120 }), fc.integer({ min: 0, max: 3_000 })),
        explicitHashKey: fc.option(fc.bigInt({ min: 0n, max: MAX_HASH_KEY }), { nil: undefined, freq: 6 }),
      }),
      { minLength: 1, maxLength: 300 },
    ),
  )
  .map(([keys, drafts]) => ({
    records: drafts.map((draft, index) => ({
      data: `${index}:`.padEnd(draft.bytes, '.'),
      ...(draft.key === undefined ? {} : { partitionKey: keys[draft.key % keys.length] }),
      ...(draft.explicitHashKey === undefined ? {} : { explicitHashKey: draft.explicitHashKey.toString() }),
    })),
  }));

const limitsArb = fc
  .record({
    maxAggregateBytes: fc.oneof(fc.integer({ min: 64, max: 2_000 }), fc.constant(DEFAULT_LIMITS.maxAggregateBytes)),
    maxRecordsPerAggregate: fc.oneof(fc.integer({ min: 2, max: 20 }), fc.constant(DEFAULT_LIMITS.maxRecordsPerAggregate)),
    orderingGroups: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: MAX_ORDERING_GROUPS }), fc.constant(DEFAULT_LIMITS.orderingGroups)),
  })
  .map((drawn): ProducerLimits => ({ ...DEFAULT_LIMITS, ...drawn }));

function unnumbered(records: readonly ProducerRecord[]): ProducerRecord[] {
  return records.map(({ keyId: _dropped, ...record }) => record);
}

const comparable = (entries: readonly KinesisEntry[]) => entries.map((entry) => ({ ...entry, data: entry.data.toString('base64') }));

describe('partition keys numbered by validation', () => {
  test('one number per key and one key per number, from 0 in order of first use; a record without a key gets a number of its own', () => {
    fc.assert(
      fc.property(bodies, (body) => {
        const records = parseRequest(body, DEFAULT_LIMITS.maxEntryBytes);
        const keyOf = new Map<number, string>();
        const idOf = new Map<string, number>();
        let next = 0;
        records.forEach((record, i) => {
          const id = record.keyId!;
          expect(Number.isInteger(id)).toBe(true);
          if (!keyOf.has(id)) {
            expect(id).toBe(next++); // a new number is the next one
          }
          expect(keyOf.get(id) ?? record.partitionKey).toBe(record.partitionKey);
          expect(idOf.get(record.partitionKey) ?? id).toBe(id);
          keyOf.set(id, record.partitionKey);
          idOf.set(record.partitionKey, id);
          if (body.records[i].partitionKey === undefined) {
            expect(records.filter((other) => other.keyId === id)).toHaveLength(1);
          }
        });
      }),
      { numRuns: 150 },
    );
  });

  test('the packer packs by the numbers exactly what it packs by the strings: a whole request, a part of it, and records from elsewhere mixed in', () => {
    fc.assert(
      fc.property(
        bodies,
        limitsArb,
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.boolean(), { minLength: 300, maxLength: 300 }),
        fc.array(fc.boolean(), { minLength: 300, maxLength: 300 }),
        (body, limits, shards, picks, unnumber) => {
          const map = new ShardMap(evenShards(shards));
          const records = parseRequest(body, limits.maxEntryBytes, limits);
          const byString = unnumbered(records);
          expect(comparable(planEntries(records, map, limits))).toEqual(comparable(planEntries(byString, map, limits)));

          // The records the writer plans again: a part of the request, its numbers no longer dense.
          const part = records.filter((_, i) => picks[i]);
          if (part.length > 0) {
            expect(comparable(planEntries(part, map, limits))).toEqual(comparable(planEntries(unnumbered(part), map, limits)));
          }

          // Records without a number among numbered ones, anywhere: a key met both ways has one id.
          const mixed = records.map((record, i) => (unnumber[i] ? byString[i] : record));
          expect(comparable(planEntries(mixed, map, limits))).toEqual(comparable(planEntries(byString, map, limits)));
        },
      ),
      { numRuns: 150 },
    );
  });
});
