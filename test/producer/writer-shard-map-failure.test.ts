import { KinesisClient, PutRecordsCommand, type PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import { DEFAULT_LIMITS } from '../../lambda/producer/limits';
import { writeRecords, type WriteOptions } from '../../lambda/producer/writer';
import { TimeBudget } from '../../lambda/shared/retry';
import { ShardMap } from '../../lambda/shared/shard-map';
import { evenShards, userRecords } from './fixtures';

/**
 * ListShards failing while a request is under way: before anything is written every record is
 * reported failed with its error (the handler answers as for any unwritten record); once some
 * records are written the answer must still say exactly which, so the writer
 * keeps the map it has and carries on.
 */
const kinesis = mockClient(KinesisClient);

function options(shardMap: WriteOptions['shardMap']): WriteOptions {
  return {
    client: new KinesisClient({ region: 'us-east-1' }),
    streamName: 'test',
    limits: { ...DEFAULT_LIMITS, maxAggregateBytes: 400 },
    backoff: { baseMs: 10, maxMs: 100 },
    budget: new TimeBudget(Date.now() + 60_000),
    shardMap,
    wait: async () => undefined,
    random: () => 0.5,
  };
}

class ListShardsFailure extends Error {
  public override readonly name = 'LimitExceededException';
}

beforeEach(() => kinesis.reset());

describe('writeRecords when the shard map cannot be loaded', () => {
  test('before anything is written, every record is reported failed with the ListShards error and nothing is sent', async () => {
    // Prepare
    const records = userRecords(10, { keys: 5 });

    // Act
    const outcome = await writeRecords(records, options(async () => { throw new ListShardsFailure('rate exceeded'); }));

    // Assess
    expect(kinesis.commandCalls(PutRecordsCommand)).toHaveLength(0);
    expect(outcome.written).toEqual([]);
    expect(outcome.failed).toEqual(records.map(({ index }) => ({ index, errorCode: 'LimitExceededException', errorMessage: 'shard map not loaded: rate exceeded' })));
    expect(outcome.kinesisRecords).toBe(0);
  });

  test('after a misrouted put, a failed reload keeps the old map: the retry goes out and the answer says what was written', async () => {
    // Prepare: the first request lands on an unexpected shard (so the map is reloaded) and fails one entry.
    const records = userRecords(40, { keys: 20 });
    let call = 0;
    kinesis.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => {
      call++;
      return { Records: input.Records!.map((_, i) => (call === 1 && i === 0 ? { ErrorCode: 'ProvisionedThroughputExceededException' } : { SequenceNumber: '1', ShardId: 'shardId-000000000009' })) };
    });
    const loads: boolean[] = [];
    const shardMap = async (refresh: boolean): Promise<ShardMap> => {
      loads.push(refresh);
      if (refresh) {
        throw new ListShardsFailure('rate exceeded');
      }
      return new ShardMap(evenShards(2));
    };

    // Act
    const outcome = await writeRecords(records, options(shardMap));

    // Assess
    expect(loads).toEqual([false, true]);
    expect(kinesis.commandCalls(PutRecordsCommand)).toHaveLength(2);
    expect(outcome.written).toEqual(records.map((r) => r.index));
    expect(outcome.failed).toEqual([]);
    expect(outcome.retries).toBe(1);
  });
});
