/**
 * Kinesis sequence numbers as the KCL compares them: an extended sequence number is a sequence
 * number plus a sub-sequence number (the position of a user record inside a KPL aggregate).
 * Sequence numbers are decimal integers (today 56 digits): compared as BigInt, never as strings.
 */

/** Checkpoint sentinels of the KCL lease schema. */
export const Sentinel = {
  TRIM_HORIZON: 'TRIM_HORIZON',
  LATEST: 'LATEST',
  AT_TIMESTAMP: 'AT_TIMESTAMP',
  SHARD_END: 'SHARD_END',
} as const;
export type Sentinel = (typeof Sentinel)[keyof typeof Sentinel];

export interface ExtendedSequenceNumber {
  /** Decimal sequence number, or a sentinel. */
  readonly sequenceNumber: string;
  /** Index of the user record inside its aggregate; 0 for a plain record. */
  readonly subSequenceNumber: number;
}

export class InvalidSequenceNumberError extends Error {
  public override readonly name = 'InvalidSequenceNumberError';
  constructor(public readonly value: string) {
    super(`not a Kinesis sequence number or checkpoint sentinel: '${value}'`);
  }
}

// The API allows `0|([1-9]\d{0,128})`.
const DIGITS = /^\d{1,129}$/;
const SENTINELS = new Set<string>(Object.values(Sentinel));

export function isSentinel(value: string): value is Sentinel {
  return SENTINELS.has(value);
}

/** The sequence number as a BigInt; throws for sentinels and anything that is not digits. */
export function parseSequenceNumber(value: string): bigint {
  if (!DIGITS.test(value)) {
    throw new InvalidSequenceNumberError(value);
  }
  return BigInt(value);
}

/**
 * Orders extended sequence numbers: negative when `a` is before `b`. `TRIM_HORIZON`, `LATEST` and
 * `AT_TIMESTAMP` come before every sequence number, `SHARD_END` after every one.
 */
export function compareExtended(a: ExtendedSequenceNumber, b: ExtendedSequenceNumber): number {
  const ra = rank(a.sequenceNumber);
  const rb = rank(b.sequenceNumber);
  if (ra !== rb) {
    return ra - rb;
  }
  if (ra !== 1) {
    return 0;
  }
  const sa = parseSequenceNumber(a.sequenceNumber);
  const sb = parseSequenceNumber(b.sequenceNumber);
  if (sa !== sb) {
    return sa < sb ? -1 : 1;
  }
  return Math.sign(a.subSequenceNumber - b.subSequenceNumber);
}

function rank(value: string): number {
  if (value === Sentinel.SHARD_END) {
    return 2;
  }
  if (isSentinel(value)) {
    return 0;
  }
  parseSequenceNumber(value);
  return 1;
}

/** The filter of a checkpoint before any record (none, TRIM_HORIZON, LATEST, AT_TIMESTAMP): skips nothing. */
export const NOTHING_PROCESSED_YET = (_sequence: bigint, _subSequenceNumber: number): boolean => false;

/**
 * A skip filter for one checkpoint: `isProcessed(seq, sub)` is true for positions at or below it.
 * Parses the checkpoint once; each call parses one sequence number.
 */
export function checkpointFilter(checkpoint: ExtendedSequenceNumber | undefined): (sequence: bigint, subSequenceNumber: number) => boolean {
  if (!checkpoint || (isSentinel(checkpoint.sequenceNumber) && checkpoint.sequenceNumber !== Sentinel.SHARD_END)) {
    return NOTHING_PROCESSED_YET;
  }
  if (checkpoint.sequenceNumber === Sentinel.SHARD_END) {
    return () => true;
  }
  const at = parseSequenceNumber(checkpoint.sequenceNumber);
  const sub = checkpoint.subSequenceNumber;
  return (sequence, subSequenceNumber) => sequence < at || (sequence === at && subSequenceNumber <= sub);
}
