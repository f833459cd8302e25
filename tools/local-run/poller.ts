import { createHash } from 'crypto';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  type KinesisClient,
  type Shard,
  type _Record,
} from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent } from 'aws-lambda';
import type { MappingSettings } from './assembly';
import type { InvokeOutcome } from './function-host';

/**
 * A local Kinesis event-source mapping: reads every shard of the stream (children after their
 * parents are done, as Lambda does), and invokes the consumer with batches that honour the
 * mapping's batch size, batching window, parallelization factor (up to that many batches in
 * flight per shard, records of one partition key always in the same lane, in order), partial
 * batch responses (restart from the lowest failed sequence number), retries, bisect on function
 * error, maximum record age and the on-failure destination. Optionally it delivers a finished
 * batch once more (`redeliverEvery`), as Lambda may when an answer is lost.
 */
export interface PolledRecord {
  readonly shardId: string;
  readonly sequenceNumber: string;
  readonly partitionKey: string;
  readonly data: Uint8Array;
  /** ApproximateArrivalTimestamp, epoch milliseconds. */
  readonly arrival: number;
}

/** What Lambda sends to an on-failure destination for a Kinesis batch it gives up on. */
export interface FailureRecord {
  readonly requestContext: {
    readonly requestId: string;
    readonly functionArn: string;
    readonly condition: 'RetryAttemptsExhausted' | 'RecordAgeExceeded';
    readonly approximateInvokeCount: number;
  };
  readonly responseContext: { readonly statusCode: number; readonly executedVersion: string; readonly functionError?: string };
  readonly version: '1.0';
  readonly timestamp: string;
  readonly KinesisBatchInfo: {
    readonly shardId: string;
    readonly startSequenceNumber: string;
    readonly endSequenceNumber: string;
    readonly approximateArrivalOfFirstRecord: string;
    readonly approximateArrivalOfLastRecord: string;
    readonly batchSize: number;
    readonly streamArn: string;
  };
}

export interface PollerHooks {
  /** Records the consumer reported as processed (its invocation succeeded for them). */
  onProcessed?(records: readonly PolledRecord[]): void;
  /** A batch given up on, as sent to the on-failure destination, with its records. */
  onFailure?(entry: FailureRecord, records: readonly PolledRecord[]): void;
  /** Each GetRecords answer (the stream's metrics: IncomingBytes/Records by arrival, MillisBehindLatest). */
  onRead?(shardId: string, records: readonly PolledRecord[], millisBehindLatest: number): void;
  /** Each invocation, with the age of its newest record (Lambda's IteratorAge). */
  onInvoke?(iteratorAgeMs: number): void;
}

export interface PollerOptions {
  readonly kinesis: KinesisClient;
  readonly streamName: string;
  readonly streamArn: string;
  readonly functionArn: string;
  readonly region: string;
  readonly settings: MappingSettings;
  readonly invoke: (event: KinesisStreamEvent) => Promise<InvokeOutcome>;
  readonly hooks?: PollerHooks;
  /** Wait between GetRecords calls that return nothing. @default 200 */
  readonly idlePollMs?: number;
  /** Wait before the first retry of a failed batch, doubled per retry up to 1 s. @default 50 */
  readonly retryBaseMs?: number;
  /** How often new shards (after a reshard) are looked for. @default 1000 */
  readonly discoveryMs?: number;
  /**
   * Every n-th fully processed batch is delivered once more right after, as Lambda may when it
   * lost the answer (a timeout, a network error): the consumer must skip all of it. The repeat is
   * not reported to `onProcessed` (the mapping moved on once). 0: never. @default 0
   */
  readonly redeliverEvery?: number;
}

export interface PollerStats {
  invocations: number;
  functionErrors: number;
  partialFailures: number;
  retries: number;
  bisects: number;
  failureBatches: number;
  failureRecords: number;
  processedRecords: number;
  /** Age of the newest record of the latest batch when it was handed to the function, per shard (Lambda's IteratorAge). */
  readonly iteratorAgeMs: Map<string, number>;
  /** GetRecords' MillisBehindLatest per shard. */
  readonly millisBehindLatest: Map<string, number>;
  /** Highest sequence number the consumer processed, per shard (lanes finish in any order). */
  readonly lastProcessed: Map<string, string>;
  maxIteratorAgeMs: number;
  /** Most batches of one shard in flight at once (at most the parallelization factor). */
  maxInFlightPerShard: number;
  /** Batches the consumer answered with no failure (`redeliverEvery` counts these). */
  finishedBatches: number;
  /** Finished batches delivered again (`redeliverEvery`). */
  redeliveries: number;
  /** Of those, redeliveries the consumer did not answer with an empty batchItemFailures. */
  redeliveryFailures: number;
}

const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
const GET_RECORDS_LIMIT = 10_000;

/** Lane of a partition key under parallelization factor `factor` (stable: MD5 of the key). */
export function laneOf(partitionKey: string, factor: number): number {
  if (factor <= 1) {
    return 0;
  }
  return createHash('md5').update(partitionKey).digest().readUInt32BE(0) % factor;
}

/**
 * The index of the first record to retry after a successful invocation: -1 when every record
 * succeeded (or partial batch responses are off), else the lowest failed position; a failure
 * whose itemIdentifier is missing or not in the batch fails the whole batch (index 0), as Lambda does.
 */
export function firstFailureIndex(result: unknown, batch: readonly PolledRecord[], reportBatchItemFailures: boolean): number {
  if (!reportBatchItemFailures || result === null || typeof result !== 'object') {
    return -1;
  }
  const failures = (result as { batchItemFailures?: unknown }).batchItemFailures;
  if (!Array.isArray(failures) || failures.length === 0) {
    return -1;
  }
  let lowest = batch.length;
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    const index = typeof id === 'string' && id !== '' ? batch.findIndex((record) => record.sequenceNumber === id) : -1;
    if (index < 0) {
      return 0;
    }
    lowest = Math.min(lowest, index);
  }
  return lowest;
}

/** The Lambda Kinesis event for a batch. */
export function kinesisEvent(batch: readonly PolledRecord[], streamArn: string, region: string): KinesisStreamEvent {
  return {
    Records: batch.map((record) => ({
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: record.partitionKey,
        sequenceNumber: record.sequenceNumber,
        data: Buffer.from(record.data).toString('base64'),
        approximateArrivalTimestamp: record.arrival / 1000,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `${record.shardId}:${record.sequenceNumber}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: `arn:aws:iam::000000000000:role/local-consumer`,
      awsRegion: region,
      eventSourceARN: streamArn,
    })),
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A wake-up signal: `wait(ms)` resolves on the next `notify()` or after `ms`. */
class Signal {
  private waiters: Array<() => void> = [];
  public notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((wake) => wake());
  }
  public wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((waiter) => waiter !== done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.push(done);
    });
  }
}

export class KinesisPoller {
  public readonly stats: PollerStats = {
    invocations: 0,
    functionErrors: 0,
    partialFailures: 0,
    retries: 0,
    bisects: 0,
    failureBatches: 0,
    failureRecords: 0,
    processedRecords: 0,
    iteratorAgeMs: new Map(),
    millisBehindLatest: new Map(),
    lastProcessed: new Map(),
    maxIteratorAgeMs: 0,
    maxInFlightPerShard: 0,
    finishedBatches: 0,
    redeliveries: 0,
    redeliveryFailures: 0,
  };
  private readonly shards = new Map<string, ShardReader>();
  /** Hash key range of every shard discovered, open or closed. */
  private readonly ranges = new Map<string, { start: bigint; end: bigint }>();
  private readonly done = new Set<string>();
  private stopping = false;
  private discovery?: Promise<void>;
  private readonly wake = new Signal();
  private requestCount = 0;
  private factor: number;

  public constructor(private readonly options: PollerOptions) {
    this.factor = options.settings.parallelizationFactor;
  }

  /** The hash key range of a shard it has discovered (reading one starts only after discovering it). */
  public rangeOf(shardId: string): { start: bigint; end: bigint } | undefined {
    return this.ranges.get(shardId);
  }

  public get parallelizationFactor(): number {
    return this.factor;
  }

  /**
   * UpdateEventSourceMapping's ParallelizationFactor: shards started from now on (the children of
   * a reshard) get that many lanes; shards being read keep theirs, so no key changes lane mid-shard.
   */
  public setParallelizationFactor(factor: number): void {
    this.factor = Math.max(1, Math.min(10, Math.floor(factor)));
  }

  /** Starts reading every open shard; resolves once each has its first iterator. */
  public async start(): Promise<void> {
    await this.discover(true);
    this.discovery = (async () => {
      while (!this.stopping) {
        await this.wake.wait(this.options.discoveryMs ?? 1000);
        if (!this.stopping) {
          await this.discover(false).catch(() => undefined);
        }
      }
    })();
  }

  /** Shard ids being read, and those finished (closed and fully processed). */
  public shardIds(): { active: string[]; finished: string[] } {
    return { active: [...this.shards.keys()].filter((id) => !this.done.has(id)), finished: [...this.done] };
  }

  /** Lanes (batches that may be in flight at once) of a shard being read, as its parallelization factor was when it started. */
  public lanesOf(shardId: string): number | undefined {
    return this.shards.get(shardId)?.laneCount;
  }

  /** Batches in flight now. */
  public inFlight(): number {
    return [...this.shards.values()].reduce((sum, shard) => sum + shard.inFlight(), 0);
  }

  /** Stops polling; in-flight invocations finish, queued records stay unprocessed. */
  public async stop(): Promise<void> {
    this.stopping = true;
    this.wake.notify();
    await this.discovery;
    await Promise.all([...this.shards.values()].map((shard) => shard.stop()));
  }

  private async discover(initial: boolean): Promise<void> {
    const shards: Shard[] = [];
    let token: string | undefined;
    do {
      const page = await this.options.kinesis.send(
        new ListShardsCommand(token ? { NextToken: token } : { StreamName: this.options.streamName }),
      );
      shards.push(...(page.Shards ?? []));
      token = page.NextToken;
    } while (token);
    const known = new Set(shards.map((shard) => shard.ShardId!));
    for (const shard of shards) {
      this.ranges.set(shard.ShardId!, {
        start: BigInt(shard.HashKeyRange!.StartingHashKey!),
        end: BigInt(shard.HashKeyRange!.EndingHashKey!),
      });
    }
    const starts: Array<Promise<void>> = [];
    for (const shard of shards) {
      const id = shard.ShardId!;
      if (this.shards.has(id)) {
        continue;
      }
      const parents = [shard.ParentShardId, shard.AdjacentParentShardId].filter(
        (parent): parent is string => !!parent && known.has(parent),
      );
      if (parents.some((parent) => !this.done.has(parent))) {
        continue;
      }
      // Shards there from the start begin where the mapping says; children of a reshard at their start.
      const position = initial ? this.options.settings.startingPosition : 'TRIM_HORIZON';
      const reader = new ShardReader(
        id,
        position,
        this.factor,
        this.options,
        this.stats,
        () => this.nextRequestId(),
        () => {
          this.done.add(id);
          this.wake.notify();
        },
      );
      this.shards.set(id, reader);
      starts.push(reader.start());
    }
    await Promise.all(starts);
  }

  private nextRequestId(): string {
    this.requestCount += 1;
    return `local-esm-${this.requestCount}`;
  }
}

/** One shard: a reader filling `parallelizationFactor` lanes, each lane delivering in order. */
class ShardReader {
  private readonly lanes: Lane[];
  private iterator?: string;
  private closed = false;
  private stopping = false;
  private loop?: Promise<void>;
  private readonly readWake = new Signal();

  public constructor(
    public readonly shardId: string,
    private readonly position: 'TRIM_HORIZON' | 'LATEST',
    factor: number,
    private readonly options: PollerOptions,
    private readonly stats: PollerStats,
    requestId: () => string,
    private readonly onDone: () => void,
  ) {
    this.lanes = Array.from(
      { length: Math.max(1, factor) },
      () =>
        new Lane(
          this.shardId,
          options,
          stats,
          requestId,
          () => this.readWake.notify(),
          () => {
            this.stats.maxInFlightPerShard = Math.max(this.stats.maxInFlightPerShard, this.inFlight());
          },
        ),
    );
  }

  /** Lanes of this shard: the parallelization factor it was started with. */
  public get laneCount(): number {
    return this.lanes.length;
  }

  public async start(): Promise<void> {
    const response = await this.options.kinesis.send(
      new GetShardIteratorCommand({ StreamName: this.options.streamName, ShardId: this.shardId, ShardIteratorType: this.position }),
    );
    this.iterator = response.ShardIterator;
    this.lanes.forEach((lane) => lane.start());
    this.loop = this.read().then(async () => {
      this.lanes.forEach((lane) => lane.endOfInput());
      await Promise.all(this.lanes.map((lane) => lane.finished()));
      if (this.closed && !this.stopping) {
        this.onDone();
      }
    });
  }

  public inFlight(): number {
    return this.lanes.filter((lane) => lane.busy).length;
  }

  public async stop(): Promise<void> {
    this.stopping = true;
    this.readWake.notify();
    this.lanes.forEach((lane) => lane.stop());
    await this.loop;
  }

  private buffered(): number {
    return this.lanes.reduce((sum, lane) => sum + lane.queued(), 0);
  }

  private async read(): Promise<void> {
    const limit = Math.max(4 * this.options.settings.batchSize * this.lanes.length, 1000);
    let lastSequence: string | undefined;
    while (!this.stopping && this.iterator) {
      if (this.buffered() >= limit) {
        await this.readWake.wait(50);
        continue;
      }
      let records: _Record[];
      try {
        const response = await this.options.kinesis.send(new GetRecordsCommand({ ShardIterator: this.iterator, Limit: GET_RECORDS_LIMIT }));
        records = response.Records ?? [];
        this.iterator = response.NextShardIterator;
        this.stats.millisBehindLatest.set(this.shardId, response.MillisBehindLatest ?? 0);
      } catch (error) {
        if ((error as Error).name === 'ExpiredIteratorException') {
          const renewed = await this.options.kinesis
            .send(
              new GetShardIteratorCommand({
                StreamName: this.options.streamName,
                ShardId: this.shardId,
                ...(lastSequence
                  ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: lastSequence }
                  : { ShardIteratorType: this.position }),
              }),
            )
            .catch(() => undefined);
          this.iterator = renewed?.ShardIterator ?? this.iterator;
        }
        await this.readWake.wait(200);
        continue;
      }
      const polled: PolledRecord[] = records.map((record) => ({
        shardId: this.shardId,
        sequenceNumber: record.SequenceNumber!,
        partitionKey: record.PartitionKey!,
        data: record.Data ?? new Uint8Array(),
        arrival: record.ApproximateArrivalTimestamp?.getTime() ?? Date.now(),
      }));
      this.options.hooks?.onRead?.(this.shardId, polled, this.stats.millisBehindLatest.get(this.shardId) ?? 0);
      for (const record of polled) {
        this.lanes[laneOf(record.partitionKey, this.lanes.length)].push(record);
        lastSequence = record.sequenceNumber;
      }
      if (!this.iterator) {
        this.closed = true;
      } else if (records.length === 0) {
        await this.readWake.wait(this.options.idlePollMs ?? 200);
      }
    }
  }
}

class Lane {
  private readonly queue: PolledRecord[] = [];
  private readonly wake = new Signal();
  private inputEnded = false;
  private stopping = false;
  private loop?: Promise<void>;
  public busy = false;

  public constructor(
    private readonly shardId: string,
    private readonly options: PollerOptions,
    private readonly stats: PollerStats,
    private readonly requestId: () => string,
    private readonly onDrained: () => void,
    private readonly onBusy: () => void,
  ) {}

  public start(): void {
    this.loop = this.run();
  }

  public push(record: PolledRecord): void {
    this.queue.push(record);
    this.wake.notify();
  }

  public queued(): number {
    return this.queue.length;
  }

  public endOfInput(): void {
    this.inputEnded = true;
    this.wake.notify();
  }

  public stop(): void {
    this.stopping = true;
    this.wake.notify();
  }

  public finished(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  private async run(): Promise<void> {
    const { batchSize, batchWindowMs } = this.options.settings;
    while (!this.stopping) {
      if (this.queue.length === 0) {
        if (this.inputEnded) {
          return;
        }
        await this.wake.wait(1000);
        continue;
      }
      // Batching window: gather until the batch is full, the window has passed or input ends.
      if (batchWindowMs > 0) {
        const until = Date.now() + batchWindowMs;
        while (!this.stopping && !this.inputEnded && this.queue.length < batchSize && Date.now() < until) {
          await this.wake.wait(until - Date.now());
        }
        if (this.stopping) {
          return;
        }
      }
      const batch: PolledRecord[] = [];
      let bytes = 0;
      while (
        batch.length < batchSize &&
        this.queue.length > 0 &&
        (batch.length === 0 || bytes + this.queue[0].data.length * 1.4 < MAX_PAYLOAD_BYTES)
      ) {
        const record = this.queue.shift()!;
        bytes += record.data.length * 1.4 + 400;
        batch.push(record);
      }
      this.onDrained();
      this.busy = true;
      this.onBusy();
      try {
        await this.deliver(batch, 0);
      } finally {
        this.busy = false;
      }
    }
  }

  /** Delivers `records` until processed, or given up on (on-failure destination), or stopped. */
  private async deliver(records: PolledRecord[], retriesSoFar: number): Promise<void> {
    const { settings } = this.options;
    let pending = records;
    let retries = retriesSoFar;
    let invokes = 0;
    while (pending.length > 0) {
      if (this.stopping) {
        return;
      }
      if (settings.maxRecordAgeMs >= 0 && Date.now() - pending[0].arrival > settings.maxRecordAgeMs) {
        this.giveUp(pending, 'RecordAgeExceeded', invokes, undefined);
        return;
      }
      const newest = pending[pending.length - 1].arrival;
      const age = Math.max(0, Date.now() - newest);
      this.stats.iteratorAgeMs.set(this.shardId, age);
      this.stats.maxIteratorAgeMs = Math.max(this.stats.maxIteratorAgeMs, age);
      this.options.hooks?.onInvoke?.(age);
      this.stats.invocations += 1;
      invokes += 1;
      const outcome = await this.options.invoke(kinesisEvent(pending, this.options.streamArn, this.options.region));
      let functionError: string | undefined;
      if (outcome.ok) {
        const failedAt = firstFailureIndex(outcome.result, pending, settings.reportBatchItemFailures);
        const processed = failedAt < 0 ? pending : pending.slice(0, failedAt);
        this.processed(processed);
        if (failedAt < 0) {
          await this.maybeRedeliver(pending);
          return;
        }
        this.stats.partialFailures += 1;
        pending = pending.slice(failedAt);
      } else {
        if (outcome.error.name === 'HostClosed') {
          return;
        }
        this.stats.functionErrors += 1;
        functionError = 'Unhandled';
        if (settings.bisectOnError && pending.length > 1) {
          this.stats.bisects += 1;
          const middle = Math.ceil(pending.length / 2);
          await this.deliver(pending.slice(0, middle), retries);
          await this.deliver(pending.slice(middle), retries);
          return;
        }
      }
      retries += 1;
      if (settings.maxRetryAttempts >= 0 && retries > settings.maxRetryAttempts) {
        this.giveUp(pending, 'RetryAttemptsExhausted', invokes, functionError);
        return;
      }
      this.stats.retries += 1;
      await sleep(Math.min(1000, (this.options.retryBaseMs ?? 50) * 2 ** Math.min(retries - 1, 5)));
    }
  }

  /** Every `redeliverEvery`-th finished batch once more: the consumer must answer it with no failures. */
  private async maybeRedeliver(batch: readonly PolledRecord[]): Promise<void> {
    const every = this.options.redeliverEvery ?? 0;
    if (this.stopping) {
      return;
    }
    this.stats.finishedBatches += 1;
    if (every <= 0 || this.stats.finishedBatches % every !== 0) {
      return;
    }
    this.stats.invocations += 1;
    this.stats.redeliveries += 1;
    const outcome = await this.options.invoke(kinesisEvent(batch, this.options.streamArn, this.options.region));
    if (outcome.ok ? firstFailureIndex(outcome.result, batch, true) >= 0 : outcome.error.name !== 'HostClosed') {
      this.stats.redeliveryFailures += 1;
    }
  }

  private processed(records: readonly PolledRecord[]): void {
    if (records.length === 0) {
      return;
    }
    this.stats.processedRecords += records.length;
    const newest = records[records.length - 1].sequenceNumber;
    const known = this.stats.lastProcessed.get(this.shardId);
    if (known === undefined || BigInt(known) < BigInt(newest)) {
      this.stats.lastProcessed.set(this.shardId, newest);
    }
    this.options.hooks?.onProcessed?.(records);
  }

  private giveUp(
    records: readonly PolledRecord[],
    condition: FailureRecord['requestContext']['condition'],
    invokes: number,
    functionError?: string,
  ): void {
    this.stats.failureBatches += 1;
    this.stats.failureRecords += records.length;
    const first = records[0];
    const last = records[records.length - 1];
    this.options.hooks?.onFailure?.(
      {
        requestContext: { requestId: this.requestId(), functionArn: this.options.functionArn, condition, approximateInvokeCount: invokes },
        responseContext: { statusCode: 200, executedVersion: '$LATEST', ...(functionError ? { functionError } : {}) },
        version: '1.0',
        timestamp: new Date().toISOString(),
        KinesisBatchInfo: {
          shardId: this.shardId,
          startSequenceNumber: first.sequenceNumber,
          endSequenceNumber: last.sequenceNumber,
          approximateArrivalOfFirstRecord: new Date(first.arrival).toISOString(),
          approximateArrivalOfLastRecord: new Date(last.arrival).toISOString(),
          batchSize: records.length,
          streamArn: this.options.streamArn,
        },
      },
      records,
    );
  }
}
