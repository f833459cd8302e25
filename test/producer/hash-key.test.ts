import { createHash } from 'crypto';
import { MAX_HASH_KEY, hashKeyOf, inHashRange, parseHashKey, rememberedHashKeyOf, routingHashKey } from '../../lambda/shared/hash-key';

describe('hash keys', () => {
  test('hashKeyOf reads the MD5 of the UTF-8 partition key as a big-endian 128-bit integer', () => {
    // Prepare
    const key = 'clé-🔑';

    // Act
    const hashKey = hashKeyOf(key);

    // Assess
    expect(hashKey).toBe(BigInt(`0x${createHash('md5').update(Buffer.from(key, 'utf8')).digest('hex')}`));
    expect(hashKeyOf('')).toBe(0xd41d8cd98f00b204e9800998ecf8427en);
    expect(MAX_HASH_KEY).toBe(340282366920938463463374607431768211455n);
  });

  test('parseHashKey accepts decimals in 0..2^128-1 only', () => {
    expect(parseHashKey('0')).toBe(0n);
    expect(parseHashKey(MAX_HASH_KEY.toString())).toBe(MAX_HASH_KEY);
    expect(parseHashKey((MAX_HASH_KEY + 1n).toString())).toBeUndefined();
    for (const bad of ['', '-1', '01', '1.5', '0x10', ' 1', '1e3', '9'.repeat(40)]) {
      expect(parseHashKey(bad)).toBeUndefined();
    }
  });
});

describe('routingHashKey and inHashRange', () => {
  test('route by the explicit hash key when there is one, else by the partition key; ranges are inclusive at both ends', () => {
    expect(routingHashKey({ partitionKey: 'k', explicitHashKey: '42' })).toBe(42n);
    expect(routingHashKey({ partitionKey: 'k' })).toBe(hashKeyOf('k'));
    expect([9n, 10n, 20n, 21n].map((key) => inHashRange({ start: 10n, end: 20n }, key))).toEqual([false, true, true, false]);
  });
});

describe('rememberedHashKeyOf', () => {
  test("gives hashKeyOf's value for every key, seen before or not, past the number it keeps too", () => {
    // Prepare
    const keys = Array.from({ length: 20_050 }, (_, i) => `key-${i % 3 === 0 ? 'ключ-' : ''}${i}`);

    // Act
    const first = keys.map((key) => rememberedHashKeyOf(key));
    const again = keys.slice(0, 100).map((key) => rememberedHashKeyOf(key));

    // Assess
    expect(first).toEqual(keys.map((key) => hashKeyOf(key)));
    expect(again).toEqual(keys.slice(0, 100).map((key) => hashKeyOf(key)));
  });
});
