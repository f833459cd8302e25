import fc from 'fast-check';
import {
  comparePositions,
  coveredByEntry,
  decodeProgress,
  encodedSize,
  encodeProgress,
  fitProgress,
  mergeProgress,
  normalizeEntry,
  ProgressDecodeError,
  pruneBelow,
  type KeyProgress,
  type Position,
  type ShardProgress,
} from '../../lambda/shared/progress';
import { SEQ_BASE } from './factories';

/** Positions on a small grid (so that random entries overlap), as real sequence numbers. */
const position = fc
  .record({ offset: fc.integer({ min: 0, max: 40 }), sub: fc.integer({ min: 0, max: 3 }) })
  .map(({ offset, sub }): Position => ({ sequence: SEQ_BASE + BigInt(offset) * 1_000_000_007n, sub }));
const run = fc.tuple(position, position).map(([a, b]) => (comparePositions(a, b) <= 0 ? { from: a, to: b } : { from: b, to: a }));
const entry = fc
  .record({
    upTo: fc.option(position, { nil: undefined }),
    runs: fc.array(run, { maxLength: 4 }),
    seenAt: fc.integer({ min: 0, max: 2_000_000 }).map((s) => s * 1000),
  })
  .map((e): KeyProgress => normalizeEntry(e));
const progress = fc
  .dictionary(fc.string({ minLength: 1, maxLength: 6 }), entry, { maxKeys: 6 })
  .map((d): ShardProgress => new Map(Object.entries(d)));

const covers = (p: ShardProgress, key: string, at: Position) => coveredByEntry(p.get(key), at.sequence, at.sub);

describe('shard progress (per outer partition key, above the low watermark)', () => {
  test('encoding round-trips any progress exactly, and encodedSize is its length', () => {
    fc.assert(
      fc.property(progress, (p) => {
        // Act
        const bytes = encodeProgress(p);
        // Assess
        expect(decodeProgress(bytes)).toEqual(p);
        expect(encodedSize(p)).toBe(bytes.length);
      }),
    );
  });

  test('merging is a union: a position is covered by the merge if and only if one side covers it', () => {
    fc.assert(
      fc.property(progress, progress, fc.constantFrom('a', 'b', 'c', ''), position, (a, b, key, at) => {
        // Act
        const merged = mergeProgress(a, b);
        // Assess
        expect(covers(merged, key, at)).toBe(covers(a, key, at) || covers(b, key, at));
      }),
      { numRuns: 500 },
    );
  });

  test('merging is commutative and idempotent (concurrent writers converge, whatever the order)', () => {
    fc.assert(
      fc.property(progress, progress, (a, b) => {
        // Act
        const ab = mergeProgress(a, b);
        const ba = mergeProgress(b, a);
        // Assess
        expect(encodeProgress(new Map([...ab].sort()))).toEqual(encodeProgress(new Map([...ba].sort())));
        expect(mergeProgress(ab, ab)).toEqual(ab);
      }),
    );
  });

  test('pruning below the low watermark keeps every position above it exactly as covered as before', () => {
    fc.assert(
      fc.property(progress, position, fc.constantFrom('a', 'b', ''), position, (p, low, key, at) => {
        // Act
        const pruned = pruneBelow(p, low);
        // Assess
        if (comparePositions(at, low) > 0) {
          expect(covers(pruned, key, at)).toBe(covers(p, key, at));
        }
      }),
      { numRuns: 500 },
    );
  });

  test('the size bound drops whole entries (longest unseen first) and never covers anything new', () => {
    fc.assert(
      fc.property(progress, fc.integer({ min: 10, max: 200 }), fc.constantFrom('a', 'b', ''), position, (p, maxBytes, key, at) => {
        // Act
        const { progress: fitted, evicted } = fitProgress(p, maxBytes);
        // Assess
        expect(encodedSize(fitted) <= maxBytes || fitted.size === 0).toBe(true);
        expect(fitted.size + evicted).toBe(p.size);
        if (covers(fitted, key, at)) {
          expect(covers(p, key, at)).toBe(true);
        }
        const dropped = [...p.keys()].filter((k) => !fitted.has(k));
        const kept = [...fitted.values()];
        for (const k of dropped) {
          expect(kept.every((e) => e.seenAt >= p.get(k)!.seenAt)).toBe(true);
        }
      }),
    );
  });

  test("a run that reaches the key's upTo is folded into it; separate runs stay separate", () => {
    // Prepare
    const at = (offset: number, sub = 0): Position => ({ sequence: SEQ_BASE + BigInt(offset), sub });
    // Act
    const folded = normalizeEntry({
      upTo: at(5),
      runs: [
        { from: at(9), to: at(12) },
        { from: at(3), to: at(7) },
      ],
      seenAt: 0,
    });
    // Assess
    expect(folded).toEqual({ upTo: at(7), runs: [{ from: at(9), to: at(12) }], seenAt: 0 });
    expect(coveredByEntry(folded, at(8).sequence, 0)).toBe(false);
    expect(coveredByEntry(folded, at(10).sequence, 5)).toBe(true);
  });

  test('refuses bytes it did not write, naming what is wrong', () => {
    // Prepare
    const good = encodeProgress(new Map([['k', { upTo: { sequence: SEQ_BASE, sub: 1 }, runs: [], seenAt: 0 }]]));
    // Act, Assess
    expect(() => decodeProgress(Buffer.from([9]))).toThrow(/unknown version 9/);
    expect(() => decodeProgress(good.subarray(0, good.length - 2))).toThrow(ProgressDecodeError);
    expect(() => decodeProgress(Buffer.concat([good, Buffer.from([0])]))).toThrow(/bytes after the last entry/);
  });
});
