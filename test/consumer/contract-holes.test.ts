/**
 * Issue 14: leases of one application only, KCL shard attributes and SHARD_END, corrupt input
 * flagged and counted, unreadable leases stopping the shard loudly.
 */
import { createHash } from 'crypto';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { Shard } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import { consumeBatch, type ConsumerDeps, type RecordProcessor } from '../../lambda/consumer/consumer';
import { lineageOf, ShardLineageCache, type ShardLineage } from '../../lambda/consumer/lineage';
import { CorruptRecord, type UserRecord } from '../../lambda/shared/deaggregate';
import { KPL_MAGIC } from '../../lambda/shared/kpl-codec';
import { encodeAggregated } from '../helpers/kpl-encoder';
import { fromItem, UnreadableLeaseError } from '../../lambda/shared/lease-item';
import { LeaseApplicationMismatchError, LeaseStore } from '../../lambda/shared/lease-store';
import { kinesisRecord, lambdaContext, MemoryLeaseStore, SEQ_BASE } from './factories';

const SHARD = 'shardId-000000000000';
const seq = (offset: number) => String(SEQ_BASE + BigInt(offset));

function recorder() {
  const seen: UserRecord[] = [];
  const processRecord: RecordProcessor = async (record) => {
    seen.push(record);
  };
  return { seen, processRecord };
}

/** An aggregate whose MD5 is right but whose protobuf body is truncated. */
function undecodableAggregate(): Buffer {
  const body = Buffer.from([0x1a, 0x20, 0x08]); // a Record field of 32 bytes, 1 byte present
  return Buffer.concat([KPL_MAGIC, body, createHash('md5').update(body).digest()]);
}

function checksumBroken(): Buffer {
  const blob = encodeAggregated([
    { partitionKey: 'x', data: Buffer.from('x') },
    { partitionKey: 'y', data: Buffer.from('y') },
  ]);
  blob[blob.length - 1] ^= 0xff;
  return blob;
}

const split: Shard[] = [
  {
    ShardId: 'shardId-000000000000',
    HashKeyRange: { StartingHashKey: '0', EndingHashKey: '340282366920938463463374607431768211455' },
    SequenceNumberRange: { StartingSequenceNumber: seq(0), EndingSequenceNumber: seq(3) },
  },
  {
    ShardId: 'shardId-000000000001',
    ParentShardId: 'shardId-000000000000',
    HashKeyRange: { StartingHashKey: '0', EndingHashKey: '170141183460469231731687303715884105727' },
    SequenceNumberRange: { StartingSequenceNumber: seq(10), EndingSequenceNumber: seq(12) },
  },
  {
    ShardId: 'shardId-000000000002',
    ParentShardId: 'shardId-000000000000',
    HashKeyRange: { StartingHashKey: '170141183460469231731687303715884105728', EndingHashKey: '340282366920938463463374607431768211455' },
    SequenceNumberRange: { StartingSequenceNumber: seq(11) },
  },
  {
    ShardId: 'shardId-000000000003',
    ParentShardId: 'shardId-000000000001',
    AdjacentParentShardId: 'shardId-000000000002',
    HashKeyRange: { StartingHashKey: '0', EndingHashKey: '340282366920938463463374607431768211455' },
    SequenceNumberRange: { StartingSequenceNumber: seq(20) },
  },
];

describe('corrupt input is flagged and counted', () => {
  test('an aggregate with a bad MD5 and one with an undecodable body reach the processor whole, flagged; an empty aggregate is counted and checkpointed past', async () => {
    // Prepare
    const { seen, processRecord } = recorder();
    const leases = new MemoryLeaseStore();
    const records = [
      kinesisRecord(checksumBroken(), { offset: 1, partitionKey: 'a' }),
      kinesisRecord(undecodableAggregate(), { offset: 2, partitionKey: 'b' }),
      kinesisRecord(encodeAggregated([]), { offset: 3, partitionKey: 'c' }),
      kinesisRecord(encodeAggregated([{ partitionKey: 'ok', data: Buffer.from('fine') }]), { offset: 4, partitionKey: 'd' }),
    ];
    // Act
    const outcome = await consumeBatch(records, lambdaContext(), { processRecord, owner: 'fn', leases: leases.asStore() });
    // Assess
    expect(seen.map((r) => [r.sequenceNumber, r.aggregated, r.corrupt, r.data.length])).toEqual([
      [seq(1), false, CorruptRecord.CHECKSUM, checksumBroken().length],
      [seq(2), false, CorruptRecord.UNDECODABLE, undecodableAggregate().length],
      [seq(4), true, undefined, 4],
    ]);
    expect('corrupt' in seen[2]).toBe(false);
    expect(outcome.shards[0]).toMatchObject({ corruptRecords: 2, emptyAggregates: 1, userRecords: 3 });
    expect(outcome.response.batchItemFailures).toEqual([]);
    expect(leases.leases.get(SHARD)?.checkpoint).toEqual({ sequenceNumber: seq(4), subSequenceNumber: 0 });
  });
});

describe('a lease that cannot be read stops the shard, naming lease, attribute and value', () => {
  test.each([
    [{ checkpoint: { S: '4959x' } }, 'checkpoint', /"S":"4959x"/],
    [{ checkpoint: { N: '12' } }, 'checkpoint', /"N":"12"/],
    [{ checkpointSubSequenceNumber: { N: '-1' } }, 'checkpointSubSequenceNumber', /"N":"-1"/],
    [{ leaseCounter: { N: 'one' } }, 'leaseCounter', /"N":"one"/],
    [{ progress: { B: Buffer.from([9, 9]) } }, 'progress', /2 bytes/],
  ])('%o', (attributes, attribute, value) => {
    // Prepare
    const item = {
      leaseKey: { S: SHARD },
      leaseCounter: { N: '3' },
      checkpoint: { S: seq(1) },
      checkpointSubSequenceNumber: { N: '0' },
      ...attributes,
    };
    // Act / Assess
    let caught: unknown;
    try {
      fromItem(item);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(UnreadableLeaseError);
    expect(caught).toMatchObject({ leaseKey: SHARD, attribute });
    expect((caught as Error).message).toMatch(value);
    expect((caught as Error).message).toMatch(
      new RegExp(`lease ${SHARD}: attribute ${attribute} cannot be read .*docs/consumer-exactly-once.md`),
    );
  });

  test('the invocation fails with the table named, and no record is processed', async () => {
    // Prepare
    const dynamo = mockClient(DynamoDBClient);
    dynamo.on(GetItemCommand).resolves({ Item: { leaseKey: { S: SHARD }, leaseCounter: { N: '3' }, checkpoint: { S: 'hand-edited' } } });
    const { seen, processRecord } = recorder();
    const leases = new LeaseStore(new DynamoDBClient({ region: 'us-east-1' }), 'orders-leases', { applicationName: 'orders' });
    // Act
    const run = consumeBatch([kinesisRecord('r1', { offset: 1 })], lambdaContext(), { processRecord, owner: 'fn', leases });
    // Assess
    await expect(run).rejects.toThrow(UnreadableLeaseError);
    await expect(run).rejects.toThrow(
      /lease shardId-000000000000 in table orders-leases: attribute checkpoint cannot be read .*value \{"S":"hand-edited"\}/,
    );
    expect(seen).toEqual([]);
    dynamo.restore();
  });
});

describe('one lease table per application, at run time', () => {
  test('a lease of another application is refused: the invocation fails naming table, lease and both names, and nothing is skipped or processed', async () => {
    // Prepare
    const billing = new MemoryLeaseStore('billing');
    const analytics = new MemoryLeaseStore('analytics');
    (analytics as { leases: Map<string, unknown> }).leases = billing.leases;
    const { processRecord: billingProcessor } = recorder();
    const { seen, processRecord } = recorder();
    const batch = [kinesisRecord('r1', { offset: 1 }), kinesisRecord('r2', { offset: 2 })];
    await consumeBatch(batch, lambdaContext(), { processRecord: billingProcessor, owner: 'billing-fn', leases: billing.asStore() });
    // Act
    const run = consumeBatch(batch, lambdaContext(), { processRecord, owner: 'analytics-fn', leases: analytics.asStore() });
    // Assess
    await expect(run).rejects.toThrow(LeaseApplicationMismatchError);
    await expect(run).rejects.toThrow(
      /lease shardId-000000000000 in table memory belongs to consumer application 'billing', not to this one \('analytics'\): one lease table per consumer application/,
    );
    expect(seen).toEqual([]);
  });

  test("a lease without an application name (the KCL's, an older version's) is adopted by the next write", async () => {
    // Prepare
    const leases = new MemoryLeaseStore('orders');
    leases.leases.set(SHARD, {
      leaseKey: SHARD,
      leaseOwner: 'kcl-worker',
      leaseCounter: 4,
      ownerSwitchesSinceCheckpoint: 0,
      checkpoint: { sequenceNumber: seq(1), subSequenceNumber: 0 },
    });
    const { seen, processRecord } = recorder();
    // Act
    await consumeBatch([kinesisRecord('r1', { offset: 1 }), kinesisRecord('r2', { offset: 2 })], lambdaContext(), {
      processRecord,
      owner: 'fn',
      leases: leases.asStore(),
    });
    // Assess
    expect(seen.map((r) => r.data.toString())).toEqual(['r2']);
    expect(leases.leases.get(SHARD)).toMatchObject({ applicationName: 'orders', leaseOwner: 'fn', checkpoint: { sequenceNumber: seq(2) } });
  });
});

describe('KCL shard attributes and SHARD_END', () => {
  test('lineage from ListShards: hash range, parents after a split and a merge, children, and only a reliable ending sequence number', () => {
    // Act
    const lineage = lineageOf([
      ...split,
      {
        ShardId: 'shardId-000000000009',
        HashKeyRange: { StartingHashKey: '0', EndingHashKey: '1' },
        SequenceNumberRange: { StartingSequenceNumber: seq(5), EndingSequenceNumber: '9223372036854775807' },
      },
    ]);
    // Assess
    expect(lineage.get('shardId-000000000000')).toEqual({
      shardId: 'shardId-000000000000',
      startingHashKey: '0',
      endingHashKey: '340282366920938463463374607431768211455',
      parentShardIds: [],
      childShardIds: ['shardId-000000000001', 'shardId-000000000002'],
      closed: true,
      endingSequenceNumber: SEQ_BASE + 3n,
    });
    expect(lineage.get('shardId-000000000003')).toMatchObject({
      parentShardIds: ['shardId-000000000001', 'shardId-000000000002'],
      childShardIds: [],
      closed: false,
      endingSequenceNumber: undefined,
    });
    expect(lineage.get('shardId-000000000001')?.childShardIds).toEqual(['shardId-000000000003']);
    // kinesis-local reports 2^63 - 1, below the shard's start: closed, end unknown.
    expect(lineage.get('shardId-000000000009')).toMatchObject({ closed: true, endingSequenceNumber: undefined });
  });

  function depsWith(leases: MemoryLeaseStore, lineage: ShardLineage | undefined, extra: Partial<ConsumerDeps> = {}): ConsumerDeps {
    return { processRecord: recorder().processRecord, owner: 'fn', leases: leases.asStore(), shardLineage: async () => lineage, ...extra };
  }

  test("a new lease gets the hash range and parents; a closed shard's lease gets SHARD_END and its children once every record up to its end is handled", async () => {
    // Prepare
    const lineage = lineageOf(split);
    const leases = new MemoryLeaseStore('app');
    const child = lineage.get('shardId-000000000001')!;
    // Act
    const first = await consumeBatch(
      [kinesisRecord('r10', { offset: 10, shardId: child.shardId })],
      lambdaContext(),
      depsWith(leases, child),
    );
    const last = await consumeBatch(
      [
        kinesisRecord('r11', { offset: 11, shardId: child.shardId }),
        kinesisRecord(
          encodeAggregated([
            { partitionKey: 'k', data: Buffer.from('a') },
            { partitionKey: 'k', data: Buffer.from('b') },
          ]),
          { offset: 12, shardId: child.shardId },
        ),
      ],
      lambdaContext(),
      depsWith(leases, child),
    );
    const redelivered = await consumeBatch(
      [kinesisRecord('r11', { offset: 11, shardId: child.shardId })],
      lambdaContext(),
      depsWith(leases, child),
    );
    // Assess
    expect(first.shards[0].shardEnded).toBe(false);
    expect(last.shards[0].shardEnded).toBe(true);
    expect(redelivered.shards[0]).toMatchObject({ duplicatesSkipped: 1, userRecords: 0, shardEnded: false });
    expect(leases.leases.get(child.shardId)).toMatchObject({
      checkpoint: { sequenceNumber: 'SHARD_END', subSequenceNumber: 0 },
      progress: undefined,
      parentShardIds: ['shardId-000000000000'],
      childShardIds: ['shardId-000000000003'],
      startingHashKey: '0',
      endingHashKey: '170141183460469231731687303715884105727',
      applicationName: 'app',
    });
  });

  test.each([
    ['a record at the end not handled', { failLast: true, maxParallelizationFactor: 1, end: 2n }],
    [
      'a parallelization factor above 1 (batches are not consecutive runs of the shard)',
      { failLast: false, maxParallelizationFactor: 2, end: 2n },
    ],
    ['an ending sequence number past the batch', { failLast: false, maxParallelizationFactor: 1, end: 3n }],
    ['an ending sequence number that cannot be relied on', { failLast: false, maxParallelizationFactor: 1, end: undefined }],
  ])('never SHARD_END with %s', async (_name, { failLast, maxParallelizationFactor, end }) => {
    // Prepare
    const leases = new MemoryLeaseStore('app');
    const lineage: ShardLineage = {
      shardId: SHARD,
      startingHashKey: '0',
      endingHashKey: '9',
      parentShardIds: [],
      childShardIds: ['shardId-000000000005'],
      closed: true,
      endingSequenceNumber: end === undefined ? undefined : SEQ_BASE + end,
    };
    const processRecord: RecordProcessor = async (record) => {
      if (failLast && record.sequenceNumber === seq(2)) {
        throw new Error('not yet');
      }
    };
    // Act
    const outcome = await consumeBatch(
      [kinesisRecord('r1', { offset: 1 }), kinesisRecord('r2', { offset: 2, partitionKey: 'other' })],
      lambdaContext(),
      depsWith(leases, lineage, { processRecord, maxParallelizationFactor }),
    );
    // Assess
    expect(outcome.shards[0].shardEnded).toBe(false);
    expect(leases.leases.get(SHARD)?.checkpoint.sequenceNumber).not.toBe('SHARD_END');
    expect(leases.leases.get(SHARD)?.childShardIds).toEqual(['shardId-000000000005']);
  });

  test('the lineage cache lists shards once, again for an unknown shard, and again for a shard it shows open when a fresh answer is asked after its refresh time', async () => {
    // Prepare
    let now = 0;
    let calls = 0;
    let shards: Shard[] = split.slice(0, 1).map((s) => ({ ...s, SequenceNumberRange: { StartingSequenceNumber: seq(0) } }));
    const cache = new ShardLineageCache(
      async () => {
        calls++;
        return shards;
      },
      { refreshMillis: 5_000, now: () => now },
    );
    // Act / Assess
    expect((await cache.get(SHARD))?.closed).toBe(false);
    expect((await cache.get(SHARD, true))?.closed).toBe(false);
    expect(calls).toBe(1);
    shards = split;
    expect(await cache.get('shardId-000000000003')).toMatchObject({ parentShardIds: ['shardId-000000000001', 'shardId-000000000002'] });
    expect(calls).toBe(2);
    shards = [];
    now = 6_000;
    expect((await cache.get(SHARD, false))?.closed).toBe(true);
    expect(calls).toBe(2);
  });
});
