import * as fs from 'fs';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { Context } from 'aws-lambda';
import { DEFAULT_LIMITS } from '../../../lambda/producer/limits';
import { outerKeyOf } from '../../../lambda/producer/ordering';
import { routingHashKey } from '../../../lambda/shared/hash-key';
import { decodeAggregated, isAggregated } from '../../../lambda/shared/kpl-codec';
import { startDynalite, type Emulator } from '../../helpers/emulators';
import { FakeKinesis, type FaultPlan } from './fake-kinesis';

/**
 * The producer handler under faults, against a fake Kinesis endpoint of our own and dynalite for
 * the progress table, with the handler's real clients (HTTP/1.1, timeouts that fire). Each case
 * sends one event, reads the stream back (deaggregated, on the shards that own each record, as a
 * KCL consumer keeps them), then delivers the same event again as Lambda's asynchronous retry does
 * (same request id), with the fault gone, and checks:
 * - a record reported written is in the stream; a record not in the stream was reported, by index;
 * - no record is in the stream twice through the producer's retries or Lambda's, except where an
 *   answer was lost after Kinesis wrote it (5xx after the write, a slow answer cut by the timeout,
 *   an answer missing entries): the one at-least-once window, counted in the table;
 * - each user key's records are in the stream in request order (first copies);
 * - after the retry every record is in the stream.
 * The fault table is printed at the end (and written to $PRODUCER_FAULT_TABLE if set).
 */
const CALL_TIMEOUT_MS = 300;
const STREAM = 'faults';
const TABLE = 'producer-progress';
const SHARDS = 4;

type Handler = (event: unknown, context: Context) => Promise<unknown>;
interface Result {
  recordCount: number;
  writtenCount: number;
  failedCount: number;
  failed: { index: number; errorCode: string }[];
}
interface Row {
  name: string;
  sent: number;
  reportedWritten: number;
  inStream: number;
  copies: number;
  lost: number;
  reportedButPresent: number;
  afterRetryInStream: number;
  afterRetryCopies: number;
  ms: number;
  firstCodes: string;
}

const fake = new FakeKinesis(SHARDS);
let dynalite: Emulator;
let handler: Handler;
let resetShardMapCache: () => void;
let resetClients: () => void;
const rows: Row[] = [];
const savedEnv = { ...process.env };
let writeSpy: jest.SpyInstance;

function context(id: string, remainingMs: number): Context {
  const deadline = Date.now() + remainingMs;
  return {
    functionName: 'producer',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:producer',
    memoryLimitInMB: '512',
    awsRequestId: id,
    logGroupName: '/aws/lambda/producer',
    logStreamName: 'stream',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

function event(count: number, keys: number): { records: { data: string; partitionKey: string }[] } {
  return {
    records: Array.from({ length: count }, (_, i) => ({ data: `${i}:${'x'.repeat(60)}`, partitionKey: `key-${(i * 7919) % keys}` })),
  };
}

/** Invokes as Lambda does: the answer, or the error a direct invoke throws (with its result). */
async function invoke(
  body: unknown,
  id: string,
  remainingMs: number,
): Promise<{ result?: Result; error?: { name: string; result?: Result; message: string }; ms: number }> {
  resetShardMapCache();
  const start = Date.now();
  try {
    const result = (await handler(body, context(id, remainingMs))) as Result;
    return { result, ms: Date.now() - start };
  } catch (error) {
    return { error: error as { name: string; result?: Result; message: string }, ms: Date.now() - start };
  }
}

/** Copies of each request index on the shards that own them (what a KCL consumer keeps), in stream order per shard. */
function readBack(): { copies: Map<number, number>; order: Map<string, number[]>; offKey: number } {
  const copies = new Map<number, number>();
  const order = new Map<string, number[]>();
  let offKey = 0;
  for (const shard of fake.shards) {
    for (const stored of fake.stored.filter((s) => s.shardId === shard.shardId)) {
      const users = isAggregated(stored.data) ? decodeAggregated(stored.data) : [{ partitionKey: stored.partitionKey, data: stored.data }];
      for (const user of users) {
        const hash = routingHashKey(user);
        if (hash < shard.start || hash > shard.end) {
          continue; // an aggregate stored on a shard that does not own this record (a KCL consumer drops it; the producer re-sent it)
        }
        if (stored.partitionKey !== outerKeyOf(user.partitionKey, DEFAULT_LIMITS)) {
          offKey++;
        }
        const index = Number(Buffer.from(user.data).toString().split(':')[0]);
        copies.set(index, (copies.get(index) ?? 0) + 1);
        const list = order.get(user.partitionKey) ?? [];
        list.push(index);
        order.set(user.partitionKey, list);
      }
    }
  }
  return { copies, order, offKey };
}

/** Keys whose first copies are not in request order. */
function outOfOrder(order: Map<string, number[]>): string[] {
  const bad: string[] = [];
  for (const [key, indices] of order) {
    const seen = new Set<number>();
    const firsts = indices.filter((i) => (seen.has(i) ? false : (seen.add(i), true)));
    if (firsts.some((v, i) => i > 0 && v < firsts[i - 1])) {
      bad.push(key);
    }
  }
  return bad;
}

interface Case {
  readonly name: string;
  readonly count: number;
  readonly remainingMs: number;
  readonly faults: FaultPlan;
  readonly setup?: () => void;
  /** An answer may be lost after Kinesis wrote the entries: copies allowed (and counted). */
  readonly mayCopy?: boolean;
  /** PutRecords as JSON (AWS_CBOR_DISABLE), not the default CBOR. */
  readonly json?: boolean;
}

const throttle = (type = 'ProvisionedThroughputExceededException') => ({ kind: 'error' as const, status: 400, type });

/** Every other entry of the first 3 PutRecords calls throttled. */
const everyOtherEntryThrottled: FaultPlan = (t, n) =>
  t === 'PutRecords' && n <= 3
    ? { kind: 'entries', errorOf: (_e, _s, i) => (i % 2 === 0 ? 'ProvisionedThroughputExceededException' : undefined) }
    : undefined;

const CASES: Case[] = [
  {
    name: 'throttled entries (every other entry of the first 3 calls)',
    count: 2_000,
    remainingMs: 5_000,
    faults: everyOtherEntryThrottled,
  },
  {
    name: 'throttled entries, PutRecords as JSON (AWS_CBOR_DISABLE)',
    count: 2_000,
    remainingMs: 5_000,
    json: true,
    faults: everyOtherEntryThrottled,
  },
  {
    name: '5xx before the write, PutRecords as JSON (AWS_CBOR_DISABLE)',
    count: 500,
    remainingMs: 5_000,
    json: true,
    faults: (t, n) => (t === 'PutRecords' && n <= 2 ? { kind: 'error', status: 500, type: 'InternalFailure' } : undefined),
  },
  {
    name: 'throttled shard (shard 0 for the whole first delivery, 3 s left)',
    count: 2_000,
    remainingMs: 3_000,
    faults: (t) =>
      t === 'PutRecords' && firstDelivery
        ? {
            kind: 'entries',
            errorOf: (_e, shard) => (shard === 'shardId-000000000000' ? 'ProvisionedThroughputExceededException' : undefined),
          }
        : undefined,
  },
  {
    name: '5xx before the write (first 2 calls)',
    count: 500,
    remainingMs: 5_000,
    faults: (t, n) => (t === 'PutRecords' && n <= 2 ? { kind: 'error', status: 500, type: 'InternalFailure' } : undefined),
  },
  {
    name: '5xx after the write (first call)',
    count: 500,
    remainingMs: 5_000,
    mayCopy: true,
    faults: (t, n) => (t === 'PutRecords' && n === 1 ? { kind: 'error-after-write', status: 500, type: 'InternalFailure' } : undefined),
  },
  {
    name: 'hung call (first call never answers)',
    count: 500,
    remainingMs: 5_000,
    faults: (t, n) => (t === 'PutRecords' && n === 1 ? { kind: 'hang' } : undefined),
  },
  {
    name: 'slow call (written, answered after 2x the call timeout)',
    count: 500,
    remainingMs: 5_000,
    mayCopy: true,
    faults: (t, n) => (t === 'PutRecords' && n === 1 ? { kind: 'slow', ms: 2 * CALL_TIMEOUT_MS } : undefined),
  },
  {
    name: 'answer missing entries (first call: only 3 answered, all written)',
    count: 500,
    remainingMs: 5_000,
    mayCopy: true,
    faults: (t, n) => (t === 'PutRecords' && n === 1 ? { kind: 'missing', keep: 3 } : undefined),
  },
  {
    name: 'ListShards throttled (first 3 calls)',
    count: 500,
    remainingMs: 5_000,
    faults: (t, n) => (t === 'ListShards' && n <= 3 ? throttle('LimitExceededException') : undefined),
  },
  {
    name: 'ListShards denied (first delivery)',
    count: 500,
    remainingMs: 5_000,
    faults: (t) => (t === 'ListShards' && firstDelivery ? throttle('AccessDeniedException') : undefined),
  },
  {
    name: 'ListShards failing with 5xx (first 3 calls)',
    count: 500,
    remainingMs: 5_000,
    faults: (t, n) => (t === 'ListShards' && n <= 3 ? { kind: 'error', status: 500, type: 'InternalFailure' } : undefined),
  },
  {
    name: 'ListShards hung (first call)',
    count: 500,
    remainingMs: 5_000,
    faults: (t, n) => (t === 'ListShards' && n === 1 ? { kind: 'hang' } : undefined),
  },
  {
    name: 'split after the map loaded',
    count: 2_000,
    remainingMs: 5_000,
    faults: () => undefined,
    setup: () => {
      let done = false;
      fake.afterListShards = () => {
        if (!done) {
          done = true;
          fake.split('shardId-000000000001');
        }
      };
    },
  },
  {
    name: 'throttled shard with 2 Lambda retries still throttled',
    count: 2_000,
    remainingMs: 3_000,
    faults: (t) =>
      t === 'PutRecords' && deliveries <= 2
        ? {
            kind: 'entries',
            errorOf: (_e, shard) => (shard === 'shardId-000000000002' ? 'ProvisionedThroughputExceededException' : undefined),
          }
        : undefined,
  },
];

let firstDelivery = true;
let deliveries = 0;

beforeAll(async () => {
  const endpoint = await fake.start();
  dynalite = await startDynalite();
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_KINESIS: endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint,
    STREAM_NAME: STREAM,
    PROGRESS_TABLE_NAME: TABLE,
    CALL_TIMEOUT_MS: String(CALL_TIMEOUT_MS),
    CLIENT_REQUEST_TIMEOUT_MS: '1000',
    CLIENT_CONNECTION_TIMEOUT_MS: '500',
    RETRY_BASE_MS: '10',
    RETRY_MAX_MS: '200',
    SAFETY_MARGIN_MS: '300',
    POWERTOOLS_SERVICE_NAME: 'producer-faults',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_NAMESPACE: 'KinesisPipeline',
  });
  const dynamo = new DynamoDBClient({
    region: 'us-east-1',
    endpoint: dynalite.endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestHandler: new NodeHttpHandler(),
  });
  await dynamo.send(
    new CreateTableCommand({
      TableName: TABLE,
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  for (let i = 0; i < 100; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const { Table } = await dynamo.send(new (await import('@aws-sdk/client-dynamodb')).DescribeTableCommand({ TableName: TABLE }));
    if (Table?.TableStatus === 'ACTIVE') {
      break;
    }
  }
  dynamo.destroy();
  // The handler's logs and metrics go to stdout; keep them out of the test output.
  writeSpy = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  /* eslint-disable @typescript-eslint/no-require-imports */
  handler = (require('../../../lambda/producer/index') as { handler: Handler }).handler;
  resetShardMapCache = (require('../../../lambda/producer/producer') as { resetShardMapCache: () => void }).resetShardMapCache;
  resetClients = (require('../../../lambda/shared/clients') as { resetClients: () => void }).resetClients;
  /* eslint-enable @typescript-eslint/no-require-imports */
});

afterAll(async () => {
  writeSpy?.mockRestore();
  await fake.stop();
  await dynalite?.stop();
  resetClients?.();
  process.env = savedEnv;
  const header =
    '| case | sent | reported written | in stream | copies | lost | reported-but-present | after retry: in stream | after retry: copies | first delivery ms | first delivery errors |';
  const table = [
    header,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.sent} | ${r.reportedWritten} | ${r.inStream} | ${r.copies} | ${r.lost} | ${r.reportedButPresent} | ${r.afterRetryInStream} | ${r.afterRetryCopies} | ${r.ms} | ${r.firstCodes} |`,
    ),
  ].join('\n');
  process.stderr.write(`\nProducer fault table (fake Kinesis + dynalite, call timeout ${CALL_TIMEOUT_MS} ms):\n${table}\n`);
  if (process.env.PRODUCER_FAULT_TABLE ?? savedEnv.PRODUCER_FAULT_TABLE) {
    fs.writeFileSync((process.env.PRODUCER_FAULT_TABLE ?? savedEnv.PRODUCER_FAULT_TABLE)!, `${table}\n`);
  }
});

describe('producer under faults: reported written ⇒ in stream, not in stream ⇒ reported, no copies from retries, order per key', () => {
  test.each(CASES.map((c) => [c.name, c]))('%s', async (_name, c) => {
    // Prepare
    fake.reset(SHARDS);
    resetClients();
    if (c.json) {
      process.env.AWS_CBOR_DISABLE = 'true';
    } else {
      delete process.env.AWS_CBOR_DISABLE;
    }
    firstDelivery = true;
    deliveries = 1;
    c.setup?.();
    fake.faults = c.faults;
    const body = event(c.count, 97);
    const id = `faults-${rows.length}-${Date.now()}`;

    // Act: the first delivery, then Lambda's retries of the same event (same request id) while it throws.
    const first = await invoke(body, id, c.remainingMs);
    const answer = first.result ?? first.error?.result;
    const afterFirst = readBack();
    firstDelivery = false;
    let last = first;
    while (last.error && deliveries < 3) {
      deliveries++;
      last = await invoke(body, id, c.remainingMs);
    }
    const afterRetry = readBack();
    delete process.env.AWS_CBOR_DISABLE;

    // Assess: the calls went in the wire form asked for (CBOR by default), answers and errors read in it.
    const puts = fake.forms.filter((form) => form.startsWith('PutRecords:'));
    expect(puts.length).toBeGreaterThan(0);
    expect(new Set(puts)).toEqual(new Set([`PutRecords:application/x-amz-${c.json ? 'json' : 'cbor'}-1.1`]));
    // Assess: the first answer against the stream.
    expect(answer).toBeDefined();
    const failed = new Set(answer!.failed.map((f) => f.index));
    const indices = body.records.map((_r, i) => i);
    const reportedWritten = indices.filter((i) => !failed.has(i));
    expect(reportedWritten.filter((i) => !afterFirst.copies.has(i))).toEqual([]);
    expect(indices.filter((i) => !afterFirst.copies.has(i) && !failed.has(i))).toEqual([]);
    expect(answer!.writtenCount).toBe(reportedWritten.length);
    expect(first.ms).toBeLessThan(c.remainingMs);
    // No copies, except in the at-least-once window (an answer lost after the write).
    const copiesOf = (copies: Map<number, number>) => [...copies.values()].reduce((sum, n) => sum + n - 1, 0);
    if (!c.mayCopy) {
      expect(copiesOf(afterRetry.copies)).toBe(0);
    }
    expect(outOfOrder(afterRetry.order)).toEqual([]);
    expect(afterRetry.offKey).toBe(0);
    // Lambda's retry delivered the rest, and wrote nothing the first delivery had written again.
    expect(last.error).toBeUndefined();
    expect(last.result).toMatchObject({ recordCount: c.count, writtenCount: c.count, failedCount: 0 });
    expect(indices.filter((i) => !afterRetry.copies.has(i))).toEqual([]);
    expect(copiesOf(afterRetry.copies)).toBe(copiesOf(afterFirst.copies));
    const codes = new Map<string, number>();
    answer!.failed.forEach((f) => codes.set(f.errorCode, (codes.get(f.errorCode) ?? 0) + 1));
    rows.push({
      name: c.name,
      sent: c.count,
      reportedWritten: reportedWritten.length,
      inStream: afterFirst.copies.size,
      copies: copiesOf(afterFirst.copies),
      lost: indices.filter((i) => !afterRetry.copies.has(i)).length,
      reportedButPresent: [...failed].filter((i) => afterFirst.copies.has(i)).length,
      afterRetryInStream: afterRetry.copies.size,
      afterRetryCopies: copiesOf(afterRetry.copies),
      ms: first.ms,
      firstCodes: [...codes].map(([code, n]) => `${code} ×${n}`).join(', ') || '-',
    });
  });

  test('two deliveries of one event at once: one writes, the other is told it is busy; its retry answers "all written" and writes nothing', async () => {
    // Prepare
    fake.reset(SHARDS);
    resetClients();
    fake.faults = (t, n) => (t === 'PutRecords' && n === 1 ? { kind: 'slow', ms: 100 } : undefined);
    const body = event(500, 50);
    const id = `concurrent-${Date.now()}`;

    // Act
    const [a, b] = await Promise.all([invoke(body, id, 5_000), invoke(body, id, 5_000)]);
    const retry = await invoke(body, id, 5_000);

    // Assess
    const outcomes = [a, b].map((o) => o.error?.name ?? 'answered').sort();
    expect(outcomes).toEqual(['ProducerBusyError', 'answered']);
    expect(retry.result).toMatchObject({ recordCount: 500, writtenCount: 500, failedCount: 0 });
    const { copies } = readBack();
    expect(copies.size).toBe(500);
    expect([...copies.values()].every((n) => n === 1)).toBe(true);
    rows.push({
      name: "two deliveries at once (+ the busy one's retry)",
      sent: 500,
      reportedWritten: 500,
      inStream: copies.size,
      copies: 0,
      lost: 0,
      reportedButPresent: 0,
      afterRetryInStream: copies.size,
      afterRetryCopies: 0,
      ms: Math.max(a.ms, b.ms),
      firstCodes: 'ProducerBusyError (the second delivery)',
    });
  });

  test('a refused request: every delivery (as Lambda retries it) throws the same ProducerInputError naming record and rule, and sends nothing', async () => {
    // Prepare
    fake.reset(SHARDS);
    const body = { records: [{ data: 'ok', partitionKey: 'k' }, { partitionKey: 'k' }] };
    const id = `refused-${Date.now()}`;

    // Act
    const deliveriesOf = [await invoke(body, id, 5_000), await invoke(body, id, 5_000), await invoke(body, id, 5_000)];

    // Assess
    expect(deliveriesOf.map((d) => d.error?.name)).toEqual(['ProducerInputError', 'ProducerInputError', 'ProducerInputError']);
    expect(new Set(deliveriesOf.map((d) => d.error?.message)).size).toBe(1);
    expect(deliveriesOf[0].error?.message).toContain('record 1: data is required');
    // Nothing written; the shard map a fresh container starts loading while it validates is a read
    // (at most one per delivery here, as each one starts from a fresh shard map cache).
    expect(fake.calls.PutRecords).toBe(0);
    expect(fake.calls.ListShards).toBeLessThanOrEqual(deliveriesOf.length);
  });
});
