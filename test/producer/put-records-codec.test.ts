import { KinesisClient, ListShardsCommand, PutRecordsCommand, type PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import * as cborLib from 'cbor';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import fc from 'fast-check';
import { AMZ_CBOR, cborEnabled, kinesisProtocol, putRecordsBody, putRecordsCbor } from '../../lambda/producer/put-records-codec';
import { LoopbackServer } from '../helpers/loopback-server';

/** The request a client would send (captured at the build step; nothing is sent): its body and content type. */
async function requestOf(
  client: KinesisClient,
  command: PutRecordsCommand | ListShardsCommand,
): Promise<{ body: Buffer; contentType: string }> {
  let request: { body: unknown; headers: Record<string, string> } | undefined;
  const stack = command.middlewareStack as unknown as { add: (middleware: unknown, options: object) => void };
  stack.add(
    (_next: unknown) => async (args: { request: { body: unknown; headers: Record<string, string> } }) => {
      request = args.request;
      return { output: { $metadata: {} }, response: {} };
    },
    { step: 'build', priority: 'low' },
  );
  await client.send(command as PutRecordsCommand);
  const { body, headers } = request!;
  return {
    body: body instanceof Uint8Array ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : Buffer.from(body as string),
    contentType: headers['content-type'],
  };
}

/** The request body a client would send. */
async function bodyOf(client: KinesisClient, command: PutRecordsCommand | ListShardsCommand): Promise<Buffer> {
  return (await requestOf(client, command)).body;
}

const config = { region: 'us-east-1', endpoint: 'http://127.0.0.1:1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } };
const sdk = new KinesisClient(config);
const cborClient = new KinesisClient({ ...config, protocol: kinesisProtocol({ cbor: true }) });
const ours = new KinesisClient({ ...config, protocol: kinesisProtocol({ cbor: false }) });

const key = fc.oneof(
  { arbitrary: fc.constantFrom('og-0', 'og-15', 'partition-key-7', 'clé-é', '日本', 'a/b', 'x'), weight: 4 },
  fc.string({ minLength: 1, maxLength: 20 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 8 }),
  fc.constantFrom(
    'og-0',
    'og-15',
    'partition-key-7',
    'clé-é',
    '日本',
    'a"b',
    'a\\b',
    'tab\tkey',
    'del\u007f',
    'emoji-😀',
    'lone-\ud800',
    'a/b',
  ),
);
const entry = fc.record({
  Data: fc.uint8Array({ maxLength: 70 }),
  PartitionKey: key,
  ExplicitHashKey: fc.option(fc.bigInt({ min: 0n, max: 2n ** 128n - 1n }).map(String), { nil: undefined }),
});

/** PutRecords inputs: 1 to 12 entries, with or without a stream name and a stream ARN. */
const putRecordsInput = fc
  .tuple(
    fc.array(entry, { minLength: 1, maxLength: 12 }),
    fc.option(fc.constantFrom('stream', 'my-stream_1.a', 'ström', 's'.repeat(128)), { nil: undefined }),
    fc.option(fc.constant('arn:aws:kinesis:us-east-1:123456789012:stream/s'), { nil: undefined }),
  )
  .map(([records, streamName, streamArn]): PutRecordsCommandInput => ({
    Records: records,
    ...(streamName ? { StreamName: streamName } : {}),
    ...(streamArn ? { StreamARN: streamArn } : {}),
  }));

afterAll(() => {
  sdk.destroy();
  ours.destroy();
  cborClient.destroy();
});

describe('PutRecords body codec (native base64)', () => {
  test("writes byte for byte the body the SDK's own serializer writes, for any entries, keys and stream names", async () => {
    let native = 0;
    await fc.assert(
      fc.asyncProperty(putRecordsInput, async (input) => {
        const expected = await bodyOf(sdk, new PutRecordsCommand(input));
        const actual = await bodyOf(ours, new PutRecordsCommand(input));
        native += putRecordsBody(input) === undefined ? 0 : 1;
        expect(actual.toString('latin1')).toBe(expected.toString('latin1'));
      }),
      { numRuns: 300 },
    );
    expect(native).toBeGreaterThan(50); // the native path itself was compared, not only the fallback
  });

  test('takes the native path for what the producer sends (group keys, hash keys, a stream name), and leaves other input to the SDK', () => {
    const data = Buffer.from('x'.repeat(1_000));
    expect(putRecordsBody({ StreamName: 's', Records: [{ Data: data, PartitionKey: 'og-3', ExplicitHashKey: '1234' }] })).toBeInstanceOf(
      Buffer,
    );
    expect(putRecordsBody({ StreamName: 's', Records: [{ Data: data, PartitionKey: 'a\nb' }] })).toBeUndefined();
    expect(putRecordsBody({ StreamName: 's', StreamId: 'x', Records: [{ Data: data, PartitionKey: 'k' }] })).toBeUndefined();
    expect(putRecordsBody({ StreamName: 's', Records: [{ Data: 'text', PartitionKey: 'k' }] })).toBeUndefined();
  });

  test('other operations are written by the SDK as before', async () => {
    const input = { StreamName: 's', MaxResults: 100 };
    expect((await bodyOf(ours, new ListShardsCommand(input))).toString()).toBe(
      (await bodyOf(sdk, new ListShardsCommand(input))).toString(),
    );
  });
});

/** A lone UTF-16 surrogate (UTF-8 cannot hold it). */
const LONE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

describe("PutRecords in Kinesis's CBOR form (application/x-amz-cbor-1.1)", () => {
  test('for any entries, keys and stream names: a CBOR body that another CBOR implementation decodes to the input and encodes to the same bytes; JSON (as the SDK writes it) only for strings UTF-8 cannot hold', async () => {
    let cbor = 0;
    await fc.assert(
      fc.asyncProperty(putRecordsInput, async (input) => {
        const records = input.Records!;
        const { body, contentType } = await requestOf(cborClient, new PutRecordsCommand(input));
        const lone = records.some((r) => LONE.test(r.PartitionKey!) || (r.ExplicitHashKey !== undefined && LONE.test(r.ExplicitHashKey)));
        if (lone) {
          expect(contentType).toBe('application/x-amz-json-1.1');
          expect(body.toString('latin1')).toBe((await bodyOf(sdk, new PutRecordsCommand(input))).toString('latin1'));
          return;
        }
        cbor++;
        expect(contentType).toBe(AMZ_CBOR);
        // The same members, in the schema's order, each Data as a byte string.
        const expected = {
          Records: records.map((r) => ({
            Data: Buffer.from(r.Data!),
            ...(r.ExplicitHashKey !== undefined ? { ExplicitHashKey: r.ExplicitHashKey } : {}),
            PartitionKey: r.PartitionKey,
          })),
          ...(input.StreamName ? { StreamName: input.StreamName } : {}),
          ...(input.StreamARN ? { StreamARN: input.StreamARN } : {}),
        };
        expect(cborLib.decodeFirstSync(body)).toEqual(expected);
        // Definite lengths and the shortest heads, as a canonical encoder writes them.
        expect(body.toString('hex')).toBe(cborLib.encodeOne(expected).toString('hex'));
        // Written in memory it is lent (dirty, larger than the body), the same bytes at its start.
        const memory = Buffer.alloc(body.length + 64, 0xa5);
        const lent = putRecordsCbor(input, (bytes) => (bytes === body.length ? memory : Buffer.alloc(0)))!;
        expect(lent.buffer).toBe(memory.buffer);
        expect(lent.byteOffset).toBe(memory.byteOffset);
        expect(lent.equals(body)).toBe(true);
      }),
      { numRuns: 300 },
    );
    expect(cbor).toBeGreaterThan(200);
  });

  test('record sizes across every CBOR length head (0 to 2^16 + 1 bytes) and a 1 MiB record decode exactly', async () => {
    for (const size of [0, 1, 23, 24, 255, 256, 65_535, 65_536, 65_537, 1_048_576]) {
      const data = Buffer.alloc(size, size % 251);
      const body = putRecordsCbor({ StreamName: 's', Records: [{ Data: data, PartitionKey: 'k' }] })!;
      expect((cborLib.decodeFirstSync(body) as { Records: Array<{ Data: Buffer }> }).Records[0].Data.equals(data)).toBe(true);
      // Sized exactly, heads the shortest: the bytes a canonical encoder writes, nothing after them
      // (encodeAsync: encodeOne answers only its first 64 KiB for a larger object).
      expect(body.equals(await cborLib.encodeAsync({ Records: [{ Data: data, PartitionKey: 'k' }], StreamName: 's' }))).toBe(true);
    }
  });

  test('leaves other input to the JSON codec: unknown members, Data not bytes, lone surrogates; other operations stay JSON', async () => {
    const data = Buffer.from('x');
    expect(putRecordsCbor({ StreamName: 's', StreamId: 'x', Records: [{ Data: data, PartitionKey: 'k' }] })).toBeUndefined();
    expect(putRecordsCbor({ StreamName: 's', Records: [{ Data: 'text', PartitionKey: 'k' }] })).toBeUndefined();
    expect(putRecordsCbor({ StreamName: 's', Records: [{ Data: data, PartitionKey: 'lone-\ud800' }] })).toBeUndefined();
    expect(putRecordsCbor({ StreamName: 'lone-\udc00', Records: [{ Data: data, PartitionKey: 'k' }] })).toBeUndefined();
    expect(putRecordsCbor({ StreamName: 's', Records: [{ Data: data, PartitionKey: 'emoji-😀', Extra: 1 }] })).toBeUndefined();
    expect(putRecordsCbor({ StreamName: 's', Records: [{ Data: data, PartitionKey: 'emoji-😀' }] })).toBeInstanceOf(Buffer);
    const listShards = await requestOf(cborClient, new ListShardsCommand({ StreamName: 's', MaxResults: 100 }));
    expect(listShards.contentType).toBe('application/x-amz-json-1.1');
    expect(listShards.body.toString()).toBe((await bodyOf(sdk, new ListShardsCommand({ StreamName: 's', MaxResults: 100 }))).toString());
  });

  test.each([
    [{}, true],
    [{ AWS_CBOR_DISABLE: '' }, true],
    [{ AWS_CBOR_DISABLE: 'false' }, true],
    [{ AWS_CBOR_DISABLE: 'true' }, false],
    [{ AWS_CBOR_DISABLE: '1' }, false],
    [{ AWS_CBOR_ENABLED: 'false' }, false],
    [{ AWS_CBOR_ENABLED: 'FALSE' }, false],
    [{ AWS_CBOR_ENABLED: 'true' }, true],
  ])('the environment %j: CBOR %s (as the AWS SDK for Java reads it)', (env, expected) => {
    expect(cborEnabled(env)).toBe(expected);
  });
});

describe('answers to CBOR requests, read by their content type', () => {
  let answer: (res: import('http').ServerResponse, target: string) => void;
  const seen: string[] = [];
  const server = new LoopbackServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(`${String(req.headers['x-amz-target'])} ${String(req.headers['content-type'])}`);
      answer(res, String(req.headers['x-amz-target']));
    });
  });
  let client: KinesisClient;
  const cborAnswer = (res: import('http').ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const bytes = cborLib.encodeOne(body);
    res.writeHead(status, { 'content-type': AMZ_CBOR, 'content-length': bytes.length, ...headers });
    res.end(bytes);
  };
  const put = () =>
    client.send(
      new PutRecordsCommand({
        StreamName: 's',
        Records: [
          { Data: Buffer.from('a'), PartitionKey: 'k' },
          { Data: Buffer.from('b'), PartitionKey: 'k' },
        ],
      }),
    );

  beforeAll(async () => {
    const endpoint = await server.start();
    client = new KinesisClient({
      ...config,
      endpoint,
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler(),
      protocol: kinesisProtocol({ cbor: true }),
    });
  });
  afterAll(async () => {
    client.destroy();
    await server.stop();
  });

  test('a PutRecords answer in CBOR: sequence numbers, shards and failed entries as Kinesis sent them', async () => {
    answer = (res) =>
      cborAnswer(res, 200, {
        FailedRecordCount: 1,
        Records: [
          { SequenceNumber: '49590338271490256608559692538361571095921575989136588898', ShardId: 'shardId-000000000001' },
          { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard shardId-000000000001' },
        ],
        EncryptionType: 'KMS',
      });
    const output = await put();
    expect(seen.at(-1)).toBe(`Kinesis_20131202.PutRecords ${AMZ_CBOR}`);
    expect(output).toMatchObject({
      FailedRecordCount: 1,
      EncryptionType: 'KMS',
      Records: [
        { SequenceNumber: '49590338271490256608559692538361571095921575989136588898', ShardId: 'shardId-000000000001' },
        { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard shardId-000000000001' },
      ],
    });
    expect(output.$metadata.httpStatusCode).toBe(200);
  });

  test.each([
    ['named in the body only', { __type: 'ProvisionedThroughputExceededException', message: 'Rate exceeded' }, {}],
    ['with a namespace in the body', { __type: 'com.amazonaws.kinesis#ResourceNotFoundException', message: 'Stream s not found' }, {}],
    [
      'named in x-amzn-errortype',
      { message: 'Access denied' },
      { 'x-amzn-errortype': 'AccessDeniedException:http://internal.amazon.com/' },
    ],
  ] as Array<[string, { __type?: string; message: string }, Record<string, string>]>)(
    'a CBOR error %s is thrown as the service error by its name and message',
    async (_how, body, headers) => {
      answer = (res) => cborAnswer(res, 400, body, headers);
      const name = (headers['x-amzn-errortype'] ?? body.__type!).split(':')[0].split('#').pop();
      await expect(put()).rejects.toMatchObject({ name, message: body.message, $metadata: { httpStatusCode: 400 } });
    },
  );

  test('a JSON answer to a CBOR request, and JSON operations, are read as before', async () => {
    answer = (res, target) => {
      const text = target.endsWith('ListShards')
        ? JSON.stringify({
            Shards: [
              {
                ShardId: 'shardId-000000000000',
                HashKeyRange: { StartingHashKey: '0', EndingHashKey: '9' },
                SequenceNumberRange: { StartingSequenceNumber: '1' },
              },
            ],
          })
        : JSON.stringify({
            FailedRecordCount: 0,
            Records: [
              { SequenceNumber: '1', ShardId: 'shardId-000000000000' },
              { SequenceNumber: '2', ShardId: 'shardId-000000000000' },
            ],
          });
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    expect((await put()).Records).toEqual([
      { SequenceNumber: '1', ShardId: 'shardId-000000000000' },
      { SequenceNumber: '2', ShardId: 'shardId-000000000000' },
    ]);
    const shards = await client.send(new ListShardsCommand({ StreamName: 's' }));
    expect(seen.at(-1)).toBe('Kinesis_20131202.ListShards application/x-amz-json-1.1');
    expect(shards.Shards![0].HashKeyRange).toEqual({ StartingHashKey: '0', EndingHashKey: '9' });
  });

  test('a 5xx with a CBOR body is the service error (retryable by its name), not a parse failure', async () => {
    answer = (res) => cborAnswer(res, 500, { __type: 'InternalFailure', message: 'internal' });
    await expect(put()).rejects.toMatchObject({ name: 'InternalFailure', $metadata: { httpStatusCode: 500 } });
  });
});
