import { createHash } from 'crypto';
import * as agg from 'aws-kinesis-agg';
import fc from 'fast-check';
import {
  KplDecodeError,
  KPL_MAGIC,
  decodeAggregated,
  encodeLoneAggregate,
  isAggregated,
  writeAggregateRecord,
  type KplUserRecord,
} from '../../lambda/shared/kpl-codec';
import { KplAggregateBuilder, encodeAggregated } from '../helpers/kpl-encoder';

const rec = (partitionKey: string, data: string | Uint8Array, explicitHashKey?: string): KplUserRecord => ({
  partitionKey,
  data: typeof data === 'string' ? Buffer.from(data) : data,
  ...(explicitHashKey === undefined ? {} : { explicitHashKey }),
});

function plain(records: KplUserRecord[]): { partitionKey: string; explicitHashKey?: string; data: string }[] {
  return records.map((r) => ({
    partitionKey: r.partitionKey,
    ...(r.explicitHashKey === undefined ? {} : { explicitHashKey: r.explicitHashKey }),
    data: Buffer.from(r.data).toString('hex'),
  }));
}

/** Deaggregates with aws-kinesis-agg's deaggregateSync, checksums on. */
function theirDecode(blob: Buffer): { partitionKey: string; explicitPartitionKey?: string; data: string }[] {
  let out: { partitionKey: string; explicitPartitionKey?: string; data: string }[] = [];
  agg.deaggregateSync(
    { data: blob.toString('base64'), partitionKey: 'outer', sequenceNumber: '1' } as never,
    true,
    (error: unknown, records?: unknown) => {
      if (error) {
        throw error instanceof Error ? error : new Error(JSON.stringify(error));
      }
      out = records as typeof out;
    },
  );
  return out;
}

/** Aggregates with aws-kinesis-agg's `aggregate`, collecting its encoded records. */
function theirEncode(
  records: { partitionKey: string; explicitHashKey?: string; data: Buffer }[],
): Promise<{ data: Buffer; partitionKey: string }[]> {
  return new Promise((resolve, reject) => {
    const encoded: { data: Buffer; partitionKey: string }[] = [];
    agg.aggregate(
      records as never,
      (record, done) => {
        encoded.push(record);
        done();
      },
      () => resolve(encoded),
      reject,
    );
  });
}

describe('KPL codec', () => {
  test('round-trips unicode keys, explicit hash keys and empty data in order', () => {
    // Prepare
    const records = [
      rec('ключ-🔑', 'first'),
      rec('日本語', ''),
      rec('ключ-🔑', 'third', '12345678901234567890'),
      rec('plain', new Uint8Array([0, 255, 1])),
    ];

    // Act
    const blob = encodeAggregated(records);

    // Assess
    expect(blob.subarray(0, 4)).toEqual(KPL_MAGIC);
    expect(blob.subarray(-16)).toEqual(createHash('md5').update(blob.subarray(4, -16)).digest());
    expect(isAggregated(blob)).toBe(true);
    expect(plain(decodeAggregated(blob))).toEqual(plain(records));
  });

  test("a lone record's aggregate (the producer's own encoder) is byte for byte the general encoder's, with and without an explicit hash key", () => {
    // Prepare
    const lone = [rec('ключ-🔑', 'only'), rec('k', '', '340282366920938463463374607431768211455'), rec('big', 'x'.repeat(20_000))];

    // Act
    const ours = lone.map((record) => encodeLoneAggregate(record));

    // Assess
    expect(ours).toEqual(lone.map((record) => encodeAggregated([record])));
    expect(ours.map((blob) => plain(decodeAggregated(blob)))).toEqual(lone.map((record) => plain([record])));
  });

  test('round-trips many keys (multi-byte varint indices) and records of 1 MiB', () => {
    // Prepare
    const many = Array.from({ length: 5000 }, (_, i) => rec(`key-${i}`, `value-${i}`, i % 3 === 0 ? String(i) : undefined));
    const big = new Uint8Array(1024 * 1024).fill(7);

    // Act
    const decodedMany = decodeAggregated(encodeAggregated(many));
    const decodedBig = decodeAggregated(encodeAggregated([rec('k', big), rec('k', 'after')]));

    // Assess
    expect(plain(decodedMany)).toEqual(plain(many));
    expect(decodedBig[0].data.length).toBe(1024 * 1024);
    expect(Buffer.from(decodedBig[0].data).equals(Buffer.from(big))).toBe(true);
    expect(Buffer.from(decodedBig[1].data).toString()).toBe('after');
  });

  test('the builder predicts the encoded size exactly before each add', () => {
    // Prepare
    const builder = new KplAggregateBuilder();
    const records = Array.from({ length: 300 }, (_, i) =>
      rec(`k${i % 37}é`, 'x'.repeat(i * 7), i % 5 === 0 ? String(i * 1e15) : undefined),
    );

    // Act / Assess
    for (const record of records) {
      const predicted = builder.sizeWith(record);
      builder.add(record);
      expect(builder.size).toBe(predicted);
    }
    expect(builder.encode().length).toBe(builder.size);
    expect(builder.count).toBe(300);
  });

  test('rejects blobs without magic, with a bad checksum, or with a malformed body', () => {
    // Prepare
    const good = encodeAggregated([rec('a', 'b')]);
    const flipped = Buffer.from(good);
    flipped[8] ^= 0xff;
    const truncatedBody = Buffer.from([0x0a, 0x05, 0x61]);
    const truncated = Buffer.concat([KPL_MAGIC, truncatedBody, createHash('md5').update(truncatedBody).digest()]);
    const badIndexBody = Buffer.from([0x1a, 0x04, 0x08, 0x03, 0x1a, 0x00]);
    const badIndex = Buffer.concat([KPL_MAGIC, badIndexBody, createHash('md5').update(badIndexBody).digest()]);

    // Act / Assess
    expect(isAggregated(Buffer.from('{"plain":"json"}'))).toBe(false);
    expect(isAggregated(flipped)).toBe(false);
    expect(() => decodeAggregated(Buffer.from('{"plain":"json"}'))).toThrow(KplDecodeError);
    expect(() => decodeAggregated(flipped)).toThrow(/checksum/);
    expect(() => decodeAggregated(truncated)).toThrow(/overruns/);
    expect(() => decodeAggregated(badIndex)).toThrow(/partition_key_index 3/);
    expect(() => decodeAggregated(KPL_MAGIC)).toThrow(KplDecodeError);
  });

  test('skips tags and unknown fields', () => {
    // Prepare: Record { pk=0, data="hi", tags { key="t" } }, then an unknown varint field 9
    const recordBody = Buffer.from([0x08, 0x00, 0x1a, 0x02, 0x68, 0x69, 0x22, 0x03, 0x0a, 0x01, 0x74]);
    const body = Buffer.concat([Buffer.from([0x0a, 0x01, 0x70, 0x1a, recordBody.length]), recordBody, Buffer.from([0x48, 0x01])]);
    const blob = Buffer.concat([KPL_MAGIC, body, createHash('md5').update(body).digest()]);

    // Act
    const decoded = decodeAggregated(blob);

    // Assess
    expect(plain(decoded)).toEqual([{ partitionKey: 'p', data: Buffer.from('hi').toString('hex') }]);
  });
});

describe('interop with aws-kinesis-agg', () => {
  const records = Array.from({ length: 200 }, (_, i) =>
    rec(`pk-${i % 17}-ü`, `payload ${i} ✓`, i % 4 === 0 ? String(BigInt(i) * 10n ** 30n) : undefined),
  );

  test('our aggregated records deaggregate with its deaggregateSync, checksums on', () => {
    // Act
    const theirs = theirDecode(encodeAggregated(records));

    // Assess (its protobufjs reader reports explicit_hash_key_index 0 when the field is absent, so
    // its explicitPartitionKey is only meaningful for records that have one)
    expect(
      theirs.map((r, i) => ({
        partitionKey: r.partitionKey,
        ehk: records[i].explicitHashKey === undefined ? undefined : r.explicitPartitionKey,
        data: Buffer.from(r.data, 'base64').toString(),
      })),
    ).toEqual(records.map((r) => ({ partitionKey: r.partitionKey, ehk: r.explicitHashKey, data: Buffer.from(r.data).toString() })));
  });

  test('its aggregated records decode with ours', async () => {
    // Act
    const encoded = await theirEncode(records.map((r) => ({ ...r, data: Buffer.from(r.data) })));
    const ours = encoded.flatMap((e) => decodeAggregated(e.data));

    // Assess
    expect(encoded.every((e) => isAggregated(e.data))).toBe(true);
    expect(plain(ours)).toEqual(plain(records));
  });
});

describe('writeAggregateRecord', () => {
  /** The protobuf `Record` field, written the plain way: every varint by the general rule. */
  function expected(pk: number, ehk: number, data: Buffer): Buffer {
    const varint = (value: number): number[] => {
      const out: number[] = [];
      while (value >= 0x80) {
        out.push((value & 0x7f) | 0x80);
        value = Math.floor(value / 128);
      }
      out.push(value);
      return out;
    };
    const body = [0x08, ...varint(pk), ...(ehk >= 0 ? [0x10, ...varint(ehk)] : []), 0x1a, ...varint(data.length)];
    return Buffer.concat([Buffer.from([0x1a, ...varint(body.length + data.length), ...body]), data]);
  }

  test('writes the same bytes as the general varint rule on both sides of its one-byte fast path (key index 127/128, body 127/128 bytes), for bytes and text', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: 0, max: 130 }), fc.integer({ min: 0, max: 70_000 })),
        fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 130 })),
        fc.oneof(fc.integer({ min: 118, max: 130 }), fc.integer({ min: 0, max: 20_000 })),
        fc.boolean(),
        (pk, ehk, length, text) => {
          const data = Buffer.alloc(length, 0x61);
          const out = Buffer.alloc(length + 32, 0xff);
          const end = writeAggregateRecord(out, 3, pk, ehk, text ? data.toString('latin1') : data, length);
          const want = expected(pk, ehk, data);
          // Compared as hex of the framing (the data bytes are all 'a'): a readable diff, fast.
          expect(end - 3).toBe(want.length);
          expect(out.subarray(3, end - length).toString('hex')).toBe(want.subarray(0, want.length - length).toString('hex'));
          expect(out.subarray(end - length, end).equals(data)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});
