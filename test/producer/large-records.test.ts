import { KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import * as fc from 'fast-check';
import { planEntries, batchEntries } from '../../lambda/producer/aggregate';
import { DEFAULT_LIMITS, KINESIS_LIMITS, type ProducerLimits } from '../../lambda/producer/limits';
import { ProducerConfigError, loadConfig } from '../../lambda/producer/producer';
import { RULES } from '../../lambda/producer/validate';
import { decodeAggregated, isAggregated } from '../../lambda/shared/kpl-codec';
import { resetClients } from '../../lambda/shared/clients';
import { ShardMap } from '../../lambda/shared/shard-map';
import { evenShards, lambdaContext, mockOneShardKinesis, seeded } from './fixtures';

const MiB = 1024 * 1024;

describe('producer settings for large records', () => {
  test("a 10 MiB stream's record limit brings the documented 10 MiB request; 1 MiB keeps 5 MiB", () => {
    expect(loadConfig({ STREAM_NAME: 's', MAX_ENTRY_BYTES: String(10 * MiB) }).limits).toMatchObject({
      maxEntryBytes: 10 * MiB,
      maxBatchBytes: 10 * MiB,
    });
    expect(loadConfig({ STREAM_NAME: 's', MAX_ENTRY_BYTES: String(MiB) }).limits).toMatchObject({
      maxEntryBytes: MiB,
      maxBatchBytes: 5 * MiB,
    });
    expect(loadConfig({ STREAM_NAME: 's', MAX_ENTRY_BYTES: String(2 * MiB), MAX_BATCH_BYTES: String(3 * MiB) }).limits.maxBatchBytes).toBe(
      3 * MiB,
    );
  });

  test.each([
    ['MAX_ENTRY_BYTES', String(10 * MiB + 1), `MAX_ENTRY_BYTES must be at most ${10 * MiB} (the largest Kinesis record, 10 MiB)`],
    ['MAX_BATCH_BYTES', String(10 * MiB + 1), `MAX_BATCH_BYTES must be at most ${10 * MiB} (the largest PutRecords request, 10 MiB)`],
    ['MAX_BATCH_ENTRIES', '501', 'MAX_BATCH_ENTRIES must be at most 500 (entries in one PutRecords request)'],
  ])('refuses %s above the Kinesis limit, naming the variable and the limit', (name, value, message) => {
    expect(() => loadConfig({ STREAM_NAME: 's', [name]: value })).toThrow(ProducerConfigError);
    expect(() => loadConfig({ STREAM_NAME: 's', [name]: value })).toThrow(message);
  });
});

describe('producer handler with large records', () => {
  const kinesis = mockClient(KinesisClient);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { handler } = require('../../lambda/producer/index') as typeof import('../../lambda/producer/index');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { resetShardMapCache } = require('../../lambda/producer/producer') as typeof import('../../lambda/producer/producer');
  const saved = { ...process.env };

  beforeEach(() => {
    Object.assign(process.env, {
      STREAM_NAME: 'big',
      POWERTOOLS_METRICS_NAMESPACE: 'KinesisPipeline',
      POWERTOOLS_SERVICE_NAME: 'producer-test',
      RETRY_BASE_MS: '1',
      RETRY_MAX_MS: '2',
    });
    kinesis.reset();
    resetClients();
    resetShardMapCache();
    mockOneShardKinesis(kinesis);
    jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  });

  afterEach(() => {
    jest.restoreAllMocks();
    process.env = { ...saved };
  });

  test('a 5 MiB record goes through on a 10 MiB stream, whole, in an entry and a request within the limits', async () => {
    // Prepare
    process.env.MAX_ENTRY_BYTES = String(10 * MiB);
    const data = 'x'.repeat(5 * MiB);

    // Act
    const result = await handler(
      {
        records: [
          { data, partitionKey: 'big-one' },
          { data: 'small', partitionKey: 'other' },
        ],
      },
      lambdaContext(),
    );

    // Assess
    expect(result).toMatchObject({ recordCount: 2, writtenCount: 2, failedCount: 0 });
    const requests = kinesis.commandCalls(PutRecordsCommand).map((call) => call.args[0].input.Records!);
    const entries = requests.flat();
    for (const request of requests) {
      expect(request.reduce((sum, e) => sum + e.Data!.length + Buffer.byteLength(e.PartitionKey!), 0)).toBeLessThanOrEqual(
        KINESIS_LIMITS.maxPutRecordsBytes,
      );
    }
    expect(entries.every((e) => e.Data!.length + Buffer.byteLength(e.PartitionKey!) <= 10 * MiB)).toBe(true);
    const users = entries.flatMap((e) =>
      isAggregated(e.Data!)
        ? decodeAggregated(e.Data!).map((u) => ({ key: u.partitionKey, data: Buffer.from(u.data) }))
        : [{ key: e.PartitionKey!, data: Buffer.from(e.Data!) }],
    );
    const big = users.filter((u) => u.key === 'big-one');
    expect(big).toHaveLength(1);
    expect(big[0].data.equals(Buffer.from(data))).toBe(true);
  });

  test('the same record is refused on a 1 MiB stream, naming the record and the rule, and nothing is written', async () => {
    // Prepare
    process.env.MAX_ENTRY_BYTES = String(MiB);

    // Act / Assess
    await expect(
      handler(
        {
          records: [
            { data: 'ok', partitionKey: 'a' },
            { data: 'x'.repeat(5 * MiB), partitionKey: 'big-one' },
          ],
        },
        lambdaContext(),
      ),
    ).rejects.toThrow(`invalid producer request: record 1: ${RULES.size} (1 MiB = 1048576 bytes)`);
    expect(kinesis.commandCalls(PutRecordsCommand)).toHaveLength(0);
  });

  test("on a 10 MiB stream the refusal names the stream's limit, not the default one", async () => {
    process.env.MAX_ENTRY_BYTES = String(10 * MiB);

    await expect(handler({ records: [{ data: 'x'.repeat(11 * MiB), partitionKey: 'too-big' }] }, lambdaContext())).rejects.toThrow(
      `invalid producer request: record 0: ${RULES.size} (10 MiB = 10485760 bytes)`,
    );
    expect(kinesis.commandCalls(PutRecordsCommand)).toHaveLength(0);
  });

  test('over HTTP the refusal is a 400 listing the record and rule', async () => {
    process.env.MAX_ENTRY_BYTES = String(MiB);
    const body = JSON.stringify({ records: [{ data: 'x'.repeat(5 * MiB), partitionKey: 'big-one' }] });

    const response = (await handler(
      { version: '2.0', rawPath: '/', body, isBase64Encoded: false, requestContext: { http: { method: 'POST' } } },
      lambdaContext(),
    )) as { statusCode: number; body: string };

    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body)).toMatchObject({ errors: [{ index: 0, rule: `${RULES.size} (1 MiB = 1048576 bytes)` }] });
  });
});

describe("aggregation never builds an entry above the stream's record limit", () => {
  /** Every user record exactly once, and every entry (data plus outer key) within `maxEntryBytes`. */
  function check(records: { index: number; partitionKey: string; data: Buffer }[], limits: ProducerLimits, shards: number): void {
    const entries = planEntries(records, new ShardMap(evenShards(shards)), limits);
    for (const entry of entries) {
      expect(entry.data.length + Buffer.byteLength(entry.partitionKey)).toBeLessThanOrEqual(limits.maxEntryBytes);
    }
    const seen = entries.flatMap((entry) =>
      isAggregated(entry.data) ? decodeAggregated(entry.data).map((u) => Buffer.from(u.data)) : [entry.data],
    );
    expect(seen).toHaveLength(records.length);
    expect(entries.flatMap((entry) => entry.indices).sort((a, b) => a - b)).toEqual(records.map((r) => r.index));
    for (const batch of batchEntries(entries, limits)) {
      expect(batch.length).toBeLessThanOrEqual(KINESIS_LIMITS.maxPutRecordsEntries);
      expect(batch.length === 1 || batch.reduce((sum, e) => sum + e.size, 0) <= limits.maxBatchBytes).toBe(true);
    }
  }

  test("aggregates as large as the limit allows (maxAggregateBytes above it) stay within a 1 MiB stream's records", () => {
    const random = seeded(11);
    const records = Array.from({ length: 120 }, (_, index) => ({
      index,
      partitionKey: `k${Math.floor(random() * 8)}`,
      data: Buffer.alloc(20_000 + Math.floor(random() * 200_000), index % 251),
    }));

    check(records, { ...DEFAULT_LIMITS, maxEntryBytes: MiB, maxAggregateBytes: 10 * MiB }, 2);
  });

  test('mixed small and multi-MiB records on a 4 MiB stream, with and without ordering groups (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            key: fc.integer({ min: 0, max: 5 }),
            bytes: fc.oneof(fc.integer({ min: 1, max: 4_000 }), fc.integer({ min: 900_000, max: 3 * MiB })),
          }),
          { minLength: 1, maxLength: 12 },
        ),
        fc.constantFrom(0, 16),
        fc.integer({ min: 1, max: 3 }),
        (drawn, orderingGroups, shards) => {
          const limits: ProducerLimits = {
            ...DEFAULT_LIMITS,
            maxEntryBytes: 4 * MiB,
            maxAggregateBytes: 4 * MiB,
            maxBatchBytes: 10 * MiB,
            orderingGroups,
          };
          check(
            drawn.map((d, index) => ({ index, partitionKey: `key-${d.key}`, data: Buffer.alloc(d.bytes, index) })),
            limits,
            shards,
          );
        },
      ),
      { numRuns: 25, seed: 17 },
    );
  });
});
