/**
 * The live terminal view: one block redrawn every second on a TTY, one line every few seconds
 * otherwise (CI logs, pipes).
 */
export interface ViewSample {
  readonly elapsedMs: number;
  readonly durationMs: number;
  readonly draining: boolean;
  readonly producedPerSecond: number;
  readonly consumedPerSecond: number;
  readonly producedTotal: number;
  readonly consumedTotal: number;
  readonly rejected: number;
  readonly pending: number;
  readonly iteratorAgeMs: number;
  readonly millisBehindLatest: number;
  readonly shardCount: number;
  readonly inFlight: number;
  readonly failureBatches: number;
  readonly retries: number;
  readonly checkpoints: readonly ShardCheckpoint[];
  readonly scaler?: string;
}

/** A shard's lease as the run reads it, beside what the consumer acknowledged of it. */
export interface ShardCheckpoint {
  readonly shardId: string;
  /** The lease's checkpoint (low watermark): stays put while only per-key progress moves (parallelization factor above 1). */
  readonly checkpoint?: string;
  /** Outer partition keys with progress above the checkpoint, their extra runs, and the attribute's size. */
  readonly progressKeys?: number;
  readonly progressRuns?: number;
  readonly progressBytes?: number;
  /** Highest sequence number acknowledged. */
  readonly processed?: string;
  /** Batches of the shard that may run at once. */
  readonly lanes?: number;
}

/** A shard's lease in a few words: its checkpoint and the per-key progress above it. */
export function describeCheckpoint(shard: ShardCheckpoint, digits = 10): string {
  const progress = shard.progressKeys
    ? `, progress of ${shard.progressKeys} keys${shard.progressRuns ? ` (${shard.progressRuns} runs)` : ''} in ${shard.progressBytes} B`
    : '';
  return `checkpoint ${shortSequence(shard.checkpoint, digits)}${progress}`;
}

/** A long sequence number shortened to its last digits. */
export function shortSequence(sequence: string | undefined, digits = 10): string {
  if (!sequence) {
    return '-';
  }
  return sequence.length > digits ? `…${sequence.slice(-digits)}` : sequence;
}

export function renderView(sample: ViewSample, title: string): string[] {
  const seconds = (ms: number) => `${(ms / 1000).toFixed(0)}s`;
  const phase = sample.draining
    ? `draining (${seconds(sample.elapsedMs)})`
    : `${seconds(sample.elapsedMs)} / ${seconds(sample.durationMs)}`;
  const lines = [
    `${title}   ${phase}`,
    `produced ${pad(sample.producedPerSecond, 6)}/s  total ${pad(sample.producedTotal, 8)}   consumed ${pad(sample.consumedPerSecond, 6)}/s  total ${pad(sample.consumedTotal, 8)}   pending ${sample.pending}`,
    `iterator age ${pad(sample.iteratorAgeMs, 6)} ms   behind latest ${pad(sample.millisBehindLatest, 6)} ms   shards ${sample.shardCount}   batches in flight ${sample.inFlight}   retries ${sample.retries}   on-failure ${sample.failureBatches}   rejected ${sample.rejected}`,
  ];
  if (sample.scaler) {
    lines.push(`scaler: ${sample.scaler.slice(0, 150)}`);
  }
  for (const shard of sample.checkpoints) {
    lines.push(
      `  ${shard.shardId}  ${describeCheckpoint(shard).padEnd(50)} processed ${shortSequence(shard.processed)}${shard.lanes ? ` (${shard.lanes} lanes)` : ''}`,
    );
  }
  return lines;
}

function pad(value: number, width: number): string {
  return String(Math.round(value)).padStart(width);
}

export class TerminalView {
  private drawn = 0;
  private lastLine = 0;

  public constructor(
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean },
    private readonly title: string,
    private readonly mode: 'tty' | 'lines' | 'none',
  ) {}

  public update(sample: ViewSample): void {
    if (this.mode === 'none') {
      return;
    }
    const lines = renderView(sample, this.title);
    if (this.mode === 'tty') {
      const up = this.drawn > 0 ? `\x1b[${this.drawn}F` : '';
      // Redraw in place, then clear whatever a longer previous block left below.
      this.out.write(`${up}${lines.map((line) => `\x1b[2K${line}`).join('\n')}\n\x1b[J`);
      this.drawn = lines.length;
    } else if (sample.elapsedMs - this.lastLine >= 5000 || this.lastLine === 0) {
      this.lastLine = Math.max(1, sample.elapsedMs);
      this.out.write(`${lines.slice(1, 3).join(' | ')}${sample.scaler ? ` | scaler: ${sample.scaler.slice(0, 120)}` : ''}\n`);
    }
  }
}
