import type { Lease } from '../../../lambda/shared/lease-item';
import { encodedSize, type ShardProgress } from '../../../lambda/shared/progress';
import { leaseCovers, viewOfLease } from '../leases';
import { consumerEnvForFactor, consumerSettingsText } from '../assembly';

/** How the local run reads the consumer's leases: the checkpoint, the per-key progress above it, and the consumer settings it runs with. */
const SEQ = 49590338271490256608559692538361571095921575989136588800n;
const at = (offset: number) => String(SEQ + BigInt(offset));

function lease(checkpoint: string, progress?: ShardProgress, sub = 0): Lease {
  return {
    leaseKey: 'shardId-000000000000',
    leaseOwner: 'fn',
    leaseCounter: 7,
    ownerSwitchesSinceCheckpoint: 0,
    checkpoint: { sequenceNumber: checkpoint, subSequenceNumber: sub },
    progress,
  };
}

describe('leaseCovers', () => {
  const progress: ShardProgress = new Map([
    [
      'og-1',
      {
        upTo: { sequence: SEQ + 10n, sub: 3 },
        runs: [{ from: { sequence: SEQ + 20n, sub: 0 }, to: { sequence: SEQ + 20n, sub: 5 } }],
        seenAt: 0,
      },
    ],
  ]);

  test('holds a record at or below the checkpoint as processed, whatever its key', () => {
    expect(leaseCovers(lease(at(5), undefined, 2), 'any', at(5), 2)).toBe(true);
    expect(leaseCovers(lease(at(5), undefined, 2), 'any', at(4), 9)).toBe(true);
    expect(leaseCovers(lease(at(5), undefined, 2), 'any', at(5), 3)).toBe(false);
    expect(leaseCovers(lease('SHARD_END'), 'any', at(99), 0)).toBe(true);
  });

  test("above the checkpoint, holds only what the outer key's progress holds: its prefix and its runs", () => {
    const l = lease('TRIM_HORIZON', progress);
    expect(leaseCovers(l, 'og-1', at(10), 3)).toBe(true);
    expect(leaseCovers(l, 'og-1', at(10), 4)).toBe(false);
    expect(leaseCovers(l, 'og-1', at(20), 5)).toBe(true);
    expect(leaseCovers(l, 'og-1', at(21), 0)).toBe(false);
    expect(leaseCovers(l, 'og-2', at(1), 0)).toBe(false);
    expect(leaseCovers(undefined, 'og-1', at(1), 0)).toBe(false);
  });

  test('shows the checkpoint and the size of the progress', () => {
    expect(viewOfLease(lease('TRIM_HORIZON', progress))).toEqual({
      checkpoint: 'TRIM_HORIZON',
      progressKeys: 1,
      progressRuns: 1,
      progressBytes: encodedSize(progress),
    });
    expect(viewOfLease(lease(at(5), undefined, 2))).toEqual({
      checkpoint: `${at(5)}/2`,
      progressKeys: 0,
      progressRuns: 0,
      progressBytes: 0,
    });
  });
});

describe('consumer settings of a local run', () => {
  test('raises MAX_PARALLELIZATION_FACTOR to the factor the run uses, never lowers it', () => {
    expect(consumerEnvForFactor({}, 4)).toEqual({ MAX_PARALLELIZATION_FACTOR: '4' });
    expect(consumerEnvForFactor({}, 1)).toEqual({});
    expect(consumerEnvForFactor({ MAX_PARALLELIZATION_FACTOR: '2' }, 3)).toEqual({ MAX_PARALLELIZATION_FACTOR: '3' });
    expect(consumerEnvForFactor({ MAX_PARALLELIZATION_FACTOR: '10' }, 3)).toEqual({});
  });

  test("names ordering, concurrency and the factor, with the handler's defaults where unset", () => {
    expect(
      consumerSettingsText({ ORDERING: 'partition-key', MAX_CONCURRENCY: '50', MAX_PARALLELIZATION_FACTOR: '10', LEASE_TABLE_NAME: 't' }),
    ).toBe('ordering partition-key, max concurrency 50, max parallelization factor 10, checkpointing on');
    expect(consumerSettingsText({})).toBe(
      'ordering partition-key (default), max concurrency 16 (default), max parallelization factor 1 (default), checkpointing off',
    );
  });
});
