import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { decodeProgress, encodeProgress, ProgressDecodeError, type ShardProgress } from './progress';
import type { ExtendedSequenceNumber } from './sequence-number';

/**
 * A lease with the Kinesis Client Library's attribute names and types, so a KCL application can
 * read or take over the checkpoints this library writes (and the other way round).
 */
export interface Lease {
  /** The shard id. */
  readonly leaseKey: string;
  readonly leaseOwner?: string;
  /** Incremented by every write; every write is conditional on it. */
  readonly leaseCounter: number;
  readonly ownerSwitchesSinceCheckpoint: number;
  readonly checkpoint: ExtendedSequenceNumber;
  readonly pendingCheckpoint?: ExtendedSequenceNumber;
  readonly parentShardIds?: readonly string[];
  readonly childShardIds?: readonly string[];
  readonly startingHashKey?: string;
  readonly endingHashKey?: string;
  /**
   * What is processed above `checkpoint`, per outer partition key (attribute `progress`, binary;
   * not a KCL attribute: a KCL worker ignores it). Absent: nothing above the checkpoint.
   */
  readonly progress?: ShardProgress;
}

export class LeaseItemError extends Error {
  public override readonly name = 'LeaseItemError';
}

type Item = Record<string, AttributeValue>;

/** The DynamoDB item of a lease (KCL names: `leaseKey` S, `leaseCounter` N, `parentShardId` SS, …). */
export function toItem(lease: Lease): Item {
  const item: Item = {
    leaseKey: { S: lease.leaseKey },
    leaseCounter: { N: String(lease.leaseCounter) },
    ownerSwitchesSinceCheckpoint: { N: String(lease.ownerSwitchesSinceCheckpoint) },
    checkpoint: { S: lease.checkpoint.sequenceNumber },
    checkpointSubSequenceNumber: { N: String(lease.checkpoint.subSequenceNumber) },
  };
  if (lease.leaseOwner !== undefined) {
    item.leaseOwner = { S: lease.leaseOwner };
  }
  if (lease.pendingCheckpoint) {
    item.pendingCheckpoint = { S: lease.pendingCheckpoint.sequenceNumber };
    item.pendingCheckpointSubSequenceNumber = { N: String(lease.pendingCheckpoint.subSequenceNumber) };
  }
  // DynamoDB has no empty sets: an empty list is left out, as the KCL does.
  if (lease.parentShardIds?.length) {
    item.parentShardId = { SS: [...lease.parentShardIds] };
  }
  if (lease.childShardIds?.length) {
    item.childShardIds = { SS: [...lease.childShardIds] };
  }
  if (lease.startingHashKey !== undefined) {
    item.startingHashKey = { S: lease.startingHashKey };
  }
  if (lease.endingHashKey !== undefined) {
    item.endingHashKey = { S: lease.endingHashKey };
  }
  if (lease.progress !== undefined && lease.progress.size > 0) {
    item.progress = { B: encodeProgress(lease.progress) };
  }
  return item;
}

/** The lease of a DynamoDB item; throws `LeaseItemError` when a required attribute is missing. */
export function fromItem(item: Item): Lease {
  const leaseKey = item.leaseKey?.S;
  const leaseCounter = item.leaseCounter?.N;
  if (leaseKey === undefined || leaseCounter === undefined) {
    throw new LeaseItemError(`lease item without leaseKey (S) and leaseCounter (N): ${JSON.stringify(item)}`);
  }
  return {
    leaseKey,
    leaseOwner: item.leaseOwner?.S,
    leaseCounter: Number(leaseCounter),
    ownerSwitchesSinceCheckpoint: Number(item.ownerSwitchesSinceCheckpoint?.N ?? 0),
    checkpoint: { sequenceNumber: item.checkpoint?.S ?? 'TRIM_HORIZON', subSequenceNumber: Number(item.checkpointSubSequenceNumber?.N ?? 0) },
    pendingCheckpoint: item.pendingCheckpoint?.S !== undefined
      ? { sequenceNumber: item.pendingCheckpoint.S, subSequenceNumber: Number(item.pendingCheckpointSubSequenceNumber?.N ?? 0) }
      : undefined,
    parentShardIds: item.parentShardId?.SS,
    childShardIds: item.childShardIds?.SS,
    startingHashKey: item.startingHashKey?.S,
    endingHashKey: item.endingHashKey?.S,
    progress: progressOf(leaseKey, item.progress?.B),
  };
}

function progressOf(leaseKey: string, bytes: Uint8Array | undefined): ShardProgress | undefined {
  if (bytes === undefined) {
    return undefined;
  }
  try {
    return decodeProgress(bytes);
  } catch (error) {
    // Never guess what was processed: a consumer that cannot read it stops, loudly.
    if (error instanceof ProgressDecodeError) {
      throw new LeaseItemError(`lease ${leaseKey}: attribute progress cannot be read (${error.message})`);
    }
    throw error;
  }
}
