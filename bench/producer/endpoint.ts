/**
 * The producer benchmark's Kinesis: one loopback HTTP(S) endpoint speaking the AWS JSON 1.1 protocol
 * and its CBOR form (answering in the form it was asked in) for PutRecords and ListShards, as
 * Kinesis answers them: every entry gets the ShardId of the
 * shard whose hash key range holds its ExplicitHashKey (else the MD5 of its partition key) and a
 * rising sequence number. It keeps counts only (entries, data bytes), so it costs every contender
 * alike; with `verify` on it also decodes what it receives and counts the user records inside
 * (KPL aggregates deaggregated, MD5 checked), for a check round outside the timed ones.
 */
import type * as http from 'http';
import { cbor } from '@smithy/core/cbor';
import { MAX_HASH_KEY, hashKeyOf } from '../../lambda/shared/hash-key';
import { decodeAggregated, isAggregated } from '../../lambda/shared/kpl-codec';
import { AMZ_CBOR, formOf, sendAnswer } from '../../test/helpers/kinesis-wire';
import { LoopbackServer } from '../../test/helpers/loopback-server';
import type { LoopbackTls } from '../loopback-tls';

interface Shard {
  shardId: string;
  start: bigint;
  end: bigint;
}
interface PutEntry {
  /** Base64 text (JSON), bytes (CBOR): decoded only to verify, so the endpoint costs every contender alike. */
  Data: string | Uint8Array;
  PartitionKey: string;
  ExplicitHashKey?: string;
}

export class KinesisEndpoint {
  public readonly shards: Shard[];
  public entries = 0;
  public calls = 0;
  /** With `verify`: user records received (aggregates counted by what they hold) and their data bytes. */
  public verify = false;
  public userRecords = 0;
  public userBytes = 0;
  public misrouted = 0;
  private sequence = 0n;
  /** A body buffer no request is using. */
  private spare?: Buffer;
  private readonly server: LoopbackServer;

  /** `tls`: serve https (bench/loopback-tls.ts), as Kinesis does. */
  public constructor(shardCount: number, tls?: LoopbackTls) {
    this.server = new LoopbackServer((req, res) => this.handle(req, res), { keepAliveTimeoutMs: 60_000, tls });
    const width = (MAX_HASH_KEY + 1n) / BigInt(shardCount);
    this.shards = Array.from({ length: shardCount }, (_, i) => ({
      shardId: `shardId-${String(i).padStart(12, '0')}`,
      start: width * BigInt(i),
      end: i === shardCount - 1 ? MAX_HASH_KEY : width * BigInt(i + 1) - 1n,
    }));
  }

  public start(): Promise<string> {
    return this.server.start();
  }

  public stop(): Promise<void> {
    return this.server.stop();
  }

  public resetCounts(): void {
    this.entries = 0;
    this.calls = 0;
    this.userRecords = 0;
    this.userBytes = 0;
    this.misrouted = 0;
  }

  private shardOf(entry: PutEntry): Shard {
    const hash = entry.ExplicitHashKey !== undefined ? BigInt(entry.ExplicitHashKey) : hashKeyOf(entry.PartitionKey);
    return this.shards.find((s) => s.start <= hash && hash <= s.end)!;
  }

  private count(entry: PutEntry, shard: Shard): void {
    const data = typeof entry.Data === 'string' ? Buffer.from(entry.Data, 'base64') : Buffer.from(entry.Data);
    if (!isAggregated(data)) {
      this.userRecords++;
      this.userBytes += data.length;
      return;
    }
    for (const record of decodeAggregated(data)) {
      this.userRecords++;
      this.userBytes += record.data.length;
      const hash = record.explicitHashKey !== undefined ? BigInt(record.explicitHashKey) : hashKeyOf(record.partitionKey);
      if (hash < shard.start || hash > shard.end) {
        this.misrouted++;
      }
    }
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    // The body goes into a buffer kept for the next request (one per request in flight), not a
    // concat of its chunks: a 2 MB PutRecords body is external memory, and with a fresh one per
    // call this process ran a full collection every 2.5 calls (every 3.9 with the kept buffer),
    // a pause for whatever call arrives then.
    let buffer = this.spare ?? Buffer.allocUnsafe(Math.max(1 << 16, Number(req.headers['content-length']) || 0));
    this.spare = undefined;
    let length = 0;
    req.on('data', (chunk: Buffer) => {
      if (length + chunk.length > buffer.length) {
        const grown = Buffer.allocUnsafe(Math.max(2 * buffer.length, length + chunk.length));
        buffer.copy(grown, 0, 0, length);
        buffer = grown;
      }
      chunk.copy(buffer, length);
      length += chunk.length;
    });
    req.on('end', () => {
      try {
        this.answer(req, res, buffer.subarray(0, length));
      } finally {
        this.spare = buffer;
      }
    });
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse, bytes: Buffer): void {
    const target = String(req.headers['x-amz-target'] ?? '').split('.')[1];
    const form = formOf(req.headers);
    const send = (answer: unknown, status = 200) => sendAnswer(res, form, status, answer, { 'x-amzn-requestid': 'bench' });
    this.calls++;
    if (target === 'ListShards') {
      return send({
        Shards: this.shards.map((s) => ({
          ShardId: s.shardId,
          HashKeyRange: { StartingHashKey: s.start.toString(), EndingHashKey: s.end.toString() },
          SequenceNumberRange: { StartingSequenceNumber: '1' },
        })),
      });
    }
    if (target !== 'PutRecords') {
      return send({ __type: 'UnknownOperationException', message: target }, 400);
    }
    const body = (form === AMZ_CBOR ? cbor.deserialize(bytes) : JSON.parse(this.verify ? bytes.toString('utf8') : withoutData(bytes))) as {
      Records: PutEntry[];
    };
    const records = body.Records.map((entry) => {
      const shard = this.shardOf(entry);
      if (this.verify) {
        this.count(entry, shard);
      }
      this.sequence++;
      return { SequenceNumber: `4962${String(this.sequence).padStart(52, '0')}`, ShardId: shard.shardId };
    });
    this.entries += records.length;
    return send({ FailedRecordCount: 0, Records: records });
  }
}

const DATA = Buffer.from('"Data":"');

/**
 * A JSON PutRecords body's text with every Data value left empty (base64 has no quote, so each
 * ends at the next one): what the endpoint needs to answer (the keys), found at memchr speed.
 * JSON.parse of the whole 3 MB body took ~5 ms, a CBOR body's decoding 0.3 ms: the endpoint would
 * have charged JSON senders for a parser, not for the bytes they send. Like this both forms cost
 * it about the same (the bytes still cross the socket and are gathered).
 */
function withoutData(body: Buffer): string {
  const parts: string[] = [];
  let at = 0;
  for (let i = body.indexOf(DATA, at); i >= 0; i = body.indexOf(DATA, at)) {
    parts.push(body.toString('utf8', at, i + DATA.length));
    at = body.indexOf(0x22, i + DATA.length);
  }
  parts.push(body.toString('utf8', at));
  return parts.join('');
}

/**
 * A progress table that answers at once (diagnosis, not a DynamoDB): every claim finds a new
 * request (UpdateItem answers no attributes: nothing written before), every save succeeds. Ours
 * against it shows what the handler costs with deduplication on when the table's round trips take
 * only the loopback's time, beside dynalite's (LevelDB in JavaScript, far slower than DynamoDB).
 */
export class InstantProgressTable {
  public calls = 0;
  private readonly server: LoopbackServer;

  /** `tls`: serve https (bench/loopback-tls.ts), as DynamoDB does. */
  public constructor(tls?: LoopbackTls) {
    this.server = new LoopbackServer(
      (req, res) => {
        req.resume();
        req.on('end', () => {
          this.calls++;
          res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0', 'content-length': 2, 'x-amzn-requestid': 'bench' });
          res.end('{}');
        });
      },
      { keepAliveTimeoutMs: 60_000, tls },
    );
  }

  public start(): Promise<string> {
    return this.server.start();
  }

  public stop(): Promise<void> {
    return this.server.stop();
  }
}
