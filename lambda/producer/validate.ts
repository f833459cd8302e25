import { randomUUID } from 'crypto';
import { parseHashKey } from '../shared/hash-key';
import type { UserRecord } from './aggregate';
import { groupsOn, loneAggregateBytes, longestGroupKeyBytes, type OrderingSettings } from './ordering';

/** The rules a request breaks, as they appear in `errors[].rule`. */
export const RULES = {
  body: 'body must be JSON',
  records: 'records must be a non-empty array',
  record: 'record must be a JSON object',
  data: 'data is required (a string or any JSON value)',
  partitionKey: 'partitionKey must be a string of 1 to 256 characters',
  size: 'data plus partitionKey must be at most the entry limit (1 MiB)',
  framedSize: 'with ordering groups, data, partitionKey and explicitHashKey in a one-record KPL aggregate under its group key must be at most the entry limit (1 MiB)',
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
  constructor(public readonly errors: readonly InputIssue[]) {
    super(`invalid producer request: ${errors.slice(0, 10).map((e) => (e.index < 0 ? e.rule : `record ${e.index}: ${e.rule}`)).join('; ')}${errors.length > 10 ? `; and ${errors.length - 10} more` : ''}`);
  }
}

/**
 * User records of a request `{ records: [{ data, partitionKey?, explicitHashKey? }] }`. A string
 * `data` is sent as its UTF-8 bytes, any other JSON value as its JSON text. A record without a
 * partition key gets a random one. With ordering groups (`ordering`), any record may have to go
 * as a one-record KPL aggregate under its group's key, so that must fit the entry limit too.
 * Throws `ProducerInputError` listing every broken rule.
 */
export function parseRequest(body: unknown, maxEntryBytes: number, ordering?: OrderingSettings): UserRecord[] {
  const groupKeyBytes = ordering !== undefined && groupsOn(ordering) ? longestGroupKeyBytes(ordering.orderingGroups) : -1;
  const list = (body as { records?: unknown } | null)?.records;
  if (!Array.isArray(list) || list.length === 0) {
    throw new ProducerInputError([{ index: -1, rule: RULES.records }]);
  }
  const issues: InputIssue[] = [];
  const records: UserRecord[] = [];
  list.forEach((item: unknown, index) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      issues.push({ index, rule: RULES.record });
      return;
    }
    const { data, partitionKey, explicitHashKey } = item as Record<string, unknown>;
    const broken = issues.length;
    if (data === undefined || data === null) {
      issues.push({ index, rule: RULES.data });
    }
    if (partitionKey !== undefined && (typeof partitionKey !== 'string' || !keyLengthOk(partitionKey))) {
      issues.push({ index, rule: RULES.partitionKey });
    }
    if (explicitHashKey !== undefined && (typeof explicitHashKey !== 'string' || parseHashKey(explicitHashKey) === undefined)) {
      issues.push({ index, rule: RULES.explicitHashKey });
    }
    if (issues.length > broken) {
      return;
    }
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(JSON.stringify(data), 'utf8');
    const key = (partitionKey as string | undefined) ?? randomUUID();
    const keyBytes = Buffer.byteLength(key, 'utf8');
    if (bytes.length + keyBytes > maxEntryBytes) {
      issues.push({ index, rule: RULES.size });
      return;
    }
    if (groupKeyBytes >= 0 && bytes.length + keyBytes + FRAMING_BOUND > maxEntryBytes
      && loneAggregateBytes({ partitionKeyBytes: keyBytes, explicitHashKeyBytes: explicitHashKey === undefined ? 0 : (explicitHashKey as string).length, dataBytes: bytes.length }) + groupKeyBytes > maxEntryBytes) {
      issues.push({ index, rule: RULES.framedSize });
      return;
    }
    records.push({ index, partitionKey: key, data: bytes, ...(explicitHashKey === undefined ? {} : { explicitHashKey: explicitHashKey as string }) });
  });
  if (issues.length > 0) {
    throw new ProducerInputError(issues);
  }
  return records;
}

/** More than a one-record aggregate adds to a record (frame, key fields, record field, group key): below it no check is needed. */
const FRAMING_BOUND = 128;

function keyLengthOk(key: string): boolean {
  if (key.length === 0) {
    return false;
  }
  let characters = 0;
  for (const _ of key) {
    if (++characters > 256) {
      return false;
    }
  }
  return true;
}
