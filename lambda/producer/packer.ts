import { rememberedHashKeyOf } from '../shared/hash-key';
import { objectArray, sizedObjectArray } from '../shared/object-arrays';
import {
  KPL_FRAME_BYTES,
  keyFieldSize,
  recordFieldSize,
  sealAggregates,
  writeAggregateRecord,
  writeExplicitHashKeyField,
  writeMagic,
  writePartitionKeyField,
} from '../shared/kpl-codec';
import type { ShardMap, ShardRange } from '../shared/shard-map';
import { dataBytesOf, dataOf, type KinesisEntry, type ProducerRecord } from './aggregate';
import type { ProducerLimits } from './limits';
import type { SlabLease } from './slab-pool';
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
  public readonly encoded: Buffer[] = objectArray();
  public readonly route: number[] = [];
  /** A partition key's ordering group (0 without groups). */
  public readonly group: number[] = [];
  /** The aggregate (generation) that last gave key id k a table index, and that index. */
  public readonly generation: number[] = [];
  public readonly slot: number[] = [];
  private readonly ids = new Map<string, number>();
  /**
   * By validation's key number (`ProducerRecord.keyId`): this table's id plus one, 0 for a number
   * not met yet. Grown as numbers come (a request planned again holds some of its numbers only).
   */
  private byKeyId = new Int32Array(0);

  public constructor(
    private readonly packer: RequestPacker,
    private readonly explicit: boolean,
  ) {}

  public idOf(key: string): number {
    const id = this.ids.get(key);
    return id === undefined ? this.add(key) : id;
  }

  /**
   * The id of a partition key by validation's number for it, if it has one: no string lookup but
   * the first for each number. A key met both with and without a number (records from elsewhere
   * mixed in) has one id: the first lookup of a number goes through the string.
   */
  public idOfNumbered(keyId: number | undefined, key: string): number {
    if (keyId === undefined) {
      return this.idOf(key);
    }
    if (keyId >= this.byKeyId.length) {
      const grown = new Int32Array(Math.max(keyId + 1, this.byKeyId.length * 2, 64));
      grown.set(this.byKeyId);
      this.byKeyId = grown;
    }
    const id = this.byKeyId[keyId] - 1;
    return id >= 0 ? id : (this.byKeyId[keyId] = this.idOf(key) + 1) - 1;
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
    if (this.explicit) {
      this.encoded.push(Buffer.from(key, 'utf8'));
      this.route.push(this.packer.shardOfHashKey(BigInt(key)));
      this.group.push(0);
    } else {
      const known = this.packer.knownKey(key);
      this.encoded.push(known.encoded);
      this.route.push(this.packer.cellOf(known.shard, known.group));
      this.group.push(known.group);
    }
    this.generation.push(-1);
    this.slot.push(0);
    return id;
  }
}

/**
 * A partition key as the packer needs it: its UTF-8 bytes (only ever read), the position of its
 * shard in the map's `shards` and its ordering group. Kept from one request to the next per shard
 * map and number of groups (a producer sees the same keys again and again), so a request spends
 * one lookup on each of its keys instead of encoding, hashing and routing it anew. A map reloaded
 * after a reshard is a new object, so no key keeps a route of an older map.
 */
export interface KnownKey {
  readonly encoded: Buffer;
  readonly shard: number;
  readonly group: number;
}

/** At most this many keys are known per map and number of groups (a few MB); past it the memory starts over. */
export const KNOWN_KEYS = 20_000;
const knownKeys = new WeakMap<ShardMap, Map<number, Map<string, KnownKey>>>();

function knownKeysOf(map: ShardMap, groups: number): Map<string, KnownKey> {
  let byGroups = knownKeys.get(map);
  if (byGroups === undefined) {
    byGroups = new Map();
    knownKeys.set(map, byGroups);
  }
  let known = byGroups.get(groups);
  if (known === undefined) {
    known = new Map();
    byGroups.set(groups, known);
  }
  return known;
}

/** An aggregate of one cell: its size while it fills, then its bytes and cursors while it is written. */
class Aggregate {
  /** User records in it, the first one's request position, and its key table lengths. */
  public count = 0;
  public first = -1;
  public keyCount = 0;
  public hashKeyCount = 0;
  public closed = false;
  /** Encoded size so far: magic, protobuf and MD5. */
  public size = KPL_FRAME_BYTES;
  /**
   * Table indices of partition keys of another cell (an explicit hash key sent their record
   * here), and of explicit hash keys another open aggregate holds in the KeyTable.
   */
  public foreignKeys?: Map<number, number>;
  public foreignHashKeys?: Map<number, number>;

  /** Its bytes (a buffer of its own, or a view of a lent slab), once encoding starts. */
  public data: Buffer = EMPTY;
  /** Records written into it so far, and where its request indices begin in the packer's `order`. */
  public written = 0;
  public orderStart = 0;
  /** Where the next record goes. */
  public recordCursor = 0;
  /** Its key tables: the ids of its partition keys and explicit hash keys, in table order. */
  public readonly keyIds: number[] = [];
  public readonly hashKeyIds: number[] = [];

  public constructor(
    public readonly generation: number,
    public readonly cell: number,
    public readonly shard: number,
    public limit: number,
    /** Aggregates of a cell in different lanes share no user key (`KinesisEntry.lane`). */
    public readonly lane: number,
  ) {}
}

/**
 * Records a pass over the request (`learn`, `placeRange`, `writeRange`) handles per call. V8
 * optimises a function called once per request only in the middle of its loop (on-stack
 * replacement), again in every request until enough calls were counted, and code after such a loop,
 * not run yet when it was optimised, throws the optimised code away. A method called for every
 * slice of the request gets code of its own in the first request that later requests reuse.
 */
const PASS_SLICE = 512;

/** Calls `pass` for records 0 to `n` (exclusive) slice by slice, PASS_SLICE records at a time, in order. */
function inSlices(n: number, pass: (from: number, to: number) => void): void {
  for (let from = 0; from < n; from += PASS_SLICE) {
    pass(from, Math.min(n, from + PASS_SLICE));
  }
}

/** An item of a shard's output, in order: an aggregate's generation, or `~i` for record i sent raw. */
type Item = number;

/**
 * Packs one request: `index` learns each record's key, size and cell and the order to place them
 * in (key by key, or request order), `placeNth` puts each record in that order into its cell's
 * open aggregate (every cell has at most one), `closeAll` ends them, `encode` writes every
 * aggregate into its bytes (a view of a lent slab, or a buffer of its own) and makes the entries.
 * Keys are found by validation's number for them (by string once per record for records without
 * one); everything else is by id in arrays.
 */
export class RequestPacker {
  private readonly shards: readonly ShardRange[];
  private readonly groups: number;
  /** Aggregates of this many records or more are encoded; smaller ones go raw (1 with groups: none raw). */
  private readonly minAggregated: number;
  private readonly cells: Cells;
  private readonly keys: KeyTable;
  private readonly hashKeys: KeyTable;
  /**
   * Each cell's aggregate being filled (a place per cell the request meets, made by `index`); each
   * shard's items closed so far.
   */
  private open!: Array<Aggregate | undefined>;
  private readonly items: Item[][];
  /** Every aggregate by generation (0, 1, ...), in the order they were opened. */
  private readonly aggregates: Aggregate[] = objectArray();
  /** Per request position: key ids, the aggregate (generation, -1 if raw) and its table indices there. */
  private readonly keyOf: Int32Array;
  private readonly hashKeyOf: Int32Array;
  private readonly aggregateOf: Int32Array;
  private readonly pkSlotOf: Int32Array;
  private readonly ehkSlotOf: Int32Array;
  /** Per request position: bytes of the record's data, and its cell. */
  private readonly dataBytes: Int32Array;
  private readonly cellOfRecord: Int32Array;
  /**
   * Request positions in the order they are placed: by partition key id (keys in order of first
   * use), each key's records in request order; or request order (`byKey` false).
   */
  private placement: Int32Array = new Int32Array(0);
  /** Per key id: an upper bound of the bytes its records take in an aggregate, and their count. */
  private readonly runBytes: number[] = [];
  private readonly runCount: number[] = [];
  /** Whether records are placed key by key (`index`): then entries carry lanes. */
  private byKey = false;
  /**
   * The key being placed (its run), and per cell the lane its records went to in this run (where
   * `runOf[cell]` is the run's number): a key that needs another aggregate of the cell keeps its lane.
   */
  private run = 0;
  private readonly runOf: Int32Array;
  private readonly laneOf: Int32Array;
  /**
   * The request indices of every encoded aggregate's records, aggregate after aggregate, each in
   * its order: written as the records are (one typed array, not an array per aggregate filled at
   * 64 places at once), copied into each entry's `indices` as it is made.
   */
  private order = new Int32Array(0);
  /** Each shard's starting hash key as text (an aggregate's ExplicitHashKey), made once per request. */
  private readonly startText: string[] = [];
  /** Group keys by group, UTF-8. */
  private readonly groupKeys: Buffer[] = [];
  /** Each shard's position in `shards`. */
  private readonly position: Map<ShardRange, number>;
  /** Partition keys known from earlier requests on this map with these groups. */
  private readonly known: Map<string, KnownKey>;

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
    this.known = knownKeysOf(shardMap, this.groups);
    this.keys = new KeyTable(this, false);
    this.hashKeys = new KeyTable(this, true);
    this.items = this.shards.map(() => []);
    this.keyOf = new Int32Array(records.length);
    this.hashKeyOf = new Int32Array(records.length).fill(-1);
    this.aggregateOf = new Int32Array(records.length).fill(-1);
    this.pkSlotOf = new Int32Array(records.length);
    this.ehkSlotOf = new Int32Array(records.length);
    this.dataBytes = new Int32Array(records.length);
    this.cellOfRecord = new Int32Array(records.length);
    const cells = this.shards.length * Math.max(1, this.groups);
    this.runOf = new Int32Array(cells).fill(-1);
    this.laneOf = new Int32Array(cells);
  }

  /** A partition key's bytes, shard position and group: known from an earlier request on this map, or worked out now. */
  public knownKey(key: string): KnownKey {
    let known = this.known.get(key);
    if (known === undefined) {
      const hashKey = rememberedHashKeyOf(key);
      known = { encoded: Buffer.from(key, 'utf8'), shard: this.shardOfHashKey(hashKey), group: this.groupOfHashKey(hashKey) };
      if (this.known.size >= KNOWN_KEYS) {
        this.known.clear();
      }
      this.known.set(key, known);
    }
    return known;
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

  /**
   * Learns every record's key, size and cell, and the order to place them in: with `byKey`, each
   * partition key's records one after another (keys in order of first use, each key's records in
   * request order), so that a key's records share an aggregate whenever they fit one, and
   * aggregates of a cell hold different keys (see `lane`); else request order.
   */
  public index(byKey: boolean): void {
    const n = this.records.length;
    inSlices(n, (from, to) => this.learn(from, to, byKey));
    this.open = sizedObjectArray<Aggregate>(this.cells.shard.length);
    this.placement = byKey ? byKeyOrder(this.keyOf, this.runCount) : requestOrder(n);
    this.byKey = byKey;
  }

  /** `index`'s pass over records `from` to `to` (exclusive); see PASS_SLICE. */
  private learn(from: number, to: number, byKey: boolean): void {
    const n = this.records.length;
    // A record field's size with table indices up to n: at least what it takes once placed.
    for (let i = from; i < to; i++) {
      const record = this.records[i];
      const bytes = dataBytesOf(record);
      this.dataBytes[i] = bytes;
      const key = this.keys.idOfNumbered(record.keyId, record.partitionKey);
      this.keyOf[i] = key;
      let cell = this.keys.route[key];
      if (record.explicitHashKey !== undefined) {
        const hashKey = this.hashKeys.idOf(record.explicitHashKey);
        this.hashKeyOf[i] = hashKey;
        cell = this.cells.idOf(this.hashKeys.route[hashKey], this.keys.group[key]);
      }
      this.cellOfRecord[i] = cell;
      if (byKey) {
        if (key >= this.runCount.length) {
          this.runCount.push(0);
          this.runBytes.push(0);
        }
        this.runCount[key]++;
        this.runBytes[key] += recordFieldSize(n, record.explicitHashKey === undefined ? -1 : n, bytes);
      }
    }
  }

  /** Places every record, in the placement order (`index` first). */
  public placeAll(): void {
    inSlices(this.records.length, (from, to) => this.placeRange(from, to));
  }

  /** Places the records `from` to `to` (exclusive) of the placement order; see PASS_SLICE. */
  private placeRange(from: number, to: number): void {
    for (let j = from; j < to; j++) {
      this.placeNth(j);
    }
  }

  /** Places the j-th record of the placement order (`index` first). */
  public placeNth(j: number): void {
    const i = this.placement[j];
    if (this.byKey && (j === 0 || this.keyOf[this.placement[j - 1]] !== this.keyOf[i])) {
      this.run++;
      this.startRun(this.keyOf[i], this.cellOfRecord[i]);
    }
    this.place(i);
  }

  /**
   * A key's records begin: if all of them fit an empty aggregate but not what is left of the
   * cell's open one, the open one ends here, so the key's records are not split across two.
   */
  private startRun(key: number, cell: number): void {
    const open = this.open[cell];
    if (open === undefined || open.count === 0) {
      return;
    }
    const bytes = this.runBytes[key] + keyFieldSize(this.keys.encoded[key].length);
    const count = this.runCount[key];
    const max = this.limits.maxRecordsPerAggregate;
    if (KPL_FRAME_BYTES + bytes <= open.limit && count <= max && (open.size + bytes > open.limit || open.count + count > max)) {
      this.close(cell);
    }
  }

  /** Adds record i to its cell's open aggregate, closing that one first if the record does not fit. */
  private place(i: number): void {
    const key = this.keyOf[i];
    const cell = this.cellOfRecord[i];
    for (;;) {
      let aggregate = this.open[cell];
      if (aggregate === undefined) {
        // The entry limit counts the partition key the aggregate travels under.
        const limit = Math.min(this.limits.maxAggregateBytes, this.limits.maxEntryBytes - this.outerKeyBytes(cell, key));
        // A key split across aggregates keeps them in one lane: they go one after the other.
        const lane = this.runOf[cell] === this.run ? this.laneOf[cell] : this.aggregates.length;
        aggregate = new Aggregate(this.aggregates.length, cell, this.cells.shard[cell], limit, lane);
        this.aggregates.push(aggregate);
        this.open[cell] = aggregate;
      }
      if (aggregate.count < this.limits.maxRecordsPerAggregate && this.tryAdd(aggregate, i)) {
        this.placedIn(aggregate);
        return;
      }
      if (aggregate.count === 0) {
        this.placedIn(aggregate);
        this.alone(aggregate, i); // too big to share an aggregate
        return;
      }
      this.close(cell); // full: start the next aggregate with this record
    }
  }

  /** The record being placed went into `aggregate` (or alone, in its lane): the run's lane in its cell. */
  private placedIn(aggregate: Aggregate): void {
    this.runOf[aggregate.cell] = this.run;
    this.laneOf[aggregate.cell] = aggregate.lane;
  }

  /** Ends every cell's open aggregate once the request is placed. */
  public closeAll(): void {
    for (let cell = 0; cell < this.open.length; cell++) {
      this.close(cell);
    }
  }

  /**
   * Writes every aggregate into its buffer: each record, in request order, at its aggregate's
   * cursor, a key into its aggregate's table the first time the aggregate meets it; each
   * aggregate then gets its MD5 trailer, all of them together. Returns the entries shard by shard,
   * each shard's in order.
   */
  public encode(lease?: SlabLease): KinesisEntry[] {
    this.allocate(lease);
    this.writeAll();
    this.seal();
    const entries: KinesisEntry[] = objectArray();
    for (let shard = 0; shard < this.shards.length; shard++) {
      for (const item of this.items[shard]) {
        // A record sent raw keeps the lane of the aggregate it was placed in.
        entries.push(
          item < 0
            ? rawEntry(this.records[~item], this.shards[shard], this.byKey ? this.aggregates[this.aggregateOf[~item]].lane : undefined)
            : this.entryOf(this.aggregates[item]),
        );
      }
    }
    return entries;
  }

  /** Writes every record, in request order. */
  private writeAll(): void {
    inSlices(this.records.length, (from, to) => this.writeRange(from, to));
  }

  /** Writes records `from` to `to` (exclusive); see PASS_SLICE. */
  private writeRange(from: number, to: number): void {
    for (let i = from; i < to; i++) {
      this.write(i);
    }
  }

  /** Every encoded aggregate's MD5 trailer, all at once (md5-lanes.ts runs four side by side). */
  private seal(): void {
    const outs: Buffer[] = objectArray();
    const ats: number[] = [];
    for (const aggregate of this.aggregates) {
      if (aggregate.count >= this.minAggregated) {
        outs.push(aggregate.data);
        ats.push(aggregate.recordCursor);
      }
    }
    sealAggregates(outs, ats);
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
  private alone(aggregate: Aggregate, i: number): void {
    if (this.groups === 0) {
      this.items[aggregate.shard].push(~i);
      this.aggregateOf[i] = aggregate.generation; // empty: write() leaves it raw
      this.open[aggregate.cell] = undefined;
      return;
    }
    aggregate.limit = this.limits.maxEntryBytes - this.outerKeyBytes(aggregate.cell, this.keyOf[i]);
    if (!this.tryAdd(aggregate, i)) {
      throw new EntryTooLargeError(this.records[i].index, this.limits.maxEntryBytes);
    }
    this.close(aggregate.cell);
  }

  /**
   * Gives each aggregate to encode its bytes (the exact size) and writes its magic: views of one
   * slab of `lease` (memory kept from one write to the next, slab-pool.ts), or without a lease a
   * buffer of its own each (not one fresh slab for the request: glibc maps an allocation of many
   * megabytes anew, page by page, every time, while aggregate-size buffers come from its heap;
   * measured in docs/performance-producer.md).
   */
  private allocate(lease: SlabLease | undefined): void {
    let slab: Buffer | undefined;
    let offset = 0;
    if (lease !== undefined) {
      let total = 0;
      for (const aggregate of this.aggregates) {
        total += aggregate.count >= this.minAggregated ? aggregate.size : 0;
      }
      slab = total > 0 ? lease.slab(total) : undefined;
    }
    let ordered = 0;
    for (const aggregate of this.aggregates) {
      if (aggregate.count >= this.minAggregated) {
        if (slab === undefined) {
          aggregate.data = Buffer.allocUnsafe(aggregate.size);
        } else {
          aggregate.data = slab.subarray(offset, offset + aggregate.size);
          offset += aggregate.size;
        }
        aggregate.orderStart = ordered;
        ordered += aggregate.count;
        const { data } = aggregate;
        let at = writeMagic(data);
        for (const key of aggregate.keyIds) {
          at = writePartitionKeyField(data, at, this.keys.encoded[key]);
        }
        for (const hashKey of aggregate.hashKeyIds) {
          at = writeExplicitHashKeyField(data, at, this.hashKeys.encoded[hashKey]);
        }
        aggregate.recordCursor = at;
      }
    }
    this.order = new Int32Array(ordered);
  }

  /** Writes record i, and any key its aggregate meets for the first time, at its aggregate's cursors. */
  private write(i: number): void {
    const generation = this.aggregateOf[i];
    if (generation < 0) {
      return;
    }
    const aggregate = this.aggregates[generation];
    if (aggregate.count < this.minAggregated) {
      return; // sent raw
    }
    const record = this.records[i];
    aggregate.recordCursor = writeAggregateRecord(
      aggregate.data,
      aggregate.recordCursor,
      this.pkSlotOf[i],
      this.ehkSlotOf[i],
      record.data,
      this.dataBytes[i],
    );
    this.order[aggregate.orderStart + aggregate.written++] = record.index;
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
        : (this.startText[aggregate.shard] ??= shard.start.toString());
    return {
      data,
      partitionKey: outerKey,
      explicitHashKey,
      shardId: shard.shardId,
      indices: this.indicesOf(aggregate),
      size: data.length + this.outerKeyBytes(aggregate.cell, this.keyOf[aggregate.first]),
      ...(this.byKey ? { lane: aggregate.lane } : {}),
    };
  }

  /** The request indices of an encoded aggregate's records, in order. */
  private indicesOf(aggregate: Aggregate): number[] {
    const { order } = this;
    const count = aggregate.count;
    const start = aggregate.orderStart;
    const indices = new Array<number>(count);
    for (let k = 0; k < count; k++) {
      indices[k] = order[start + k];
    }
    return indices;
  }

  /** Ends the cell's open aggregate: an item of its shard, raw if it holds fewer records than are encoded. */
  private close(cell: number): void {
    const aggregate = this.open[cell];
    if (aggregate === undefined) {
      return;
    }
    aggregate.closed = true;
    if (aggregate.count >= this.minAggregated) {
      this.items[aggregate.shard].push(aggregate.generation);
    } else if (aggregate.count === 1) {
      this.items[aggregate.shard].push(~aggregate.first);
    }
    this.open[cell] = undefined;
  }

  /** Adds record i to `aggregate` if it stays within the aggregate's limit; false (nothing added) if not. */
  private tryAdd(aggregate: Aggregate, i: number): boolean {
    const { keys, hashKeys } = this;
    const key = this.keyOf[i];
    const hashKey = this.hashKeyOf[i];
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
    const grow = keyGrow + hashKeyGrow + recordFieldSize(pk, ehk, this.dataBytes[i]);
    if (aggregate.size + grow > aggregate.limit) {
      return false;
    }
    aggregate.size += grow;
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
    }
    aggregate.count++;
    this.aggregateOf[i] = aggregate.generation;
    this.pkSlotOf[i] = pk;
    this.ehkSlotOf[i] = ehk;
    return true;
  }
}

/** A record as an entry of its own, raw, with its own keys. */
export function rawEntry(record: ProducerRecord, shard: ShardRange, lane?: number): KinesisEntry {
  return {
    data: dataOf(record),
    partitionKey: record.partitionKey,
    ...(record.explicitHashKey === undefined ? {} : { explicitHashKey: record.explicitHashKey }),
    shardId: shard.shardId,
    indices: [record.index],
    size: dataBytesOf(record) + Buffer.byteLength(record.partitionKey),
    ...(lane === undefined ? {} : { lane }),
  };
}

/** Request positions 0 to n - 1. */
function requestOrder(n: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    order[i] = i;
  }
  return order;
}

/** Request positions grouped by key id (ids in order), request order within a key: a counting sort. */
export function byKeyOrder(keyOf: Int32Array, counts: readonly number[]): Int32Array {
  const next = new Int32Array(counts.length);
  let at = 0;
  for (let key = 0; key < counts.length; key++) {
    next[key] = at;
    at += counts[key];
  }
  const order = new Int32Array(keyOf.length);
  for (let i = 0; i < keyOf.length; i++) {
    order[next[keyOf[i]]++] = i;
  }
  return order;
}
