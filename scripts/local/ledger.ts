import { deaggregateSync } from 'aws-kinesis-agg';
import type { PolledRecord } from './poller';

/**
 * Counts every record of the run by its unique id: produced (accepted by the producer),
 * rejected (the producer said it could not write it), consumed (inside a Kinesis record the
 * consumer reported as processed, after KPL de-aggregation), sent to the on-failure destination.
 * Exactly once means: every produced id consumed once, none twice, none lost. Order: per
 * partition key, first consumptions come in stream order (sequence, then sub-sequence number).
 *
 * Two observers: what the consumer acknowledged (records of batches it reported processed), and,
 * when the processor logs each user record (the example processor does at DEBUG level, with its
 * sequence and sub-sequence number), what the processor itself saw: the one that counts, since a
 * consumer may acknowledge a record it skipped as a duplicate.
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
    return typeof value.id === 'string' && typeof value.pk === 'string' && typeof value.n === 'number' ? { id: value.id, pk: value.pk, n: value.n } : undefined;
  } catch {
    return undefined;
  }
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
  deaggregateSync({ data: Buffer.from(record.data).toString('base64'), partitionKey: record.partitionKey, sequenceNumber: record.sequenceNumber } as never, true, (error, users) => {
    if (error) {
      failure = error;
    } else {
      // deaggregateSync passes a plain record through as one user record; an aggregate starts with the KPL magic.
      const data = record.data;
      const aggregated = data.length > 4 && data[0] === 0xf3 && data[1] === 0x89 && data[2] === 0x9a && data[3] === 0xc2;
      out = (users ?? []).map((user) => {
        const explicitHashKey = (user as { explicitPartitionKey?: string }).explicitPartitionKey;
        return { partitionKey: user.partitionKey, ...(explicitHashKey ? { explicitHashKey } : {}), data: Buffer.from(user.data as unknown as string, 'base64'), aggregated };
      });
    }
  });
  if (failure) {
    return [{ partitionKey: record.partitionKey, data: Buffer.from(record.data), aggregated: false }];
  }
  return out;
}

export interface ProcessorResult {
  readonly seenOnce: number;
  readonly duplicates: number;
  readonly missing: number;
  readonly sampleMissing: readonly string[];
  readonly sampleDuplicates: readonly string[];
}

export interface LedgerResult {
  readonly produced: number;
  readonly rejected: number;
  readonly consumedOnce: number;
  readonly duplicates: number;
  readonly lost: number;
  readonly toFailureDestination: number;
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

  /** The processor saw the user record at that position (from its log line). */
  public recordProcessorSaw(sequenceNumber: string, subSequenceNumber: number): void {
    this.processorLines += 1;
    const id = this.byPosition.get(`${sequenceNumber}/${subSequenceNumber}`);
    if (id === undefined) {
      this.processorUnknown += 1;
      return;
    }
    this.processorSaw.set(id, (this.processorSaw.get(id) ?? 0) + 1);
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
      userRecordsOf(record).forEach((user, sub) => {
        if (user.aggregated && this.owns && !this.owns(record.shardId, user)) {
          return; // skipped by the consumer: a stale-map copy the producer sent again
        }
        const payload = parsePayload(user.data);
        if (!payload) {
          this.unknown += 1;
          return;
        }
        this.recordConsumed(payload, BigInt(record.sequenceNumber) * 1_000_000n + BigInt(sub));
      });
    }
  }

  /** One consumption of a user record at `position` in the stream (sequence × 10⁶ + sub-sequence). */
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
    return { seenOnce, duplicates: duplicates.length, missing: missing.length, sampleMissing: missing.slice(0, 5), sampleDuplicates: duplicates.slice(0, 5) };
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
