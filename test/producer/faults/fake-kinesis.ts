import type * as http from 'http';
import { MAX_HASH_KEY, hashKeyOf } from '../../../lambda/shared/hash-key';
import { readRequest, sendAnswer, type WireEntry } from '../../helpers/kinesis-wire';
import { LoopbackServer } from '../../helpers/loopback-server';

/**
 * A small fake Kinesis endpoint (AWS JSON 1.1 protocol or its CBOR form, answering in the form it
 * was asked in; loopback, free port) for faults the
 * emulators cannot make: throttled entries or shards, 5xx before or after the write, hung and slow
 * calls, answers missing entries, ListShards throttled/denied/failing, a split after the producer
 * loaded its map. It stores what PutRecords accepted, shard by shard, for the test to read back.
 */
export interface FakeShard {
  shardId: string;
  start: bigint;
  end: bigint;
  open: boolean;
  parent?: string;
}
export interface StoredRecord {
  shardId: string;
  partitionKey: string;
  explicitHashKey?: string;
  data: Buffer;
  sequenceNumber: string;
}
type PutEntry = WireEntry;

/** What to do with one call: answer an error instead (before writing), write and then fail, hang, slow down, fail some entries, drop some answers. */
export type Fault =
  | { kind: 'error'; status: number; type: string }
  | { kind: 'error-after-write'; status: number; type: string }
  | { kind: 'hang' }
  | { kind: 'slow'; ms: number }
  | { kind: 'entries'; errorOf: (entry: PutEntry, shardId: string, index: number) => string | undefined }
  | { kind: 'missing'; keep: number };

export type FaultPlan = (target: 'PutRecords' | 'ListShards', call: number) => Fault | undefined;

export class FakeKinesis {
  public shards: FakeShard[];
  public readonly stored: StoredRecord[] = [];
  public calls = { PutRecords: 0, ListShards: 0 };
  /** Each call's operation and content type, `PutRecords:application/x-amz-cbor-1.1`. */
  public readonly forms: string[] = [];
  public faults: FaultPlan = () => undefined;
  /** Runs after every ListShards answer (e.g. split a shard once the producer has its map). */
  public afterListShards: () => void = () => undefined;
  private readonly server = new LoopbackServer((req, res) => this.handle(req, res));
  private sequence = 0;
  private nextShard: number;

  public constructor(shardCount: number) {
    const width = (MAX_HASH_KEY + 1n) / BigInt(shardCount);
    this.shards = Array.from({ length: shardCount }, (_, i) => ({
      shardId: shardId(i),
      start: width * BigInt(i),
      end: i === shardCount - 1 ? MAX_HASH_KEY : width * BigInt(i + 1) - 1n,
      open: true,
    }));
    this.nextShard = shardCount;
  }

  public start(): Promise<string> {
    return this.server.start();
  }

  public stop(): Promise<void> {
    return this.server.stop();
  }

  /** Forget stored records and counters; same shards as at the start. */
  public reset(shardCount: number): void {
    const fresh = new FakeKinesis(shardCount);
    this.shards = fresh.shards;
    this.nextShard = shardCount;
    this.stored.length = 0;
    this.forms.length = 0;
    this.calls = { PutRecords: 0, ListShards: 0 };
    this.faults = () => undefined;
    this.afterListShards = () => undefined;
  }

  /** Splits an open shard in two at the middle of its range, as SplitShard does. */
  public split(id: string): void {
    const parent = this.shards.find((s) => s.shardId === id && s.open)!;
    const mid = parent.start + (parent.end - parent.start) / 2n;
    parent.open = false;
    this.shards.push({ shardId: shardId(this.nextShard++), start: parent.start, end: mid, open: true, parent: id });
    this.shards.push({ shardId: shardId(this.nextShard++), start: mid + 1n, end: parent.end, open: true, parent: id });
  }

  private shardFor(entry: PutEntry): FakeShard {
    const hash = entry.ExplicitHashKey !== undefined ? BigInt(entry.ExplicitHashKey) : hashKeyOf(entry.PartitionKey);
    return this.shards.find((s) => s.open && s.start <= hash && hash <= s.end)!;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '').split('.')[1] as 'PutRecords' | 'ListShards';
      const { form, input: body } = readRequest(req, Buffer.concat(chunks));
      const send = (r: http.ServerResponse, status: number, answer: unknown) => sendAnswer(r, form, status, answer);
      this.forms.push(`${target}:${form}`);
      if (target !== 'PutRecords' && target !== 'ListShards') {
        return send(res, 400, { __type: 'UnknownOperationException', message: target });
      }
      const call = ++this.calls[target];
      const fault = this.faults(target, call);
      if (fault?.kind === 'hang') {
        return undefined; // never answers; the client must cut it
      }
      if (fault?.kind === 'error') {
        return send(res, fault.status, { __type: fault.type, message: `injected ${fault.type}` });
      }
      if (target === 'ListShards') {
        const answer = {
          Shards: this.shards.map((s) => ({
            ShardId: s.shardId,
            ...(s.parent ? { ParentShardId: s.parent } : {}),
            HashKeyRange: { StartingHashKey: s.start.toString(), EndingHashKey: s.end.toString() },
            SequenceNumberRange: { StartingSequenceNumber: '1', ...(s.open ? {} : { EndingSequenceNumber: '9' }) },
          })),
        };
        send(res, 200, answer);
        this.afterListShards();
        return undefined;
      }
      const records = (body.Records ?? []).map((entry, i) => {
        const shard = this.shardFor(entry);
        const errorCode = fault?.kind === 'entries' ? fault.errorOf(entry, shard.shardId, i) : undefined;
        if (errorCode) {
          return { ErrorCode: errorCode, ErrorMessage: `injected ${errorCode}` };
        }
        const sequenceNumber = String(++this.sequence).padStart(20, '0');
        this.stored.push({
          shardId: shard.shardId,
          partitionKey: entry.PartitionKey,
          ...(entry.ExplicitHashKey ? { explicitHashKey: entry.ExplicitHashKey } : {}),
          data: entry.Data,
          sequenceNumber,
        });
        return { SequenceNumber: sequenceNumber, ShardId: shard.shardId };
      });
      if (fault?.kind === 'error-after-write') {
        return send(res, fault.status, { __type: fault.type, message: `injected ${fault.type} after the write` });
      }
      const answer = {
        FailedRecordCount: records.filter((r) => 'ErrorCode' in r).length,
        Records: fault?.kind === 'missing' ? records.slice(0, fault.keep) : records,
      };
      if (fault?.kind === 'slow') {
        setTimeout(() => send(res, 200, answer), fault.ms).unref();
        return undefined;
      }
      return send(res, 200, answer);
    });
  }
}

function shardId(i: number): string {
  return `shardId-${String(i).padStart(12, '0')}`;
}
