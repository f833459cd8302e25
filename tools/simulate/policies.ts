import type { MetricDataResult } from '@aws-sdk/client-cloudwatch';
import { AUTOSCALER_DEFAULTS, scaleInUtilizationPercent, scaleOutUtilizationPercent } from '../../lambda/scaler/contract';
import { MiB as MIB } from '../../lambda/shared/kinesis-limits';
import {
  decideScaling,
  ScalingAction,
  type ScalingDecisionKind,
  type ScalingLimits,
  type ScalingState,
} from '../../lambda/shared/scaling-decision';
import { LATEST_WRITE_MINUTES, toScalingMetrics } from '../../lambda/shared/scaling-metrics';
import type { MinuteRecord, Policy, PolicyAction, PolicyView } from './model';
import type { Trace } from './traces';

const KIB_RECORDS_PER_MIB = 1024;
const MINUTE_MS = 60_000;

/** ShardAutoscaler's defaults (lambda/scaler/contract.ts), as the construct passes them to the scaler. */
export const OUR_LIMITS: ScalingLimits = {
  minShards: AUTOSCALER_DEFAULTS.minShards,
  maxShards: AUTOSCALER_DEFAULTS.maxShards,
  targetUtilization: AUTOSCALER_DEFAULTS.targetUtilizationPercent / 100,
  scaleOutUtilization: scaleOutUtilizationPercent(AUTOSCALER_DEFAULTS.targetUtilizationPercent) / 100,
  scaleInUtilization: scaleInUtilizationPercent(AUTOSCALER_DEFAULTS.targetUtilizationPercent) / 100,
  lagThresholdMs: AUTOSCALER_DEFAULTS.lagThresholdMs,
  scaleOutCooldownMs: AUTOSCALER_DEFAULTS.scaleOutCooldownMs,
  scaleInCooldownMs: AUTOSCALER_DEFAULTS.scaleInCooldownMs,
  quietWindowMinutes: AUTOSCALER_DEFAULTS.quietWindowMinutes,
  reservedScaleOutCalls: AUTOSCALER_DEFAULTS.reservedScaleOutCalls,
  adjustParallelization: AUTOSCALER_DEFAULTS.adjustParallelization,
};

const utilOf = (r: MinuteRecord) => r.accepted / r.shards;
const last = <T>(items: readonly T[], n: number) => items.slice(Math.max(0, items.length - n));

/**
 * Our policy: the alarms of ShardAutoscaler emulated on the (one minute late) metrics, each firing
 * invoking what the scaler Lambda runs: the observed minutes become GetMetricData results, reduced
 * by the same `toScalingMetrics` (a minute without datapoints is unknown, not 0), and decided by
 * the same `decideScaling`, with its durable state. The alarms read a minute without datapoints as
 * their expressions do: FILL(…, 0) in the utilisation and quiet expressions, not breaching otherwise.
 */
export function ourPolicy(limits: ScalingLimits = OUR_LIMITS): Policy & { readonly decisions: ScalingDecisionKind[] } {
  let state: ScalingState = { shardCountChanges: [] };
  const decisions: ScalingDecisionKind[] = [];
  return {
    name: 'ShardAutoscaler (ours)',
    mode: 'provisioned',
    initialShards: (trace: Trace) => trace.initialShards,
    step(view: PolicyView): PolicyAction[] {
      const h = view.history.map((r) => (r.observed ? r : { ...r, accepted: 0, throttled: 0, ageSeconds: 0 }));
      if (h.length === 0) {
        return [];
      }
      const lagMs = limits.lagThresholdMs;
      const alarms = {
        utilization: h.length >= 2 && last(h, 2).every((r) => utilOf(r) >= limits.scaleOutUtilization),
        throttles: h.length >= 2 && last(h, 2).every((r) => r.throttled * KIB_RECORDS_PER_MIB * 60 >= 1),
        lag: h.length >= 3 && last(h, 3).every((r) => r.ageSeconds * 1000 >= lagMs),
        scaleIn:
          h.length >= limits.quietWindowMinutes &&
          fiveMinuteAverages(last(h, limits.quietWindowMinutes)).every((avg) =>
            avg.lagging ? false : avg.util < limits.scaleInUtilization,
          ),
      };
      if (!alarms.utilization && !alarms.throttles && !alarms.lag && !alarms.scaleIn) {
        return [];
      }
      const now = view.minute * MINUTE_MS;
      const results = metricDataOf(view.history, limits.quietWindowMinutes + LATEST_WRITE_MINUTES + 1);
      const decision = decideScaling({
        now,
        mode: 'PROVISIONED',
        streamStatus: view.updating ? 'UPDATING' : 'ACTIVE',
        openShards: view.shards,
        parallelizationFactor: view.factor,
        state,
        limits,
        metrics: toScalingMetrics(results, now, limits.quietWindowMinutes, { consumer: true }),
      });
      decisions.push(decision.decision);
      if (decision.action === ScalingAction.UPDATE_SHARD_COUNT) {
        const scaleIn = decision.targetShards! < view.shards;
        state = {
          ...state,
          ...(scaleIn ? { lastScaleInAt: now } : { lastScaleOutAt: now }),
          shardCountChanges: [...state.shardCountChanges, now],
        };
        return [{ type: 'shards', target: decision.targetShards! }];
      }
      if (decision.action === ScalingAction.UPDATE_PARALLELIZATION) {
        state = { ...state, lastParallelizationAt: now };
        return [{ type: 'factor', value: decision.parallelizationFactor! }];
      }
      return [];
    },
    decisions,
  };
}

/**
 * The last `minutes` observed minutes as GetMetricData results (ids of scaling-metrics.ts): the
 * stream's writes, throttles and iterator age, and the consumer's progress and failures.
 */
function metricDataOf(history: readonly MinuteRecord[], minutes: number): MetricDataResult[] {
  const seen = last(history, minutes).filter((r) => r.observed);
  const timestamps = seen.map((r) => new Date(r.minute * MINUTE_MS));
  const series = (id: string, pick: (r: MinuteRecord) => number): MetricDataResult => ({
    Id: id,
    Timestamps: timestamps,
    Values: seen.map(pick),
    StatusCode: 'Complete',
  });
  return [
    series('bytes', (r) => r.accepted * MIB * 60),
    series('records', (r) => r.accepted * KIB_RECORDS_PER_MIB * 60),
    series('throttled', (r) => r.throttled * KIB_RECORDS_PER_MIB * 60),
    series('streamAge', (r) => r.ageSeconds * 1000),
    series('consumerAge', (r) => r.ageSeconds * 1000),
    series('userRecords', (r) => r.processed * KIB_RECORDS_PER_MIB * 60),
    series('processingFailures', (r) => r.failures),
    series('consumerErrors', () => 0),
    series('duplicatesSkipped', () => 0),
  ];
}

function fiveMinuteAverages(records: readonly MinuteRecord[]): Array<{ util: number; lagging: boolean }> {
  const out: Array<{ util: number; lagging: boolean }> = [];
  for (let i = 0; i < records.length; i += 5) {
    const chunk = records.slice(i, i + 5);
    out.push({ util: chunk.reduce((sum, r) => sum + utilOf(r), 0) / chunk.length, lagging: chunk.some((r) => r.ageSeconds >= 60) });
  }
  return out;
}

/**
 * The AWS sample's policy (kinesis-auto-scaling): write utilisation of accepted writes above
 * 75 % for 25 one-minute datapoints doubles the shards; below 25 % for 285 of 300 datapoints
 * (about 5 hours) halves them. It reads no consumer metric and never changes the
 * parallelization factor. After a reshard its alarms start a fresh window.
 */
export function awsSamplePolicy(): Policy {
  let lastChange = -Infinity;
  return {
    name: 'AWS sample (x2 after 25 min > 75 %, /2 after ~5 h < 25 %)',
    mode: 'provisioned',
    initialShards: (trace: Trace) => trace.initialShards,
    step(view: PolicyView): PolicyAction[] {
      if (view.updating) {
        return [];
      }
      // Its alarms see no datapoint in a metric outage (missing: neither breaching nor not).
      const since = view.history.filter((r) => r.observed && r.minute > lastChange && r.shards === view.shards);
      if (since.length >= 25 && last(since, 25).every((r) => utilOf(r) > 0.75)) {
        lastChange = view.minute;
        return [{ type: 'shards', target: view.shards * 2 }];
      }
      if (view.shards > 1 && since.length >= 300 && last(since, 300).filter((r) => utilOf(r) < 0.25).length >= 285) {
        lastChange = view.minute;
        return [{ type: 'shards', target: Math.ceil(view.shards / 2) }];
      }
      return [];
    },
  };
}

/** A fixed fleet sized for the trace's peak (1 MiB/s per shard, the peak's busiest second), never changed. */
export function peakFleetPolicy(): Policy {
  return {
    name: 'fleet sized for the peak',
    mode: 'provisioned',
    // Kinesis limits are per second: carry the peak minute's busiest second (+20 %) unthrottled.
    initialShards: (trace: Trace) => Math.ceil(Math.max(...trace.demand) * 1.2),
    step: () => [],
  };
}

/** On-demand mode as documented. */
export function onDemandPolicy(): Policy {
  return { name: 'on-demand (as documented)', mode: 'on-demand', initialShards: () => 0, step: () => [] };
}
