import { randomUUID } from 'crypto';
import { parseHashKey } from '../shared/hash-key';
import { sizedObjectArray } from '../shared/object-arrays';
import { wellFormed } from '../shared/text';
import type { ProducerRecord } from './aggregate';
import { groupsOn, loneAggregateBytes, longestGroupKeyBytes, type OrderingSettings } from './ordering';

/**
 * Deepest nesting of a JSON `data` value (an array or object is one level). Deeper data is refused
 * before `JSON.stringify` could overflow the stack, and so that consumers in any language can
 * parse what they read (Python's json stops near 1,000 levels, Go's encoding/json at 10,000).
 */
export const MAX_DATA_DEPTH = 100;

/** The rules a request breaks, as they appear in `errors[].rule`. */
export const RULES = {
  body: 'body must be JSON',
  records: 'records must be a non-empty array',
  record: 'record must be a JSON object',
  data: `data is required (a string or any JSON value nested at most ${MAX_DATA_DEPTH} levels deep)`,
  partitionKey: 'partitionKey must be a well-formed string of 1 to 256 UTF-16 code units (so at most 256 code points)',
  requestId: 'requestId must be a string of 1 to 128 characters, and a requestId seen before must come with the same records',
  size: 'data plus partitionKey must be at most the entry limit',
  framedSize:
    'with ordering groups, data, partitionKey and explicitHashKey in a one-record KPL aggregate under its group key must be at most the entry limit',
  explicitHashKey: 'explicitHashKey must be a decimal string in 0 to 2^128-1',
} as const;

/** One broken rule; `index` is the record's position in `records`, or -1 for the request itself. */
export interface InputIssue {
  readonly index: number;
  readonly rule: string;
}

/**
 * A request the producer refuses, naming every record and rule it broke. A direct invoke throws
 * it; an HTTP request gets `400 { message, errors: [{ index, rule }] }`.
 */
export class ProducerInputError extends Error {
  public override readonly name = 'ProducerInputError';
  /**
   * @param recorded set when the progress table already holds the refusal: 'first' when this
   * delivery recorded it, 'again' when an earlier delivery of the event did.
   */
  constructor(
    public readonly errors: readonly InputIssue[],
    public readonly recorded?: 'first' | 'again',
  ) {
    super(
      `invalid producer request: ${errors
        .slice(0, 10)
        .map((e) => (e.index < 0 ? e.rule : `record ${e.index}: ${e.rule}`))
        .join('; ')}${errors.length > 10 ? `; and ${errors.length - 10} more` : ''}`,
    );
  }
}

/**
 * User records of a request `{ records: [{ data, partitionKey?, explicitHashKey? }] }`. A string
 * `data` is sent as its UTF-8 bytes, any other JSON value as its JSON text. A record without a
 * partition key gets a random one. With ordering groups (`ordering`), any record may have to go
 * as a one-record KPL aggregate under its group's key, so that must fit the entry limit too.
 * Throws `ProducerInputError` listing every broken rule.
 */
export function parseRequest(body: unknown, maxEntryBytes: number, ordering?: OrderingSettings): ProducerRecord[] {
  const check = new RecordCheck(body, maxEntryBytes, ordering);
  check.range(0, check.length);
  return check.records();
}

/** Records `parseRequestInSlices` validates between two turns of the event loop (0.1-0.5 ms warm, up to 4 ms in a fresh process). */
export const PARSE_SLICE = 1024;

/**
 * `parseRequest`, giving the event loop a turn after every `slice` records, so that network work
 * started before it (a client's first request: its TLS handshake, its file reads, the answer)
 * goes on while a large request is validated instead of waiting for the end of it.
 */
export async function parseRequestInSlices(
  body: unknown,
  maxEntryBytes: number,
  ordering?: OrderingSettings,
  slice: number = PARSE_SLICE,
): Promise<ProducerRecord[]> {
  const check = new RecordCheck(body, maxEntryBytes, ordering);
  const step = Math.max(1, Math.floor(slice));
  for (let from = 0; from < check.length; from += step) {
    if (from > 0) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    check.range(from, Math.min(check.length, from + step));
  }
  return check.records();
}

/** Validation of a request's records, range by range, in order. */
class RecordCheck {
  public readonly length: number;
  private readonly list: unknown[];
  private readonly groupKeyBytes: number;
  private readonly issues: InputIssue[] = [];
  // Sized once: a request is refused whole or taken whole, so a request taken has one record per
  // item (growing by push left about twice the final array in copies: 0.5 MB at 20,000 records).
  private readonly out: ProducerRecord[];
  // A request's records share few keys: each distinct key is checked and measured once (its
  // UTF-8 length; -1: broken) and numbered, so that the packer finds it by number.
  private readonly keyIdOf = new Map<string, number>();
  private readonly keyBytesById: number[] = [];

  public constructor(
    body: unknown,
    private readonly maxEntryBytes: number,
    ordering?: OrderingSettings,
  ) {
    this.groupKeyBytes = ordering !== undefined && groupsOn(ordering) ? longestGroupKeyBytes(ordering.orderingGroups) : -1;
    const list = (body as { records?: unknown } | null)?.records;
    if (!Array.isArray(list) || list.length === 0) {
      throw new ProducerInputError([{ index: -1, rule: RULES.records }]);
    }
    this.list = list;
    this.length = list.length;
    this.out = sizedObjectArray<ProducerRecord>(list.length);
  }

  /** Checks records `from` to `to` (exclusive), each range after the one before. */
  public range(from: number, to: number): void {
    const { list, issues, keyIdOf, keyBytesById, maxEntryBytes, groupKeyBytes } = this;
    const records = this.out;
    for (let index = from; index < to; index++) {
      const item: unknown = list[index];
      if (typeof item !== 'object' || item === null || Array.isArray(item)) {
        issues.push({ index, rule: RULES.record });
        continue;
      }
      const { data, partitionKey, explicitHashKey } = item as Record<string, unknown>;
      const broken = issues.length;
      if (data === undefined || data === null || (typeof data === 'object' && !withinDepth(data, MAX_DATA_DEPTH))) {
        issues.push({ index, rule: RULES.data });
      }
      let keyBytes = -1;
      let keyId = -1;
      if (typeof partitionKey === 'string') {
        keyId = keyIdOf.get(partitionKey) ?? -1;
        if (keyId < 0) {
          keyId = keyBytesById.length;
          keyIdOf.set(partitionKey, keyId);
          keyBytesById.push(keyLengthOk(partitionKey) ? Buffer.byteLength(partitionKey, 'utf8') : -1);
        }
        keyBytes = keyBytesById[keyId];
      }
      if (partitionKey !== undefined && keyBytes < 0) {
        issues.push({ index, rule: RULES.partitionKey });
      }
      if (explicitHashKey !== undefined && (typeof explicitHashKey !== 'string' || parseHashKey(explicitHashKey) === undefined)) {
        issues.push({ index, rule: RULES.explicitHashKey });
      }
      if (issues.length > broken) {
        continue;
      }
      const text = typeof data === 'string' ? data : jsonText(data);
      if (text === undefined) {
        issues.push({ index, rule: RULES.data });
        continue;
      }
      const dataBytes = Buffer.byteLength(text, 'utf8');
      let key = partitionKey as string | undefined;
      if (key === undefined) {
        key = randomUUID(); // a key of its own: a number no other record has
        keyBytes = key.length;
        keyId = keyBytesById.length;
        keyBytesById.push(keyBytes);
      }
      if (dataBytes + keyBytes > maxEntryBytes) {
        issues.push({ index, rule: withLimit(RULES.size, maxEntryBytes) });
        continue;
      }
      if (
        groupKeyBytes >= 0 &&
        dataBytes + keyBytes + FRAMING_BOUND > maxEntryBytes &&
        loneAggregateBytes({
          partitionKeyBytes: keyBytes,
          explicitHashKeyBytes: explicitHashKey === undefined ? 0 : (explicitHashKey as string).length,
          dataBytes,
        }) +
          groupKeyBytes >
          maxEntryBytes
      ) {
        issues.push({ index, rule: withLimit(RULES.framedSize, maxEntryBytes) });
        continue;
      }
      // Object literals, no spread: no throw-away object per record. The text stays text: the
      // packer writes it into its aggregate, so no Buffer is made per record.
      records[index] =
        explicitHashKey === undefined
          ? { index, partitionKey: key, data: text, dataBytes, keyId }
          : { index, partitionKey: key, explicitHashKey: explicitHashKey as string, data: text, dataBytes, keyId };
    }
  }

  /** The records, once every range is checked; throws `ProducerInputError` naming every broken rule. */
  public records(): ProducerRecord[] {
    if (this.issues.length > 0) {
      throw new ProducerInputError(this.issues);
    }
    return this.out;
  }
}

/**
 * The caller's name for a request, `requestId` beside `records` (or an HTTP `Idempotency-Key`
 * header): deliveries of one requestId write each record at most once. Undefined when absent.
 */
export function parseRequestId(body: unknown, header?: string): string | undefined {
  const value = header ?? (body as { requestId?: unknown } | null)?.requestId;
  if (value === undefined) {
    return undefined;
  }
  if (typeof value !== 'string' || value.length < 1 || value.length > 128) {
    throw new ProducerInputError([{ index: -1, rule: RULES.requestId }]);
  }
  return value;
}

/**
 * A size rule with the limit that applies (the stream's record size, 1 to 10 MiB):
 * `... must be at most the entry limit (1 MiB = 1048576 bytes)`.
 */
export function withLimit(rule: string, maxEntryBytes: number): string {
  const MiB = 1024 * 1024;
  const readable =
    maxEntryBytes % MiB === 0
      ? `${maxEntryBytes / MiB} MiB`
      : maxEntryBytes % 1024 === 0
        ? `${maxEntryBytes / 1024} KiB`
        : `${maxEntryBytes} bytes`;
  return `${rule} (${readable} = ${maxEntryBytes} bytes)`;
}

/** More than a one-record aggregate adds to a record (frame, key fields, record field, group key): below it no check is needed. */
const FRAMING_BOUND = 128;

/**
 * Kinesis (and the SDK's model, and the emulators) count a partition key's 256 in UTF-16 code
 * units; a key of at most 256 code units has at most 256 code points too, so one check covers
 * both counts. A lone surrogate has no UTF-8 form: it would be stored as U+FFFD, another key.
 */
function keyLengthOk(key: string): boolean {
  return key.length >= 1 && key.length <= 256 && wellFormed(key);
}

/** Whether a JSON value nests at most `limit` arrays/objects deep; iterative, stops at the first level too deep. */
export function withinDepth(value: object, limit: number): boolean {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 1 }];
  while (stack.length > 0) {
    const { value: next, depth } = stack.pop()!;
    if (depth > limit) {
      return false;
    }
    const children = Array.isArray(next) ? next : Object.values(next as Record<string, unknown>);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) {
        stack.push({ value: child, depth: depth + 1 });
      }
    }
  }
  return true;
}

/** JSON text of a value, or undefined if it has none (a cycle, a BigInt, a stack overflow). */
function jsonText(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}
