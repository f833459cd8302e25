import type { KinesisStreamRecord } from 'aws-lambda';
import { checksumsMatch, decodeCheckedAggregate, hasKplMagic, KplDecodeError, type KplUserRecord } from './kpl-codec';

/**
 * Why a Kinesis record that carries the KPL magic reached the processor whole, as one plain record
 * (the KCL's choice), instead of as its user records.
 */
export const CorruptRecord = {
  /** The MD5 trailer does not match the body: the bytes were changed after the producer sealed them. */
  CHECKSUM: 'checksum',
  /** The MD5 matches but the protobuf body cannot be read (truncated, an index outside its table, a bad wire type). */
  UNDECODABLE: 'undecodable',
} as const;
export type CorruptRecord = (typeof CorruptRecord)[keyof typeof CorruptRecord];

/** One user record, as the consumer hands it to the user's processor. */
export interface UserRecord {
  /** The user's bytes (a view of the decoded Kinesis record: copy it to keep it past the call). */
  readonly data: Buffer;
  readonly partitionKey: string;
  /** The explicit hash key the producer gave, if any. */
  readonly explicitHashKey?: string;
  /** Sequence number of the Kinesis record that carried it (decimal string; compare as BigInt). */
  readonly sequenceNumber: string;
  /** Position inside its KPL aggregate; 0 for a plain record. */
  readonly subSequenceNumber: number;
  /** Whether it arrived inside a KPL aggregated record. */
  readonly aggregated: boolean;
  /** When Kinesis received the carrying record, milliseconds since the epoch. */
  readonly approximateArrivalTimestamp: number;
  readonly shardId: string;
  /**
   * Set only on a record that carries the KPL magic but could not be read as an aggregate: it is
   * handed over whole (its `data` is the aggregate's bytes, `aggregated` false), flagged, and
   * counted in the `CorruptRecords` metric. Absent on every readable record.
   */
  readonly corrupt?: CorruptRecord;
}

/** The shard id of a Lambda Kinesis record (its eventID is `<shardId>:<sequenceNumber>`). */
export function shardIdOf(record: KinesisStreamRecord): string {
  const at = record.eventID.lastIndexOf(':');
  return at > 0 ? record.eventID.slice(0, at) : record.eventID;
}

/**
 * The user records of one Lambda Kinesis record, in order: the sub-records of a KPL aggregate
 * (ours or the KPL's), or the record itself when it is plain. A blob with the KPL magic whose MD5
 * or body does not check out is handed over whole, as in the KCL, but flagged `corrupt`. An
 * aggregate of no user records gives an empty list (the caller counts it).
 */
export function deaggregateRecord(record: KinesisStreamRecord, shardId = shardIdOf(record)): UserRecord[] {
  return deaggregateRecords([record], shardId)[0];
}

/**
 * `deaggregateRecord` of each record of a batch (one shard's, in order), the aggregates' MD5
 * trailers checked all at once, four side by side (md5-lanes.ts): what the consumer does with the
 * records Lambda hands it.
 */
export function deaggregateRecords(records: readonly KinesisStreamRecord[], shardId?: string): UserRecord[][] {
  const blobs = records.map((record) => Buffer.from(record.kinesis.data, 'base64'));
  const kpl = blobs.map(hasKplMagic);
  const matches = checksumsMatch(blobs.filter((_, i) => kpl[i]));
  let next = 0;
  return records.map((record, i) => userRecordsOf(record, blobs[i], shardId ?? shardIdOf(record), kpl[i] ? matches[next++] : undefined));
}

/**
 * The user records of `record`, whose bytes are `blob`. `checksumOk`: whether its MD5 trailer
 * matches, for a blob with the KPL magic; undefined for a plain record.
 */
function userRecordsOf(record: KinesisStreamRecord, blob: Buffer, shardId: string, checksumOk: boolean | undefined): UserRecord[] {
  const { kinesis } = record;
  const arrival = Math.round(kinesis.approximateArrivalTimestamp * 1000);
  let subRecords: KplUserRecord[] | undefined;
  let corrupt: CorruptRecord | undefined;
  if (checksumOk !== undefined) {
    if (!checksumOk) {
      corrupt = CorruptRecord.CHECKSUM;
    } else {
      try {
        subRecords = decodeCheckedAggregate(blob);
      } catch (error) {
        if (!(error instanceof KplDecodeError)) {
          throw error;
        }
        corrupt = CorruptRecord.UNDECODABLE;
      }
    }
  }
  if (!subRecords) {
    const whole = {
      data: blob,
      partitionKey: kinesis.partitionKey,
      sequenceNumber: kinesis.sequenceNumber,
      subSequenceNumber: 0,
      aggregated: false,
      approximateArrivalTimestamp: arrival,
      shardId,
    };
    return [corrupt === undefined ? whole : { ...whole, corrupt }];
  }
  // One object shape for every user record (no spread): explicitHashKey is present only when given.
  const users = new Array<UserRecord>(subRecords.length);
  for (let index = 0; index < subRecords.length; index++) {
    const sub = subRecords[index];
    const user: { -readonly [K in keyof UserRecord]: UserRecord[K] } = {
      data: sub.data as Buffer,
      partitionKey: sub.partitionKey,
      sequenceNumber: kinesis.sequenceNumber,
      subSequenceNumber: index,
      aggregated: true,
      approximateArrivalTimestamp: arrival,
      shardId,
    };
    if (sub.explicitHashKey !== undefined) {
      user.explicitHashKey = sub.explicitHashKey;
    }
    users[index] = user;
  }
  return users;
}

/** The user records of a batch, in order. */
export function deaggregate(records: readonly KinesisStreamRecord[]): UserRecord[] {
  return deaggregateRecords(records).flat();
}
