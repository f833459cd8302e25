import { batchEntries, dataOf, planEntries, type KinesisEntry } from '../../lambda/producer/aggregate';
import { DEFAULT_LIMITS, DEFAULT_ORDERING_GROUPS } from '../../lambda/producer/limits';
import { outerKeyOf } from '../../lambda/producer/ordering';
import { EntryTooLargeError, RequestPacker } from '../../lambda/producer/packer';
import { hashKeyOf } from '../../lambda/shared/hash-key';
import { decodeAggregated, isAggregated } from '../../lambda/shared/kpl-codec';
import { ShardMap } from '../../lambda/shared/shard-map';
import { evenShards, reshardedMap, seeded, userRecords } from './fixtures';

/** The user records an entry carries, with their keys, as Kinesis consumers see them. */
function contents(entry: KinesisEntry): { partitionKey: string; explicitHashKey?: string; data: Buffer }[] {
  return isAggregated(entry.data)
    ? decodeAggregated(entry.data).map((r) => ({ ...r, data: Buffer.from(r.data) }))
    : [
        {
          partitionKey: entry.partitionKey,
          ...(entry.explicitHashKey ? { explicitHashKey: entry.explicitHashKey } : {}),
          data: entry.data,
        },
      ];
}

describe('shard-aware aggregation', () => {
  test.each(
    [1, 2, 3, 4, 5, 6, 7, 8].flatMap((seed) => [
      [seed, DEFAULT_ORDERING_GROUPS],
      [seed, 0],
    ]),
  )(
    'every user record of an entry hashes into the shard owning the entry (resharded map, seed %i, ordering groups %i)',
    (seed, orderingGroups) => {
      // Prepare
      const random = seeded(seed);
      const map = reshardedMap(random, 1 + Math.floor(random() * 8), 5 + Math.floor(random() * 40));
      const records = userRecords(3000, { keys: 400, bytes: 1 + Math.floor(random() * 300), explicitEvery: 7, random });

      // Act
      const entries = planEntries(records, map, { ...DEFAULT_LIMITS, orderingGroups });

      // Assess
      const seen: number[] = [];
      const outside: string[] = [];
      for (const entry of entries) {
        const entryShard = map.shardFor(
          entry.explicitHashKey !== undefined ? BigInt(entry.explicitHashKey) : hashKeyOf(entry.partitionKey),
        );
        expect(entryShard.shardId).toBe(entry.shardId);
        const inside = contents(entry);
        expect(inside).toHaveLength(entry.indices.length);
        inside.forEach((user, i) => {
          const hashKey = user.explicitHashKey !== undefined ? BigInt(user.explicitHashKey) : hashKeyOf(user.partitionKey);
          const sent = records[entry.indices[i]];
          const sameRecord =
            user.data.equals(dataOf(sent)) && user.partitionKey === sent.partitionKey && user.explicitHashKey === sent.explicitHashKey;
          if (hashKey < entryShard.start || hashKey > entryShard.end || !sameRecord) {
            outside.push(`${entry.shardId}: record ${entry.indices[i]}`);
          }
        });
        expect(entry.data.length).toBeLessThanOrEqual(DEFAULT_LIMITS.maxAggregateBytes);
        expect(entry.size).toBe(entry.data.length + Buffer.byteLength(entry.partitionKey));
        seen.push(...entry.indices);
      }
      expect(outside).toEqual([]);
      expect(seen.sort((a, b) => a - b)).toEqual(records.map((r) => r.index));
    },
  );

  test.each([DEFAULT_ORDERING_GROUPS, 0])(
    'keeps request order per partition key; a lone record goes alone, routed by its own keys (ordering groups %i)',
    (orderingGroups) => {
      // Prepare
      const limits = { ...DEFAULT_LIMITS, orderingGroups };
      const map = new ShardMap(evenShards(4));
      const records = [
        ...userRecords(50, { keys: 5 }),
        { index: 50, partitionKey: 'only-one', explicitHashKey: '5', data: Buffer.from('solo') },
      ];
      const outsideShard0 = records.filter((r) => r.explicitHashKey !== undefined || hashKeyOf(r.partitionKey) >= map.shards[1].start);

      // Act
      const entries = planEntries(records, map, limits);
      const soloEntries = planEntries(outsideShard0, map, limits);

      // Assess
      const order = new Map<string, number[]>();
      for (const entry of entries) {
        contents(entry).forEach((user, i) => order.set(user.partitionKey, [...(order.get(user.partitionKey) ?? []), entry.indices[i]]));
      }
      for (const indices of order.values()) {
        expect(indices).toEqual([...indices].sort((a, b) => a - b));
      }
      const solo = soloEntries.find((e) => e.indices.includes(50))!;
      if (orderingGroups === 0) {
        expect(solo).toMatchObject({ partitionKey: 'only-one', explicitHashKey: '5', data: Buffer.from('solo'), indices: [50] });
      } else {
        // A one-record aggregate under the group's key, routed where Kinesis routes the record itself.
        expect(solo).toMatchObject({
          partitionKey: outerKeyOf('only-one', limits),
          explicitHashKey: '5',
          indices: [50],
          shardId: map.shards[0].shardId,
        });
        expect(contents(solo)).toEqual([{ partitionKey: 'only-one', explicitHashKey: '5', data: Buffer.from('solo') }]);
        expect(solo.size).toBe(solo.data.length + solo.partitionKey.length);
      }
    },
  );

  test.each([DEFAULT_ORDERING_GROUPS, 0])(
    'respects the aggregate size and count limits; a record too big to share goes alone (ordering groups %i)',
    (orderingGroups) => {
      // Prepare
      const map = new ShardMap(evenShards(1));
      const records = [...userRecords(100, { keys: 3, bytes: 100 }), { index: 100, partitionKey: 'big', data: Buffer.alloc(3000) }];
      const limits = { ...DEFAULT_LIMITS, maxAggregateBytes: 1000, maxRecordsPerAggregate: 6, orderingGroups };

      // Act
      const entries = planEntries(records, map, limits);

      // Assess
      for (const entry of entries.filter((e) => e.indices.length > 1)) {
        expect(entry.data.length).toBeLessThanOrEqual(1000);
        expect(entry.indices.length).toBeLessThanOrEqual(6);
        expect(entry.explicitHashKey).toBe('0');
      }
      const big = entries.find((e) => e.indices.includes(100))!;
      expect(big.indices).toEqual([100]);
      if (orderingGroups === 0) {
        expect(big).toMatchObject({ partitionKey: 'big', data: Buffer.alloc(3000) });
      } else {
        // Over the aggregate limit, within the entry limit: a one-record aggregate all the same.
        expect(big).toMatchObject({ partitionKey: outerKeyOf('big', limits), explicitHashKey: hashKeyOf('big').toString() });
        expect(contents(big)).toEqual([{ partitionKey: 'big', data: Buffer.alloc(3000) }]);
      }
    },
  );

  test('with ordering groups, a record that does not fit the entry limit as a one-record aggregate is refused by the packer', () => {
    // Prepare: 1,000 bytes of data plus its key fit a 1,010-byte entry raw, not once framed.
    const map = new ShardMap(evenShards(1));
    const records = [{ index: 0, partitionKey: 'k', data: Buffer.alloc(1_000) }];

    // Act / Assess
    expect(() => planEntries(records, map, { ...DEFAULT_LIMITS, maxEntryBytes: 1_010 })).toThrow(EntryTooLargeError);
    expect(planEntries(records, map, { ...DEFAULT_LIMITS, maxEntryBytes: 1_010, orderingGroups: 0 })).toMatchObject([
      { partitionKey: 'k', indices: [0] },
    ]);
  });

  test('with aggregation off (maxRecordsPerAggregate 1) every record goes raw under its own keys, its outer key whatever the ordering groups', () => {
    // Prepare
    const map = new ShardMap(evenShards(3));
    const records = userRecords(60, { keys: 10, explicitEvery: 4 });
    const limits = { ...DEFAULT_LIMITS, maxRecordsPerAggregate: 1 };

    // Act
    const entries = planEntries(records, map, limits);

    // Assess
    expect(entries.map((e) => e.indices[0]).sort((a, b) => a - b)).toEqual(records.map((r) => r.index));
    for (const entry of entries) {
      const record = records[entry.indices[0]];
      expect(isAggregated(entry.data)).toBe(false);
      expect(entry).toMatchObject({ partitionKey: outerKeyOf(record.partitionKey, limits), data: record.data });
      expect(entry.partitionKey).toBe(record.partitionKey);
      expect(entry.explicitHashKey).toBe(record.explicitHashKey);
    }
  });

  test.each([DEFAULT_ORDERING_GROUPS, 0])(
    'records given as text (as validation keeps them) pack into the same entries, byte for byte, as their UTF-8 bytes (ordering groups %i)',
    (orderingGroups) => {
      // Prepare
      const random = seeded(11);
      const map = reshardedMap(random, 3, 12);
      const texts = ['', 'a', 'ключ-🔑', '日本語のテキスト', 'x'.repeat(60_000), '\u0000\u007f\u0080\u07ff\u0800\uffff'];
      const asText = userRecords(2000, { keys: 150, bytes: 10, explicitEvery: 5, random }).map((record, i) => {
        const text = `${texts[i % texts.length]}-${i}`;
        return { ...record, data: text, ...(i % 2 === 0 ? { dataBytes: Buffer.byteLength(text) } : {}) };
      });
      const asBytes = asText.map(({ dataBytes: _unused, ...record }) => ({ ...record, data: Buffer.from(record.data, 'utf8') }));

      // Act
      const limits = { ...DEFAULT_LIMITS, orderingGroups };
      const fromText = planEntries(asText, map, limits);
      const fromBytes = planEntries(asBytes, map, limits);

      // Assess
      const comparable = (entries: KinesisEntry[]) => entries.map((entry) => ({ ...entry, data: entry.data.toString('base64') }));
      expect(comparable(fromText)).toEqual(comparable(fromBytes));
      expect(fromText.some((entry) => !isAggregated(entry.data)) || orderingGroups > 0).toBe(true);
    },
  );

  test.each([DEFAULT_ORDERING_GROUPS, 0])(
    "a request's entries keep their bytes while later requests are packed into the same cells (ordering groups %i)",
    (orderingGroups) => {
      // Prepare: the writer plans again (a reshard, a retry) while entries planned before are in
      // flight: they must not share memory.
      const map = new ShardMap(evenShards(4));
      const limits = { ...DEFAULT_LIMITS, orderingGroups };
      const first = userRecords(3000, { keys: 300, bytes: 40, explicitEvery: 9, random: seeded(3) });
      const firstEntries = planEntries(first, map, limits);
      const firstBytes = firstEntries.map((entry) => Buffer.from(entry.data));
      const large = [{ index: 0, partitionKey: 'big', data: Buffer.alloc(3 * 1024 * 1024, 7) }];

      // Act: a request over the same keys, then one record of 3 MiB, then the first request again.
      const second = userRecords(3000, { keys: 300, bytes: 90, random: seeded(3) }).map((r) => ({ ...r, data: Buffer.alloc(90, 0xee) }));
      const secondEntries = planEntries(second, map, limits);
      const largeEntries = planEntries(large, map, { ...limits, maxAggregateBytes: 4 * 1024 * 1024, maxEntryBytes: 10 * 1024 * 1024 });
      const third = planEntries(first, map, limits);

      // Assess
      const same = (entries: KinesisEntry[]) =>
        entries.length === firstBytes.length && entries.every((entry, i) => entry.data.equals(firstBytes[i]));
      expect(same(firstEntries)).toBe(true);
      expect(secondEntries.flatMap(contents).every((record) => record.data.equals(Buffer.alloc(90, 0xee)))).toBe(true);
      const largeRecords = largeEntries.flatMap(contents);
      expect(largeRecords.length === 1 && largeRecords[0].data.equals(large[0].data)).toBe(true);
      expect(same(third)).toBe(true);
    },
  );

  test.each([20, 700])('two packers at work at once each pack their own records, byte for byte as alone (%i-byte records)', (bytes) => {
    // Prepare: nothing of one request's packing may leak into another's (no state shared between packers).
    const map = new ShardMap(evenShards(3));
    const first = userRecords(400, { keys: 50, bytes, explicitEvery: 6, random: seeded(5) });
    const second = userRecords(400, { keys: 50, bytes, random: seeded(6) }).map((r) => ({ ...r, data: Buffer.alloc(bytes, 0xab) }));
    const alone = [planEntries(first, map, DEFAULT_LIMITS), planEntries(second, map, DEFAULT_LIMITS)];

    // Act: placing in turns.
    const packers = [new RequestPacker(first, map, DEFAULT_LIMITS), new RequestPacker(second, map, DEFAULT_LIMITS)];
    packers[0].index(true);
    packers[1].index(true);
    for (let j = 0; j < 400; j++) {
      packers[0].placeNth(j);
      packers[1].placeNth(j);
    }
    packers.forEach((packer) => packer.closeAll());
    const together = packers.map((packer) => packer.encode());

    // Assess
    const bytesOf = (entries: KinesisEntry[]) => entries.map((entry) => entry.data.toString('base64'));
    expect(bytesOf(together[0])).toEqual(bytesOf(alone[0]));
    expect(bytesOf(together[1])).toEqual(bytesOf(alone[1]));
  });

  test('batches stay within 500 entries and 5 MiB, in order', () => {
    // Prepare
    const entry = (i: number, size: number): KinesisEntry => ({
      data: Buffer.alloc(0),
      partitionKey: 'k',
      shardId: 's',
      indices: [i],
      size,
    });
    const small = Array.from({ length: 1203 }, (_, i) => entry(i, 10));
    const large = Array.from({ length: 12 }, (_, i) => entry(i, 1024 * 1024));

    // Act
    const smallBatches = batchEntries(small, DEFAULT_LIMITS);
    const largeBatches = batchEntries(large, DEFAULT_LIMITS);

    // Assess
    expect(smallBatches.map((b) => b.length)).toEqual([500, 500, 203]);
    expect(largeBatches.map((b) => b.length)).toEqual([5, 5, 2]);
    expect(smallBatches.flat().map((e) => e.indices[0])).toEqual(small.map((_, i) => i));
  });
});
