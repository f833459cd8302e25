import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Writable } from 'stream';
import { runLocal, type LocalRunResult } from '../../run';

/**
 * A short `npm run local`: the app synthesized with bundling, the bundled handlers on kinesalite
 * and dynalite, a few seconds of load at a small rate, the mapping as the app defines it
 * (parallelization factor above 1, per-key concurrency), every third finished batch delivered
 * again. Every record produced must be processed exactly once, in order per user partition key,
 * the leases must hold it all, and nothing the run started may still be listening afterwards.
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
  run = await runLocal({
    durationMs: 4000,
    rate: 160,
    recordSize: 256,
    partitionKeys: 8,
    redeliverEvery: 3,
    view: 'lines',
    drainMs: 15_000,
    outDir,
    out,
  });
}, 90_000);

afterAll(() => fs.rmSync(outDir, { recursive: true, force: true }));

function activeServers(): number {
  const resources = (process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo();
  return resources.filter((name) => name === 'TCPServerWrap').length;
}

describe('npm run local (short run)', () => {
  test('consumes every record the producer accepted exactly once, in order per user partition key', () => {
    const { ledger } = run.report;
    // At least a second's worth of the rate (the machine may be busy); exactness is what counts.
    expect(ledger.produced).toBeGreaterThanOrEqual(160);
    expect(ledger.rejected).toBe(0);
    expect(ledger.consumedOnce).toBe(ledger.produced);
    expect(ledger).toMatchObject({ lost: 0, duplicates: 0, toFailureDestination: 0, outOfOrder: 0, unknown: 0 });
    expect(run.ok).toBe(true);
  });

  test("runs the app's mapping: a parallelization factor above 1, each shard in that many lanes, per-key concurrency in the consumer", () => {
    const { report } = run;
    expect(report.parallelizationFactor).toBeGreaterThan(1);
    expect(report.mapping).toContain(`parallelization ${report.parallelizationFactor},`);
    expect(report.consumerSettings).toMatch(
      /^ordering partition-key, max concurrency (\d+), max parallelization factor (\d+), checkpointing on$/,
    );
    const [, concurrency, maxFactor] = /max concurrency (\d+), max parallelization factor (\d+)/.exec(report.consumerSettings!)!;
    expect(Number(concurrency)).toBeGreaterThan(1);
    expect(Number(maxFactor)).toBeGreaterThanOrEqual(report.parallelizationFactor);
    expect(report.checkpoints.map((shard) => shard.lanes)).toEqual(report.checkpoints.map(() => report.parallelizationFactor));
    expect(report.poller.maxInFlightPerShard).toBeGreaterThanOrEqual(1);
    expect(report.poller.maxInFlightPerShard).toBeLessThanOrEqual(report.parallelizationFactor);
  });

  test('runs the bundled producer and consumer; the example processor sees each record once, in order per key, and redelivered batches are skipped whole', () => {
    const { ledger, poller } = run.report;
    expect(run.report.producer).toMatch(/Pipeline\/Producer\/Resource \(bundled/);
    expect(run.report.consumer).toMatch(/Pipeline\/Consumer\/Resource \(bundled/);
    expect(ledger.processor).toMatchObject({ seenOnce: ledger.produced, missing: 0, duplicates: 0, outOfOrder: 0 });
    // The producer aggregated: fewer Kinesis records than user records.
    expect(ledger.kinesisRecords).toBeLessThan(ledger.produced);
    expect(poller.redeliveries).toBeGreaterThan(0);
    expect(poller.redeliveryFailures).toBe(0);
    expect(run.report.handlerMetrics.consumer.get('DuplicatesSkipped')).toBeGreaterThan(0);
  });

  test('leaves in the leases all that was acknowledged: the checkpoint never past it, the per-key progress above it', () => {
    const { leaseCoverage, checkpoints } = run.report;
    expect(leaseCoverage).toMatchObject({ uncovered: 0, sampleUncovered: [] });
    expect(leaseCoverage!.outerKeys).toBeGreaterThan(0);
    for (const shard of checkpoints) {
      expect(shard.checkpoint).toBeDefined();
      const sequence = shard.checkpoint!.split('/')[0];
      if (/^\d+$/.test(sequence) && shard.processed) {
        expect(BigInt(sequence)).toBeLessThanOrEqual(BigInt(shard.processed));
      }
    }
    // Above parallelization factor 1 the checkpoint stays put and the progress moves.
    expect(checkpoints.some((shard) => (shard.progressKeys ?? 0) > 0)).toBe(true);
  });

  test('prints a summary with the verdict and a live line while it runs', () => {
    expect(output).toContain(
      `RESULT: OK: all ${run.report.ledger.produced} records consumed exactly once (as the processor saw them), in order per user partition key`,
    );
    expect(output).toMatch(/produced +\d+\/s +total +\d+ +consumed/);
    const summary = run.lines.join('\n');
    expect(summary).toMatch(/acknowledged by the consumer once +\d+/);
    expect(summary).toMatch(/seen out of order per user key +0/);
    expect(summary).toMatch(/duplicates skipped by the consumer +[1-9]\d* \(\d+ finished batches delivered again, one in 3\)/);
    expect(summary).toMatch(/leases hold what was acknowledged +yes/);
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
