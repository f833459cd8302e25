/**
 * What the bench processor records, kept on `globalThis` so the worker (one bundle) and the
 * processor (inside the handler's bundle) share one object in the child process.
 */
export interface BenchState {
  /** Processor calls completed in the current invocation. */
  processed: number;
  /**
   * Per-key order broken in the current invocation: a record of a (shard, user key) started while
   * another of that key was in flight, or at or before a position of that key already started.
   */
  orderViolations: number;
  /** `<seq>/<sub>` of each completed user record of the current invocation, when tracking. */
  ids?: string[];
  readonly lastStarted: Map<string, { seq: string; sub: number }>;
  readonly inFlight: Map<string, number>;
}

const KEY = '__kinesisPipelineConsumerBench';

export function benchState(): BenchState {
  const global = globalThis as unknown as Record<string, BenchState | undefined>;
  return (global[KEY] ??= {
    processed: 0,
    orderViolations: 0,
    ids: process.env.BENCH_TRACK_IDS === '1' ? [] : undefined,
    lastStarted: new Map(),
    inFlight: new Map(),
  });
}
