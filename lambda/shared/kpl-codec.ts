import { md5Each } from './md5-lanes';

/**
 * The KPL aggregated record format (amazon-kinesis-producer aggregation-format.md):
 * magic `F3 89 9A C2`, a protobuf `AggregatedRecord`, then the 16-byte MD5 of the protobuf bytes.
 *
 * ```proto
 * message AggregatedRecord { repeated string partition_key_table = 1; repeated string explicit_hash_key_table = 2; repeated Record records = 3; }
 * message Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2; required bytes data = 3; repeated Tag tags = 4; }
 * ```
 * Encoded and decoded by hand (varints and length-delimited fields): no protobuf runtime in the bundle.
 */
export const KPL_MAGIC: Buffer = Buffer.from([0xf3, 0x89, 0x9a, 0xc2]);

const MD5_LENGTH = 16;
/** Bytes an aggregated record adds around its protobuf body: magic and MD5 trailer. */
export const KPL_FRAME_BYTES = KPL_MAGIC.length + MD5_LENGTH;

export interface KplUserRecord {
  partitionKey: string;
  explicitHashKey?: string;
  data: Uint8Array;
}

/** Why a blob is not a readable KPL aggregate (`KplDecodeError.failure`). */
export const KplDecodeFailure = {
  /** No magic, or too short for magic and MD5 trailer: a plain record. */
  NOT_AGGREGATED: 'not-aggregated',
  /** Magic present, MD5 trailer does not match the body: corrupted in transit or by its producer. */
  CHECKSUM: 'checksum',
  /** Magic and MD5 check out, the protobuf body cannot be read (truncated, bad indices, bad wire type). */
  UNDECODABLE: 'undecodable',
} as const;
export type KplDecodeFailure = (typeof KplDecodeFailure)[keyof typeof KplDecodeFailure];

export class KplDecodeError extends Error {
  public override readonly name = 'KplDecodeError';
  constructor(
    message: string,
    public readonly failure: KplDecodeFailure = KplDecodeFailure.UNDECODABLE,
  ) {
    super(message);
  }
}

/** Bytes of an unsigned varint. */
export function varintSize(value: number): number {
  if (value < 0x80) {
    return 1;
  }
  if (value < 0x4000) {
    return 2;
  }
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** Bytes of a length-delimited field (one-byte tag) whose payload is `length` bytes. */
function fieldSize(length: number): number {
  return 1 + varintSize(length) + length;
}

/** Bytes a key adds to `partition_key_table` or `explicit_hash_key_table`, from its UTF-8 length. */
export function keyFieldSize(utf8Bytes: number): number {
  return fieldSize(utf8Bytes);
}

/** Bytes a user record adds to `records`, from its key table indices (-1: no explicit hash key) and data length. */
export function recordFieldSize(pk: number, ehk: number, dataLength: number): number {
  return fieldSize(recordBodySize(pk, ehk, dataLength));
}

/**
 * Step 1 for a writer that fills the key tables as it meets the keys: the magic only; returns
 * where `partition_key_table` begins. Each table then takes `keyFieldSize` bytes per key.
 */
export function writeMagic(out: Buffer): number {
  KPL_MAGIC.copy(out, 0);
  return KPL_MAGIC.length;
}

/** One `partition_key_table` entry (UTF-8 bytes) at `at`; returns the next offset. */
export function writePartitionKeyField(out: Buffer, at: number, key: Uint8Array): number {
  return writeBytes(out, at, 0x0a, key);
}

/** One `explicit_hash_key_table` entry (UTF-8 bytes) at `at`; returns the next offset. */
export function writeExplicitHashKeyField(out: Buffer, at: number, key: Uint8Array): number {
  return writeBytes(out, at, 0x12, key);
}

/**
 * Buffer's own UTF-8 writer, the one `write(text, at, length, 'utf8')` ends in, called without
 * `write`'s argument parsing (bounds are still checked). That parsing validates the offset through
 * Node.js's `hideStackFrames` wrapper, whose rest parameter allocates about 78 bytes a call until V8
 * optimises the caller: per 20,000 texts of 100 B, 1.1-1.6 MB and 0.5-3.7 ms more in each of the
 * first four passes on Node.js 24 (none afterwards; docs/performance-producer.md). On
 * `Buffer.prototype` in every Node.js release (protobufjs writes strings with it too); not in
 * @types/node.
 */
interface WithUtf8Write {
  utf8Write(text: string, offset: number, length: number): number;
}

/**
 * Step 2: one user record at `at` (its key table indices, `ehk` -1 for none); returns the next
 * offset. Text data is written as its UTF-8 bytes, `length` of them (`Buffer.byteLength`).
 */
export function writeAggregateRecord(
  out: Buffer,
  at: number,
  pk: number,
  ehk: number,
  data: Uint8Array | string,
  length = typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.length,
): number {
  out[at++] = 0x1a;
  if (pk < 0x80 && ehk < 0 && length < 0x80 - 4) {
    // The common small record (one-byte key index, no explicit hash key, body under 128 bytes):
    // every varint is one byte.
    out[at++] = length + 4;
    out[at++] = 0x08;
    out[at++] = pk;
    out[at++] = 0x1a;
    out[at++] = length;
  } else {
    at = writeVarint(out, at, recordBodySize(pk, ehk, length));
    out[at++] = 0x08;
    at = writeVarint(out, at, pk);
    if (ehk >= 0) {
      out[at++] = 0x10;
      at = writeVarint(out, at, ehk);
    }
    out[at++] = 0x1a;
    at = writeVarint(out, at, length);
  }
  if (typeof data !== 'string') {
    out.set(data, at);
  } else if ((out as unknown as WithUtf8Write).utf8Write(data, at, length) !== length) {
    throw new RangeError(`record text is not ${length} bytes of UTF-8`);
  }
  return at + length;
}

/** Step 3: the MD5 trailer, once the records end at `at`; `out` must end right after it. */
export function sealAggregate(out: Buffer, at: number): void {
  sealAggregates([out], [at]);
}

/**
 * Step 3 for many aggregates at once: `sealAggregate(outs[i], ats[i])` for each, their MD5s side
 * by side (md5-lanes.ts), as a request's aggregates are sealed together.
 */
export function sealAggregates(outs: readonly Buffer[], ats: readonly number[]): void {
  const bodies = new Array<Buffer>(outs.length);
  const trailers = new Array<Buffer>(outs.length);
  for (let i = 0; i < outs.length; i++) {
    if (ats[i] + MD5_LENGTH !== outs[i].length) {
      throw new RangeError(`aggregated record of ${ats[i] + MD5_LENGTH} bytes written into ${outs[i].length}`);
    }
    bodies[i] = outs[i].subarray(KPL_MAGIC.length, ats[i]);
    trailers[i] = outs[i].subarray(ats[i]);
  }
  md5Each(bodies, trailers);
}

function recordBodySize(pk: number, ehk: number, dataLength: number): number {
  return 1 + varintSize(pk) + (ehk >= 0 ? 1 + varintSize(ehk) : 0) + fieldSize(dataLength);
}

function writeVarint(out: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  out[at++] = value;
  return at;
}

function writeBytes(out: Buffer, at: number, tag: number, bytes: Uint8Array): number {
  const length = bytes.length;
  out[at++] = tag;
  at = writeVarint(out, at, length);
  out.set(bytes, at);
  return at + length;
}

/**
 * A KPL aggregated record of one user record (magic, its key fields, the record, MD5), as the
 * producer sends a lone record under its ordering group's key.
 */
export function encodeLoneAggregate(record: KplUserRecord): Buffer {
  const key = Buffer.from(record.partitionKey, 'utf8');
  const hashKey = record.explicitHashKey === undefined ? undefined : Buffer.from(record.explicitHashKey, 'utf8');
  const ehk = hashKey === undefined ? -1 : 0;
  const out = Buffer.allocUnsafe(
    KPL_FRAME_BYTES +
      keyFieldSize(key.length) +
      (hashKey === undefined ? 0 : keyFieldSize(hashKey.length)) +
      recordFieldSize(0, ehk, record.data.length),
  );
  let at = writePartitionKeyField(out, writeMagic(out), key);
  if (hashKey !== undefined) {
    at = writeExplicitHashKeyField(out, at, hashKey);
  }
  sealAggregate(out, writeAggregateRecord(out, at, 0, ehk, record.data));
  return out;
}

function asBuffer(blob: Uint8Array): Buffer {
  return Buffer.isBuffer(blob) ? blob : Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
}

/** Whether a blob starts with the KPL magic and is long enough for it and the MD5 trailer (the checksum is not checked). */
export function hasKplMagic(blob: Uint8Array): boolean {
  return blob.length >= KPL_FRAME_BYTES && blob[0] === 0xf3 && blob[1] === 0x89 && blob[2] === 0x9a && blob[3] === 0xc2;
}

function checksumMatches(buffer: Buffer): boolean {
  return checksumsMatch([buffer])[0];
}

/** True when the blob has the KPL magic, room for a body and an MD5 trailer that matches it. */
export function isAggregated(blob: Uint8Array): boolean {
  return hasKplMagic(blob) && checksumMatches(asBuffer(blob));
}

/**
 * For each blob with the KPL magic (`hasKplMagic`), whether its MD5 trailer matches its body: the
 * digests of all of them computed side by side (md5-lanes.ts), as a consumer checks a batch.
 */
export function checksumsMatch(blobs: readonly Buffer[]): boolean[] {
  const bodies = new Array<Buffer>(blobs.length);
  const digests = Buffer.allocUnsafe(MD5_LENGTH * blobs.length);
  const into = new Array<Buffer>(blobs.length);
  for (let i = 0; i < blobs.length; i++) {
    const blob = blobs[i];
    if (!hasKplMagic(blob)) {
      throw new RangeError(`checksumsMatch: blob ${i} (${blob.length} bytes) has no KPL magic and MD5 trailer`);
    }
    bodies[i] = blob.subarray(KPL_MAGIC.length, blob.length - MD5_LENGTH);
    into[i] = digests.subarray(i * MD5_LENGTH, (i + 1) * MD5_LENGTH);
  }
  md5Each(bodies, into);
  return blobs.map((blob, i) => into[i].equals(blob.subarray(blob.length - MD5_LENGTH)));
}

/**
 * The user records of a KPL aggregated record, in order. `data` views the input's bytes (no copy).
 * Throws `KplDecodeError` when the magic or checksum is wrong or the protobuf is malformed.
 */
export function decodeAggregated(blob: Uint8Array): KplUserRecord[] {
  if (!hasKplMagic(blob)) {
    throw new KplDecodeError(
      `not a KPL aggregated record: ${blob.length} bytes without the F3899AC2 magic and MD5 trailer`,
      KplDecodeFailure.NOT_AGGREGATED,
    );
  }
  const buffer = asBuffer(blob);
  if (!checksumMatches(buffer)) {
    throw new KplDecodeError(CHECKSUM_MISMATCH, KplDecodeFailure.CHECKSUM);
  }
  return decodeCheckedAggregate(buffer);
}

const CHECKSUM_MISMATCH = 'KPL aggregated record MD5 checksum does not match its body';

/**
 * `decodeAggregated` of a blob whose magic and MD5 trailer the caller has checked already
 * (`checksumsMatch`). Throws `KplDecodeError` when the protobuf is malformed.
 */
export function decodeCheckedAggregate(buffer: Buffer): KplUserRecord[] {
  const reader = new Reader(buffer, KPL_MAGIC.length, buffer.length - MD5_LENGTH);
  const keys: string[] = [];
  const hashKeys: string[] = [];
  const raw: { pk: number; ehk: number; data: Buffer }[] = [];
  while (reader.more()) {
    const tag = reader.varint();
    if (tag === 0x0a) {
      keys.push(reader.string());
    } else if (tag === 0x12) {
      hashKeys.push(reader.string());
    } else if (tag === 0x1a) {
      raw.push(readRecord(reader.sub()));
    } else {
      reader.skip(tag);
    }
  }
  return raw.map((record, index) => {
    const partitionKey = keys[record.pk];
    if (partitionKey === undefined) {
      throw new KplDecodeError(`user record ${index}: partition_key_index ${record.pk} outside a table of ${keys.length}`);
    }
    if (record.ehk < 0) {
      return { partitionKey, data: record.data };
    }
    const explicitHashKey = hashKeys[record.ehk];
    if (explicitHashKey === undefined) {
      throw new KplDecodeError(`user record ${index}: explicit_hash_key_index ${record.ehk} outside a table of ${hashKeys.length}`);
    }
    return { partitionKey, explicitHashKey, data: record.data };
  });
}

function readRecord(reader: Reader): { pk: number; ehk: number; data: Buffer } {
  let pk = -1;
  let ehk = -1;
  let data: Buffer | undefined;
  while (reader.more()) {
    const tag = reader.varint();
    if (tag === 0x08) {
      pk = reader.varint();
    } else if (tag === 0x10) {
      ehk = reader.varint();
    } else if (tag === 0x1a) {
      data = reader.bytes();
    } else {
      reader.skip(tag); // tags (4) and unknown fields
    }
  }
  if (pk < 0 || data === undefined) {
    throw new KplDecodeError('user record without its required partition_key_index or data');
  }
  return { pk, ehk, data };
}

class Reader {
  constructor(
    private readonly buffer: Buffer,
    private at: number,
    private readonly end: number,
  ) {}

  public more(): boolean {
    return this.at < this.end;
  }

  public varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.end) {
        throw new KplDecodeError('truncated varint');
      }
      const byte = this.buffer[this.at++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (value > Number.MAX_SAFE_INTEGER) {
          throw new KplDecodeError('varint larger than 2^53');
        }
        return value;
      }
      scale *= 128;
    }
    throw new KplDecodeError('varint longer than 10 bytes');
  }

  public bytes(): Buffer {
    const length = this.varint();
    const start = this.at;
    if (length > this.end - start) {
      throw new KplDecodeError(`field of ${length} bytes overruns the record`);
    }
    this.at += length;
    return this.buffer.subarray(start, this.at);
  }

  public string(): string {
    const length = this.varint();
    const start = this.at;
    if (length > this.end - start) {
      throw new KplDecodeError(`string of ${length} bytes overruns the record`);
    }
    this.at += length;
    return this.buffer.toString('utf8', start, this.at);
  }

  public sub(): Reader {
    const length = this.varint();
    const start = this.at;
    if (length > this.end - start) {
      throw new KplDecodeError(`message of ${length} bytes overruns the record`);
    }
    this.at += length;
    return new Reader(this.buffer, start, this.at);
  }

  public skip(tag: number): void {
    const wireType = tag & 7;
    if (wireType === 0) {
      this.varint();
    } else if (wireType === 2) {
      this.bytes();
    } else if (wireType === 1 || wireType === 5) {
      this.at += wireType === 1 ? 8 : 4;
      if (this.at > this.end) {
        throw new KplDecodeError('fixed-width field overruns the record');
      }
    } else {
      throw new KplDecodeError(`unsupported protobuf wire type ${wireType}`);
    }
  }
}
