/**
 * The reference a user would write today instead of ProducerFunction: the same direct-invoke event
 * `{ records: [{ data, partitionKey? }] }`, aws-kinesis-agg's `aggregate` (KPL aggregates up to
 * 1 MiB, not shard-aware), PutRecords of at most 500 entries and 5 MiB, failed entries retried
 * (three tries), a KinesisClient with the SDK's defaults but HTTP/1.1. Bundled as the constructs bundle.
 */
import { randomUUID } from 'crypto';
import { KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import * as agg from 'aws-kinesis-agg';

// HTTP/1.1 with keep-alive, as ours: the loopback endpoint speaks HTTP/1.1 (the SDK's Kinesis
// client would otherwise try HTTP/2), so both contenders use the same transport.
const client = new KinesisClient({ requestHandler: new NodeHttpHandler({ httpAgent: { keepAlive: true, maxSockets: 50 } }) });

interface Event {
  records: Array<{ data: unknown; partitionKey?: string }>;
}

function aggregate(records: Array<{ partitionKey: string; data: Buffer }>): Promise<PutRecordsRequestEntry[]> {
  return new Promise((resolve, reject) => {
    const out: PutRecordsRequestEntry[] = [];
    agg.aggregate(
      records as never,
      (encoded, done) => {
        const e = encoded as unknown as { partitionKey: string; explicitHashKey?: string; data: Buffer };
        out.push({ PartitionKey: e.partitionKey, ...(e.explicitHashKey ? { ExplicitHashKey: e.explicitHashKey } : {}), Data: e.data });
        done();
      },
      () => resolve(out),
      reject,
    );
  });
}

export async function handler(event: Event): Promise<{ recordCount: number; writtenCount: number; failedCount: number }> {
  const records = event.records.map((r) => ({
    partitionKey: r.partitionKey ?? randomUUID(),
    data: Buffer.from(typeof r.data === 'string' ? r.data : JSON.stringify(r.data), 'utf8'),
  }));
  const entries = await aggregate(records);
  const batches: PutRecordsRequestEntry[][] = [];
  let batch: PutRecordsRequestEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = entry.Data!.length + Buffer.byteLength(entry.PartitionKey!);
    if (batch.length > 0 && (batch.length >= 500 || bytes + size > 5 * 1024 * 1024)) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(entry);
    bytes += size;
  }
  if (batch.length > 0) {
    batches.push(batch);
  }
  let failedEntries = 0;
  for (let pending of batches) {
    for (let attempt = 0; pending.length > 0 && attempt < 3; attempt++) {
      const answer = await client.send(new PutRecordsCommand({ StreamName: process.env.STREAM_NAME, Records: pending }));
      pending = pending.filter((_, i) => answer.Records?.[i]?.ErrorCode !== undefined);
    }
    failedEntries += pending.length;
  }
  const failedCount = failedEntries === 0 ? 0 : records.length; // an aggregate's records are not told apart
  return { recordCount: records.length, writtenCount: records.length - failedCount, failedCount };
}
