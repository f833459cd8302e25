/**
 * A small model of Lambda's Kinesis event-source mapping (ESM) for ONE shard, to drive the
 * consumer the way Lambda does, with the faults Lambda documents. It models Lambda, never our
 * implementation: nothing here reads the lease table or knows how the consumer skips records.
 *
 * What the model takes from the Lambda documentation ("Using Lambda with Kinesis", "Configuring
 * partial batch response with Kinesis Data Streams and Lambda", CreateEventSourceMapping):
 * - A batch holds records of one shard in sequence order. With `ParallelizationFactor` N (1 to 10)
 *   Lambda processes up to N batches of one shard concurrently and "still ensures in-order
 *   processing at the partition-key level". Which key goes where is not documented: the model
 *   puts each Kinesis record in lane hash(partition key) mod N; a lane delivers consecutive runs
 *   of its own records, one batch at a time, and the next only once the previous one is handled.
 *   The partition key is the Kinesis record's (for a KPL aggregate, the outer one).
 * - `ReportBatchItemFailures`: an empty or missing list is a complete success; otherwise Lambda
 *   takes the lowest sequence number listed as its checkpoint and retries every record from there
 *   ("retries all records starting from that checkpoint"). An empty, null or unknown identifier
 *   makes the whole batch a failure. (An identifier that is not in the batch is not documented;
 *   the model treats it as a complete failure too.)
 * - A function error (a throw, a crash, a timeout) retries the whole batch. With
 *   `BisectBatchOnFunctionError` the failed batch is split in two halves, retried one after the
 *   other, "regardless of your ReportBatchItemFailures setting"; with a partial response and bisect
 *   "the batch is bisected at the returned sequence number and Lambda retries only the remaining
 *   records", which is what a partial response does anyway. Splitting does not count as a retry;
 *   a failure of a batch that cannot be split does.
 * - `MaximumRetryAttempts` (here 0 to 4): when a batch's retries run out, Lambda sends its
 *   description to the on-failure destination and goes on after it. Those records are handled.
 * - Delivery is at least once: a batch that succeeded may be delivered again.
 * - Nothing is documented about a change of `ParallelizationFactor` (UpdateEventSourceMapping).
 *   The model lets the invocations in flight finish, then re-forms the lanes with the new factor
 *   and restarts from the mapping's own shard checkpoint, the lowest record not yet handled in any
 *   lane: records that a faster lane already finished are delivered again. A "change" to the same
 *   factor is a plain restart of the mapping (as after a poller moves), which Lambda may also do.
 *
 * Not modelled: batch windows and payload limits (only the batch size is random),
 * `MaximumRecordAgeInSeconds`, `TumblingWindowInSeconds`, enhanced fan-out, resharding, several
 * shards in one mapping (a Lambda batch never mixes shards), and infinite retries (-1).
 */
import type { KinesisStreamBatchResponse, KinesisStreamRecord } from 'aws-lambda';
import { hashKeyOf } from '../../lambda/shared/hash-key';
import { encodeAggregated } from '../helpers/kpl-encoder';
import { kinesisRecord } from './factories';

export const SHARD_ID = 'shardId-000000000000';

/** A small seeded PRNG (mulberry32): every choice of a run comes from its seed, so a run replays exactly. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  public next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  /** Uniform whole number in [0, n). */
  public int(n: number): number {
    return Math.floor(this.next() * n);
  }

  public chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }
}

/**
 * Interleaves concurrent async work at every `step`: each step waits until the run releases it,
 * and the run releases one waiting step at a time, chosen by the seeded random. Between two
 * releases every microtask runs, so the order of completions is the one the choices made.
 */
export class Interleaver {
  /** Labels of the steps in the order they were released (the interleaving of a run). */
  public readonly trace: string[] = [];
  private readonly pending: { readonly label: string; readonly release: () => void }[] = [];

  /**
   * @param advanceClock called when no step waits and the run has not ended (the code under test
   * sleeps on a timer, e.g. a jittered retry): moves a (fake) clock to the next timer and answers
   * whether there was one. Without it, a run where nothing waits on a step is a hang.
   */
  constructor(
    private readonly random: Random,
    private readonly advanceClock: () => boolean = () => false,
  ) {}

  /** Resolves when the run picks this step. */
  public step(label: string): Promise<void> {
    return new Promise((release) => this.pending.push({ label, release }));
  }

  /** Drives `main` to its end, releasing waiting steps one at a time in a random order. */
  public async run<T>(main: Promise<T>): Promise<T> {
    let settled = false;
    const watched = main.finally(() => {
      settled = true;
    });
    watched.catch(() => undefined);
    while (!settled) {
      // Let every microtask run: each piece of work goes on until its next step or its end.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (settled) {
        break;
      }
      if (this.pending.length === 0) {
        if (!this.advanceClock()) {
          throw new Error('interleaver: nothing waits on a step, no timer is due, and the run has not ended (a hang)');
        }
        this.trace.push('(clock advanced to the next timer)');
        continue;
      }
      const [task] = this.pending.splice(this.random.int(this.pending.length), 1);
      this.trace.push(task.label);
      task.release();
    }
    return watched;
  }
}

// ---------------------------------------------------------------------------------------------
// The producer: one shard's records as ProducerFunction writes them.

/** One Kinesis record to write: a plain record of a plain key, or an aggregate led by `key`. */
export interface ProducerEntry {
  /** A user key index (taken modulo the number of keys). */
  readonly key: number;
  /** For an aggregate: the other user records' keys, picked among the keys of the same ordering group. */
  readonly others: readonly number[];
}

export interface ShardPlan {
  /** User partition keys `user-0` .. `user-(userKeys-1)`. */
  readonly userKeys: number;
  /** The first `plainKeys` user keys are always written as plain Kinesis records under their own key. */
  readonly plainKeys: number;
  /** Ordering groups: an aggregate's outer partition key is `group-<md5(user key) mod groups>`. */
  readonly groups: number;
  readonly entries: readonly ProducerEntry[];
}

export interface ModelUserRecord {
  /** Its index in the shard: user records are numbered in shard order, and carry it as their data. */
  readonly id: number;
  readonly key: string;
  readonly kinesisIndex: number;
  readonly subSequenceNumber: number;
}

export interface ModelShard {
  /** The shard's Kinesis records in sequence order (sequence number SEQ_BASE + index). */
  readonly records: readonly KinesisStreamRecord[];
  /** Every user record in shard order (id = index). */
  readonly users: readonly ModelUserRecord[];
  /** The user record ids each Kinesis record carries. */
  readonly usersOf: readonly (readonly number[])[];
}

/** The ordering group of a user key: a fixed function of the key, as ProducerFunction chooses outer keys. */
export function orderingGroup(userKey: string, groups: number): string {
  return `group-${Number(hashKeyOf(userKey) % BigInt(groups))}`;
}

/**
 * The shard as the producer writes it: each user key always travels under the same outer
 * partition key (its ordering group's, or its own for a plain key), so per-user-key order is
 * per-outer-key order, the one Lambda keeps. Stops before `maxUserRecords`.
 */
export function produceShard(plan: ShardPlan, maxUserRecords = 300): ModelShard {
  const keyName = (index: number) => `user-${index}`;
  const userKeys = Math.max(1, plan.userKeys);
  const plainKeys = Math.min(plan.plainKeys, userKeys - 1);
  const groupOf = new Map<number, string>();
  const members = new Map<string, number[]>();
  for (let key = plainKeys; key < userKeys; key++) {
    const group = orderingGroup(keyName(key), plan.groups);
    groupOf.set(key, group);
    members.set(group, [...(members.get(group) ?? []), key]);
  }
  const records: KinesisStreamRecord[] = [];
  const users: ModelUserRecord[] = [];
  const usersOf: number[][] = [];
  for (const entry of plan.entries) {
    const kinesisIndex = records.length;
    const lead = entry.key % userKeys;
    const group = groupOf.get(lead);
    const keys =
      group === undefined ? [lead] : [lead, ...entry.others.map((other) => members.get(group)![other % members.get(group)!.length])];
    if (users.length + keys.length > maxUserRecords) {
      break;
    }
    const ids = keys.map((key, sub) => {
      const user: ModelUserRecord = { id: users.length, key: keyName(key), kinesisIndex, subSequenceNumber: sub };
      users.push(user);
      return user.id;
    });
    usersOf.push(ids);
    if (group === undefined) {
      records.push(kinesisRecord(String(ids[0]), { offset: kinesisIndex, shardId: SHARD_ID, partitionKey: keyName(lead) }));
    } else {
      const blob = encodeAggregated(ids.map((id) => ({ partitionKey: users[id].key, data: Buffer.from(String(id)) })));
      records.push(kinesisRecord(blob, { offset: kinesisIndex, shardId: SHARD_ID, partitionKey: group }));
    }
  }
  return { records, users, usersOf };
}

// ---------------------------------------------------------------------------------------------
// The event-source mapping.

export interface MappingSettings {
  /** The factor the mapping starts with, then each factor it is changed to (1 to 10 each). */
  readonly parallelizationFactors: readonly number[];
  /** Largest batch (records); each batch's size is random in 1..this. */
  readonly maxBatchSize: number;
  readonly maxRetryAttempts: number;
  readonly bisectBatchOnFunctionError: boolean;
  /** Chance that a batch that succeeded is delivered again. */
  readonly redeliveryRate: number;
}

/** What an invocation of the function gave back: a response, or a function error (throw, crash, timeout). */
export type InvocationResult =
  | { readonly kind: 'response'; readonly response: KinesisStreamBatchResponse | undefined }
  | { readonly kind: 'error'; readonly error: unknown };

export interface Invocation {
  readonly id: number;
  readonly epoch: number;
  readonly parallelizationFactor: number;
  readonly lane: number;
  /** Indices of the Kinesis records of the batch, in order. */
  readonly indices: readonly number[];
  readonly records: readonly KinesisStreamRecord[];
  /** Retries of this batch (part) so far; 0 for a first delivery. */
  readonly attempt: number;
  readonly redelivery: boolean;
}

export type InvokeFunction = (invocation: Invocation) => Promise<InvocationResult>;

/** An entry of the on-failure destination: the records of a batch whose retries ran out. */
export interface DestinationEntry {
  readonly invocation: number;
  readonly indices: readonly number[];
}

interface Part {
  indices: number[];
  attempts: number;
  readonly redelivery: boolean;
}

/** The lane of a Kinesis record's (outer) partition key under factor `pf`. */
export function laneOf(partitionKey: string, pf: number): number {
  return Number(hashKeyOf(`lane:${partitionKey}`) % BigInt(pf));
}

/**
 * One shard's event-source mapping. `run` delivers every record until each is handled
 * (succeeded, or given to the on-failure destination), with the documented retries, bisection,
 * redelivery and factor changes, calling `invoke` for each batch; several lanes' invocations are
 * in flight at once and interleave wherever `invoke` awaits.
 */
export class KinesisEventSourceMapping {
  /** Per Kinesis record: the mapping regards it as handled (succeeded or sent to the destination). */
  public readonly handled: boolean[];
  public readonly destination: DestinationEntry[] = [];
  /** A readable account of the run: invocations, responses, restarts. */
  public readonly log: string[] = [];
  public invocations = 0;
  private stopping = false;
  private epochInvocations = 0;

  constructor(
    private readonly records: readonly KinesisStreamRecord[],
    private readonly settings: MappingSettings,
    private readonly random: Random,
    private readonly invoke: InvokeFunction,
  ) {
    this.handled = records.map(() => false);
  }

  public async run(): Promise<void> {
    const factors = this.settings.parallelizationFactors;
    let start = 0;
    for (let epoch = 0; start < this.records.length; epoch++) {
      const pf = factors[Math.min(epoch, factors.length - 1)];
      const changes = epoch + 1 < factors.length;
      // When the factor changes: after a random number of this epoch's invocations.
      const expected = Math.ceil((this.records.length - start) / Math.max(1, this.settings.maxBatchSize / 2));
      const changeAfter = changes ? 1 + this.random.int(expected + 1) : Number.POSITIVE_INFINITY;
      this.stopping = false;
      this.epochInvocations = 0;
      const lanes: number[][] = Array.from({ length: pf }, () => []);
      for (let index = start; index < this.records.length; index++) {
        lanes[laneOf(this.records[index].kinesis.partitionKey, pf)].push(index);
      }
      this.log.push(
        `epoch ${epoch}: parallelization factor ${pf}, from k${start}; lanes ${lanes.map((lane) => `[${lane.map((i) => `k${i}`).join(' ')}]`).join(' ')}`,
      );
      await Promise.all(lanes.map((lane, number) => this.runLane(epoch, pf, number, lane, changeAfter)));
      // The mapping's own shard checkpoint: the lowest record not handled in any lane.
      const next = this.handled.indexOf(false, start);
      start = next < 0 ? this.records.length : next;
      if (start < this.records.length) {
        this.log.push(
          `factor change after ${this.epochInvocations} invocations: in-flight batches finished; restart from the mapping's checkpoint k${start}`,
        );
      }
    }
  }

  private async runLane(epoch: number, pf: number, lane: number, indices: readonly number[], changeAfter: number): Promise<void> {
    let next = 0;
    while (next < indices.length && !this.stopping) {
      const size = 1 + this.random.int(this.settings.maxBatchSize);
      const batch = indices.slice(next, next + size);
      if (!(await this.deliver(epoch, pf, lane, batch, changeAfter))) {
        return;
      }
      next += batch.length;
    }
  }

  /** Delivers one batch until all of it is handled; false when a factor change stopped it first. */
  private async deliver(epoch: number, pf: number, lane: number, batch: number[], changeAfter: number): Promise<boolean> {
    const parts: Part[] = [{ indices: batch, attempts: 0, redelivery: false }];
    while (parts.length > 0) {
      if (this.stopping) {
        return false;
      }
      const part = parts[0];
      const id = ++this.invocations;
      this.epochInvocations++;
      if (this.epochInvocations >= changeAfter) {
        // This is the last invocation the old factor starts; the ones in flight finish.
        this.stopping = true;
      }
      const label = `inv#${id} e${epoch} pf${pf} lane${lane}${part.attempts > 0 ? ` retry${part.attempts}` : ''}${part.redelivery ? ' redelivery' : ''} [${part.indices.map((i) => `k${i}`).join(' ')}]`;
      const result = await this.invoke({
        id,
        epoch,
        parallelizationFactor: pf,
        lane,
        indices: part.indices,
        records: part.indices.map((i) => this.records[i]),
        attempt: part.attempts,
        redelivery: part.redelivery,
      });
      const failedAt = this.failedAt(part, result);
      if (failedAt === undefined) {
        this.log.push(`${label} -> success`);
        part.indices.forEach((index) => (this.handled[index] = true));
        parts.shift();
        if (!part.redelivery && this.random.chance(this.settings.redeliveryRate)) {
          parts.unshift({ indices: part.indices, attempts: 0, redelivery: true });
        }
        continue;
      }
      if (failedAt !== 'all') {
        // Partial success: everything before the lowest reported record is done; retry from it.
        this.log.push(`${label} -> retry from k${part.indices[failedAt]}`);
        part.indices.slice(0, failedAt).forEach((index) => (this.handled[index] = true));
        part.indices = part.indices.slice(failedAt);
        part.attempts++;
      } else if (this.settings.bisectBatchOnFunctionError && part.indices.length > 1) {
        const half = Math.ceil(part.indices.length / 2);
        this.log.push(`${label} -> function error (${describe(result)}): bisect`);
        parts.splice(
          0,
          1,
          { indices: part.indices.slice(0, half), attempts: part.attempts, redelivery: part.redelivery },
          { indices: part.indices.slice(half), attempts: part.attempts, redelivery: part.redelivery },
        );
        continue;
      } else {
        this.log.push(`${label} -> function error (${describe(result)})`);
        part.attempts++;
      }
      if (part.attempts > this.settings.maxRetryAttempts) {
        this.log.push(`retries exhausted: [${part.indices.map((i) => `k${i}`).join(' ')}] to the on-failure destination`);
        this.destination.push({ invocation: id, indices: [...part.indices] });
        part.indices.forEach((index) => (this.handled[index] = true));
        parts.shift();
      }
    }
    return true;
  }

  /** Undefined for a complete success, the index in the part to retry from, or 'all' for a complete failure. */
  private failedAt(part: Part, result: InvocationResult): number | 'all' | undefined {
    if (result.kind === 'error') {
      return 'all';
    }
    const failures = result.response?.batchItemFailures ?? [];
    if (failures.length === 0) {
      return undefined;
    }
    let lowest: number | undefined;
    for (const failure of failures) {
      const at = part.indices.findIndex((index) => this.records[index].kinesis.sequenceNumber === failure.itemIdentifier);
      if (!failure.itemIdentifier || at < 0) {
        return 'all';
      }
      lowest = lowest === undefined ? at : Math.min(lowest, at);
    }
    return lowest;
  }
}

function describe(result: InvocationResult): string {
  if (result.kind === 'response') {
    return 'invalid batchItemFailures';
  }
  return result.error instanceof Error ? result.error.name : String(result.error);
}
