/**
 * Which kind of lag a lagging stream has, from metrics the pipeline already publishes: a pure
 * function of the consumer's activity over the recent window. The three kinds want different
 * levers, and the wrong one costs money or hides a fault:
 *
 * - stream-bound (writes near capacity or throttled) is decided before this, on write metrics;
 * - `CONSUMER_SLOW`: the consumer processes user records (progress) but not fast enough: more
 *   concurrent batches per shard (the parallelization factor) help, then more shards;
 * - `CONSUMER_STUCK`: it fails (processing failures, function errors) and makes no progress (or
 *   mostly re-reads redelivered records), or makes no progress at all (mapping disabled,
 *   throttled): neither more batches nor more shards
 *   help (Lambda retries the failing batch; children of a reshard wait for their parent), so
 *   people are alarmed with the reason instead;
 * - `UNKNOWN`: the scaler cannot tell (no datapoint of the consumer's progress and no failure):
 *   it does nothing and looks again.
 */

/** The consumer's activity over the recent window. `undefined`: no datapoint (unknown, never 0). */
export interface ConsumerActivity {
  /** User records whose processor completed (the handler's UserRecords), Sum. */
  readonly userRecords?: number;
  /** User records whose processor failed (the handler's ProcessingFailures), Sum. */
  readonly processingFailures?: number;
  /** Invocations that failed (AWS/Lambda Errors: exceptions and timeouts), Sum. */
  readonly errors?: number;
  /** Redelivered user records skipped as processed already (the handler's DuplicatesSkipped), Sum. */
  readonly duplicatesSkipped?: number;
  /** Longest invocation (AWS/Lambda Duration, Maximum), ms. */
  readonly maxDurationMs?: number;
  /** The consumer function's timeout, ms, when the scaler knows it. */
  readonly timeoutMs?: number;
  /**
   * The newest minute with a datapoint of the consumer's progress or failures: a consumer that
   * has just got stuck still shows the progress of the minutes before in the window's sums.
   */
  readonly newest?: { readonly userRecords?: number; readonly failures: number };
}

export const LagKind = {
  CONSUMER_SLOW: 'consumer-slow',
  CONSUMER_STUCK: 'consumer-stuck',
  UNKNOWN: 'unknown',
} as const;
export type LagKind = (typeof LagKind)[keyof typeof LagKind];

export interface LagDiagnosis {
  readonly kind: LagKind;
  /** What the metrics showed, for the decision's reason and the people alarm. */
  readonly evidence: string;
}

/** A batch running at least this share of the function timeout counts as busy. */
export const BUSY_DURATION_SHARE = 0.5;

/**
 * Classifies a lag (the caller has established that consumers lag and writes are not
 * stream-bound). `windowMinutes` names the window in the evidence.
 */
export function diagnoseLag(activity: ConsumerActivity, windowMinutes: number): LagDiagnosis {
  const failures = (activity.processingFailures ?? 0) + (activity.errors ?? 0);
  const failed = failures > 0;
  const progress = activity.userRecords;
  const parts: string[] = [];
  parts.push(progress === undefined ? 'user records processed unknown (no datapoint)' : `${Math.round(progress)} user records processed`);
  if (activity.processingFailures !== undefined) parts.push(`${Math.round(activity.processingFailures)} failed user records`);
  if (activity.errors !== undefined) parts.push(`${Math.round(activity.errors)} failed invocations`);
  if (activity.duplicatesSkipped !== undefined && activity.duplicatesSkipped > 0)
    parts.push(`${Math.round(activity.duplicatesSkipped)} redelivered records skipped`);
  if (activity.maxDurationMs !== undefined && activity.timeoutMs !== undefined && activity.timeoutMs > 0) {
    parts.push(
      `longest batch ${Math.round((activity.maxDurationMs / activity.timeoutMs) * 100)} % of the ${Math.round(activity.timeoutMs / 1000)} s timeout`,
    );
  }
  const evidence = `${parts.join(', ')} in ${windowMinutes} min`;

  const newest = activity.newest;
  if (newest !== undefined && newest.failures > 0 && (newest.userRecords ?? 0) <= 0) {
    return {
      kind: LagKind.CONSUMER_STUCK,
      evidence: `consumer-stuck: its newest minute has ${Math.round(newest.failures)} failures and no progress (${evidence})`,
    };
  }
  if ((progress === undefined || progress <= 0) && failed) {
    return { kind: LagKind.CONSUMER_STUCK, evidence: `consumer-stuck: failing with no progress (${evidence})` };
  }
  if (failed && progress !== undefined && (activity.duplicatesSkipped ?? 0) >= progress) {
    // Lambda redelivers the failing batch again and again: what it processes is mostly records it
    // had processed already (another key's, at parallelization factor > 1 or per-key ordering).
    return {
      kind: LagKind.CONSUMER_STUCK,
      evidence: `consumer-stuck: failing in a redelivery loop, more records skipped as processed than newly processed (${evidence})`,
    };
  }
  if (progress !== undefined && progress <= 0) {
    return {
      kind: LagKind.CONSUMER_STUCK,
      evidence: `consumer-stuck: no progress and no failure reported, is its mapping disabled or throttled? (${evidence})`,
    };
  }
  if (progress === undefined) {
    return { kind: LagKind.UNKNOWN, evidence: `consumer progress unknown (${evidence})` };
  }
  const busy =
    activity.maxDurationMs !== undefined &&
    activity.timeoutMs !== undefined &&
    activity.maxDurationMs >= BUSY_DURATION_SHARE * activity.timeoutMs;
  return {
    kind: LagKind.CONSUMER_SLOW,
    evidence: `consumer-slow: making progress${busy ? ' and busy' : ''}${failed ? ' despite some failures' : ''} (${evidence})`,
  };
}
