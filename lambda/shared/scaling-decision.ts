/**
 * The shard autoscaler's decision, as a pure function: no clients, no clock, no environment.
 * The scaler handler (lambda/scaler) and the simulation (scripts/simulate.ts) both call it.
 *
 * Rules, in order:
 *  1. on-demand streams never get `UpdateShardCount` (Kinesis scales them); only the consumer's
 *     parallelization factor may be raised;
 *  2. nothing while the stream is not ACTIVE (UpdateShardCount is rejected while UPDATING);
 *  3. stream-bound (throttled writes, or write utilisation at or above the scale-out threshold):
 *     shards for the measured load (accepted + throttled) at the target utilisation;
 *  4. consumer-bound (lag with writes below the scale-out threshold): raise the mapping's
 *     parallelization factor, doubling up to 10, before adding shards;
 *  5. scale-in only when the whole quiet window stayed below the scale-in threshold with no lag,
 *     at most half, and only after the scale-in cooldown since the last change in either direction;
 *  6. every shard change within UpdateShardCount's rules: at most double, at least half, 10 calls
 *     per rolling 24 hours (scale-in leaves the last `reservedScaleOutCalls` to scale-out), the
 *     account's shard limit, and the construct's min/max.
 */

export const MIB = 1024 * 1024;
export const SHARD_WRITE_BYTES_PER_SECOND = MIB;
export const SHARD_WRITE_RECORDS_PER_SECOND = 1000;
export const MAX_PARALLELIZATION_FACTOR = 10;
export const UPDATE_SHARD_COUNT_CALLS_PER_DAY = 10;
export const DAY_MS = 24 * 60 * 60 * 1000;

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
} as const;
export type ScalingDecisionKind = (typeof ScalingDecisionKind)[keyof typeof ScalingDecisionKind];

export interface ScalingMetrics {
  /** Highest one-minute average of accepted writes in the recent (scale-out) window, bytes/s. */
  readonly recentBytesPerSecond: number;
  /** Highest one-minute average of accepted writes in the recent window, records/s. */
  readonly recentRecordsPerSecond: number;
  /** Records rejected with WriteProvisionedThroughputExceeded in the recent window, per second at the worst minute. */
  readonly recentThrottledRecordsPerSecond: number;
  /** Highest one-minute bytes/s over the whole quiet window (scale-in). */
  readonly windowBytesPerSecond: number;
  /** Highest one-minute records/s over the whole quiet window (scale-in). */
  readonly windowRecordsPerSecond: number;
  /** Minutes of data the quiet window actually covers. */
  readonly windowMinutes: number;
  /** Maximum iterator age now (stream GetRecords or consumer IteratorAge, whichever is larger), ms. */
  readonly recentIteratorAgeMs: number;
  /** Maximum iterator age over the quiet window, ms. */
  readonly windowIteratorAgeMs: number;
}

export interface ScalingState {
  readonly lastScaleOutAt?: number;
  readonly lastScaleInAt?: number;
  readonly lastParallelizationAt?: number;
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
  /** The consumer mapping's current factor, when there is a consumer. */
  readonly parallelizationFactor?: number;
  readonly metrics: ScalingMetrics;
  readonly state: ScalingState;
  readonly limits: ScalingLimits;
}

export interface ScalingDecision {
  readonly action: ScalingAction;
  readonly decision: ScalingDecisionKind;
  readonly reason: string;
  readonly targetShards?: number;
  readonly parallelizationFactor?: number;
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
  const { metrics, limits, state, now, openShards } = input;
  const lagging = metrics.recentIteratorAgeMs >= limits.lagThresholdMs;

  if (input.mode === 'ON_DEMAND') {
    if (lagging) {
      const raise = raiseParallelization(input, 'on-demand stream');
      if (raise) {
        return raise;
      }
    }
    return none(ScalingDecisionKind.ON_DEMAND, 'on-demand stream: Kinesis manages its shards; UpdateShardCount is never called');
  }
  if (input.streamStatus !== 'ACTIVE') {
    return none(ScalingDecisionKind.BUSY, `stream is ${input.streamStatus}: no change until it is ACTIVE`);
  }

  // Demand includes what was throttled: accepted writes alone understate it.
  const throttled = metrics.recentThrottledRecordsPerSecond;
  const bytesPerRecord = metrics.recentRecordsPerSecond > 0 ? metrics.recentBytesPerSecond / metrics.recentRecordsPerSecond : 0;
  const demandRecords = metrics.recentRecordsPerSecond + throttled;
  const demandBytes = metrics.recentBytesPerSecond + throttled * bytesPerRecord;
  const recentUtil = utilization(demandBytes, demandRecords, openShards);
  const pct = (x: number) => `${Math.round(x * 100)} %`;

  if (throttled > 0 || recentUtil >= limits.scaleOutUtilization) {
    let wanted = shardsFor(demandBytes, demandRecords, limits.targetUtilization);
    if (throttled > 0) {
      wanted = Math.max(wanted, openShards + 1);
    }
    const why = `stream-bound: write utilisation ${pct(recentUtil)} of ${openShards} shards${throttled > 0 ? `, ${Math.round(throttled)} throttled records/s` : ''}`;
    return scaleOut(input, wanted, why);
  }

  if (lagging) {
    const why = `consumer-bound: iterator age ${Math.round(metrics.recentIteratorAgeMs / 1000)} s with write utilisation ${pct(recentUtil)}`;
    const raise = raiseParallelization(input, why);
    if (raise) {
      return raise;
    }
    if (limits.adjustParallelization && input.parallelizationFactor !== undefined && input.parallelizationFactor < MAX_PARALLELIZATION_FACTOR) {
      return none(ScalingDecisionKind.BLOCKED, `${why}; parallelization factor in cooldown`);
    }
    return scaleOut(input, openShards * 2, `${why}; parallelization factor ${input.parallelizationFactor ?? 'not managed'}, adding shards`);
  }

  const windowUtil = utilization(metrics.windowBytesPerSecond, metrics.windowRecordsPerSecond, openShards);
  if (windowUtil < limits.scaleInUtilization && openShards > limits.minShards) {
    return scaleIn(input, windowUtil);
  }
  return none(ScalingDecisionKind.NO_CHANGE, `write utilisation ${pct(recentUtil)} (quiet window peak ${pct(windowUtil)}), iterator age ${Math.round(metrics.recentIteratorAgeMs / 1000)} s: within bounds`);
}

function raiseParallelization(input: ScalingInput, why: string): ScalingDecision | undefined {
  const factor = input.parallelizationFactor;
  if (!input.limits.adjustParallelization || factor === undefined || factor >= MAX_PARALLELIZATION_FACTOR) {
    return undefined;
  }
  if (input.state.lastParallelizationAt !== undefined && input.now - input.state.lastParallelizationAt < input.limits.scaleOutCooldownMs) {
    return undefined;
  }
  const next = Math.min(MAX_PARALLELIZATION_FACTOR, Math.max(factor + 1, factor * 2));
  return {
    action: ScalingAction.UPDATE_PARALLELIZATION,
    decision: ScalingDecisionKind.RAISE_PARALLELIZATION,
    parallelizationFactor: next,
    reason: `${why}; raising the parallelization factor from ${factor} to ${next} before adding shards`,
  };
}

function scaleOut(input: ScalingInput, wanted: number, why: string): ScalingDecision {
  const { limits, state, now, openShards } = input;
  if (state.lastScaleOutAt !== undefined && now - state.lastScaleOutAt < limits.scaleOutCooldownMs) {
    return none(ScalingDecisionKind.BLOCKED, `${why}; scale-out cooldown until ${new Date(state.lastScaleOutAt + limits.scaleOutCooldownMs).toISOString()}`);
  }
  const notes: string[] = [];
  let target = wanted;
  if (target > openShards * 2) {
    target = openShards * 2;
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
  const why = `quiet: write utilisation peaked at ${Math.round(windowUtil * 100)} % of ${openShards} shards over ${metrics.windowMinutes} min`;
  if (metrics.windowMinutes < limits.quietWindowMinutes) {
    return none(ScalingDecisionKind.NO_CHANGE, `${why}; the quiet window needs ${limits.quietWindowMinutes} min`);
  }
  if (metrics.windowIteratorAgeMs >= limits.lagThresholdMs) {
    return none(ScalingDecisionKind.BLOCKED, `${why}; scale-in blocked: consumers lagged ${Math.round(metrics.windowIteratorAgeMs / 1000)} s in the window`);
  }
  const lastChange = Math.max(state.lastScaleInAt ?? -Infinity, state.lastScaleOutAt ?? -Infinity);
  if (now - lastChange < limits.scaleInCooldownMs) {
    return none(ScalingDecisionKind.BLOCKED, `${why}; scale-in cooldown until ${new Date(lastChange + limits.scaleInCooldownMs).toISOString()}`);
  }
  const used = changesInLastDay(state, now);
  if (used >= UPDATE_SHARD_COUNT_CALLS_PER_DAY - limits.reservedScaleOutCalls) {
    return none(ScalingDecisionKind.BLOCKED, `${why}; ${used} UpdateShardCount calls in 24 h, the last ${limits.reservedScaleOutCalls} are kept for scale-out`);
  }
  const notes: string[] = [];
  let target = shardsFor(metrics.windowBytesPerSecond, metrics.windowRecordsPerSecond, limits.targetUtilization);
  const half = Math.ceil(openShards / 2);
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
  const { openShards, state, now } = input;
  const suffix = notes.length ? ` (${notes.join('; ')})` : '';
  if (target === openShards || (kind === ScalingDecisionKind.SCALE_OUT && target < openShards) || (kind === ScalingDecisionKind.SCALE_IN && target > openShards)) {
    return none(ScalingDecisionKind.BLOCKED, `${why}; already at ${openShards} shards${suffix}`);
  }
  const used = changesInLastDay(state, now);
  if (used >= UPDATE_SHARD_COUNT_CALLS_PER_DAY) {
    return none(ScalingDecisionKind.BLOCKED, `${why}; ${used} UpdateShardCount calls in the rolling 24 h (limit ${UPDATE_SHARD_COUNT_CALLS_PER_DAY})`);
  }
  return {
    action: ScalingAction.UPDATE_SHARD_COUNT,
    decision: kind,
    targetShards: target,
    reason: `${why}; ${openShards} -> ${target} shards${suffix}`,
  };
}

function none(decision: ScalingDecisionKind, reason: string): ScalingDecision {
  return { action: ScalingAction.NONE, decision, reason };
}
