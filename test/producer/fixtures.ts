import {
  KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
  type PutRecordsCommandInput,
  type PutRecordsCommandOutput,
} from '@aws-sdk/client-kinesis';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { setClientForTesting } from '../../lambda/shared/clients';
import type { Context } from 'aws-lambda';
import type { ProducerRecord } from '../../lambda/producer/aggregate';
import { groupsOn, outerKeyOf, type OrderingSettings } from '../../lambda/producer/ordering';
import { MAX_HASH_KEY, routingHashKey } from '../../lambda/shared/hash-key';
import { decodeAggregated, isAggregated, type KplUserRecord } from '../../lambda/shared/kpl-codec';
import { ShardMap, type ShardRange } from '../../lambda/shared/shard-map';
import type { WriteOptions } from '../../lambda/producer/writer';
import { TimeBudget } from '../../lambda/shared/retry';

/** A seeded PRNG (mulberry32), so random shard maps are the same on every run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Even split of the hash space into `count` shards, as CreateStream does. */
export function evenShards(count: number): ShardRange[] {
  const width = (MAX_HASH_KEY + 1n) / BigInt(count);
  return Array.from({ length: count }, (_, i) => ({
    shardId: `shardId-${String(i).padStart(12, '0')}`,
    start: width * BigInt(i),
    end: i === count - 1 ? MAX_HASH_KEY : width * BigInt(i + 1) - 1n,
  }));
}

/** A shard map after `steps` random splits (at uneven points) and merges of adjacent shards. */
export function reshardedMap(random: () => number, initial: number, steps: number): ShardMap {
  let shards = evenShards(initial);
  let next = initial;
  const id = (): string => `shardId-${String(next++).padStart(12, '0')}`;
  for (let step = 0; step < steps; step++) {
    const at = Math.floor(random() * shards.length);
    const shard = shards[at];
    if ((random() < 0.6 || shards.length === 1) && shard.end - shard.start > 2n) {
      const span = shard.end - shard.start;
      const cut = shard.start + 1n + (((span * BigInt(Math.floor(random() * 1_000_000))) / 1_000_000n) % span);
      shards.splice(at, 1, { shardId: id(), start: shard.start, end: cut - 1n }, { shardId: id(), start: cut, end: shard.end });
    } else if (at + 1 < shards.length) {
      shards.splice(at, 2, { shardId: id(), start: shard.start, end: shards[at + 1].end });
    }
  }
  shards = shards.filter((s) => s.end >= s.start);
  return new ShardMap(shards);
}

export function userRecords(
  count: number,
  options: { keys?: number; bytes?: number; explicitEvery?: number; random?: () => number } = {},
): ProducerRecord[] {
  const random = options.random ?? seeded(7);
  return Array.from({ length: count }, (_, index) => {
    const partitionKey = `key-${Math.floor(random() * (options.keys ?? 100))}`;
    const data = Buffer.alloc(options.bytes ?? 20, `${index}:`);
    const explicit =
      options.explicitEvery && index % options.explicitEvery === 0
        ? { explicitHashKey: ((MAX_HASH_KEY * BigInt(Math.floor(random() * 1e9))) / 1_000_000_000n).toString() }
        : {};
    return { index, partitionKey, data, ...explicit };
  });
}

export function lambdaContext(remainingMs = 30_000): Context {
  const deadline = Date.now() + remainingMs;
  return {
    functionName: 'producer',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:producer',
    memoryLimitInMB: '512',
    awsRequestId: 'request-1',
    logGroupName: '/aws/lambda/producer',
    logStreamName: 'stream',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** What a stream stored: each acknowledged entry and the shard it went to. */
export interface StoredEntry {
  readonly shardId: string;
  readonly data: Uint8Array;
  readonly partitionKey: string;
}

/**
 * A PutRecords answer as Kinesis gives it: every entry stored on the open shard of `map()` that
 * owns its ExplicitHashKey, or else its partition key's hash key; `stored` collects the entries.
 */
export function routeLikeKinesis(
  map: () => ShardMap,
  stored: StoredEntry[] = [],
): (input: PutRecordsCommandInput) => PutRecordsCommandOutput {
  return (input) => ({
    $metadata: {},
    FailedRecordCount: 0,
    Records: input.Records!.map((entry, i) => {
      const shardId = map().shardFor(routingHashKey({ partitionKey: entry.PartitionKey!, explicitHashKey: entry.ExplicitHashKey })).shardId;
      stored.push({ shardId, data: entry.Data!, partitionKey: entry.PartitionKey! });
      return { SequenceNumber: String(stored.length + i), ShardId: shardId };
    }),
  });
}

/** An entry of a PutRecords request, as the SDK sends it. */
export interface SentEntry {
  readonly Data?: Uint8Array;
  readonly PartitionKey?: string;
  readonly ExplicitHashKey?: string;
}

/** The user records a PutRecords entry carries, as a consumer sees them: deaggregated if it is a KPL aggregate. */
export function usersOf(entry: SentEntry): KplUserRecord[] {
  return isAggregated(entry.Data!)
    ? decodeAggregated(entry.Data!)
    : [
        {
          partitionKey: entry.PartitionKey!,
          ...(entry.ExplicitHashKey === undefined ? {} : { explicitHashKey: entry.ExplicitHashKey }),
          data: entry.Data!,
        },
      ];
}

/**
 * Whether an entry carries one user record on its own, stored where Kinesis routes that record
 * whatever the shard map says: with ordering groups a one-record KPL aggregate under the record's
 * group key with the record's own hash key as ExplicitHashKey; without them raw, not aggregated.
 */
export function isLoneEntry(entry: SentEntry, settings: OrderingSettings): boolean {
  if (!groupsOn(settings)) {
    return !isAggregated(entry.Data!);
  }
  if (!isAggregated(entry.Data!)) {
    return false;
  }
  const users = decodeAggregated(entry.Data!);
  return (
    users.length === 1 &&
    entry.PartitionKey === outerKeyOf(users[0].partitionKey, settings) &&
    entry.ExplicitHashKey === routingHashKey(users[0]).toString()
  );
}

/**
 * Has the mocked Kinesis client answer as a one-shard stream (ListShards: one shard over the whole
 * hash range; PutRecords: every entry written) and gives it to the handler. Call after
 * `kinesis.reset()`, `resetClients()` and `resetShardMapCache()`.
 */
export function mockOneShardKinesis(kinesis: AwsClientStub<KinesisClient>): void {
  setClientForTesting('kinesis', new KinesisClient({ region: 'us-east-1' }));
  kinesis.on(ListShardsCommand).resolves({
    Shards: [
      {
        ShardId: 'shardId-000000000000',
        HashKeyRange: { StartingHashKey: '0', EndingHashKey: '340282366920938463463374607431768211455' },
        SequenceNumberRange: { StartingSequenceNumber: '1' },
      },
    ],
  });
  kinesis.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => ({
    Records: input.Records!.map(() => ({ SequenceNumber: '1', ShardId: 'shardId-000000000000' })),
  }));
}

/**
 * `writeRecords` options for tests: stream `test`, a minute's budget, waits that pass no real time,
 * jitter fixed at half; the client, limits and shard map as given.
 */
export function writerTestOptions(given: Pick<WriteOptions, 'client' | 'limits' | 'shardMap'> & Partial<WriteOptions>): WriteOptions {
  return {
    streamName: 'test',
    backoff: { baseMs: 10, maxMs: 100 },
    budget: new TimeBudget(Date.now() + 60_000),
    wait: async () => undefined,
    random: () => 0.5,
    ...given,
  };
}
