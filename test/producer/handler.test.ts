import { KinesisClient, ListShardsCommand, PutRecordsCommand, type PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import { resetClients } from '../../lambda/shared/clients';
import { decodeAggregated, isAggregated } from '../../lambda/shared/kpl-codec';
import { DEFAULT_LIMITS } from '../../lambda/producer/limits';
import { loneAggregateBytes, outerKeyOf } from '../../lambda/producer/ordering';
import { RULES } from '../../lambda/producer/validate';
import { lambdaContext, mockOneShardKinesis, usersOf } from './fixtures';

process.env.STREAM_NAME = 'test';
process.env.POWERTOOLS_METRICS_NAMESPACE = 'KinesisPipeline';
process.env.POWERTOOLS_SERVICE_NAME = 'producer-test';
process.env.RETRY_BASE_MS = '1';
process.env.RETRY_MAX_MS = '2';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { handler } = require('../../lambda/producer/index') as typeof import('../../lambda/producer/index');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { resetShardMapCache } = require('../../lambda/producer/producer') as typeof import('../../lambda/producer/producer');

const kinesis = mockClient(KinesisClient);
let stdout: string[] = [];

/** A JSON value nested `levels` arrays deep. */
function deep(levels: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) {
    value = [value];
  }
  return value;
}

function httpEvent(body: string, isBase64Encoded = false) {
  return { version: '2.0', rawPath: '/', body, isBase64Encoded, requestContext: { http: { method: 'POST' } } };
}

/** The EMF metrics the handler printed, by name. */
function emitted(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of stdout
    .join('')
    .split('\n')
    .filter((l) => l.includes('"_aws"'))) {
    const parsed = JSON.parse(line) as Record<string, unknown> & {
      _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] };
    };
    expect(parsed._aws.CloudWatchMetrics[0].Namespace).toBe('KinesisPipeline');
    expect(parsed.service).toBe('producer-test');
    for (const metric of parsed._aws.CloudWatchMetrics[0].Metrics) {
      out[metric.Name] = parsed[metric.Name] as number;
    }
  }
  return out;
}

function userRecordsWritten(): { partitionKey: string; data: string }[] {
  return kinesis
    .commandCalls(PutRecordsCommand)
    .flatMap((call) =>
      call.args[0].input.Records!.flatMap((r) =>
        isAggregated(r.Data!)
          ? decodeAggregated(r.Data!).map((u) => ({ partitionKey: u.partitionKey, data: Buffer.from(u.data).toString() }))
          : [{ partitionKey: r.PartitionKey!, data: Buffer.from(r.Data!).toString() }],
      ),
    );
}

beforeEach(() => {
  kinesis.reset();
  resetClients();
  resetShardMapCache();
  mockOneShardKinesis(kinesis);
  stdout = [];
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(chunk.toString());
    return true;
  });
});

afterEach(() => {
  jest.restoreAllMocks();
  delete process.env.ORDERING_GROUPS;
});

describe('producer handler', () => {
  test("a direct invoke writes strings and JSON values, aggregated under their keys' group keys, and answers what was written", async () => {
    // Prepare
    const event = { records: [{ data: 'hello', partitionKey: 'a' }, { data: { n: 1 }, partitionKey: 'a' }, { data: 'no key' }] };

    // Act
    const result = await handler(event, lambdaContext());

    // Assess
    expect(result).toEqual({ recordCount: 3, writtenCount: 3, failedCount: 0, failed: [] });
    expect(userRecordsWritten().map((r) => r.data)).toEqual(['hello', '{"n":1}', 'no key']);
    expect(userRecordsWritten()[2].partitionKey).toMatch(/^[0-9a-f-]{36}$/);
    // One aggregate per ordering group met: 'a's, and the random key's (the same one time in 16).
    const entries = kinesis.commandCalls(PutRecordsCommand).flatMap((call) => call.args[0].input.Records!);
    expect(entries.every((entry) => usersOf(entry).every((u) => entry.PartitionKey === outerKeyOf(u.partitionKey, DEFAULT_LIMITS)))).toBe(
      true,
    );
    const groups = new Set(userRecordsWritten().map((r) => outerKeyOf(r.partitionKey, DEFAULT_LIMITS))).size;
    expect(entries).toHaveLength(groups);
    expect(emitted()).toEqual({
      UserRecords: 3,
      KinesisRecords: groups,
      AggregationRatio: 3 / groups,
      Retries: 0,
      ThrottledEntries: 0,
      FailedRecords: 0,
      ResentRecords: 0,
      UnknownOutcomeRetries: 0,
      AlreadyWrittenRecords: 0,
    });
  });

  test("with ORDERING_GROUPS=0 every record of a shard shares one aggregate, under its first record's key", async () => {
    // Prepare
    process.env.ORDERING_GROUPS = '0';
    const event = { records: [{ data: 'hello', partitionKey: 'a' }, { data: { n: 1 }, partitionKey: 'a' }, { data: 'no key' }] };

    // Act
    const result = await handler(event, lambdaContext());

    // Assess
    expect(result).toEqual({ recordCount: 3, writtenCount: 3, failedCount: 0, failed: [] });
    expect(userRecordsWritten().map((r) => r.data)).toEqual(['hello', '{"n":1}', 'no key']);
    expect(kinesis.commandCalls(PutRecordsCommand)[0].args[0].input.Records).toMatchObject([{ PartitionKey: 'a' }]);
    expect(emitted()).toEqual({
      UserRecords: 3,
      KinesisRecords: 1,
      AggregationRatio: 3,
      Retries: 0,
      ThrottledEntries: 0,
      FailedRecords: 0,
      ResentRecords: 0,
      UnknownOutcomeRetries: 0,
      AlreadyWrittenRecords: 0,
    });
  });

  test('an HTTP event answers 200 with the result; a base64 body is decoded', async () => {
    // Act
    const response = (await handler(
      httpEvent(Buffer.from(JSON.stringify({ records: [{ data: 'x', partitionKey: 'k' }] })).toString('base64'), true),
      lambdaContext(),
    )) as { statusCode: number; body: string };

    // Assess
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ recordCount: 1, writtenCount: 1, failedCount: 0, failed: [] });
  });

  test('an HTTP body that is not JSON gets 400', async () => {
    // Act
    const response = (await handler(httpEvent('{not json'), lambdaContext())) as { statusCode: number; body: string };

    // Assess
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body)).toEqual({ message: 'body must be JSON', errors: [{ index: -1, rule: 'body must be JSON' }] });
    expect(kinesis.commandCalls(PutRecordsCommand)).toHaveLength(0);
  });

  test.each([
    ['no records', { records: [] }, [{ index: -1, rule: 'records must be a non-empty array' }]],
    ['a record that is not an object', { records: ['x'] }, [{ index: 0, rule: 'record must be a JSON object' }]],
    ['missing data', { records: [{ data: 'ok' }, { partitionKey: 'k' }] }, [{ index: 1, rule: RULES.data }]],
    ['null data', { records: [{ data: null, partitionKey: 'k' }] }, [{ index: 0, rule: RULES.data }]],
    ['a partition key that is not a string', { records: [{ data: 'x', partitionKey: 42 }] }, [{ index: 0, rule: RULES.partitionKey }]],
    [
      'several broken rules in several records',
      { records: [{ partitionKey: '' }, { data: 'ok' }, { data: 'x', explicitHashKey: '-1' }] },
      [
        { index: 0, rule: RULES.data },
        { index: 0, rule: RULES.partitionKey },
        { index: 2, rule: 'explicitHashKey must be a decimal string in 0 to 2^128-1' },
      ],
    ],
    ['an empty partition key', { records: [{ data: 'x', partitionKey: '' }] }, [{ index: 0, rule: RULES.partitionKey }]],
    [
      'a partition key of 257 characters',
      { records: [{ data: 'x', partitionKey: '🔑'.repeat(257) }] },
      [{ index: 0, rule: RULES.partitionKey }],
    ],
    [
      'a partition key of 129 emoji (258 UTF-16 code units, 129 code points)',
      { records: [{ data: 'x', partitionKey: '🔑'.repeat(129) }] },
      [{ index: 0, rule: RULES.partitionKey }],
    ],
    [
      'a partition key of 257 ASCII characters',
      { records: [{ data: 'x', partitionKey: 'k'.repeat(257) }] },
      [{ index: 0, rule: RULES.partitionKey }],
    ],
    [
      'a partition key with a lone surrogate',
      { records: [{ data: 'x', partitionKey: 'a\uD83D' }] },
      [{ index: 0, rule: RULES.partitionKey }],
    ],
    ['data nested 101 levels deep', { records: [{ data: deep(101), partitionKey: 'k' }] }, [{ index: 0, rule: RULES.data }]],
    [
      'a record over 1 MiB',
      { records: [{ data: 'x'.repeat(1024 * 1024 - 1), partitionKey: 'ab' }] },
      [{ index: 0, rule: 'data plus partitionKey must be at most the entry limit (1 MiB = 1048576 bytes)' }],
    ],
    [
      'an explicit hash key over 2^128-1',
      { records: [{ data: 'x', explicitHashKey: '340282366920938463463374607431768211456' }] },
      [{ index: 0, rule: 'explicitHashKey must be a decimal string in 0 to 2^128-1' }],
    ],
    [
      'an explicit hash key that is not decimal',
      { records: [{ data: 'x', explicitHashKey: '0x1f' }] },
      [{ index: 0, rule: 'explicitHashKey must be a decimal string in 0 to 2^128-1' }],
    ],
  ])('refuses %s: HTTP 400 naming index and rule, direct invoke throws ProducerInputError', async (_name, body, errors) => {
    // Act
    const response = (await handler(httpEvent(JSON.stringify(body)), lambdaContext())) as { statusCode: number; body: string };
    const thrown = (await handler(body, lambdaContext()).catch((error: unknown) => error)) as {
      name: string;
      errors: unknown;
      message: string;
    };

    // Assess
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body)).toMatchObject({ errors });
    expect(thrown.name).toBe('ProducerInputError');
    expect(thrown.errors).toEqual(errors);
    expect(thrown.message).toContain(errors[0].rule);
    expect(kinesis.commandCalls(PutRecordsCommand)).toHaveLength(0);
  });

  test.each([
    ['without a requestId', ''],
    ['with a requestId (validated before anything hashes the records)', '"requestId":"r-1",'],
  ])(
    'refuses data nested 10,000 levels deep (JSON.stringify would overflow), %s: HTTP 400 with the data rule and index, direct invoke ProducerInputError',
    async (_name, requestId) => {
      // Prepare: the text by hand, as a caller's JSON library would send it.
      const text = `{${requestId}"records":[{"data":"ok"},{"data":${'['.repeat(10_000)}1${']'.repeat(10_000)},"partitionKey":"k"}]}`;

      // Act
      const response = (await handler(httpEvent(text), lambdaContext())) as { statusCode: number; body: string };
      const thrown = (await handler(JSON.parse(text), lambdaContext()).catch((error: unknown) => error)) as {
        name: string;
        errors: unknown;
      };

      // Assess
      expect(response.statusCode).toBe(400);
      expect(JSON.parse(response.body)).toMatchObject({ errors: [{ index: 1, rule: RULES.data }] });
      expect(thrown.name).toBe('ProducerInputError');
      expect(thrown.errors).toEqual([{ index: 1, rule: RULES.data }]);
      expect(kinesis.commandCalls(PutRecordsCommand)).toHaveLength(0);
    },
  );

  test('with ordering groups, a record that fills a 1 MiB entry as a one-record aggregate is accepted, one byte more is refused', async () => {
    // Prepare: data that, with key 'ab', the KPL framing and the longest group key ('og-31'), makes 1 MiB exactly.
    const framing =
      loneAggregateBytes({ partitionKeyBytes: 2, explicitHashKeyBytes: 0, dataBytes: 0 }) +
      4 /* two length varints of 3 bytes, not 1 */ +
      'og-31'.length;
    const fits = 1024 * 1024 - framing;
    expect(loneAggregateBytes({ partitionKeyBytes: 2, explicitHashKeyBytes: 0, dataBytes: fits }) + 'og-31'.length).toBe(1024 * 1024);

    // Act
    const result = await handler(
      {
        records: [
          { data: 'x'.repeat(fits), partitionKey: 'ab' },
          { data: 'y', partitionKey: '🔑'.repeat(128) },
        ],
      },
      lambdaContext(),
    );
    const refused = (await handler({ records: [{ data: 'x'.repeat(fits + 1), partitionKey: 'ab' }] }, lambdaContext()).catch(
      (error: unknown) => error,
    )) as { name: string; errors: unknown };

    // Assess
    expect(result).toMatchObject({ writtenCount: 2, failedCount: 0 });
    const sent = kinesis.commandCalls(PutRecordsCommand).flatMap((call) => call.args[0].input.Records!);
    expect(Math.max(...sent.map((entry) => entry.Data!.length + Buffer.byteLength(entry.PartitionKey!)))).toBeLessThanOrEqual(1024 * 1024);
    expect(refused.name).toBe('ProducerInputError');
    expect(refused.errors).toEqual([{ index: 0, rule: `${RULES.framedSize} (1 MiB = 1048576 bytes)` }]);
  });

  test('with ORDERING_GROUPS=0, a key of 256 UTF-16 code units and a record of exactly 1 MiB are accepted (the record goes raw)', async () => {
    // Prepare
    process.env.ORDERING_GROUPS = '0';

    // Act
    const result = await handler(
      {
        records: [
          { data: 'x'.repeat(1024 * 1024 - 2), partitionKey: 'ab' },
          { data: 'y', partitionKey: '🔑'.repeat(128) },
        ],
      },
      lambdaContext(),
    );

    // Assess
    expect(result).toMatchObject({ writtenCount: 2, failedCount: 0 });
  });

  test('records that cannot be written: HTTP gets 207 with them; a direct invoke throws ProducerWriteError', async () => {
    // Prepare
    kinesis.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => ({
      Records: input.Records!.map((r) =>
        usersOf(r)[0].partitionKey === 'bad'
          ? { ErrorCode: 'KMSAccessDeniedException', ErrorMessage: 'no key' }
          : { SequenceNumber: '1', ShardId: 'shardId-000000000000' },
      ),
    }));
    const body = {
      records: [
        { data: 'ok', partitionKey: 'good', explicitHashKey: '1' },
        { data: 'no', partitionKey: 'bad', explicitHashKey: '340282366920938463463374607431768211455' },
      ],
    };
    kinesis.on(ListShardsCommand).resolves({
      Shards: [
        {
          ShardId: 'shardId-000000000000',
          HashKeyRange: { StartingHashKey: '0', EndingHashKey: '100' },
          SequenceNumberRange: { StartingSequenceNumber: '1' },
        },
        {
          ShardId: 'shardId-000000000001',
          HashKeyRange: { StartingHashKey: '101', EndingHashKey: '340282366920938463463374607431768211455' },
          SequenceNumberRange: { StartingSequenceNumber: '1' },
        },
      ],
    });

    // Act
    const response = (await handler(httpEvent(JSON.stringify(body)), lambdaContext())) as { statusCode: number; body: string };
    const thrown = (await handler(body, lambdaContext()).catch((error: unknown) => error)) as {
      name: string;
      result: unknown;
      message: string;
    };

    // Assess
    const expected = {
      recordCount: 2,
      writtenCount: 1,
      failedCount: 1,
      failed: [{ index: 1, errorCode: 'KMSAccessDeniedException', errorMessage: 'no key' }],
    };
    expect(response.statusCode).toBe(207);
    expect(JSON.parse(response.body)).toEqual(expected);
    expect(thrown.name).toBe('ProducerWriteError');
    expect(thrown.result).toEqual(expected);
    expect(thrown.message).toBe('1 of 2 records not written: {"KMSAccessDeniedException":"1"}');
    expect(emitted()).toMatchObject({ FailedRecords: 1 });
  });
});
