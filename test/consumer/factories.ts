import type { Context, KinesisStreamRecord } from 'aws-lambda';
import type { Lease } from '../../lambda/shared/lease-item';
import { LeaseApplicationMismatchError, LeaseLostError, type LeaseExtras, type LeaseStore } from '../../lambda/shared/lease-store';
import type { ShardProgress } from '../../lambda/shared/progress';
import type { ExtendedSequenceNumber } from '../../lambda/shared/sequence-number';

export const SEQ_BASE = 49590338271490256608559692538361571095921575989136588800n;

/** A Lambda Kinesis record carrying `data` (bytes or text) on `shardId` with sequence number SEQ_BASE + `offset`. */
export function kinesisRecord(
  data: Uint8Array | string,
  options: { offset: number; shardId?: string; partitionKey?: string; arrivalSeconds?: number },
): KinesisStreamRecord {
  const shardId = options.shardId ?? 'shardId-000000000000';
  const sequenceNumber = String(SEQ_BASE + BigInt(options.offset));
  return {
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::123456789012:role/consumer',
    awsRegion: 'us-east-1',
    eventSourceARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/test',
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: options.partitionKey ?? 'pk',
      sequenceNumber,
      data: Buffer.from(data).toString('base64'),
      approximateArrivalTimestamp: options.arrivalSeconds ?? 1_700_000_000.5,
    },
  };
}

export function lambdaContext(remainingMillis = 60_000): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'consumer-fn',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:consumer-fn',
    memoryLimitInMB: '512',
    awsRequestId: 'req',
    logGroupName: 'lg',
    logStreamName: 'ls',
    getRemainingTimeInMillis: () => remainingMillis,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** An in-memory LeaseStore with the same conditional semantics (application name included), for unit tests. */
export class MemoryLeaseStore {
  public readonly leases = new Map<string, Lease>();
  public checkpoints: ExtendedSequenceNumber[] = [];
  public readonly tableName = 'memory';

  constructor(public readonly applicationName?: string) {}

  public async get(key: string): Promise<Lease | undefined> {
    const lease = this.leases.get(key);
    if (lease?.applicationName !== undefined && this.applicationName !== undefined && lease.applicationName !== this.applicationName) {
      throw new LeaseApplicationMismatchError(this.tableName, key, lease.applicationName, this.applicationName);
    }
    return lease;
  }

  public async create(key: string, owner: string, checkpoint?: ExtendedSequenceNumber, extras: LeaseExtras = {}): Promise<Lease> {
    if (this.leases.has(key)) {
      throw new LeaseLostError(key, 'create');
    }
    const lease: Lease = {
      leaseKey: key,
      leaseOwner: owner,
      leaseCounter: 1,
      ownerSwitchesSinceCheckpoint: 0,
      checkpoint: checkpoint ?? { sequenceNumber: 'TRIM_HORIZON', subSequenceNumber: 0 },
      ...extras.shard,
      applicationName: this.applicationName,
    };
    this.leases.set(key, lease);
    return lease;
  }

  public async take(lease: Lease, owner: string): Promise<Lease> {
    return this.swap(
      lease,
      { ...lease, leaseOwner: owner, leaseCounter: lease.leaseCounter + 1, applicationName: this.applicationName ?? lease.applicationName },
      'take',
    );
  }

  public async checkpoint(
    lease: Lease,
    checkpoint: ExtendedSequenceNumber,
    progress?: ShardProgress,
    extras: LeaseExtras = {},
  ): Promise<Lease> {
    const next = this.swap(
      lease,
      {
        ...lease,
        ...extras.shard,
        checkpoint,
        progress: progress !== undefined && progress.size > 0 ? progress : undefined,
        leaseCounter: lease.leaseCounter + 1,
        applicationName: this.applicationName ?? lease.applicationName,
      },
      'checkpoint',
    );
    this.checkpoints.push(checkpoint);
    return next;
  }

  public asStore(): LeaseStore {
    return this as unknown as LeaseStore;
  }

  private swap(expected: Lease, next: Lease, operation: string): Lease {
    const stored = this.leases.get(expected.leaseKey);
    const otherApplication =
      stored?.applicationName !== undefined && this.applicationName !== undefined && stored.applicationName !== this.applicationName;
    if (!stored || stored.leaseCounter !== expected.leaseCounter || otherApplication) {
      throw new LeaseLostError(expected.leaseKey, operation, expected.leaseCounter);
    }
    this.leases.set(next.leaseKey, next);
    return next;
  }
}
