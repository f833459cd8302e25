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
  const byShard = new Map<ShardRange, UserRecord[]>();
  const shardOfKey = new Map<string, ShardRange>();
  for (const record of records) {
    let shard: ShardRange | undefined;
    if (record.explicitHashKey !== undefined) {
      shard = shardMap.shardFor(BigInt(record.explicitHashKey));
    } else {
      shard = shardOfKey.get(record.partitionKey);
      if (shard === undefined) {
        shard = shardMap.shardFor(hashKeyOf(record.partitionKey));
        shardOfKey.set(record.partitionKey, shard);
      }
    }
    let group = byShard.get(shard);
    if (group === undefined) {
      group = [];
      byShard.set(shard, group);
    }
    group.push(record);
  }
  const entries: KinesisEntry[] = [];
  for (const [shard, group] of byShard) {
    packShard(shard, group, limits, entries);
  }
  return entries;
}

function packShard(shard: ShardRange, records: readonly UserRecord[], limits: ProducerLimits, out: KinesisEntry[]): void {
  const explicitHashKey = shard.start.toString();
  let builder = new KplAggregateBuilder();
  let members: UserRecord[] = [];
  const flush = (): void => {
    if (members.length === 1) {
      out.push(rawEntry(members[0], shard));
    } else if (members.length > 1) {
      const data = builder.encode();
      const partitionKey = members[0].partitionKey;
      out.push({ data, partitionKey, explicitHashKey, shardId: shard.shardId, indices: members.map((m) => m.index), size: data.length + Buffer.byteLength(partitionKey) });
    }
    builder = new KplAggregateBuilder();
    members = [];
  };
  for (const record of records) {
    const size = builder.sizeWith(record);
    const fits = members.length < limits.maxRecordsPerAggregate
      && size <= limits.maxAggregateBytes
      && size + Buffer.byteLength(members[0]?.partitionKey ?? record.partitionKey) <= limits.maxEntryBytes;
    if (!fits) {
      flush();
      if (builder.sizeWith(record) > limits.maxAggregateBytes) {
        out.push(rawEntry(record, shard)); // too big to share an aggregate: alone, raw
        continue;
      }
    }
    builder.add(record);
    members.push(record);
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
