import { KinesisClient, ListShardsCommand, PutRecordsCommand, type PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import fc from 'fast-check';
import { kinesisProtocol, putRecordsBody } from '../../lambda/producer/put-records-codec';

/** The request body a client would send (captured at the build step; nothing is sent). */
async function bodyOf(client: KinesisClient, command: PutRecordsCommand | ListShardsCommand): Promise<Buffer> {
  let body: unknown;
  const stack = command.middlewareStack as unknown as { add: (middleware: unknown, options: object) => void };
  stack.add(
    (_next: unknown) => async (args: { request: { body: unknown } }) => {
      body = args.request.body;
      return { output: { $metadata: {} }, response: {} };
    },
    { step: 'build', priority: 'low' },
  );
  await client.send(command as PutRecordsCommand);
  if (body instanceof Uint8Array) {
    return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  }
  return Buffer.from(body as string);
}

const config = { region: 'us-east-1', endpoint: 'http://127.0.0.1:1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } };
const sdk = new KinesisClient(config);
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

describe('PutRecords body codec (native base64)', () => {
  afterAll(() => {
    sdk.destroy();
    ours.destroy();
  });

  test("writes byte for byte the body the SDK's own serializer writes, for any entries, keys and stream names", async () => {
    let native = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(entry, { minLength: 1, maxLength: 12 }),
        fc.option(fc.constantFrom('stream', 'my-stream_1.a', 'ström'), { nil: undefined }),
        fc.option(fc.constant('arn:aws:kinesis:us-east-1:123456789012:stream/s'), { nil: undefined }),
        async (records, streamName, streamArn) => {
          const input: PutRecordsCommandInput = {
            Records: records,
            ...(streamName ? { StreamName: streamName } : {}),
            ...(streamArn ? { StreamARN: streamArn } : {}),
          };
          const expected = await bodyOf(sdk, new PutRecordsCommand(input));
          const actual = await bodyOf(ours, new PutRecordsCommand(input));
          native += putRecordsBody(input) === undefined ? 0 : 1;
          expect(actual.toString('latin1')).toBe(expected.toString('latin1'));
        },
      ),
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
