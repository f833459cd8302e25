import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { Invoker } from './function-host';
import { makePayload, type Ledger } from './ledger';

/**
 * Calls the producer at `rate` records per second with records of `recordSize` bytes, each
 * carrying a unique id, a partition key out of `partitionKeys` and its position for that key.
 */
export interface OutgoingRecord {
  readonly data: string;
  readonly partitionKey: string;
}

/** Writes records; answers the indexes that could not be written. */
export type RecordWriter = (
  records: readonly OutgoingRecord[],
) => Promise<{ readonly failed: ReadonlyArray<{ index: number; reason: string }> }>;

export interface LoadOptions {
  readonly rate: number;
  readonly recordSize: number;
  readonly partitionKeys?: number;
  /** Producer invocations in flight at most; a slower producer lowers the achieved rate. @default 8 */
  readonly maxInFlight?: number;
  /** Records per producer invocation at most. @default 500 */
  readonly maxPerCall?: number;
  /** How often the due records are sent, in one call (or more, past `maxPerCall`). @default 100 */
  readonly tickMs?: number;
  readonly runId?: string;
}

export interface LoadStats {
  calls: number;
  callErrors: number;
  sent: number;
  accepted: number;
  rejected: number;
  lastError?: string;
}

/**
 * Reads the producer's answer: the records it could not write, by index. Accepts the shapes a
 * handler may use (`failed`, `failures`, `failedRecords`, `errors`: arrays of `{ index, reason }`);
 * a function error fails every record of the call.
 */
export function failedIndexes(result: unknown): Array<{ index: number; reason: string }> {
  if (result === null || typeof result !== 'object') {
    return [];
  }
  const body = typeof (result as { body?: unknown }).body === 'string' ? safeJson((result as { body: string }).body) : result;
  for (const key of ['failed', 'failures', 'failedRecords', 'errors', 'rejected']) {
    const list = (body as Record<string, unknown> | undefined)?.[key];
    if (Array.isArray(list)) {
      return list
        .filter(
          (item): item is { index: number; reason?: string; errorCode?: string; message?: string } =>
            typeof (item as { index?: unknown })?.index === 'number',
        )
        .map((item) => ({ index: item.index, reason: String(item.reason ?? item.errorCode ?? item.message ?? 'failed') }));
    }
  }
  return [];
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The producer Lambda, invoked directly with `{ records: [...] }`. */
export function producerWriter(producer: Invoker): RecordWriter {
  return async (records) => {
    const outcome = await producer.invoke({ records });
    // A function error that carries the producer's answer (ProducerWriteError.result) says which records failed.
    if (!outcome.ok && outcome.error.details?.result !== undefined) {
      return { failed: failedIndexes(outcome.error.details.result) };
    }
    if (!outcome.ok) {
      return { failed: records.map((_record, index) => ({ index, reason: `${outcome.error.name}: ${outcome.error.message}` })) };
    }
    return { failed: failedIndexes(outcome.result) };
  };
}

/** Plain PutRecords, for a template without a producer function. */
export function directWriter(kinesis: KinesisClient, streamName: string): RecordWriter {
  return async (records) => {
    const response = await kinesis.send(
      new PutRecordsCommand({
        StreamName: streamName,
        Records: records.map((record) => ({ Data: Buffer.from(record.data), PartitionKey: record.partitionKey })),
      }),
    );
    return {
      failed: (response.Records ?? []).flatMap((entry, index) =>
        entry.ErrorCode ? [{ index, reason: `${entry.ErrorCode}: ${entry.ErrorMessage}` }] : [],
      ),
    };
  };
}

export class LoadGenerator {
  public readonly stats: LoadStats = { calls: 0, callErrors: 0, sent: 0, accepted: 0, rejected: 0 };
  private timer?: NodeJS.Timeout;
  private started = 0;
  private due = 0;
  private inFlight = new Set<Promise<void>>();
  private counter = 0;
  private readonly positions = new Map<string, number>();
  private readonly runId: string;

  public constructor(
    private readonly writer: RecordWriter,
    private readonly ledger: Ledger,
    private readonly options: LoadOptions,
  ) {
    this.runId = options.runId ?? Date.now().toString(36);
  }

  public start(): void {
    this.started = Date.now();
    // Ten producer calls a second, each with the records that fell due since the last: a producer
    // fed by an API or a queue gets batches, and batches are what it aggregates. (A tick per record
    // at low rates gave one record per call, so nothing was ever aggregated on an idle machine.)
    this.timer = setInterval(() => this.tick(), this.options.tickMs ?? 100);
  }

  /** Stops sending and waits for the calls in flight. */
  public async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.inFlight]);
  }

  private tick(): void {
    const target = Math.floor(((Date.now() - this.started) / 1000) * this.options.rate);
    const maxInFlight = this.options.maxInFlight ?? 8;
    const maxPerCall = this.options.maxPerCall ?? 500;
    while (this.due < target && this.inFlight.size < maxInFlight) {
      const count = Math.min(maxPerCall, target - this.due);
      this.due += count;
      const call = this.send(count).finally(() => this.inFlight.delete(call));
      this.inFlight.add(call);
    }
  }

  private async send(count: number): Promise<void> {
    const keys = this.options.partitionKeys ?? 32;
    const batch = Array.from({ length: count }, () => {
      this.counter += 1;
      const pk = `key-${this.counter % keys}`;
      const n = this.positions.get(pk) ?? 0;
      this.positions.set(pk, n + 1);
      const payload = { id: `${this.runId}-${this.counter}`, pk, n };
      return { payload, record: { data: makePayload(payload, this.options.recordSize), partitionKey: pk } };
    });
    this.stats.calls += 1;
    this.stats.sent += count;
    let failed: ReadonlyArray<{ index: number; reason: string }>;
    try {
      failed = (await this.writer(batch.map((item) => item.record))).failed;
    } catch (error) {
      this.stats.callErrors += 1;
      this.stats.lastError = `${(error as Error).name}: ${(error as Error).message}`;
      failed = batch.map((_item, index) => ({ index, reason: this.stats.lastError! }));
    }
    const failedSet = new Set(failed.map((item) => item.index));
    if (failed.length > 0) {
      this.stats.lastError ??= failed[0].reason;
    }
    batch.forEach((item, index) => {
      if (failedSet.has(index)) {
        this.stats.rejected += 1;
        this.ledger.recordRejected(item.payload.id);
      } else {
        this.stats.accepted += 1;
        this.ledger.recordProduced(item.payload);
      }
    });
  }
}
