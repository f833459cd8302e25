import { createHash } from 'crypto';
import type { ProducerRecord } from './aggregate';
import { ProducerBusyError, indicesByCode, type ProduceResult } from './producer';
import { ProgressStatus, type Claim, type ProgressStore, WrittenSet } from './progress-store';
import { ProducerInputError, RULES } from './validate';
import type { FailedRecord, PreparedPlan, WriteOutcome } from './writer';

/** The error code of every record when the progress table cannot be reached: nothing is sent (it could not be told apart from a copy later). */
export const PROGRESS_STORE_UNAVAILABLE = 'ProgressStoreUnavailable';

/**
 * A request's records still to be validated: `count` (the length of its `records` list) is all the
 * claim needs, so `parse` runs while the claim's round trip is in flight. A `parse` that yields (the
 * handler validates in slices) lets that round trip, and the shard map's, go on meanwhile.
 */
export interface DeferredRecords {
  readonly count: number;
  readonly parse: () => ProducerRecord[] | Promise<ProducerRecord[]>;
}

export interface OnceOptions {
  /** The progress table; without it every delivery writes everything (at least once). */
  readonly store?: ProgressStore;
  /** The request's key in the progress table; undefined: no deduplication (an HTTP request without a requestId). */
  readonly key?: string;
  /** For a caller's requestId: the hash of the records as received; the same id with other records is refused. */
  readonly payloadHash: string;
  /** This invocation's name as lease owner (unique per delivery). */
  readonly owner: string;
  readonly remainingMs: () => number;
  readonly produce: (
    records: readonly ProducerRecord[],
    remainingMs: number,
    onWritten?: (indices: readonly number[], last: boolean) => Promise<boolean>,
    prepared?: PreparedPlan,
  ) => Promise<WriteOutcome>;
  /**
   * Plans the entries while the claim is in flight (pure work: nothing is sent before the claim
   * answers); `produce` gets the plan when nothing of the request was written before.
   */
  readonly prepare?: (records: readonly ProducerRecord[]) => Promise<PreparedPlan | undefined>;
  /**
   * Starts loading what the write needs from the network (the shard map), so that its round trip
   * runs while the claim's does and the records are validated; called once, before validation.
   */
  readonly prefetch?: () => void;
  readonly now?: () => number;
}

export interface OnceResult {
  readonly result: ProduceResult;
  /** This delivery's write, if it wrote. */
  readonly outcome?: WriteOutcome;
  /** Records an earlier delivery had written (not sent again). */
  readonly alreadyWritten: number;
  /**
   * False when what this delivery wrote could not all be recorded in the progress table: a later
   * delivery would send those records again, so the handler does not ask Lambda for one.
   */
  readonly progressSaved: boolean;
}

/** SHA-256 of the records as the caller sent them (JSON text; data within the depth limit, so this cannot overflow). */
export function payloadHashOf(records: unknown): string {
  return createHash('sha256').update(JSON.stringify(records)).digest('base64url');
}

/**
 * Writes a request so that no delivery of it writes a record an earlier one wrote: claims the
 * request in the progress table (one delivery at a time), sends only the records not marked
 * written, marks what Kinesis acknowledged after every round of calls, and ends with COMPLETE or
 * PARTIAL. A delivery of a COMPLETE request answers "all written" and sends nothing; one that
 * finds another delivery writing throws `ProducerBusyError`; a caller's requestId seen before with
 * other records is refused. If the table cannot be reached nothing is sent and every record is
 * reported `ProgressStoreUnavailable` (retryable: Lambda's next try may find it).
 */
export async function produceOnce(input: readonly ProducerRecord[] | DeferredRecords, options: OnceOptions): Promise<OnceResult> {
  const deferred = isDeferred(input) ? input : undefined;
  const count = deferred ? deferred.count : (input as readonly ProducerRecord[]).length;
  const { store, key } = options;
  if (store === undefined || key === undefined) {
    options.prefetch?.();
    const records = deferred ? await deferred.parse() : (input as readonly ProducerRecord[]);
    const outcome = await options.produce(records, options.remainingMs());
    return { result: resultOf(count, outcome.writtenCount, outcome.failed), outcome, alreadyWritten: 0, progressSaved: true };
  }
  const now = options.now ?? Date.now;
  let claim;
  let claiming: Promise<Claim> | undefined;
  let records: readonly ProducerRecord[] = deferred ? [] : (input as readonly ProducerRecord[]);
  let prepared: Promise<PreparedPlan | undefined> | undefined;
  let parsing = false;
  try {
    claiming = store.claim(
      key,
      options.payloadHash,
      count,
      options.owner,
      now() + options.remainingMs(),
      AbortSignal.timeout(Math.max(1, options.remainingMs())),
    );
    options.prefetch?.();
    if (options.prepare || deferred) {
      // Validate and plan while the claim's round trip runs: first let its request go out
      // (setImmediate runs after the SDK's promise chain has written it), then parse and pack.
      // Nothing is sent before the claim answers, and only what it says is not written.
      claiming.catch(() => undefined);
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (deferred) {
      parsing = true;
      records = await deferred.parse();
      parsing = false;
    }
    if (options.prepare) {
      prepared = options.prepare(records).catch(() => undefined);
    }
    claim = await claiming;
  } catch (caught) {
    if (caught instanceof ProducerInputError) {
      throw await refusalAfterClaim(caught, claiming!, store, key, options.owner);
    }
    if (parsing) {
      throw caught; // not the table's failure: the handler's own
    }
    const errorMessage = `nothing sent: the progress table could not be reached (${(caught as Error).message})`;
    return {
      result: resultOf(
        count,
        0,
        records.map(({ index }) => ({ index, errorCode: PROGRESS_STORE_UNAVAILABLE, errorMessage })),
      ),
      alreadyWritten: 0,
      progressSaved: true,
    };
  }
  switch (claim.kind) {
    case 'complete':
      return { result: resultOf(count, count, []), alreadyWritten: count, progressSaved: true };
    case 'busy':
      throw new ProducerBusyError(key, claim.leaseUntil);
    case 'mismatch':
    case 'refused':
      throw new ProducerInputError([{ index: -1, rule: RULES.requestId }]);
    default:
      break;
  }
  const written = claim.written;
  const alreadyWritten = written.count() === 0 ? 0 : records.filter(({ index }) => written.has(index)).length;
  const pending = alreadyWritten === 0 ? records : records.filter(({ index }) => !written.has(index));
  const plan = alreadyWritten === 0 ? await prepared : undefined;
  let progressSaved = true;
  /** Indices acknowledged in the last round, recorded by the final write (nothing is sent in between). */
  let unsaved = false;
  const save = async (final?: {
    status: typeof ProgressStatus.COMPLETE | typeof ProgressStatus.PARTIAL;
    failed: string;
  }): Promise<boolean> => {
    try {
      progressSaved = await store.save(key, options.owner, written, final, AbortSignal.timeout(Math.max(1, options.remainingMs())));
    } catch {
      progressSaved = false;
    }
    return progressSaved;
  };
  let outcome: WriteOutcome | undefined;
  /** The last round's acknowledged indices: in the bitmap only if the final write stores one (PARTIAL). */
  let lastRound: readonly number[] = [];
  if (pending.length > 0) {
    outcome = await options.produce(
      pending,
      options.remainingMs(),
      async (indices, last) => {
        if (last) {
          // The writer sends nothing more: the final write below records these with the status,
          // one round trip instead of two, and no call to Kinesis in between.
          lastRound = indices;
          unsaved = true;
          return true;
        }
        addAll(written, indices);
        return save();
      },
      plan,
    );
  }
  const failed = outcome?.failed ?? [];
  if (failed.length > 0) {
    addAll(written, lastRound); // PARTIAL keeps the bitmap; COMPLETE drops it
  }
  if (progressSaved) {
    // Every earlier round is saved already: if this last write fails, the item keeps its bitmap
    // and its lease, which ends with this invocation, so the next delivery takes over from
    // there; but if it carried the last round's acknowledgements, those are not recorded, and a
    // retry would copy them: then progress counts as not saved.
    const saved = progressSaved;
    const ok = await save({
      status: failed.length === 0 ? ProgressStatus.COMPLETE : ProgressStatus.PARTIAL,
      failed: JSON.stringify(indicesByCode(failed)),
    });
    progressSaved = unsaved ? ok : saved;
  }
  // Written: what earlier deliveries wrote (not sent again) and what Kinesis acknowledged now.
  const writtenCount = alreadyWritten + (outcome?.writtenCount ?? 0);
  return { result: resultOf(count, writtenCount, failed), ...(outcome ? { outcome } : {}), alreadyWritten, progressSaved };
}

function addAll(written: WrittenSet, indices: readonly number[]): void {
  for (let i = 0; i < indices.length; i++) {
    written.add(indices[i]);
  }
}

function isDeferred(input: readonly ProducerRecord[] | DeferredRecords): input is DeferredRecords {
  return !Array.isArray(input);
}

/**
 * A request refused for its input after its claim went out: once the claim answers, the item this
 * delivery claimed becomes the refusal (`REFUSED`, so Lambda's retries find it and log once), and
 * the error says whether this is the first delivery to refuse it. A claim that found an earlier
 * refusal (or another delivery at work) makes this a repeat; a claim that failed leaves the
 * recording to the handler, as before the claim was overlapped.
 */
async function refusalAfterClaim(
  error: ProducerInputError,
  claiming: Promise<Claim>,
  store: ProgressStore,
  key: string,
  owner: string,
): Promise<ProducerInputError> {
  let claim: Claim;
  try {
    claim = await claiming;
  } catch {
    return error;
  }
  if (claim.kind !== 'claimed') {
    return new ProducerInputError(error.errors, 'again');
  }
  try {
    await store.refuseClaimed(key, owner, error.message);
  } catch {
    // Not recorded: the lease ends with this invocation, and the next delivery refuses it again.
  }
  return new ProducerInputError(error.errors, 'first');
}

function resultOf(recordCount: number, writtenCount: number, failed: readonly FailedRecord[]): ProduceResult {
  return { recordCount, writtenCount, failedCount: failed.length, failed };
}

/** Tests and tools: a WrittenSet from indices. */
export function writtenSetOf(count: number, indices: readonly number[]): WrittenSet {
  const set = WrittenSet.empty(count);
  addAll(set, indices);
  return set;
}
