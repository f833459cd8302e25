import { KinesisClient, PutRecordsCommand, type PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import { DEFAULT_LIMITS, DEFAULT_ORDERING_GROUPS } from '../../lambda/producer/limits';
import { writeRecords, type WriteOptions } from '../../lambda/producer/writer';
import { TimeBudget } from '../../lambda/shared/retry';
import { ShardMap } from '../../lambda/shared/shard-map';
import { evenShards, isLoneEntry, routeLikeKinesis, userRecords } from './fixtures';

/**
 * ListShards failing while a request is under way: before anything is written every record is
 * reported failed with its error (the handler answers as for any unwritten record); once some
 * records are written the answer must still say exactly which, so the writer
 * keeps the map it has and carries on.
 */
const kinesis = mockClient(KinesisClient);

let limits = DEFAULT_LIMITS;
let orderingGroups = DEFAULT_ORDERING_GROUPS;

function options(shardMap: WriteOptions['shardMap']): WriteOptions {
  return {
    client: new KinesisClient({ region: 'us-east-1' }),
    streamName: 'test',
    limits: { ...limits, maxAggregateBytes: 400 },
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
    const outcome = await writeRecords(
      records,
      options(async () => {
        throw new ListShardsFailure('rate exceeded');
      }),
    );

    // Assess
    expect(kinesis.commandCalls(PutRecordsCommand)).toHaveLength(0);
    expect(outcome.written).toEqual([]);
    expect(outcome.failed).toEqual(
      records.map(({ index }) => ({ index, errorCode: 'LimitExceededException', errorMessage: 'shard map not loaded: rate exceeded' })),
    );
    expect(outcome.kinesisRecords).toBe(0);
  });

  test.each([DEFAULT_ORDERING_GROUPS, 0])(
    'after a misrouted put, a failed reload keeps the old map: the retry goes out and the answer says what was written (ordering groups %i)',
    async (groups) => {
      // Prepare: the stream was resharded into three shards the map does not know, so the first
      // request's entries land on unexpected shards (the map is reloaded), and one entry fails.
      orderingGroups = groups;
      limits = { ...DEFAULT_LIMITS, orderingGroups };
      const records = userRecords(40, { keys: 20 });
      const resharded = new ShardMap(evenShards(3).map((s, i) => ({ ...s, shardId: `shardId-00000000001${i}` })));
      const route = routeLikeKinesis(() => resharded);
      let call = 0;
      kinesis.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => {
        call++;
        const answer = route(input);
        return call === 1
          ? {
              ...answer,
              FailedRecordCount: 1,
              Records: answer.Records!.map((r, i) => (i === 0 ? { ErrorCode: 'ProvisionedThroughputExceededException' } : r)),
            }
          : answer;
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

      // Assess: records of aggregates that landed on shards the old map does not know went again
      // alone, routed by their own hash key (with ordering groups: one-record aggregates under
      // their group's key; without: raw); the failed entry's retry, planned on the old map, did the
      // same one request later.
      expect(loads.slice(0, 2)).toEqual([false, true]);
      const calls = kinesis.commandCalls(PutRecordsCommand);
      expect(calls.length).toBeGreaterThanOrEqual(3);
      const last = calls[calls.length - 1].args[0].input.Records!;
      expect(last.length).toBeGreaterThan(0);
      expect(last.every((entry) => isLoneEntry(entry, limits))).toBe(true);
      if (orderingGroups === 0) {
        expect(last.every((entry) => entry.ExplicitHashKey === undefined && entry.Data![0] !== 0xf3)).toBe(true);
      }
      expect(outcome.written).toEqual(records.map((r) => r.index));
      expect(outcome.failed).toEqual([]);
      expect(outcome.retries).toBe(1);
      expect(outcome.resentRecords).toBeGreaterThan(0);
    },
  );
});
