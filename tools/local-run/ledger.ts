import { deaggregateSync } from 'aws-kinesis-agg';
import type { PolledRecord } from './poller';

/**
 * Counts every record of the run by its unique id: produced (accepted by the producer),
 * rejected (the producer said it could not write it), consumed (inside a Kinesis record the
 * consumer reported as processed, after KPL de-aggregation), sent to the on-failure destination.
 * Exactly once means: every produced id consumed once, none twice, none lost.
 *
 * Two observers: what the consumer acknowledged (records of batches it reported processed), and,
 * when the processor logs each user record (the example processor does at DEBUG level, with its
 * sequence and sub-sequence number), what the processor itself saw: the one that counts, since a
 * consumer may acknowledge a record it skipped as a duplicate.
 *
 * Order is per user partition key (the guarantee at any parallelization factor; order per shard
 * does not hold once batches of a shard run at once and keys run concurrently): the processor saw
 * each key's records in stream order (its log lines arrive in the order written, see
 * FunctionHost), and first acknowledgements of a key come in stream order too.
 */
export interface Payload {
  readonly id: string;
  readonly pk: string;
  /** Position of the record among its partition key's records. */
  readonly n: number;
}

/** A record's data: JSON with its id, key and position, padded to `size` bytes. */
export function makePayload(payload: Payload, size: number): string {
  const base = JSON.stringify({ ...payload, pad: '' });
  return JSON.stringify({ ...payload, pad: 'x'.repeat(Math.max(0, size - Buffer.byteLength(base))) });
}

export function parsePayload(data: Uint8Array): Payload | undefined {
  try {
    const value = JSON.parse(Buffer.from(data).toString('utf8')) as Partial<Payload>;
    return typeof value.id === 'string' && typeof value.pk === 'string' && typeof value.n === 'number'
      ? { id: value.id, pk: value.pk, n: value.n }
      : undefined;
  } catch {
    return undefined;
  }
}

/** A user record's place in its shard as one number: sequence × 10⁶ + sub-sequence (an aggregate holds far fewer than 10⁶). */
export function streamPosition(sequenceNumber: string, subSequenceNumber: number): bigint {
  return BigInt(sequenceNumber) * 1_000_000n + BigInt(subSequenceNumber);
}

/** A user record inside a Kinesis record: `aggregated` if it came out of a KPL aggregate, with its `explicitHashKey` if it has one. */
export interface PolledUserRecord {
  readonly partitionKey: string;
  readonly explicitHashKey?: string;
  readonly data: Buffer;
  readonly aggregated: boolean;
}

/** The user records inside a Kinesis record: the KPL-aggregated ones de-aggregated (MD5 checked), others as they are. */
export function userRecordsOf(record: PolledRecord): PolledUserRecord[] {
  let out: PolledUserRecord[] = [];
  let failure: Error | undefined;
  deaggregateSync(
    {
      data: Buffer.from(record.data).toString('base64'),
      partitionKey: record.partitionKey,
      sequenceNumber: record.sequenceNumber,
    } as never,
    true,
    (error, users) => {
      if (error) {
        failure = error;
      } else {
        // deaggregateSync passes a plain record through as one user record; an aggregate starts with the KPL magic.
        const data = record.data;
        const aggregated = data.length > 4 && data[0] === 0xf3 && data[1] === 0x89 && data[2] === 0x9a && data[3] === 0xc2;
        out = (users ?? []).map((user) => {
          const explicitHashKey = (user as { explicitPartitionKey?: string }).explicitPartitionKey;
          return {
            partitionKey: user.partitionKey,
            ...(explicitHashKey ? { explicitHashKey } : {}),
            data: Buffer.from(user.data, 'base64'),
            aggregated,
          };
        });
      }
    },
  );
  if (failure) {
    return [{ partitionKey: record.partitionKey, data: Buffer.from(record.data), aggregated: false }];
  }
  return out;
}

export interface ProcessorResult {
  readonly seenOnce: number;
  readonly duplicates: number;
  readonly missing: number;
  /** First sightings of a record before an earlier-produced record of its partition key was seen. */
  readonly outOfOrder: number;
  readonly sampleMissing: readonly string[];
  readonly sampleDuplicates: readonly string[];
  readonly sampleOutOfOrder: readonly string[];
}

/** Whether the consumer's lease says a user record is processed (at or below its checkpoint, or in its outer key's progress). */
export type LeaseCovers = (shardId: string, partitionKey: string, sequenceNumber: string, subSequenceNumber: number) => boolean;

export interface CheckpointCoverage {
  /** Outer (Kinesis record) partition keys with acknowledged records, over all shards. */
  readonly outerKeys: number;
  /** Of those, keys whose last acknowledged user record the lease does not hold as processed. */
  readonly uncovered: number;
  readonly sampleUncovered: readonly string[];
}

export interface LedgerResult {
  readonly produced: number;
  readonly rejected: number;
  readonly consumedOnce: number;
  readonly duplicates: number;
  readonly lost: number;
  readonly toFailureDestination: number;
  /** First acknowledgements of a user partition key's records out of stream order. */
  readonly outOfOrder: number;
  readonly unknown: number;
  /** Records the producer reported as not written that were consumed all the same (a write that timed out but landed). */
  readonly rejectedButConsumed: number;
  readonly kinesisRecords: number;
  readonly sampleLost: readonly string[];
  readonly sampleDuplicates: readonly string[];
  /** What the processor saw, when it logs each record; undefined when it does not. */
  readonly processor?: ProcessorResult;
}

/** Whether a consumer that skips out-of-range records (OutOfRangeRecords.SKIP) processes this user record of that shard. */
export type ShardOwns = (shardId: string, user: PolledUserRecord) => boolean;

export class Ledger {
  private readonly byPosition = new Map<string, string>();
  private readonly processorSaw = new Map<string, number>();
  private processorLines = 0;
  private processorUnknown = 0;
  private readonly produced = new Map<string, Payload>();
  private readonly rejected = new Set<string>();
  private readonly consumed = new Map<string, number>();
  private readonly failed = new Set<string>();
  private readonly lastByKey = new Map<string, bigint>();
  /** Furthest stream position the processor saw per partition key, and the ids it saw after a later one. */
  private readonly processorLastByKey = new Map<string, bigint>();
  private readonly processorOutOfOrder: string[] = [];
  /** Last acknowledged user record per shard and outer (Kinesis record) partition key. */
  private readonly lastAcked = new Map<string, Map<string, { sequenceNumber: string; subSequenceNumber: number; sequence: bigint }>>();
  private outOfOrder = 0;
  private unknown = 0;
  private kinesisRecords = 0;
  public producedCount = 0;
  public consumedCount = 0;

  /**
   * `owns`: given when the consumer skips aggregated records outside their shard, as the KCL does
   * (the producer re-sends them to the right shard): what it acknowledged then leaves those out.
   */
  public constructor(private readonly owns?: ShardOwns) {}

  public recordProduced(payload: Payload): void {
    this.produced.set(payload.id, payload);
    this.producedCount += 1;
  }

  /** Records read from the stream: remembers which id sits at each (sequence, sub-sequence) position. */
  public recordRead(records: readonly PolledRecord[]): void {
    for (const record of records) {
      userRecordsOf(record).forEach((user, sub) => {
        const payload = parsePayload(user.data);
        if (payload) {
          this.byPosition.set(`${record.sequenceNumber}/${sub}`, payload.id);
        }
      });
    }
  }

  /** The processor saw the user record at that position (from its log line, in the order logged). */
  public recordProcessorSaw(sequenceNumber: string, subSequenceNumber: number): void {
    this.processorLines += 1;
    const id = this.byPosition.get(`${sequenceNumber}/${subSequenceNumber}`);
    if (id === undefined) {
      this.processorUnknown += 1;
      return;
    }
    const times = (this.processorSaw.get(id) ?? 0) + 1;
    this.processorSaw.set(id, times);
    const payload = this.produced.get(id);
    if (times === 1 && payload !== undefined) {
      // Stream order, not the load's `n`: concurrent producer calls may write a key's records in another order.
      const position = streamPosition(sequenceNumber, subSequenceNumber);
      const last = this.processorLastByKey.get(payload.pk) ?? -1n;
      if (position < last) {
        this.processorOutOfOrder.push(id);
      } else {
        this.processorLastByKey.set(payload.pk, position);
      }
    }
  }

  /** Whether the processor's own record log is being observed. */
  public get processorObserved(): boolean {
    return this.processorLines > 0;
  }

  public recordRejected(id: string): void {
    this.rejected.add(id);
  }

  /** Kinesis records the consumer processed. */
  public recordProcessed(records: readonly PolledRecord[]): void {
    for (const record of records) {
      this.kinesisRecords += 1;
      const users = userRecordsOf(record);
      this.recordAcked(record, users.length - 1);
      users.forEach((user, sub) => {
        if (user.aggregated && this.owns && !this.owns(record.shardId, user)) {
          return; // skipped by the consumer: a stale-map copy the producer sent again
        }
        const payload = parsePayload(user.data);
        if (!payload) {
          this.unknown += 1;
          return;
        }
        this.recordConsumed(payload, streamPosition(record.sequenceNumber, sub));
      });
    }
  }

  /** One consumption of a user record at `position` in the stream (`streamPosition`). */
  public recordConsumed(payload: Payload, position: bigint): void {
    const seen = this.consumed.get(payload.id) ?? 0;
    this.consumed.set(payload.id, seen + 1);
    this.consumedCount += 1;
    if (seen === 0) {
      const last = this.lastByKey.get(payload.pk) ?? -1n;
      if (position < last) {
        this.outOfOrder += 1;
      } else {
        this.lastByKey.set(payload.pk, position);
      }
    }
  }

  private recordAcked(record: PolledRecord, lastSub: number): void {
    let byKey = this.lastAcked.get(record.shardId);
    if (byKey === undefined) {
      byKey = new Map();
      this.lastAcked.set(record.shardId, byKey);
    }
    const sequence = BigInt(record.sequenceNumber);
    const last = byKey.get(record.partitionKey);
    if (last === undefined || last.sequence < sequence) {
      byKey.set(record.partitionKey, { sequenceNumber: record.sequenceNumber, subSequenceNumber: Math.max(0, lastSub), sequence });
    }
  }

  /**
   * Checks the consumer's checkpoints against what it acknowledged: for every shard and outer
   * partition key, its last acknowledged user record must be processed by the lease's account
   * (`covers`), else a redelivery would process it again.
   */
  public checkpointCoverage(covers: LeaseCovers): CheckpointCoverage {
    let outerKeys = 0;
    const uncovered: string[] = [];
    for (const [shardId, byKey] of this.lastAcked) {
      for (const [partitionKey, last] of byKey) {
        outerKeys += 1;
        if (!covers(shardId, partitionKey, last.sequenceNumber, last.subSequenceNumber)) {
          uncovered.push(`${shardId}/${partitionKey}@${last.sequenceNumber}/${last.subSequenceNumber}`);
        }
      }
    }
    return { outerKeys, uncovered: uncovered.length, sampleUncovered: uncovered.slice(0, 5) };
  }

  public recordFailed(records: readonly PolledRecord[]): void {
    for (const record of records) {
      for (const user of userRecordsOf(record)) {
        const payload = parsePayload(user.data);
        if (payload) {
          this.failed.add(payload.id);
        }
      }
    }
  }

  /** Produced records not consumed yet (by the processor, when it is observed). */
  public pending(): number {
    const seen = this.processorObserved ? this.processorSaw : this.consumed;
    let count = 0;
    for (const id of this.produced.keys()) {
      if (!seen.has(id) && !this.failed.has(id)) {
        count += 1;
      }
    }
    return count;
  }

  private processorResult(): ProcessorResult | undefined {
    if (!this.processorObserved) {
      return undefined;
    }
    const missing: string[] = [];
    const duplicates: string[] = [];
    let seenOnce = 0;
    for (const id of this.produced.keys()) {
      const times = this.processorSaw.get(id) ?? 0;
      if (times === 1) {
        seenOnce += 1;
      } else if (times > 1) {
        duplicates.push(id);
      } else if (!this.failed.has(id)) {
        missing.push(id);
      }
    }
    return {
      seenOnce,
      duplicates: duplicates.length,
      missing: missing.length,
      outOfOrder: this.processorOutOfOrder.length,
      sampleMissing: missing.slice(0, 5),
      sampleDuplicates: duplicates.slice(0, 5),
      sampleOutOfOrder: this.processorOutOfOrder.slice(0, 5),
    };
  }

  public result(): LedgerResult {
    const lost: string[] = [];
    const duplicates: string[] = [];
    let consumedOnce = 0;
    let toFailureDestination = 0;
    for (const id of this.produced.keys()) {
      const times = this.consumed.get(id) ?? 0;
      if (times === 1) {
        consumedOnce += 1;
      } else if (times > 1) {
        duplicates.push(id);
      } else if (this.failed.has(id)) {
        toFailureDestination += 1;
      } else {
        lost.push(id);
      }
    }
    // Consumed ids the producer never accepted: reported failed yet written (a timed-out write that landed), or not from this run.
    let unexpected = 0;
    let rejectedButConsumed = 0;
    for (const id of this.consumed.keys()) {
      if (this.rejected.has(id)) {
        rejectedButConsumed += 1;
      } else if (!this.produced.has(id)) {
        unexpected += 1;
      }
    }
    return {
      produced: this.produced.size,
      rejected: this.rejected.size,
      consumedOnce,
      duplicates: duplicates.length,
      lost: lost.length,
      toFailureDestination,
      outOfOrder: this.outOfOrder,
      unknown: this.unknown + unexpected,
      rejectedButConsumed,
      kinesisRecords: this.kinesisRecords,
      sampleLost: lost.slice(0, 5),
      sampleDuplicates: duplicates.slice(0, 5),
      processor: this.processorResult(),
    };
  }
}
