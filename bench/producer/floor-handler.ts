/**
 * The floors of the end-to-end benchmark (diagnosis). The transport floor: a handler that sends,
 * per invocation, PutRecords of entries built once at import, as many and as large as ours sends
 * for the input (BENCH_FLOOR_ENTRIES × BENCH_FLOOR_ENTRY_BYTES), through the producer's own
 * Kinesis client. No parsing, validation, packing or progress table: what any producer of these
 * bytes pays for the SDK, the loopback network and the endpoint. The reference's time over this
 * one's is the most any producer can gain on it.
 *
 * With BENCH_FLOOR_GUARANTEES=1 (and PROGRESS_TABLE_NAME), the guarantees' floor: the same, plus
 * only what the KPL format, the no-copy guarantee and storing each aggregate on the shard that owns
 * its records make every producer of ours do, each done the cheapest way: the progress claim before
 * the write and the COMPLETE after it, through the producer's own ProgressStore and DynamoDB client
 * (the claim's round trip overlapped with the record work below); the shard map, once per container
 * (ListShards through the producer's own code, sent with the claim); each record's shard by its
 * partition key (one MD5 per distinct key per container, then one lookup per record); every
 * record's text written as UTF-8 into the aggregates' bytes, and an MD5 trailer per aggregate (the
 * producer's four-lane MD5, md5-lanes.ts). No validation, no protobuf framing. The reference's time
 * over this one's is the most a producer that keeps those guarantees can gain on it here (the
 * reference routes nothing: it stores most aggregates on a shard that does not own their records).
 *
 * With BENCH_FLOOR_CONTRACT=1 as well, the contract floor: the guarantees' floor, plus what the
 * rest of the producer's contract makes it do, each the cheapest way: every record checked
 * (an object, a partition key of 1 to 256 characters, data a string of at most 1 MiB of UTF-8,
 * else a refusal naming the record), and written as a KPL record (protobuf: the record's field,
 * its key's index in the aggregate's key table, its data field) into aggregates that hold each
 * key's records together (keys numbered as they come, a counting sort by key, as the producer
 * places them: the aggregates' key tables stay as small as the producer's), each key in its
 * aggregate's table once, through the producer's own KPL writers (kpl-codec.ts). Aggregates a KPL
 * deaggregator reads, where the guarantees' floor writes bare texts. No ordering groups, explicit hash keys, size planning or progress bookkeeping.
 */
import { randomUUID } from 'crypto';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { Context } from 'aws-lambda';
import { MAX_HASH_KEY, rememberedHashKeyOf } from '../../lambda/shared/hash-key';
import { ShardMap, listShards } from '../../lambda/shared/shard-map';
import { keyFieldSize, recordFieldSize, writeAggregateRecord, writePartitionKeyField } from '../../lambda/shared/kpl-codec';
import { md5Each } from '../../lambda/shared/md5-lanes';
import { dynamoDbClient, kinesisClient } from '../../lambda/shared/clients';
import { byKeyOrder } from '../../lambda/producer/packer';
import { kinesisProtocol } from '../../lambda/producer/put-records-codec';
import { DEFAULT_PROGRESS_WINDOW_SECONDS } from '../../lambda/producer/contract';
import { ProgressStatus, ProgressStore, WrittenSet } from '../../lambda/producer/progress-store';

const count = Number(process.env.BENCH_FLOOR_ENTRIES ?? 45);
const bytes = Number(process.env.BENCH_FLOOR_ENTRY_BYTES ?? 51_200);
const guarantees = process.env.BENCH_FLOOR_GUARANTEES === '1';
const contract = guarantees && process.env.BENCH_FLOOR_CONTRACT === '1';
const entries = Array.from({ length: count }, (_, i) => ({
  Data: Buffer.alloc(bytes, i % 251),
  PartitionKey: `og-${i % 16}`,
  ExplicitHashKey: ((MAX_HASH_KEY / BigInt(count)) * BigInt(i)).toString(),
}));
/** Where the texts go: the entries' bytes between the 4-byte magic and the 16-byte MD5 trailer. */
const BODY_START = 4;
const BODY_END = bytes - 16;

const bodies = entries.map(({ Data }) => Data.subarray(BODY_START, BODY_END));
const trailers = entries.map(({ Data }) => Data.subarray(BODY_END));

/** Each partition key's shard position, kept from one invocation to the next (as the producer keeps its keys). */
const shardOfKey = new Map<string, number>();
let shardMap: Promise<ShardMap> | undefined;

/** Every record's shard (counted: where it goes does not change the cost of writing it). */
function route(records: ReadonlyArray<{ partitionKey: string }>, map: ShardMap): number[] {
  const perShard = new Array<number>(map.shards.length).fill(0);
  for (const { partitionKey } of records) {
    let shard = shardOfKey.get(partitionKey);
    if (shard === undefined) {
      shard = map.shards.indexOf(map.shardFor(rememberedHashKeyOf(partitionKey)));
      shardOfKey.set(partitionKey, shard);
    }
    perShard[shard]++;
  }
  return perShard;
}

/** Every record's text as UTF-8 into the entries, one after another, then each entry's MD5 trailer. */
function writeRecords(records: ReadonlyArray<{ data: string }>): void {
  let entry = 0;
  let at = BODY_START;
  for (const { data } of records) {
    if (at + Buffer.byteLength(data, 'utf8') > BODY_END && entry + 1 < entries.length) {
      entry++;
      at = BODY_START;
    }
    at += entries[entry].Data.write(data, at, 'utf8');
  }
  // The fastest MD5 we have: the producer's own, four aggregates side by side.
  md5Each(bodies, trailers);
}

/** Partition keys' numbers in order of first use, kept from one invocation to the next. */
const numberOfKey = new Map<string, number>();
/** Each numbered key's UTF-8 bytes. */
const keyBytesOf: Buffer[] = [];
/** The producer's limits on a record: its partition key's characters, its data's UTF-8 bytes. */
const MAX_KEY_CHARS = 256;
const MAX_DATA_BYTES = 1_048_576;

/** Each record an object with a partition key of 1 to 256 characters and string data, else a refusal naming it. */
function validate(records: unknown): asserts records is ReadonlyArray<{ partitionKey: string; data: string }> {
  if (!Array.isArray(records) || records.length === 0) {
    throw new Error('records: an array of at least one record');
  }
  for (let i = 0; i < records.length; i++) {
    const record = records[i] as { partitionKey?: unknown; data?: unknown } | null;
    if (typeof record !== 'object' || record === null) {
      throw new Error(`records[${i}]: an object`);
    }
    const key = record.partitionKey;
    if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_CHARS) {
      throw new Error(`records[${i}].partitionKey: a string of 1 to ${MAX_KEY_CHARS} characters`);
    }
    if (typeof record.data !== 'string') {
      throw new Error(`records[${i}].data: a string`);
    }
  }
}

/**
 * Every record as a KPL record into the entries, each key's records together: keys numbered, a
 * counting sort by number, then one pass writing each key's table entry where an aggregate meets
 * it and each record's protobuf field; then each entry's MD5 trailer.
 */
function frameRecords(records: ReadonlyArray<{ partitionKey: string; data: string }>): void {
  const n = records.length;
  const keyOf = new Int32Array(n);
  const counts: number[] = [];
  for (let i = 0; i < n; i++) {
    let key = numberOfKey.get(records[i].partitionKey);
    if (key === undefined) {
      key = numberOfKey.size;
      numberOfKey.set(records[i].partitionKey, key);
      keyBytesOf.push(Buffer.from(records[i].partitionKey, 'utf8'));
    }
    keyOf[i] = key;
    while (counts.length <= key) {
      counts.push(0);
    }
    counts[key]++;
  }
  const order = byKeyOrder(keyOf, counts); // the producer's own counting sort
  let entry = 0;
  let out = entries[entry].Data;
  let at = BODY_START;
  let tableSize = 0;
  let lastKey = -1;
  for (let j = 0; j < n; j++) {
    const i = order[j];
    const key = keyOf[i];
    const { data } = records[i];
    const bytes = Buffer.byteLength(data, 'utf8');
    if (bytes > MAX_DATA_BYTES) {
      throw new Error(`records[${i}].data: at most ${MAX_DATA_BYTES} bytes of UTF-8`);
    }
    // The key's table entry where the aggregate meets it, then the record (its index at most tableSize).
    const needed = (key === lastKey ? 0 : keyFieldSize(keyBytesOf[key].length)) + recordFieldSize(tableSize, -1, bytes);
    if (at + needed > BODY_END && entry + 1 < entries.length) {
      out = entries[++entry].Data;
      at = BODY_START;
      tableSize = 0;
      lastKey = -1;
    }
    if (key !== lastKey) {
      lastKey = key;
      at = writePartitionKeyField(out, at, keyBytesOf[key]);
      tableSize++;
    }
    at = writeAggregateRecord(out, at, tableSize - 1, -1, data, bytes);
  }
  md5Each(bodies, trailers);
}

export async function handler(
  event: { records: Array<{ data: string; partitionKey: string }> },
  context: Context,
): Promise<{ recordCount: number; writtenCount: number; failedCount: number }> {
  const client = kinesisClient(() => ({ protocol: kinesisProtocol() }));
  const store = guarantees
    ? new ProgressStore({
        client: dynamoDbClient(),
        tableName: process.env.PROGRESS_TABLE_NAME!,
        windowSeconds: DEFAULT_PROGRESS_WINDOW_SECONDS,
      })
    : undefined;
  const key = `invoke#${context.awsRequestId}`;
  const owner = `${context.awsRequestId}/${randomUUID()}`;
  if (store) {
    const claiming = store.claim(key, '-', event.records.length, owner, Date.now() + context.getRemainingTimeInMillis());
    claiming.catch(() => undefined);
    shardMap ??= listShards(client, process.env.STREAM_NAME!).then((shards) => ShardMap.fromShards(shards));
    await new Promise((resolve) => setImmediate(resolve)); // let the claim go out, then work while it is in flight
    if (contract) {
      validate(event.records);
    }
    route(event.records, await shardMap);
    (contract ? frameRecords : writeRecords)(event.records);
    const claim = await claiming;
    if (claim.kind !== 'claimed') {
      throw new Error(`floor: claim answered ${claim.kind}`);
    }
  }
  for (let from = 0; from < entries.length; from += 500) {
    await client.send(new PutRecordsCommand({ StreamName: process.env.STREAM_NAME, Records: entries.slice(from, from + 500) }));
  }
  if (store && !(await store.save(key, owner, WrittenSet.empty(event.records.length), { status: ProgressStatus.COMPLETE, failed: '{}' }))) {
    throw new Error('floor: COMPLETE not saved');
  }
  return { recordCount: event.records.length, writtenCount: event.records.length, failedCount: 0 };
}
