import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateStreamCommand, DescribeStreamSummaryCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { LocalStream, LocalTable } from './assembly';

/** Creates the stream and the tables on the emulators as the template defines them. */
export async function createStream(kinesis: KinesisClient, stream: LocalStream): Promise<void> {
  await kinesis.send(
    new CreateStreamCommand(
      stream.mode === 'ON_DEMAND'
        ? { StreamName: stream.name, StreamModeDetails: { StreamMode: 'ON_DEMAND' } }
        : { StreamName: stream.name, ShardCount: stream.shardCount },
    ),
  );
  const deadline = Date.now() + 20_000;
  for (;;) {
    const summary = (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream.name }))).StreamDescriptionSummary;
    if (summary?.StreamStatus === 'ACTIVE') {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`local: stream ${stream.name} is still ${summary?.StreamStatus} after 20 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function createTable(dynamodb: DynamoDBClient, table: LocalTable): Promise<void> {
  await dynamodb.send(
    new CreateTableCommand({
      TableName: table.name,
      KeySchema: table.keySchema,
      AttributeDefinitions: table.attributeDefinitions,
      BillingMode: 'PAY_PER_REQUEST',
      ...(table.globalSecondaryIndexes?.length
        ? {
            GlobalSecondaryIndexes: table.globalSecondaryIndexes.map((index) => ({
              IndexName: index.IndexName as string,
              KeySchema: index.KeySchema as LocalTable['keySchema'],
              Projection: (index.Projection ?? { ProjectionType: 'ALL' }) as { ProjectionType: 'ALL' },
            })),
          }
        : {}),
    }),
  );
}
