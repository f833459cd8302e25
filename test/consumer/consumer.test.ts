import * as agg from 'aws-kinesis-agg';
import { encodeAggregated } from '../helpers/kpl-encoder';
import { consumeBatch, type RecordProcessor } from '../../lambda/consumer/consumer';
import { createHash } from 'crypto';
import fc from 'fast-check';
import { CorruptRecord, deaggregate, deaggregateRecord, deaggregateRecords } from '../../lambda/shared/deaggregate';
import { KPL_MAGIC } from '../../lambda/shared/kpl-codec';
import type { UserRecord } from '../../lambda/shared/deaggregate';
import type { KinesisStreamRecord } from 'aws-lambda';
import { hashKeyOf, MAX_HASH_KEY } from '../../lambda/shared/hash-key';
import { kinesisRecord, lambdaContext, MemoryLeaseStore, SEQ_BASE } from './factories';

const seq = (offset: number) => String(SEQ_BASE + BigInt(offset));
const text = (record: UserRecord) => record.data.toString('utf8');

function recorder(failOn?: (record: UserRecord) => boolean) {
  const seen: UserRecord[] = [];
  const processRecord: RecordProcessor = async (record) => {
    if (failOn?.(record)) {
      throw new Error(`poison ${text(record)}`);
    }
    seen.push(record);
  };
  return { seen, processRecord };
}

function aggregate(offset: number, values: string[], shardId?: string) {
  return kinesisRecord(
    encodeAggregated(
      values.map((value, i) => ({ partitionKey: `pk-${value}`, data: Buffer.from(value), ...(i === 1 ? { explicitHashKey: '42' } : {}) })),
    ),
    { offset, shardId, partitionKey: 'agg' },
  );
}

describe('deaggregate', () => {
  test('splits KPL aggregates into user records with sub-sequence numbers; plain and corrupt records pass through', () => {
    // Prepare
    const corrupt = encodeAggregated([{ partitionKey: 'x', data: Buffer.from('x') }]);
    corrupt[corrupt.length - 1] ^= 0xff;
    const records = [
      kinesisRecord('plain', { offset: 1, partitionKey: 'p1' }),
      aggregate(2, ['a', 'b', 'c']),
      kinesisRecord(corrupt, { offset: 3, partitionKey: 'p3' }),
    ];
    // Act
    const users = deaggregate(records);
    // Assess
    expect(users.map((u) => [u.sequenceNumber, u.subSequenceNumber, u.partitionKey, u.aggregated])).toEqual([
      [seq(1), 0, 'p1', false],
      [seq(2), 0, 'pk-a', true],
      [seq(2), 1, 'pk-b', true],
      [seq(2), 2, 'pk-c', true],
      [seq(3), 0, 'p3', false],
    ]);
    expect(users.slice(0, 4).map(text)).toEqual(['plain', 'a', 'b', 'c']);
    expect(users[4].data.equals(corrupt)).toBe(true);
    expect(users[2].explicitHashKey).toBe('42');
    expect(users[0]).toMatchObject({ shardId: 'shardId-000000000000', approximateArrivalTimestamp: 1_700_000_000_500 });
  });
});

describe('deaggregateRecords (a batch, its checksums checked all at once)', () => {
  /** A record of each kind the consumer can meet, by number. */
  const kinds = [
    (i: number) => kinesisRecord(`plain ${i}`, { offset: i, partitionKey: `p${i}` }),
    (i: number) =>
      aggregate(
        i,
        Array.from({ length: 1 + (i % 5) }, (_, k) => `${i}.${k}`.repeat(1 + ((i * 7 + k) % 40))),
      ),
    (i: number) => {
      const blob = encodeAggregated([{ partitionKey: `x${i}`, data: Buffer.alloc(100 * i + 1, i) }]);
      blob[4 + (i % (blob.length - 4))] ^= 0x01; // any byte after the magic: body or trailer
      return kinesisRecord(blob, { offset: i, partitionKey: 'broken' });
    },
    (i: number) => {
      const body = Buffer.from([0x1a, 0x20, 0x08, i & 0x7f]); // a Record field of 32 bytes, 2 present
      return kinesisRecord(Buffer.concat([KPL_MAGIC, body, createHash('md5').update(body).digest()]), {
        offset: i,
        partitionKey: 'undecodable',
      });
    },
    (i: number) => kinesisRecord(Buffer.concat([KPL_MAGIC, Buffer.alloc(i % 16)]), { offset: i, partitionKey: 'short' }),
  ];

  test('gives each record what deaggregateRecord gives it alone, over random batches of every kind', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: kinds.length - 1 }), { maxLength: 40 }), (picks) => {
        const records = picks.map((kind, i) => kinds[kind](i + 1));
        const together = deaggregateRecords(records, 'shardId-000000000007');
        expect(together).toEqual(records.map((record) => deaggregateRecord(record, 'shardId-000000000007')));
        // And what each kind gives: user records, or the record whole, flagged when it is not readable.
        picks.forEach((kind, i) => {
          const users = together[i];
          if (kind === 1) {
            expect(users.every((u) => u.aggregated && u.corrupt === undefined)).toBe(true);
          } else {
            expect(users).toHaveLength(1);
            expect(users[0].corrupt).toBe(kind === 2 ? CorruptRecord.CHECKSUM : kind === 3 ? CorruptRecord.UNDECODABLE : undefined);
          }
        });
      }),
      { numRuns: 60 },
    );
  });
});

/** One KPL aggregated record built by aws-kinesis-agg (AWS Labs' implementation of the KPL format). */
function theirAggregate(records: { partitionKey: string; explicitHashKey?: string; data: Buffer }[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const encoded: Buffer[] = [];
    agg.aggregate(
      records as never,
      (record, done) => {
        encoded.push(Buffer.from((record as unknown as { data: Buffer }).data));
        done();
      },
      () => (encoded.length === 1 ? resolve(encoded[0]) : reject(new Error(`expected one aggregate, got ${encoded.length}`))),
      reject,
    );
  });
}

describe('deaggregate (records the KPL format writes)', () => {
  test('splits an aws-kinesis-agg aggregate with its keys and data, in order', async () => {
    // Prepare
    const blob = await theirAggregate([
      { partitionKey: 'user-1', data: Buffer.from('one') },
      { partitionKey: 'user-2', explicitHashKey: '170141183460469231731687303715884105728', data: Buffer.from('two') },
      { partitionKey: 'user-1', data: Buffer.from([0, 255]) },
    ]);
    // Act
    const users = deaggregate([kinesisRecord(blob, { offset: 7, partitionKey: 'user-1' })]);
    // Assess
    expect(users.map((u) => [u.partitionKey, u.explicitHashKey, u.subSequenceNumber, u.sequenceNumber, u.aggregated])).toEqual([
      ['user-1', undefined, 0, seq(7), true],
      ['user-2', '170141183460469231731687303715884105728', 1, seq(7), true],
      ['user-1', undefined, 2, seq(7), true],
    ]);
    expect(users.map((u) => u.data.toString('hex'))).toEqual([
      Buffer.from('one').toString('hex'),
      Buffer.from('two').toString('hex'),
      '00ff',
    ]);
  });
});

describe('consumeBatch', () => {
  test('calls the processor in order, per shard, and answers no failures', async () => {
    // Prepare
    const { seen, processRecord } = recorder();
    const records = [
      kinesisRecord('1', { offset: 1 }),
      aggregate(2, ['2', '3']),
      kinesisRecord('x', { offset: 1, shardId: 'shardId-000000000001' }),
      kinesisRecord('4', { offset: 3 }),
    ];
    // Act
    const { response, shards } = await consumeBatch(records, lambdaContext(), { processRecord, owner: 'fn' });
    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(seen.filter((r) => r.shardId === 'shardId-000000000000').map(text)).toEqual(['1', '2', '3', '4']);
    expect(shards.map((s) => [s.shardId, s.userRecords])).toEqual([
      ['shardId-000000000000', 4],
      ['shardId-000000000001', 1],
    ]);
  });

  test('with SHARD ordering, stops the shard at the first failure and reports that record, checkpointing the last processed sub-record', async () => {
    // Prepare
    const { seen, processRecord } = recorder((r) => text(r) === 'c');
    const leases = new MemoryLeaseStore();
    const records = [kinesisRecord('a0', { offset: 1 }), aggregate(2, ['a', 'b', 'c', 'd']), kinesisRecord('e', { offset: 3 })];
    // Act
    const { response, shards } = await consumeBatch(records, lambdaContext(), {
      processRecord,
      owner: 'fn',
      leases: leases.asStore(),
      ordering: 'shard',
    });
    // Assess
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: seq(2) }]);
    expect(seen.map(text)).toEqual(['a0', 'a', 'b']);
    expect(shards[0]).toMatchObject({ failed: true, userRecords: 3, checkpoint: { sequenceNumber: seq(2), subSequenceNumber: 1 } });
    expect(leases.leases.get('shardId-000000000000')).toMatchObject({
      leaseOwner: 'fn',
      checkpoint: { sequenceNumber: seq(2), subSequenceNumber: 1 },
    });
  });

  test('with SHARD ordering, a retry skips the sub-records at or below the checkpoint and processes each user record once', async () => {
    // Prepare: first delivery fails on 'c' once
    let poisoned = true;
    const seen: string[] = [];
    const processRecord: RecordProcessor = async (r) => {
      if (text(r) === 'c' && poisoned) {
        poisoned = false;
        throw new Error('transient');
      }
      seen.push(text(r));
    };
    const leases = new MemoryLeaseStore();
    const batch = [kinesisRecord('a0', { offset: 1 }), aggregate(2, ['a', 'b', 'c', 'd']), kinesisRecord('e', { offset: 3 })];
    const deps = { processRecord, owner: 'fn', leases: leases.asStore(), ordering: 'shard' } as const;
    const first = await consumeBatch(batch, lambdaContext(), deps);
    // Act: Lambda retries from the failed record
    const retry = await consumeBatch(batch.slice(1), lambdaContext(), deps);
    const redelivered = await consumeBatch(batch, lambdaContext(), deps);
    // Assess
    expect(first.response.batchItemFailures).toHaveLength(1);
    expect(retry.response.batchItemFailures).toEqual([]);
    expect(retry.shards[0]).toMatchObject({
      duplicatesSkipped: 2,
      userRecords: 3,
      checkpoint: { sequenceNumber: seq(3), subSequenceNumber: 0 },
    });
    expect(redelivered.shards[0]).toMatchObject({ duplicatesSkipped: 6, userRecords: 0 });
    expect(seen).toEqual(['a0', 'a', 'b', 'c', 'd', 'e']);
    expect(leases.checkpoints).toHaveLength(2);
  });

  test('never moves a checkpoint back when another writer checkpointed further meanwhile', async () => {
    // Prepare: another writer moves the checkpoint past this batch while it runs
    const leases = new MemoryLeaseStore();
    const processRecord: RecordProcessor = async () => {
      const lease = await leases.get('shardId-000000000000');
      if (lease && lease.checkpoint.sequenceNumber === 'TRIM_HORIZON') {
        await leases.checkpoint(lease, { sequenceNumber: seq(9), subSequenceNumber: 0 });
      }
    };
    // Act
    const { shards } = await consumeBatch([kinesisRecord('1', { offset: 1 })], lambdaContext(), {
      processRecord,
      owner: 'fn',
      leases: leases.asStore(),
    });
    // Assess
    expect(shards[0].checkpoint).toEqual({ sequenceNumber: seq(9), subSequenceNumber: 0 });
    expect(leases.leases.get('shardId-000000000000')?.checkpoint).toEqual({ sequenceNumber: seq(9), subSequenceNumber: 0 });
  });

  test('takes over a lease another owner holds, and stops early when the time budget runs out', async () => {
    // Prepare
    const leases = new MemoryLeaseStore();
    await leases.create('shardId-000000000000', 'kcl-worker');
    const { seen, processRecord } = recorder();
    // Act
    const { response, shards } = await consumeBatch(
      [kinesisRecord('1', { offset: 1 }), kinesisRecord('2', { offset: 2 })],
      lambdaContext(3_000),
      { processRecord, owner: 'fn', leases: leases.asStore(), reserveMillis: 5_000 },
    );
    // Assess
    expect(seen.map(text)).toEqual(['1']);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: seq(2) }]);
    expect(shards[0]).toMatchObject({ failed: false, checkpoint: { sequenceNumber: seq(1), subSequenceNumber: 0 } });
    expect(leases.leases.get('shardId-000000000000')).toMatchObject({ leaseOwner: 'fn', leaseCounter: 3 });
  });
});

describe('consumeBatch with the shard hash ranges (OutOfRangeRecords.SKIP)', () => {
  // The lower half of the key space, as a child of a split owns it.
  const LOWER = { start: 0n, end: (1n << 127n) - 1n };
  const owned = (key: string) => hashKeyOf(key) <= LOWER.end;
  const keys = Array.from({ length: 40 }, (_, i) => `device-${i}`);

  function strayAggregate(offset: number): KinesisStreamRecord {
    // What a producer with a stale map writes: one aggregate holding keys of both halves.
    return kinesisRecord(encodeAggregated(keys.map((partitionKey) => ({ partitionKey, data: Buffer.from(partitionKey) }))), {
      offset,
      partitionKey: 'device-0',
    });
  }

  test('skips aggregated records that hash outside the shard, as the KCL does, and checkpoints past them', async () => {
    // Prepare
    const { seen, processRecord } = recorder();
    const leases = new MemoryLeaseStore();
    const shardRange = jest.fn(async () => LOWER);
    // Act
    const { shards } = await consumeBatch(
      [strayAggregate(1), kinesisRecord('plain', { offset: 2, partitionKey: keys.find((k) => !owned(k)) })],
      lambdaContext(),
      {
        processRecord,
        owner: 'fn',
        leases: leases.asStore(),
        shardRange,
      },
    );
    // Assess
    const inside = keys.filter(owned);
    expect(inside.length).toBeGreaterThan(5);
    expect(inside.length).toBeLessThan(keys.length - 5);
    // A plain record is where Kinesis routed it by its own key: never skipped.
    expect(seen.map(text)).toEqual([...inside, 'plain']);
    expect(shards[0]).toMatchObject({
      userRecords: inside.length + 1,
      outOfRangeSkipped: keys.length - inside.length,
      checkpoint: { sequenceNumber: seq(2), subSequenceNumber: 0 },
    });
    expect(shardRange).toHaveBeenCalledTimes(1);
  });

  test('keeps every record without ranges, for an unknown shard, and for a shard owning the whole key space', async () => {
    for (const shardRange of [undefined, async () => undefined, async () => ({ start: 0n, end: MAX_HASH_KEY })]) {
      // Prepare
      const { seen, processRecord } = recorder();
      // Act
      const { shards } = await consumeBatch([strayAggregate(1)], lambdaContext(), { processRecord, owner: 'fn', shardRange });
      // Assess
      expect(seen).toHaveLength(keys.length);
      expect(shards[0].outOfRangeSkipped).toBe(0);
    }
  });

  test('judges a sub-record with an explicit hash key by that key, and keeps one that is not a hash key', async () => {
    // Prepare
    const { seen, processRecord } = recorder();
    const blob = encodeAggregated([
      { partitionKey: 'a', explicitHashKey: '5', data: Buffer.from('inside') },
      { partitionKey: 'b', explicitHashKey: MAX_HASH_KEY.toString(), data: Buffer.from('outside') },
      { partitionKey: 'c', explicitHashKey: 'not-a-number', data: Buffer.from('kept') },
    ]);
    // Act
    const { shards } = await consumeBatch([kinesisRecord(blob, { offset: 1 })], lambdaContext(), {
      processRecord,
      owner: 'fn',
      shardRange: async () => LOWER,
    });
    // Assess
    expect(seen.map(text)).toEqual(['inside', 'kept']);
    expect(shards[0].outOfRangeSkipped).toBe(1);
  });
});
