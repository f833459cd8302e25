import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient, type KinesisClientConfig } from '@aws-sdk/client-kinesis';
import type { Readable } from 'stream';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/**
 * AWS client factories shared by the handlers. Each client is created once per container, on
 * first use (never at import time), and tests replace it with `setClientForTesting`.
 *
 * Endpoints follow the SDK's standard variables (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_KINESIS`,
 * `AWS_ENDPOINT_URL_DYNAMODB`), which the SDK reads itself. Every client gets the HTTP/1.1 handler:
 * the HTTP/2 default cannot talk to local emulators, and Lambda gains nothing from HTTP/2 here.
 *
 * Every call is bounded in time: a connection timeout and a request timeout that actually fire
 * (`throwOnRequestTimeout`: without it @smithy/node-http-handler 4.x only logs a warning when
 * `requestTimeout` passes and the call waits on). A timed-out call fails with `TimeoutError`
 * (code `ETIMEDOUT`), which the SDK's standard retry strategy retries with backoff and jitter
 * like any transient error, and which the producer's own retry loop retries inside its budget.
 * A call may pass a shorter `requestTimeout` (or an `abortSignal`) of its own in `send`'s options.
 */
const cache = new Map<string, unknown>();

/** Defaults of every client's HTTP handler, ms; override with CLIENT_CONNECTION_TIMEOUT_MS / CLIENT_REQUEST_TIMEOUT_MS. */
export const CLIENT_TIMEOUTS = {
  /** TCP (and TLS) connection set-up. */
  connectionMs: 2_000,
  /** From sending the request to the whole answer; a hung call costs at most this. */
  requestMs: 5_000,
} as const;

function memo<T>(name: string, create: () => T): T {
  if (!cache.has(name)) {
    cache.set(name, create());
  }
  return cache.get(name) as T;
}

function envMs(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

/** The timeouts the handler uses now (from the environment, else `CLIENT_TIMEOUTS`). */
export function clientTimeouts(): { connectionMs: number; requestMs: number } {
  return {
    connectionMs: envMs('CLIENT_CONNECTION_TIMEOUT_MS', CLIENT_TIMEOUTS.connectionMs),
    requestMs: envMs('CLIENT_REQUEST_TIMEOUT_MS', CLIENT_TIMEOUTS.requestMs),
  };
}

type HandleArguments = Parameters<NodeHttpHandler['handle']>;
type Handled = Awaited<ReturnType<NodeHttpHandler['handle']>>;

/**
 * NodeHttpHandler that hands the SDK every answer with its body already read, as bytes, and bounds
 * that read by the call's request timeout too (NodeHttpHandler's own timer stops at the answer's
 * headers). These clients make no streaming call: the SDK reads every body whole anyway. Read
 * here, the body takes the SDK's path for bytes, and its stream collector never touches
 * `ReadableStream`, whose first use loads Node.js's web streams: about 4 ms of a container's
 * first invocation (docs/performance-producer.md).
 */
export class WholeAnswerHttpHandler extends NodeHttpHandler {
  private readonly requestMs: number;

  public constructor({ connectionMs, requestMs } = clientTimeouts()) {
    super({
      requestTimeout: requestMs,
      throwOnRequestTimeout: true,
      connectionTimeout: connectionMs,
      httpAgent: { keepAlive: true, maxSockets: 50 },
      httpsAgent: { keepAlive: true, maxSockets: 50 },
    });
    this.requestMs = requestMs;
  }

  public override async handle(request: HandleArguments[0], options: HandleArguments[1] = {}): Promise<Handled> {
    const started = Date.now();
    const handled = await super.handle(request, options);
    const left = (options.requestTimeout ?? this.requestMs) - (Date.now() - started);
    handled.response.body = await readWhole(handled.response.body as Readable, left, options.abortSignal as AbortSignal | undefined);
    return handled;
  }
}

/**
 * A body's bytes: rejects if the stream fails or closes before its end, if `ms` pass first
 * (TimeoutError, code ETIMEDOUT, as NodeHttpHandler's request timeout) or if `signal` aborts
 * (its reason); then the stream is destroyed, which frees its socket.
 */
export function readWhole(body: Readable, ms: number, signal?: AbortSignal): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const fail = (error: Error): void => {
      settle();
      body.destroy();
      reject(error);
    };
    const onTimeout = (): void =>
      fail(
        Object.assign(
          new Error(`the answer's body did not arrive whole within the request timeout (${Math.max(0, ms)} ms were left of it)`),
          {
            name: 'TimeoutError',
            code: 'ETIMEDOUT',
          },
        ),
      );
    const onAbort = (): void => fail(signal?.reason instanceof Error ? signal.reason : new Error('the call was aborted'));
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      length += chunk.length;
    };
    const onEnd = (): void => {
      settle();
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length));
    };
    const onError = (error: Error): void => fail(error);
    const onClose = (): void => fail(new Error("the answer's connection closed before its body's end"));
    const timer = setTimeout(onTimeout, Math.max(0, ms));
    const settle = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      body.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
    };
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    body.on('data', onData).once('end', onEnd).once('error', onError).once('close', onClose);
  });
}

/** Keep-alive HTTP/1.1 sockets, bounded so a burst cannot exhaust the container's descriptors; timeouts that fire. */
export function httpHandler(): NodeHttpHandler {
  return new WholeAnswerHttpHandler(clientTimeouts());
}

/**
 * Takes the SDK's logger middleware out of a client we build. Our clients get no logger (the SDK's
 * default logs nothing), yet that middleware still copies every call's input and output through
 * the schema's sensitive-data filter to hand them to the no-op logger: about 2 ms of a producer's
 * first invocation (a PutRecords of 20,000 records and its progress-table calls), 0.3 ms of later
 * ones (CPU profile in docs/performance-producer.md). Errors still reach the caller unchanged.
 */
function withoutLogFilter<T extends { middlewareStack: { remove(name: string): boolean } }>(client: T): T {
  client.middlewareStack.remove('loggerMiddleware');
  return client;
}

/**
 * The container's Kinesis client. `extra` adds settings when the client is first built (the
 * producer gives its own `protocol`, a faster PutRecords body codec); later calls get that client.
 */
export function kinesisClient(extra?: () => Pick<KinesisClientConfig, 'protocol'>): KinesisClient {
  // maxAttempts 1: the handlers own their retry policy (only failed entries, inside a time budget).
  return memo('kinesis', () => withoutLogFilter(new KinesisClient({ requestHandler: httpHandler(), maxAttempts: 1, ...extra?.() })));
}

export function dynamoDbClient(): DynamoDBClient {
  // The SDK's standard retries (3 attempts, exponential backoff with jitter), each attempt bounded
  // by the handler's request timeout.
  return memo('dynamodb', () => withoutLogFilter(new DynamoDBClient({ requestHandler: httpHandler() })));
}

/**
 * Tests: use this client (a mock, or one pointed at an emulator) instead of the default. `name` is
 * the cache key of the factory it replaces: 'kinesis', 'dynamodb', or a handler's own ('cloudwatch', 'lambda').
 */
export function setClientForTesting(name: string, client: unknown): void {
  cache.set(name, client);
}

/** Tests: forget every client, so the next call builds a fresh one from the environment. */
export function resetClients(): void {
  cache.clear();
}

/** A memoised client of any other kind (CloudWatch, Lambda, …), with the same bounded HTTP/1.1 handler. */
export function client<T>(name: string, create: (handler: NodeHttpHandler) => T): T {
  return memo(name, () => create(httpHandler()));
}
