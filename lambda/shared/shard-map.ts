import { ListShardsCommand, type KinesisClient, type Shard } from '@aws-sdk/client-kinesis';

/** An open shard and its inclusive hash key range. */
export interface ShardRange {
  readonly shardId: string;
  readonly start: bigint;
  readonly end: bigint;
}

export class ShardMapError extends Error {
  public override readonly name = 'ShardMapError';
}

/**
 * The open shards of a stream, sorted by hash range, with a lookup from hash key to shard; and the
 * hash range of every shard listed, closed ones too, by id.
 */
export class ShardMap {
  /** Open shards (no EndingSequenceNumber) of a ListShards answer; closed ones are known by id only. */
  public static fromShards(shards: readonly Shard[]): ShardMap {
    const ranges = shards.map((shard): ShardRange => ({
      shardId: shard.ShardId!,
      start: BigInt(shard.HashKeyRange!.StartingHashKey!),
      end: BigInt(shard.HashKeyRange!.EndingHashKey!),
    }));
    return new ShardMap(
      ranges.filter((_range, i) => shards[i].SequenceNumberRange?.EndingSequenceNumber === undefined),
      ranges,
    );
  }

  public readonly shards: readonly ShardRange[];
  private readonly byId: ReadonlyMap<string, ShardRange>;

  /** `known`: every shard whose range `rangeOf` answers for; the open `shards` by default. */
  constructor(shards: readonly ShardRange[], known: readonly ShardRange[] = shards) {
    if (shards.length === 0) {
      throw new ShardMapError('the stream has no open shards');
    }
    this.shards = [...shards].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    this.byId = new Map([...known, ...shards].map((shard) => [shard.shardId, shard]));
  }

  /** The hash range of a shard by id, open or closed, if the map knows it. */
  public rangeOf(shardId: string): ShardRange | undefined {
    return this.byId.get(shardId);
  }

  /** The shard whose range holds `hashKey` (binary search). */
  public shardFor(hashKey: bigint): ShardRange {
    let low = 0;
    let high = this.shards.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (this.shards[mid].start <= hashKey) {
        low = mid;
      } else {
        high = mid - 1;
      }
    }
    const shard = this.shards[low];
    if (hashKey < shard.start || hashKey > shard.end) {
      throw new ShardMapError(`no open shard holds hash key ${hashKey}`);
    }
    return shard;
  }
}

/**
 * Every shard of the stream, following NextToken (which must be sent without the stream's
 * identity). `stream` is its name, or its ARN (the `eventSourceARN` of a Lambda Kinesis record;
 * ListShards accepts StreamARN, so a consumer needs no stream name setting). The producer goes by
 * name: the local emulators know StreamName only.
 */
export async function listShards(client: KinesisClient, stream: string): Promise<Shard[]> {
  const first = stream.startsWith('arn:') ? { StreamARN: stream } : { StreamName: stream };
  const shards: Shard[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(new ListShardsCommand(nextToken ? { NextToken: nextToken } : first));
    shards.push(...(page.Shards ?? []));
    nextToken = page.NextToken;
  } while (nextToken);
  return shards;
}

/**
 * A shard map kept per container: loaded on first use, reloaded when it is older than `ttlMs`
 * or after `invalidate()` (a put landed on an unexpected shard, so the stream was resharded).
 */
export class ShardMapCache {
  private map?: Promise<ShardMap>;
  private loadedAt = 0;

  constructor(
    private readonly load: () => Promise<ShardMap>,
    private readonly ttlMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  public get(): Promise<ShardMap> {
    if (!this.map || this.now() - this.loadedAt > this.ttlMs) {
      this.loadedAt = this.now();
      const loading = this.load();
      this.map = loading;
      loading.catch(() => {
        if (this.map === loading) {
          this.map = undefined; // do not cache a failure
        }
      });
    }
    return this.map;
  }

  public invalidate(): void {
    this.map = undefined;
  }
}
