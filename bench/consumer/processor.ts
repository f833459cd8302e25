/**
 * The bench's user processor: waits BENCH_PROCESSOR_DELAY_MS (default 2 ms, a typical downstream
 * write) per user record, counts it, and checks per-key order (one record of a key at a time, in
 * shard order). Both contenders call it: ours through the `kinesis-pipeline-processor` alias,
 * Powertools' record handler directly.
 */
import type { Context } from 'aws-lambda';
import type { UserRecord } from '../../lambda/shared/deaggregate';
import { benchState } from './state';

const DELAY_MS = Number(process.env.BENCH_PROCESSOR_DELAY_MS ?? 2);
const state = benchState();

export async function processRecord(record: UserRecord, _context: Context): Promise<void> {
  const key = `${record.shardId}|${record.partitionKey}`;
  const seq = record.sequenceNumber;
  const sub = record.subSequenceNumber;
  const last = state.lastStarted.get(key);
  // The bench's sequence numbers all have 56 digits: string order is numeric order.
  if ((state.inFlight.get(key) ?? 0) > 0 || (last !== undefined && (seq < last.seq || (seq === last.seq && sub <= last.sub)))) {
    state.orderViolations++;
  }
  if (last === undefined || seq > last.seq || (seq === last.seq && sub > last.sub)) {
    state.lastStarted.set(key, { seq, sub });
  }
  state.inFlight.set(key, (state.inFlight.get(key) ?? 0) + 1);
  try {
    await new Promise<void>((resolve) => setTimeout(resolve, DELAY_MS));
  } finally {
    state.inFlight.set(key, state.inFlight.get(key)! - 1);
  }
  state.processed++;
  state.ids?.push(`${seq}/${sub}`);
}
