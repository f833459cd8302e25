import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PassThrough } from 'stream';
import { promisify } from 'util';
import { DescribeStreamSummaryCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { HttpRequest } from '@smithy/core/protocols';
import * as esbuild from 'esbuild';
import { handlerEntry, pipelineFunctionDefaults } from '../../lib/private/pipeline-function';
import { dynamoDbClient, httpHandler, kinesisClient, readWhole, resetClients } from '../../lambda/shared/clients';
import { LoopbackServer } from '../helpers/loopback-server';

/** Points the shared clients at a loopback endpoint (fresh clients, test credentials), with `extra` settings. */
function useEndpoint(url: string, extra: Record<string, string> = {}): void {
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: url,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
    AWS_SECRET_ACCESS_KEY: 'secret',
    ...extra,
  });
  resetClients();
}

/**
 * The shared clients (lambda/shared/clients.ts) leave out the SDK's logger middleware, which only
 * fed a no-op logger, and keep everything a call needs: signing, retries, errors as thrown.
 */
describe('shared AWS clients', () => {
  const saved = { ...process.env };
  let server: LoopbackServer;
  const requests: { target: string; authorization: string }[] = [];

  beforeAll(async () => {
    server = new LoopbackServer((req, res) => {
      req.resume();
      req.on('end', () => {
        requests.push({ target: String(req.headers['x-amz-target']), authorization: String(req.headers.authorization) });
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ __type: 'ResourceNotFoundException', message: 'no such thing' }));
      });
    });
    useEndpoint(await server.start());
  });

  afterAll(async () => {
    resetClients();
    process.env = saved;
    await server.stop();
  });

  const names = (client: KinesisClient | DynamoDBClient): string[] => client.middlewareStack.identify().map((entry) => entry.split(' ')[0]);

  test('have no logger middleware, and keep signing and retries', () => {
    for (const client of [kinesisClient(), dynamoDbClient()]) {
      const stack = names(client);
      expect(stack).not.toContain('loggerMiddleware');
      expect(stack).toEqual(expect.arrayContaining(['httpSigningMiddleware', 'retryMiddleware']));
    }
  });

  test('still sign their calls and throw the service error by its name', async () => {
    await expect(kinesisClient().send(new DescribeStreamSummaryCommand({ StreamName: 's' }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
      message: 'no such thing',
    });
    await expect(dynamoDbClient().send(new GetItemCommand({ TableName: 't', Key: { k: { S: 'v' } } }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
    expect(requests.map((r) => r.target)).toEqual(
      expect.arrayContaining(['Kinesis_20131202.DescribeStreamSummary', 'DynamoDB_20120810.GetItem']),
    );
    expect(requests.every((r) => r.authorization.startsWith('AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/'))).toBe(true);
  });
});

const execFileAsync = promisify(execFile);

/**
 * The shared clients' HTTP handler (WholeAnswerHttpHandler) reads every answer's body itself,
 * within the call's request timeout: the SDK gets bytes, so a container's first call does not load
 * Node.js's web streams, and a body that stalls or is cut after the headers fails the call instead
 * of holding it.
 */
describe('shared AWS clients: answers read whole', () => {
  const saved = { ...process.env };
  /** How the server answers DescribeStreamSummary: whole, stalling after part of the body, or cut after part of it. */
  let mode: 'whole' | 'stall' | 'cut' = 'whole';
  const summary = JSON.stringify({ StreamDescriptionSummary: { StreamName: 's', StreamStatus: 'ACTIVE', OpenShardCount: 4 } });
  let server: LoopbackServer;
  let url: string;

  beforeAll(async () => {
    server = new LoopbackServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'content-length': String(summary.length) });
        if (mode === 'whole') {
          res.end(summary);
          return;
        }
        res.write(summary.slice(0, 10));
        if (mode === 'cut') {
          setTimeout(() => res.socket?.destroy(), 20);
        }
      });
    });
    url = await server.start();
  });

  beforeEach(() => useEndpoint(url, { CLIENT_REQUEST_TIMEOUT_MS: '300' }));

  afterAll(async () => {
    resetClients();
    process.env = saved;
    await server.stop();
  });

  test('an answer reaches the caller parsed, its body handed over as bytes', async () => {
    // Arrange
    mode = 'whole';
    const handler = httpHandler();
    // Act
    const output = await kinesisClient().send(new DescribeStreamSummaryCommand({ StreamName: 's' }));
    const { response } = await handler.handle(
      new HttpRequest({
        protocol: 'http:',
        hostname: '127.0.0.1',
        port: Number(new URL(url).port),
        method: 'POST',
        path: '/',
        headers: {},
      }),
    );
    // Assess
    expect(output.StreamDescriptionSummary).toMatchObject({ StreamName: 's', OpenShardCount: 4 });
    expect(Buffer.isBuffer(response.body)).toBe(true);
    expect((response.body as Buffer).toString()).toBe(summary);
  });

  test('a body that stalls after the headers fails the call with TimeoutError within the request timeout', async () => {
    // Arrange
    mode = 'stall';
    const started = Date.now();
    // Act
    const call = kinesisClient().send(new DescribeStreamSummaryCommand({ StreamName: 's' }));
    // Assess
    await expect(call).rejects.toMatchObject({ name: 'TimeoutError', code: 'ETIMEDOUT' });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  test('a body cut after the headers fails the call', async () => {
    // Arrange
    mode = 'cut';
    // Act
    const call = kinesisClient().send(new DescribeStreamSummaryCommand({ StreamName: 's' }));
    // Assess
    await expect(call).rejects.toThrow();
  });

  test("a call's abort signal ends the body's read with its reason", async () => {
    // Arrange
    const body = new PassThrough();
    const controller = new AbortController();
    body.write('part');
    // Act
    const reading = readWhole(body, 10_000, controller.signal);
    controller.abort(new Error('caller gave up'));
    // Assess
    await expect(reading).rejects.toThrow('caller gave up');
    expect(body.destroyed).toBe(true);
  });

  test("a fresh process's first call does not load Node.js's web streams (the SDK's stock handler does)", async () => {
    // Arrange: the clients bundled as the construct bundles a handler, run in a fresh Node.js process
    mode = 'whole';
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clients-'));
    const entry = path.join(dir, 'entry.mjs');
    const bundling = pipelineFunctionDefaults(handlerEntry('producer')).bundling!;
    esbuild.buildSync({
      stdin: {
        contents: `
          import { DescribeStreamSummaryCommand, KinesisClient } from '@aws-sdk/client-kinesis';
          import { NodeHttpHandler } from '@smithy/node-http-handler';
          import { kinesisClient } from './lambda/shared/clients';
          const client = process.env.STOCK === '1' ? new KinesisClient({ requestHandler: new NodeHttpHandler() }) : kinesisClient();
          const before = process.moduleLoadList.includes('NativeModule internal/webstreams/readablestream');
          client.send(new DescribeStreamSummaryCommand({ StreamName: 's' })).then((output) => {
            const loaded = process.moduleLoadList.includes('NativeModule internal/webstreams/readablestream');
            console.log(JSON.stringify({ shards: output.StreamDescriptionSummary.OpenShardCount, before, loaded }));
          });`,
        resolveDir: path.join(__dirname, '..', '..'),
      },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: bundling.target,
      mainFields: bundling.mainFields,
      banner: { js: bundling.banner! },
      outfile: entry,
      logLevel: 'silent',
    });
    // Asynchronously: the endpoint answering the child is this process's.
    const run = async (stock: boolean): Promise<{ shards: number; before: boolean; loaded: boolean }> =>
      JSON.parse((await execFileAsync(process.execPath, [entry], { env: { ...process.env, STOCK: stock ? '1' : '0' } })).stdout) as {
        shards: number;
        before: boolean;
        loaded: boolean;
      };
    // Act
    const ours = await run(false);
    const stock = await run(true);
    // Assess
    expect(ours).toEqual({ shards: 4, before: false, loaded: false });
    expect(stock).toEqual({ shards: 4, before: false, loaded: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
