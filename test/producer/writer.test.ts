import { KinesisClient, ListShardsCommand, PutRecordsCommand, type PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import { DEFAULT_LIMITS } from '../../lambda/producer/limits';
import { planEntries } from '../../lambda/producer/aggregate';
import { joinIndices, preparePlan, writeRecords, type WriteOptions } from '../../lambda/producer/writer';
import { decodeAggregated, isAggregated } from '../../lambda/shared/kpl-codec';
import { TimeBudget, fullJitterDelay } from '../../lambda/shared/retry';
import { ShardMap, ShardMapCache, listShards } from '../../lambda/shared/shard-map';
import { evenShards, isLoneEntry, routeLikeKinesis, userRecords, usersOf } from './fixtures';

const kinesis = mockClient(KinesisClient);
const STREAM = 'test';

/** User-record indices inside each entry of a PutRecords request. */
function indicesOf(input: PutRecordsCommandInput): number[][] {
  return input.Records!.map((r) =>
    (isAggregated(r.Data!) ? decodeAggregated(r.Data!) : [{ data: r.Data! }]).map((u) =>
      Number(Buffer.from(u.data).toString().split(':')[0]),
    ),
  );
}

function options(overrides: Partial<WriteOptions> = {}): WriteOptions {
  return {
    client: new KinesisClient({ region: 'us-east-1' }),
    streamName: STREAM,
    limits: { ...DEFAULT_LIMITS, maxAggregateBytes: 400 },
    backoff: { baseMs: 10, maxMs: 100 },
    budget: new TimeBudget(Date.now() + 60_000),
    shardMap: async () => new ShardMap(evenShards(2)),
    wait: async () => undefined,
    random: () => 0.5,
    ...overrides,
  };
}

const TWO_SHARDS = new ShardMap(evenShards(2));
/** Kinesis's result for each entry: stored on the shard (of two) that owns its hash key. */
const stored = (input: PutRecordsCommandInput) => routeLikeKinesis(() => TWO_SHARDS)(input).Records!;

beforeEach(() => kinesis.reset());

describe('joinIndices', () => {
  test("joins a round's index lists in order, and past what a spread call can carry (a round of 200,000 lone records)", () => {
    expect(joinIndices([[0, 3], [], [1]])).toEqual([0, 3, 1]);
    const lone = Array.from({ length: 200_000 }, (_, index) => [index]);
    expect(joinIndices(lone)).toEqual(lone.map(([index]) => index));
  });
});

describe('writeRecords', () => {
  test('writes every record in one PutRecords request, aggregated by shard', async () => {
    // Prepare
    const records = userRecords(100, { keys: 10 });
    kinesis.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => ({ FailedRecordCount: 0, Records: stored(input) }));

    // Act: aggregates large enough that each (shard, group) needs one, so one request carries them all.
    const outcome = await writeRecords(records, options({ limits: DEFAULT_LIMITS }));

    // Assess
    const calls = kinesis.commandCalls(PutRecordsCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0].args[0].input.StreamName).toBe(STREAM);
    expect(calls[0].args[0].input.Records!.length).toBeLessThan(100);
    expect(
      indicesOf(calls[0].args[0].input)
        .flat()
        .sort((a, b) => a - b),
    ).toEqual(records.map((r) => r.index));
    expect(outcome).toMatchObject({ failed: [], retries: 0, throttledEntries: 0 });
    expect(outcome.written).toEqual(records.map((r) => r.index));
    expect(outcome.writtenCount).toBe(100);
  });

  test('retries only the failed entries after partial failures and throttling', async () => {
    // Prepare
    const records = userRecords(60, { keys: 30 });
    let call = 0;
    kinesis.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => {
      call++;
      return {
        FailedRecordCount: 1,
        Records: stored(input).map((result, i) =>
          call < 3 && i === 0
            ? { ErrorCode: call === 1 ? 'ProvisionedThroughputExceededException' : 'InternalFailure', ErrorMessage: 'slow down' }
            : result,
        ),
      };
    });

    // Act
    const outcome = await writeRecords(records, options());

    // Assess
    const calls = kinesis.commandCalls(PutRecordsCommand).map((c) => indicesOf(c.args[0].input));
    expect(calls).toHaveLength(3);
    expect(calls[1].flat().sort((a, b) => a - b)).toEqual(calls[0][0].sort((a, b) => a - b));
    expect(outcome).toMatchObject({ failed: [], retries: 2, throttledEntries: 1 });
    expect(outcome.written).toEqual(records.map((r) => r.index));
  });

  test('retries a throttled request with growing full-jitter delays', async () => {
    // Prepare
    const records = userRecords(5);
    const delays: number[] = [];
    kinesis
      .on(PutRecordsCommand)
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ProvisionedThroughputExceededException' }))
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ProvisionedThroughputExceededException' }))
      .callsFake((input: PutRecordsCommandInput) => ({ FailedRecordCount: 0, Records: stored(input) }));

    // Act
    const outcome = await writeRecords(
      records,
      options({
        wait: async (ms) => {
          delays.push(ms);
        },
      }),
    );

    // Assess
    // random 0.5 × caps 10, 20, less the few ms the writer's own work took since the answer
    expect(delays).toHaveLength(2);
    expect(delays[0]).toBeGreaterThanOrEqual(3);
    expect(delays[0]).toBeLessThanOrEqual(5);
    expect(delays[1]).toBeGreaterThanOrEqual(8);
    expect(delays[1]).toBeLessThanOrEqual(10);
    expect(outcome.written).toHaveLength(5);
    expect(outcome.throttledEntries).toBeGreaterThanOrEqual(2);
  });

  test('reports records that never succeed, by index, once the time budget is spent', async () => {
    // Prepare
    const records = userRecords(40, { keys: 20 });
    let now = 0;
    let failedIndices: number[] = [];
    kinesis.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => {
      failedIndices = indicesOf(input)[0];
      return {
        FailedRecordCount: 1,
        Records: stored(input).map((result, i) =>
          i === 0 ? { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded' } : result,
        ),
      };
    });

    // Act
    const outcome = await writeRecords(
      records,
      options({
        budget: new TimeBudget(2_000, () => now),
        wait: async (ms) => {
          now += ms + 400;
        },
      }),
    );

    // Assess
    expect(outcome.failed.map((f) => f.index)).toEqual([...failedIndices].sort((a, b) => a - b));
    expect(outcome.failed[0]).toMatchObject({
      errorCode: 'ProvisionedThroughputExceededException',
      errorMessage: expect.stringMatching(/time budget/),
    });
    expect([...outcome.written, ...outcome.failed.map((f) => f.index)].sort((a, b) => a - b)).toEqual(records.map((r) => r.index));
    expect(outcome.written.filter((i) => failedIndices.includes(i))).toEqual([]);
  });

  test('fails at once on errors that retrying cannot fix, and a failed aggregate fails all its records', async () => {
    // Prepare
    const records = userRecords(30, { keys: 3 });
    kinesis.on(PutRecordsCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));

    // Act
    const outcome = await writeRecords(records, options());

    // Assess
    expect(kinesis.commandCalls(PutRecordsCommand)).toHaveLength(1);
    expect(outcome.written).toEqual([]);
    expect(outcome.failed).toHaveLength(30);
    expect(outcome.failed.every((f) => f.errorCode === 'AccessDeniedException' && f.errorMessage === 'denied')).toBe(true);
  });

  test('refreshes the shard map when an entry lands on an unexpected shard, and re-plans retries with it', async () => {
    // Prepare: the map has two shards; Kinesis has split the upper one, and fails one entry once.
    const records = userRecords(40, { keys: 20 });
    const [low, high] = evenShards(2);
    const mid = high.start + (high.end - high.start) / 2n;
    const split = new ShardMap(
      [
        low,
        { shardId: 'shardId-000000000002', start: high.start, end: mid },
        { shardId: 'shardId-000000000003', start: mid + 1n, end: high.end },
      ],
      [high],
    );
    const route = routeLikeKinesis(() => split);
    let call = 0;
    kinesis.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => {
      call++;
      const answer = route(input);
      return call === 1
        ? { ...answer, FailedRecordCount: 1, Records: answer.Records!.map((r, i) => (i === 0 ? { ErrorCode: 'InternalFailure' } : r)) }
        : answer;
    });
    const refreshes: boolean[] = [];
    const planned: ShardMap[] = [];

    // Act
    const outcome = await writeRecords(
      records,
      options({
        shardMap: async (refresh) => {
          refreshes.push(refresh);
          const map = refreshes.length === 1 ? new ShardMap(evenShards(2)) : split;
          planned.push(map);
          return map;
        },
      }),
    );

    // Assess
    expect(refreshes).toEqual([false, true]);
    expect(outcome.misroutedEntries).toBeGreaterThan(0);
    expect(outcome.retries).toBe(1);
    // The retry was planned on the reloaded map: every aggregate of the second request goes to the
    // start of one of its shards, and a record alone is routed by its own hash key.
    const second = kinesis.commandCalls(PutRecordsCommand)[1].args[0].input.Records!;
    expect(
      second.every((entry) =>
        usersOf(entry).length > 1
          ? split.shards.some((s) => s.start === BigInt(entry.ExplicitHashKey!))
          : isLoneEntry(entry, DEFAULT_LIMITS),
      ),
    ).toBe(true);
    expect(outcome.written).toEqual(records.map((r) => r.index));
    expect(outcome.failed).toEqual([]);
  });
});

describe('writeRecords: progress hooks', () => {
  test('onWritten hears every round, and last is true only for the round after which nothing is left to send', async () => {
    // Prepare: the first entry of the first two calls is throttled, so its cell takes more rounds.
    const records = userRecords(60, { keys: 30 });
    let call = 0;
    kinesis.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => {
      call++;
      return {
        FailedRecordCount: 1,
        Records: stored(input).map((result, i) =>
          call < 3 && i === 0 ? { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'slow down' } : result,
        ),
      };
    });
    const rounds: Array<{ count: number; last: boolean }> = [];

    // Act
    const outcome = await writeRecords(
      records,
      options({
        onWritten: async (indices, last) => {
          rounds.push({ count: indices.length, last });
          return true;
        },
      }),
    );

    // Assess
    expect(outcome.failed).toEqual([]);
    expect(rounds.length).toBeGreaterThan(1);
    expect(rounds.slice(0, -1).every((r) => !r.last)).toBe(true);
    expect(rounds[rounds.length - 1].last).toBe(true);
    expect(rounds.reduce((sum, r) => sum + r.count, 0)).toBe(60);
  });

  test('sends the entries planned ahead for the same records and map, and plans again for other records', async () => {
    // Prepare
    const records = userRecords(100, { keys: 10 });
    const map = new ShardMap(evenShards(2));
    kinesis.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => ({ FailedRecordCount: 0, Records: stored(input) }));
    const plan = await preparePlan(records, async () => map, DEFAULT_LIMITS);
    const marked = plan!.entries.map((entry) => ({ ...entry, partitionKey: `planned-${entry.partitionKey}` }));

    // Act
    await writeRecords(records, options({ limits: DEFAULT_LIMITS, shardMap: async () => map, prepared: { ...plan!, entries: marked } }));
    const sentPlanned = kinesis.commandCalls(PutRecordsCommand).flatMap((c) => c.args[0].input.Records!.map((r) => r.PartitionKey));
    kinesis.resetHistory();
    await writeRecords(
      records.slice(1),
      options({ limits: DEFAULT_LIMITS, shardMap: async () => map, prepared: { ...plan!, entries: marked } }),
    );
    const sentOther = kinesis.commandCalls(PutRecordsCommand).flatMap((c) => c.args[0].input.Records!.map((r) => r.PartitionKey));

    // Assess
    expect(plan!.entries).toEqual(planEntries(records, map, DEFAULT_LIMITS));
    expect(sentPlanned.every((key) => key!.startsWith('planned-'))).toBe(true);
    expect(sentOther.some((key) => key!.startsWith('planned-'))).toBe(false);
  });

  test('preparePlan gives nothing when the shard map cannot be had (the writer loads it with its retries)', async () => {
    expect(
      await preparePlan(
        userRecords(3, { keys: 1 }),
        async () => {
          throw new Error('throttled');
        },
        DEFAULT_LIMITS,
      ),
    ).toBeUndefined();
  });
});

describe('shard map', () => {
  test('lists every page and keeps only open shards', async () => {
    // Prepare
    kinesis
      .on(ListShardsCommand, { StreamName: STREAM })
      .resolves({
        Shards: [
          {
            ShardId: 'closed',
            HashKeyRange: { StartingHashKey: '0', EndingHashKey: '340282366920938463463374607431768211455' },
            SequenceNumberRange: { StartingSequenceNumber: '1', EndingSequenceNumber: '9' },
          },
          {
            ShardId: 'low',
            HashKeyRange: { StartingHashKey: '0', EndingHashKey: '99' },
            SequenceNumberRange: { StartingSequenceNumber: '10' },
          },
        ],
        NextToken: 'page-2',
      })
      .on(ListShardsCommand, { NextToken: 'page-2' })
      .resolves({
        Shards: [
          {
            ShardId: 'high',
            HashKeyRange: { StartingHashKey: '100', EndingHashKey: '340282366920938463463374607431768211455' },
            SequenceNumberRange: { StartingSequenceNumber: '10' },
          },
        ],
      });

    // Act
    const map = ShardMap.fromShards(await listShards(new KinesisClient({ region: 'us-east-1' }), STREAM));

    // Assess
    expect(map.shards.map((s) => s.shardId)).toEqual(['low', 'high']);
    expect(map.shardFor(99n).shardId).toBe('low');
    expect(map.shardFor(100n).shardId).toBe('high');
    expect(kinesis.commandCalls(ListShardsCommand)[1].args[0].input).toEqual({ NextToken: 'page-2' });
  });

  test('the cache loads once, reloads after invalidate or its TTL, and does not keep failures', async () => {
    // Prepare
    let loads = 0;
    let now = 0;
    let fail = true;
    const cache = new ShardMapCache(
      async () => {
        loads++;
        if (fail) {
          fail = false;
          throw new Error('ListShards failed');
        }
        return new ShardMap(evenShards(1));
      },
      1_000,
      () => now,
    );

    // Act / Assess
    await expect(cache.get()).rejects.toThrow('ListShards failed');
    await cache.get();
    await cache.get();
    expect(loads).toBe(2);
    cache.invalidate();
    await cache.get();
    now = 5_000;
    await cache.get();
    expect(loads).toBe(4);
  });
});

describe('retry', () => {
  test('full jitter draws below a cap that doubles up to the maximum', () => {
    expect([0, 1, 2, 3, 10].map((attempt) => fullJitterDelay(attempt, { baseMs: 100, maxMs: 1_000 }, () => 0.999))).toEqual([
      99, 199, 399, 799, 999,
    ]);
    expect(fullJitterDelay(5, { baseMs: 100, maxMs: 1_000 }, () => 0)).toBe(0);
  });

  test('the time budget keeps a safety margin', () => {
    const budget = TimeBudget.fromRemaining(10_000, 1_000, () => 0);
    expect(budget.remaining()).toBe(9_000);
    expect(budget.allows(8_000, 500)).toBe(true);
    expect(budget.allows(8_600, 500)).toBe(false);
  });
});
