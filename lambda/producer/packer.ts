import { rememberedHashKeyOf } from '../shared/hash-key';
import {
  KPL_FRAME_BYTES,
  keyFieldSize,
  recordFieldSize,
  sealAggregate,
  writeAggregateRecord,
  writeExplicitHashKeyField,
  writeMagic,
  writePartitionKeyField,
} from '../shared/kpl-codec';
import type { ShardMap, ShardRange } from '../shared/shard-map';
import { dataBytesOf, dataOf, type KinesisEntry, type ProducerRecord } from './aggregate';
import type { ProducerLimits } from './limits';
import { groupKey, groupOf, groupsOn } from './ordering';

/** A user record that cannot go in any entry: larger than the entry limit once framed (the request validation refuses these). */
export class EntryTooLargeError extends Error {
  public override readonly name = 'EntryTooLargeError';
  constructor(
    public readonly index: number,
    limit: number,
  ) {
    super(`record ${index} does not fit an entry of ${limit} bytes as a one-record KPL aggregate`);
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * The request's cells: one per (shard, ordering group) met, by dense id. An aggregate holds records
 * of one cell. Without ordering groups every shard is one cell (group 0).
 */
class Cells {
  public readonly shard: number[] = [];
  public readonly group: number[] = [];
  private readonly ids = new Map<number, number>();

  public constructor(private readonly groups: number) {}

  public idOf(shard: number, group: number): number {
    const code = shard * this.groups + group;
    let id = this.ids.get(code);
    if (id === undefined) {
      id = this.shard.length;
      this.ids.set(code, id);
      this.shard.push(shard);
      this.group.push(group);
    }
    return id;
  }
}

/**
 * The request's distinct keys (partition keys, or explicit hash keys) by id: UTF-8 bytes, where
 * each routes (a partition key: its cell; an explicit hash key: its shard) and, for the aggregate
 * that claimed it last, its index in that aggregate's table. A key met for the first time is
 * routed by the packer's methods (not a closure per request: optimised code keeps its call target
 * from one request to the next).
 */
class KeyTable {
  public readonly encoded: Buffer[] = [];
  public readonly route: number[] = [];
  /** A partition key's ordering group (0 without groups). */
  public readonly group: number[] = [];
  /** The aggregate (generation) that last gave key id k a table index, and that index. */
  public readonly generation: number[] = [];
  public readonly slot: number[] = [];
  private readonly ids = new Map<string, number>();

  public constructor(
    private readonly packer: RequestPacker,
    private readonly explicit: boolean,
  ) {}

  public idOf(key: string): number {
    const id = this.ids.get(key);
    return id === undefined ? this.add(key) : id;
  }

  /** Key id's index in the table of aggregate `generation`, or -1 if it has none there yet. */
  public slotIn(id: number, generation: number): number {
    return this.generation[id] === generation ? this.slot[id] : -1;
  }

  public claim(id: number, generation: number, slot: number): void {
    this.generation[id] = generation;
    this.slot[id] = slot;
  }

  private add(key: string): number {
    const id = this.encoded.length;
    this.ids.set(key, id);
    this.encoded.push(Buffer.from(key, 'utf8'));
    if (this.explicit) {
      this.route.push(this.packer.shardOfHashKey(BigInt(key)));
      this.group.push(0);
    } else {
      const hashKey = rememberedHashKeyOf(key);
      const group = this.packer.groupOfHashKey(hashKey);
      this.route.push(this.packer.cellOf(this.packer.shardOfHashKey(hashKey), group));
      this.group.push(group);
    }
    this.generation.push(-1);
    this.slot.push(0);
    return id;
  }
}

/** An aggregate of one cell: its size and records while it fills, then its bytes once closed. */
class Aggregate {
  /** User records in it, the first one's request position and partition key id, and its key table lengths. */
  public count = 0;
  public first = -1;
  public firstKey = -1;
  public keyCount = 0;
  public hashKeyCount = 0;
  public closed = false;
  /** Encoded size so far: magic, protobuf and MD5; and the part of it the two key tables take. */
  public size = KPL_FRAME_BYTES;
  public keyTableBytes = 0;
  public hashKeyTableBytes = 0;
  /** Bytes of its `records` fields written so far, in its cell's record buffer. */
  public recordBytes = 0;
  /**
   * Table indices of partition keys of another cell (an explicit hash key sent their record
   * here), and of explicit hash keys another open aggregate holds in the KeyTable.
   */
  public foreignKeys?: Map<number, number>;
  public foreignHashKeys?: Map<number, number>;
  /** Its key tables (key ids by table index) and the request indices of its records, in order. */
  public readonly keyIds: number[] = [];
  public readonly hashKeyIds: number[] = [];
  public readonly indices: number[] = [];
  /** Its encoded bytes, once it is closed with enough records to be encoded. */
  public data: Buffer = EMPTY;

  public constructor(
    public readonly generation: number,
    public readonly cell: number,
    public readonly shard: number,
    public limit: number,
  ) {}
}

/**
 * Each cell's record buffer: the `records` fields of the cell's open aggregate, written as the
 * records are placed (the key tables, which come first in an aggregate, are known only when it
 * closes). Kept across requests: a container's later requests write into memory already touched.
 * A buffer grown past `RETAINED_RECORD_BUFFER` bytes (a large lone record) is dropped after its
 * request. One packer uses them at a time (`planEntries` packs a request synchronously): the
 * packer that owns them is the one constructed last, and an older one that goes on placing throws.
 */
const recordBuffers: Buffer[] = [];
const RETAINED_RECORD_BUFFER = 2 * 1024 * 1024;
/** The number of the packer that owns them (packers are numbered as they are made), 0 for none. */
let recordBuffersOwner = 0;
let packersMade = 0;

/** Cell `cell`'s record buffer, at least `bytes` long, keeping its first `keep` bytes. */
function recordBufferOf(cell: number, bytes: number, keep: number): Buffer {
  const buffer = recordBuffers[cell];
  if (buffer !== undefined && buffer.length >= bytes) {
    return buffer;
  }
  const grown = Buffer.allocUnsafe(Math.max(bytes, 2 * (buffer?.length ?? 0), 16 * 1024));
  if (buffer !== undefined && keep > 0) {
    buffer.copy(grown, 0, 0, keep);
  }
  recordBuffers[cell] = grown;
  return grown;
}

/** An item of a shard's output, in order: an aggregate's generation, or `~i` for record i sent raw. */
type Item = number;

/**
 * Packs one request in one pass: `place` puts each record, in request order, into its cell's
 * open aggregate (every cell has at most one) and writes its `records` field into the cell's
 * record buffer; closing an aggregate writes its magic and key tables, copies its records after
 * them and adds the MD5 trailer; `encode` makes the entries. Keys are looked up by string once
 * per record; everything else is by id in arrays.
 */
export class RequestPacker {
  private readonly shards: readonly ShardRange[];
  private readonly groups: number;
  /** Aggregates of this many records or more are encoded; smaller ones go raw (1 with groups: none raw). */
  private readonly minAggregated: number;
  private readonly cells: Cells;
  private readonly keys: KeyTable;
  private readonly hashKeys: KeyTable;
  /** Each cell's aggregate being filled; each shard's items closed so far. */
  private readonly open: Array<Aggregate | undefined> = [];
  private readonly items: Item[][];
  /** Every aggregate by generation (0, 1, ...), in the order they were opened. */
  private readonly aggregates: Aggregate[] = [];
  /** Group keys by group, UTF-8. */
  private readonly groupKeys: Buffer[] = [];
  /** Each shard's position in `shards`. */
  private readonly position: Map<ShardRange, number>;
  /** This packer's number, to tell whether it owns the record buffers. */
  private readonly ticket = ++packersMade;

  public constructor(
    private readonly records: readonly ProducerRecord[],
    private readonly shardMap: ShardMap,
    private readonly limits: ProducerLimits,
  ) {
    this.shards = shardMap.shards;
    const grouped = groupsOn(limits);
    this.groups = grouped ? limits.orderingGroups : 0;
    this.minAggregated = grouped ? 1 : 2;
    this.cells = new Cells(Math.max(1, this.groups));
    this.position = new Map<ShardRange, number>(this.shards.map((shard, i) => [shard, i]));
    this.keys = new KeyTable(this, false);
    this.hashKeys = new KeyTable(this, true);
    this.items = this.shards.map(() => []);
    recordBuffersOwner = this.ticket;
  }

  /** The position of the shard that owns `hashKey`. */
  public shardOfHashKey(hashKey: bigint): number {
    return this.position.get(this.shardMap.shardFor(hashKey))!;
  }

  /** A partition key's ordering group by its hash key (0 without groups). */
  public groupOfHashKey(hashKey: bigint): number {
    return this.groups > 0 ? groupOf(hashKey, this.groups) : 0;
  }

  /** The dense id of cell (shard position, group). */
  public cellOf(shard: number, group: number): number {
    return this.cells.idOf(shard, group);
  }

  /** Adds record i to its cell's open aggregate, closing that one first if the record does not fit. */
  public place(i: number): void {
    this.checkOwner();
    const record = this.records[i];
    const bytes = dataBytesOf(record);
    const key = this.keys.idOf(record.partitionKey);
    let cell = this.keys.route[key];
    let hashKey = -1;
    if (record.explicitHashKey !== undefined) {
      hashKey = this.hashKeys.idOf(record.explicitHashKey);
      cell = this.cells.idOf(this.hashKeys.route[hashKey], this.keys.group[key]);
    }
    for (;;) {
      let aggregate = this.open[cell];
      if (aggregate === undefined) {
        // The entry limit counts the partition key the aggregate travels under.
        const limit = Math.min(this.limits.maxAggregateBytes, this.limits.maxEntryBytes - this.outerKeyBytes(cell, key));
        aggregate = new Aggregate(this.aggregates.length, cell, this.cells.shard[cell], limit);
        this.aggregates.push(aggregate);
        this.open[cell] = aggregate;
      }
      if (aggregate.count < this.limits.maxRecordsPerAggregate && this.tryAdd(aggregate, i, record, key, hashKey, bytes)) {
        return;
      }
      if (aggregate.count === 0) {
        this.alone(aggregate, i, record, key, hashKey, bytes); // too big to share an aggregate
        return;
      }
      this.close(cell); // full: start the next aggregate with this record
    }
  }

  /** Ends every cell's open aggregate once the request is placed. */
  public closeAll(): void {
    this.checkOwner();
    for (let cell = 0; cell < this.open.length; cell++) {
      this.close(cell);
    }
    recordBuffersOwner = 0;
    for (let cell = 0; cell < recordBuffers.length; cell++) {
      if (recordBuffers[cell] !== undefined && recordBuffers[cell].length > RETAINED_RECORD_BUFFER) {
        recordBuffers[cell] = EMPTY;
      }
    }
  }

  /** The entries, shard by shard, each shard's in order (every aggregate closed: `closeAll`). */
  public encode(): KinesisEntry[] {
    const entries: KinesisEntry[] = [];
    for (let shard = 0; shard < this.shards.length; shard++) {
      for (const item of this.items[shard]) {
        entries.push(item < 0 ? rawEntry(this.records[~item], this.shards[shard]) : this.entryOf(this.aggregates[item]));
      }
    }
    return entries;
  }

  private checkOwner(): void {
    if (recordBuffersOwner !== this.ticket) {
      throw new Error('RequestPacker: another packer started before this one closed its aggregates');
    }
  }

  /** Bytes of the partition key an aggregate of `cell` opened by key id `key` travels under. */
  private outerKeyBytes(cell: number, key: number): number {
    return this.groups > 0 ? this.groupKeyOf(this.cells.group[cell]).length : this.keys.encoded[key].length;
  }

  private groupKeyOf(group: number): Buffer {
    return (this.groupKeys[group] ??= Buffer.from(groupKey(group), 'utf8'));
  }

  /**
   * Record i does not fit an empty aggregate. Without groups it goes raw under its own keys, as
   * the KPL sends it; with groups, as a one-record aggregate up to the entry limit.
   */
  private alone(aggregate: Aggregate, i: number, record: ProducerRecord, key: number, hashKey: number, bytes: number): void {
    if (this.groups === 0) {
      this.items[aggregate.shard].push(~i);
      this.open[aggregate.cell] = undefined;
      return;
    }
    aggregate.limit = this.limits.maxEntryBytes - this.outerKeyBytes(aggregate.cell, key);
    if (!this.tryAdd(aggregate, i, record, key, hashKey, bytes)) {
      throw new EntryTooLargeError(record.index, this.limits.maxEntryBytes);
    }
    this.close(aggregate.cell);
  }

  /**
   * The entry of an aggregate. With groups it travels under its group's key; one of several
   * records is routed by its shard's starting hash key, a lone record by its own hash key (where
   * Kinesis would store the record itself, whatever the map says). Without groups, under its
   * first record's key.
   */
  private entryOf(aggregate: Aggregate): KinesisEntry {
    const { data } = aggregate;
    const shard = this.shards[aggregate.shard];
    const first = this.records[aggregate.first];
    const grouped = this.groups > 0;
    const outerKey = grouped ? groupKey(this.cells.group[aggregate.cell]) : first.partitionKey;
    const explicitHashKey =
      grouped && aggregate.count === 1
        ? (first.explicitHashKey ?? rememberedHashKeyOf(first.partitionKey).toString())
        : shard.start.toString();
    return {
      data,
      partitionKey: outerKey,
      explicitHashKey,
      shardId: shard.shardId,
      indices: aggregate.indices,
      size: data.length + this.outerKeyBytes(aggregate.cell, aggregate.firstKey),
    };
  }

  /**
   * Ends the cell's open aggregate: an item of its shard, raw if it holds fewer records than are
   * encoded; an encoded one gets its bytes: magic, key tables, its records from the cell's record
   * buffer, MD5 trailer.
   */
  private close(cell: number): void {
    const aggregate = this.open[cell];
    if (aggregate === undefined) {
      return;
    }
    aggregate.closed = true;
    this.open[cell] = undefined;
    if (aggregate.count < this.minAggregated) {
      if (aggregate.count === 1) {
        this.items[aggregate.shard].push(~aggregate.first);
      }
      return;
    }
    const data = Buffer.allocUnsafe(aggregate.size);
    let at = writeMagic(data);
    for (const key of aggregate.keyIds) {
      at = writePartitionKeyField(data, at, this.keys.encoded[key]);
    }
    for (const hashKey of aggregate.hashKeyIds) {
      at = writeExplicitHashKeyField(data, at, this.hashKeys.encoded[hashKey]);
    }
    recordBuffers[cell].copy(data, at, 0, aggregate.recordBytes);
    sealAggregate(data, at + aggregate.recordBytes);
    aggregate.data = data;
    this.items[aggregate.shard].push(aggregate.generation);
  }

  /**
   * Adds record i (key ids `key`, `hashKey` or -1, `bytes` of data) to `aggregate` and writes
   * its `records` field, if the aggregate stays within its limit; false (nothing added) if not.
   */
  private tryAdd(aggregate: Aggregate, i: number, record: ProducerRecord, key: number, hashKey: number, bytes: number): boolean {
    const { keys, hashKeys } = this;
    const home = keys.route[key] === aggregate.cell;
    let pk = home ? keys.slotIn(key, aggregate.generation) : (aggregate.foreignKeys?.get(key) ?? -1);
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
        ehk = aggregate.foreignHashKeys?.get(hashKey) ?? -1;
      }
      if (ehk < 0) {
        ehk = aggregate.hashKeyCount;
        hashKeyGrow = keyFieldSize(hashKeys.encoded[hashKey].length);
      }
    }
    const newHashKey = hashKeyGrow > 0;
    const recordGrow = recordFieldSize(pk, ehk, bytes);
    const grow = keyGrow + hashKeyGrow + recordGrow;
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
      aggregate.keyIds.push(key);
      aggregate.keyCount++;
    }
    if (newHashKey) {
      // An explicit hash key can be in open aggregates of several groups of one shard: the
      // KeyTable holds its index for one of them, the others keep theirs.
      const holder = hashKeys.generation[hashKey];
      if (holder < 0 || this.aggregates[holder].closed) {
        hashKeys.claim(hashKey, aggregate.generation, ehk);
      } else {
        (aggregate.foreignHashKeys ??= new Map()).set(hashKey, ehk);
      }
      aggregate.hashKeyIds.push(hashKey);
      aggregate.hashKeyCount++;
    }
    if (aggregate.count === 0) {
      aggregate.first = i;
      aggregate.firstKey = key;
    }
    aggregate.count++;
    aggregate.indices.push(record.index);
    const at = aggregate.recordBytes;
    const buffer = recordBufferOf(aggregate.cell, at + recordGrow, at);
    aggregate.recordBytes = writeAggregateRecord(buffer, at, pk, ehk, record.data, bytes);
    return true;
  }
}

/** A record as an entry of its own, raw, with its own keys. */
export function rawEntry(record: ProducerRecord, shard: ShardRange): KinesisEntry {
  return {
    data: dataOf(record),
    partitionKey: record.partitionKey,
    ...(record.explicitHashKey === undefined ? {} : { explicitHashKey: record.explicitHashKey }),
    shardId: shard.shardId,
    indices: [record.index],
    size: dataBytesOf(record) + Buffer.byteLength(record.partitionKey),
  };
}
