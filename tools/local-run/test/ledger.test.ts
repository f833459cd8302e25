import { aggregate } from 'aws-kinesis-agg';
import { parseArgs, UsageError } from '../args';
import { failedIndexes, producerWriter } from '../load-generator';
import { Ledger, makePayload, parsePayload, userRecordsOf } from '../ledger';
import type { PolledRecord } from '../poller';

/** Counting records by id, KPL de-aggregation, the producer's answer and the CLI flags. */
function polled(sequenceNumber: string, data: Uint8Array, partitionKey = 'k', shardId = 'shardId-000000000000'): PolledRecord {
  return { shardId, sequenceNumber, partitionKey, data, arrival: 0 };
}

function aggregated(payloads: Array<{ id: string; pk: string; n: number }>): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    aggregate(
      payloads.map((p) => ({ partitionKey: p.pk, data: Buffer.from(makePayload(p, 100)) })),
      (encoded, done) => {
        resolve(Buffer.from(encoded.data as Uint8Array));
        done();
      },
      () => undefined,
      reject,
    );
  });
}

describe('Ledger', () => {
  test('counts produced records consumed once, twice, never, on the failure destination and out of order', async () => {
    // Prepare
    const ledger = new Ledger();
    const payloads = Array.from({ length: 6 }, (_v, n) => ({ id: `r${n}`, pk: 'a', n }));
    payloads.forEach((p) => ledger.recordProduced(p));
    const blob = await aggregated(payloads.slice(0, 3));
    // Act
    ledger.recordProcessed([polled('100', blob)]);
    ledger.recordProcessed([polled('100', blob)]);
    ledger.recordProcessed([polled('300', Buffer.from(makePayload(payloads[4], 100)))]);
    ledger.recordProcessed([polled('200', Buffer.from(makePayload(payloads[3], 100)))]);
    ledger.recordFailed([polled('400', Buffer.from(makePayload(payloads[5], 100)))]);
    ledger.recordProcessed([polled('500', Buffer.from('not ours'))]);
    // Assess
    expect(ledger.result()).toMatchObject({
      produced: 6,
      consumedOnce: 2,
      duplicates: 3,
      lost: 0,
      toFailureDestination: 1,
      outOfOrder: 1,
      unknown: 1,
      kinesisRecords: 5,
    });
    expect(ledger.pending()).toBe(0);
  });

  test('counts what the processor saw by stream position, apart from what the consumer acknowledged', async () => {
    // Prepare
    const ledger = new Ledger();
    const payloads = Array.from({ length: 3 }, (_v, n) => ({ id: `p${n}`, pk: 'a', n }));
    payloads.forEach((p) => ledger.recordProduced(p));
    const blob = polled('700', await aggregated(payloads));
    ledger.recordRead([blob]);
    ledger.recordProcessed([blob]);
    // Act
    ledger.recordProcessorSaw('700', 0);
    ledger.recordProcessorSaw('700', 1);
    ledger.recordProcessorSaw('700', 1);
    ledger.recordProcessorSaw('999', 0);
    // Assess
    expect(ledger.processorObserved).toBe(true);
    expect(ledger.result()).toMatchObject({
      consumedOnce: 3,
      duplicates: 0,
      processor: { seenOnce: 1, duplicates: 1, missing: 1, outOfOrder: 0, sampleMissing: ['p2'], sampleDuplicates: ['p1'] },
    });
    expect(ledger.pending()).toBe(1);
  });

  test('checks the order the processor saw per user partition key, by stream position, apart from other keys and repeats', async () => {
    // Prepare: key a at 100/0, 100/1 and 300; key b at 200, seen before a's first.
    const ledger = new Ledger();
    const a = [0, 1, 2].map((n) => ({ id: `a${n}`, pk: 'a', n }));
    const b = { id: 'b0', pk: 'b', n: 0 };
    [...a, b].forEach((p) => ledger.recordProduced(p));
    ledger.recordRead([
      polled('100', await aggregated([a[0], a[1]]), 'og-1'),
      polled('200', Buffer.from(makePayload(b, 100)), 'b'),
      polled('300', Buffer.from(makePayload(a[2], 100)), 'og-1'),
    ]);
    // Act: b first (another key: no constraint), a0, a2, a1 (late), then a0 again (a repeat, not an order fault).
    for (const [sequence, sub] of [
      ['200', 0],
      ['100', 0],
      ['300', 0],
      ['100', 1],
      ['100', 0],
    ] as const) {
      ledger.recordProcessorSaw(sequence, sub);
    }
    // Assess
    expect(ledger.result().processor).toMatchObject({ seenOnce: 3, duplicates: 1, outOfOrder: 1, sampleOutOfOrder: ['a1'] });
  });

  test('checks the leases against what was acknowledged: the last record of each outer key on each shard', async () => {
    // Prepare: shard 0 acknowledges og-1 at 100 (2 sub-records) then 300, og-2 at 200; shard 1 og-1 at 150.
    const ledger = new Ledger();
    const payloads = Array.from({ length: 5 }, (_v, n) => ({ id: `c${n}`, pk: `u${n}`, n: 0 }));
    payloads.forEach((p) => ledger.recordProduced(p));
    ledger.recordProcessed([
      polled('100', await aggregated(payloads.slice(0, 2)), 'og-1'),
      polled('200', Buffer.from(makePayload(payloads[2], 100)), 'og-2'),
    ]);
    ledger.recordProcessed([polled('300', await aggregated(payloads.slice(3, 5)), 'og-1')]);
    ledger.recordProcessed([polled('150', Buffer.from(makePayload({ id: 'd', pk: 'u9', n: 0 }, 100)), 'og-1', 'shardId-000000000001')]);
    const asked: string[] = [];
    // Act: a lease that holds og-1 of shard 0 up to 300/1 only.
    const coverage = ledger.checkpointCoverage((shardId, key, sequence, sub) => {
      asked.push(`${shardId}/${key}@${sequence}/${sub}`);
      return shardId === 'shardId-000000000000' && key === 'og-1' && BigInt(sequence) <= 300n;
    });
    // Assess
    expect(asked.sort()).toEqual(['shardId-000000000000/og-1@300/1', 'shardId-000000000000/og-2@200/0', 'shardId-000000000001/og-1@150/0']);
    expect(coverage).toEqual({
      outerKeys: 3,
      uncovered: 2,
      sampleUncovered: ['shardId-000000000000/og-2@200/0', 'shardId-000000000001/og-1@150/0'],
    });
  });

  test('tells a record reported not written but consumed from one not of this run', () => {
    const ledger = new Ledger();
    ledger.recordRejected('late');
    ledger.recordProcessed([
      polled('1', Buffer.from(makePayload({ id: 'late', pk: 'a', n: 0 }, 100))),
      polled('2', Buffer.from(makePayload({ id: 'stranger', pk: 'a', n: 1 }, 100))),
    ]);
    expect(ledger.result()).toMatchObject({ rejected: 1, rejectedButConsumed: 1, unknown: 1, lost: 0 });
  });

  test('with a consumer that skips out-of-range records, leaves the aggregated copies its shard does not own out, never plain records', async () => {
    // Prepare: one aggregate holding keys p1 and p2, where the shard owns p1 only; p2 was re-sent.
    const ledger = new Ledger((_shardId, user) => user.partitionKey === 'p1');
    const payloads = [
      { id: 'in', pk: 'p1', n: 0 },
      { id: 'resent', pk: 'p2', n: 0 },
    ];
    payloads.forEach((p) => ledger.recordProduced(p));
    // Act
    ledger.recordProcessed([polled('100', await aggregated(payloads))]);
    ledger.recordProcessed([polled('200', Buffer.from(makePayload(payloads[1], 100)), 'p2')]);
    // Assess
    expect(ledger.result()).toMatchObject({ produced: 2, consumedOnce: 2, duplicates: 0, lost: 0, outOfOrder: 0 });
  });

  test('reports a produced record never consumed as lost', () => {
    const ledger = new Ledger();
    ledger.recordProduced({ id: 'x', pk: 'a', n: 0 });
    expect(ledger.result()).toMatchObject({ lost: 1, sampleLost: ['x'] });
    expect(ledger.pending()).toBe(1);
  });
});

describe('payloads', () => {
  test('are padded to the record size and parse back', () => {
    const text = makePayload({ id: 'run-1', pk: 'key-1', n: 3 }, 512);
    expect(Buffer.byteLength(text)).toBe(512);
    expect(parsePayload(Buffer.from(text))).toEqual({ id: 'run-1', pk: 'key-1', n: 3 });
    expect(parsePayload(Buffer.from('{"id":1}'))).toBeUndefined();
  });

  test('an aggregated record yields its user records with their partition keys; a plain one itself', async () => {
    const blob = await aggregated([
      { id: 'a', pk: 'p1', n: 0 },
      { id: 'b', pk: 'p2', n: 0 },
    ]);
    expect(userRecordsOf(polled('1', blob)).map((user) => [user.partitionKey, parsePayload(user.data)?.id])).toEqual([
      ['p1', 'a'],
      ['p2', 'b'],
    ]);
    expect(userRecordsOf(polled('1', blob)).every((user) => user.aggregated)).toBe(true);
    expect(userRecordsOf(polled('1', Buffer.from('plain')))).toEqual([
      { partitionKey: 'k', data: Buffer.from('plain'), aggregated: false },
    ]);
  });
});

describe('failedIndexes', () => {
  test('reads the failed records of a producer answer, direct or in an HTTP body', () => {
    expect(failedIndexes({ written: 1, failed: [{ index: 2, reason: 'throttled' }] })).toEqual([{ index: 2, reason: 'throttled' }]);
    expect(failedIndexes({ statusCode: 207, body: JSON.stringify({ failures: [{ index: 0, errorCode: 'X' }] }) })).toEqual([
      { index: 0, reason: 'X' },
    ]);
    expect(failedIndexes({ written: 3 })).toEqual([]);
    expect(failedIndexes(null)).toEqual([]);
  });
});

describe('producerWriter', () => {
  const records = [
    { data: 'a', partitionKey: 'k' },
    { data: 'b', partitionKey: 'k' },
  ];

  test('passes the records as a direct invoke and reads the failures from the answer or from a ProducerWriteError', async () => {
    // Prepare
    const events: unknown[] = [];
    const answers = [
      {
        ok: true as const,
        result: {
          recordCount: 2,
          writtenCount: 1,
          failedCount: 1,
          failed: [{ index: 1, errorCode: 'ProvisionedThroughputExceededException' }],
        },
        durationMs: 1,
      },
      {
        ok: false as const,
        error: {
          name: 'ProducerWriteError',
          message: '1 of 2',
          details: { result: { failed: [{ index: 0, errorCode: 'InternalFailure' }] } },
        },
        durationMs: 1,
      },
      { ok: false as const, error: { name: 'Sandbox.Timedout', message: 'late' }, durationMs: 1 },
    ];
    const writer = producerWriter({
      invoke: async (event) => {
        events.push(event);
        return answers[events.length - 1];
      },
    });
    // Act
    const results = [await writer(records), await writer(records), await writer(records)];
    // Assess
    expect(events[0]).toEqual({ records });
    expect(results.map((result) => result.failed.map((f) => f.index))).toEqual([[1], [0], [0, 1]]);
    expect(results[0].failed[0].reason).toBe('ProvisionedThroughputExceededException');
  });
});

describe('parseArgs', () => {
  test('reads the flags with their defaults', () => {
    expect(parseArgs(['--duration', '10', '--rate=250', '--record-size', '1024', '--kinesis-port', '4567'])).toMatchObject({
      durationMs: 10_000,
      rate: 250,
      recordSize: 1024,
      kinesisPort: 4567,
      dynamodbPort: 0,
      stackName: 'ProvisionedPipeline',
      emulator: 'auto',
      drainMs: 20_000,
    });
    expect(parseArgs([])).not.toHaveProperty('shards');
    expect(parseArgs(['--shards', '1'])).toMatchObject({ shards: 1 });
    expect(parseArgs([])).not.toHaveProperty('parallelizationFactor');
    expect(parseArgs([])).toMatchObject({ redeliverEvery: 0 });
    expect(parseArgs(['--parallelization-factor', '4', '--redeliver-every=10'])).toMatchObject({
      parallelizationFactor: 4,
      redeliverEvery: 10,
    });
  });

  test('rejects unknown flags, missing values and out-of-range numbers with the rule and the value', () => {
    expect(() => parseArgs(['--speed', '3'])).toThrow(UsageError);
    expect(() => parseArgs(['--rate'])).toThrow(/--rate needs a value/);
    expect(() => parseArgs(['--rate', '0'])).toThrow(/--rate must be a whole number from 1 to 100000; received '0'/);
    expect(() => parseArgs(['--shards', '1.5'])).toThrow(/--shards must be a whole number from 1 to 10000; received '1.5'/);
    expect(() => parseArgs(['--emulator', 'docker'])).toThrow(/--emulator must be auto, kinesalite or kinesis-local; received 'docker'/);
    expect(() => parseArgs(['--parallelization-factor', '11'])).toThrow(
      /--parallelization-factor must be a whole number from 1 to 10; received '11'/,
    );
    expect(() => parseArgs(['--redeliver-every', '-1'])).toThrow(
      /--redeliver-every must be a whole number from 0 to 1000000; received '-1'/,
    );
  });
});
