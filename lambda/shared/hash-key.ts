import { createHash } from 'crypto';

/** The largest hash key of a Kinesis stream: 2^128 - 1. */
export const MAX_HASH_KEY: bigint = (1n << 128n) - 1n;

/** The hash key Kinesis gives a partition key: the MD5 of its UTF-8 bytes as a big-endian 128-bit integer. */
export function hashKeyOf(partitionKey: string): bigint {
  const digest = createHash('md5').update(partitionKey, 'utf8').digest();
  return (digest.readBigUInt64BE(0) << 64n) | digest.readBigUInt64BE(8);
}

const DECIMAL = /^(0|[1-9][0-9]{0,38})$/;

/** The value of an explicit hash key (a decimal in 0..2^128-1), or undefined if it is not one. */
export function parseHashKey(text: string): bigint | undefined {
  if (!DECIMAL.test(text)) {
    return undefined;
  }
  const value = BigInt(text);
  return value <= MAX_HASH_KEY ? value : undefined;
}
