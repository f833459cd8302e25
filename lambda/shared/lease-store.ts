import {
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { fromItem, toItem, UnreadableLeaseError, type Lease, type LeaseShardAttributes } from './lease-item';
import { encodeProgress, type ShardProgress } from './progress';
import { Sentinel, type ExtendedSequenceNumber } from './sequence-number';

/** A conditional write lost: another writer changed (or created) the lease first. */
export class LeaseLostError extends Error {
  public override readonly name = 'LeaseLostError';
  constructor(
    public readonly leaseKey: string,
    public readonly operation: string,
    public readonly expectedCounter?: number,
  ) {
    super(
      `lease ${leaseKey}: ${operation} lost, another writer changed the lease${expectedCounter === undefined ? '' : ` (expected leaseCounter ${expectedCounter})`}`,
    );
  }
}

/**
 * The lease belongs to another consumer application: two applications share one lease table, so
 * this one would read the other's checkpoints as its own and skip records it never processed.
 * The consumer refuses it (the invocation fails) instead of skipping anything.
 */
export class LeaseApplicationMismatchError extends Error {
  public override readonly name = 'LeaseApplicationMismatchError';
  constructor(
    public readonly tableName: string,
    public readonly leaseKey: string,
    public readonly leaseApplication: string,
    public readonly consumerApplication: string,
  ) {
    super(
      `lease ${leaseKey} in table ${tableName} belongs to consumer application '${leaseApplication}', not to this one ('${consumerApplication}'): ` +
        "one lease table per consumer application (two applications on one table would skip each other's records). " +
        `Give this consumer its own lease table, or, if '${leaseApplication}' is this consumer under its former name, set its applicationName to '${leaseApplication}'`,
    );
  }
}

export interface LeaseStoreOptions {
  /**
   * The consumer application this store writes for. Every write sets it on the lease and is
   * conditional on the lease having no application name or this one; a lease read with another
   * one is refused with `LeaseApplicationMismatchError`. A lease without it (written by the KCL or
   * an older version) is adopted by the next write.
   * @default - no application name: nothing is checked or written
   */
  readonly applicationName?: string;
}

/** What a write adds to a lease besides its checkpoint: the KCL's shard attributes, when known. */
export interface LeaseExtras {
  readonly shard?: LeaseShardAttributes;
}

/**
 * Leases in a KCL lease table. Every write is conditional on `leaseCounter` as in the KCL: create
 * only if absent, take / checkpoint only if the counter is the one read. Of two writers
 * racing on one lease exactly one wins; the other gets a `LeaseLostError`.
 */
export class LeaseStore {
  public readonly applicationName?: string;

  constructor(
    private readonly client: DynamoDBClient,
    public readonly tableName: string,
    options: LeaseStoreOptions = {},
  ) {
    this.applicationName = options.applicationName;
  }

  /**
   * The lease, read consistently, or undefined. Throws `UnreadableLeaseError` (naming this table)
   * for an attribute that cannot be read, `LeaseApplicationMismatchError` for another application's lease.
   */
  public async get(leaseKey: string): Promise<Lease | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: { leaseKey: { S: leaseKey } }, ConsistentRead: true }),
    );
    if (!Item) {
      return undefined;
    }
    let lease: Lease;
    try {
      lease = fromItem(Item);
    } catch (error) {
      throw error instanceof UnreadableLeaseError ? error.inTable(this.tableName) : error;
    }
    const mine = this.applicationName;
    if (mine !== undefined && lease.applicationName !== undefined && lease.applicationName !== mine) {
      throw new LeaseApplicationMismatchError(this.tableName, leaseKey, lease.applicationName, mine);
    }
    return lease;
  }

  /** Creates the lease (counter 1, owned by `owner`, checkpoint TRIM_HORIZON unless given) if absent. */
  public async create(
    leaseKey: string,
    owner: string,
    checkpoint: ExtendedSequenceNumber = { sequenceNumber: Sentinel.TRIM_HORIZON, subSequenceNumber: 0 },
    extras: LeaseExtras = {},
  ): Promise<Lease> {
    const lease: Lease = {
      leaseKey,
      leaseOwner: owner,
      leaseCounter: 1,
      ownerSwitchesSinceCheckpoint: 0,
      checkpoint,
      ...extras.shard,
      applicationName: this.applicationName,
    };
    await this.write('create', leaseKey, undefined, () =>
      this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: toItem(lease),
          ConditionExpression: 'attribute_not_exists(leaseKey)',
        }),
      ),
    );
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

  /**
   * Writes a checkpoint (sequence and sub-sequence number) and the progress above it: counter + 1,
   * owner switches reset, pending checkpoint cleared, only while `lease.leaseOwner` holds the lease
   * at `lease.leaseCounter`. An empty or absent `progress` removes the attribute. The shard
   * attributes in `extras` are set when given (the KCL's `parentShardId`, `childShardIds`, hash range).
   */
  public async checkpoint(
    lease: Lease,
    checkpoint: ExtendedSequenceNumber,
    progress?: ShardProgress,
    extras: LeaseExtras = {},
  ): Promise<Lease> {
    const hasProgress = progress !== undefined && progress.size > 0;
    const sets = ['checkpoint = :cp', 'checkpointSubSequenceNumber = :sub', 'leaseCounter = :next', 'ownerSwitchesSinceCheckpoint = :zero'];
    const values: Record<string, AttributeValue> = {
      ':cp': { S: checkpoint.sequenceNumber },
      ':sub': { N: String(checkpoint.subSequenceNumber) },
      ':zero': { N: '0' },
    };
    if (hasProgress) {
      sets.push('progress = :progress');
      values[':progress'] = { B: encodeProgress(progress) };
    }
    const shard = extras.shard ?? {};
    if (shard.parentShardIds?.length) {
      sets.push('parentShardId = :parents');
      values[':parents'] = { SS: [...shard.parentShardIds] };
    }
    if (shard.childShardIds?.length) {
      sets.push('childShardIds = :children');
      values[':children'] = { SS: [...shard.childShardIds] };
    }
    if (shard.startingHashKey !== undefined && shard.endingHashKey !== undefined) {
      sets.push('startingHashKey = :startHash', 'endingHashKey = :endHash');
      values[':startHash'] = { S: shard.startingHashKey };
      values[':endHash'] = { S: shard.endingHashKey };
    }
    await this.update(
      'checkpoint',
      lease,
      `SET ${sets.join(', ')} REMOVE pendingCheckpoint, pendingCheckpointSubSequenceNumber${hasProgress ? '' : ', progress'}`,
      values,
      true,
    );
    const written = {
      ...lease,
      checkpoint,
      progress: hasProgress ? progress : undefined,
      pendingCheckpoint: undefined,
      leaseCounter: lease.leaseCounter + 1,
      ownerSwitchesSinceCheckpoint: 0,
    };
    return {
      ...written,
      ...(shard.parentShardIds?.length ? { parentShardIds: shard.parentShardIds } : {}),
      ...(shard.childShardIds?.length ? { childShardIds: shard.childShardIds } : {}),
      ...(shard.startingHashKey !== undefined && shard.endingHashKey !== undefined
        ? { startingHashKey: shard.startingHashKey, endingHashKey: shard.endingHashKey }
        : {}),
      applicationName: this.applicationName ?? lease.applicationName,
    };
  }

  /**
   * A conditional update: on `leaseCounter` (and the owner when asked); with an application name,
   * it is set too and the lease must have none or this one.
   */
  private async update(
    operation: string,
    lease: Lease,
    expression: string,
    values: Record<string, AttributeValue>,
    ownerMustMatch = false,
  ): Promise<void> {
    const ownerCondition = ownerMustMatch
      ? lease.leaseOwner === undefined
        ? ' AND attribute_not_exists(leaseOwner)'
        : ' AND leaseOwner = :holder'
      : '';
    const app = this.applicationName;
    const appCondition = app === undefined ? '' : ' AND (attribute_not_exists(applicationName) OR applicationName = :app)';
    const withApp = app === undefined ? expression : expression.replace(/^SET /, 'SET applicationName = :app, ');
    await this.write(operation, lease.leaseKey, lease.leaseCounter, () =>
      this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { leaseKey: { S: lease.leaseKey } },
          UpdateExpression: withApp,
          ConditionExpression: `leaseCounter = :counter${ownerCondition}${appCondition}`,
          ExpressionAttributeValues: {
            ...values,
            ':counter': { N: String(lease.leaseCounter) },
            ':next': { N: String(lease.leaseCounter + 1) },
            ...(ownerMustMatch && lease.leaseOwner !== undefined ? { ':holder': { S: lease.leaseOwner } } : {}),
            ...(app === undefined ? {} : { ':app': { S: app } }),
          },
        }),
      ),
    );
  }

  private async write(
    operation: string,
    leaseKey: string,
    expectedCounter: number | undefined,
    send: () => Promise<unknown>,
  ): Promise<void> {
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
