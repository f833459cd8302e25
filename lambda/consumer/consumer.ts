import type { Context, KinesisStreamBatchResponse, KinesisStreamRecord } from 'aws-lambda';
import { deaggregateRecord, shardIdOf, type UserRecord } from '../shared/deaggregate';
import { hashKeyOf, inHashRange, MAX_HASH_KEY, parseHashKey } from '../shared/hash-key';
import type { Lease } from '../shared/lease-item';
import { LeaseLostError, type LeaseStore } from '../shared/lease-store';
import { checkpointFilter, compareExtended, NOTHING_PROCESSED_YET, parseSequenceNumber, type ExtendedSequenceNumber } from '../shared/sequence-number';

/** The user's record processor: resolves when the record is processed, rejects to stop the shard there. */
export type RecordProcessor = (record: UserRecord, context: Context) => Promise<void>;

export interface ConsumerDeps {
  readonly processRecord: RecordProcessor;
  /** Where checkpoints live; undefined turns checkpointing (and duplicate skipping) off. */
  readonly leases?: LeaseStore;
  /** The lease owner written with each checkpoint (the function's name). */
  readonly owner: string;
  /** Stop before the next Kinesis record when less time than this is left, checkpoint, and let Lambda redeliver the rest. */
  readonly reserveMillis?: number;
  /**
   * The hash key range of a shard by id. When given, user records inside a KPL aggregate that
   * hash outside the shard they were read from are skipped, as the KCL skips them: a producer
   * with a stale shard map put them there, and a shard-aware producer (ProducerFunction, the
   * KPL) sends them again to the right shard. Undefined for a shard processes everything.
   */
  readonly shardRange?: (shardId: string) => Promise<{ readonly start: bigint; readonly end: bigint } | undefined>;
  readonly log?: { warn(message: string, extra: Record<string, unknown>): void; error(message: string, extra: Record<string, unknown>): void };
  readonly now?: () => number;
}

export interface ShardOutcome {
  readonly shardId: string;
  readonly userRecords: number;
  readonly duplicatesSkipped: number;
  /** Sub-records of aggregates skipped because they hash outside this shard (with `shardRange`). */
  readonly outOfRangeSkipped: number;
  readonly failed: boolean;
  /** The checkpoint written (or found already at or past it), if any record was processed. */
  readonly checkpoint?: ExtendedSequenceNumber;
  /** Milliseconds from the checkpointed record's arrival to the checkpoint. */
  readonly checkpointLagMillis?: number;
}

export interface BatchOutcome {
  readonly response: KinesisStreamBatchResponse;
  readonly shards: ShardOutcome[];
}

const MAX_WRITE_ATTEMPTS = 3;

/**
 * Consumes a Lambda Kinesis batch: per shard, in order, deaggregates each record, skips the user
 * records at or below the shard's checkpoint, calls the processor, stops at the first failure and
 * reports that record's sequence number in `batchItemFailures` (so Lambda retries from there),
 * then checkpoints the last processed position (sequence and sub-sequence number).
 */
export async function consumeBatch(records: readonly KinesisStreamRecord[], context: Context, deps: ConsumerDeps): Promise<BatchOutcome> {
  const byShard = new Map<string, KinesisStreamRecord[]>();
  for (const record of records) {
    const shardId = shardIdOf(record);
    const list = byShard.get(shardId);
    if (list) {
      list.push(record);
    } else {
      byShard.set(shardId, [record]);
    }
  }
  const shards: ShardOutcome[] = [];
  const batchItemFailures: { itemIdentifier: string }[] = [];
  for (const [shardId, shardRecords] of byShard) {
    const outcome = await consumeShard(shardId, shardRecords, context, deps);
    shards.push(outcome.result);
    if (outcome.retryFrom !== undefined) {
      batchItemFailures.push({ itemIdentifier: outcome.retryFrom });
    }
  }
  return { response: { batchItemFailures }, shards };
}

async function consumeShard(shardId: string, records: readonly KinesisStreamRecord[], context: Context, deps: ConsumerDeps): Promise<{ result: ShardOutcome; retryFrom?: string }> {
  const lease = deps.leases ? await acquire(deps.leases, shardId, deps.owner) : undefined;
  const isProcessed = checkpointFilter(lease?.checkpoint);
  // Records of a shard arrive in sequence order: once one is past the checkpoint, all later ones are.
  let skipping = lease !== undefined && isProcessed !== NOTHING_PROCESSED_YET;
  const reserve = deps.reserveMillis ?? 0;
  let userRecords = 0;
  let duplicatesSkipped = 0;
  let outOfRangeSkipped = 0;
  const inRange = await rangeFilter(shardId, deps);
  // The last user record processed (kept as is: no allocation per record on the hot path).
  let last: UserRecord | undefined;
  let retryFrom: string | undefined;
  let failed = false;

  outer: for (const record of records) {
    if (reserve > 0 && userRecords > 0 && context.getRemainingTimeInMillis() < reserve) {
      retryFrom = record.kinesis.sequenceNumber;
      deps.log?.warn('time budget reached: checkpointing and leaving the rest for Lambda to redeliver', { shardId, retryFrom });
      break;
    }
    const sequence = skipping ? parseSequenceNumber(record.kinesis.sequenceNumber) : 0n;
    for (const userRecord of deaggregateRecord(record, shardId)) {
      if (inRange !== undefined && userRecord.aggregated && !inRange(userRecord)) {
        outOfRangeSkipped++;
        continue;
      }
      if (skipping) {
        if (isProcessed(sequence, userRecord.subSequenceNumber)) {
          duplicatesSkipped++;
          continue;
        }
        skipping = false;
      }
      try {
        await deps.processRecord(userRecord, context);
      } catch (error) {
        failed = true;
        retryFrom = record.kinesis.sequenceNumber;
        deps.log?.error('processor failed: stopping the shard at this record', {
          shardId, sequenceNumber: userRecord.sequenceNumber, subSequenceNumber: userRecord.subSequenceNumber, partitionKey: userRecord.partitionKey, error,
        });
        break outer;
      }
      userRecords++;
      last = userRecord;
    }
  }

  let checkpoint: ExtendedSequenceNumber | undefined;
  let checkpointLagMillis: number | undefined;
  if (deps.leases && lease && last) {
    checkpoint = await checkpointAtLeast(deps.leases, lease, { sequenceNumber: last.sequenceNumber, subSequenceNumber: last.subSequenceNumber }, deps.owner);
    checkpointLagMillis = Math.max(0, (deps.now ?? Date.now)() - last.approximateArrivalTimestamp);
  }
  return { result: { shardId, userRecords, duplicatesSkipped, outOfRangeSkipped, failed, checkpoint, checkpointLagMillis }, retryFrom };
}

/**
 * Whether a user record hashes into the shard, or undefined when every record is kept (no
 * `shardRange`, an unknown shard, or a shard owning the whole key space). A partition key's hash
 * is computed once per batch.
 */
async function rangeFilter(shardId: string, deps: ConsumerDeps): Promise<((record: UserRecord) => boolean) | undefined> {
  const range = deps.shardRange ? await deps.shardRange(shardId) : undefined;
  if (range === undefined || (range.start === 0n && range.end === MAX_HASH_KEY)) {
    return undefined;
  }
  const byKey = new Map<string, boolean>();
  return (record) => {
    if (record.explicitHashKey !== undefined) {
      // A key that is not a hash key was not routed by it either: keep the record.
      const hashKey = parseHashKey(record.explicitHashKey);
      return hashKey === undefined || inHashRange(range, hashKey);
    }
    let owned = byKey.get(record.partitionKey);
    if (owned === undefined) {
      owned = inHashRange(range, hashKeyOf(record.partitionKey));
      byKey.set(record.partitionKey, owned);
    }
    return owned;
  };
}

/** The shard's lease, created if absent and taken for `owner` if another owner holds it. */
async function acquire(store: LeaseStore, shardId: string, owner: string): Promise<Lease> {
  for (let attempt = 1; ; attempt++) {
    try {
      const lease = await store.get(shardId);
      if (!lease) {
        return await store.create(shardId, owner);
      }
      return lease.leaseOwner === owner ? lease : await store.take(lease, owner);
    } catch (error) {
      if (!(error instanceof LeaseLostError) || attempt >= MAX_WRITE_ATTEMPTS) {
        throw error;
      }
    }
  }
}

/**
 * Moves the checkpoint forward to `position`. When another writer changed the lease meanwhile,
 * reads it again: a checkpoint already at or past `position` is kept (never moved back);
 * otherwise the write is retried on the new counter. Never writes a position not processed.
 */
async function checkpointAtLeast(store: LeaseStore, lease: Lease, position: ExtendedSequenceNumber, owner: string): Promise<ExtendedSequenceNumber> {
  let current = lease;
  for (let attempt = 1; ; attempt++) {
    if (compareExtended(current.checkpoint, position) >= 0) {
      return current.checkpoint;
    }
    try {
      await store.checkpoint(current.leaseOwner === owner ? current : await store.take(current, owner), position);
      return position;
    } catch (error) {
      if (!(error instanceof LeaseLostError) || attempt >= MAX_WRITE_ATTEMPTS) {
        throw error;
      }
      const fresh = await store.get(lease.leaseKey);
      if (!fresh) {
        throw error;
      }
      current = fresh;
    }
  }
}
