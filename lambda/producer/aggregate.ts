import { hashKeyOf, routingHashKey } from '../shared/hash-key';
import { KPL_FRAME_BYTES, keyFieldSize, recordFieldSize, sealAggregate, writeAggregateRecord, writeExplicitHashKeyField, writeMagic, writePartitionKeyField } from '../shared/kpl-codec';
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
  // One pass over the request places each record in its shard's open aggregate (every shard has
  // at most one), then one more writes every aggregate into one slab, then the MD5 trailers.
  // Keys are looked up by string once per record; everything else is by id in arrays.
  const packer = new RequestPacker(records, shardMap, limits);
  for (let i = 0; i < records.length; i++) {
    packer.place(i);
  }
  packer.closeAll();
  return packer.encode();
}

const EMPTY = Buffer.alloc(0);

/**
 * The request's distinct keys (partition keys, or explicit hash keys) by id: UTF-8 bytes, the
 * shard each routes to and, for the aggregate that met it last, its index in that aggregate's table.
 */
class KeyTable {
  public readonly encoded: Buffer[] = [];
  public readonly shard: number[] = [];
  /** The aggregate (generation) that last gave key id k a table index, and that index. */
  public readonly generation: number[] = [];
  public readonly slot: number[] = [];
  private readonly ids = new Map<string, number>();

  public constructor(private readonly route: (key: string) => number) {}

  public idOf(key: string): number {
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.encoded.length;
      this.ids.set(key, id);
      this.encoded.push(Buffer.from(key, 'utf8'));
      this.shard.push(this.route(key));
      this.generation.push(-1);
      this.slot.push(0);
    }
    return id;
  }

  /** Key id's index in the table of aggregate `generation`, or -1 if it has none there yet. */
  public slotIn(id: number, generation: number): number {
    return this.generation[id] === generation ? this.slot[id] : -1;
  }

  public claim(id: number, generation: number, slot: number): void {
    this.generation[id] = generation;
    this.slot[id] = slot;
  }
}

/** An aggregate of one shard: its size while it fills, then its bytes and cursors while it is written. */
class Aggregate {
  /** User records in it, the first one's request position, and its key table lengths. */
  public count = 0;
  public first = -1;
  public keyCount = 0;
  public hashKeyCount = 0;
  /** Encoded size so far: magic, protobuf and MD5; and the part of it the two key tables take. */
  public size = KPL_FRAME_BYTES;
  public keyTableBytes = 0;
  public hashKeyTableBytes = 0;
  /**
   * Table indices of partition keys whose hash falls in another shard (an explicit hash key sent
   * their record here); a key of this shard keeps its index in the KeyTable instead.
   */
  public foreignKeys?: Map<number, number>;

  /** Its bytes in the request's slab and the request indices inside, once encoding starts. */
  public data: Buffer = EMPTY;
  public readonly indices: number[] = [];
  /** Where the next partition key, explicit hash key and record go, and how many keys are written. */
  public keyCursor = 0;
  public hashKeyCursor = 0;
  public recordCursor = 0;
  public keysWritten = 0;
  public hashKeysWritten = 0;

  public constructor(public readonly generation: number, public readonly shard: number, public readonly limit: number) {}
}

/** An item of a shard's output, in order: an aggregate's generation, or `~i` for record i sent raw. */
type Item = number;

class RequestPacker {
  private readonly shards: readonly ShardRange[];
  private readonly keys: KeyTable;
  private readonly hashKeys: KeyTable;
  /** Each shard's aggregate being filled, and its items closed so far. */
  private readonly open: Array<Aggregate | undefined>;
  private readonly items: Item[][];
  /** Every aggregate by generation (0, 1, ...), in the order they were opened. */
  private readonly aggregates: Aggregate[] = [];
  /** Per request position: key ids, the aggregate (generation, -1 if raw) and its table indices there. */
  private readonly keyOf: Int32Array;
  private readonly hashKeyOf: Int32Array;
  private readonly aggregateOf: Int32Array;
  private readonly pkSlotOf: Int32Array;
  private readonly ehkSlotOf: Int32Array;

  public constructor(private readonly records: readonly UserRecord[], shardMap: ShardMap, private readonly limits: ProducerLimits) {
    this.shards = shardMap.shards;
    const position = new Map<ShardRange, number>(this.shards.map((shard, i) => [shard, i]));
    this.keys = new KeyTable((key) => position.get(shardMap.shardFor(hashKeyOf(key)))!);
    this.hashKeys = new KeyTable((key) => position.get(shardMap.shardFor(BigInt(key)))!);
    this.open = new Array<Aggregate | undefined>(this.shards.length).fill(undefined);
    this.items = this.shards.map(() => []);
    this.keyOf = new Int32Array(records.length);
    this.hashKeyOf = new Int32Array(records.length).fill(-1);
    this.aggregateOf = new Int32Array(records.length).fill(-1);
    this.pkSlotOf = new Int32Array(records.length);
    this.ehkSlotOf = new Int32Array(records.length);
  }

  /** Adds record i to its shard's open aggregate, closing that one first if the record does not fit. */
  public place(i: number): void {
    const record = this.records[i];
    const key = this.keys.idOf(record.partitionKey);
    this.keyOf[i] = key;
    let shard = this.keys.shard[key];
    if (record.explicitHashKey !== undefined) {
      const hashKey = this.hashKeys.idOf(record.explicitHashKey);
      this.hashKeyOf[i] = hashKey;
      shard = this.hashKeys.shard[hashKey];
    }
    for (;;) {
      let aggregate = this.open[shard];
      if (aggregate === undefined) {
        // The aggregate travels under its first member's partition key: the entry limit counts it.
        const limit = Math.min(this.limits.maxAggregateBytes, this.limits.maxEntryBytes - this.keys.encoded[key].length);
        aggregate = new Aggregate(this.aggregates.length, shard, limit);
        this.aggregates.push(aggregate);
        this.open[shard] = aggregate;
      }
      if (aggregate.count < this.limits.maxRecordsPerAggregate && this.tryAdd(aggregate, i)) {
        return;
      }
      if (aggregate.count === 0) {
        this.items[shard].push(~i); // too big to share an aggregate: alone, raw
        this.open[shard] = undefined;
        return;
      }
      this.close(shard); // full: start the next aggregate with this record
    }
  }

  /** Ends every shard's open aggregate once the request is placed. */
  public closeAll(): void {
    for (let shard = 0; shard < this.open.length; shard++) {
      this.close(shard);
    }
  }

  /**
   * Writes every aggregate of two or more records into one slab: each record, in request order,
   * at its aggregate's cursor, a key into its aggregate's table the first time the aggregate meets
   * it; each aggregate gets its MD5 trailer as its entry is made. Returns the entries shard by
   * shard, each shard's in order.
   */
  public encode(): KinesisEntry[] {
    this.allocate();
    for (let i = 0; i < this.records.length; i++) {
      this.write(i);
    }
    const entries: KinesisEntry[] = [];
    for (let shard = 0; shard < this.shards.length; shard++) {
      for (const item of this.items[shard]) {
        entries.push(item < 0 ? rawEntry(this.records[~item], this.shards[shard]) : this.entryOf(this.aggregates[item]));
      }
    }
    return entries;
  }

  /** Gives each aggregate of two or more records its slice of one slab and writes its magic. */
  private allocate(): void {
    let total = 0;
    for (const aggregate of this.aggregates) {
      if (aggregate.count > 1) {
        total += aggregate.size;
      }
    }
    const slab = Buffer.allocUnsafe(total);
    let offset = 0;
    for (const aggregate of this.aggregates) {
      if (aggregate.count > 1) {
        aggregate.data = slab.subarray(offset, offset + aggregate.size);
        offset += aggregate.size;
        aggregate.keyCursor = writeMagic(aggregate.data);
        aggregate.hashKeyCursor = aggregate.keyCursor + aggregate.keyTableBytes;
        aggregate.recordCursor = aggregate.hashKeyCursor + aggregate.hashKeyTableBytes;
      }
    }
  }

  /** Writes record i, and any key its aggregate meets for the first time, at its aggregate's cursors. */
  private write(i: number): void {
    const generation = this.aggregateOf[i];
    if (generation < 0) {
      return;
    }
    const aggregate = this.aggregates[generation];
    if (aggregate.count < 2) {
      return; // sent raw
    }
    const { data } = aggregate;
    // Table indices are handed out in order of first use, so a record holding the next unwritten
    // index is the first of its aggregate with that key.
    const pk = this.pkSlotOf[i];
    if (pk === aggregate.keysWritten) {
      aggregate.keyCursor = writePartitionKeyField(data, aggregate.keyCursor, this.keys.encoded[this.keyOf[i]]);
      aggregate.keysWritten++;
    }
    const ehk = this.ehkSlotOf[i];
    if (ehk >= 0 && ehk === aggregate.hashKeysWritten) {
      aggregate.hashKeyCursor = writeExplicitHashKeyField(data, aggregate.hashKeyCursor, this.hashKeys.encoded[this.hashKeyOf[i]]);
      aggregate.hashKeysWritten++;
    }
    const record = this.records[i];
    aggregate.recordCursor = writeAggregateRecord(data, aggregate.recordCursor, pk, ehk, record.data);
    aggregate.indices.push(record.index);
  }

  private entryOf(aggregate: Aggregate): KinesisEntry {
    const { data } = aggregate;
    sealAggregate(data, aggregate.recordCursor);
    const shard = this.shards[aggregate.shard];
    const first = aggregate.first;
    return {
      data,
      partitionKey: this.records[first].partitionKey,
      explicitHashKey: shard.start.toString(),
      shardId: shard.shardId,
      indices: aggregate.indices,
      size: data.length + this.keys.encoded[this.keyOf[first]].length,
    };
  }

  /** Ends the shard's open aggregate: an item of its shard, raw if it holds one record. */
  private close(shard: number): void {
    const aggregate = this.open[shard];
    if (aggregate?.count === 1) {
      this.items[shard].push(~aggregate.first);
    } else if (aggregate !== undefined && aggregate.count > 1) {
      this.items[shard].push(aggregate.generation);
    }
    this.open[shard] = undefined;
  }

  /** Adds record i to `aggregate` if it stays within the aggregate's limit; false (nothing added) if not. */
  private tryAdd(aggregate: Aggregate, i: number): boolean {
    const { keys, hashKeys } = this;
    const key = this.keyOf[i];
    const hashKey = this.hashKeyOf[i];
    const home = keys.shard[key] === aggregate.shard;
    let pk = home ? keys.slotIn(key, aggregate.generation) : aggregate.foreignKeys?.get(key) ?? -1;
    const newKey = pk < 0;
    const keyGrow = newKey ? keyFieldSize(keys.encoded[key].length) : 0;
    if (newKey) {
      pk = aggregate.keyCount;
    }
    let ehk = -1;
    let hashKeyGrow = 0;
    if (hashKey >= 0) {
      ehk = hashKeys.slotIn(hashKey, aggregate.generation);
      if (ehk < 0) {
        ehk = aggregate.hashKeyCount;
        hashKeyGrow = keyFieldSize(hashKeys.encoded[hashKey].length);
      }
    }
    const newHashKey = hashKeyGrow > 0;
    const grow = keyGrow + hashKeyGrow + recordFieldSize(pk, ehk, this.records[i].data.length);
    if (aggregate.size + grow > aggregate.limit) {
      return false;
    }
    aggregate.size += grow;
    aggregate.keyTableBytes += keyGrow;
    aggregate.hashKeyTableBytes += hashKeyGrow;
    if (newKey) {
      if (home) {
        keys.claim(key, aggregate.generation, pk);
      } else {
        (aggregate.foreignKeys ??= new Map()).set(key, pk);
      }
      aggregate.keyCount++;
    }
    if (newHashKey) {
      hashKeys.claim(hashKey, aggregate.generation, ehk);
      aggregate.hashKeyCount++;
    }
    if (aggregate.count === 0) {
      aggregate.first = i;
    }
    aggregate.count++;
    this.aggregateOf[i] = aggregate.generation;
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
  return records.map((record) => rawEntry(record, shardMap.shardFor(routingHashKey(record))));
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
