/**
 * A loopback proxy in front of dynalite that meters what DynamoDB would bill per lease item.
 * Every item request gets `ReturnConsumedCapacity: TOTAL` added (the answer then carries
 * ConsumedCapacity, which the handler ignores); dynalite computes it as DynamoDB does: a write
 * costs 1 WCU per started KB of the larger of the item before and after it, a consistent read
 * 1 RCU per started 4 KB. A conditional write that fails is billed too (DynamoDB charges the size
 * of the existing item, at least 1 WCU); dynalite reports nothing for it, so the proxy reads the
 * item and sizes it itself. Nothing else in the request or the answer changes.
 */
import * as http from 'http';
import type * as net from 'net';

const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);
const READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);

export interface ItemUsage {
  writes: number;
  wcu: number;
  /** Conditional writes that failed (another writer got there first), billed as writes. */
  conditionalFailures: number;
  reads: number;
  rcu: number;
  /** Largest WCU of one write (KB of the larger image). */
  maxWriteUnits: number;
}

type Attribute = Record<string, unknown>;

/** Bytes of a DynamoDB attribute value as DynamoDB sizes it (docs: "Item sizes and formats"). */
export function attributeSize(value: Attribute): number {
  const [type, raw] = Object.entries(value)[0];
  switch (type) {
    case 'S':
      return Buffer.byteLength(raw as string);
    case 'N':
      return numberSize(raw as string);
    case 'B':
      return Buffer.from(raw as string, 'base64').length;
    case 'BOOL':
    case 'NULL':
      return 1;
    case 'SS':
      return (raw as string[]).reduce((sum, s) => sum + Buffer.byteLength(s), 0);
    case 'NS':
      return (raw as string[]).reduce((sum, n) => sum + numberSize(n), 0);
    case 'BS':
      return (raw as string[]).reduce((sum, b) => sum + Buffer.from(b, 'base64').length, 0);
    case 'L':
      return 3 + (raw as Attribute[]).reduce((sum, v) => sum + 1 + attributeSize(v), 0);
    case 'M':
      return (
        3 +
        Object.entries(raw as Record<string, Attribute>).reduce((sum, [name, v]) => sum + 1 + Buffer.byteLength(name) + attributeSize(v), 0)
      );
    default:
      return 0;
  }
}

function numberSize(text: string): number {
  const digits = text.replace(/^[-+]/, '').replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

/** Bytes of an item: attribute names (UTF-8) plus values. */
export function itemSize(item: Record<string, Attribute>): number {
  return Object.entries(item).reduce((sum, [name, value]) => sum + Buffer.byteLength(name) + attributeSize(value), 0);
}

function capacityOf(answer: { ConsumedCapacity?: { CapacityUnits?: number } | Array<{ CapacityUnits?: number }> }): number {
  const consumed = answer.ConsumedCapacity;
  if (consumed === undefined) {
    return 0;
  }
  return Array.isArray(consumed) ? consumed.reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0) : (consumed.CapacityUnits ?? 0);
}

export class DynamoMeter {
  private readonly usage = new Map<string, ItemUsage>();
  private readonly pending = new Set<Promise<void>>();

  private constructor(
    private readonly server: http.Server,
    private readonly agent: http.Agent,
    public readonly endpoint: string,
    private readonly target: URL,
  ) {}

  /** Starts the proxy on 127.0.0.1 in front of `target` (dynalite's endpoint). */
  public static async start(target: string): Promise<DynamoMeter> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
    let meter: DynamoMeter | undefined;
    const server = http.createServer((request, response) => meter!.handle(request, response));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as net.AddressInfo;
    meter = new DynamoMeter(server, agent, `http://127.0.0.1:${port}`, new URL(target));
    return meter;
  }

  /** Usage of `table`'s item `leaseKey` (or of all its items), after every pending count settled. */
  public async of(table: string, leaseKey?: string): Promise<ItemUsage> {
    while (this.pending.size > 0) {
      await Promise.all([...this.pending]);
    }
    const total: ItemUsage = { writes: 0, wcu: 0, conditionalFailures: 0, reads: 0, rcu: 0, maxWriteUnits: 0 };
    for (const [key, usage] of this.usage) {
      const [t, k] = key.split('|');
      if (t === table && (leaseKey === undefined || k === leaseKey)) {
        total.writes += usage.writes;
        total.wcu += usage.wcu;
        total.conditionalFailures += usage.conditionalFailures;
        total.reads += usage.reads;
        total.rcu += usage.rcu;
        total.maxWriteUnits = Math.max(total.maxWriteUnits, usage.maxWriteUnits);
      }
    }
    return total;
  }

  public stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      this.agent.destroy();
    });
  }

  private entry(table: string, key: string): ItemUsage {
    const id = `${table}|${key}`;
    let usage = this.usage.get(id);
    if (!usage) {
      usage = { writes: 0, wcu: 0, conditionalFailures: 0, reads: 0, rcu: 0, maxWriteUnits: 0 };
      this.usage.set(id, usage);
    }
    return usage;
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      let body = Buffer.concat(chunks);
      const operation =
        String(request.headers['x-amz-target'] ?? '')
          .split('.')
          .pop() ?? '';
      const metered = WRITES.has(operation) || READS.has(operation);
      let parsed:
        | { TableName?: string; Key?: Record<string, Attribute>; Item?: Record<string, Attribute>; ReturnConsumedCapacity?: string }
        | undefined;
      if (metered) {
        parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
        if (parsed!.ReturnConsumedCapacity !== 'TOTAL' && parsed!.ReturnConsumedCapacity !== 'INDEXES') {
          parsed!.ReturnConsumedCapacity = 'TOTAL';
          body = Buffer.from(JSON.stringify(parsed));
        }
      }
      const headers = { ...request.headers, 'content-length': String(body.length), host: this.target.host };
      const upstream = http.request(
        {
          hostname: this.target.hostname,
          port: Number(this.target.port),
          method: request.method,
          path: request.url,
          headers,
          agent: this.agent,
        },
        (answer) => {
          const out: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => out.push(chunk));
          answer.on('end', () => {
            const answerBody = Buffer.concat(out);
            response.writeHead(answer.statusCode ?? 502, answer.headers);
            response.end(answerBody);
            if (parsed) {
              this.count(operation, parsed, answer.statusCode ?? 0, answerBody);
            }
          });
        },
      );
      upstream.on('error', (error) => {
        response.writeHead(502, { 'content-type': 'application/x-amz-json-1.0' });
        response.end(JSON.stringify({ __type: 'ServiceUnavailable', message: error.message }));
      });
      upstream.end(body);
    });
  }

  private count(
    operation: string,
    request: { TableName?: string; Key?: Record<string, Attribute>; Item?: Record<string, Attribute> },
    status: number,
    body: Buffer,
  ): void {
    const table = request.TableName ?? '?';
    const keyAttribute = request.Key ?? (request.Item ? { leaseKey: request.Item.leaseKey } : undefined);
    const key = (keyAttribute?.leaseKey as { S?: string } | undefined)?.S ?? '*';
    const usage = this.entry(table, key);
    let answer: { __type?: string; ConsumedCapacity?: { CapacityUnits?: number } } = {};
    try {
      answer = JSON.parse(body.toString('utf8')) as typeof answer;
    } catch {
      // not JSON
    }
    if (status === 200) {
      const units = capacityOf(answer);
      if (WRITES.has(operation)) {
        usage.writes++;
        usage.wcu += units;
        usage.maxWriteUnits = Math.max(usage.maxWriteUnits, units);
      } else {
        usage.reads++;
        usage.rcu += units;
      }
      return;
    }
    if (WRITES.has(operation) && String(answer.__type ?? '').endsWith('ConditionalCheckFailedException') && keyAttribute) {
      usage.conditionalFailures++;
      const read = this.existingItemUnits(table, keyAttribute).then((units) => {
        usage.writes++;
        usage.wcu += units;
      });
      this.pending.add(read);
      void read.finally(() => this.pending.delete(read));
    }
  }

  /** WCU DynamoDB charges a failed conditional write: the existing item's size, at least 1. */
  private existingItemUnits(table: string, key: Record<string, Attribute>): Promise<number> {
    const body = Buffer.from(JSON.stringify({ TableName: table, Key: { leaseKey: key.leaseKey }, ConsistentRead: true }));
    return new Promise((resolve) => {
      const request = http.request(
        {
          hostname: this.target.hostname,
          port: Number(this.target.port),
          method: 'POST',
          path: '/',
          agent: this.agent,
          headers: {
            'content-type': 'application/x-amz-json-1.0',
            'x-amz-target': 'DynamoDB_20120810.GetItem',
            'content-length': String(body.length),
            authorization: 'AWS4-HMAC-SHA256 Credential=local/20261204/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
            'x-amz-date': '20261204T000000Z',
          },
        },
        (answer) => {
          const out: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => out.push(chunk));
          answer.on('end', () => {
            try {
              const item = (JSON.parse(Buffer.concat(out).toString('utf8')) as { Item?: Record<string, Attribute> }).Item;
              resolve(item ? Math.max(1, Math.ceil(itemSize(item) / 1024)) : 1);
            } catch {
              resolve(1);
            }
          });
        },
      );
      request.on('error', () => resolve(1));
      request.end(body);
    });
  }
}
