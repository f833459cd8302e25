import { hash } from 'crypto';
import fc from 'fast-check';
import { MD5_LANES, MD5_LAYOUT } from '../../lambda/shared/md5-lanes-wasm';
import { md5Each, md5LanesAvailable } from '../../lambda/shared/md5-lanes';
import { KPL_MAGIC, decodeAggregated, sealAggregate, sealAggregates } from '../../lambda/shared/kpl-codec';

const md5 = (message: Uint8Array): Buffer => hash('md5', message, 'buffer');

/**
 * Message lengths where MD5 padding changes (55/56 bytes left: one or two padded blocks), whole
 * blocks, and a lane's window of copied blocks (MD5_LAYOUT.windowBytes) crossed.
 */
const WINDOW = MD5_LAYOUT.windowBytes;
const edgeLength = fc.constantFrom(
  0,
  1,
  55,
  56,
  57,
  63,
  64,
  65,
  119,
  120,
  127,
  128,
  WINDOW - 1,
  WINDOW,
  WINDOW + 55,
  WINDOW + 56,
  2 * WINDOW + 64,
);
const messageLength = fc.oneof(
  { arbitrary: edgeLength, weight: 2 },
  { arbitrary: fc.nat({ max: 300 }), weight: 3 },
  { arbitrary: fc.nat({ max: 3 * WINDOW }), weight: 1 },
);

describe('md5Each: MD5 of many messages, four side by side', () => {
  test('the kernel loads here (Node.js has WebAssembly SIMD): the tests below exercise it, not the fallback', () => {
    expect(md5LanesAvailable()).toBe(true);
  });

  test('each digest is crypto MD5 of its message, over random sets of lengths, offsets and counts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(messageLength, fc.nat({ max: 15 })), { maxLength: 3 * MD5_LANES + 1 }),
        fc.integer(),
        (shapes, seed) => {
          // Messages at odd offsets of one buffer, their contents from the seed.
          const total = shapes.reduce((sum, [length, gap]) => sum + length + gap, 0);
          const backing = Buffer.alloc(total);
          let state = seed >>> 0;
          for (let i = 0; i < total; i++) {
            state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
            backing[i] = state >>> 24;
          }
          let at = 0;
          const messages = shapes.map(([length, gap]) => {
            at += gap;
            const message = backing.subarray(at, at + length);
            at += length;
            return message;
          });
          const digests = messages.map(() => Buffer.alloc(16, 0xee));
          md5Each(messages, digests);
          expect(digests.map((d) => d.toString('hex'))).toEqual(messages.map((m) => md5(m).toString('hex')));
        },
      ),
      { numRuns: 150 },
    );
  });

  test('a digest written right after its own message in one buffer (as an aggregate carries its trailer)', () => {
    const lengths = [0, 70, 4_000, 51_184, 130, 56, 64, 2 * WINDOW + 8, 1, 9];
    const buffers = lengths.map((length, i) => Buffer.alloc(length + 16, i + 1));
    const expected = buffers.map((buffer) => md5(buffer.subarray(0, buffer.length - 16)).toString('hex'));
    md5Each(
      buffers.map((b) => b.subarray(0, b.length - 16)),
      buffers.map((b) => b.subarray(b.length - 16)),
    );
    expect(buffers.map((b) => b.subarray(b.length - 16).toString('hex'))).toEqual(expected);
  });

  test('writes only the first 16 bytes of a longer digest buffer', () => {
    const digests = Array.from({ length: MD5_LANES }, () => Buffer.alloc(20, 0xab));
    const messages = digests.map((_, i) => Buffer.from(`message ${i}`));
    md5Each(messages, digests);
    digests.forEach((digest, i) => {
      expect(digest.subarray(0, 16)).toEqual(md5(messages[i]));
      expect(digest.subarray(16)).toEqual(Buffer.alloc(4, 0xab));
    });
  });

  test('refuses digests shorter than 16 bytes and mismatched lists, naming the rule', () => {
    expect(() => md5Each([Buffer.from('a')], [Buffer.alloc(15)])).toThrow('md5Each: a digest needs 16 bytes, got 15');
    expect(() => md5Each([Buffer.from('a'), Buffer.from('b')], [Buffer.alloc(16)])).toThrow('md5Each: 2 messages but 1 digests');
  });

  test('without WebAssembly (an engine without SIMD), crypto gives the same digests', () => {
    jest.isolateModules(() => {
      const saved = (globalThis as Record<string, unknown>).WebAssembly;
      Object.defineProperty(globalThis, 'WebAssembly', { value: undefined, configurable: true, writable: true });
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const isolated = require('../../lambda/shared/md5-lanes') as typeof import('../../lambda/shared/md5-lanes');
        expect(isolated.md5LanesAvailable()).toBe(false);
        const messages = Array.from({ length: 9 }, (_, i) => Buffer.alloc(i * 1000, i));
        const digests = messages.map(() => Buffer.alloc(16));
        isolated.md5Each(messages, digests);
        expect(digests).toEqual(messages.map(md5));
      } finally {
        Object.defineProperty(globalThis, 'WebAssembly', { value: saved, configurable: true, writable: true });
      }
    });
  });
});

describe('sealAggregates', () => {
  const body = (size: number, fill: number): Buffer => {
    const out = Buffer.alloc(KPL_MAGIC.length + size + 16);
    KPL_MAGIC.copy(out);
    // One record field of `size - 2` bytes (size < 130): tag 0x1a, length, bytes; no keys needed to check the trailer.
    out.fill(fill, KPL_MAGIC.length, KPL_MAGIC.length + size);
    return out;
  };

  test('gives each aggregate the trailer sealAggregate gives it', () => {
    const ours = [10, 60, 200, 5_000, 70_000].map((size, i) => body(size, i));
    const theirs = ours.map((buffer) => Buffer.from(buffer));
    sealAggregates(
      ours,
      ours.map((b) => b.length - 16),
    );
    theirs.forEach((buffer) => sealAggregate(buffer, buffer.length - 16));
    expect(ours).toEqual(theirs);
  });

  test('a trailer that does not end its aggregate is refused, with sizes, before any is written', () => {
    const good = body(20, 1);
    const bad = body(20, 2);
    expect(() => sealAggregates([good, bad], [good.length - 16, bad.length - 17])).toThrow(
      `aggregated record of ${bad.length - 1} bytes written into ${bad.length}`,
    );
    expect(good.subarray(good.length - 16)).toEqual(Buffer.alloc(16));
  });

  test('sealed aggregates decode with their checksum checked', () => {
    const record = (data: string): Buffer => {
      // partition_key_table "k", one record {partition_key_index 0, data}.
      const key = Buffer.from([0x0a, 0x01, 0x6b]);
      const payload = Buffer.from(data);
      const inner = Buffer.concat([Buffer.from([0x08, 0x00, 0x1a, payload.length]), payload]);
      return Buffer.concat([KPL_MAGIC, key, Buffer.from([0x1a, inner.length]), inner, Buffer.alloc(16)]);
    };
    const aggregates = ['a', 'bb', 'ccc', 'dddd', 'eeeee'].map(record);
    sealAggregates(
      aggregates,
      aggregates.map((a) => a.length - 16),
    );
    expect(aggregates.map((a) => decodeAggregated(a).map((r) => Buffer.from(r.data).toString()))).toEqual([
      ['a'],
      ['bb'],
      ['ccc'],
      ['dddd'],
      ['eeeee'],
    ]);
  });
});
