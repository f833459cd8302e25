/**
 * What a consumer application has processed of one shard above the lease's checkpoint, per outer
 * partition key (the Kinesis record's, the unit of Lambda's order guarantee at any
 * parallelization factor). Pure functions: the skip test, merging (a union: concurrent writers
 * never lose each other's progress and nothing moves back), pruning below the low watermark, a
 * size bound that drops information (so a record may be processed again) but never invents it
 * (so no record is ever skipped that was not processed), and a compact binary encoding for the
 * lease item. The design: docs/consumer-exactly-once.md.
 */

/** A user record's place in its shard: the Kinesis record's sequence number and the index inside its aggregate. */
export interface Position {
  readonly sequence: bigint;
  readonly sub: number;
}

/** Processed user records of one outer key from `from` to `to`, both included. */
export interface Run {
  readonly from: Position;
  readonly to: Position;
}

export interface KeyProgress {
  /** Every user record of this outer key at or below it is handled (processed, or given up to the on-failure destination). */
  readonly upTo?: Position;
  /** Processed user records of this outer key above `upTo`: ascending, disjoint. */
  readonly runs: readonly Run[];
  /** Arrival (epoch ms) of the newest record this entry covers: entries unseen longest are dropped first. */
  readonly seenAt: number;
}

/** Per outer partition key; an absent key has nothing recorded above the low watermark. */
export type ShardProgress = ReadonlyMap<string, KeyProgress>;

export const EMPTY_PROGRESS: ShardProgress = new Map();

/** Encoded `progress` attribute kept at most this large, well under DynamoDB's 400 KB item limit (and cheap to write). */
export const MAX_PROGRESS_BYTES = 64 * 1024;

export class ProgressDecodeError extends Error {
  public override readonly name = 'ProgressDecodeError';
}

export function comparePositions(a: Position, b: Position): number {
  if (a.sequence !== b.sequence) {
    return a.sequence < b.sequence ? -1 : 1;
  }
  return a.sub - b.sub;
}

const maxPosition = (a: Position | undefined, b: Position | undefined): Position | undefined =>
  a === undefined ? b : b === undefined || comparePositions(a, b) >= 0 ? a : b;

/**
 * Whether a user record of outer key `entry`'s key at (`sequence`, `sub`) is processed, by the
 * entry alone (the caller tests the low watermark first). Runs are few: a linear scan.
 */
export function coveredByEntry(entry: KeyProgress | undefined, sequence: bigint, sub: number): boolean {
  if (entry === undefined) {
    return false;
  }
  const upTo = entry.upTo;
  if (upTo !== undefined && (sequence < upTo.sequence || (sequence === upTo.sequence && sub <= upTo.sub))) {
    return true;
  }
  for (const run of entry.runs) {
    const afterFrom = sequence > run.from.sequence || (sequence === run.from.sequence && sub >= run.from.sub);
    const beforeTo = sequence < run.to.sequence || (sequence === run.to.sequence && sub <= run.to.sub);
    if (afterFrom && beforeTo) {
      return true;
    }
  }
  return false;
}

/** One entry with its runs sorted, overlapping runs joined, and runs reaching `upTo` folded into it. */
export function normalizeEntry(entry: KeyProgress): KeyProgress {
  const runs = [...entry.runs].sort((a, b) => comparePositions(a.from, b.from));
  let upTo = entry.upTo;
  const out: Run[] = [];
  for (const run of runs) {
    if (upTo !== undefined && comparePositions(run.from, upTo) <= 0) {
      // Everything up to upTo is handled and the run covers from inside that to its end.
      upTo = maxPosition(upTo, run.to);
      continue;
    }
    const last = out[out.length - 1];
    if (last !== undefined && comparePositions(run.from, last.to) <= 0) {
      out[out.length - 1] = { from: last.from, to: maxPosition(last.to, run.to)! };
    } else {
      out.push(run);
    }
  }
  // Folding a run into upTo can make earlier-kept runs redundant only if they start before it.
  const kept = upTo === undefined ? out : out.filter((run) => comparePositions(run.to, upTo) > 0);
  return { upTo, runs: kept, seenAt: entry.seenAt };
}

/** The union of two entries of one key. */
export function mergeEntries(a: KeyProgress, b: KeyProgress): KeyProgress {
  return normalizeEntry({ upTo: maxPosition(a.upTo, b.upTo), runs: [...a.runs, ...b.runs], seenAt: Math.max(a.seenAt, b.seenAt) });
}

/** The union of two progress maps. */
export function mergeProgress(a: ShardProgress, b: ShardProgress): ShardProgress {
  if (b.size === 0) {
    return a;
  }
  const out = new Map(a);
  for (const [key, entry] of b) {
    const existing = out.get(key);
    out.set(key, existing === undefined ? normalizeEntry(entry) : mergeEntries(existing, entry));
  }
  return out;
}

/**
 * Drops what the low watermark covers: runs ending at or below it, entries with nothing above
 * it. `low` undefined: nothing is covered (no checkpoint yet).
 */
export function pruneBelow(progress: ShardProgress, low: Position | undefined): ShardProgress {
  if (low === undefined) {
    return progress;
  }
  const out = new Map<string, KeyProgress>();
  for (const [key, entry] of progress) {
    const runs = entry.runs.filter((run) => comparePositions(run.to, low) > 0);
    const upTo = entry.upTo !== undefined && comparePositions(entry.upTo, low) > 0 ? entry.upTo : undefined;
    if (upTo !== undefined || runs.length > 0) {
      out.set(key, runs.length === entry.runs.length && upTo === entry.upTo ? entry : { upTo, runs, seenAt: entry.seenAt });
    }
  }
  return out;
}

/**
 * The progress cut to at most `maxBytes` encoded: whole entries are dropped, the one unseen
 * longest first. A dropped key's records are then processed again if Lambda delivers them again
 * (a duplicate), never skipped without having been processed.
 */
export function fitProgress(progress: ShardProgress, maxBytes: number = MAX_PROGRESS_BYTES): { progress: ShardProgress; evicted: number } {
  let size = encodedSize(progress);
  if (size <= maxBytes) {
    return { progress, evicted: 0 };
  }
  const byAge = [...progress.entries()].sort((a, b) => a[1].seenAt - b[1].seenAt);
  const base = baseOf(progress);
  const out = new Map(progress);
  let evicted = 0;
  for (const [key, entry] of byAge) {
    if (size <= maxBytes) {
      break;
    }
    out.delete(key);
    size -= entrySize(key, entry, base);
    evicted++;
  }
  return { progress: out, evicted };
}

// ---- encoding ----------------------------------------------------------------------------
// version (1) | base sequence (length-prefixed decimal) | entry count | per entry:
//   key (length-prefixed UTF-8) | flags (bit 0: upTo present) | [upTo] | seenAt seconds | run count | runs (from, to)
// A position is (sequence - base) and sub, both unsigned LEB128 varints (the sequence delta as a bigint).

const VERSION = 1;

function baseOf(progress: ShardProgress): bigint {
  let base: bigint | undefined;
  for (const entry of progress.values()) {
    for (const p of positionsOf(entry)) {
      if (base === undefined || p.sequence < base) {
        base = p.sequence;
      }
    }
  }
  return base ?? 0n;
}

function* positionsOf(entry: KeyProgress): Generator<Position> {
  if (entry.upTo !== undefined) {
    yield entry.upTo;
  }
  for (const run of entry.runs) {
    yield run.from;
    yield run.to;
  }
}

function varintSize(value: bigint | number): number {
  let v = BigInt(value);
  let n = 1;
  while (v >= 0x80n) {
    v >>= 7n;
    n++;
  }
  return n;
}

const positionSize = (p: Position, base: bigint) => varintSize(p.sequence - base) + varintSize(p.sub);

function entrySize(key: string, entry: KeyProgress, base: bigint): number {
  const keyBytes = Buffer.byteLength(key, 'utf8');
  let size = varintSize(keyBytes) + keyBytes + 1 + varintSize(Math.floor(entry.seenAt / 1000)) + varintSize(entry.runs.length);
  if (entry.upTo !== undefined) {
    size += positionSize(entry.upTo, base);
  }
  for (const run of entry.runs) {
    size += positionSize(run.from, base) + positionSize(run.to, base);
  }
  return size;
}

/** Bytes `encodeProgress` writes. */
export function encodedSize(progress: ShardProgress): number {
  const base = baseOf(progress);
  const baseDigits = base.toString().length;
  let size = 1 + varintSize(baseDigits) + baseDigits + varintSize(progress.size);
  for (const [key, entry] of progress) {
    size += entrySize(key, entry, base);
  }
  return size;
}

class Writer {
  public readonly bytes: number[] = [];

  public varint(value: bigint | number): void {
    let v = BigInt(value);
    if (v < 0n) {
      throw new RangeError(`progress: a varint cannot be negative (${v})`);
    }
    while (v >= 0x80n) {
      this.bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.bytes.push(Number(v));
  }

  public text(value: string): void {
    const encoded = Buffer.from(value, 'utf8');
    this.varint(encoded.length);
    for (const byte of encoded) {
      this.bytes.push(byte);
    }
  }
}

class Reader {
  private offset = 0;

  constructor(private readonly buffer: Uint8Array) {}

  public get done(): boolean {
    return this.offset >= this.buffer.length;
  }

  public varint(): bigint {
    let value = 0n;
    let shift = 0n;
    for (;;) {
      if (this.offset >= this.buffer.length) {
        throw new ProgressDecodeError('progress: truncated varint');
      }
      const byte = this.buffer[this.offset++];
      value |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) {
        return value;
      }
      shift += 7n;
      if (shift > 7n * 40n) {
        throw new ProgressDecodeError('progress: varint too long');
      }
    }
  }

  public small(): number {
    const value = this.varint();
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new ProgressDecodeError(`progress: number out of range (${value})`);
    }
    return Number(value);
  }

  public text(): string {
    const length = this.small();
    if (this.offset + length > this.buffer.length) {
      throw new ProgressDecodeError('progress: truncated string');
    }
    const value = Buffer.from(this.buffer.buffer, this.buffer.byteOffset + this.offset, length).toString('utf8');
    this.offset += length;
    return value;
  }

  public byte(): number {
    if (this.offset >= this.buffer.length) {
      throw new ProgressDecodeError('progress: truncated');
    }
    return this.buffer[this.offset++];
  }
}

export function encodeProgress(progress: ShardProgress): Buffer {
  const base = baseOf(progress);
  const w = new Writer();
  w.varint(VERSION);
  w.text(base.toString());
  w.varint(progress.size);
  const position = (p: Position) => {
    w.varint(p.sequence - base);
    w.varint(p.sub);
  };
  for (const [key, entry] of progress) {
    w.text(key);
    w.bytes.push(entry.upTo === undefined ? 0 : 1);
    if (entry.upTo !== undefined) {
      position(entry.upTo);
    }
    w.varint(Math.max(0, Math.floor(entry.seenAt / 1000)));
    w.varint(entry.runs.length);
    for (const run of entry.runs) {
      position(run.from);
      position(run.to);
    }
  }
  return Buffer.from(w.bytes);
}

/** Decodes `encodeProgress`'s bytes; throws `ProgressDecodeError` on anything else. */
export function decodeProgress(bytes: Uint8Array): ShardProgress {
  const r = new Reader(bytes);
  const version = r.small();
  if (version !== VERSION) {
    throw new ProgressDecodeError(`progress: unknown version ${version} (this consumer reads version ${VERSION})`);
  }
  const baseText = r.text();
  if (!/^\d{1,129}$/.test(baseText)) {
    throw new ProgressDecodeError(`progress: base is not a sequence number: '${baseText}'`);
  }
  const base = BigInt(baseText);
  const count = r.small();
  const out = new Map<string, KeyProgress>();
  const position = (): Position => ({ sequence: base + r.varint(), sub: r.small() });
  for (let i = 0; i < count; i++) {
    const key = r.text();
    const flags = r.byte();
    const upTo = (flags & 1) === 1 ? position() : undefined;
    const seenAt = r.small() * 1000;
    const runCount = r.small();
    const runs: Run[] = [];
    for (let j = 0; j < runCount; j++) {
      runs.push({ from: position(), to: position() });
    }
    out.set(key, { upTo, runs, seenAt });
  }
  if (!r.done) {
    throw new ProgressDecodeError('progress: bytes after the last entry');
  }
  return out;
}
