/**
 * The consumer benchmark's input: one shard's stream of KPL aggregates as ProducerFunction writes
 * them, and the Lambda Kinesis events that carry it.
 *
 * User records of about 100 B go round robin over `keys` user partition keys. Each user key
 * belongs to one of ORDERING_GROUPS ordering groups (the producer's rule: the key's MD5 hash key
 * modulo G, outer partition key `og-<group>`), and an aggregate holds RECORDS_PER_AGGREGATE
 * records of one group, so every record of a user key travels under one outer key. Aggregates
 * enter the stream as they fill.
 */
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { hashKeyOf } from '../../lambda/shared/hash-key';
import type { KplUserRecord } from '../../lambda/shared/kpl-codec';
import { encodeAggregated } from '../../test/helpers/kpl-encoder';
import { DEFAULT_ORDERING_GROUPS } from '../../lambda/producer/limits';

/** The producer's default ordering groups. */
export const ORDERING_GROUPS = DEFAULT_ORDERING_GROUPS;
export const RECORDS_PER_AGGREGATE = 10;
export const USER_RECORD_BYTES = 100;
/** A realistic Kinesis sequence number (56 digits); the bench's records count up from it. */
export const SEQUENCE_BASE = 49590338271490256608559692538361571095921575989136588800n;

export interface StreamAggregate {
  /** Outer (Kinesis record) partition key: the ordering group's key. */
  readonly partitionKey: string;
  readonly group: number;
  /** The aggregate, base64 (as the event carries it). */
  readonly data: string;
  readonly userRecords: number;
}

export function userKey(index: number): string {
  return `user-${String(index).padStart(4, '0')}`;
}

/** The first `aggregates` full aggregates of the stream of user records over `keys` keys. */
export function aggregateStream(aggregates: number, keys: number): StreamAggregate[] {
  const groupOfKey = Array.from({ length: keys }, (_, k) => Number(hashKeyOf(userKey(k)) % BigInt(ORDERING_GROUPS)));
  const open = new Map<number, KplUserRecord[]>();
  const out: StreamAggregate[] = [];
  for (let i = 0; out.length < aggregates; i++) {
    const k = i % keys;
    const group = groupOfKey[k];
    const payload = `{"key":"${userKey(k)}","n":${i},"pad":"`;
    const data = Buffer.from(`${payload}${'x'.repeat(USER_RECORD_BYTES - payload.length - 2)}"}`);
    let records = open.get(group);
    if (!records) {
      records = [];
      open.set(group, records);
    }
    records.push({ partitionKey: userKey(k), data });
    if (records.length === RECORDS_PER_AGGREGATE) {
      out.push({ partitionKey: `og-${group}`, group, data: encodeAggregated(records).toString('base64'), userRecords: records.length });
      open.delete(group);
    }
  }
  return out;
}

export function shardId(n: number): string {
  return `shardId-${String(n).padStart(12, '0')}`;
}

/** A Lambda Kinesis event record of `aggregate` at position `sequence` of `shard`. */
export function eventRecord(aggregate: StreamAggregate, shard: string, sequence: bigint, arrivalSeconds: number): KinesisStreamRecord {
  const sequenceNumber = sequence.toString();
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: aggregate.partitionKey,
      sequenceNumber,
      data: aggregate.data,
      approximateArrivalTimestamp: arrivalSeconds,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shard}:${sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::123456789012:role/bench-consumer',
    awsRegion: 'us-east-1',
    eventSourceARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/bench',
  };
}

/** The event, as JSON (the worker parses it, as the Lambda runtime does). */
export function eventJson(records: readonly KinesisStreamRecord[]): string {
  const event: KinesisStreamEvent = { Records: [...records] };
  return JSON.stringify(event);
}
