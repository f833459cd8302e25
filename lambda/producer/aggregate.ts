import { hashKeyOf, routingHashKey } from '../shared/hash-key';
import { encodeLoneAggregate } from '../shared/kpl-codec';
import type { ShardMap } from '../shared/shard-map';
import type { ProducerLimits } from './limits';
import { groupKey, groupOf, groupsOn } from './ordering';
import { RequestPacker, rawEntry } from './packer';
import type { SlabLease } from './slab-pool';

/** A validated user record; `index` is its position in the request. */
export interface ProducerRecord {
  readonly index: number;
  readonly partitionKey: string;
  readonly explicitHashKey?: string;
  /**
   * The user's bytes, or text sent as its UTF-8 bytes: validation keeps a request's texts as they
   * are and the packer writes them straight into the aggregates (no Buffer per record).
   */
  readonly data: Uint8Array | string;
  /** Bytes of `data` (UTF-8 for text), when known already. */
  readonly dataBytes?: number;
  /**
   * The partition key's number in its request, when validation gave one: every record with the
   * same key has the same number and records with different keys different ones, from 0 up in
   * order of first use. The packer then finds a key by it instead of by its string.
   */
  readonly keyId?: number;
}

/** Bytes of a record's data (UTF-8 for text). */
export function dataBytesOf(record: ProducerRecord): number {
  const { data } = record;
  return record.dataBytes ?? (typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.length);
}

/** A record's data as bytes (a view of them when it holds bytes). */
export function dataOf(record: ProducerRecord): Buffer {
  const { data } = record;
  return typeof data === 'string'
    ? Buffer.from(data, 'utf8')
    : Buffer.isBuffer(data)
      ? data
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
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
  /**
   * Entries of one cell (a shard, or a shard and ordering group) in different lanes share no user
   * partition key, so they may be in flight at once; a cell's entries in one lane go in the order
   * planned. Absent where entries were planned in request order (`planEntries` with `byKey` false).
   */
  readonly lane?: number;
}

/**
 * Groups user records by the shard their hash key falls in and, with ordering groups, by their
 * partition key's group (`ordering.ts`), and packs each (shard, group) cell's records into KPL
 * aggregated records no larger than the limits: key by key (each key's records in request order,
 * all in one aggregate when they fit one), so a cell's aggregates hold different keys and may be
 * in flight at once (`KinesisEntry.lane`); with `byKey` false, in request order (each cell's
 * aggregates then share keys and go one after the other). An aggregate carries only records
 * of one shard and is sent with that shard's starting hash key as its ExplicitHashKey, so Kinesis
 * stores it on the shard that owns every record inside (KCL drops records that do not). With
 * ordering groups it travels under its group's key, so every record of a user key has the same
 * outer partition key; a lone record goes as a one-record aggregate under that key, routed by its
 * own hash key. Without groups (G = 0) an aggregate travels under its first record's key and a
 * lone record goes raw with its own keys, as the KPL does. With a `lease`, the aggregates' bytes
 * are lent by it (slab-pool.ts): the entries are good until the lease is given back.
 */
export function planEntries(
  records: readonly ProducerRecord[],
  shardMap: ShardMap,
  limits: ProducerLimits,
  lease?: SlabLease,
  byKey = true,
): KinesisEntry[] {
  // One pass over the request learns each record's key, size and cell; one places each record in
  // its cell's open aggregate (every cell has at most one), key by key; one more writes every
  // aggregate, then the MD5 trailers.
  const packer = new RequestPacker(records, shardMap, limits);
  packer.index(byKey);
  packer.placeAll();
  packer.closeAll();
  return packer.encode(lease);
}

/**
 * Each record in an entry of its own, stored where Kinesis routes the record itself (its explicit
 * hash key, else its partition key's hash key) whatever the map says; the map names the shard
 * expected. With ordering groups, as a one-record aggregate under its group's key with that hash
 * key as ExplicitHashKey; otherwise raw, with its own keys.
 */
export function loneEntries(records: readonly ProducerRecord[], shardMap: ShardMap, limits: ProducerLimits): KinesisEntry[] {
  const grouped = groupsOn(limits);
  return records.map((record) => {
    const hashKey = routingHashKey(record);
    const shard = shardMap.shardFor(hashKey);
    if (!grouped) {
      return rawEntry(record, shard);
    }
    const partitionKey = groupKey(groupOf(hashKeyOf(record.partitionKey), limits.orderingGroups));
    const data = encodeLoneAggregate({
      partitionKey: record.partitionKey,
      ...(record.explicitHashKey === undefined ? {} : { explicitHashKey: record.explicitHashKey }),
      data: dataOf(record),
    });
    return {
      data,
      partitionKey,
      explicitHashKey: hashKey.toString(),
      shardId: shard.shardId,
      indices: [record.index],
      size: data.length + Buffer.byteLength(partitionKey),
    };
  });
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
