import type { CheckpointCoverage, LedgerResult } from './ledger';
import type { LoadStats } from './load-generator';
import type { PollerStats } from './poller';
import { describeCheckpoint, shortSequence, type ShardCheckpoint } from './view';

/** What a local run measured, and the verdict. */
export interface LocalRunReport {
  readonly stackName: string;
  readonly emulators: string;
  readonly producer: string;
  readonly consumer: string;
  readonly scaler: string;
  readonly scalerInvocations: readonly string[];
  readonly notEmulated: readonly string[];
  /** The handlers' own EMF metrics, summed, by role. */
  readonly handlerMetrics: Readonly<Record<string, ReadonlyMap<string, number>>>;
  readonly mapping: string;
  /** The consumer's ordering, concurrency, maximum parallelization factor and checkpointing, from its environment. */
  readonly consumerSettings?: string;
  /** The factor the local mapping ran with. */
  readonly parallelizationFactor: number;
  readonly redeliverEvery: number;
  readonly durationMs: number;
  readonly drainMs: number;
  readonly rate: number;
  readonly recordSize: number;
  readonly ledger: LedgerResult;
  readonly load: LoadStats;
  readonly poller: PollerStats;
  readonly shardCount: number;
  readonly checkpoints: readonly ShardCheckpoint[];
  /** Whether the leases hold every acknowledged record as processed; undefined without checkpointing. */
  readonly leaseCoverage?: CheckpointCoverage;
  readonly failureFile?: string;
  readonly logDir: string;
}

/**
 * Every record the producer accepted was consumed exactly once, in order per user partition key
 * (as acknowledged, and as the processor saw them), redelivered batches were skipped whole, the
 * leases hold everything acknowledged, and nothing else went wrong.
 */
export function exactlyOnce(report: LocalRunReport): boolean {
  const { ledger } = report;
  const processorOk =
    ledger.processor === undefined ||
    (ledger.processor.missing === 0 && ledger.processor.duplicates === 0 && ledger.processor.outOfOrder === 0);
  const leasesOk = report.leaseCoverage === undefined || report.leaseCoverage.uncovered === 0;
  return (
    processorOk &&
    leasesOk &&
    report.poller.redeliveryFailures === 0 &&
    ledger.produced > 0 &&
    ledger.lost === 0 &&
    ledger.duplicates === 0 &&
    ledger.toFailureDestination === 0 &&
    ledger.outOfOrder === 0
  );
}

export function formatSummary(report: LocalRunReport): string[] {
  const { ledger, load, poller } = report;
  const seconds = report.durationMs / 1000;
  const row = (label: string, value: string | number) => `  ${label.padEnd(36)} ${value}`;
  const duplicatesSkipped = report.handlerMetrics.consumer?.get('DuplicatesSkipped');
  const lines = [
    '',
    `Summary: ${report.stackName} on ${report.emulators}, ${seconds.toFixed(0)} s at ${report.rate} records/s of ${report.recordSize} B (then ${(report.drainMs / 1000).toFixed(1)} s draining)`,
    row('producer', report.producer),
    row('consumer', report.consumer),
    row('event-source mapping', report.mapping),
    ...(report.consumerSettings ? [row('consumer settings', report.consumerSettings)] : []),
    row('scaler', report.scaler),
    ...report.scalerInvocations.map((line) => row('', line)),
    ...(report.notEmulated.length ? [row('not emulated', report.notEmulated.join(', '))] : []),
    row('records sent to the producer', `${load.sent} in ${load.calls} calls (${(load.sent / seconds).toFixed(1)}/s)`),
    row('accepted (produced)', ledger.produced),
    row('rejected by the producer', `${ledger.rejected}${load.lastError ? ` (last: ${load.lastError.slice(0, 80)})` : ''}`),
    row(
      'Kinesis records processed',
      `${ledger.kinesisRecords} (${ledger.kinesisRecords > 0 ? (ledger.consumedOnce / ledger.kinesisRecords).toFixed(1) : '0'} user records each)`,
    ),
    ...(ledger.processor
      ? [
          row('seen by the processor exactly once', ledger.processor.seenOnce),
          row(
            'never seen by the processor',
            `${ledger.processor.missing}${ledger.processor.sampleMissing.length ? ` e.g. ${ledger.processor.sampleMissing.join(', ')}` : ''}`,
          ),
          row(
            'seen by the processor more than once',
            `${ledger.processor.duplicates}${ledger.processor.sampleDuplicates.length ? ` e.g. ${ledger.processor.sampleDuplicates.join(', ')}` : ''}`,
          ),
          row(
            'seen out of order per user key',
            `${ledger.processor.outOfOrder}${ledger.processor.sampleOutOfOrder.length ? ` e.g. ${ledger.processor.sampleOutOfOrder.join(', ')}` : ''}`,
          ),
        ]
      : [row('processor', 'does not log its records: counted from what the consumer acknowledged')]),
    row('acknowledged by the consumer once', ledger.consumedOnce),
    row('lost (never acknowledged)', `${ledger.lost}${ledger.sampleLost.length ? ` e.g. ${ledger.sampleLost.join(', ')}` : ''}`),
    row(
      'acknowledged more than once',
      `${ledger.duplicates}${ledger.sampleDuplicates.length ? ` e.g. ${ledger.sampleDuplicates.join(', ')}` : ''}`,
    ),
    row('acknowledged out of order per user key', ledger.outOfOrder),
    row(
      'duplicates skipped by the consumer',
      `${duplicatesSkipped === undefined ? 'not reported' : duplicatesSkipped} (${poller.redeliveries} finished batches delivered again${report.redeliverEvery > 0 ? `, one in ${report.redeliverEvery}` : ''}${poller.redeliveryFailures ? `, ${poller.redeliveryFailures} of them not skipped whole` : ''})`,
    ),
    row(
      'on-failure destination',
      `${poller.failureBatches} batches, ${ledger.toFailureDestination} records${report.failureFile && poller.failureBatches ? ` (${report.failureFile})` : ''}`,
    ),
    row(
      'consumer invocations',
      `${poller.invocations} (${poller.functionErrors} errors, ${poller.partialFailures} partial failures, ${poller.retries} retries, ${poller.bisects} bisects)`,
    ),
    row(
      'batches of one shard in flight',
      `at most ${poller.maxInFlightPerShard} at once (parallelization factor ${report.parallelizationFactor})`,
    ),
    ...Object.entries(report.handlerMetrics)
      .filter(([, sums]) => sums.size > 0)
      .map(([role, sums]) =>
        row(`${role} metrics (EMF counts)`, [...sums].map(([name, value]) => `${name} ${Math.round(value * 100) / 100}`).join(', ')),
      ),
    row('max iterator age', `${poller.maxIteratorAgeMs} ms`),
    row('shards at the end', report.shardCount),
  ];
  for (const shard of report.checkpoints) {
    lines.push(
      row(
        `  ${shard.shardId}`,
        `${describeCheckpoint(shard, 12)}, processed ${shortSequence(shard.processed, 12)}${shard.lanes ? ` in ${shard.lanes} lanes` : ''}`,
      ),
    );
  }
  const coverage = report.leaseCoverage;
  if (coverage) {
    lines.push(
      row(
        'leases hold what was acknowledged',
        coverage.uncovered === 0
          ? `yes: the last record of each of ${coverage.outerKeys} outer keys is at or below its shard's checkpoint or in its key's progress`
          : `NO: ${coverage.uncovered} of ${coverage.outerKeys} outer keys would be processed again, e.g. ${coverage.sampleUncovered.join(', ')}`,
      ),
    );
  }
  if (ledger.rejectedButConsumed > 0) {
    lines.push(
      row(
        'reported not written, yet consumed',
        `${ledger.rejectedButConsumed} (writes that timed out but landed: a caller that retries them writes duplicates)`,
      ),
    );
  }
  if (ledger.unknown > 0) {
    lines.push(row('records not from this run', ledger.unknown));
  }
  lines.push(row('handler logs', report.logDir));
  lines.push(
    exactlyOnce(report)
      ? `RESULT: OK: all ${ledger.produced} records consumed exactly once${ledger.processor ? ' (as the processor saw them)' : ''}, in order per user partition key, ` +
          `at parallelization factor ${report.parallelizationFactor}${coverage ? `; the leases hold all of it (${coverage.outerKeys} outer keys)` : ''}`
      : `RESULT: FAILED: of ${ledger.produced} produced, ${ledger.processor ? `${ledger.processor.missing} never processed, ${ledger.processor.duplicates} processed twice, ${ledger.processor.outOfOrder} processed out of order per key, ` : ''}` +
          `${ledger.lost} never acknowledged, ${ledger.duplicates} acknowledged twice, ${ledger.toFailureDestination} on the failure destination, ${ledger.outOfOrder} acknowledged out of order` +
          `${coverage?.uncovered ? `, ${coverage.uncovered} outer keys not held by the leases` : ''}${report.poller.redeliveryFailures ? `, ${report.poller.redeliveryFailures} redelivered batches not skipped whole` : ''}`,
  );
  return lines;
}
