import type { Context, KinesisStreamBatchResponse, KinesisStreamRecord } from 'aws-lambda';
import { deaggregateRecords, shardIdOf, type UserRecord } from '../shared/deaggregate';
import { hashKeyOf, inHashRange, MAX_HASH_KEY, parseHashKey } from '../shared/hash-key';
import type { Lease, LeaseShardAttributes } from '../shared/lease-item';
import { LeaseLostError, type LeaseExtras, type LeaseStore } from '../shared/lease-store';
import {
  coveredByEntry,
  EMPTY_PROGRESS,
  encodeProgress,
  fitProgress,
  mergeProgress,
  pruneBelow,
  type KeyProgress,
  type Position,
  type Run,
  type ShardProgress,
} from '../shared/progress';
import { sleep } from '../shared/retry';
import { compareExtended, isSentinel, parseSequenceNumber, Sentinel, type ExtendedSequenceNumber } from '../shared/sequence-number';
import { CONSUMER_DEFAULTS, Ordering } from './contract';
import type { ShardLineage } from './lineage';
import { ItemState, runByKey } from './scheduler';

/** The user's record processor: resolves when the record is processed, rejects to stop the shard there. */
export type RecordProcessor = (record: UserRecord, context: Context) => Promise<void>;

export interface ConsumerDeps {
  readonly processRecord: RecordProcessor;
  /** Where checkpoints live; undefined turns checkpointing (and duplicate skipping) off. */
  readonly leases?: LeaseStore;
  /** The lease owner written with each checkpoint (the function's name). */
  readonly owner: string;
  /**
   * Start no new record when less time than this is left; wait for those in flight until a
   * quarter of it (at most 1 s) is left, checkpoint, and let Lambda redeliver the rest.
   */
  readonly reserveMillis?: number;
  /**
   * The hash key range of a shard by id. When given, user records inside a KPL aggregate that
   * hash outside the shard they were read from are skipped, as the KCL skips them: a producer
   * with a stale shard map put them there, and a shard-aware producer (ProducerFunction, the
   * KPL) sends them again to the right shard. Undefined for a shard processes everything.
   */
  readonly shardRange?: (shardId: string) => Promise<{ readonly start: bigint; readonly end: bigint } | undefined>;
  /** Per partition key in order, keys concurrently (default), or one record at a time per shard. */
  readonly ordering?: Ordering;
  /** User records in flight at most (PARTITION_KEY ordering). @default 16 */
  readonly maxConcurrency?: number;
  /**
   * The largest parallelization factor the mapping may run with. At 1 a batch is a consecutive
   * run of its shard, so the lease's low watermark moves with it; above 1 only the per-key
   * progress does. @default 1
   */
  readonly maxParallelizationFactor?: number;
  /**
   * The shard's lineage from ListShards (hash key range, parents, children, and the end of a
   * closed shard), for the lease's KCL attributes and SHARD_END. `fresh` asks again about a shard
   * that may have closed since the last answer. Undefined (or an undefined answer): the lease gets
   * no hash range, parents nor children, and never SHARD_END.
   */
  readonly shardLineage?: (shardId: string, fresh: boolean) => Promise<ShardLineage | undefined>;
  /** Bound of the lease's encoded progress. @default MAX_PROGRESS_BYTES */
  readonly maxProgressBytes?: number;
  readonly log?: {
    warn(message: string, extra: Record<string, unknown>): void;
    error(message: string, extra: Record<string, unknown>): void;
  };
  readonly now?: () => number;
}

export interface ShardOutcome {
  readonly shardId: string;
  /** User records whose processor completed in this invocation. */
  readonly userRecords: number;
  /** Redelivered user records skipped because the lease shows them processed. */
  readonly duplicatesSkipped: number;
  /** Sub-records of aggregates skipped because they hash outside this shard (with `shardRange`). */
  readonly outOfRangeSkipped: number;
  /** User records whose processor failed (each stops its key). */
  readonly failures: number;
  readonly failed: boolean;
  /** The lease's checkpoint (low watermark) after this invocation, when checkpointing. */
  readonly checkpoint?: ExtendedSequenceNumber;
  /** Milliseconds from the arrival of the newest record processed to its checkpoint. */
  readonly checkpointLagMillis?: number;
  /** Outer partition keys with progress above the checkpoint in the lease, after the write. */
  readonly progressKeys: number;
  /** Entries dropped to keep the lease item small (their records may be processed again if redelivered). */
  readonly progressEvicted: number;
  /** Lease writes that lost to a concurrent invocation of the shard and were merged and retried. */
  readonly leaseConflicts: number;
  /** Records with the KPL magic that could not be read as aggregates (bad MD5 or body), handed over whole and flagged `corrupt`. */
  readonly corruptRecords: number;
  /** KPL aggregates that hold no user record. */
  readonly emptyAggregates: number;
  /** This invocation wrote SHARD_END: every record of the closed shard is handled. */
  readonly shardEnded: boolean;
}

export interface BatchOutcome {
  readonly response: KinesisStreamBatchResponse;
  readonly shards: ShardOutcome[];
}

const MAX_ACQUIRE_ATTEMPTS = 3;
/**
 * Concurrent invocations of one shard (parallelization factor up to 10) merge and retry their
 * lease writes: up to this many attempts while the invocation has time, each after a short random
 * pause that does not grow (a growing backoff starves the older writer: newer ones keep winning).
 */
const MAX_COMMIT_ATTEMPTS = 200;
const COMMIT_RETRY_PAUSE_MS = 10;
/** The lease write stops retrying when less time than this is left (the invocation then fails and Lambda retries it). */
const COMMIT_DEADLINE_MARGIN_MS = 300;
const MAX_FAILURE_LOGS = 10;

/**
 * Consumes a Lambda Kinesis batch, per shard: deaggregates, skips the user records the lease
 * shows processed, runs the rest by key (in order per partition key, keys concurrently, or one at
 * a time per shard), folds what was handled into the lease (low watermark and per-outer-key
 * progress, merged with concurrent writers), and answers `batchItemFailures` with the lowest
 * Kinesis record not fully handled, so Lambda redelivers from there.
 */
export async function consumeBatch(records: readonly KinesisStreamRecord[], context: Context, deps: ConsumerDeps): Promise<BatchOutcome> {
  const byShard = new Map<string, KinesisStreamRecord[]>();
  for (const record of records) {
    const shardId = shardIdOf(record);
    const list = byShard.get(shardId);
    if (list) {
      list.push(record);
    } else {
      byShard.set(shardId, [record]);
    }
  }
  const shards: ShardOutcome[] = [];
  const batchItemFailures: { itemIdentifier: string }[] = [];
  for (const [shardId, shardRecords] of byShard) {
    const outcome = await consumeShard(shardId, shardRecords, context, deps);
    shards.push(outcome.result);
    if (outcome.retryFrom !== undefined) {
      batchItemFailures.push({ itemIdentifier: outcome.retryFrom });
    }
  }
  return { response: { batchItemFailures }, shards };
}

/** A shard's records, flattened to user records, with what is already known of each. */
interface ShardWork {
  readonly users: UserRecord[];
  /** Per user record: its Kinesis record's index. */
  readonly recordOf: number[];
  /** Per Kinesis record: its sequence number. */
  readonly sequences: bigint[];
  readonly states: Uint8Array;
  readonly duplicatesSkipped: number;
  readonly outOfRangeSkipped: number;
  readonly corruptRecords: number;
  readonly emptyAggregates: number;
}

async function consumeShard(
  shardId: string,
  records: readonly KinesisStreamRecord[],
  context: Context,
  deps: ConsumerDeps,
): Promise<{ result: ShardOutcome; retryFrom?: string }> {
  let lineage = deps.leases && deps.shardLineage ? await deps.shardLineage(shardId, false) : undefined;
  const lease = deps.leases ? await acquire(deps.leases, shardId, deps.owner, lineage) : undefined;
  const work = prepare(shardId, records, lease, await rangeFilter(shardId, deps));
  const { users, states } = work;

  const ordering = deps.ordering ?? Ordering.PARTITION_KEY;
  const keys: string[] = ordering === Ordering.SHARD ? new Array<string>(users.length).fill('') : users.map((user) => user.partitionKey);
  const maxConcurrency = ordering === Ordering.SHARD ? 1 : Math.max(1, deps.maxConcurrency ?? CONSUMER_DEFAULTS.maxConcurrency);
  const reserve = deps.reserveMillis ?? 0;
  let started = 0;
  let failures = 0;
  const run = (index: number): Promise<void> => {
    started++;
    return deps.processRecord(users[index], context);
  };
  const onFailure = (index: number, error: unknown) => {
    failures++;
    if (failures <= MAX_FAILURE_LOGS) {
      const user = users[index];
      deps.log?.error('processor failed: stopping this partition key for this batch', {
        shardId,
        sequenceNumber: user.sequenceNumber,
        subSequenceNumber: user.subSequenceNumber,
        partitionKey: user.partitionKey,
        error,
      });
    }
  };
  const mayStart = () => reserve <= 0 || started === 0 || context.getRemainingTimeInMillis() >= reserve;
  const scheduled = runByKey(keys, states, run, { maxConcurrency, mayStart }, onFailure);
  await untilDoneOrOutOfTime(scheduled, context, reserve);
  if (failures > MAX_FAILURE_LOGS) {
    deps.log?.error('processor failures in this batch (first ones logged)', { shardId, failures });
  }

  let retryFrom: string | undefined;
  let processed = 0;
  let newestArrival: number | undefined;
  for (let i = 0; i < users.length; i++) {
    const state = states[i];
    if (state === ItemState.DONE) {
      processed++;
      newestArrival = Math.max(newestArrival ?? 0, users[i].approximateArrivalTimestamp);
    } else if (state !== ItemState.HANDLED && retryFrom === undefined) {
      retryFrom = records[work.recordOf[i]].kinesis.sequenceNumber;
    }
  }
  if (retryFrom !== undefined && failures === 0) {
    deps.log?.warn('time budget reached: checkpointing and leaving the rest for Lambda to redeliver', { shardId, retryFrom });
  }

  let written: Lease | undefined;
  let progressEvicted = 0;
  let leaseConflicts = 0;
  let shardEnded = false;
  if (deps.leases && lease) {
    const wholeShard = (deps.maxParallelizationFactor ?? 1) <= 1;
    const delta = progressDelta(records, work, wholeShard);
    if (wholeShard && retryFrom === undefined && deps.shardLineage && lineage?.endingSequenceNumber === undefined) {
      // The whole batch is handled: the shard may have closed since the lineage was read.
      lineage = (await deps.shardLineage(shardId, true)) ?? lineage;
    }
    const commit = await commitProgress(deps.leases, lease, delta, deps, context, lineage);
    shardEnded = commit.shardEnded;
    written = commit.lease;
    progressEvicted = commit.evicted;
    leaseConflicts = commit.conflicts;
  }
  return {
    result: {
      shardId,
      userRecords: processed,
      duplicatesSkipped: work.duplicatesSkipped,
      outOfRangeSkipped: work.outOfRangeSkipped,
      failures,
      failed: failures > 0,
      checkpoint: written?.checkpoint,
      checkpointLagMillis: written && newestArrival !== undefined ? Math.max(0, (deps.now ?? Date.now)() - newestArrival) : undefined,
      progressKeys: written?.progress?.size ?? 0,
      progressEvicted,
      leaseConflicts,
      corruptRecords: work.corruptRecords,
      emptyAggregates: work.emptyAggregates,
      shardEnded,
    },
    retryFrom,
  };
}

/**
 * Waits for the scheduled records; when a reserve is set, stops waiting for records still in
 * flight once a quarter of the reserve (at most 1 s) is left, so the lease can still be written.
 * Those records count as not processed (if they complete later, they may run again).
 */
async function untilDoneOrOutOfTime(scheduled: Promise<void>, context: Context, reserve: number): Promise<void> {
  if (reserve <= 0) {
    await scheduled;
    return;
  }
  const margin = Math.min(reserve / 4, 1_000);
  let timer: NodeJS.Timeout | undefined;
  const outOfTime = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, Math.max(0, context.getRemainingTimeInMillis() - margin));
  });
  try {
    await Promise.race([scheduled, outOfTime]);
  } finally {
    clearTimeout(timer);
  }
}

/** Deaggregates the shard's records and marks what is handled already: out of range, or processed by the lease. */
function prepare(
  shardId: string,
  records: readonly KinesisStreamRecord[],
  lease: Lease | undefined,
  inRange: ((record: UserRecord) => boolean) | undefined,
): ShardWork {
  const low = lease ? lowWatermark(lease.checkpoint) : undefined;
  const progress = lease?.progress;
  const users: UserRecord[] = [];
  const recordOf: number[] = [];
  const sequences: bigint[] = new Array<bigint>(records.length);
  const handled: number[] = [];
  let duplicatesSkipped = 0;
  let outOfRangeSkipped = 0;
  let corruptRecords = 0;
  let emptyAggregates = 0;
  const byRecord = deaggregateRecords(records, shardId);
  for (let r = 0; r < records.length; r++) {
    const record = records[r];
    const sequence = parseSequenceNumber(record.kinesis.sequenceNumber);
    sequences[r] = sequence;
    const entry = progress?.get(record.kinesis.partitionKey);
    const deaggregated = byRecord[r];
    if (deaggregated.length === 0) {
      emptyAggregates++;
    } else if (deaggregated[0].corrupt !== undefined) {
      corruptRecords++;
    }
    for (const user of deaggregated) {
      const index = users.length;
      users.push(user);
      recordOf.push(r);
      if (inRange !== undefined && user.aggregated && !inRange(user)) {
        outOfRangeSkipped++;
        handled.push(index);
      } else if (
        lease !== undefined &&
        (atOrBelow(low, sequence, user.subSequenceNumber) || coveredByEntry(entry, sequence, user.subSequenceNumber))
      ) {
        duplicatesSkipped++;
        handled.push(index);
      }
    }
  }
  const states = new Uint8Array(users.length);
  for (const index of handled) {
    states[index] = ItemState.HANDLED;
  }
  return { users, recordOf, sequences, states, duplicatesSkipped, outOfRangeSkipped, corruptRecords, emptyAggregates };
}

/** The low watermark of a checkpoint: a position, undefined before any record, or 'all' at SHARD_END. */
function lowWatermark(checkpoint: ExtendedSequenceNumber): Position | 'all' | undefined {
  if (checkpoint.sequenceNumber === Sentinel.SHARD_END) {
    return 'all';
  }
  if (isSentinel(checkpoint.sequenceNumber)) {
    return undefined;
  }
  return { sequence: parseSequenceNumber(checkpoint.sequenceNumber), sub: checkpoint.subSequenceNumber };
}

function atOrBelow(low: Position | 'all' | undefined, sequence: bigint, sub: number): boolean {
  if (low === undefined) {
    return false;
  }
  return low === 'all' || sequence < low.sequence || (sequence === low.sequence && sub <= low.sub);
}

interface ProgressDelta {
  /** The end of the batch's handled prefix, when a batch is a consecutive run of the shard (max PF 1). */
  readonly low?: Position;
  /** With max PF 1: the sequence number of the last Kinesis record of the handled prefix whose user records are all handled. */
  readonly wholeThrough?: bigint;
  readonly keys: ShardProgress;
}

/**
 * What this batch adds to the lease. Per outer partition key (Lambda's unit of order): the end of
 * the key's handled prefix in the batch (every earlier record of the key was handled before Lambda
 * delivered this batch, and the batch holds all of the key's records from its first one on) and
 * the handled runs after the first record not handled. With `wholeShard`, the batch's own handled
 * prefix is the new low watermark.
 */
function progressDelta(records: readonly KinesisStreamRecord[], work: ShardWork, wholeShard: boolean): ProgressDelta {
  const { users, recordOf, sequences, states } = work;
  interface Open {
    prefix: boolean;
    upTo?: Position;
    runFrom?: Position;
    runTo?: Position;
    runs: Run[];
    seenAt: number;
  }
  const byKey = new Map<string, Open>();
  let low: Position | undefined;
  let lowOpen = wholeShard;
  let wholeThrough: bigint | undefined;
  let u = 0;
  for (let r = 0; r < records.length; r++) {
    const key = records[r].kinesis.partitionKey;
    let open = byKey.get(key);
    if (open === undefined) {
      open = { prefix: true, runs: [], seenAt: 0 };
      byKey.set(key, open);
    }
    const sequence = sequences[r];
    for (; u < users.length && recordOf[u] === r; u++) {
      const handled = states[u] === ItemState.DONE || states[u] === ItemState.HANDLED;
      const position: Position = { sequence, sub: users[u].subSequenceNumber };
      if (handled) {
        open.seenAt = Math.max(open.seenAt, users[u].approximateArrivalTimestamp);
        if (open.prefix) {
          open.upTo = position;
        } else {
          open.runFrom ??= position;
          open.runTo = position;
        }
        if (lowOpen) {
          low = position;
        }
      } else {
        open.prefix = false;
        lowOpen = false;
        if (open.runFrom !== undefined) {
          open.runs.push({ from: open.runFrom, to: open.runTo! });
          open.runFrom = undefined;
          open.runTo = undefined;
        }
      }
    }
    if (lowOpen) {
      // Every user record of this Kinesis record and of all before it is handled (an empty aggregate has none).
      wholeThrough = sequence;
    }
  }
  const keys = new Map<string, KeyProgress>();
  for (const [key, open] of byKey) {
    if (open.runFrom !== undefined) {
      open.runs.push({ from: open.runFrom, to: open.runTo! });
    }
    if (open.upTo !== undefined || open.runs.length > 0) {
      keys.set(key, { upTo: open.upTo, runs: open.runs, seenAt: open.seenAt });
    }
  }
  return { low, wholeThrough, keys };
}

/** The later of a checkpoint and a position. */
function later(checkpoint: ExtendedSequenceNumber, position: Position | undefined): ExtendedSequenceNumber {
  if (position === undefined) {
    return checkpoint;
  }
  const candidate = { sequenceNumber: position.sequence.toString(), subSequenceNumber: position.sub };
  return compareExtended(checkpoint, candidate) >= 0 ? checkpoint : candidate;
}

/**
 * Folds the delta into the lease: the checkpoint moves to the later of the two (never back), the
 * progress is the union, pruned below the checkpoint and bounded in size. Every write is
 * conditional on the lease counter; when a concurrent invocation of the shard wrote first, the
 * lease is read again and the delta merged into it again. Nothing is written when nothing changes.
 */
async function commitProgress(
  store: LeaseStore,
  lease: Lease,
  delta: ProgressDelta,
  deps: ConsumerDeps,
  context: Context,
  lineage: ShardLineage | undefined,
): Promise<{ lease: Lease; evicted: number; conflicts: number; shardEnded: boolean }> {
  // SHARD_END only when sound: every record of the shard is at or below its ending sequence
  // number, and every record up to one at or past it is handled (a consecutive prefix, max PF 1).
  const ends =
    delta.wholeThrough !== undefined && lineage?.endingSequenceNumber !== undefined && delta.wholeThrough >= lineage.endingSequenceNumber;
  // Above factor 1 other invocations of the shard write the lease while this one processes, so the
  // lease read at the start is usually stale by now: read it again first (a read costs a fifth of
  // the write a lost race would waste). At factor 1 the start's read is current.
  let current = (deps.maxParallelizationFactor ?? 1) > 1 ? ((await store.get(lease.leaseKey)) ?? lease) : lease;
  for (let attempt = 1; ; attempt++) {
    const checkpoint = ends ? SHARD_END : later(current.checkpoint, delta.low);
    const low = lowWatermark(checkpoint);
    const merged = low === 'all' ? EMPTY_PROGRESS : pruneBelow(mergeProgress(current.progress ?? EMPTY_PROGRESS, delta.keys), low);
    const { progress, evicted } = fitProgress(merged, deps.maxProgressBytes);
    const shard = missingShardAttributes(current, lineage);
    const extras: LeaseExtras = shard === undefined ? {} : { shard };
    const shardEnded = ends && current.checkpoint.sequenceNumber !== Sentinel.SHARD_END;
    if (compareExtended(checkpoint, current.checkpoint) === 0 && sameProgress(current.progress, progress) && shard === undefined) {
      return { lease: current, evicted: 0, conflicts: attempt - 1, shardEnded: false };
    }
    if (evicted > 0) {
      deps.log?.warn(
        'lease progress over its size bound: dropped the keys unseen longest (their records are processed again if redelivered)',
        { leaseKey: lease.leaseKey, evicted },
      );
    }
    try {
      const owned = current.leaseOwner === deps.owner ? current : await store.take(current, deps.owner);
      return { lease: await store.checkpoint(owned, checkpoint, progress, extras), evicted, conflicts: attempt - 1, shardEnded };
    } catch (error) {
      if (
        !(error instanceof LeaseLostError) ||
        attempt >= MAX_COMMIT_ATTEMPTS ||
        context.getRemainingTimeInMillis() < COMMIT_DEADLINE_MARGIN_MS + COMMIT_RETRY_PAUSE_MS
      ) {
        throw error;
      }
      const fresh = await store.get(lease.leaseKey);
      if (!fresh) {
        throw error;
      }
      current = fresh;
      await sleep(Math.floor(Math.random() * COMMIT_RETRY_PAUSE_MS));
    }
  }
}

const SHARD_END: ExtendedSequenceNumber = { sequenceNumber: Sentinel.SHARD_END, subSequenceNumber: 0 };

/** The KCL shard attributes the lineage knows and the lease lacks, or undefined when it lacks none. */
function missingShardAttributes(lease: Lease, lineage: ShardLineage | undefined): LeaseShardAttributes | undefined {
  if (lineage === undefined) {
    return undefined;
  }
  const out: { -readonly [K in keyof LeaseShardAttributes]: LeaseShardAttributes[K] } = {};
  if (lineage.parentShardIds.length > 0 && !lease.parentShardIds?.length) {
    out.parentShardIds = lineage.parentShardIds;
  }
  if (lineage.childShardIds.length > 0 && (lease.childShardIds?.length ?? 0) < lineage.childShardIds.length) {
    out.childShardIds = lineage.childShardIds;
  }
  if (lease.startingHashKey === undefined || lease.endingHashKey === undefined) {
    out.startingHashKey = lineage.startingHashKey;
    out.endingHashKey = lineage.endingHashKey;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

/** What the lease of a new shard starts with: the lineage's KCL attributes. */
function shardAttributes(lineage: ShardLineage | undefined): LeaseShardAttributes | undefined {
  return lineage === undefined
    ? undefined
    : {
        parentShardIds: lineage.parentShardIds,
        childShardIds: lineage.childShardIds,
        startingHashKey: lineage.startingHashKey,
        endingHashKey: lineage.endingHashKey,
      };
}

function sameProgress(a: ShardProgress | undefined, b: ShardProgress): boolean {
  const left = a ?? EMPTY_PROGRESS;
  if (left.size !== b.size) {
    return false;
  }
  return left.size === 0 || encodeProgress(left).equals(encodeProgress(b));
}

/**
 * Whether a user record hashes into the shard, or undefined when every record is kept (no
 * `shardRange`, an unknown shard, or a shard owning the whole key space). A partition key's hash
 * is computed once per batch.
 */
async function rangeFilter(shardId: string, deps: ConsumerDeps): Promise<((record: UserRecord) => boolean) | undefined> {
  const range = deps.shardRange ? await deps.shardRange(shardId) : undefined;
  if (range === undefined || (range.start === 0n && range.end === MAX_HASH_KEY)) {
    return undefined;
  }
  const byKey = new Map<string, boolean>();
  return (record) => {
    if (record.explicitHashKey !== undefined) {
      // A key that is not a hash key was not routed by it either: keep the record.
      const hashKey = parseHashKey(record.explicitHashKey);
      return hashKey === undefined || inHashRange(range, hashKey);
    }
    let owned = byKey.get(record.partitionKey);
    if (owned === undefined) {
      owned = inHashRange(range, hashKeyOf(record.partitionKey));
      byKey.set(record.partitionKey, owned);
    }
    return owned;
  };
}

/**
 * The shard's lease, created if absent (with the lineage's KCL attributes) and taken for `owner`
 * if another owner holds it. Another application's lease, or one that cannot be read, throws.
 */
async function acquire(store: LeaseStore, shardId: string, owner: string, lineage: ShardLineage | undefined): Promise<Lease> {
  for (let attempt = 1; ; attempt++) {
    try {
      const lease = await store.get(shardId);
      if (!lease) {
        const shard = shardAttributes(lineage);
        return await store.create(shardId, owner, undefined, shard === undefined ? {} : { shard });
      }
      return lease.leaseOwner === owner ? lease : await store.take(lease, owner);
    } catch (error) {
      if (!(error instanceof LeaseLostError) || attempt >= MAX_ACQUIRE_ATTEMPTS) {
        throw error;
      }
    }
  }
}
