import { fromItem, LeaseItemError, toItem, type Lease } from '../../lambda/shared/lease-item';
import { checkpointFilter, compareExtended, InvalidSequenceNumberError } from '../../lambda/shared/sequence-number';

describe('lease items', () => {
  test('use the KCL attribute names and types, and read back the same lease', () => {
    // Prepare
    const lease: Lease = {
      leaseKey: 'shardId-000000000002',
      leaseOwner: 'consumer-fn',
      leaseCounter: 7,
      ownerSwitchesSinceCheckpoint: 1,
      checkpoint: { sequenceNumber: '49590338271490256608559692538361571095921575989136588898', subSequenceNumber: 3 },
      pendingCheckpoint: { sequenceNumber: '49590338271490256608559692538361571095921575989136588899', subSequenceNumber: 0 },
      parentShardIds: ['shardId-000000000000', 'shardId-000000000001'],
      childShardIds: ['shardId-000000000003'],
      startingHashKey: '0',
      endingHashKey: '340282366920938463463374607431768211455',
    };
    // Act
    const item = toItem(lease);
    // Assess
    expect(item).toEqual({
      leaseKey: { S: 'shardId-000000000002' },
      leaseOwner: { S: 'consumer-fn' },
      leaseCounter: { N: '7' },
      ownerSwitchesSinceCheckpoint: { N: '1' },
      checkpoint: { S: '49590338271490256608559692538361571095921575989136588898' },
      checkpointSubSequenceNumber: { N: '3' },
      pendingCheckpoint: { S: '49590338271490256608559692538361571095921575989136588899' },
      pendingCheckpointSubSequenceNumber: { N: '0' },
      parentShardId: { SS: ['shardId-000000000000', 'shardId-000000000001'] },
      childShardIds: { SS: ['shardId-000000000003'] },
      startingHashKey: { S: '0' },
      endingHashKey: { S: '340282366920938463463374607431768211455' },
    });
    expect(fromItem(item)).toEqual(lease);
  });

  test('leave out empty sets and read a KCL item without optional attributes', () => {
    // Prepare
    const item = toItem({
      leaseKey: 's',
      leaseCounter: 1,
      ownerSwitchesSinceCheckpoint: 0,
      checkpoint: { sequenceNumber: 'TRIM_HORIZON', subSequenceNumber: 0 },
      parentShardIds: [],
    });
    // Act
    const lease = fromItem({ leaseKey: { S: 's' }, leaseCounter: { N: '4' }, checkpoint: { S: 'SHARD_END' } });
    // Assess
    expect(item.parentShardId).toBeUndefined();
    expect(lease).toMatchObject({
      leaseKey: 's',
      leaseCounter: 4,
      ownerSwitchesSinceCheckpoint: 0,
      checkpoint: { sequenceNumber: 'SHARD_END', subSequenceNumber: 0 },
    });
    expect(() => fromItem({ leaseKey: { S: 's' } })).toThrow(LeaseItemError);
  });
});

describe('sequence numbers', () => {
  test('compare as integers with the sub-sequence number, not as strings', () => {
    // Prepare: '9' > '10' as strings
    const nine = { sequenceNumber: '9', subSequenceNumber: 0 };
    const ten = { sequenceNumber: '10', subSequenceNumber: 0 };
    // Act / Assess
    expect(compareExtended(nine, ten)).toBe(-1);
    expect(compareExtended({ sequenceNumber: '10', subSequenceNumber: 2 }, { sequenceNumber: '10', subSequenceNumber: 1 })).toBe(1);
    expect(compareExtended(ten, ten)).toBe(0);
    expect(compareExtended({ sequenceNumber: 'TRIM_HORIZON', subSequenceNumber: 0 }, nine)).toBe(-1);
    expect(compareExtended({ sequenceNumber: 'SHARD_END', subSequenceNumber: 0 }, ten)).toBe(1);
    expect(() => compareExtended({ sequenceNumber: '12x', subSequenceNumber: 0 }, ten)).toThrow(InvalidSequenceNumberError);
  });

  test('the checkpoint filter skips positions at or below the checkpoint only', () => {
    // Prepare
    const skip = checkpointFilter({ sequenceNumber: '100', subSequenceNumber: 2 });
    // Act / Assess
    expect([skip(99n, 9), skip(100n, 2), skip(100n, 3), skip(101n, 0)]).toEqual([true, true, false, false]);
    expect(checkpointFilter({ sequenceNumber: 'TRIM_HORIZON', subSequenceNumber: 0 })(1n, 0)).toBe(false);
    expect(checkpointFilter(undefined)(1n, 0)).toBe(false);
    expect(checkpointFilter({ sequenceNumber: 'SHARD_END', subSequenceNumber: 0 })(10n ** 40n, 0)).toBe(true);
  });
});
