/**
 * The shard autoscaler's decision, as a pure function: no clients, no clock, no environment.
 * The scaler handler (lambda/scaler) and the simulation (tools/simulate) both call it.
 *
 * Metrics it has no datapoint for are `undefined` (unknown), never 0: no decision rests on them.
 *
 * Rules, in order:
 *  1. nothing while the stream is not ACTIVE (UpdateShardCount is rejected while UPDATING);
 *  2. stream-bound (throttled writes, or write utilisation at or above the scale-out threshold,
 *     measured): shards for the measured load (accepted + throttled) at the target utilisation
 *     (provisioned streams; Kinesis scales on-demand ones);
 *  3. lag (iterator age at or above the threshold, measured) is diagnosed from the consumer's
 *     activity (scaling-lag.ts): consumer-stuck never adds shards or batches, it is reported
 *     (`ConsumerStuck`) for people; consumer-slow raises the mapping's parallelization factor,
 *     doubling up to 10, before adding shards; unknown does nothing and looks again;
 *  4. scale-in only when write datapoints cover the whole quiet window and all of them stayed
 *     below the scale-in threshold with no lag, at most half, and only after the scale-in cooldown
 *     since the last change in either direction;
 *  5. every shard change within UpdateShardCount's rules: at most double, at least half, 10 calls
 *     per rolling 24 hours (scale-in leaves the last `reservedScaleOutCalls` to scale-out), the
 *     account's shard limit, the construct's min/max, and a backoff after Kinesis refused one.
 *
 * Each decision says whether the scaler should look again while the condition lasts (`recheck`:
 * the handler then resets the alarm so that it fires again), or whether nothing it could do would
 * change (at maxShards, factor 10 on an on-demand stream, minShards when quiet): then the alarm
 * stays in ALARM until the condition ends.
 */

import { MiB, PARALLELIZATION_FACTOR_LIMITS, PER_SHARD_LIMITS, ROLLING_DAY_MS, UPDATE_SHARD_COUNT_LIMITS } from './kinesis-limits';
import { diagnoseLag, LagKind, type ConsumerActivity } from './scaling-lag';

// The limits the decision obeys, from the one place that defines them (./kinesis-limits.ts).
export const MIB = MiB;
export const SHARD_WRITE_BYTES_PER_SECOND = PER_SHARD_LIMITS.write.bytesPerSecond;
export const SHARD_WRITE_RECORDS_PER_SECOND = PER_SHARD_LIMITS.write.recordsPerSecond;
export const MAX_PARALLELIZATION_FACTOR = PARALLELIZATION_FACTOR_LIMITS.max;
export const UPDATE_SHARD_COUNT_CALLS_PER_DAY = UPDATE_SHARD_COUNT_LIMITS.callsPerRollingDay;
export const DAY_MS = ROLLING_DAY_MS;
const { maxScaleOutFactor: MAX_SCALE_OUT_FACTOR, maxScaleInDivisor: MAX_SCALE_IN_DIVISOR } = UPDATE_SHARD_COUNT_LIMITS;
/** Minutes of the recent (scale-out) window the scaler reads. */
export const DEFAULT_RECENT_MINUTES = 5;

export const ScalingAction = {
  NONE: 'none',
  UPDATE_SHARD_COUNT: 'update-shard-count',
  UPDATE_PARALLELIZATION: 'update-parallelization',
} as const;
export type ScalingAction = (typeof ScalingAction)[keyof typeof ScalingAction];

/** The `Decision` dimension of the ScalingDecision metric. */
export const ScalingDecisionKind = {
  SCALE_OUT: 'ScaleOut',
  SCALE_IN: 'ScaleIn',
  RAISE_PARALLELIZATION: 'RaiseParallelization',
  NO_CHANGE: 'NoChange',
  BLOCKED: 'Blocked',
  ON_DEMAND: 'OnDemand',
  BUSY: 'Busy',
  REJECTED: 'Rejected',
  DUPLICATE: 'Duplicate',
  /** Not one of the scaler's own alarms (or not in ALARM any more): logged, nothing read or written. */
  IGNORED: 'Ignored',
  /** The metrics the decision needs have no datapoints: nothing done, looked at again. */
  NO_DATA: 'NoData',
  /** Lag from a consumer that fails without progress: no shards, people alarmed. */
  CONSUMER_STUCK: 'ConsumerStuck',
} as const;
export type ScalingDecisionKind = (typeof ScalingDecisionKind)[keyof typeof ScalingDecisionKind];

/** What CloudWatch holds, reduced. Every `undefined` means "no datapoint": unknown, never 0. */
export interface ScalingMetrics {
  /** Highest one-minute average of accepted writes in the recent (scale-out) window, bytes/s. */
  readonly recentBytesPerSecond?: number;
  /** Highest one-minute average of accepted writes in the recent window, records/s. */
  readonly recentRecordsPerSecond?: number;
  /** Records rejected with WriteProvisionedThroughputExceeded in the recent window, per second at the worst minute. */
  readonly recentThrottledRecordsPerSecond?: number;
  /** Highest one-minute bytes/s over the minutes of the quiet window that have write datapoints. */
  readonly windowBytesPerSecond?: number;
  /** Highest one-minute records/s over the minutes of the quiet window that have write datapoints. */
  readonly windowRecordsPerSecond?: number;
  /** Minutes of the quiet window that have write datapoints (the window the data covers, not the one asked for). */
  readonly windowMinutes: number;
  /** Maximum iterator age now (stream GetRecords or consumer IteratorAge, whichever is larger), ms. */
  readonly recentIteratorAgeMs?: number;
  /** Maximum iterator age over the quiet window, ms. */
  readonly windowIteratorAgeMs?: number;
  /** The (first) consumer's activity in the recent window; absent when the scaler has no consumer. */
  readonly consumer?: ConsumerActivity;
  /** Every consumer's activity and own iterator age, in the scaler's consumer order; absent without consumers. */
  readonly consumers?: readonly ConsumerMetrics[];
  /** Minutes of the recent window (the consumer's activity is summed over it). */
  readonly recentMinutes?: number;
}

/** One consumer's metrics in the recent window. */
export interface ConsumerMetrics {
  readonly activity?: ConsumerActivity;
  /** Its own iterator age (AWS/Lambda IteratorAge, Maximum) in the recent window, ms; unknown without a datapoint. */
  readonly recentIteratorAgeMs?: number;
}

/**
 * One consumer as the decision sees it: its mapping's factor and whether the scaler may change
 * it, its activity and its own lag. Each consumer's factor is raised on its own, with its own
 * cooldown (`ScalingState.parallelizationAt[id]`).
 */
export interface ScalingConsumer {
  /** Stable id (the key of its cooldown in the state, and its name in reasons). */
  readonly id: string;
  /** Its mapping's current factor, when the scaler reads the mapping. */
  readonly parallelizationFactor?: number;
  /** Whether the scaler may change its mapping's factor. */
  readonly adjustParallelization: boolean;
  /** Its activity; undefined when the scaler reads no metric of it (lag is then taken as slow). */
  readonly activity?: ConsumerActivity;
  /** Its own iterator age, ms; unknown without a datapoint. */
  readonly recentIteratorAgeMs?: number;
}

/** A parallelization-factor change of one consumer's mapping. */
export interface ParallelizationChange {
  readonly consumerId: string;
  readonly from: number;
  readonly to: number;
}

export interface ScalingState {
  readonly lastScaleOutAt?: number;
  readonly lastScaleInAt?: number;
  /** The last factor change of any mapping (with one consumer, its cooldown). */
  readonly lastParallelizationAt?: number;
  /** The last factor change per consumer id: each mapping's own cooldown. */
  readonly parallelizationAt?: { readonly [consumerId: string]: number };
  /** When Kinesis last refused (LimitExceeded, ResourceInUse) or failed an UpdateShardCount. */
  readonly lastRefusedAt?: number;
  /** UpdateShardCount refusals in a row since the last change that succeeded. */
  readonly refusals?: number;
  /** Epoch ms of each UpdateShardCount call (older than 24 h may be present; they are ignored). */
  readonly shardCountChanges: readonly number[];
}

export interface ScalingLimits {
  readonly minShards: number;
  readonly maxShards: number;
  /** Target write utilisation after a change, 0 < x < 1. */
  readonly targetUtilization: number;
  /** Utilisation at or above which writes count as stream-bound. */
  readonly scaleOutUtilization: number;
  /** Utilisation below which (over the whole quiet window) shards may be removed. */
  readonly scaleInUtilization: number;
  readonly lagThresholdMs: number;
  readonly scaleOutCooldownMs: number;
  readonly scaleInCooldownMs: number;
  /** Length of the quiet window the scale-in needs, in minutes. */
  readonly quietWindowMinutes: number;
  /** UpdateShardCount calls of the rolling day that scale-in leaves to scale-out. */
  readonly reservedScaleOutCalls: number;
  /** Account shard limit and the shards open in the account now (DescribeLimits), when known. */
  readonly accountShardLimit?: number;
  readonly accountOpenShards?: number;
  /** Whether the consumer's parallelization factor may be changed (a consumer exists and the switch is on). */
  readonly adjustParallelization: boolean;
}

export interface ScalingInput {
  readonly now: number;
  readonly mode: 'PROVISIONED' | 'ON_DEMAND';
  readonly streamStatus: string;
  readonly openShards: number;
  /** The consumer mapping's current factor, when there is one consumer (without `consumers`). */
  readonly parallelizationFactor?: number;
  /**
   * Every consumer (several: standard and enhanced fan-out). Lag is pinned on the consumers whose
   * own iterator age is at or above the threshold (all of them when none is known to be): a stuck
   * one blocks new shards, a slow one gets its own factor raised.
   * @default - one consumer from `parallelizationFactor`, `metrics.consumer` and `limits.adjustParallelization`, when either is given
   */
  readonly consumers?: readonly ScalingConsumer[];
  readonly metrics: ScalingMetrics;
  readonly state: ScalingState;
  readonly limits: ScalingLimits;
}

export interface ScalingDecision {
  readonly action: ScalingAction;
  readonly decision: ScalingDecisionKind;
  readonly reason: string;
  readonly targetShards?: number;
  /** The new factor of the (first) mapping changed. */
  readonly parallelizationFactor?: number;
  /** Every mapping whose factor changes (`UPDATE_PARALLELIZATION`), each on its own. */
  readonly parallelizationChanges?: readonly ParallelizationChange[];
  /** Consumers found stuck (people are told), also when another consumer's factor is raised. */
  readonly stuckConsumers?: readonly string[];
  /**
   * With no action: whether the scaler should be invoked again while the condition lasts (the
   * handler resets the fired alarm). False where nothing it could do would change: at maxShards,
   * at factor 10 on an on-demand stream, at minShards when quiet.
   */
  readonly recheck?: boolean;
}

/** Backoff after Kinesis refused UpdateShardCount: the scale-out cooldown, doubled per refusal in a row, at most an hour. */
export const MAX_REFUSAL_BACKOFF_MS = 60 * 60 * 1000;

export function refusalBackoffMs(refusals: number, scaleOutCooldownMs: number): number {
  return refusals <= 0 ? 0 : Math.min(MAX_REFUSAL_BACKOFF_MS, scaleOutCooldownMs * 2 ** (refusals - 1));
}

/** Write utilisation of `shards` shards under a load: the larger of the byte and the record share. */
export function utilization(bytesPerSecond: number, recordsPerSecond: number, shards: number): number {
  if (shards <= 0) {
    return Number.POSITIVE_INFINITY;
  }
  return Math.max(bytesPerSecond / (shards * SHARD_WRITE_BYTES_PER_SECOND), recordsPerSecond / (shards * SHARD_WRITE_RECORDS_PER_SECOND));
}

/** Shards that carry a load at the target utilisation. */
export function shardsFor(bytesPerSecond: number, recordsPerSecond: number, targetUtilization: number): number {
  const byBytes = bytesPerSecond / (SHARD_WRITE_BYTES_PER_SECOND * targetUtilization);
  const byRecords = recordsPerSecond / (SHARD_WRITE_RECORDS_PER_SECOND * targetUtilization);
  return Math.max(1, Math.ceil(Math.max(byBytes, byRecords) - 1e-9));
}

/** UpdateShardCount calls in the rolling 24 hours before `now`. */
export function changesInLastDay(state: ScalingState, now: number): number {
  return state.shardCountChanges.filter((at) => at > now - DAY_MS && at <= now).length;
}

export function decideScaling(input: ScalingInput): ScalingDecision {
  const { metrics, limits, openShards } = input;
  const pct = (x: number) => `${Math.round(x * 100)} %`;
  const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;
  const onDemand = input.mode === 'ON_DEMAND';

  if (!onDemand && input.streamStatus !== 'ACTIVE') {
    return none(ScalingDecisionKind.BUSY, `stream is ${input.streamStatus}: no change until it is ACTIVE`, true);
  }

  // Writes: known only from datapoints. Demand includes what was throttled: accepted writes alone understate it.
  const writesKnown = metrics.recentBytesPerSecond !== undefined || metrics.recentRecordsPerSecond !== undefined;
  const throttled = metrics.recentThrottledRecordsPerSecond ?? 0;
  const acceptedBytes = metrics.recentBytesPerSecond ?? 0;
  const acceptedRecords = metrics.recentRecordsPerSecond ?? 0;
  const bytesPerRecord = acceptedRecords > 0 ? acceptedBytes / acceptedRecords : 0;
  const demandRecords = acceptedRecords + throttled;
  const demandBytes = acceptedBytes + throttled * bytesPerRecord;
  const recentUtil = writesKnown || throttled > 0 ? utilization(demandBytes, demandRecords, openShards) : undefined;
  const writes = recentUtil === undefined ? 'write utilisation unknown (no datapoint)' : `write utilisation ${pct(recentUtil)}`;

  if (!onDemand && (throttled > 0 || (recentUtil !== undefined && recentUtil >= limits.scaleOutUtilization))) {
    let wanted = shardsFor(demandBytes, demandRecords, limits.targetUtilization);
    if (throttled > 0) {
      wanted = Math.max(wanted, openShards + 1);
    }
    const why = `stream-bound: ${writes} of ${openShards} shards${throttled > 0 ? `, ${Math.round(throttled)} throttled records/s` : ''}`;
    return scaleOut(input, wanted, why);
  }

  const age = metrics.recentIteratorAgeMs;
  if (age !== undefined && age >= limits.lagThresholdMs) {
    return decideLag(input, `iterator age ${seconds(age)} with ${writes}`);
  }

  if (onDemand) {
    return none(
      ScalingDecisionKind.ON_DEMAND,
      `on-demand stream: Kinesis manages its shards; UpdateShardCount is never called (iterator age ${age === undefined ? 'unknown' : seconds(age)})`,
      false,
    );
  }
  if (recentUtil === undefined && age === undefined && metrics.windowMinutes === 0) {
    return none(
      ScalingDecisionKind.NO_DATA,
      "no datapoints for the stream's writes, throttles or iterator age: no change on data the scaler does not have",
      true,
    );
  }

  const windowUtil =
    metrics.windowBytesPerSecond !== undefined || metrics.windowRecordsPerSecond !== undefined
      ? utilization(metrics.windowBytesPerSecond ?? 0, metrics.windowRecordsPerSecond ?? 0, openShards)
      : undefined;
  if (windowUtil !== undefined && windowUtil < limits.scaleInUtilization) {
    if (openShards > limits.minShards) {
      return scaleIn(input, windowUtil);
    }
    return none(
      ScalingDecisionKind.NO_CHANGE,
      `quiet: write utilisation peaked at ${pct(windowUtil)}; at minShards ${limits.minShards}`,
      false,
    );
  }
  if (recentUtil === undefined) {
    return none(
      ScalingDecisionKind.NO_DATA,
      `no write datapoints in the last minutes (quiet window: ${metrics.windowMinutes} of ${limits.quietWindowMinutes} min with data): no change on data the scaler does not have`,
      true,
    );
  }
  return none(
    ScalingDecisionKind.NO_CHANGE,
    `${writes} (quiet window peak ${windowUtil === undefined ? 'unknown' : pct(windowUtil)}), iterator age ${age === undefined ? 'unknown' : seconds(age)}: within bounds`,
    true,
  );
}

/** The consumers of the decision: `consumers`, or the one of the single-consumer fields. */
export function consumersOf(input: ScalingInput): readonly ScalingConsumer[] {
  if (input.consumers !== undefined) {
    return input.consumers;
  }
  if (input.metrics.consumer === undefined && input.parallelizationFactor === undefined) {
    return [];
  }
  return [
    {
      id: 'consumer',
      parallelizationFactor: input.parallelizationFactor,
      adjustParallelization: input.limits.adjustParallelization,
      activity: input.metrics.consumer,
      recentIteratorAgeMs: input.metrics.consumers?.[0]?.recentIteratorAgeMs,
    },
  ];
}

/**
 * Lag with writes below the stream-bound threshold: each lagging consumer is stuck, slow or
 * unknown. Slow ones get their own factor raised (each mapping independently, each with its own
 * cooldown); a stuck one never gets batches and blocks new shards (people are told); unknown
 * ones block any change until known; only slow consumers at their highest factor add shards.
 */
function decideLag(input: ScalingInput, lagging: string): ScalingDecision {
  const { limits } = input;
  const onDemand = input.mode === 'ON_DEMAND';
  const all = consumersOf(input);
  if (all.length === 0) {
    return scaleOut(
      input,
      input.openShards * MAX_SCALE_OUT_FACTOR,
      `consumer-bound: ${lagging}; parallelization factor not managed, adding shards`,
    );
  }
  // The consumers that lag: their own age at or above the threshold; when none is known to, any
  // of them may be the one (the stream's GetRecords age alone shows the lag).
  const known = all.filter((c) => c.recentIteratorAgeMs !== undefined && c.recentIteratorAgeMs >= limits.lagThresholdMs);
  const candidates = known.length > 0 ? known : all;
  const named = all.length > 1;
  const label = (c: ScalingConsumer) => (named ? `consumer ${c.id}: ` : '');
  const slow: ScalingConsumer[] = [];
  const stuck: Array<{ consumer: ScalingConsumer; evidence: string }> = [];
  const unknown: Array<{ consumer: ScalingConsumer; evidence: string }> = [];
  const evidence: string[] = [];
  for (const consumer of candidates) {
    if (consumer.activity === undefined) {
      slow.push(consumer);
      evidence.push(`${label(consumer)}consumer-bound`);
      continue;
    }
    const diagnosis = diagnoseLag(consumer.activity, input.metrics.recentMinutes ?? DEFAULT_RECENT_MINUTES);
    evidence.push(`${label(consumer)}${diagnosis.evidence}`);
    if (diagnosis.kind === LagKind.CONSUMER_STUCK) {
      stuck.push({ consumer, evidence: diagnosis.evidence });
    } else if (diagnosis.kind === LagKind.UNKNOWN) {
      unknown.push({ consumer, evidence: diagnosis.evidence });
    } else {
      slow.push(consumer);
    }
  }
  const why =
    evidence.length === 1 && evidence[0] === 'consumer-bound' ? `consumer-bound: ${lagging}` : `${evidence.join('; ')}; ${lagging}`;
  const stuckIds = stuck.map((s) => s.consumer.id);

  const changes: ParallelizationChange[] = [];
  for (const consumer of slow) {
    const next = nextFactor(input, consumer, all.length);
    if (next !== undefined) {
      changes.push({ consumerId: consumer.id, from: consumer.parallelizationFactor!, to: next });
    }
  }
  if (changes.length > 0) {
    const raised = changes.map((c) => `${named ? `${c.consumerId} ` : ''}from ${c.from} to ${c.to}`).join(', ');
    const blocked = stuck.length > 0 ? `; no shards while ${stuckIds.join(', ')} is stuck (people alarmed)` : '';
    return {
      action: ScalingAction.UPDATE_PARALLELIZATION,
      decision: ScalingDecisionKind.RAISE_PARALLELIZATION,
      parallelizationFactor: changes[0].to,
      // The list form answers the list form (`consumers`); the single-consumer form keeps its shape.
      ...(input.consumers !== undefined ? { parallelizationChanges: changes } : {}),
      ...(input.consumers !== undefined && stuckIds.length > 0 ? { stuckConsumers: stuckIds } : {}),
      reason: `${why}; raising the parallelization factor ${raised}${onDemand ? ' (on-demand stream: the only lever)' : ' before adding shards'}${blocked}`,
    };
  }
  if (stuck.length > 0) {
    const decision = none(
      ScalingDecisionKind.CONSUMER_STUCK,
      `${why}: more shards or batches cannot help a consumer that makes no progress${named ? ` (${stuckIds.join(', ')})` : ''}; no change, people alarmed`,
      true,
    );
    return input.consumers !== undefined ? { ...decision, stuckConsumers: stuckIds } : decision;
  }
  if (unknown.length > 0) {
    return none(ScalingDecisionKind.NO_DATA, `${why}: no change until the consumer's progress is known`, true);
  }
  const waiting = slow.filter(
    (c) => c.adjustParallelization && c.parallelizationFactor !== undefined && c.parallelizationFactor < MAX_PARALLELIZATION_FACTOR,
  );
  if (waiting.length > 0) {
    return none(
      ScalingDecisionKind.BLOCKED,
      `${why}; parallelization factor in cooldown${named ? ` (${waiting.map((c) => c.id).join(', ')})` : ''}`,
      true,
    );
  }
  const factors = slow.map((c) => `${named ? `${c.id} ` : ''}${c.parallelizationFactor ?? 'not managed'}`).join(', ');
  if (onDemand) {
    return none(
      ScalingDecisionKind.ON_DEMAND,
      `${why}; on-demand stream at parallelization factor ${factors}: Kinesis manages its shards, nothing more the scaler can do`,
      false,
    );
  }
  return scaleOut(input, input.openShards * MAX_SCALE_OUT_FACTOR, `${why}; parallelization factor ${factors}, adding shards`);
}

/** The factor a slow consumer's mapping moves to (doubling, at most 10), or undefined when it may not move now. */
function nextFactor(input: ScalingInput, consumer: ScalingConsumer, consumers: number): number | undefined {
  const factor = consumer.parallelizationFactor;
  if (!consumer.adjustParallelization || factor === undefined || factor >= MAX_PARALLELIZATION_FACTOR) {
    return undefined;
  }
  // Each mapping's own cooldown; with one consumer, the state's single timestamp is its own.
  const own = input.state.parallelizationAt?.[consumer.id];
  const last = own ?? (consumers === 1 ? input.state.lastParallelizationAt : undefined);
  if (last !== undefined && input.now - last < input.limits.scaleOutCooldownMs) {
    return undefined;
  }
  return Math.min(MAX_PARALLELIZATION_FACTOR, Math.max(factor + 1, factor * 2));
}

function scaleOut(input: ScalingInput, wanted: number, why: string): ScalingDecision {
  const { limits, state, now, openShards } = input;
  if (state.lastScaleOutAt !== undefined && now - state.lastScaleOutAt < limits.scaleOutCooldownMs) {
    return none(
      ScalingDecisionKind.BLOCKED,
      `${why}; scale-out cooldown until ${new Date(state.lastScaleOutAt + limits.scaleOutCooldownMs).toISOString()}`,
      true,
    );
  }
  const notes: string[] = [];
  let target = wanted;
  if (target > openShards * MAX_SCALE_OUT_FACTOR) {
    target = openShards * MAX_SCALE_OUT_FACTOR;
    notes.push(`capped at double (${target})`);
  }
  if (target > limits.maxShards) {
    target = limits.maxShards;
    notes.push(`capped at maxShards ${limits.maxShards}`);
  }
  if (limits.accountShardLimit !== undefined && limits.accountOpenShards !== undefined) {
    const headroom = limits.accountShardLimit - limits.accountOpenShards;
    if (target - openShards > headroom) {
      target = openShards + Math.max(0, headroom);
      notes.push(`capped by the account shard limit ${limits.accountShardLimit} (${limits.accountOpenShards} open)`);
    }
  }
  return shardChange(input, target, ScalingDecisionKind.SCALE_OUT, why, notes);
}

function scaleIn(input: ScalingInput, windowUtil: number): ScalingDecision {
  const { limits, state, now, openShards, metrics } = input;
  const why = `quiet: write utilisation peaked at ${Math.round(windowUtil * 100)} % of ${openShards} shards over ${metrics.windowMinutes} min with data`;
  if (metrics.windowMinutes < limits.quietWindowMinutes) {
    return none(
      ScalingDecisionKind.NO_DATA,
      `${why}; scale-in needs write datapoints for the whole ${limits.quietWindowMinutes}-minute quiet window`,
      true,
    );
  }
  if (metrics.windowIteratorAgeMs !== undefined && metrics.windowIteratorAgeMs >= limits.lagThresholdMs) {
    return none(
      ScalingDecisionKind.BLOCKED,
      `${why}; scale-in blocked: consumers lagged ${Math.round(metrics.windowIteratorAgeMs / 1000)} s in the window`,
      true,
    );
  }
  const lastChange = Math.max(state.lastScaleInAt ?? -Infinity, state.lastScaleOutAt ?? -Infinity);
  if (now - lastChange < limits.scaleInCooldownMs) {
    return none(
      ScalingDecisionKind.BLOCKED,
      `${why}; scale-in cooldown until ${new Date(lastChange + limits.scaleInCooldownMs).toISOString()}`,
      true,
    );
  }
  const used = changesInLastDay(state, now);
  if (used >= UPDATE_SHARD_COUNT_CALLS_PER_DAY - limits.reservedScaleOutCalls) {
    return none(
      ScalingDecisionKind.BLOCKED,
      `${why}; ${used} UpdateShardCount calls in 24 h, the last ${limits.reservedScaleOutCalls} are kept for scale-out`,
      true,
    );
  }
  const notes: string[] = [];
  let target = shardsFor(metrics.windowBytesPerSecond ?? 0, metrics.windowRecordsPerSecond ?? 0, limits.targetUtilization);
  const half = Math.ceil(openShards / MAX_SCALE_IN_DIVISOR);
  if (target < half) {
    target = half;
    notes.push(`at most half (${half})`);
  }
  if (target < limits.minShards) {
    target = limits.minShards;
    notes.push(`not below minShards ${limits.minShards}`);
  }
  return shardChange(input, target, ScalingDecisionKind.SCALE_IN, why, notes);
}

function shardChange(input: ScalingInput, target: number, kind: ScalingDecisionKind, why: string, notes: string[]): ScalingDecision {
  const { openShards, state, now, limits } = input;
  const suffix = notes.length ? ` (${notes.join('; ')})` : '';
  if (
    target === openShards ||
    (kind === ScalingDecisionKind.SCALE_OUT && target < openShards) ||
    (kind === ScalingDecisionKind.SCALE_IN && target > openShards)
  ) {
    // At maxShards (or the account limit) nothing the scaler does would change: no recheck.
    return none(ScalingDecisionKind.BLOCKED, `${why}; already at ${openShards} shards${suffix}`, false);
  }
  const used = changesInLastDay(state, now);
  if (used >= UPDATE_SHARD_COUNT_CALLS_PER_DAY) {
    return none(
      ScalingDecisionKind.BLOCKED,
      `${why}; ${used} UpdateShardCount calls in the rolling 24 h (limit ${UPDATE_SHARD_COUNT_CALLS_PER_DAY})`,
      true,
    );
  }
  const refusals = state.refusals ?? 0;
  if (refusals > 0 && state.lastRefusedAt !== undefined) {
    const retryAt = state.lastRefusedAt + refusalBackoffMs(refusals, limits.scaleOutCooldownMs);
    if (now < retryAt) {
      return none(
        ScalingDecisionKind.BLOCKED,
        `${why}; UpdateShardCount refused ${refusals} time(s) in a row, next try after ${new Date(retryAt).toISOString()}`,
        true,
      );
    }
  }
  return {
    action: ScalingAction.UPDATE_SHARD_COUNT,
    decision: kind,
    targetShards: target,
    reason: `${why}; ${openShards} -> ${target} shards${suffix}`,
  };
}

function none(decision: ScalingDecisionKind, reason: string, recheck: boolean): ScalingDecision {
  return { action: ScalingAction.NONE, decision, reason, recheck };
}
