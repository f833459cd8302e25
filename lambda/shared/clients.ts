import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/**
 * AWS client factories shared by the handlers. Each client is created once per container, on
 * first use (never at import time), and tests replace it with `setClientForTesting`.
 *
 * Endpoints follow the SDK's standard variables (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_KINESIS`,
 * `AWS_ENDPOINT_URL_DYNAMODB`), which the SDK reads itself. The Kinesis client is given the
 * HTTP/1.1 handler: its HTTP/2 default cannot talk to local emulators, and Lambda gains nothing
 * from HTTP/2 for PutRecords.
 */
const cache = new Map<string, unknown>();

function memo<T>(name: string, create: () => T): T {
  if (!cache.has(name)) {
    cache.set(name, create());
  }
  return cache.get(name) as T;
}

/** Keep-alive HTTP/1.1 sockets, bounded so a burst cannot exhaust the container's descriptors. */
function httpHandler(): NodeHttpHandler {
  return new NodeHttpHandler({ connectionTimeout: 3_000, requestTimeout: 10_000, httpAgent: { keepAlive: true, maxSockets: 50 }, httpsAgent: { keepAlive: true, maxSockets: 50 } });
}

export function kinesisClient(): KinesisClient {
  // maxAttempts 1: the handlers own their retry policy (only failed entries, inside a time budget).
  return memo('kinesis', () => new KinesisClient({ requestHandler: httpHandler(), maxAttempts: 1 }));
}

export function dynamoDbClient(): DynamoDBClient {
  return memo('dynamodb', () => new DynamoDBClient({ requestHandler: httpHandler() }));
}

/** Tests: use this client (a mock, or one pointed at an emulator) instead of the default. */
export function setClientForTesting(name: 'kinesis' | 'dynamodb' | string, client: unknown): void {
  cache.set(name, client);
}

/** Tests: forget every client, so the next call builds a fresh one from the environment. */
export function resetClients(): void {
  cache.clear();
}

/** A memoised client of any other kind (CloudWatch, Lambda, …), with the same HTTP/1.1 handler. */
export function client<T>(name: string, create: (handler: NodeHttpHandler) => T): T {
  return memo(name, () => create(httpHandler()));
}
