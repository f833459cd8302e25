import { ScanCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { fromItem, type Lease } from '../../lambda/shared/lease-item';
import { coveredByEntry, encodedSize } from '../../lambda/shared/progress';
import { compareExtended } from '../../lambda/shared/sequence-number';

/**
 * The consumer's leases as the local run reads them: the KCL checkpoint (the low watermark) and
 * the per-outer-partition-key progress above it (docs/consumer-exactly-once.md), read with the
 * consumer's own item codec, so the run checks what the consumer itself would skip.
 */

/** Every lease of a KCL-schema table, by shard id (leaseKey). */
export async function readLeases(dynamodb: DynamoDBClient, tableName: string): Promise<Map<string, Lease>> {
  const leases = new Map<string, Lease>();
  let start: Record<string, unknown> | undefined;
  do {
    const page = await dynamodb.send(new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: start as never }));
    for (const item of page.Items ?? []) {
      const lease = fromItem(item);
      leases.set(lease.leaseKey, lease);
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return leases;
}

/**
 * Whether the lease holds the user record at (`sequenceNumber`, `subSequenceNumber`) of outer key
 * `partitionKey` as processed: at or below the checkpoint, or inside the key's progress entry.
 */
export function leaseCovers(lease: Lease | undefined, partitionKey: string, sequenceNumber: string, subSequenceNumber: number): boolean {
  if (lease === undefined) {
    return false;
  }
  if (compareExtended({ sequenceNumber, subSequenceNumber }, lease.checkpoint) <= 0) {
    return true;
  }
  return coveredByEntry(lease.progress?.get(partitionKey), BigInt(sequenceNumber), subSequenceNumber);
}

/** What the view and the summary show of a lease. */
export interface LeaseView {
  /** `sequence`, `sequence/sub`, or a sentinel (TRIM_HORIZON while only per-key progress moves). */
  readonly checkpoint: string;
  /** Outer partition keys with progress above the checkpoint. */
  readonly progressKeys: number;
  /** Ranges processed past a key's contiguous prefix (per-key concurrency past a failed record). */
  readonly progressRuns: number;
  /** Size of the encoded `progress` attribute. */
  readonly progressBytes: number;
}

export function viewOfLease(lease: Lease): LeaseView {
  const { sequenceNumber, subSequenceNumber } = lease.checkpoint;
  const progress: NonNullable<Lease['progress']> = lease.progress ?? new Map();
  return {
    checkpoint: subSequenceNumber > 0 ? `${sequenceNumber}/${subSequenceNumber}` : sequenceNumber,
    progressKeys: progress.size,
    progressRuns: [...progress.values()].reduce((sum, entry) => sum + entry.runs.length, 0),
    progressBytes: progress.size > 0 ? encodedSize(progress) : 0,
  };
}
