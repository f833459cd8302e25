import { DescribeStreamSummaryCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { dynamoDbClient, kinesisClient, resetClients } from '../../lambda/shared/clients';
import { LoopbackServer } from '../helpers/loopback-server';

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
    const url = await server.start();
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret',
    });
    resetClients();
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
