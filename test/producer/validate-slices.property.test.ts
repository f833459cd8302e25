import * as fc from 'fast-check';
import type { ProducerRecord } from '../../lambda/producer/aggregate';
import { DEFAULT_LIMITS, MAX_ORDERING_GROUPS } from '../../lambda/producer/limits';
import { ProducerInputError, parseRequest, parseRequestInSlices } from '../../lambda/producer/validate';
import { MAX_HASH_KEY } from '../../lambda/shared/hash-key';

/**
 * The handler validates a large request in slices, giving the event loop a turn between them so
 * that the progress claim's and the shard map's round trips go on meanwhile. Slicing must not
 * change what validation answers: the same records (numbered keys included) or the same refusal,
 * every broken rule of every slice in request order.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A valid record over a small key pool: text or a JSON value, with a key or without one. */
const valid = (keys: readonly string[]) =>
  fc
    .record({ key: fc.option(fc.nat(), { nil: undefined, freq: 6 }), bytes: fc.integer({ min: 0, max: 400 }), json: fc.boolean() })
    .map(({ key, bytes, json }) => {
      const text = 'd'.repeat(bytes);
      return { data: json ? { text } : text, ...(key === undefined ? {} : { partitionKey: keys[key % keys.length] }) };
    });

/** A record as the caller may send it: valid or breaking one of the rules, over a small key pool. */
const item = (keys: readonly string[]) =>
  fc
    .oneof(
      { weight: 12, arbitrary: fc.record({ key: fc.nat(), bytes: fc.integer({ min: 0, max: 400 }), json: fc.boolean() }) },
      { weight: 1, arbitrary: fc.constantFrom<unknown>(null, 7, 'text', [1]) },
      { weight: 1, arbitrary: fc.constantFrom({ data: 'x', partitionKey: '' }, { data: 'x', partitionKey: 'k'.repeat(257) }) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          { data: 'x', explicitHashKey: 'twelve' },
          { data: 'x', explicitHashKey: (MAX_HASH_KEY + 1n).toString() },
        ),
      },
      { weight: 1, arbitrary: fc.constantFrom({ partitionKey: 'k' }, { data: null, partitionKey: 'k' }) },
      { weight: 2, arbitrary: fc.record({ data: fc.string({ maxLength: 20 }) }) },
      {
        weight: 1,
        arbitrary: fc
          .bigInt({ min: 0n, max: MAX_HASH_KEY })
          .map((hashKey) => ({ data: 'x', partitionKey: 'k', explicitHashKey: hashKey.toString() })),
      },
    )
    .map((drawn) => {
      if (typeof drawn === 'object' && drawn !== null && 'bytes' in drawn) {
        const { key, bytes, json } = drawn as { key: number; bytes: number; json: boolean };
        const text = 'd'.repeat(bytes);
        return { data: json ? { text } : text, partitionKey: keys[key % keys.length] };
      }
      return drawn;
    });

const bodies = fc
  .uniqueArray(fc.string({ minLength: 1, maxLength: 12, unit: 'grapheme' }), { minLength: 1, maxLength: 20 })
  .chain((keys) =>
    // Half the requests valid throughout (a long request with a broken record somewhere is refused).
    fc.oneof(fc.array(valid(keys), { minLength: 1, maxLength: 200 }), fc.array(item(keys), { minLength: 1, maxLength: 200 })),
  )
  .map((records) => ({ records }));

/** Records with each keyless record's random key replaced by a marker (checked to be a UUID). */
function comparable(records: readonly ProducerRecord[], keyless: ReadonlySet<number>): unknown[] {
  return records.map((record) => {
    if (!keyless.has(record.index)) {
      return record;
    }
    expect(record.partitionKey).toMatch(UUID);
    return { ...record, partitionKey: '<random>' };
  });
}

async function outcome<T>(run: () => T | Promise<T>): Promise<{ value?: T; error?: unknown }> {
  try {
    return { value: await run() };
  } catch (error) {
    return { error };
  }
}

describe('validation in slices (parseRequestInSlices)', () => {
  test('answers what parseRequest answers, for any slice size: the same records and key numbers, or the same refusal', async () => {
    await fc.assert(
      fc.asyncProperty(
        bodies,
        fc.integer({ min: 1, max: 64 }),
        fc.oneof(fc.constant(DEFAULT_LIMITS.maxEntryBytes), fc.integer({ min: 40, max: 400 })),
        fc.oneof(fc.constant(0), fc.integer({ min: 1, max: MAX_ORDERING_GROUPS })),
        async (body, slice, maxEntryBytes, orderingGroups) => {
          const ordering = { ...DEFAULT_LIMITS, maxEntryBytes, orderingGroups };
          const whole = await outcome(() => parseRequest(body, maxEntryBytes, ordering));
          const sliced = await outcome(() => parseRequestInSlices(body, maxEntryBytes, ordering, slice));
          if (whole.error !== undefined) {
            expect(sliced.error).toBeInstanceOf(ProducerInputError);
            expect((sliced.error as ProducerInputError).errors).toEqual((whole.error as ProducerInputError).errors);
            expect((sliced.error as Error).message).toBe((whole.error as Error).message);
            return;
          }
          expect(sliced.error).toBeUndefined();
          const keyless = new Set(
            body.records.flatMap((record, index) =>
              typeof record === 'object' && record !== null && !('partitionKey' in record) ? [index] : [],
            ),
          );
          expect(comparable(sliced.value!, keyless)).toEqual(comparable(whole.value!, keyless));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('gives the event loop a turn after every slice, and none when the request fits one slice', async () => {
    // Prepare
    const body = { records: Array.from({ length: 10 }, (_, i) => ({ data: `r${i}`, partitionKey: `k${i % 3}` })) };
    const turnsDuring = async (slice: number): Promise<number> => {
      let turns = 0;
      let done = false;
      const tick = () => {
        if (!done) {
          turns++;
          setImmediate(tick);
        }
      };
      setImmediate(tick);
      await parseRequestInSlices(body, DEFAULT_LIMITS.maxEntryBytes, DEFAULT_LIMITS, slice);
      done = true;
      return turns;
    };

    // Act
    const inFour = await turnsDuring(3);
    const inOne = await turnsDuring(10);

    // Assess: 3 + 3 + 3 + 1 records, a turn between slices; one slice runs through without one
    expect(inFour).toBe(3);
    expect(inOne).toBe(0);
  });

  test('a slice size below one record counts as one (no endless loop)', async () => {
    // Act
    const records = await parseRequestInSlices(
      { records: [{ data: 'a' }, { data: 'b' }] },
      DEFAULT_LIMITS.maxEntryBytes,
      DEFAULT_LIMITS,
      0,
    );

    // Assess
    expect(records.map((record) => record.data)).toEqual(['a', 'b']);
  });
});
