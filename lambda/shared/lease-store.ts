import { ConditionalCheckFailedException, GetItemCommand, PutItemCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { fromItem, toItem, type Lease } from './lease-item';
import { encodeProgress, type ShardProgress } from './progress';
import { Sentinel, type ExtendedSequenceNumber } from './sequence-number';

/** A conditional write lost: another writer changed (or created) the lease first. */
export class LeaseLostError extends Error {
  public override readonly name = 'LeaseLostError';
  constructor(public readonly leaseKey: string, public readonly operation: string, public readonly expectedCounter?: number) {
    super(`lease ${leaseKey}: ${operation} lost, another writer changed the lease${expectedCounter === undefined ? '' : ` (expected leaseCounter ${expectedCounter})`}`);
  }
}

/**
 * Leases in a KCL lease table. Every write is conditional on `leaseCounter` as in the KCL: create
 * only if absent, take / renew / checkpoint only if the counter is the one read. Of two writers
 * racing on one lease exactly one wins; the other gets a `LeaseLostError`.
 */
export class LeaseStore {
  constructor(private readonly client: DynamoDBClient, private readonly tableName: string) {}

  /** The lease, read consistently, or undefined. */
  public async get(leaseKey: string): Promise<Lease | undefined> {
    const { Item } = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: { leaseKey: { S: leaseKey } }, ConsistentRead: true }));
    return Item ? fromItem(Item) : undefined;
  }

  /** Creates the lease (counter 1, owned by `owner`, checkpoint TRIM_HORIZON unless given) if absent. */
  public async create(leaseKey: string, owner: string, checkpoint: ExtendedSequenceNumber = { sequenceNumber: Sentinel.TRIM_HORIZON, subSequenceNumber: 0 }): Promise<Lease> {
    const lease: Lease = { leaseKey, leaseOwner: owner, leaseCounter: 1, ownerSwitchesSinceCheckpoint: 0, checkpoint };
    await this.write('create', leaseKey, undefined, () => this.client.send(new PutItemCommand({
      TableName: this.tableName,
      Item: toItem(lease),
      ConditionExpression: 'attribute_not_exists(leaseKey)',
    })));
    return lease;
  }

  /** Takes the lease for `owner`: counter + 1, owner switch counted when the owner changes. */
  public async take(lease: Lease, owner: string): Promise<Lease> {
    const switches = lease.ownerSwitchesSinceCheckpoint + (lease.leaseOwner === owner ? 0 : 1);
    await this.update('take', lease, 'SET leaseOwner = :owner, leaseCounter = :next, ownerSwitchesSinceCheckpoint = :switches', {
      ':owner': { S: owner },
      ':switches': { N: String(switches) },
    });
    return { ...lease, leaseOwner: owner, leaseCounter: lease.leaseCounter + 1, ownerSwitchesSinceCheckpoint: switches };
  }

  /** Renews the lease: counter + 1, only while `lease.leaseOwner` still holds it. */
  public async renew(lease: Lease): Promise<Lease> {
    await this.update('renew', lease, 'SET leaseCounter = :next', {}, true);
    return { ...lease, leaseCounter: lease.leaseCounter + 1 };
  }

  /**
   * Writes a checkpoint (sequence and sub-sequence number) and the progress above it: counter + 1,
   * owner switches reset, pending checkpoint cleared, only while `lease.leaseOwner` holds the lease
   * at `lease.leaseCounter`. An empty or absent `progress` removes the attribute.
   */
  public async checkpoint(lease: Lease, checkpoint: ExtendedSequenceNumber, progress?: ShardProgress): Promise<Lease> {
    const hasProgress = progress !== undefined && progress.size > 0;
    await this.update('checkpoint', lease,
      `SET checkpoint = :cp, checkpointSubSequenceNumber = :sub, leaseCounter = :next, ownerSwitchesSinceCheckpoint = :zero${hasProgress ? ', progress = :progress' : ''} REMOVE pendingCheckpoint, pendingCheckpointSubSequenceNumber${hasProgress ? '' : ', progress'}`,
      {
        ':cp': { S: checkpoint.sequenceNumber }, ':sub': { N: String(checkpoint.subSequenceNumber) }, ':zero': { N: '0' },
        ...(hasProgress ? { ':progress': { B: encodeProgress(progress) } } : {}),
      },
      true);
    return { ...lease, checkpoint, progress: hasProgress ? progress : undefined, pendingCheckpoint: undefined, leaseCounter: lease.leaseCounter + 1, ownerSwitchesSinceCheckpoint: 0 };
  }

  private async update(operation: string, lease: Lease, expression: string, values: Record<string, { S: string } | { N: string } | { B: Uint8Array }>, ownerMustMatch = false): Promise<void> {
    const ownerCondition = ownerMustMatch ? (lease.leaseOwner === undefined ? ' AND attribute_not_exists(leaseOwner)' : ' AND leaseOwner = :holder') : '';
    await this.write(operation, lease.leaseKey, lease.leaseCounter, () => this.client.send(new UpdateItemCommand({
      TableName: this.tableName,
      Key: { leaseKey: { S: lease.leaseKey } },
      UpdateExpression: expression,
      ConditionExpression: `leaseCounter = :counter${ownerCondition}`,
      ExpressionAttributeValues: {
        ...values,
        ':counter': { N: String(lease.leaseCounter) },
        ':next': { N: String(lease.leaseCounter + 1) },
        ...(ownerMustMatch && lease.leaseOwner !== undefined ? { ':holder': { S: lease.leaseOwner } } : {}),
      },
    })));
  }

  private async write(operation: string, leaseKey: string, expectedCounter: number | undefined, send: () => Promise<unknown>): Promise<void> {
    try {
      await send();
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException || (error as Error).name === 'ConditionalCheckFailedException') {
        throw new LeaseLostError(leaseKey, operation, expectedCounter);
      }
      throw error;
    }
  }
}
