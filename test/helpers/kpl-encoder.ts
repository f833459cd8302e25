/**
 * A general KPL aggregate encoder for tests and benchmarks: any user records, in order, into one
 * aggregated record. The product does not ship it: the producer packs whole requests with
 * `RequestPacker` (lambda/producer/packer.ts) and a lone record with `encodeLoneAggregate`; both
 * use the same field writers of lambda/shared/kpl-codec.ts, and the codec tests check this encoder
 * and the packer against each other and against aws-kinesis-agg.
 */
import {
  KPL_FRAME_BYTES,
  keyFieldSize,
  recordFieldSize,
  sealAggregate,
  writeAggregateRecord,
  writeExplicitHashKeyField,
  writeMagic,
  writePartitionKeyField,
  type KplUserRecord,
} from '../../lambda/shared/kpl-codec';

/**
 * An aggregated record under construction. It knows its encoded size after every `add`, so an
 * aggregator can stop before a limit without encoding; `encode` writes it once into one buffer.
 */
export class KplAggregateBuilder {
  private readonly keys = new Map<string, number>();
  private readonly keyList: string[] = [];
  private readonly hashKeys = new Map<string, number>();
  private readonly hashKeyList: string[] = [];
  private readonly pkIndex: number[] = [];
  private readonly ehkIndex: number[] = [];
  private readonly datas: Uint8Array[] = [];
  private bodySize = 0;

  /** User records added so far. */
  public get count(): number {
    return this.datas.length;
  }

  /** Encoded size in bytes (magic, protobuf, MD5) of the records added so far. */
  public get size(): number {
    return KPL_FRAME_BYTES + this.bodySize;
  }

  /** Encoded size if `record` were added, without adding it. */
  public sizeWith(record: KplUserRecord): number {
    return this.size + this.growth(record);
  }

  public add(record: KplUserRecord): void {
    this.tryAdd(record, Infinity);
  }

  /** Adds `record` if the encoded size stays within `maxBytes`; false (and nothing added) if not. */
  public tryAdd(record: KplUserRecord, maxBytes: number): boolean {
    const grow = this.growth(record);
    if (KPL_FRAME_BYTES + this.bodySize + grow > maxBytes) {
      return false;
    }
    this.bodySize += grow;
    let pk = this.keys.get(record.partitionKey);
    if (pk === undefined) {
      pk = this.keyList.length;
      this.keys.set(record.partitionKey, pk);
      this.keyList.push(record.partitionKey);
    }
    let ehk = -1;
    if (record.explicitHashKey !== undefined) {
      const known = this.hashKeys.get(record.explicitHashKey);
      ehk = known ?? this.hashKeyList.length;
      if (known === undefined) {
        this.hashKeys.set(record.explicitHashKey, ehk);
        this.hashKeyList.push(record.explicitHashKey);
      }
    }
    this.pkIndex.push(pk);
    this.ehkIndex.push(ehk);
    this.datas.push(record.data);
    return true;
  }

  public encode(): Buffer {
    return this.encodeInto(Buffer.allocUnsafe(this.size), 0);
  }

  /** Encodes into `target` at `offset` (`size` bytes) and returns that slice. */
  public encodeInto(target: Buffer, offset: number): Buffer {
    const out = target.subarray(offset, offset + this.size);
    let at = writeMagic(out);
    for (const key of this.keyList) {
      at = writePartitionKeyField(out, at, utf8(key));
    }
    for (const key of this.hashKeyList) {
      at = writeExplicitHashKeyField(out, at, utf8(key));
    }
    for (let i = 0; i < this.datas.length; i++) {
      at = writeAggregateRecord(out, at, this.pkIndex[i], this.ehkIndex[i], this.datas[i]);
    }
    sealAggregate(out, at);
    return out;
  }

  private growth(record: KplUserRecord): number {
    let grow = 0;
    let pk = this.keys.get(record.partitionKey);
    if (pk === undefined) {
      pk = this.keyList.length;
      grow += keyFieldSize(Buffer.byteLength(record.partitionKey, 'utf8'));
    }
    let ehk = -1;
    if (record.explicitHashKey !== undefined) {
      const known = this.hashKeys.get(record.explicitHashKey);
      ehk = known ?? this.hashKeyList.length;
      if (known === undefined) {
        grow += keyFieldSize(Buffer.byteLength(record.explicitHashKey, 'utf8'));
      }
    }
    return grow + recordFieldSize(pk, ehk, record.data.length);
  }
}

const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');

/** Magic + protobuf `AggregatedRecord` + MD5 of the protobuf bytes, for these user records in order. */
export function encodeAggregated(records: readonly KplUserRecord[]): Buffer {
  const builder = new KplAggregateBuilder();
  for (const record of records) {
    builder.add(record);
  }
  return builder.encode();
}
