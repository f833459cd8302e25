import { consumeBatch, type RecordProcessor } from '../../lambda/consumer/consumer';
import type { UserRecord } from '../../lambda/shared/deaggregate';
import { encodeAggregated } from '../helpers/kpl-encoder';
import { kinesisRecord, lambdaContext, MemoryLeaseStore, SEQ_BASE } from './factories';

const seq = (offset: number) => String(SEQ_BASE + BigInt(offset));
const text = (record: UserRecord) => record.data.toString('utf8');
const SHARD = 'shardId-000000000000';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An aggregate at `offset` under outer key `outer`, of user records `key:value`. */
function aggregate(offset: number, outer: string, items: string[]) {
  return kinesisRecord(encodeAggregated(items.map((item) => ({ partitionKey: item.split(':')[0], data: Buffer.from(item) }))), {
    offset,
    partitionKey: outer,
  });
}

describe('consumeBatch with RecordOrdering.PARTITION_KEY', () => {
  test('a failure stops its partition key only: other keys go on, the response names the lowest record not fully processed', async () => {
    // Prepare
    const seen: string[] = [];
    const processRecord: RecordProcessor = async (r) => {
      if (text(r) === 'k2:1') {
        throw new Error('poison');
      }
      seen.push(text(r));
    };
    const leases = new MemoryLeaseStore();
    const batch = [
      aggregate(1, 'g', ['k1:0', 'k2:0']),
      aggregate(2, 'g', ['k1:1', 'k2:1', 'k3:1']),
      aggregate(3, 'g', ['k1:2', 'k2:2', 'k3:2']),
    ];
    // Act
    const { response, shards } = await consumeBatch(batch, lambdaContext(), { processRecord, owner: 'fn', leases: leases.asStore() });
    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: seq(2) }]);
    expect(seen.sort()).toEqual(['k1:0', 'k1:1', 'k1:2', 'k2:0', 'k3:1', 'k3:2']);
    expect(shards[0]).toMatchObject({
      userRecords: 6,
      failures: 1,
      failed: true,
      checkpoint: { sequenceNumber: seq(2), subSequenceNumber: 0 },
      progressKeys: 1,
    });
  });

  test("Lambda's retry from the named record processes the failed key once and skips everything finished past it", async () => {
    // Prepare: k2:1 fails on its first attempt only
    const seen: string[] = [];
    let poisoned = true;
    const processRecord: RecordProcessor = async (r) => {
      if (text(r) === 'k2:1' && poisoned) {
        poisoned = false;
        throw new Error('transient');
      }
      seen.push(text(r));
    };
    const leases = new MemoryLeaseStore();
    const batch = [aggregate(1, 'g', ['k1:0', 'k2:0']), aggregate(2, 'g', ['k1:1', 'k2:1', 'k3:1']), aggregate(3, 'h', ['k4:2', 'k2:2'])];
    const first = await consumeBatch(batch, lambdaContext(), { processRecord, owner: 'fn', leases: leases.asStore() });
    // Act
    const retry = await consumeBatch(batch.slice(1), lambdaContext(), { processRecord, owner: 'fn', leases: leases.asStore() });
    const again = await consumeBatch(batch, lambdaContext(), { processRecord, owner: 'fn', leases: leases.asStore() });
    // Assess
    expect(first.response.batchItemFailures).toEqual([{ itemIdentifier: seq(2) }]);
    expect(retry.response.batchItemFailures).toEqual([]);
    expect(retry.shards[0]).toMatchObject({
      userRecords: 2,
      duplicatesSkipped: 3,
      checkpoint: { sequenceNumber: seq(3), subSequenceNumber: 1 },
      progressKeys: 0,
    });
    expect(again.shards[0]).toMatchObject({ userRecords: 0, duplicatesSkipped: 7 });
    expect(seen.filter((s) => s.startsWith('k2'))).toEqual(['k2:0', 'k2:1', 'k2:2']);
    expect([...seen].sort()).toEqual(['k1:0', 'k1:1', 'k2:0', 'k2:1', 'k2:2', 'k3:1', 'k4:2']);
    expect(leases.leases.get(SHARD)?.progress).toBeUndefined();
  });

  test('keeps each key in order while keys overlap, and never runs more than maxConcurrency at once', async () => {
    // Prepare: 12 keys x 8 records, processors of random length
    const items = Array.from({ length: 96 }, (_, i) => `k${i % 12}:${Math.floor(i / 12)}`);
    const batch = Array.from({ length: 24 }, (_, r) => aggregate(r + 1, `g${r % 3}`, items.slice(r * 4, r * 4 + 4)));
    const order = new Map<string, number[]>();
    let inFlight = 0;
    let most = 0;
    const processRecord: RecordProcessor = async (r) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await sleep(Math.random() * 3);
      const [key, n] = text(r).split(':');
      order.set(key, [...(order.get(key) ?? []), Number(n)]);
      inFlight--;
    };
    // Act
    const { shards } = await consumeBatch(batch, lambdaContext(), { processRecord, owner: 'fn', maxConcurrency: 5 });
    // Assess
    expect(shards[0].userRecords).toBe(96);
    expect(most).toBe(5);
    for (const sequence of order.values()) {
      expect(sequence).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    }
  });

  test('above parallelization factor 1 the checkpoint stays put and per-key progress makes redelivery exact', async () => {
    // Prepare: two lanes of one shard (outer keys g and h), as Lambda splits them at PF 2
    const leases = new MemoryLeaseStore();
    const seen: string[] = [];
    const processRecord: RecordProcessor = async (r) => {
      seen.push(text(r));
    };
    const deps = { processRecord, owner: 'fn', leases: leases.asStore(), maxParallelizationFactor: 2 };
    const laneG = [aggregate(1, 'g', ['a:1']), aggregate(3, 'g', ['a:3'])];
    const laneH = [aggregate(2, 'h', ['b:2']), aggregate(4, 'h', ['b:4'])];
    // Act: lane h runs ahead and finishes; lane g's first batch only has its first record yet
    await consumeBatch(laneH, lambdaContext(), deps);
    await consumeBatch(laneG.slice(0, 1), lambdaContext(), deps);
    // the mapping restarts from its own checkpoint and delivers everything again, lanes re-formed
    const replay = await consumeBatch(
      [...laneG, ...laneH].sort((x, y) => x.kinesis.sequenceNumber.localeCompare(y.kinesis.sequenceNumber)),
      lambdaContext(),
      deps,
    );
    // Assess
    expect(seen).toEqual(['b:2', 'b:4', 'a:1', 'a:3']);
    expect(replay.shards[0]).toMatchObject({ userRecords: 1, duplicatesSkipped: 3, checkpoint: { sequenceNumber: 'TRIM_HORIZON' } });
    expect([...leases.leases.get(SHARD)!.progress!.keys()].sort()).toEqual(['g', 'h']);
  });

  test("concurrent invocations of one shard never lose each other's progress", async () => {
    // Prepare: both read the lease before either writes
    const leases = new MemoryLeaseStore();
    const gate: Array<() => void> = [];
    const processRecord: RecordProcessor = async () => {
      await new Promise<void>((resolve) => gate.push(resolve));
    };
    const deps = { processRecord, owner: 'fn', leases: leases.asStore(), maxParallelizationFactor: 2 };
    const one = consumeBatch([aggregate(1, 'g', ['a:1']), aggregate(3, 'g', ['a:3'])], lambdaContext(), deps);
    const two = consumeBatch([aggregate(2, 'h', ['b:2'])], lambdaContext(), deps);
    while (gate.length < 2) {
      await sleep(1);
    }
    // Act
    while (gate.length > 0) {
      gate.shift()!();
      await sleep(2);
    }
    const outcomes = await Promise.all([one, two]);
    // Assess
    const progress = leases.leases.get(SHARD)!.progress!;
    expect(progress.get('g')?.upTo).toEqual({ sequence: SEQ_BASE + 3n, sub: 0 });
    expect(progress.get('h')?.upTo).toEqual({ sequence: SEQ_BASE + 2n, sub: 0 });
    expect(outcomes.every((o) => o.response.batchItemFailures.length === 0)).toBe(true);
  });

  test('a lease write that loses to another invocation of the shard reads the lease again, merges and writes both', async () => {
    // Prepare: another invocation (lane h) writes its progress just before this one's first write
    class RacingStore extends MemoryLeaseStore {
      private raced = false;
      public override async checkpoint(...args: Parameters<MemoryLeaseStore['checkpoint']>): ReturnType<MemoryLeaseStore['checkpoint']> {
        if (!this.raced) {
          this.raced = true;
          const now = (await this.get(SHARD))!;
          await super.checkpoint(now, now.checkpoint, new Map([['h', { upTo: { sequence: SEQ_BASE + 2n, sub: 0 }, runs: [], seenAt: 0 }]]));
        }
        return super.checkpoint(...args);
      }
    }
    const leases = new RacingStore();
    // Act
    const { shards } = await consumeBatch([aggregate(1, 'g', ['a:1']), aggregate(3, 'g', ['a:3'])], lambdaContext(), {
      processRecord: async () => undefined,
      owner: 'fn',
      leases: leases.asStore(),
      maxParallelizationFactor: 2,
    });
    // Assess
    const progress = leases.leases.get(SHARD)!.progress!;
    expect(shards[0].leaseConflicts).toBe(1);
    expect(progress.get('g')?.upTo).toEqual({ sequence: SEQ_BASE + 3n, sub: 0 });
    expect(progress.get('h')?.upTo).toEqual({ sequence: SEQ_BASE + 2n, sub: 0 });
  });

  test('stops waiting for a hung record when the time budget ends: it is reported, what finished is checkpointed', async () => {
    // Prepare
    const leases = new MemoryLeaseStore();
    const processRecord: RecordProcessor = (r) => (text(r) === 'b:2' ? new Promise<void>(() => undefined) : Promise.resolve());
    const batch = [aggregate(1, 'g', ['a:1']), aggregate(2, 'g', ['b:2']), aggregate(3, 'g', ['c:3'])];
    // Act: 400 ms left, reserve 300 ms: all start, then the wait ends when 75 ms (a quarter) are left
    const started = Date.now();
    const { response, shards } = await consumeBatch(batch, lambdaContext(400), {
      processRecord,
      owner: 'fn',
      leases: leases.asStore(),
      reserveMillis: 300,
    });
    // Assess
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: seq(2) }]);
    expect(shards[0]).toMatchObject({ userRecords: 2, checkpoint: { sequenceNumber: seq(1), subSequenceNumber: 0 } });
    expect(leases.leases.get(SHARD)?.progress?.get('g')?.runs).toEqual([
      { from: { sequence: SEQ_BASE + 3n, sub: 0 }, to: { sequence: SEQ_BASE + 3n, sub: 0 } },
    ]);
  });

  test('a lease progress over its bound drops keys (counted), so their redelivered records run again, never skipped unprocessed', async () => {
    // Prepare: 30 outer keys each with a failure, so each keeps progress above the checkpoint
    const leases = new MemoryLeaseStore();
    const batch = Array.from({ length: 30 }, (_, i) => aggregate(i + 1, `outer-${i}`, [`x${i}:fail`, `y${i}:ok`]));
    const processRecord: RecordProcessor = async (r) => {
      if (text(r).endsWith('fail')) {
        throw new Error('fail');
      }
    };
    // Act
    const { shards } = await consumeBatch(batch, lambdaContext(), {
      processRecord,
      owner: 'fn',
      leases: leases.asStore(),
      maxParallelizationFactor: 10,
      maxProgressBytes: 200,
    });
    const seen: string[] = [];
    const retry = await consumeBatch(batch, lambdaContext(), {
      processRecord: async (r) => {
        seen.push(text(r));
      },
      owner: 'fn',
      leases: leases.asStore(),
      maxParallelizationFactor: 10,
      maxProgressBytes: 200,
    });
    // Assess
    expect(shards[0].progressEvicted).toBeGreaterThan(0);
    expect(shards[0].progressKeys + shards[0].progressEvicted).toBe(30);
    expect(seen.filter((s) => s.endsWith('fail'))).toHaveLength(30);
    expect(seen.filter((s) => s.endsWith('ok'))).toHaveLength(shards[0].progressEvicted);
    expect(retry.response.batchItemFailures).toEqual([]);
  });
});
