/**
 * The scenario of issue 13, as one example: with a parallelization factor of 2, an older, slower
 * batch of a shard runs beside a newer one; the newer one finishes and writes the lease first;
 * then the older one fails part-way, and Lambda delivers it again from the record it named, and
 * later delivers the newer batch once more (at least once). Before the per-key progress, the
 * newer batch's checkpoint made the older batch's redelivery skip records never processed.
 */
import type { KinesisStreamRecord } from 'aws-lambda';
import { consumeBatch, type ConsumerDeps, type RecordProcessor } from '../../lambda/consumer/consumer';
import type { Ordering } from '../../lambda/consumer/contract';
import { encodeAggregated } from '../helpers/kpl-encoder';
import { compareExtended } from '../../lambda/shared/sequence-number';
import { kinesisRecord, lambdaContext, MemoryLeaseStore } from './factories';

const AGGREGATES = 100;
const PER_AGGREGATE = 9;

/**
 * One shard as ProducerFunction writes it: aggregates alternating between two outer keys (two
 * ordering groups), each user key always under the same one. Lambda, at PF 2, puts the two
 * outer keys in two lanes: the even records in one batch, the odd ones in the other.
 */
function shard(): { older: KinesisStreamRecord[]; newer: KinesisStreamRecord[]; ids: string[] } {
  const older: KinesisStreamRecord[] = [];
  const newer: KinesisStreamRecord[] = [];
  const ids: string[] = [];
  for (let offset = 0; offset < AGGREGATES; offset++) {
    const group = offset % 2 === 0 ? 'a' : 'b';
    const users = Array.from({ length: PER_AGGREGATE }, (_, sub) => {
      const id = `${offset}.${sub}`;
      ids.push(id);
      return { partitionKey: `user-${group}${sub % 5}`, data: Buffer.from(id) };
    });
    const record = kinesisRecord(encodeAggregated(users), { offset, partitionKey: `group-${group}` });
    (group === 'a' ? older : newer).push(record);
  }
  return { older, newer, ids };
}

describe('two batches of one shard at parallelization factor 2', () => {
  test('the older batch fails part-way after the newer one wrote the lease: its redelivery loses nothing and repeats nothing', async () => {
    // Prepare
    const { older, newer, ids } = shard();
    const memory = new MemoryLeaseStore();
    const completions = new Map<string, number>();
    let olderStarted!: () => void;
    const olderRunning = new Promise<void>((resolve) => (olderStarted = resolve));
    let releaseOlder!: () => void;
    const newerDone = new Promise<void>((resolve) => (releaseOlder = resolve));
    // The older batch (even offsets) fails once, at the 5th user record of its 26th aggregate (offset 50).
    const poisoned = { id: '50.4', failed: false };
    const processRecord: RecordProcessor = async (record) => {
      const id = record.data.toString('utf8');
      if (Number(id.split('.')[0]) % 2 === 0) {
        // The older batch is the slow one: nothing of it completes before the newer batch is done.
        olderStarted();
        await newerDone;
      }
      if (id === poisoned.id && !poisoned.failed) {
        poisoned.failed = true;
        throw new Error(`transient failure of ${id}`);
      }
      completions.set(id, (completions.get(id) ?? 0) + 1);
    };
    const deps = {
      processRecord,
      leases: memory.asStore(),
      owner: 'consumer-fn',
      ordering: 'partition-key' as Ordering,
      maxConcurrency: 10,
      maxParallelizationFactor: 2,
    } satisfies ConsumerDeps;

    // Act: the older batch starts and reads the lease; the newer one runs to its end beside it
    const olderFirst = consumeBatch(older, lambdaContext(), deps);
    await olderRunning;
    const newerFirst = await consumeBatch(newer, lambdaContext(), deps);
    releaseOlder();
    const olderAnswer = await olderFirst;
    // Lambda retries the older batch from the record it named, then delivers the newer one again
    const named = olderAnswer.response.batchItemFailures[0]?.itemIdentifier;
    const retryFrom = older.findIndex((record) => record.kinesis.sequenceNumber === named);
    const olderRetry = await consumeBatch(retryFrom < 0 ? older : older.slice(retryFrom), lambdaContext(), deps);
    const newerAgain = await consumeBatch(newer, lambdaContext(), deps);

    // Assess
    expect(newerFirst.response.batchItemFailures).toEqual([]);
    expect(olderAnswer.response.batchItemFailures).toEqual([{ itemIdentifier: older[25].kinesis.sequenceNumber }]);
    expect(olderRetry.response.batchItemFailures).toEqual([]);
    expect(newerAgain.response.batchItemFailures).toEqual([]);
    const never = ids.filter((id) => !completions.has(id));
    const twice = ids.filter((id) => (completions.get(id) ?? 0) > 1);
    expect({ userRecords: ids.length, neverProcessed: never.length, processedTwice: twice.length }).toEqual({
      userRecords: AGGREGATES * PER_AGGREGATE,
      neverProcessed: 0,
      processedTwice: 0,
    });
    // The checkpoint (low watermark) never moved back.
    for (let i = 1; i < memory.checkpoints.length; i++) {
      expect(compareExtended(memory.checkpoints[i], memory.checkpoints[i - 1])).toBeGreaterThanOrEqual(0);
    }
  });
});
