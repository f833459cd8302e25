import { PutRecordsCommand, type KinesisClient, type PutRecordsResultEntry } from '@aws-sdk/client-kinesis';
import { inHashRange, routingHashKey } from '../shared/hash-key';
import { fullJitterDelay, sleep, type BackoffOptions, type TimeBudget } from '../shared/retry';
import type { ShardMap } from '../shared/shard-map';
import { batchEntries, loneEntries, planEntries, type KinesisEntry, type ProducerRecord } from './aggregate';
import type { ProducerLimits } from './limits';
import { groupsOn } from './ordering';
import { lendBodyMemory } from './put-records-codec';
import { CellSchedule, type CellError } from './schedule';
import { SLABS, type SlabLease, type SlabPool } from './slab-pool';

/** A user record that was not written, by its index in the request. */
export interface FailedRecord {
  readonly index: number;
  readonly errorCode: string;
  readonly errorMessage?: string;
}

export interface WriteOutcome {
  /**
   * Request indices of user records Kinesis acknowledged, ascending: ordered when first read (a
   * caller that needs only how many reads `writtenCount`).
   */
  readonly written: number[];
  /** How many user records Kinesis acknowledged. */
  readonly writtenCount: number;
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
  /**
   * Entries sent again after an answer that did not say whether Kinesis stored them (a timeout,
   * a 5xx, a reset connection, an answer missing the entry): each may now be in the stream twice.
   */
  readonly unknownOutcomeRetries: number;
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
  /** Longest a PutRecords or ListShards call may take, ms (cut to the budget left). @default - the client's request timeout */
  readonly callTimeoutMs?: number;
  /**
   * Told, after each round of PutRecords calls, the request indices acknowledged in it (the
   * progress store records them before anything else is sent). Answering false stops the write:
   * what is left is reported failed with `ProgressNotSaved`. `last` is true when nothing is left
   * to send after this round (the writer returns at once): a listener may then record these
   * indices with its final write instead, since nothing is sent in between.
   */
  readonly onWritten?: (indices: readonly number[], last: boolean) => Promise<boolean>;
  /**
   * Entries planned for exactly these `records` on `map` beforehand (`planEntries`), for
   * instance while the progress table's claim was in flight: used when the writer's records and
   * map are the same objects, planned again otherwise.
   */
  readonly prepared?: PreparedPlan;
  /**
   * Where the aggregates' bytes come from: the write plans in a lease of this pool and gives it
   * back (and the prepared plan's) when it returns, when no call reads its entries any more.
   * @default SLABS, the container's pool
   */
  readonly slabs?: SlabPool;
  readonly random?: () => number;
  /** Tests: a wait that passes no real time; the writer's clock then moves by what it waited. */
  readonly wait?: (ms: number) => Promise<void>;
}

const THROTTLED = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'LimitExceededException',
  'KMSThrottlingException',
]);
/**
 * Errors after which the entry may or may not be in the stream (the answer was lost): retried,
 * at the price of a possible second copy, which is the producer's one at-least-once window.
 */
const UNKNOWN_OUTCOME = new Set([
  'InternalFailure',
  'InternalFailureException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'RequestTimedOut',
  'ECONNRESET',
  'EPIPE',
  'MissingResult',
  'UnknownError',
]);
/** Entry or request errors worth another try; anything else (access, KMS key state, validation) fails at once. */
const RETRYABLE = new Set([...THROTTLED, ...UNKNOWN_OUTCOME, 'ECONNREFUSED']);
const NETWORK = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE']);

/** The error of a record stored in an aggregate on a shard that does not own it, when it cannot be sent again. */
const WRONG_SHARD = 'WrongShard';
/** The error of records left when the progress store could not record what was written. */
const PROGRESS_NOT_SAVED = 'ProgressNotSaved';

/** Least time a PutRecords call is given; below this the budget is spent. */
const MIN_CALL_MS = 250;

interface Attempt {
  entry: KinesisEntry;
  result?: PutRecordsResultEntry;
  error?: CellError;
}

/** Entries planned ahead for `records` on `map`. */
export interface PreparedPlan {
  readonly records: readonly ProducerRecord[];
  readonly map: ShardMap;
  readonly entries: KinesisEntry[];
  /** What lends the entries' bytes; the write that is given the plan gives it back. */
  readonly lease?: SlabLease;
}

/** Plans `records` on the map `shardMap()` gives (no refresh), for `WriteOptions.prepared`; undefined if the map cannot be had now. */
export async function preparePlan(
  records: readonly ProducerRecord[],
  shardMap: (refresh: boolean) => Promise<ShardMap>,
  limits: ProducerLimits,
  slabs: SlabPool = SLABS,
): Promise<PreparedPlan | undefined> {
  let map: ShardMap;
  try {
    map = await shardMap(false);
  } catch {
    return undefined; // the writer loads it again, with its retries
  }
  // A plan never given to a write keeps its lease: its slab is left to the garbage collector.
  const lease = slabs.lease();
  return { records, map, entries: planEntries(records, map, limits, lease), lease };
}

/** The error code of a failed call: the service's error name, a network code, `RequestTimedOut` for timeouts. */
export function errorCodeOf(caught: unknown): CellError {
  const error = caught as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  let code = error.name ?? error.code ?? 'UnknownError';
  if (code === 'AbortError' || code === 'TimeoutError' || error.code === 'ETIMEDOUT') {
    code = 'RequestTimedOut';
  } else if (error.code && NETWORK.has(error.code)) {
    code = error.code;
  } else if (!isRetryable(code) && (error.$metadata?.httpStatusCode ?? 0) >= 500) {
    code = 'InternalFailure';
  }
  return { code, message: error.message };
}

export function isRetryable(code: string): boolean {
  return RETRYABLE.has(code);
}

/**
 * Writes user records with PutRecords: plans shard-aware entries and sends them cell by cell
 * (`schedule.ts`): one entry of a (shard, ordering group) and lane in flight at a time, the next
 * only after it is acknowledged, so a throttled and retried entry is never overtaken by a later one
 * of the same user key. Entries are planned key by key, so a cell's entries are in different lanes
 * (all in flight at once) unless a user key's records fill more than one. Each round sends the
 * head of every ready cell, in PutRecords batches, up to `concurrency` requests at once; a failed
 * head retries after exponential backoff with full jitter while other cells go on, while the time
 * budget lasts. A failed aggregate fails every user record inside it; an entry is reported written
 * only when Kinesis returned a sequence number for it. After each round `onWritten` hears what was
 * acknowledged.
 *
 * An aggregate planned on a stale map (a reshard happened since it was loaded) is stored on the
 * shard that owns its ExplicitHashKey now, which may not own every record inside: KCL consumers
 * drop those ("Wrong Shard" in the KPL). The map is reloaded at once, records in the landing
 * shard's range count as written, and the others, with everything not yet sent, are planned
 * again. A record that lands wrong a second time, or on a shard the map does not know, goes
 * alone: routed by its own hash key it lands on the shard that owns it, so the re-sends end.
 * With ordering groups every entry, re-sends too, travels under its records' group key.
 */
export async function writeRecords(records: readonly ProducerRecord[], options: WriteOptions): Promise<WriteOutcome> {
  const write = new RecordWrite(records, options);
  const outcome = await rounds(write);
  // Every call has answered (each round awaits all of its own), the SDK reads an entry's bytes only
  // while it serialises the request, and the socket a call's body only until the call answers:
  // nothing reads the entries or the bodies any more. (Should a round throw, its slabs are left to
  // the garbage collector instead: a call of it might still be serialising or sending.)
  write.releaseSlabs();
  return outcome;
}

/** The rounds of one write (writeRecords). */
async function rounds(write: RecordWrite): Promise<WriteOutcome> {
  if (!(await write.start())) {
    return write.outcome();
  }
  while (write.hasPending()) {
    const heads = await write.takeReady();
    if (heads === 'stop') {
      break;
    }
    if (heads.length === 0) {
      continue; // waited for a cell's backoff
    }
    const round = write.settle(
      await sendAll(
        heads.map(({ entry }) => entry),
        write.options,
        write.lease,
      ),
      heads,
    );
    if (round.refresh) {
      await write.reloadShardMap();
    }
    const resend = write.sortStrays(round);
    if (!(await write.report(round.acknowledged, resend)) || !write.replanIfNeeded(round.refresh, resend)) {
      break;
    }
  }
  write.failWhatIsLeft();
  return write.outcome();
}

/** What one round of calls brought back: indices acknowledged, aggregates stored on another shard than planned, and whether the map is stale. */
interface Round {
  readonly acknowledged: number[];
  readonly strays: Array<{ entry: KinesisEntry; shardId: string }>;
  readonly refresh: boolean;
}

type Counters = { -readonly [K in Exclude<keyof WriteOutcome, 'written' | 'writtenCount' | 'failed'>]: WriteOutcome[K] };
type Head = { cell: string; entry: KinesisEntry };

/** One `writeRecords` call, step by step: its plan, schedule, shard map, counts and results. */
class RecordWrite {
  /** The caller's options with the writer's own budget (tests' `wait` moves its clock). */
  public readonly options: WriteOptions;
  private skew = 0;
  /** Each round's acknowledged indices (joined and sorted once, by `outcome`). */
  private readonly written: Array<readonly number[]> = [];
  private readonly failed: FailedRecord[] = [];
  private readonly counters: Counters = {
    kinesisRecords: 0,
    retries: 0,
    throttledEntries: 0,
    misroutedEntries: 0,
    resentRecords: 0,
    unknownOutcomeRetries: 0,
  };
  /** By request index; built only when records must be planned again (rare: a reshard). */
  private recordIndex?: Map<number, ProducerRecord>;
  /** Records to send alone, routed by their own hash key: their aggregate landed on a shard the map does not know, or landed wrong twice. */
  private readonly sendAlone = new Set<number>();
  /** Records already re-sent once because their aggregate landed on a shard not owning them. */
  private readonly resent = new Set<number>();
  /** Cells are (shard, outer key) when ordering groups are on, shards otherwise. */
  private readonly perKey: boolean;
  private map!: ShardMap;
  private schedule!: CellSchedule<KinesisEntry>;
  /** Why the write stopped before every record was settled (the progress store could not record a round). */
  private stop?: CellError;
  /** Lends the bytes of every request this write plans, and of the bodies it sends. */
  public readonly lease: SlabLease;

  public constructor(
    private readonly records: readonly ProducerRecord[],
    private readonly given: WriteOptions,
  ) {
    const budget: Pick<TimeBudget, 'remaining' | 'allows'> = {
      remaining: () => Math.max(0, given.budget.remaining() - this.skew),
      allows: (ms, thenNeedMs = 0) => given.budget.remaining() - this.skew > ms + thenNeedMs,
    };
    this.options = { ...given, budget: budget as TimeBudget };
    this.perKey = groupsOn(given.limits) || given.limits.maxRecordsPerAggregate <= 1;
    this.lease = (given.slabs ?? SLABS).lease();
  }

  /** The write is over and nothing reads its entries: their slabs (and the prepared plan's) go back to the pool. */
  public releaseSlabs(): void {
    this.lease.release();
    this.given.prepared?.lease?.release();
  }

  /** Loads the shard map and plans every record; false (every record failed, nothing sent) if the map cannot be had. */
  public async start(): Promise<boolean> {
    try {
      this.map = await loadShardMap(false, this.options, this.pause);
    } catch (caught) {
      const { code, message } = errorCodeOf(caught);
      const errorMessage = `shard map not loaded: ${message ?? String(caught)}`;
      this.fail(
        this.records.map(({ index }) => index),
        code === 'UnknownError' ? 'ShardMapError' : code,
        errorMessage,
      );
      return false;
    }
    this.schedule = this.plan(this.records);
    return true;
  }

  public hasPending(): boolean {
    return this.schedule.size > 0;
  }

  /**
   * The head entry of every cell ready now; none after waiting for the next cell's backoff to
   * end; 'stop' when the budget covers neither that wait nor another call.
   */
  public async takeReady(): Promise<Head[] | 'stop'> {
    const { budget } = this.options;
    const heads = this.schedule.take(this.now());
    if (heads.length === 0) {
      const delay = Math.max(0, (this.schedule.nextReadyAt() ?? this.now()) - this.now());
      if (!budget.allows(delay, MIN_CALL_MS)) {
        return 'stop';
      }
      await this.pause(delay);
      return [];
    }
    if (!budget.allows(0, MIN_CALL_MS)) {
      heads.forEach(({ cell }) => this.schedule.unsent(cell));
      return 'stop';
    }
    return heads;
  }

  /**
   * Settles each attempt in the schedule: acknowledged (its cell moves on), retryable (its cell
   * waits out a backoff) or failed for good. An acknowledged aggregate Kinesis stored on another
   * shard than planned is a stray: `sortStrays` decides its records.
   */
  public settle(attempts: readonly Attempt[], heads: readonly Head[]): Round {
    const cellOf = new Map<KinesisEntry, string>();
    for (const { cell, entry } of heads) {
      cellOf.set(entry, cell);
    }
    const answeredAt = this.now();
    // Each acknowledged entry's indices, joined once at the end (a native copy): not 20,000 pushes
    // of an index each, which run unoptimised in a container's first invocations.
    const acknowledgedEntries: Array<readonly number[]> = [];
    const strays: Array<{ entry: KinesisEntry; shardId: string }> = [];
    let refresh = false;
    for (const { entry, result, error } of attempts) {
      const cell = cellOf.get(entry)!;
      if (!(result?.SequenceNumber && !result.ErrorCode)) {
        this.settleFailure(
          cell,
          entry,
          result?.ErrorCode ?? error?.code ?? 'UnknownError',
          result?.ErrorMessage ?? error?.message,
          answeredAt,
        );
        continue;
      }
      this.counters.kinesisRecords++;
      this.schedule.done(cell);
      // A lone record (raw, or a one-record aggregate) is routed by its own hash key, so it is on
      // the shard that owns it wherever it landed.
      if (result.ShardId && result.ShardId !== entry.shardId) {
        this.counters.misroutedEntries++;
        refresh = true;
        if (entry.indices.length > 1) {
          strays.push({ entry, shardId: result.ShardId });
          continue;
        }
      }
      acknowledgedEntries.push(entry.indices);
    }
    return { acknowledged: joinIndices(acknowledgedEntries), strays, refresh };
  }

  /**
   * Kinesis put an entry on another shard than the map said: the stream was resharded. Reloads the
   * map now, so that re-sends, everything not yet sent and the container's next request use the
   * new one; keeps the old map if that fails (`sortStrays` handles a landing shard it does not know).
   */
  public async reloadShardMap(): Promise<void> {
    try {
      this.map = await loadShardMap(true, this.options, this.pause);
    } catch {
      // Keep the old map.
    }
  }

  /**
   * The records of stray aggregates: those in the landing shard's range count as written (added to
   * `round.acknowledged`), the others are returned to be sent again. Where a record belongs is
   * unknown (the map does not know the landing shard), or a fresh map already sent it wrong once:
   * it goes alone, routed by its own hash key, which Kinesis routes right whatever the map says.
   * All of an unknown shard's records go again: a duplicate for a consumer that keeps
   * out-of-range records, never a loss, never the same miss twice.
   */
  public sortStrays(round: Round): ProducerRecord[] {
    const resend: ProducerRecord[] = [];
    for (const { entry, shardId } of round.strays) {
      const landed = this.map.rangeOf(shardId);
      for (const index of entry.indices) {
        const record = this.recordAt(index);
        if (landed !== undefined && inHashRange(landed, routingHashKey(record))) {
          round.acknowledged.push(index);
          continue;
        }
        if (landed === undefined || this.resent.has(index)) {
          this.sendAlone.add(index);
        }
        this.resent.add(index);
        resend.push(record);
      }
    }
    return resend;
  }

  /**
   * Records the round's acknowledged indices and tells `onWritten`; false (the re-sends failed
   * `ProgressNotSaved`, the write stops) when the progress store could not record them.
   */
  public async report(acknowledged: readonly number[], resend: readonly ProducerRecord[]): Promise<boolean> {
    this.written.push(acknowledged);
    const { onWritten } = this.given;
    if (
      acknowledged.length === 0 ||
      onWritten === undefined ||
      (await onWritten(acknowledged, this.schedule.size === 0 && resend.length === 0))
    ) {
      return true;
    }
    this.stop = {
      code: PROGRESS_NOT_SAVED,
      message: 'the progress store could not record what was written, so nothing more is sent (a retry of this event would send it again)',
    };
    this.fail(
      resend.map((r) => r.index),
      this.stop.code,
      this.stop.message,
    );
    return false;
  }

  /**
   * After a reshard, everything not sent yet was planned on the old map: plans it again with the
   * re-sends, in request order, so each cell's order still holds. False (the re-sends failed
   * `WrongShard`) when the budget has no room for them.
   */
  public replanIfNeeded(refresh: boolean, resend: readonly ProducerRecord[]): boolean {
    if (!refresh && resend.length === 0) {
      return true;
    }
    if (resend.length > 0 && !this.options.budget.allows(0, MIN_CALL_MS)) {
      this.fail(
        resend.map((r) => r.index),
        WRONG_SHARD,
        'stored in an aggregate on a shard that does not own its hash key (the stream was resharded); not re-sent: time budget spent',
      );
      return false;
    }
    this.counters.resentRecords += resend.length;
    const left = this.schedule.drain().flatMap(({ entry }) => entry.indices.map((index) => this.recordAt(index)));
    this.schedule = this.plan([...left, ...resend].sort((a, b) => a.index - b.index));
    return true;
  }

  /** Out of time (or stopped): what is left fails with the last error its cell got. */
  public failWhatIsLeft(): void {
    const { stop } = this;
    for (const { entry, error } of this.schedule.drain()) {
      const last = stop ?? error;
      this.fail(
        entry.indices,
        last?.code ?? 'RequestTimedOut',
        stop ? stop.message : `not retried: time budget spent${last?.message ? `; last error: ${last.message}` : ''}`,
      );
    }
  }

  public outcome(): WriteOutcome {
    this.failed.sort((a, b) => a.index - b.index);
    const acknowledged = this.written;
    let written: number[] | undefined;
    let writtenCount = 0;
    for (const round of acknowledged) {
      writtenCount += round.length;
    }
    // Ordering 20,000 indices costs about 3 ms in a fresh process, 1.3 ms in the next invocations:
    // done only for a caller that reads them (the handler counts).
    return {
      get written(): number[] {
        return (written ??= sortedIndices(acknowledged));
      },
      writtenCount,
      failed: this.failed,
      ...this.counters,
    };
  }

  /** A failed attempt: retried after a backoff when its error is worth another try, else its records fail. */
  private settleFailure(cell: string, entry: KinesisEntry, code: string, message: string | undefined, answeredAt: number): void {
    if (THROTTLED.has(code)) {
      this.counters.throttledEntries++;
    }
    if (!isRetryable(code)) {
      this.schedule.done(cell);
      this.fail(entry.indices, code, message);
      return;
    }
    if (UNKNOWN_OUTCOME.has(code)) {
      this.counters.unknownOutcomeRetries++;
    }
    this.counters.retries++;
    this.schedule.retry(cell, answeredAt + fullJitterDelay(this.schedule.failures(cell), this.given.backoff, this.given.random), {
      code,
      message,
    });
  }

  /** The cell schedule of `pending` on the current map: the plan made ahead when it is for these records and this map. */
  private plan(pending: readonly ProducerRecord[]): CellSchedule<KinesisEntry> {
    const { prepared, limits } = this.given;
    const entries =
      this.sendAlone.size === 0
        ? prepared !== undefined && prepared.records === pending && prepared.map === this.map
          ? prepared.entries
          : planEntries(pending, this.map, limits, this.lease)
        : [
            ...planEntries(
              pending.filter((r) => !this.sendAlone.has(r.index)),
              this.map,
              limits,
              this.lease,
              false,
            ),
            ...loneEntries(
              pending.filter((r) => this.sendAlone.has(r.index)),
              this.map,
              limits,
            ),
          ];
    // Planned key by key, a cell's entries in different lanes share no user key: each lane is a
    // cell of the schedule, its entries in the order planned. Planned in request order (re-sends
    // sent alone), a cell's entries go by their first record's request index.
    const position = entries[0]?.lane === undefined ? undefined : new Map(entries.map((entry, k) => [entry, k]));
    return new CellSchedule(
      entries,
      (entry) => {
        const cell = this.perKey ? `${entry.shardId}\u0000${entry.partitionKey}` : entry.shardId;
        return entry.lane === undefined ? cell : `${cell}\u0000${entry.lane}`;
      },
      position === undefined ? (entry) => entry.indices[0] : (entry) => position.get(entry)!,
    );
  }

  private recordAt(index: number): ProducerRecord {
    if (this.recordIndex === undefined) {
      this.recordIndex = new Map(this.records.map((record) => [record.index, record]));
    }
    return this.recordIndex.get(index)!;
  }

  private fail(indices: readonly number[], errorCode: string, errorMessage: string | undefined): void {
    for (const index of indices) {
      this.failed.push(errorMessage ? { index, errorCode, errorMessage } : { index, errorCode });
    }
  }

  private readonly now = (): number => Date.now() + this.skew;

  private readonly pause = async (ms: number): Promise<void> => {
    if (this.given.wait) {
      await this.given.wait(ms);
      this.skew += ms;
    } else {
      await sleep(ms);
    }
  };
}

/**
 * Index lists joined in order: one native `concat` for the tens of lists a round usually has (about
 * four times as fast as `flat` on 20,000 indices), `flat` past what a call's arguments should carry
 * (a round of many lone records: spreading 200,000 lists overflows even a fresh process's stack, and
 * a handler's call is deeper).
 */
export function joinIndices(lists: ReadonlyArray<readonly number[]>): number[] {
  return lists.length <= MAX_SPREAD ? ([] as number[]).concat(...lists) : lists.flat();
}

const MAX_SPREAD = 4096;

/**
 * The rounds' request indices in one array, ascending: marked in a byte per index, then read in
 * order (linear; a sort of 20,000 indices costs about a millisecond, a comparator sort several).
 * Each index is acknowledged in one round only (a record of a misrouted aggregate either counts in
 * its round or is re-sent and counts in a later one), so marking drops nothing.
 */
function sortedIndices(rounds: readonly (readonly number[])[]): number[] {
  let count = 0;
  let highest = -1;
  for (const round of rounds) {
    count += round.length;
    for (const index of round) {
      highest = index > highest ? index : highest;
    }
  }
  const marked = new Uint8Array(highest + 1);
  for (const round of rounds) {
    for (const index of round) {
      marked[index] = 1;
    }
  }
  const out = new Array<number>(count);
  let at = 0;
  for (let index = 0; index <= highest && at < count; index++) {
    if (marked[index] === 1) {
      out[at++] = index;
    }
  }
  return at === count ? out : out.slice(0, at);
}

/** Tries of a reload after a misrouted put: the writer can go on with the map it has, so it does not wait long for a new one. */
const RELOAD_ATTEMPTS = 3;

/**
 * The shard map, retried with backoff inside the budget when ListShards is throttled, fails or
 * times out: the first load as long as the budget lasts (nothing can be sent without it), a
 * reload `RELOAD_ATTEMPTS` times.
 */
async function loadShardMap(refresh: boolean, options: WriteOptions, pause: (ms: number) => Promise<void>): Promise<ShardMap> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await options.shardMap(refresh);
    } catch (caught) {
      const { code } = errorCodeOf(caught);
      const delay = fullJitterDelay(attempt, options.backoff, options.random);
      if (!isRetryable(code) || (refresh && attempt + 1 >= RELOAD_ATTEMPTS) || !options.budget.allows(delay, MIN_CALL_MS)) {
        throw caught;
      }
      await pause(delay);
    }
  }
}

/** Sends `entries` in PutRecords calls within the limits; with a `lease`, each call's body is written in memory it lends. */
async function sendAll(entries: readonly KinesisEntry[], options: WriteOptions, lease?: SlabLease): Promise<Attempt[]> {
  const batches = batchEntries(entries, options.limits);
  const results = new Array<Attempt[]>(batches.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < batches.length) {
      const at = next++;
      results[at] = await sendBatch(batches[at], options, lease);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 4, batches.length) }, worker));
  return results.flat();
}

async function sendBatch(batch: readonly KinesisEntry[], options: WriteOptions, lease?: SlabLease): Promise<Attempt[]> {
  const remaining = options.budget.remaining();
  const timeout = Math.max(1, Math.min(remaining, options.callTimeoutMs ?? remaining));
  const records = batch.map((entry) => ({
    Data: entry.data,
    PartitionKey: entry.partitionKey,
    ...(entry.explicitHashKey === undefined ? {} : { ExplicitHashKey: entry.explicitHashKey }),
  }));
  if (lease !== undefined) {
    // The lease goes back only once every call of the write has answered (writeRecords).
    lendBodyMemory(records, (bytes) => lease.slab(bytes));
  }
  try {
    const answer = await options.client.send(new PutRecordsCommand({ StreamName: options.streamName, Records: records }), {
      abortSignal: AbortSignal.timeout(timeout) as never,
      requestTimeout: timeout,
    });
    const entries = answer.Records ?? [];
    return batch.map((entry, i) => ({
      entry,
      result: entries[i] ?? { ErrorCode: 'MissingResult', ErrorMessage: 'PutRecords answered without this entry' },
    }));
  } catch (caught) {
    const error = errorCodeOf(caught);
    return batch.map((entry) => ({ entry, error }));
  }
}
