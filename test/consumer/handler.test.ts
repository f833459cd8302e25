import { DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { KinesisClient, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import { ConsumerConfigError, createHandler, shardLineageCaches, shardRanges } from '../../lambda/consumer/handler';
import { resetClients, setClientForTesting } from '../../lambda/shared/clients';
import { kinesisRecord, lambdaContext } from './factories';

const kinesis = mockClient(KinesisClient);
const shard = (id: string, start: string, end: string, closed = false) => ({
  ShardId: id,
  HashKeyRange: { StartingHashKey: start, EndingHashKey: end },
  SequenceNumberRange: { StartingSequenceNumber: '1', ...(closed ? { EndingSequenceNumber: '9' } : {}) },
});

beforeEach(() => {
  kinesis.reset();
  setClientForTesting('kinesis', new KinesisClient({ region: 'us-east-1' }));
});
afterAll(() => resetClients());

describe('consumer handler settings', () => {
  test('refuses an unknown OUT_OF_RANGE_RECORDS, and skip without STREAM_NAME, naming the variable', () => {
    const processRecord = async () => undefined;
    expect(() => createHandler(processRecord, { OUT_OF_RANGE_RECORDS: 'drop' })).toThrow(ConsumerConfigError);
    expect(() => createHandler(processRecord, { OUT_OF_RANGE_RECORDS: 'drop' })).toThrow(
      /^consumer: OUT_OF_RANGE_RECORDS must be 'process' or 'skip'; received 'drop'$/,
    );
    expect(() => createHandler(processRecord, { OUT_OF_RANGE_RECORDS: 'skip' })).toThrow(/OUT_OF_RANGE_RECORDS=skip needs STREAM_NAME/);
  });
});

describe('shardRanges', () => {
  test('knows closed parents, loads once, and reloads for a shard it has not seen (a new child)', async () => {
    // Prepare
    kinesis
      .on(ListShardsCommand)
      .resolvesOnce({ Shards: [shard('parent', '0', '99', true), shard('a', '0', '49'), shard('b', '50', '99')] })
      .resolves({
        Shards: [
          shard('parent', '0', '99', true),
          shard('a', '0', '49', true),
          shard('b', '50', '99'),
          shard('c', '0', '24'),
          shard('d', '25', '49'),
        ],
      });
    const warnings: string[] = [];
    const rangeOf = shardRanges(shardLineageCaches()('s'), 's', (message) => warnings.push(message));

    // Act / Assess
    expect(await rangeOf('parent')).toMatchObject({ start: 0n, end: 99n });
    expect(await rangeOf('a')).toMatchObject({ start: 0n, end: 49n });
    expect(kinesis.commandCalls(ListShardsCommand)).toHaveLength(1);
    expect(await rangeOf('d')).toMatchObject({ start: 25n, end: 49n });
    expect(kinesis.commandCalls(ListShardsCommand)).toHaveLength(2);
    expect(kinesis.commandCalls(ListShardsCommand)[0].args[0].input).toEqual({ StreamName: 's' });
    expect(warnings).toEqual([]);
  });

  test('a ListShards failure keeps every record of the shard (undefined), with a warning', async () => {
    // Prepare
    kinesis.on(ListShardsCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    const warnings: string[] = [];

    // Act
    const range = await shardRanges(shardLineageCaches()('s'), 's', (message) => warnings.push(message))('a');

    // Assess
    expect(range).toBeUndefined();
    expect(warnings).toEqual(['shard hash ranges not loaded: processing all records of the shard']);
  });
});

describe('consumer handler with OUT_OF_RANGE_RECORDS=skip and checkpointing', () => {
  test('one ListShards load serves both the range filter and the lease lineage', async () => {
    // Prepare
    kinesis.on(ListShardsCommand).resolves({ Shards: [shard('shardId-000000000000', '0', '340282366920938463463374607431768211455')] });
    const dynamo = mockClient(DynamoDBClient);
    dynamo.on(GetItemCommand).resolves({});
    dynamo.on(PutItemCommand).resolves({});
    dynamo.on(UpdateItemCommand).resolves({});
    setClientForTesting('dynamodb', new DynamoDBClient({ region: 'us-east-1' }));
    const seen: string[] = [];
    const handler = createHandler(
      async (record) => {
        seen.push(record.data.toString());
      },
      {
        OUT_OF_RANGE_RECORDS: 'skip',
        STREAM_NAME: 'test',
        LEASE_TABLE_NAME: 'leases',
        POWERTOOLS_METRICS_DISABLED: 'true',
        POWERTOOLS_LOG_LEVEL: 'SILENT',
      },
    );
    // Act
    const response = await handler({ Records: [kinesisRecord('one', { offset: 1 })] }, lambdaContext());
    await handler({ Records: [kinesisRecord('two', { offset: 2 })] }, lambdaContext());
    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(seen).toEqual(['one', 'two']);
    expect(kinesis.commandCalls(ListShardsCommand).map((call) => call.args[0].input)).toEqual([{ StreamName: 'test' }]);
    dynamo.restore();
  });
});
