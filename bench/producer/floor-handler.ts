/**
 * The transport floor of the end-to-end benchmark (diagnosis): a handler that sends, per
 * invocation, PutRecords of entries built once at import, as many and as large as ours sends for
 * the input (BENCH_FLOOR_ENTRIES × BENCH_FLOOR_ENTRY_BYTES), through the producer's own Kinesis
 * client. No parsing, validation, packing or progress table: what any producer of these bytes
 * pays for the SDK, the loopback network and the endpoint. The reference's time over this one's
 * is the most any producer can gain on it.
 */
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { MAX_HASH_KEY } from '../../lambda/shared/hash-key';
import { kinesisClient } from '../../lambda/shared/clients';
import { kinesisProtocol } from '../../lambda/producer/put-records-codec';

const count = Number(process.env.BENCH_FLOOR_ENTRIES ?? 45);
const bytes = Number(process.env.BENCH_FLOOR_ENTRY_BYTES ?? 51_200);
const entries = Array.from({ length: count }, (_, i) => ({
  Data: Buffer.alloc(bytes, i % 251),
  PartitionKey: `og-${i % 16}`,
  ExplicitHashKey: ((MAX_HASH_KEY / BigInt(count)) * BigInt(i)).toString(),
}));

export async function handler(event: { records: unknown[] }): Promise<{ recordCount: number; writtenCount: number; failedCount: number }> {
  const client = kinesisClient(() => ({ protocol: kinesisProtocol() }));
  for (let from = 0; from < entries.length; from += 500) {
    await client.send(new PutRecordsCommand({ StreamName: process.env.STREAM_NAME, Records: entries.slice(from, from + 500) }));
  }
  return { recordCount: event.records.length, writtenCount: event.records.length, failedCount: 0 };
}
