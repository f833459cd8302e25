import { PutRecordsCommand, type KinesisClient, type PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { fullJitterDelay, sleep, type BackoffOptions, type TimeBudget } from '../shared/retry';
import type { ShardMap } from '../shared/shard-map';
import { batchEntries, planEntries, type KinesisEntry, type UserRecord } from './aggregate';
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

/** Least time a PutRecords call is given; below this the budget is spent. */
const MIN_CALL_MS = 250;

interface Attempt { entry: KinesisEntry; result?: PutRecordsResultEntry; error?: { code: string; message?: string } }

/**
 * Writes user records with PutRecords: plans shard-aware entries, sends them in batches, and
 * retries only the entries that failed with a retryable error, with exponential backoff and full
 * jitter, while the time budget lasts. A failed aggregate fails every user record inside it;
 * an entry is reported written only when Kinesis returned a sequence number for it.
 */
export async function writeRecords(records: readonly UserRecord[], options: WriteOptions): Promise<WriteOutcome> {
  const wait = options.wait ?? sleep;
  const written: number[] = [];
  const failed: FailedRecord[] = [];
  let kinesisRecords = 0;
  let retries = 0;
  let throttledEntries = 0;
  let misroutedEntries = 0;
  const recordAt = new Map(records.map((record) => [record.index, record]));
  let pending = records;
  let refresh = false;
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
        return { written: [], failed: records.map(({ index }) => ({ index, errorCode, errorMessage })), kinesisRecords: 0, retries: 0, throttledEntries: 0, misroutedEntries: 0 };
      }
      // Some records are written already, so the answer must still say which: keep the map we
      // have (Kinesis routes by hash key whatever the map says) rather than throw that away.
    }
    const entries = planEntries(pending, map, options.limits);
    refresh = false;
    const attempts = await sendAll(entries, options);
    const retry: UserRecord[] = [];
    let retryEntries = 0;
    for (const { entry, result, error } of attempts) {
      if (result?.SequenceNumber && !result.ErrorCode) {
        kinesisRecords++;
        written.push(...entry.indices);
        if (result.ShardId && result.ShardId !== entry.shardId) {
          misroutedEntries++;
          refresh = true;
        }
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
    if (retry.length === 0) {
      break;
    }
    const delay = fullJitterDelay(attempt, options.backoff, options.random);
    if (!options.budget.allows(delay, MIN_CALL_MS)) {
      // Out of time: report what is left with the last error it got.
      failed.push(...retry.map((r) => ({ index: r.index, errorCode: lastError!.code, errorMessage: `not retried: time budget spent${lastError!.message ? `; last error: ${lastError!.message}` : ''}` })));
      break;
    }
    retries += retryEntries;
    await wait(delay);
    pending = retry.sort((a, b) => a.index - b.index);
  }
  written.sort((a, b) => a - b);
  failed.sort((a, b) => a.index - b.index);
  return { written, failed, kinesisRecords, retries, throttledEntries, misroutedEntries };
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
