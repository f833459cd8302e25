import { PutRecordsCommand, type KinesisClient, type PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { inHashRange, routingHashKey } from '../shared/hash-key';
import { fullJitterDelay, sleep, type BackoffOptions, type TimeBudget } from '../shared/retry';
import type { ShardMap } from '../shared/shard-map';
import { batchEntries, loneEntries, planEntries, type KinesisEntry, type UserRecord } from './aggregate';
import type { ProducerLimits } from './limits';

/** A user record that was not written, by its index in the request. */
export interface FailedRecord {
  readonly index: number;
  readonly errorCode: string;
  readonly errorMessage?: string;
}

export interface WriteOutcome {
  /** Request indices of user records Kinesis acknowledged, ascending. */
  readonly written: number[];
  /** User records not written, ascending by index. */
  readonly failed: FailedRecord[];
  /** Kinesis records (entries) acknowledged. */
  readonly kinesisRecords: number;
  /** Entries sent again after a failure. */
  readonly retries: number;
  /** Entry failures with ProvisionedThroughputExceededException (or a throttled request). */
  readonly throttledEntries: number;
  /** Acknowledged entries that Kinesis put on another shard than the map said: the map is stale. */
  readonly misroutedEntries: number;
  /**
   * User records sent again because the aggregate that carried them was stored on a shard that
   * does not own their hash key (the stream was resharded after the map was loaded): a KCL
   * consumer drops such records, so the KPL sends them again, and so do we.
   */
  readonly resentRecords: number;
}

export interface WriteOptions {
  readonly client: KinesisClient;
  readonly streamName: string;
  readonly limits: ProducerLimits;
  readonly backoff: BackoffOptions;
  readonly budget: TimeBudget;
  /** The shard map; `refresh: true` after Kinesis put an entry on another shard than expected. */
  readonly shardMap: (refresh: boolean) => Promise<ShardMap>;
  /** PutRecords requests in flight at once. @default 4 */
  readonly concurrency?: number;
  readonly random?: () => number;
  readonly wait?: (ms: number) => Promise<void>;
}

const THROTTLED = new Set(['ProvisionedThroughputExceededException', 'ThrottlingException', 'LimitExceededException', 'KMSThrottlingException']);
/** Entry or request errors worth another try; anything else (access, KMS key state, validation) fails at once. */
const RETRYABLE = new Set([...THROTTLED, 'InternalFailure', 'InternalFailureException', 'ServiceUnavailable', 'ServiceUnavailableException']);
const NETWORK = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'TimeoutError', 'RequestTimeout']);

/** Internal marker: the request was never sent because the budget was spent. */
const NOT_SENT = 'NotSent';
/** The error of a record stored in an aggregate on a shard that does not own it, when it cannot be sent again. */
const WRONG_SHARD = 'WrongShard';

/** Least time a PutRecords call is given; below this the budget is spent. */
const MIN_CALL_MS = 250;

interface Attempt { entry: KinesisEntry; result?: PutRecordsResultEntry; error?: { code: string; message?: string } }

/**
 * Writes user records with PutRecords: plans shard-aware entries, sends them in batches, and
 * retries only the entries that failed with a retryable error, with exponential backoff and full
 * jitter, while the time budget lasts. A failed aggregate fails every user record inside it;
 * an entry is reported written only when Kinesis returned a sequence number for it.
 *
 * An aggregate planned on a stale map (a reshard happened since it was loaded) is stored on the
 * shard that owns its ExplicitHashKey now, which may not own every record inside: KCL consumers
 * drop those ("Wrong Shard" in the KPL). The map is reloaded at once, records in the landing
 * shard's range count as written, and the others are planned again and re-sent. A record that
 * lands wrong a second time, or on a shard the map does not know, goes alone: routed by its own
 * hash key it lands on the shard that owns it, so the re-sends end. With ordering groups every
 * entry, re-sends too, travels under its records' group key (`ordering.ts`): per-key order holds.
 */
export async function writeRecords(records: readonly UserRecord[], options: WriteOptions): Promise<WriteOutcome> {
  const wait = options.wait ?? sleep;
  const written: number[] = [];
  const failed: FailedRecord[] = [];
  let kinesisRecords = 0;
  let retries = 0;
  let throttledEntries = 0;
  let misroutedEntries = 0;
  let resentRecords = 0;
  const recordAt = new Map(records.map((record) => [record.index, record]));
  let pending = records;
  let refresh = false;
  /**
   * Records to send alone, routed by their own hash key (raw under their own keys, or with ordering
   * groups a one-record aggregate under their group's key): their aggregate landed on a shard the
   * map does not know, or landed wrong twice.
   */
  const sendAlone = new Set<number>();
  /** Records already re-sent once because their aggregate landed on a shard not owning them. */
  const resent = new Set<number>();
  let lastError: { code: string; message?: string } | undefined;
  let map: ShardMap | undefined;
  for (let attempt = 0; pending.length > 0; attempt++) {
    try {
      map = await options.shardMap(refresh);
    } catch (caught) {
      if (map === undefined) {
        // Nothing was sent: every record failed, with the error that stopped the shard map.
        const error = caught as { name?: string; message?: string };
        const errorCode = error.name ?? 'ShardMapError';
        const errorMessage = `shard map not loaded: ${error.message ?? String(caught)}`;
        return { written: [], failed: records.map(({ index }) => ({ index, errorCode, errorMessage })), kinesisRecords: 0, retries: 0, throttledEntries: 0, misroutedEntries: 0, resentRecords: 0 };
      }
      // Some records are written already, so the answer must still say which: keep the map we
      // have (Kinesis routes by hash key whatever the map says) rather than throw that away.
    }
    const entries = sendAlone.size === 0
      ? planEntries(pending, map, options.limits)
      : [...planEntries(pending.filter((r) => !sendAlone.has(r.index)), map, options.limits), ...loneEntries(pending.filter((r) => sendAlone.has(r.index)), map, options.limits)];
    refresh = false;
    const attempts = await sendAll(entries, options);
    const retry: UserRecord[] = [];
    let retryEntries = 0;
    const strays: Array<{ entry: KinesisEntry; shardId: string }> = [];
    for (const { entry, result, error } of attempts) {
      if (result?.SequenceNumber && !result.ErrorCode) {
        kinesisRecords++;
        if (result.ShardId && result.ShardId !== entry.shardId) {
          misroutedEntries++;
          refresh = true;
          if (entry.indices.length > 1) {
            strays.push({ entry, shardId: result.ShardId });
            continue;
          }
          // A lone record (raw, or a one-record aggregate) is routed by its own hash key, so it
          // is on the shard that owns it.
        }
        written.push(...entry.indices);
        continue;
      }
      if (error?.code === NOT_SENT) {
        // The budget ran out before this request left: report the error that made it wait.
        const code = lastError?.code ?? 'RequestTimedOut';
        failed.push(...entry.indices.map((index) => ({ index, errorCode: code, errorMessage: `not retried: time budget spent${lastError?.message ? `; last error: ${lastError.message}` : ''}` })));
        continue;
      }
      const code = result?.ErrorCode ?? error?.code ?? 'UnknownError';
      const message = result?.ErrorMessage ?? error?.message;
      if (THROTTLED.has(code)) {
        throttledEntries++;
      }
      if (isRetryable(code)) {
        lastError = { code, message };
        retryEntries++;
        retry.push(...entry.indices.map((index) => recordAt.get(index)!));
      } else {
        failed.push(...entry.indices.map((index) => ({ index, errorCode: code, ...(message ? { errorMessage: message } : {}) })));
      }
    }
    if (refresh) {
      // Kinesis put an entry on another shard than the map said: the stream was resharded. Reload
      // now, so that re-sends and retries (and the container's next request) use the new map.
      try {
        map = await options.shardMap(true);
        refresh = false;
      } catch {
        // Keep the old map; a landing shard it does not know is handled below.
      }
    }
    const resend: UserRecord[] = [];
    for (const { entry, shardId } of strays) {
      const landed = map!.rangeOf(shardId);
      for (const index of entry.indices) {
        const record = recordAt.get(index)!;
        if (landed !== undefined && inHashRange(landed, routingHashKey(record))) {
          written.push(index);
          continue;
        }
        if (landed === undefined || resent.has(index)) {
          // Where it belongs is unknown (the map does not know the landing shard), or a fresh
          // map already sent it wrong once: it goes alone, routed by its own hash key, which
          // Kinesis routes right whatever the map says (with ordering groups under its group's
          // key still, so its user key keeps one outer key). All of an unknown shard's records go
          // again: a duplicate for a consumer that keeps out-of-range records, never a loss,
          // never the same miss twice.
          sendAlone.add(index);
        }
        resent.add(index);
        resend.push(record);
      }
    }
    if (retry.length === 0 && resend.length === 0) {
      break;
    }
    // Failed entries wait out a backoff; re-sends of records on a wrong shard go at once.
    const delay = retry.length > 0 ? fullJitterDelay(attempt, options.backoff, options.random) : 0;
    if (!options.budget.allows(delay, MIN_CALL_MS)) {
      // Out of time: report what is left with the last error it got.
      failed.push(...retry.map((r) => ({ index: r.index, errorCode: lastError!.code, errorMessage: `not retried: time budget spent${lastError!.message ? `; last error: ${lastError!.message}` : ''}` })));
      failed.push(...resend.map((r) => ({ index: r.index, errorCode: WRONG_SHARD, errorMessage: 'stored in an aggregate on a shard that does not own its hash key (the stream was resharded); not re-sent: time budget spent' })));
      break;
    }
    retries += retryEntries;
    resentRecords += resend.length;
    retry.push(...resend);
    await wait(delay);
    pending = retry.sort((a, b) => a.index - b.index);
  }
  written.sort((a, b) => a - b);
  failed.sort((a, b) => a.index - b.index);
  return { written, failed, kinesisRecords, retries, throttledEntries, misroutedEntries, resentRecords };
}


function isRetryable(code: string): boolean {
  return RETRYABLE.has(code) || NETWORK.has(code) || code === 'RequestTimedOut';
}

async function sendAll(entries: readonly KinesisEntry[], options: WriteOptions): Promise<Attempt[]> {
  const batches = batchEntries(entries, options.limits);
  const results: Attempt[][] = new Array(batches.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < batches.length) {
      const at = next++;
      results[at] = await sendBatch(batches[at], options);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 4, batches.length) }, worker));
  return results.flat();
}

async function sendBatch(batch: readonly KinesisEntry[], options: WriteOptions): Promise<Attempt[]> {
  const remaining = options.budget.remaining();
  if (remaining < MIN_CALL_MS) {
    return batch.map((entry) => ({ entry, error: { code: NOT_SENT } }));
  }
  try {
    const answer = await options.client.send(new PutRecordsCommand({
      StreamName: options.streamName,
      Records: batch.map((entry) => ({
        Data: entry.data,
        PartitionKey: entry.partitionKey,
        ...(entry.explicitHashKey === undefined ? {} : { ExplicitHashKey: entry.explicitHashKey }),
      })),
    }), { abortSignal: AbortSignal.timeout(remaining) as never });
    const entries = answer.Records ?? [];
    return batch.map((entry, i) => ({ entry, result: entries[i] ?? { ErrorCode: 'MissingResult', ErrorMessage: 'PutRecords answered without this entry' } }));
  } catch (caught) {
    const error = caught as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    let code = error.name === 'AbortError' ? 'RequestTimedOut' : (error.name ?? error.code ?? 'UnknownError');
    if (error.code && NETWORK.has(error.code)) {
      code = error.code;
    } else if (!isRetryable(code) && (error.$metadata?.httpStatusCode ?? 0) >= 500) {
      code = 'InternalFailure';
    }
    return batch.map((entry) => ({ entry, error: { code, message: error.message } }));
  }
}
