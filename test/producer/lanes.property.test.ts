import { PutRecordsCommand, type KinesisClient, type PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import * as fc from 'fast-check';
import type { ProducerRecord } from '../../lambda/producer/aggregate';
import { DEFAULT_LIMITS, type ProducerLimits } from '../../lambda/producer/limits';
import { writeRecords } from '../../lambda/producer/writer';
import { MAX_HASH_KEY, routingHashKey } from '../../lambda/shared/hash-key';
import { ShardMap } from '../../lambda/shared/shard-map';
import { evenShards, seeded, usersOf, writerTestOptions } from './fixtures';

/**
 * Entries are planned key by key, so a cell's aggregates hold different user keys and go in
 * lanes, all in flight at once; a key whose records fill more than one aggregate keeps them in one
 * lane, one after the other. Against a Kinesis that throttles entries at random and stores the
 * others of a request in any order (PutRecords promises no order), every user key's records must
 * be in the stream in request order, each once, and the rounds fewer than one per aggregate of a
 * cell.
 */

interface Draft {
  readonly key: number;
  readonly bytes: number;
  readonly explicit: boolean;
}

const scenario = fc.record({
  keys: fc.integer({ min: 1, max: 8 }),
  drafts: fc.array(fc.record({ key: fc.nat(), bytes: fc.integer({ min: 0, max: 300 }), explicit: fc.boolean() }), {
    minLength: 1,
    maxLength: 160,
  }),
  explicitShare: fc.constantFrom(0, 0, 0.1),
  limits: fc.record({
    maxAggregateBytes: fc.oneof(fc.integer({ min: 64, max: 1_500 }), fc.constant(DEFAULT_LIMITS.maxAggregateBytes)),
    maxRecordsPerAggregate: fc.oneof(fc.integer({ min: 1, max: 12 }), fc.constant(DEFAULT_LIMITS.maxRecordsPerAggregate)),
    orderingGroups: fc.constantFrom(0, 1, 3, DEFAULT_LIMITS.orderingGroups),
  }),
  shards: fc.integer({ min: 1, max: 4 }),
  seed: fc.integer(),
  throttle: fc.constantFrom(0, 0.3, 0.6),
});

function recordsOf(keys: number, drafts: readonly Draft[], explicitShare: number, random: () => number): ProducerRecord[] {
  return drafts.map((draft, index) => {
    const head = `${index}:`;
    const data = Buffer.concat([Buffer.from(head), Buffer.alloc(Math.max(0, draft.bytes - head.length), 0x2e)]);
    const explicit = draft.explicit && random() < explicitShare;
    return {
      index,
      partitionKey: `user-${draft.key % keys}`,
      data,
      ...(explicit ? { explicitHashKey: ((MAX_HASH_KEY * BigInt(Math.floor(random() * 1e9))) / 1_000_000_000n).toString() } : {}),
    };
  });
}

/** A Kinesis double: each entry throttled at random (at most twice), the others stored per shard in a random order within their request. */
function randomKinesis(map: ShardMap, throttle: number, random: () => number) {
  const stored = new Map<string, Array<{ partitionKey: string; explicitHashKey?: string; index: number }>>();
  const attempts = new Map<string, number>();
  let calls = 0;
  let sequence = 0;
  const client = {
    send: async (command: unknown) => {
      if (!(command instanceof PutRecordsCommand)) {
        throw new Error('only PutRecords');
      }
      calls++;
      const input = command.input;
      await new Promise((resolve) => setImmediate(resolve));
      const results: PutRecordsResultEntry[] = [];
      const accepted: number[] = [];
      input.Records!.forEach((entry, i) => {
        const id = Buffer.from(entry.Data!).toString('base64');
        const tried = attempts.get(id) ?? 0;
        attempts.set(id, tried + 1);
        if (tried < 2 && random() < throttle) {
          results.push({ ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'slow down' });
          return;
        }
        const shardId = map.shardFor(routingHashKey({ partitionKey: entry.PartitionKey!, explicitHashKey: entry.ExplicitHashKey })).shardId;
        results.push({ ShardId: shardId, SequenceNumber: String(++sequence) });
        accepted.push(i);
      });
      // Stored in any order within the request.
      for (let k = accepted.length - 1; k > 0; k--) {
        const j = Math.floor(random() * (k + 1));
        [accepted[k], accepted[j]] = [accepted[j], accepted[k]];
      }
      for (const i of accepted) {
        const entry = input.Records![i];
        const shardId = results[i].ShardId!;
        const log = stored.get(shardId) ?? [];
        stored.set(shardId, log);
        for (const user of usersOf(entry)) {
          log.push({ partitionKey: user.partitionKey, index: Number(Buffer.from(user.data).toString().split(':')[0]) });
        }
      }
      return { FailedRecordCount: results.filter((r) => r.ErrorCode).length, Records: results };
    },
  };
  return { client: client as unknown as KinesisClient, stored, calls: () => calls };
}

describe("lanes: a cell's aggregates in flight at once", () => {
  test('each user key in request order and every record once, against throttling and any storage order within a request', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ({ keys, drafts, explicitShare, limits: drawn, shards, seed, throttle }) => {
        const random = seeded(seed);
        const limits: ProducerLimits = { ...DEFAULT_LIMITS, ...drawn };
        const map = new ShardMap(evenShards(shards));
        const records = recordsOf(keys, drafts, explicitShare, random);
        const kinesis = randomKinesis(map, throttle, random);
        const outcome = await writeRecords(records, writerTestOptions({ client: kinesis.client, limits, shardMap: async () => map }));
        expect(outcome.failed).toEqual([]);
        const seen = new Set<number>();
        for (const log of kinesis.stored.values()) {
          const last = new Map<string, number>();
          for (const { partitionKey, index } of log) {
            expect(seen.has(index)).toBe(false);
            seen.add(index);
            expect(index).toBeGreaterThan(last.get(partitionKey) ?? -1);
            last.set(partitionKey, index);
          }
        }
        expect(seen.size).toBe(records.length);
      }),
      { numRuns: 200 },
    );
  });

  test('one PutRecords for a request whose keys each fit an aggregate, where request order needed one round per aggregate of a cell', async () => {
    // 40 keys × 12 records × 100 B over 2 shards and 2 groups: about 12 KB per cell, 3 aggregates of 5,000 bytes each.
    const records: ProducerRecord[] = Array.from({ length: 480 }, (_, index) => ({
      index,
      partitionKey: `user-${index % 40}`,
      data: Buffer.alloc(100, `${index}:`),
    }));
    const limits: ProducerLimits = { ...DEFAULT_LIMITS, maxAggregateBytes: 5_000, orderingGroups: 2 };
    const map = new ShardMap(evenShards(2));
    const kinesis = randomKinesis(map, 0, seeded(1));
    const outcome = await writeRecords(records, writerTestOptions({ client: kinesis.client, limits, shardMap: async () => map }));
    expect(outcome.writtenCount).toBe(480);
    expect(outcome.kinesisRecords).toBeGreaterThan(4);
    expect(kinesis.calls()).toBe(1);
  });
});
