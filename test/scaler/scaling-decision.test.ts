import type { ConsumerActivity } from '../../lambda/shared/scaling-lag';
import type { ScalingAction, ScalingDecisionKind } from '../../lambda/shared/scaling-decision';
import {
  decideScaling,
  MIB,
  shardsFor,
  utilization,
  type ScalingInput,
  type ScalingLimits,
  type ScalingMetrics,
  type ScalingState,
} from '../../lambda/shared/scaling-decision';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const MIN = 60_000;
const HOUR = 60 * MIN;

const limits: ScalingLimits = {
  minShards: 1,
  maxShards: 64,
  targetUtilization: 0.6,
  scaleOutUtilization: 0.8,
  scaleInUtilization: 0.3,
  lagThresholdMs: 60_000,
  scaleOutCooldownMs: 5 * MIN,
  scaleInCooldownMs: HOUR,
  quietWindowMinutes: 60,
  reservedScaleOutCalls: 2,
  adjustParallelization: true,
};

/** Metrics of a steady load of `mibPerSecond` (1 KiB records) with no lag. */
function load(mibPerSecond: number, extra: Partial<ScalingMetrics> = {}): ScalingMetrics {
  const bytes = mibPerSecond * MIB;
  return {
    recentBytesPerSecond: bytes,
    recentRecordsPerSecond: bytes / 1024,
    recentThrottledRecordsPerSecond: 0,
    windowBytesPerSecond: bytes,
    windowRecordsPerSecond: bytes / 1024,
    windowMinutes: 60,
    recentIteratorAgeMs: 0,
    windowIteratorAgeMs: 0,
    ...extra,
  };
}

function input(
  overrides: Partial<Omit<ScalingInput, 'limits' | 'state'>> & { limits?: Partial<ScalingLimits>; state?: Partial<ScalingState> } = {},
): ScalingInput {
  return {
    now: NOW,
    mode: 'PROVISIONED',
    streamStatus: 'ACTIVE',
    openShards: 4,
    parallelizationFactor: 1,
    metrics: load(1.5),
    ...overrides,
    state: { shardCountChanges: [], ...overrides.state },
    limits: { ...limits, ...overrides.limits },
  };
}

type Row = [
  string,
  ScalingInput,
  {
    action: ScalingAction;
    decision: ScalingDecisionKind;
    targetShards?: number;
    parallelizationFactor?: number;
    reason: RegExp;
    recheck?: boolean;
  },
];

/** Lag at 5 % write utilisation of 4 shards (0.2 MiB/s), with the consumer's activity over the recent 5 minutes. */
function lagging(consumer: ConsumerActivity, extra: Partial<ScalingMetrics> = {}): ScalingMetrics {
  return load(0.2, { recentIteratorAgeMs: 300_000, windowIteratorAgeMs: 300_000, consumer, recentMinutes: 5, ...extra });
}
const UNKNOWN: ScalingMetrics = { windowMinutes: 0 };

const table: Row[] = [
  ['steady load within bounds: nothing', input(), { action: 'none', decision: 'NoChange', reason: /within bounds/ }],
  [
    'high utilisation: shards for the target utilisation',
    input({ metrics: load(3.6) }),
    {
      action: 'update-shard-count',
      decision: 'ScaleOut',
      targetShards: 7,
      reason: /stream-bound: write utilisation 92 % of 4 shards; 4 -> 7 shards/,
    },
  ],
  [
    'records, not bytes, bind: counted by records',
    input({ metrics: load(0.5, { recentRecordsPerSecond: 3400 }) }),
    { action: 'update-shard-count', decision: 'ScaleOut', targetShards: 6, reason: /utilisation 85 %/ },
  ],
  [
    'at most double',
    input({ metrics: load(20) }),
    { action: 'update-shard-count', decision: 'ScaleOut', targetShards: 8, reason: /capped at double \(8\)/ },
  ],
  [
    'never above maxShards',
    input({ metrics: load(4), limits: { maxShards: 5 } }),
    { action: 'update-shard-count', decision: 'ScaleOut', targetShards: 5, reason: /capped at maxShards 5/ },
  ],
  [
    'already at maxShards: blocked, and nothing to look at again',
    input({ metrics: load(4), limits: { maxShards: 4 } }),
    { action: 'none', decision: 'Blocked', reason: /already at 4 shards/, recheck: false },
  ],
  [
    'the account shard limit caps the increase',
    input({ metrics: load(4), limits: { accountShardLimit: 200, accountOpenShards: 199 } }),
    { action: 'update-shard-count', decision: 'ScaleOut', targetShards: 5, reason: /account shard limit 200 \(199 open\)/ },
  ],
  [
    'no headroom in the account: blocked',
    input({ metrics: load(4), limits: { accountShardLimit: 200, accountOpenShards: 200 } }),
    { action: 'none', decision: 'Blocked', reason: /already at 4 shards/ },
  ],
  [
    'throttled writes count as demand, at least one shard more',
    input({ metrics: load(2, { recentThrottledRecordsPerSecond: 100 }) }),
    { action: 'update-shard-count', decision: 'ScaleOut', targetShards: 5, reason: /100 throttled records\/s/ },
  ],
  [
    'scale-out cooldown',
    input({ metrics: load(4), state: { lastScaleOutAt: NOW - 2 * MIN } }),
    { action: 'none', decision: 'Blocked', reason: /scale-out cooldown until 2026-11-22T12:03:00.000Z/, recheck: true },
  ],
  [
    'scale-out after its cooldown',
    input({ metrics: load(4), state: { lastScaleOutAt: NOW - 6 * MIN } }),
    { action: 'update-shard-count', decision: 'ScaleOut', targetShards: 7, reason: /4 -> 7/ },
  ],
  [
    '10 UpdateShardCount calls in 24 h: blocked',
    input({ metrics: load(4), state: { shardCountChanges: Array.from({ length: 10 }, (_, i) => NOW - (i + 1) * HOUR) } }),
    { action: 'none', decision: 'Blocked', reason: /10 UpdateShardCount calls in the rolling 24 h/, recheck: true },
  ],
  [
    'calls older than 24 h do not count',
    input({ metrics: load(4), state: { shardCountChanges: Array.from({ length: 10 }, (_, i) => NOW - 25 * HOUR - i) } }),
    { action: 'update-shard-count', decision: 'ScaleOut', targetShards: 7, reason: /4 -> 7/ },
  ],
  [
    'stream UPDATING: nothing',
    input({ metrics: load(10), streamStatus: 'UPDATING' }),
    { action: 'none', decision: 'Busy', reason: /stream is UPDATING/ },
  ],
  [
    'on-demand: never UpdateShardCount',
    input({ mode: 'ON_DEMAND', metrics: load(10) }),
    { action: 'none', decision: 'OnDemand', reason: /UpdateShardCount is never called/ },
  ],
  [
    'on-demand with lag: parallelization only',
    input({ mode: 'ON_DEMAND', metrics: load(1, { recentIteratorAgeMs: 120_000 }) }),
    {
      action: 'update-parallelization',
      decision: 'RaiseParallelization',
      parallelizationFactor: 2,
      reason: /consumer-bound: iterator age 120 s .*; raising the parallelization factor from 1 to 2 \(on-demand stream: the only lever\)/,
    },
  ],
  [
    'consumer-bound: raise the parallelization factor first',
    input({ metrics: load(1, { recentIteratorAgeMs: 300_000 }), parallelizationFactor: 4 }),
    {
      action: 'update-parallelization',
      decision: 'RaiseParallelization',
      parallelizationFactor: 8,
      reason: /consumer-bound: iterator age 300 s/,
    },
  ],
  [
    'parallelization factor tops out at 10',
    input({ metrics: load(1, { recentIteratorAgeMs: 300_000 }), parallelizationFactor: 8 }),
    { action: 'update-parallelization', decision: 'RaiseParallelization', parallelizationFactor: 10, reason: /from 8 to 10/ },
  ],
  [
    'factor at 10: add shards',
    input({ metrics: load(1, { recentIteratorAgeMs: 300_000 }), parallelizationFactor: 10 }),
    { action: 'update-shard-count', decision: 'ScaleOut', targetShards: 8, reason: /parallelization factor 10, adding shards/ },
  ],
  [
    'factor change in cooldown: wait, do not add shards',
    input({ metrics: load(1, { recentIteratorAgeMs: 300_000 }), state: { lastParallelizationAt: NOW - MIN } }),
    { action: 'none', decision: 'Blocked', reason: /parallelization factor in cooldown/ },
  ],
  [
    'adjustParallelization off: add shards',
    input({ metrics: load(1, { recentIteratorAgeMs: 300_000 }), limits: { adjustParallelization: false } }),
    { action: 'update-shard-count', decision: 'ScaleOut', targetShards: 8, reason: /adding shards/ },
  ],
  [
    'quiet window: scale in at most half',
    input({ openShards: 8, metrics: load(0.2), state: { lastScaleOutAt: NOW - 2 * HOUR } }),
    { action: 'update-shard-count', decision: 'ScaleIn', targetShards: 4, reason: /quiet: .*; 8 -> 4 shards \(at most half \(4\)\)/ },
  ],
  [
    'scale in to what the load needs',
    input({ openShards: 8, metrics: load(1.8) }),
    { action: 'update-shard-count', decision: 'ScaleIn', targetShards: 4, reason: /8 -> 4/ },
  ],
  [
    'scale in, but not below minShards',
    input({ openShards: 4, metrics: load(0.1), limits: { minShards: 3 } }),
    { action: 'update-shard-count', decision: 'ScaleIn', targetShards: 3, reason: /not below minShards 3/ },
  ],
  [
    'at minShards: no scale-in, and nothing to look at again',
    input({ openShards: 1, metrics: load(0.01) }),
    { action: 'none', decision: 'NoChange', reason: /at minShards 1/, recheck: false },
  ],
  [
    'scale-in blocked while consumers lagged in the window',
    input({ openShards: 8, metrics: load(0.2, { windowIteratorAgeMs: 90_000 }) }),
    { action: 'none', decision: 'Blocked', reason: /scale-in blocked: consumers lagged 90 s/ },
  ],
  [
    'scale-in needs write datapoints for the whole quiet window',
    input({ openShards: 8, metrics: load(0.2, { windowMinutes: 30 }) }),
    {
      action: 'none',
      decision: 'NoData',
      reason: /30 min with data; scale-in needs write datapoints for the whole 60-minute quiet window/,
      recheck: true,
    },
  ],
  // Missing data is unknown, never 0.
  [
    'no datapoints at all (a throttles alarm whose query returned nothing): no scale-in',
    input({ openShards: 8, metrics: UNKNOWN }),
    { action: 'none', decision: 'NoData', reason: /no datapoints for the stream's writes, throttles or iterator age/, recheck: true },
  ],
  [
    'a new quiet stream (10 minutes of data): no scale-in',
    input({ openShards: 8, metrics: load(0.1, { windowMinutes: 10 }) }),
    { action: 'none', decision: 'NoData', reason: /10 min with data/ },
  ],
  [
    'window known, recent writes missing: no change',
    input({ openShards: 8, metrics: { ...load(4), recentBytesPerSecond: undefined, recentRecordsPerSecond: undefined } }),
    { action: 'none', decision: 'NoData', reason: /no write datapoints in the last minutes/, recheck: true },
  ],
  [
    'iterator age missing is not lag: no parallelization, no shards',
    input({ metrics: { ...load(1.5), recentIteratorAgeMs: undefined, windowIteratorAgeMs: undefined } }),
    { action: 'none', decision: 'NoChange', reason: /iterator age unknown: within bounds/ },
  ],
  // Stuck is not slow.
  [
    'stuck consumer at 5 % utilisation: no shards, no factor, people alarmed',
    input({ metrics: lagging({ userRecords: 0, processingFailures: 40, errors: 0 }) }),
    {
      action: 'none',
      decision: 'ConsumerStuck',
      reason:
        /consumer-stuck: failing with no progress \(0 user records processed, 40 failed user records, 0 failed invocations in 5 min\); iterator age 300 s with write utilisation 5 %: more shards or batches cannot help/,
      recheck: true,
    },
  ],
  [
    'stuck even at factor 10 and with adjustParallelization off: never adds shards',
    input({
      parallelizationFactor: 10,
      metrics: lagging({ userRecords: 0, processingFailures: 3 }),
      limits: { adjustParallelization: false },
    }),
    { action: 'none', decision: 'ConsumerStuck', reason: /consumer-stuck/ },
  ],
  [
    'failed invocations and no progress datapoint: stuck',
    input({ metrics: lagging({ errors: 12 }) }),
    { action: 'none', decision: 'ConsumerStuck', reason: /user records processed unknown \(no datapoint\), 12 failed invocations/ },
  ],
  [
    'a redelivery loop (one poison key at factor > 1): stuck',
    input({ parallelizationFactor: 4, metrics: lagging({ userRecords: 20, duplicatesSkipped: 900, processingFailures: 5 }) }),
    { action: 'none', decision: 'ConsumerStuck', reason: /redelivery loop.*900 redelivered records skipped/ },
  ],
  [
    'no progress and no failure (mapping disabled or throttled): stuck',
    input({ metrics: lagging({ userRecords: 0, processingFailures: 0, errors: 0 }) }),
    { action: 'none', decision: 'ConsumerStuck', reason: /no progress and no failure reported/ },
  ],
  [
    'consumer progress unknown: no change',
    input({ metrics: lagging({}) }),
    { action: 'none', decision: 'NoData', reason: /consumer progress unknown/, recheck: true },
  ],
  [
    'slow consumer: the parallelization factor first',
    input({
      parallelizationFactor: 2,
      metrics: lagging({ userRecords: 60_000, processingFailures: 0, errors: 0, maxDurationMs: 50_000, timeoutMs: 60_000 }),
    }),
    {
      action: 'update-parallelization',
      decision: 'RaiseParallelization',
      parallelizationFactor: 4,
      reason:
        /consumer-slow: making progress and busy \(60000 user records processed, .*longest batch 83 % of the 60 s timeout in 5 min\).*raising the parallelization factor from 2 to 4 before adding shards/,
    },
  ],
  [
    'slow consumer at factor 10: then shards',
    input({ parallelizationFactor: 10, metrics: lagging({ userRecords: 60_000, processingFailures: 0 }) }),
    {
      action: 'update-shard-count',
      decision: 'ScaleOut',
      targetShards: 8,
      reason: /consumer-slow.*parallelization factor 10, adding shards/,
    },
  ],
  [
    'slow consumer, factor in cooldown: wait',
    input({ parallelizationFactor: 4, metrics: lagging({ userRecords: 60_000 }), state: { lastParallelizationAt: NOW - MIN } }),
    { action: 'none', decision: 'Blocked', reason: /consumer-slow.*parallelization factor in cooldown/, recheck: true },
  ],
  [
    'stream-bound writes still get shards when the consumer is stuck (producers are throttled)',
    input({ metrics: { ...lagging({ userRecords: 0, processingFailures: 9 }), recentThrottledRecordsPerSecond: 200 } }),
    { action: 'update-shard-count', decision: 'ScaleOut', targetShards: 5, reason: /stream-bound/ },
  ],
  [
    'on-demand, slow consumer at factor 10: nothing more to do, no recheck',
    input({ mode: 'ON_DEMAND', parallelizationFactor: 10, metrics: lagging({ userRecords: 60_000 }) }),
    { action: 'none', decision: 'OnDemand', reason: /nothing more the scaler can do/, recheck: false },
  ],
  [
    'on-demand, stuck consumer: people alarmed',
    input({ mode: 'ON_DEMAND', metrics: lagging({ userRecords: 0, errors: 4 }) }),
    { action: 'none', decision: 'ConsumerStuck', reason: /consumer-stuck/ },
  ],
  // Refused resizes back off, within the day's budget.
  [
    'after 2 refusals in a row, UpdateShardCount waits 10 minutes',
    input({ metrics: load(4), state: { refusals: 2, lastRefusedAt: NOW - 6 * MIN } }),
    { action: 'none', decision: 'Blocked', reason: /refused 2 time\(s\) in a row, next try after 2026-11-22T12:04:00.000Z/, recheck: true },
  ],
  [
    'after the backoff it tries again',
    input({ metrics: load(4), state: { refusals: 2, lastRefusedAt: NOW - 11 * MIN } }),
    { action: 'update-shard-count', decision: 'ScaleOut', targetShards: 7, reason: /4 -> 7/ },
  ],
  [
    'scale-in cooldown after a scale-out',
    input({ openShards: 8, metrics: load(0.2), state: { lastScaleOutAt: NOW - 30 * MIN } }),
    { action: 'none', decision: 'Blocked', reason: /scale-in cooldown until 2026-11-22T12:30:00.000Z/ },
  ],
  [
    'scale-in leaves the last 2 daily calls to scale-out',
    input({ openShards: 8, metrics: load(0.2), state: { shardCountChanges: Array.from({ length: 8 }, (_, i) => NOW - (i + 2) * HOUR) } }),
    { action: 'none', decision: 'Blocked', reason: /8 UpdateShardCount calls in 24 h, the last 2 are kept for scale-out/ },
  ],
  [
    'a recent peak in the window keeps the shards',
    input({ openShards: 8, metrics: load(0.2, { windowBytesPerSecond: 4 * MIB, windowRecordsPerSecond: 4096 }) }),
    { action: 'none', decision: 'NoChange', reason: /quiet window peak 51 %/ },
  ],
];

describe('decideScaling', () => {
  test.each(table)('%s', (_name, scenario, expected) => {
    const decision = decideScaling(scenario);

    const { recheck, ...rest } = decision;
    expect(expected.recheck === undefined ? rest : { ...rest, recheck }).toEqual({
      ...expected,
      reason: expect.stringMatching(expected.reason),
    });
  });

  test('every decision names its reason', () => {
    for (const [, scenario] of table) {
      expect(decideScaling(scenario).reason.length).toBeGreaterThan(20);
    }
  });
});

describe('capacity arithmetic', () => {
  test('utilisation is the larger of the byte and the record share', () => {
    expect(utilization(MIB, 500, 2)).toBeCloseTo(0.5);
    expect(utilization(0, 1500, 1)).toBeCloseTo(1.5);
    expect(utilization(1, 1, 0)).toBe(Number.POSITIVE_INFINITY);
  });

  test('shardsFor rounds up and never returns 0', () => {
    expect(shardsFor(3 * MIB, 0, 0.6)).toBe(5);
    expect(shardsFor(0, 0, 0.6)).toBe(1);
    expect(shardsFor(0.6 * MIB, 0, 0.6)).toBe(1);
  });
});
