import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Writable } from 'stream';
import { runLocal, type LocalRunResult } from '../../scripts/local/run';

/**
 * A short `npm run local`: the app synthesized with bundling, the bundled handlers on kinesalite
 * and dynalite, a few seconds of load at a small rate. Every record produced must be consumed
 * exactly once, and nothing the run started may still be listening afterwards.
 */
const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'local-run-test-'));
let output = '';
let run: LocalRunResult;
let handlesBefore: number;

beforeAll(async () => {
  const out = new Writable({
    write(chunk, _encoding, done) {
      output += String(chunk);
      done();
    },
  });
  handlesBefore = activeServers();
  run = await runLocal({ durationMs: 4000, rate: 40, recordSize: 256, partitionKeys: 8, view: 'lines', drainMs: 15_000, outDir, out });
}, 90_000);

afterAll(() => fs.rmSync(outDir, { recursive: true, force: true }));

function activeServers(): number {
  const resources = (process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo();
  return resources.filter((name) => name === 'TCPServerWrap').length;
}

describe('npm run local (short run)', () => {
  test('consumes every record the producer accepted exactly once, in order per partition key', () => {
    const { ledger } = run.report;
    // At least a second's worth of the rate (the machine may be busy); exactness is what counts.
    expect(ledger.produced).toBeGreaterThanOrEqual(40);
    expect(ledger.rejected).toBe(0);
    expect(ledger.consumedOnce).toBe(ledger.produced);
    expect(ledger).toMatchObject({ lost: 0, duplicates: 0, toFailureDestination: 0, outOfOrder: 0, unknown: 0 });
    expect(run.ok).toBe(true);
  });

  test('runs the bundled producer and consumer, and the example processor sees each record once', () => {
    const { ledger } = run.report;
    expect(run.report.producer).toMatch(/Pipeline\/Producer\/Resource \(bundled/);
    expect(run.report.consumer).toMatch(/Pipeline\/Consumer\/Resource \(bundled/);
    expect(ledger.processor).toMatchObject({ seenOnce: ledger.produced, missing: 0, duplicates: 0 });
    // The producer aggregated: fewer Kinesis records than user records.
    expect(ledger.kinesisRecords).toBeLessThan(ledger.produced);
    expect(run.report.handlerMetrics.consumer.get('DuplicatesSkipped')).toBe(0);
  });

  test('leaves a checkpoint in the lease table at the last record processed on each shard', () => {
    for (const shard of run.report.checkpoints) {
      if (shard.processed) {
        expect(shard.checkpoint?.split('/')[0]).toBe(shard.processed);
      }
    }
    expect(run.report.checkpoints.some((shard) => shard.checkpoint !== undefined)).toBe(true);
  });

  test('prints a summary with the verdict and a live line while it runs', () => {
    expect(output).toContain(`RESULT: OK: all ${run.report.ledger.produced} records consumed exactly once`);
    expect(output).toMatch(/produced +\d+\/s +total +\d+ +consumed/);
    expect(run.lines.join('\n')).toMatch(/acknowledged by the consumer once +\d+/);
  });

  test('runs the stream as the template defines it and stops every emulator it started', async () => {
    expect(run.report.shardCount).toBe(2);
    expect(run.report.checkpoints.map((shard) => shard.shardId)).toEqual(['shardId-000000000000', 'shardId-000000000001']);
    // Closed listeners leave the handle list once their sockets have closed (a few event-loop turns).
    for (let turn = 0; turn < 50 && activeServers() > handlesBefore; turn += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(activeServers()).toBe(handlesBefore);
  });
});
