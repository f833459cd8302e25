/**
 * Property-based tests of the consumer's delivery guarantees against a model of Lambda's Kinesis
 * event-source mapping (./lambda-model.ts): one shard as ProducerFunction writes it, delivered
 * in 1 to 10 concurrent lanes with random batch sizes, partial batch responses, bisection,
 * retries, the on-failure destination, redelivery, crashes before the checkpoint and factor
 * changes, invocations that time out after their lease write (the answer lost), every await of
 * the processor and the lease store interleaved at random.
 *
 * Asserted, per run:
 * - exactly once: each user record's processor completes once, or more often only by one per
 *   crash that cut off an invocation in which it had completed (the documented window);
 * - nothing lost: every user record completed or went to the on-failure destination;
 * - order per user key: a record completes only when every earlier record of its key is handled
 *   (completed, or given up to the destination), and inside one invocation a key's records
 *   complete in shard order (every record in shard order with ordering 'shard');
 * - the lease's checkpoint never moves back, and every user record at or below it is handled
 *   (observed after every lease store call);
 * - the partial batch response names exactly the lowest Kinesis record of the batch not fully
 *   processed, or nothing when all of it is;
 * - an invocation no fault cut off never fails as a whole.
 * A failing run throws with the violations, the run's parameters and the mapping's log; replay it
 * with the seed and path fast-check prints.
 */
import type { KinesisStreamBatchResponse } from 'aws-lambda';
import * as fc from 'fast-check';
import { consumeBatch, type ConsumerDeps, type RecordProcessor } from '../../lambda/consumer/consumer';
import type { Ordering } from '../../lambda/consumer/contract';
import type { UserRecord } from '../../lambda/shared/deaggregate';
import type { ShardLineage } from '../../lambda/consumer/lineage';
import { compareExtended, isSentinel, type ExtendedSequenceNumber } from '../../lambda/shared/sequence-number';
import { lambdaContext, MemoryLeaseStore, SEQ_BASE } from './factories';
import {
  Interleaver,
  KinesisEventSourceMapping,
  produceShard,
  Random,
  SHARD_ID,
  type Invocation,
  type InvocationResult,
  type ModelShard,
  type ShardPlan,
} from './lambda-model';

/** The fault an invocation is cut off by: the process dies after its processor completed, before the lease write. */
class CrashError extends Error {
  public override readonly name = 'CrashError';
}

class ProcessorError extends Error {
  public override readonly name = 'ProcessorError';
}

interface RunParameters {
  readonly plan: ShardPlan;
  /** The factor the mapping starts with, then the factors it is changed to. */
  readonly parallelizationFactors: readonly number[];
  readonly ordering: Ordering;
  readonly maxConcurrency: number;
  readonly maxBatchSize: number;
  readonly maxRetryAttempts: number;
  readonly bisect: boolean;
  readonly redeliveryRate: number;
  /** Chance that one processor call fails (transient, per record and attempt). */
  readonly failureRate: number;
  /** Chance that an invocation crashes after its processor completed something, before its lease write. */
  readonly crashRate: number;
  /** Chance that an invocation ends in a function error after it wrote the lease (a timeout after the write: the answer is lost). */
  readonly lostAnswerRate: number;
  /** User record ids whose processor always fails. */
  readonly poison: readonly number[];
  /** The shard is closed and ListShards reports its last record's sequence number as its end: the consumer may write SHARD_END. */
  readonly closed: boolean;
  readonly seed: number;
}

interface RunReport {
  readonly violations: string[];
  readonly userRecords: number;
  readonly invocations: number;
  readonly crashes: number;
  /** Completions beyond the first, all inside a crash window. */
  readonly duplicates: number;
  readonly sentToDestination: number;
  readonly leaseWrites: number;
  readonly lostAnswers: number;
  /** Lease writes the consumer reported lost to a concurrent invocation, merged and retried. */
  readonly leaseConflicts: number;
  /** 1 when the run ended with SHARD_END in the lease. */
  readonly shardEnds: number;
  readonly log: readonly string[];
}

/** Runs one shard through the mapping model and the consumer, and checks every guarantee. */
async function runModel(parameters: RunParameters): Promise<RunReport> {
  // Prepare: the shard, the seeded choices, the lease table, the ledger of completions
  const shard = produceShard(parameters.plan);
  const random = new Random(parameters.seed);
  // Timers are fake (see beforeAll): a jittered retry sleeps until no step is left to release.
  const interleaver = new Interleaver(new Random(parameters.seed ^ 0x5bd1e995), () => {
    if (jest.getTimerCount() === 0) {
      return false;
    }
    jest.advanceTimersToNextTimer();
    return true;
  });
  // The consumer's jitter draws from Math.random: seeded too, so a run replays exactly.
  const jitter = new Random(parameters.seed ^ 0x1b873593);
  const random$ = jest.spyOn(Math, 'random').mockImplementation(() => jitter.next());
  const memory = new MemoryLeaseStore('model-app');
  const store = memory.asStore();
  const poison = new Set(parameters.poison);
  const ledger = new Ledger(shard);
  const maxParallelizationFactor = Math.max(...parameters.parallelizationFactors);
  let lastCheckpoint: ExtendedSequenceNumber | undefined;
  let lastCounter = 0;
  let leaseWrites = 0;
  let lostAnswers = 0;
  let leaseConflicts = 0;
  let shardEnds = 0;

  const mapping: KinesisEventSourceMapping = new KinesisEventSourceMapping(
    shard.records,
    {
      parallelizationFactors: parameters.parallelizationFactors,
      maxBatchSize: parameters.maxBatchSize,
      maxRetryAttempts: parameters.maxRetryAttempts,
      bisectBatchOnFunctionError: parameters.bisect,
      redeliveryRate: parameters.redeliveryRate,
    },
    random,
    (invocation) => invoke(invocation),
  );

  /** After every lease store call: the checkpoint never moves back, and everything at or below it is handled. */
  async function observe(by: string): Promise<void> {
    const lease = await store.get(SHARD_ID);
    if (!lease) {
      return;
    }
    const checkpoint = lease.checkpoint;
    leaseWrites += lease.leaseCounter - lastCounter;
    lastCounter = lease.leaseCounter;
    if (lastCheckpoint && compareExtended(checkpoint, lastCheckpoint) < 0) {
      ledger.violate(`checkpoint moved back from ${position(lastCheckpoint)} to ${position(checkpoint)} (${by})`);
    }
    lastCheckpoint = checkpoint;
    if (checkpoint.sequenceNumber === 'SHARD_END') {
      const unhandled = shard.users.filter((user) => !ledger.handled(user.id, mapping));
      if (!parameters.closed || unhandled.length > 0) {
        ledger.violate(
          `SHARD_END (${by}) on a shard ${parameters.closed ? `with user records never processed nor sent to the destination: ${unhandled.map((user) => `u${user.id}`).join(' ')}` : 'that is open'}`,
        );
      }
      return;
    }
    if (isSentinel(checkpoint.sequenceNumber)) {
      return;
    }
    const at = Number(BigInt(checkpoint.sequenceNumber) - SEQ_BASE);
    const unhandled = shard.users.filter(
      (user) =>
        (user.kinesisIndex < at || (user.kinesisIndex === at && user.subSequenceNumber <= checkpoint.subSequenceNumber)) &&
        !ledger.handled(user.id, mapping),
    );
    if (unhandled.length > 0) {
      ledger.violate(
        `checkpoint ${position(checkpoint)} (${by}) is past user records never processed nor sent to the destination: ${unhandled.map((user) => `u${user.id}`).join(' ')}`,
      );
    }
  }

  async function invoke(invocation: Invocation): Promise<InvocationResult> {
    await interleaver.step(`inv#${invocation.id} invoked`);
    const batchUsers = invocation.indices.reduce((sum, index) => sum + shard.usersOf[index].length, 0);
    const crashAfter = random.chance(parameters.crashRate) ? 1 + random.int(batchUsers) : undefined;
    const state = { completed: 0, dead: false };
    const crash = (where: string) => {
      if (!state.dead) {
        state.dead = true;
        ledger.crashed(invocation.id);
        mapping.log.push(`inv#${invocation.id} crashed ${where}, after ${state.completed} completions`);
      }
      return new CrashError(`inv#${invocation.id} crashed`);
    };
    const lastOfKey = new Map<string, number>();
    let lastInShard = -1;

    const processRecord: RecordProcessor = async (record: UserRecord) => {
      const id = Number(record.data.toString('utf8'));
      const expected = shard.users[id];
      if (
        !expected ||
        expected.key !== record.partitionKey ||
        record.sequenceNumber !== shard.records[expected.kinesisIndex].kinesis.sequenceNumber ||
        record.subSequenceNumber !== expected.subSequenceNumber
      ) {
        ledger.violate(
          `inv#${invocation.id} got a user record that is not the one written: ${JSON.stringify({ id, key: record.partitionKey, sub: record.subSequenceNumber })}`,
        );
      }
      await interleaver.step(`inv#${invocation.id} u${id} start`);
      if (state.dead) {
        throw crash('');
      }
      if (poison.has(id) || random.chance(parameters.failureRate)) {
        throw new ProcessorError(`u${id} failed`);
      }
      await interleaver.step(`inv#${invocation.id} u${id} end`);
      if (state.dead) {
        throw crash('');
      }
      // Order inside the invocation: per user key (per shard with ordering 'shard').
      const previous = parameters.ordering === 'shard' ? lastInShard : (lastOfKey.get(record.partitionKey) ?? -1);
      if (id <= previous) {
        ledger.violate(
          `inv#${invocation.id}: u${id} (${record.partitionKey}) completed after u${previous} in the same invocation (ordering ${parameters.ordering})`,
        );
      }
      lastInShard = Math.max(lastInShard, id);
      lastOfKey.set(record.partitionKey, Math.max(previous, id));
      ledger.complete(id, invocation.id, mapping);
      state.completed++;
      if (crashAfter !== undefined && state.completed >= crashAfter) {
        crash(`after completing u${id}`);
      }
    };

    // The lease store as this invocation sees it: every call interleaved; once the invocation is
    // dead (or, when it is to crash, at its first call after a completion) every call fails.
    const leases = new Proxy(store, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property, target);
        if (typeof value !== 'function') {
          return value;
        }
        return async (...args: unknown[]) => {
          const label = `inv#${invocation.id} lease.${String(property)}`;
          await interleaver.step(label);
          if (state.dead || (crashAfter !== undefined && state.completed > 0)) {
            throw crash(`at ${label}`);
          }
          const result: unknown = await (value as (...a: unknown[]) => unknown).apply(target, args);
          await observe(label);
          return result;
        };
      },
    });

    const lastSequence = BigInt(shard.records[shard.records.length - 1].kinesis.sequenceNumber);
    const shardLineage = async (): Promise<ShardLineage> => ({
      shardId: SHARD_ID,
      startingHashKey: '0',
      endingHashKey: '340282366920938463463374607431768211455',
      parentShardIds: [],
      childShardIds: parameters.closed ? ['shardId-000000000001'] : [],
      closed: parameters.closed,
      endingSequenceNumber: parameters.closed ? lastSequence : undefined,
    });
    const deps = {
      processRecord,
      leases,
      owner: 'consumer-fn',
      ordering: parameters.ordering,
      maxConcurrency: parameters.maxConcurrency,
      maxParallelizationFactor,
      shardLineage,
    };
    let response: KinesisStreamBatchResponse;
    try {
      const outcome = await consumeBatch(invocation.records, lambdaContext(), deps satisfies ConsumerDeps);
      response = outcome.response;
      leaseConflicts += outcome.shards.reduce(
        (sum, shardOutcome) => sum + ((shardOutcome as { leaseConflicts?: number }).leaseConflicts ?? 0),
        0,
      );
    } catch (error) {
      if (!state.dead) {
        ledger.violate(`inv#${invocation.id} failed as a whole without a fault: ${(error as Error).stack ?? String(error)}`);
      }
      return { kind: 'error', error };
    }
    if (state.dead) {
      // A crashed invocation answers nothing: Lambda sees a function error.
      return { kind: 'error', error: new CrashError(`inv#${invocation.id} crashed`) };
    }
    // The partial batch response names the lowest Kinesis record of the batch not fully handled.
    // A user record is processed when its processor completed outside a crash (a crash's
    // completions are not in the lease). One Lambda gave to the on-failure destination counts as
    // handled too (the design's `upTo`), but only Lambda knows which those are: the consumer may
    // skip such a record when Lambda delivers it again after a restart, or run it and name it if
    // it fails. So: every record below the one named is processed or in the destination, the one
    // named holds a user record not processed, and an empty answer means every record is
    // processed or in the destination.
    const name = (index: number) => `k${index}`;
    const processed = (id: number) => ledger.completedOutsideCrashes(id);
    const handled = (index: number) => shard.usersOf[index].every((id) => processed(id) || ledger.inDestination(id, mapping));
    const named = response.batchItemFailures.map((failure) =>
      invocation.indices.find((index) => shard.records[index].kinesis.sequenceNumber === failure.itemIdentifier),
    );
    const firstUnhandled = invocation.indices.find((index) => !handled(index));
    const describeNamed = () =>
      response.batchItemFailures
        .map((failure, i) => (named[i] === undefined ? `'${failure.itemIdentifier}' (not in the batch)` : name(named[i])))
        .join(' ');
    if (named.length > 1 || named.some((index) => index === undefined)) {
      ledger.violate(`inv#${invocation.id} answered batchItemFailures [${describeNamed()}]: one record of the batch expected`);
    } else if (named.length === 0 && firstUnhandled !== undefined) {
      ledger.violate(
        `inv#${invocation.id} answered no batchItemFailures, but ${name(firstUnhandled)} is neither processed nor in the on-failure destination`,
      );
    } else if (named.length === 1) {
      const at = invocation.indices.indexOf(named[0]!);
      const below = invocation.indices.slice(0, at).find((index) => !handled(index));
      if (below !== undefined) {
        ledger.violate(
          `inv#${invocation.id} answered batchItemFailures [${describeNamed()}], but ${name(below)} below it is neither processed nor in the on-failure destination`,
        );
      } else if (shard.usersOf[named[0]!].every(processed)) {
        ledger.violate(`inv#${invocation.id} answered batchItemFailures [${describeNamed()}], but every user record of it is processed`);
      }
    }
    if (random.chance(parameters.lostAnswerRate)) {
      // The lease is written, then the invocation times out: Lambda sees a function error and
      // retries the batch. Not a crash window: what completed is in the lease.
      lostAnswers++;
      mapping.log.push(`inv#${invocation.id} wrote the lease, then timed out (its answer is lost)`);
      return { kind: 'error', error: new CrashError(`inv#${invocation.id} timed out after its lease write`) };
    }
    return { kind: 'response', response };
  }

  // Act: Lambda delivers the shard until every record is handled
  try {
    await interleaver.run(mapping.run());
  } finally {
    random$.mockRestore();
  }
  // Assess: exactly once and nothing lost (the other guarantees were checked as the run went)
  ledger.finish(mapping);
  const final = await store.get(SHARD_ID);
  if (final?.checkpoint.sequenceNumber === 'SHARD_END') {
    shardEnds++;
  }
  return {
    violations: ledger.violations,
    userRecords: shard.users.length,
    invocations: mapping.invocations,
    crashes: ledger.crashes,
    duplicates: ledger.duplicates(),
    sentToDestination: mapping.destination.reduce((sum, entry) => sum + entry.indices.length, 0),
    leaseWrites,
    lostAnswers,
    leaseConflicts,
    shardEnds,
    log: mapping.log,
  };
}

function position(checkpoint: ExtendedSequenceNumber): string {
  return isSentinel(checkpoint.sequenceNumber)
    ? checkpoint.sequenceNumber
    : `k${Number(BigInt(checkpoint.sequenceNumber) - SEQ_BASE)}.${checkpoint.subSequenceNumber}`;
}

/** What happened to every user record: which invocations completed it, which of them crashed. */
class Ledger {
  public readonly violations: string[] = [];
  public crashes = 0;
  private readonly completions: number[][];
  private readonly dead = new Set<number>();

  constructor(private readonly shard: ModelShard) {
    this.completions = shard.users.map(() => []);
  }

  public violate(message: string): void {
    if (this.violations.length < 20) {
      this.violations.push(message);
    }
  }

  public crashed(invocation: number): void {
    this.dead.add(invocation);
    this.crashes++;
  }

  /** Completed, or its Kinesis record went to the on-failure destination. */
  public handled(id: number, mapping: KinesisEventSourceMapping): boolean {
    return this.completions[id].length > 0 || this.inDestination(id, mapping);
  }

  public completedOutsideCrashes(id: number): boolean {
    return this.completions[id].some((invocation) => !this.dead.has(invocation));
  }

  /** Records a completion; every earlier record of the same user key must be handled by now. */
  public complete(id: number, invocation: number, mapping: KinesisEventSourceMapping): void {
    const key = this.shard.users[id].key;
    const waiting = this.shard.users.filter((user) => user.id < id && user.key === key && !this.handled(user.id, mapping));
    if (waiting.length > 0) {
      this.violate(
        `inv#${invocation}: u${id} (${key}) completed before earlier records of its key were handled: ${waiting.map((user) => `u${user.id}`).join(' ')}`,
      );
    }
    this.completions[id].push(invocation);
  }

  public duplicates(): number {
    return this.completions.reduce((sum, list) => sum + Math.max(0, list.length - 1), 0);
  }

  /** Exactly once outside the crash window, and nothing lost. */
  public finish(mapping: KinesisEventSourceMapping): void {
    for (const user of this.shard.users) {
      const list = this.completions[user.id];
      const inCrashes = list.filter((invocation) => this.dead.has(invocation)).length;
      if (list.length > 1 + inCrashes) {
        this.violate(
          `u${user.id} (${user.key}, k${user.kinesisIndex}.${user.subSequenceNumber}) processed ${list.length} times (by inv#${list.join(', inv#')}), only ${inCrashes} of them cut off by a crash`,
        );
      }
      if (list.length === 0 && !this.inDestination(user.id, mapping)) {
        this.violate(
          `u${user.id} (${user.key}, k${user.kinesisIndex}.${user.subSequenceNumber}) lost: never processed, never sent to the on-failure destination`,
        );
      }
    }
  }

  public inDestination(id: number, mapping: KinesisEventSourceMapping): boolean {
    const index = this.shard.users[id].kinesisIndex;
    return mapping.destination.some((entry) => entry.indices.includes(index));
  }
}

// ---------------------------------------------------------------------------------------------

const plan: fc.Arbitrary<ShardPlan> = fc.record({
  userKeys: fc.integer({ min: 1, max: 20 }),
  plainKeys: fc.integer({ min: 0, max: 3 }),
  groups: fc.integer({ min: 1, max: 6 }),
  // Aggregates of 1 to 10 user records; stops at 300 user records.
  entries: fc.array(fc.record({ key: fc.nat({ max: 19 }), others: fc.array(fc.nat({ max: 19 }), { maxLength: 9, size: 'max' }) }), {
    minLength: 1,
    maxLength: 60,
    size: 'max',
  }),
});

function parameters(factors: fc.Arbitrary<number[]>): fc.Arbitrary<RunParameters> {
  return fc.record({
    plan,
    parallelizationFactors: factors,
    ordering: fc.constantFrom<Ordering>('partition-key', 'shard'),
    maxConcurrency: fc.integer({ min: 1, max: 50 }),
    maxBatchSize: fc.integer({ min: 1, max: 12 }),
    maxRetryAttempts: fc.integer({ min: 0, max: 4 }),
    bisect: fc.boolean(),
    redeliveryRate: fc.constantFrom(0, 0.1, 0.3),
    failureRate: fc.constantFrom(0, 0.02, 0.1, 0.25),
    crashRate: fc.constantFrom(0, 0.05, 0.2),
    lostAnswerRate: fc.constantFrom(0, 0.1),
    poison: fc.array(fc.nat({ max: 299 }), { maxLength: 3 }),
    closed: fc.boolean(),
    seed: fc.integer(),
  });
}

const factor = fc.integer({ min: 1, max: 10 });
const totals = {
  shardEnds: 0,
  runs: 0,
  userRecords: 0,
  invocations: 0,
  crashes: 0,
  duplicates: 0,
  sentToDestination: 0,
  leaseWrites: 0,
  lostAnswers: 0,
  leaseConflicts: 0,
};

async function holds(run: RunParameters): Promise<void> {
  const report = await runModel(run);
  totals.runs++;
  totals.userRecords += report.userRecords;
  totals.invocations += report.invocations;
  totals.crashes += report.crashes;
  totals.duplicates += report.duplicates;
  totals.sentToDestination += report.sentToDestination;
  totals.leaseWrites += report.leaseWrites;
  totals.lostAnswers += report.lostAnswers;
  totals.leaseConflicts += report.leaseConflicts;
  totals.shardEnds += report.shardEnds;
  if (report.violations.length > 0) {
    const log = report.log.length > 80 ? ['...', ...report.log.slice(-80)] : report.log;
    throw new Error(`${report.violations.length} violation(s):\n  ${report.violations.join('\n  ')}\nmapping log:\n  ${log.join('\n  ')}`);
  }
}

const RUNS = Number(process.env.EXACTLY_ONCE_RUNS ?? 500);
/** EXACTLY_ONCE_NO_SHRINK=1 reports the first failing run as found (shrinking a failure takes minutes). */
const options = { numRuns: RUNS, endOnFailure: process.env.EXACTLY_ONCE_NO_SHRINK !== undefined };
/** Room for fast-check to shrink a failure to its smallest case. */
const SHRINK_TIMEOUT = 600_000;

describe('consumer exactly once against the Lambda event-source mapping model', () => {
  beforeAll(() => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
  });

  afterAll(() => {
    jest.useRealTimers();
    // Coverage of the faults, for the record (jest prints it once).
    console.log(`exactly-once model: ${JSON.stringify(totals)}`);
  });

  test(
    'with a constant parallelization factor (1 to 10)',
    async () => {
      // Prepare, Act, Assess: each run builds a shard, runs the mapping and checks every guarantee
      await fc.assert(fc.asyncProperty(parameters(factor.map((pf) => [pf])), holds), options);
    },
    SHRINK_TIMEOUT,
  );

  test(
    'with the parallelization factor changed between batches',
    async () => {
      // Prepare, Act, Assess: as above, the factor changing 1 to 3 times while records are in flight
      await fc.assert(fc.asyncProperty(parameters(fc.array(factor, { minLength: 2, maxLength: 4 })), holds), options);
    },
    SHRINK_TIMEOUT,
  );

  test(
    'with a parallelization factor of 1 and no faults, every record is processed once and in shard order',
    async () => {
      // Prepare, Act, Assess: the baseline the faults are measured against
      const quiet = parameters(fc.constant([1])).map((run): RunParameters => ({
        ...run,
        failureRate: 0,
        crashRate: 0,
        lostAnswerRate: 0,
        poison: [],
        redeliveryRate: 0,
      }));
      await fc.assert(fc.asyncProperty(quiet, holds), { ...options, numRuns: Math.ceil(RUNS / 4) });
    },
    SHRINK_TIMEOUT,
  );
});
