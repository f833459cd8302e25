import { GetItemCommand, PutItemCommand, UpdateItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * What the producer already wrote of one request, so that the same request delivered again
 * (Lambda's asynchronous retries, the asynchronous queue's duplicate deliveries, a caller's retry
 * with the same `requestId`) writes only what is not in the stream yet.
 *
 * One item per request in a DynamoDB table (hash key `id`): `invoke#<Lambda request id>` (the id
 * Lambda keeps across the asynchronous retries and duplicate deliveries of one event), or
 * `request#<requestId>` when the caller names the request. The item holds a bitmap of the request
 * indices Kinesis acknowledged, updated after every round of PutRecords calls, and a lease: one
 * invocation at a time holds it (a conditional write), until its own deadline, so two deliveries
 * of one request running at once never both write. Items expire (TTL) after the window.
 */
export const ProgressStatus = {
  /** An invocation holds the lease and is writing. */
  IN_PROGRESS: 'IN_PROGRESS',
  /** The last invocation ended with records unwritten: the next delivery writes them. */
  PARTIAL: 'PARTIAL',
  /** Every record is in the stream: a delivery again answers that and writes nothing. */
  COMPLETE: 'COMPLETE',
  /** The request was refused for its input (Lambda's retries of it are answered without validating again). */
  REFUSED: 'REFUSED',
} as const;
export type ProgressStatus = (typeof ProgressStatus)[keyof typeof ProgressStatus];

/**
 * Request indices written, one bit each, and how many: kept as bits are added (a request's
 * acknowledgements are added index by index; counting the bitmap again each time costs a fresh
 * process milliseconds of interpreted loops).
 */
export class WrittenSet {
  public static empty(count: number): WrittenSet {
    return new WrittenSet(bitmapOf(count), 0);
  }

  /** The set a stored bitmap holds, for a request of `count` records (bits beyond it ignored). */
  public static fromStored(stored: Uint8Array, count: number): WrittenSet {
    const bits = bitmapOf(count);
    bits.set(stored.subarray(0, bits.length));
    return new WrittenSet(bits);
  }

  private size: number;

  /** `bits` as stored; `size` when the caller knows how many are set (else they are counted). */
  public constructor(
    public readonly bits: Buffer,
    size?: number,
  ) {
    this.size = size ?? popcount(bits);
  }

  public has(index: number): boolean {
    return (this.bits[index >> 3] & (1 << (index & 7))) !== 0;
  }

  public add(index: number): void {
    const at = index >> 3;
    const byte = this.bits[at];
    const bit = 1 << (index & 7);
    if ((byte & bit) === 0) {
      this.bits[at] = byte | bit;
      this.size++;
    }
  }

  /** How many indices are in the set. */
  public count(): number {
    return this.size;
  }
}

/** A zeroed bitmap for `count` request indices (at least one byte). */
function bitmapOf(count: number): Buffer {
  return Buffer.alloc(Math.max(1, Math.ceil(count / 8)));
}

function popcount(bits: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < bits.length; i++) {
    let b = bits[i];
    while (b !== 0) {
      b &= b - 1;
      n++;
    }
  }
  return n;
}

export type Claim =
  /** This invocation holds the lease: write every record not in `written`. */
  | { readonly kind: 'claimed'; readonly written: WrittenSet }
  /** Every record was written by an earlier delivery. */
  | { readonly kind: 'complete'; readonly recordCount: number }
  /** Another invocation holds the lease until `leaseUntil` (ms). */
  | { readonly kind: 'busy'; readonly leaseUntil: number }
  /** The caller's requestId was used before with other records. */
  | { readonly kind: 'mismatch' }
  /** An earlier delivery was refused for its input. */
  | { readonly kind: 'refused'; readonly errors: string };

export class ProgressStoreError extends Error {
  public override readonly name = 'ProgressStoreError';
}

const ATTR = { status: '#s', owner: '#o' } as const;
const NAMES = { [ATTR.status]: 'status', [ATTR.owner]: 'owner' };

export interface ProgressStoreOptions {
  readonly client: DynamoDBClient;
  readonly tableName: string;
  /** How long an item is kept (its TTL), seconds. */
  readonly windowSeconds: number;
  readonly now?: () => number;
}

/** The progress table's client: claim a request, save what was written, finish, remember a refusal. */
export class ProgressStore {
  private readonly now: () => number;

  public constructor(private readonly options: ProgressStoreOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Takes the request's lease for `owner` until `leaseUntil` (ms): a new request, one an earlier
   * delivery left partial, or one whose holder's lease ran out (its invocation ended without
   * saying: a timeout, a crash). Otherwise says why not.
   */
  public async claim(
    key: string,
    payloadHash: string,
    recordCount: number,
    owner: string,
    leaseUntil: number,
    signal?: AbortSignal,
  ): Promise<Claim> {
    const now = this.now();
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const answer = await this.options.client.send(
          new UpdateItemCommand({
            TableName: this.options.tableName,
            Key: { id: { S: key } },
            // No bitmap on a new item (absent reads as nothing written): the claim and a one-round
            // request's final write stay small (1 WCU) whatever the request's record count.
            UpdateExpression: `SET ${ATTR.status} = :progress, ${ATTR.owner} = :owner, leaseUntil = :lease, payloadHash = if_not_exists(payloadHash, :hash), recordCount = if_not_exists(recordCount, :count), expiresAt = if_not_exists(expiresAt, :expires)`,
            ConditionExpression: `attribute_not_exists(id) OR (payloadHash = :hash AND (${ATTR.status} = :partial OR (${ATTR.status} = :progress AND leaseUntil < :now)))`,
            ExpressionAttributeNames: NAMES,
            ExpressionAttributeValues: {
              ':progress': { S: ProgressStatus.IN_PROGRESS },
              ':partial': { S: ProgressStatus.PARTIAL },
              ':owner': { S: owner },
              ':lease': { N: String(leaseUntil) },
              ':now': { N: String(now) },
              ':hash': { S: payloadHash },
              ':count': { N: String(recordCount) },
              ':expires': { N: String(Math.ceil(now / 1000) + this.options.windowSeconds) },
            },
            ReturnValues: 'ALL_NEW',
          }),
          { abortSignal: signal as never },
        );
        return { kind: 'claimed', written: writtenOf(answer.Attributes, recordCount) };
      } catch (caught) {
        if ((caught as { name?: string }).name !== 'ConditionalCheckFailedException') {
          throw new ProgressStoreError(`progress table: claim of ${key} failed: ${(caught as Error).message}`);
        }
      }
      const { Item: item } = await this.options.client.send(
        new GetItemCommand({ TableName: this.options.tableName, Key: { id: { S: key } }, ConsistentRead: true }),
        { abortSignal: signal as never },
      );
      if (item === undefined) {
        continue; // gone (expired) between the two calls: claim again
      }
      if (item.payloadHash?.S !== payloadHash && item.status?.S !== ProgressStatus.REFUSED) {
        return { kind: 'mismatch' };
      }
      switch (item.status?.S) {
        case ProgressStatus.COMPLETE:
          return { kind: 'complete', recordCount: Number(item.recordCount?.N ?? recordCount) };
        case ProgressStatus.REFUSED:
          return { kind: 'refused', errors: item.errors?.S ?? '' };
        default:
          return { kind: 'busy', leaseUntil: Number(item.leaseUntil?.N ?? 0) };
      }
    }
    throw new ProgressStoreError(`progress table: claim of ${key} did not settle`);
  }

  /**
   * Saves what is written while `owner` holds the lease; with `final`, ends the invocation's turn
   * (COMPLETE, or PARTIAL for the next delivery, with the failures by code). COMPLETE drops the
   * bitmap (a delivery that finds COMPLETE reads none), so the final write of a request written in
   * one round carries no bitmap at all. False when the lease is no longer this owner's (nothing saved).
   */
  public async save(
    key: string,
    owner: string,
    written: WrittenSet,
    final?: { status: typeof ProgressStatus.COMPLETE | typeof ProgressStatus.PARTIAL; failed: string },
    signal?: AbortSignal,
  ): Promise<boolean> {
    const complete = final?.status === ProgressStatus.COMPLETE;
    try {
      await this.options.client.send(
        new UpdateItemCommand({
          TableName: this.options.tableName,
          Key: { id: { S: key } },
          UpdateExpression: complete
            ? `SET ${ATTR.status} = :status REMOVE written, failed`
            : final
              ? `SET written = :written, ${ATTR.status} = :status, failed = :failed`
              : 'SET written = :written',
          ConditionExpression: `${ATTR.owner} = :owner AND ${ATTR.status} = :progress`,
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: {
            ...(complete ? {} : { ':written': { B: written.bits } }),
            ':owner': { S: owner },
            ':progress': { S: ProgressStatus.IN_PROGRESS },
            ...(final ? { ':status': { S: final.status } } : {}),
            ...(final && !complete ? { ':failed': { S: final.failed } } : {}),
          },
        }),
        { abortSignal: signal as never },
      );
      return true;
    } catch (caught) {
      if ((caught as { name?: string }).name === 'ConditionalCheckFailedException') {
        return false;
      }
      throw new ProgressStoreError(`progress table: save of ${key} failed: ${(caught as Error).message}`);
    }
  }

  /**
   * Turns the request this `owner` claimed into its refusal (its input was refused after the claim
   * went out): `REFUSED` with the errors, lease released. False if the lease is no longer this owner's.
   */
  public async refuseClaimed(key: string, owner: string, errors: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.options.client.send(
        new UpdateItemCommand({
          TableName: this.options.tableName,
          Key: { id: { S: key } },
          UpdateExpression: `SET ${ATTR.status} = :refused, errors = :errors REMOVE ${ATTR.owner}, leaseUntil`,
          ConditionExpression: `${ATTR.owner} = :owner AND ${ATTR.status} = :progress`,
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: {
            ':refused': { S: ProgressStatus.REFUSED },
            ':errors': { S: errors.slice(0, 10_000) },
            ':owner': { S: owner },
            ':progress': { S: ProgressStatus.IN_PROGRESS },
          },
        }),
        { abortSignal: signal as never },
      );
      return true;
    } catch (caught) {
      if ((caught as { name?: string }).name === 'ConditionalCheckFailedException') {
        return false;
      }
      throw new ProgressStoreError(`progress table: refusal of ${key} not saved: ${(caught as Error).message}`);
    }
  }

  /** Remembers that the request was refused; 'again' when an earlier delivery was refused already. */
  public async refuse(key: string, errors: string, signal?: AbortSignal): Promise<'first' | 'again'> {
    const now = this.now();
    try {
      await this.options.client.send(
        new PutItemCommand({
          TableName: this.options.tableName,
          Item: {
            id: { S: key },
            status: { S: ProgressStatus.REFUSED },
            errors: { S: errors.slice(0, 10_000) },
            expiresAt: { N: String(Math.ceil(now / 1000) + this.options.windowSeconds) },
          },
          ConditionExpression: 'attribute_not_exists(id)',
        }),
        { abortSignal: signal as never },
      );
      return 'first';
    } catch (caught) {
      if ((caught as { name?: string }).name === 'ConditionalCheckFailedException') {
        return 'again';
      }
      throw new ProgressStoreError(`progress table: refusal of ${key} not saved: ${(caught as Error).message}`);
    }
  }
}

function writtenOf(item: Record<string, AttributeValue> | undefined, recordCount: number): WrittenSet {
  const bits = item?.written?.B;
  return bits ? WrittenSet.fromStored(bits, recordCount) : WrittenSet.empty(recordCount);
}
