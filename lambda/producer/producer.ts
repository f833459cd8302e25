import { kinesisClient as sharedKinesisClient } from '../shared/clients';
import { TimeBudget } from '../shared/retry';
import { ShardMap, ShardMapCache, listShards } from '../shared/shard-map';
import type { ProducerRecord } from './aggregate';
import { loadProducerConfig, type ProducerConfig } from './contract';
import { kinesisProtocol } from './put-records-codec';
import { preparePlan, writeRecords, type FailedRecord, type PreparedPlan, type WriteOutcome } from './writer';

/** The container's Kinesis client, with the PutRecords body written by native base64 (put-records-codec.ts). */
function kinesisClient() {
  return sharedKinesisClient(() => ({ protocol: kinesisProtocol() }));
}

export { DEFAULT_PROGRESS_WINDOW_SECONDS, ProducerConfigError, type ProducerConfig } from './contract';

/** The producer's settings from the environment `ProducerFunction` sets (./contract.ts). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): ProducerConfig {
  return loadProducerConfig(env);
}

/** The answer: every record not in `failed` was written. */
export interface ProduceResult {
  readonly recordCount: number;
  readonly writtenCount: number;
  readonly failedCount: number;
  /** Records not written, by request index, with the Kinesis error code. */
  readonly failed: readonly FailedRecord[];
}

/**
 * Some records were not written; `result` says which (a direct invoke throws this, so async invokes
 * are retried). Lambda hands a caller only an error's type and message, so the message names every
 * unwritten record: `3 of 10 records not written: {"ProvisionedThroughputExceededException":"1-2,5"}`
 * (request indices by error code, runs as ranges).
 */
export class ProducerWriteError extends Error {
  public override readonly name = 'ProducerWriteError';
  constructor(public readonly result: ProduceResult) {
    super(`${result.failedCount} of ${result.recordCount} records not written: ${JSON.stringify(indicesByCode(result.failed))}`);
  }
}

/** Failed request indices by error code, as `"0-3,7,9-10"`. */
export function indicesByCode(failed: readonly FailedRecord[]): Record<string, string> {
  const byCode = new Map<string, number[]>();
  for (const { index, errorCode } of failed) {
    let list = byCode.get(errorCode);
    if (list === undefined) {
      list = [];
      byCode.set(errorCode, list);
    }
    list.push(index);
  }
  const out: Record<string, string> = {};
  for (const [code, indices] of byCode) {
    indices.sort((a, b) => a - b);
    const runs: string[] = [];
    for (let i = 0; i < indices.length;) {
      let j = i;
      while (j + 1 < indices.length && indices[j + 1] === indices[j] + 1) {
        j++;
      }
      runs.push(j === i ? String(indices[i]) : `${indices[i]}-${indices[j]}`);
      i = j + 1;
    }
    out[code] = runs.join(',');
  }
  return out;
}

let shardMaps: { stream: string; cache: ShardMapCache } | undefined;

/** The container's shard map cache for a stream. */
function shardMapCache(config: ProducerConfig): ShardMapCache {
  if (shardMaps?.stream !== config.streamName) {
    shardMaps = {
      stream: config.streamName,
      cache: new ShardMapCache(async () => ShardMap.fromShards(await listShards(kinesisClient(), config.streamName)), config.shardMapTtlMs),
    };
  }
  return shardMaps.cache;
}

/** Tests: forget the cached shard map. */
export function resetShardMapCache(): void {
  shardMaps = undefined;
}

/**
 * Another invocation is writing the same request now (a duplicate delivery, or a caller's retry
 * with the same requestId while the first try runs). Thrown so that Lambda retries an
 * asynchronous event later, when the other one has finished; HTTP answers 409.
 */
export class ProducerBusyError extends Error {
  public override readonly name = 'ProducerBusyError';
  constructor(
    public readonly key: string,
    public readonly leaseUntil: number,
  ) {
    super(`request ${key} is being written by another invocation (lease until ${new Date(leaseUntil).toISOString()}); try again later`);
  }
}

/** The container's shard map, reloaded on `refresh`. */
function shardMapOf(config: ProducerConfig): (refresh: boolean) => Promise<ShardMap> {
  const cache = shardMapCache(config);
  return (refresh) => {
    if (refresh) {
      cache.invalidate();
    }
    return cache.get();
  };
}

/**
 * Starts loading the container's shard map when it has none (or an old one), without waiting: the
 * write that follows gets the same load (a failure is not kept; the writer loads again, with its
 * retries). A fresh container's ListShards round trip then overlaps the progress claim's and the
 * validation of the request.
 */
export function prefetchShardMap(config: ProducerConfig): void {
  shardMapCache(config)
    .get()
    .catch(() => undefined);
}

/** Plans the entries of `records` ahead (see `WriteOptions.prepared`), e.g. while the progress table's claim is in flight. */
export function prepare(records: readonly ProducerRecord[], config: ProducerConfig): Promise<PreparedPlan | undefined> {
  return preparePlan(records, shardMapOf(config), config.limits);
}

/** Writes validated user records to the stream within the invocation's remaining time; `onWritten` hears each round's acknowledged indices. */
export async function produce(
  records: readonly ProducerRecord[],
  config: ProducerConfig,
  remainingMs: number,
  onWritten?: (indices: readonly number[], last: boolean) => Promise<boolean>,
  prepared?: PreparedPlan,
): Promise<WriteOutcome> {
  return writeRecords(records, {
    client: kinesisClient(),
    streamName: config.streamName,
    limits: config.limits,
    backoff: config.backoff,
    callTimeoutMs: config.callTimeoutMs,
    ...(onWritten ? { onWritten } : {}),
    ...(prepared ? { prepared } : {}),
    budget: TimeBudget.fromRemaining(remainingMs, config.safetyMarginMs),
    shardMap: shardMapOf(config),
  });
}

export function toResult(recordCount: number, outcome: WriteOutcome): ProduceResult {
  return { recordCount, writtenCount: outcome.writtenCount, failedCount: outcome.failed.length, failed: outcome.failed };
}
