import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { decodeProgress, encodeProgress, ProgressDecodeError, type ShardProgress } from './progress';
import { isSentinel, type ExtendedSequenceNumber } from './sequence-number';

/**
 * A lease with the Kinesis Client Library's attribute names and types, so a KCL application can
 * read or take over the checkpoints this library writes (and the other way round). Names and
 * types as the KCL's `DynamoDBLeaseSerializer` writes and reads them (awslabs/amazon-kinesis-client,
 * amazon-kinesis-client/src/main/java/software/amazon/kinesis/leases/dynamodb/DynamoDBLeaseSerializer.java):
 * `leaseKey` S, `leaseOwner` S, `leaseCounter` N, `ownerSwitchesSinceCheckpoint` N, `checkpoint` S,
 * `checkpointSubSequenceNumber` N, `pendingCheckpoint` S, `pendingCheckpointSubSequenceNumber` N,
 * `parentShardId` SS, `childShardIds` SS, `startingHashKey` S and `endingHashKey` S (decimal).
 * Ours beside them, which a KCL worker ignores: `progress` B and `applicationName` S.
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
  /**
   * The consumer application that writes this lease (attribute `applicationName`, not a KCL
   * attribute). A consumer refuses a lease of another application; absent (a lease the KCL or an
   * older version wrote) it is adopted by the next write.
   */
  readonly applicationName?: string;
}

/** The KCL's lineage and hash range attributes of a lease; each written when known. */
export interface LeaseShardAttributes {
  readonly parentShardIds?: readonly string[];
  readonly childShardIds?: readonly string[];
  readonly startingHashKey?: string;
  readonly endingHashKey?: string;
}

export class LeaseItemError extends Error {
  public override readonly name = 'LeaseItemError';
}

/**
 * A lease attribute holds a value no consumer may guess at (a hand-edited checkpoint, a damaged
 * progress): the shard stops here, loudly, instead of replaying or skipping records. The way out
 * is in docs/consumer-exactly-once.md ("A lease that cannot be read").
 */
export class UnreadableLeaseError extends Error {
  public override readonly name = 'UnreadableLeaseError';
  constructor(
    public readonly leaseKey: string,
    public readonly attribute: string,
    public readonly value: string,
    public readonly reason: string,
    public readonly tableName?: string,
  ) {
    super(
      `lease ${leaseKey}${tableName === undefined ? '' : ` in table ${tableName}`}: attribute ${attribute} cannot be read (${reason}); value ${value}. ` +
        'The shard stops here until the attribute is repaired (see "A lease that cannot be read" in docs/consumer-exactly-once.md)',
    );
  }

  /** The same error, naming the table. */
  public inTable(tableName: string): UnreadableLeaseError {
    return new UnreadableLeaseError(this.leaseKey, this.attribute, this.value, this.reason, tableName);
  }
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
  if (lease.applicationName !== undefined) {
    item.applicationName = { S: lease.applicationName };
  }
  return item;
}

const SEQUENCE_DIGITS = /^(0|[1-9]\d{0,128})$/;
const WHOLE = /^\d{1,15}$/;

/**
 * The lease of a DynamoDB item; throws `LeaseItemError` when `leaseKey` or `leaseCounter` is
 * missing, `UnreadableLeaseError` (naming the attribute and its value) when the checkpoint, the
 * counter or the progress cannot be read.
 */
export function fromItem(item: Item): Lease {
  const leaseKey = item.leaseKey?.S;
  const leaseCounter = item.leaseCounter?.N;
  if (leaseKey === undefined || leaseCounter === undefined) {
    throw new LeaseItemError(`lease item without leaseKey (S) and leaseCounter (N): ${JSON.stringify(item)}`);
  }
  const whole = (attribute: string, value: AttributeValue | undefined): number => {
    if (value === undefined) {
      return 0;
    }
    if (value.N === undefined || !WHOLE.test(value.N)) {
      throw new UnreadableLeaseError(leaseKey, attribute, JSON.stringify(value), 'not a whole number (N) from 0 to 999999999999999');
    }
    return Number(value.N);
  };
  const position = (attribute: string, subAttribute: string): ExtendedSequenceNumber => {
    const value = item[attribute];
    const sequenceNumber = value?.S;
    if (value !== undefined && (sequenceNumber === undefined || !(isSentinel(sequenceNumber) || SEQUENCE_DIGITS.test(sequenceNumber)))) {
      throw new UnreadableLeaseError(
        leaseKey,
        attribute,
        JSON.stringify(value),
        'not a Kinesis sequence number (S, decimal digits) nor TRIM_HORIZON, LATEST, AT_TIMESTAMP or SHARD_END',
      );
    }
    return { sequenceNumber: sequenceNumber ?? 'TRIM_HORIZON', subSequenceNumber: whole(subAttribute, item[subAttribute]) };
  };
  return {
    leaseKey,
    leaseOwner: item.leaseOwner?.S,
    leaseCounter: whole('leaseCounter', item.leaseCounter),
    ownerSwitchesSinceCheckpoint: whole('ownerSwitchesSinceCheckpoint', item.ownerSwitchesSinceCheckpoint),
    checkpoint: position('checkpoint', 'checkpointSubSequenceNumber'),
    pendingCheckpoint:
      item.pendingCheckpoint?.S !== undefined ? position('pendingCheckpoint', 'pendingCheckpointSubSequenceNumber') : undefined,
    parentShardIds: item.parentShardId?.SS,
    childShardIds: item.childShardIds?.SS,
    startingHashKey: item.startingHashKey?.S,
    endingHashKey: item.endingHashKey?.S,
    progress: progressOf(leaseKey, item.progress?.B),
    applicationName: item.applicationName?.S,
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
      throw new UnreadableLeaseError(leaseKey, 'progress', `${bytes.length} bytes (B)`, error.message);
    }
    throw error;
  }
}
