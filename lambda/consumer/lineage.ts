import type { Shard } from '@aws-sdk/client-kinesis';
import type { LeaseShardAttributes } from '../shared/lease-item';

/**
 * What the KCL keeps in a lease about its shard, from ListShards: the hash key range, the parents
 * (one after a split, two after a merge) and, once the shard is closed, its children and the last
 * sequence number it can hold.
 */
export interface ShardLineage extends LeaseShardAttributes {
  readonly shardId: string;
  readonly startingHashKey: string;
  readonly endingHashKey: string;
  readonly parentShardIds: readonly string[];
  readonly childShardIds: readonly string[];
  /** Closed (Kinesis reports an EndingSequenceNumber). */
  readonly closed: boolean;
  /**
   * The closed shard's EndingSequenceNumber when it can be relied on: no record of the shard is
   * above it. Undefined while the shard is open, and when the reported one is below the shard's
   * StartingSequenceNumber (kinesis-local reports 2^63 - 1 for every closed shard): then the
   * consumer never writes SHARD_END for the shard, a missing marker rather than a wrong one.
   */
  readonly endingSequenceNumber?: bigint;
}

const DIGITS = /^\d{1,129}$/;

/** The lineage of every shard of a ListShards answer, by shard id. */
export function lineageOf(shards: readonly Shard[]): Map<string, ShardLineage> {
  const children = new Map<string, string[]>();
  for (const shard of shards) {
    for (const parent of parentsOf(shard)) {
      children.set(parent, [...(children.get(parent) ?? []), shard.ShardId!]);
    }
  }
  const out = new Map<string, ShardLineage>();
  for (const shard of shards) {
    const id = shard.ShardId!;
    const start = shard.SequenceNumberRange?.StartingSequenceNumber;
    const end = shard.SequenceNumberRange?.EndingSequenceNumber;
    const reliable = end !== undefined && start !== undefined && DIGITS.test(end) && DIGITS.test(start) && BigInt(end) >= BigInt(start);
    out.set(id, {
      shardId: id,
      startingHashKey: shard.HashKeyRange!.StartingHashKey!,
      endingHashKey: shard.HashKeyRange!.EndingHashKey!,
      parentShardIds: parentsOf(shard),
      childShardIds: (children.get(id) ?? []).sort(),
      closed: end !== undefined,
      endingSequenceNumber: reliable ? BigInt(end) : undefined,
    });
  }
  return out;
}

function parentsOf(shard: Shard): string[] {
  return [shard.ParentShardId, shard.AdjacentParentShardId].filter((id): id is string => id !== undefined && id !== '');
}

export interface ShardLineageCacheOptions {
  /** A shard the cache shows open is looked up again when the cached answer is older than this (asked with `fresh`). @default 5_000 */
  readonly refreshMillis?: number;
  readonly now?: () => number;
}

/**
 * The stream's shard lineage, loaded with ListShards once per container and again for a shard it
 * does not know (a child of a reshard since the last load), or, when asked for a fresh answer
 * about a shard it shows open, after `refreshMillis` (the shard may have closed since). A failed
 * load is not cached; the caller gets undefined and goes on without the lease's KCL attributes.
 */
export class ShardLineageCache {
  private loaded?: Promise<Map<string, ShardLineage>>;
  private loadedAt = 0;
  private readonly refreshMillis: number;
  private readonly now: () => number;

  constructor(
    private readonly load: () => Promise<readonly Shard[]>,
    options: ShardLineageCacheOptions = {},
  ) {
    this.refreshMillis = options.refreshMillis ?? 5_000;
    this.now = options.now ?? Date.now;
  }

  /** The shard's lineage; `fresh`: reload first if the cache shows it open and is older than `refreshMillis`. */
  public async get(shardId: string, fresh = false): Promise<ShardLineage | undefined> {
    const known = this.loaded ? (await this.loaded).get(shardId) : undefined;
    const stale = known === undefined || (fresh && !known.closed && this.now() - this.loadedAt > this.refreshMillis);
    if (!stale) {
      return known;
    }
    return (await this.reload()).get(shardId);
  }

  private reload(): Promise<Map<string, ShardLineage>> {
    this.loadedAt = this.now();
    const loading = this.load().then(lineageOf);
    this.loaded = loading;
    loading.catch(() => {
      if (this.loaded === loading) {
        this.loaded = undefined;
      }
    });
    return loading;
  }
}
