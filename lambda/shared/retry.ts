/** Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"). */
export interface BackoffOptions {
  /** Delay cap of the first retry, ms. */
  readonly baseMs: number;
  /** Largest delay cap, ms. */
  readonly maxMs: number;
}

/** A delay drawn uniformly from [0, min(maxMs, baseMs * 2^attempt)), attempt counted from 0. */
export function fullJitterDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const cap = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}

/** A deadline: the time left is what remains of the Lambda invocation minus a safety margin. */
export class TimeBudget {
  public static fromRemaining(remainingMs: number, safetyMarginMs: number, now: () => number = Date.now): TimeBudget {
    return new TimeBudget(now() + Math.max(0, remainingMs - safetyMarginMs), now);
  }

  constructor(
    public readonly deadline: number,
    private readonly now: () => number = Date.now,
  ) {}

  public remaining(): number {
    return Math.max(0, this.deadline - this.now());
  }

  /** True when waiting `ms` still leaves `thenNeedMs` before the deadline. */
  public allows(ms: number, thenNeedMs = 0): boolean {
    return this.remaining() > ms + thenNeedMs;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
