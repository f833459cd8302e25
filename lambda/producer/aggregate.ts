import { hashKeyOf } from '../shared/hash-key';
import { KplAggregateBuilder } from '../shared/kpl-codec';
import type { ShardMap, ShardRange } from '../shared/shard-map';
import type { ProducerLimits } from './limits';

/** A validated user record; `index` is its position in the request. */
export interface UserRecord {
  readonly index: number;
  readonly partitionKey: string;
  readonly explicitHashKey?: string;
  readonly data: Buffer;
}

/** One PutRecords entry and the user records it carries. */
export interface KinesisEntry {
  readonly data: Buffer;
  readonly partitionKey: string;
  readonly explicitHashKey?: string;
  /** The shard the entry is routed to, by the shard map it was planned with. */
  readonly shardId: string;
  /** Request indices of the user records inside, in order. */
  readonly indices: readonly number[];
  /** Bytes PutRecords counts: data plus partition key. */
  readonly size: number;
}

/**
 * Groups user records by the shard their hash key falls in and packs each shard's records, in
 * request order, into KPL aggregated records no larger than the limits. An aggregate carries only
 * records of one shard and is sent with that shard's starting hash key as its ExplicitHashKey, so
 * Kinesis stores it on the shard that owns every record inside (KCL drops records that do not).
 * An aggregate of one record goes out raw, with the record's own keys, as the KPL does.
 */
export function planEntries(records: readonly UserRecord[], shardMap: ShardMap, limits: ProducerLimits): KinesisEntry[] {
  // One pass assigns each record its shard's position (partition keys hashed once each), then one
  // pass per shard packs that shard's records in request order: no per-shard copies of the input.
  const shards = shardMap.shards;
  const position = new Map<ShardRange, number>(shards.map((shard, i) => [shard, i]));
  const shardOfKey = new Map<string, number>();
  const assigned = new Int32Array(records.length);
  const counts = new Int32Array(shards.length);
  for (let i = 0; i < records.length; i++) {
    const record = records[i];
    let at: number | undefined;
    if (record.explicitHashKey !== undefined) {
      at = position.get(shardMap.shardFor(BigInt(record.explicitHashKey)))!;
    } else {
      at = shardOfKey.get(record.partitionKey);
      if (at === undefined) {
        at = position.get(shardMap.shardFor(hashKeyOf(record.partitionKey)))!;
        shardOfKey.set(record.partitionKey, at);
      }
    }
    assigned[i] = at;
    counts[at]++;
  }
  const packed: Packed[] = [];
  for (let at = 0; at < shards.length; at++) {
    if (counts[at] > 0) {
      packShard(shards[at], records, assigned, at, limits, packed);
    }
  }
  // Every aggregate's size is known before encoding: encode them all into one allocation.
  let total = 0;
  for (const item of packed) {
    total += item.builder?.size ?? 0;
  }
  const slab = Buffer.allocUnsafe(total);
  let offset = 0;
  return packed.map((item) => {
    if (!item.builder) {
      return item.entry;
    }
    const data = item.builder.encodeInto(slab, offset);
    offset += data.length;
    return { ...item.entry, data, size: data.length + item.entry.size };
  });
}

/** An entry still to encode (`builder` set, `entry.size` holds the key bytes) or a raw one. */
interface Packed {
  readonly entry: KinesisEntry;
  readonly builder?: KplAggregateBuilder;
}

const EMPTY = Buffer.alloc(0);

function packShard(shard: ShardRange, records: readonly UserRecord[], assigned: Int32Array, position: number, limits: ProducerLimits, out: Packed[]): void {
  const explicitHashKey = shard.start.toString();
  let builder = new KplAggregateBuilder();
  let members: UserRecord[] = [];
  let keyBytes = 0; // UTF-8 bytes of the first member's partition key (the aggregate's own key)
  let limit = limits.maxAggregateBytes;
  const flush = (): void => {
    if (members.length === 1) {
      out.push({ entry: rawEntry(members[0], shard) });
    } else if (members.length > 1) {
      const indices = new Array<number>(members.length);
      for (let i = 0; i < members.length; i++) {
        indices[i] = members[i].index;
      }
      out.push({ builder, entry: { data: EMPTY, partitionKey: members[0].partitionKey, explicitHashKey, shardId: shard.shardId, indices, size: keyBytes } });
    }
    builder = new KplAggregateBuilder();
    members = [];
  };
  for (let i = 0; i < records.length; i++) {
    if (assigned[i] !== position) {
      continue;
    }
    const record = records[i];
    for (;;) {
      if (members.length === 0) {
        keyBytes = Buffer.byteLength(record.partitionKey, 'utf8');
        limit = Math.min(limits.maxAggregateBytes, limits.maxEntryBytes - keyBytes);
      }
      if (members.length < limits.maxRecordsPerAggregate && builder.tryAdd(record, limit)) {
        members.push(record);
        break;
      }
      if (members.length === 0) {
        out.push({ entry: rawEntry(record, shard) }); // too big to share an aggregate: alone, raw
        break;
      }
      flush(); // full: start the next aggregate with this record
    }
  }
  flush();
}

function rawEntry(record: UserRecord, shard: ShardRange): KinesisEntry {
  return {
    data: record.data,
    partitionKey: record.partitionKey,
    ...(record.explicitHashKey === undefined ? {} : { explicitHashKey: record.explicitHashKey }),
    shardId: shard.shardId,
    indices: [record.index],
    size: record.data.length + Buffer.byteLength(record.partitionKey),
  };
}

/** Splits entries, in order, into PutRecords requests within the entry-count and byte limits. */
export function batchEntries(entries: readonly KinesisEntry[], limits: ProducerLimits): KinesisEntry[][] {
  const batches: KinesisEntry[][] = [];
  let batch: KinesisEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (batch.length > 0 && (batch.length >= limits.maxBatchEntries || bytes + entry.size > limits.maxBatchBytes)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(entry);
    bytes += entry.size;
  }
  if (batch.length > 0) {
    batches.push(batch);
  }
  return batches;
}
