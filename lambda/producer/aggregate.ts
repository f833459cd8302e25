import { hashKeyOf } from '../shared/hash-key';
import { KPL_FRAME_BYTES, keyFieldSize, recordFieldSize, sealAggregate, writeAggregateHead, writeAggregateRecord } from '../shared/kpl-codec';
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
  // One pass gives each distinct partition key an id (hashed and placed once) and each record its
  // shard; then one pass per shard packs that shard's records in request order. Key tables are
  // looked up by id in typed arrays, not by string, and every aggregate is encoded into one slab.
  const shards = shardMap.shards;
  const position = new Map<ShardRange, number>(shards.map((shard, i) => [shard, i]));
  const keys = new KeyTable();
  const keyOf = new Int32Array(records.length);
  const assigned = new Int32Array(records.length);
  const counts = new Int32Array(shards.length);
  for (let i = 0; i < records.length; i++) {
    const record = records[i];
    const id = keys.idOf(record.partitionKey, shardMap, position);
    keyOf[i] = id;
    const at = record.explicitHashKey === undefined ? keys.shard[id] : position.get(shardMap.shardFor(BigInt(record.explicitHashKey)))!;
    assigned[i] = at;
    counts[at]++;
  }
  const packer = new ShardPacker(records, keyOf, keys, limits);
  const packed: Array<KinesisEntry | Aggregate> = [];
  for (let at = 0; at < shards.length; at++) {
    if (counts[at] > 0) {
      packer.pack(shards[at], assigned, at, packed);
    }
  }
  // Encode every aggregate into one slab: the key tables of each first, then the user records in
  // request order, each at its aggregate's cursor (the input is read front to back, not shard by
  // shard), then the MD5 trailers.
  const aggregates = packed.filter((item): item is Aggregate => item instanceof Aggregate);
  const aggregateOf = new Int32Array(records.length).fill(-1);
  let total = 0;
  aggregates.forEach((aggregate, id) => {
    total += aggregate.size;
    for (const i of aggregate.members) {
      aggregateOf[i] = id;
    }
  });
  const slab = Buffer.allocUnsafe(total);
  const cursors: number[] = [];
  let offset = 0;
  for (const aggregate of aggregates) {
    aggregate.data = slab.subarray(offset, offset + aggregate.size);
    offset += aggregate.size;
    cursors.push(writeAggregateHead(aggregate.data, aggregate.keyIds.map((id) => keys.encoded[id]), aggregate.hashKeyList.map((key) => Buffer.from(key, 'utf8'))));
  }
  const { pkSlotOf, ehkSlotOf } = packer;
  for (let i = 0; i < records.length; i++) {
    const id = aggregateOf[i];
    if (id >= 0) {
      cursors[id] = writeAggregateRecord(aggregates[id].data, cursors[id], pkSlotOf[i], ehkSlotOf[i], records[i].data);
    }
  }
  aggregates.forEach((aggregate, id) => sealAggregate(aggregate.data, cursors[id]));
  return packed.map((item) => {
    if (!(item instanceof Aggregate)) {
      return item;
    }
    const { data } = item;
    const first = item.members[0];
    return {
      data,
      partitionKey: records[first].partitionKey,
      explicitHashKey: item.shard.start.toString(),
      shardId: item.shard.shardId,
      indices: item.members.map((i) => records[i].index),
      size: data.length + keys.encoded[keyOf[first]].length,
    };
  });
}

const EMPTY = Buffer.alloc(0);

/** The request's distinct partition keys by id: UTF-8 bytes and the shard each hashes to. */
class KeyTable {
  public readonly encoded: Buffer[] = [];
  public readonly shard: number[] = [];
  private readonly ids = new Map<string, number>();

  public get size(): number {
    return this.encoded.length;
  }

  public idOf(partitionKey: string, shardMap: ShardMap, position: ReadonlyMap<ShardRange, number>): number {
    let id = this.ids.get(partitionKey);
    if (id === undefined) {
      id = this.encoded.length;
      this.ids.set(partitionKey, id);
      this.encoded.push(Buffer.from(partitionKey, 'utf8'));
      this.shard.push(position.get(shardMap.shardFor(hashKeyOf(partitionKey)))!);
    }
    return id;
  }
}

/** An aggregate being filled: its members (request positions) and its key tables. */
class Aggregate {
  public readonly members: number[] = [];
  /** Partition key ids in table order. */
  public readonly keyIds: number[] = [];
  public readonly hashKeyList: string[] = [];
  public readonly hashKeys = new Map<string, number>();
  /** Encoded size so far: magic, protobuf and MD5. */
  public size = KPL_FRAME_BYTES;
  /** Its bytes in the request's slab, once encoding starts. */
  public data: Buffer = EMPTY;

  public constructor(public readonly shard: ShardRange, public readonly limit: number) {}
}

class ShardPacker {
  // Which aggregate (generation) last gave key id k a table index, and that index: a key's slot
  // is valid only in its own aggregate, so nothing needs clearing between aggregates.
  private readonly generationOf: Int32Array;
  private readonly slotOf: Int32Array;
  private generation = 0;
  /** Per request position: the record's partition and explicit hash key table indices in its aggregate. */
  public readonly pkSlotOf: Int32Array;
  public readonly ehkSlotOf: Int32Array;

  public constructor(
    private readonly records: readonly UserRecord[],
    private readonly keyOf: Int32Array,
    private readonly keys: KeyTable,
    private readonly limits: ProducerLimits,
  ) {
    this.generationOf = new Int32Array(keys.size).fill(-1);
    this.slotOf = new Int32Array(keys.size);
    this.pkSlotOf = new Int32Array(records.length);
    this.ehkSlotOf = new Int32Array(records.length);
  }

  public pack(shard: ShardRange, assigned: Int32Array, position: number, out: Array<KinesisEntry | Aggregate>): void {
    const { records, limits } = this;
    let current: Aggregate | undefined;
    const flush = (): void => {
      if (current?.members.length === 1) {
        out.push(rawEntry(records[current.members[0]], shard));
      } else if (current !== undefined && current.members.length > 1) {
        out.push(current);
      }
      current = undefined;
    };
    for (let i = 0; i < records.length; i++) {
      if (assigned[i] !== position) {
        continue;
      }
      for (;;) {
        if (current === undefined) {
          // The aggregate travels under its first member's partition key: the entry limit counts it.
          current = new Aggregate(shard, Math.min(limits.maxAggregateBytes, limits.maxEntryBytes - this.keys.encoded[this.keyOf[i]].length));
          this.generation++;
        }
        if (current.members.length < limits.maxRecordsPerAggregate && this.tryAdd(current, i)) {
          break;
        }
        if (current.members.length === 0) {
          out.push(rawEntry(records[i], shard)); // too big to share an aggregate: alone, raw
          current = undefined;
          break;
        }
        flush(); // full: start the next aggregate with this record
      }
    }
    flush();
  }

  private tryAdd(aggregate: Aggregate, i: number): boolean {
    const record = this.records[i];
    const id = this.keyOf[i];
    let grow = 0;
    const known = this.generationOf[id] === this.generation;
    const pk = known ? this.slotOf[id] : aggregate.keyIds.length;
    if (!known) {
      grow += keyFieldSize(this.keys.encoded[id].length);
    }
    let ehk = -1;
    if (record.explicitHashKey !== undefined) {
      const slot = aggregate.hashKeys.get(record.explicitHashKey);
      ehk = slot ?? aggregate.hashKeyList.length;
      if (slot === undefined) {
        grow += keyFieldSize(Buffer.byteLength(record.explicitHashKey, 'utf8'));
      }
    }
    grow += recordFieldSize(pk, ehk, record.data.length);
    if (aggregate.size + grow > aggregate.limit) {
      return false;
    }
    aggregate.size += grow;
    if (!known) {
      this.generationOf[id] = this.generation;
      this.slotOf[id] = pk;
      aggregate.keyIds.push(id);
    }
    if (record.explicitHashKey !== undefined && ehk === aggregate.hashKeyList.length) {
      aggregate.hashKeys.set(record.explicitHashKey, ehk);
      aggregate.hashKeyList.push(record.explicitHashKey);
    }
    aggregate.members.push(i);
    this.pkSlotOf[i] = pk;
    this.ehkSlotOf[i] = ehk;
    return true;
  }
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

/** Each record as an entry of its own, raw, routed by its own keys (the map names the shard expected). */
export function rawEntries(records: readonly UserRecord[], shardMap: ShardMap): KinesisEntry[] {
  return records.map((record) => rawEntry(record, shardMap.shardFor(record.explicitHashKey === undefined ? hashKeyOf(record.partitionKey) : BigInt(record.explicitHashKey))));
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
