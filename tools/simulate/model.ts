import { DAY_MS, MAX_PARALLELIZATION_FACTOR, UPDATE_SHARD_COUNT_CALLS_PER_DAY } from '../../lambda/shared/scaling-decision';
import type { Trace } from './traces';

/**
 * A minute-by-minute model of a Kinesis stream and its Lambda consumer under the service limits:
 * - writes: 1 MiB/s and 1,000 records/s per shard (1 KiB records); within a minute the per-second
 *   demand varies ±20 % (five equally likely levels), so a minute near 100 % already throttles;
 *   throttled writes are counted, not retried;
 * - UpdateShardCount: at most double, at least half, 10 calls per rolling 24 h, refused while the
 *   stream is UPDATING; a reshard takes RESHARD_MINUTES, during which the old count serves and
 *   the larger count is billed;
 * - consumer: shards × parallelization factor concurrent batches, each processing the trace's
 *   consumer rate, and no more than 2 MiB/s of reads per shard; a factor change takes 1 minute;
 *   in a minute the trace marks as failing (a poison record) it processes nothing, whatever the
 *   shards or the factor (Lambda retries the failing batch; children wait for their parent), and
 *   reports a failed record per concurrent batch;
 * - on-demand: capacity is twice the highest write throughput seen up to 15 minutes earlier, at
 *   least the 4 MiB/s a new stream starts with; shard-hours are reported as that capacity in
 *   1 MiB/s shards (on-demand is billed per GB, not per shard);
 * - metrics reach the policies one minute late, as CloudWatch's do; in a minute the trace marks as
 *   unobserved, CloudWatch has no datapoint for it (the record says `observed: false`).
 */
export const RESHARD_MINUTES = 4;
const BURST = [0.8, 0.9, 1, 1.1, 1.2];
const READ_MIB_PER_SHARD = 2;
const ON_DEMAND_START_MIB = 4;
const ON_DEMAND_REACTION_MINUTES = 15;

export interface MinuteRecord {
  readonly minute: number;
  readonly demand: number;
  readonly accepted: number;
  readonly throttled: number;
  /** Age of the oldest unprocessed record, seconds. */
  readonly ageSeconds: number;
  /** Shards (or on-demand equivalent) serving writes this minute. */
  readonly shards: number;
  readonly factor: number;
  /** What the consumer processed, MiB/s (user records of 1 KiB). */
  readonly processed: number;
  /** User records the consumer reported as failed this minute. */
  readonly failures: number;
  /** Whether CloudWatch has datapoints for this minute (false in a trace's metric outage). */
  readonly observed: boolean;
}

export interface PolicyView {
  readonly minute: number;
  /** Open shards serving writes now. */
  readonly shards: number;
  readonly updating: boolean;
  readonly factor: number;
  /** Every minute up to the previous one (metrics are one minute late). */
  readonly history: readonly MinuteRecord[];
}

export type PolicyAction = { readonly type: 'shards'; readonly target: number } | { readonly type: 'factor'; readonly value: number };

export interface Policy {
  readonly name: string;
  readonly mode: 'provisioned' | 'on-demand';
  /** Shards to start with (provisioned). */
  initialShards(trace: Trace): number;
  step(view: PolicyView): PolicyAction[];
}

export interface SimulationResult {
  readonly policy: string;
  readonly trace: string;
  readonly throttledShare: number;
  readonly maxAgeSeconds: number;
  readonly shardHours: number;
  readonly reshards: number;
  readonly refused: number;
  readonly maxShards: number;
  readonly finalFactor: number;
  /** Most shards billed, and highest factor, in a minute the consumer was failing (0 when it never was). */
  readonly maxShardsWhileFailing: number;
  readonly maxFactorWhileFailing: number;
}

export function simulate(policy: Policy, trace: Trace): SimulationResult {
  const history: MinuteRecord[] = [];
  let shards = policy.initialShards(trace);
  let pending: { target: number; done: number } | undefined;
  let pendingFactor: { value: number; done: number } | undefined;
  let factor = 1;
  let backlog = 0; // MiB not yet processed
  const calls: number[] = [];
  let demanded = 0;
  let throttledTotal = 0;
  let shardMinutes = 0;
  let maxAge = 0;
  let reshards = 0;
  let refused = 0;
  let maxShards = shards;
  let maxShardsWhileFailing = 0;
  let maxFactorWhileFailing = 0;

  for (let minute = 0; minute < trace.demand.length; minute++) {
    if (pending && minute >= pending.done) {
      shards = pending.target;
      pending = undefined;
    }
    if (pendingFactor && minute >= pendingFactor.done) {
      factor = pendingFactor.value;
      pendingFactor = undefined;
    }
    if (policy.mode === 'provisioned') {
      for (const action of policy.step({ minute, shards, updating: pending !== undefined, factor, history })) {
        if (action.type === 'factor') {
          const value = Math.min(MAX_PARALLELIZATION_FACTOR, Math.max(1, Math.round(action.value)));
          pendingFactor = { value, done: minute + 1 };
          continue;
        }
        const now = minute * 60_000;
        const recent = calls.filter((at) => at > now - DAY_MS).length;
        const valid =
          !pending &&
          action.target !== shards &&
          action.target <= shards * 2 &&
          action.target >= Math.ceil(shards / 2) &&
          action.target >= 1 &&
          recent < UPDATE_SHARD_COUNT_CALLS_PER_DAY;
        if (!valid) {
          refused++;
          continue;
        }
        calls.push(now);
        reshards++;
        pending = { target: action.target, done: minute + RESHARD_MINUTES };
      }
    }

    const demand = trace.demand[minute];
    let capacity: number;
    let servingShards: number;
    if (policy.mode === 'on-demand') {
      const seen = history
        .slice(0, Math.max(0, history.length - ON_DEMAND_REACTION_MINUTES + 1))
        .reduce((max, r) => Math.max(max, r.accepted), 0);
      capacity = Math.max(ON_DEMAND_START_MIB, 2 * seen);
      servingShards = Math.ceil(capacity);
    } else {
      capacity = shards;
      servingShards = shards;
    }
    const throttled = BURST.reduce((sum, x) => sum + Math.max(0, demand * x - capacity), 0) / BURST.length;
    const accepted = demand - throttled;

    const failing = trace.consumerFailing?.[minute] ?? false;
    const consumerCapacity = failing
      ? 0
      : Math.min(servingShards * factor * trace.consumerRate[minute], servingShards * READ_MIB_PER_SHARD);
    backlog += accepted * 60;
    const processedMib = Math.min(backlog, consumerCapacity * 60);
    backlog -= processedMib;
    // FIFO: the backlog holds the last backlog/accepted seconds of writes.
    const ageSeconds = backlog <= 1e-9 ? 0 : backlog / (accepted > 1e-9 ? accepted : Math.max(consumerCapacity, 1e-9));

    demanded += demand;
    throttledTotal += throttled;
    const billed = pending ? Math.max(shards, pending.target) : servingShards;
    shardMinutes += billed;
    maxShards = Math.max(maxShards, billed);
    maxAge = Math.max(maxAge, ageSeconds);
    if (failing) {
      maxShardsWhileFailing = Math.max(maxShardsWhileFailing, billed);
      maxFactorWhileFailing = Math.max(maxFactorWhileFailing, factor);
    }
    history.push({
      minute,
      demand,
      accepted,
      throttled,
      ageSeconds,
      shards: servingShards,
      factor,
      processed: processedMib / 60,
      failures: failing ? servingShards * factor : 0,
      observed: !(trace.metricsMissing?.[minute] ?? false),
    });
  }

  return {
    policy: policy.name,
    trace: trace.name,
    throttledShare: throttledTotal / demanded,
    maxAgeSeconds: maxAge,
    shardHours: shardMinutes / 60,
    reshards,
    refused,
    maxShards,
    finalFactor: factor,
    maxShardsWhileFailing,
    maxFactorWhileFailing,
  };
}
