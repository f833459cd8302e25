import type * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import type { LocalFunction } from './assembly';

/**
 * Runs a bundled handler the way Lambda does: each concurrent invocation gets an execution
 * environment (a worker thread with the function's own environment variables), environments
 * are reused, an invocation over the function's timeout fails and its environment is discarded.
 * The handlers' logs (stdout/stderr, EMF metrics included) go to a log file, not the terminal.
 */
export type InvokeOutcome =
  | { readonly ok: true; readonly result: unknown; readonly durationMs: number }
  | {
      readonly ok: false;
      readonly error: { readonly name: string; readonly message: string; readonly details?: Record<string, unknown> };
      readonly durationMs: number;
    };

export interface Invoker {
  invoke(event: unknown): Promise<InvokeOutcome>;
}

export class FunctionInitError extends Error {
  public override readonly name = 'FunctionInitError';
}

interface Environment {
  readonly worker: Worker;
  pending?: { resolve: (outcome: InvokeOutcome) => void; started: number; timer: NodeJS.Timeout };
}

const WORKER_FILE = path.join(__dirname, 'function-worker.mjs');

/** Adds the values of one EMF log line (CloudWatch embedded metric format) to `sums`. */
export function addEmf(line: string, sums: Map<string, number>): void {
  let document: Record<string, unknown>;
  try {
    document = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return;
  }
  const directives =
    (document._aws as { CloudWatchMetrics?: Array<{ Metrics?: Array<{ Name: string; Unit?: string }> }> } | undefined)?.CloudWatchMetrics ??
    [];
  for (const directive of directives) {
    // Counts add up across invocations; ratios and latencies do not.
    for (const { Name } of (directive.Metrics ?? []).filter((metric) => metric.Unit === 'Count')) {
      const value = document[Name];
      const values = Array.isArray(value) ? value : [value];
      const total = values.filter((v): v is number => typeof v === 'number').reduce((a, b) => a + b, 0);
      sums.set(Name, (sums.get(Name) ?? 0) + total);
    }
  }
}

export class FunctionHost implements Invoker {
  private readonly idle: Environment[] = [];
  private readonly all = new Set<Environment>();
  private nextId = 0;
  private closed = false;
  public invocations = 0;
  public errors = 0;
  public coldStarts = 0;
  public totalDurationMs = 0;
  public maxDurationMs = 0;
  /** Sums of the EMF metrics the handler logged (Powertools Metrics), by metric name. */
  public readonly metrics = new Map<string, number>();
  /**
   * Called with each JSON log line of the handler (the local run reads the example processor's
   * record log), before the answer of the invocation that wrote it.
   */
  public onLogLine?: (line: Record<string, unknown>) => void;

  public constructor(
    public readonly fn: LocalFunction,
    private readonly env: Readonly<Record<string, string>>,
    private readonly log: fs.WriteStream,
    private readonly region: string,
  ) {}

  public async invoke(event: unknown): Promise<InvokeOutcome> {
    if (this.closed) {
      return { ok: false, error: { name: 'HostClosed', message: `${this.fn.name} is stopped` }, durationMs: 0 };
    }
    this.invocations += 1;
    let environment: Environment;
    try {
      environment = this.idle.pop() ?? (await this.start());
    } catch (error) {
      this.errors += 1;
      return { ok: false, error: { name: (error as Error).name, message: (error as Error).message }, durationMs: 0 };
    }
    const outcome = await new Promise<InvokeOutcome>((resolve) => {
      const started = Date.now();
      const timer = setTimeout(() => {
        environment.pending = undefined;
        this.discard(environment);
        resolve({
          ok: false,
          error: { name: 'Sandbox.Timedout', message: `Task timed out after ${(this.fn.timeoutMs / 1000).toFixed(2)} seconds` },
          durationMs: Date.now() - started,
        });
      }, this.fn.timeoutMs);
      environment.pending = { resolve, started, timer };
      environment.worker.postMessage({ id: (this.nextId += 1), event, deadline: started + this.fn.timeoutMs });
    });
    if (!outcome.ok) {
      this.errors += 1;
    }
    this.totalDurationMs += outcome.durationMs;
    this.maxDurationMs = Math.max(this.maxDurationMs, outcome.durationMs);
    if (this.all.has(environment) && !this.closed) {
      this.idle.push(environment);
    }
    return outcome;
  }

  /** Starts `count` environments ahead of the first invocations (as provisioned concurrency would). */
  public async prewarm(count: number): Promise<void> {
    const started = await Promise.all(Array.from({ length: count }, () => this.start()));
    this.idle.push(...started);
  }

  private start(): Promise<Environment> {
    this.coldStarts += 1;
    const worker = new Worker(WORKER_FILE, {
      env: { ...this.env },
      stdout: true,
      stderr: true,
      workerData: {
        entryFile: this.fn.entryFile,
        handlerName: this.fn.handlerName,
        functionName: this.fn.name,
        memoryMb: this.fn.memoryMb,
        region: this.region,
      },
    });
    worker.stdout.on('data', (chunk: Buffer) => this.tap(chunk.toString('utf8')));
    worker.stderr.pipe(this.log, { end: false });
    const environment: Environment = { worker };
    this.all.add(environment);
    return new Promise((resolve, reject) => {
      // An environment that cannot start within the function's timeout (plus 10 s) is given up.
      const initTimer = setTimeout(() => {
        this.discard(environment);
        reject(new FunctionInitError(`${this.fn.name}: init did not finish within ${(this.fn.timeoutMs + 10_000) / 1000} s`));
      }, this.fn.timeoutMs + 10_000);
      worker.on(
        'message',
        (message: { type: string; ok?: boolean; result?: unknown; error?: { name: string; message: string }; text?: string }) => {
          if (message.type === 'stdout') {
            // A log line (also while loading: it does not end the init wait).
            this.tap(message.text ?? '');
          } else if (message.type === 'ready') {
            clearTimeout(initTimer);
            resolve(environment);
          } else if (message.type === 'init-error') {
            clearTimeout(initTimer);
            this.discard(environment);
            reject(new FunctionInitError(`${this.fn.name}: init failed: ${message.error?.name}: ${message.error?.message}`));
          } else if (message.type === 'result' && environment.pending) {
            const { resolve: done, started, timer } = environment.pending;
            environment.pending = undefined;
            clearTimeout(timer);
            const durationMs = Date.now() - started;
            done(message.ok ? { ok: true, result: message.result, durationMs } : { ok: false, error: message.error!, durationMs });
          }
        },
      );
      const ended = (message: string): void => {
        clearTimeout(initTimer);
        this.all.delete(environment);
        if (environment.pending) {
          const { resolve: done, started, timer } = environment.pending;
          environment.pending = undefined;
          clearTimeout(timer);
          done({ ok: false, error: { name: 'Runtime.ExitError', message }, durationMs: Date.now() - started });
        }
        reject(new FunctionInitError(`${this.fn.name}: ${message}`));
      };
      worker.on('error', (error) => ended(error.message));
      worker.on('exit', (code) => ended(`environment exited with code ${code}`));
    });
  }

  private pendingText = '';

  /**
   * Writes the handler's output to the log and adds up the EMF metrics in it. Its lines arrive in
   * the order they were written, and before the answer of the invocation that wrote them.
   */
  private tap(chunk: string): void {
    this.log.write(chunk);
    const text = this.pendingText + chunk;
    const lines = text.split('\n');
    this.pendingText = lines.pop() ?? '';
    for (const line of lines) {
      if (line.includes('"_aws"')) {
        addEmf(line, this.metrics);
      } else if (this.onLogLine && line.startsWith('{')) {
        try {
          this.onLogLine(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not JSON: only logged
        }
      }
    }
  }

  private discard(environment: Environment): void {
    this.all.delete(environment);
    const index = this.idle.indexOf(environment);
    if (index >= 0) {
      this.idle.splice(index, 1);
    }
    void environment.worker.terminate();
  }

  /** Ends every environment; in-flight invocations fail. */
  public async close(): Promise<void> {
    this.closed = true;
    const environments = [...this.all];
    this.all.clear();
    this.idle.length = 0;
    await Promise.all(
      environments.map(async (environment) => {
        if (environment.pending) {
          clearTimeout(environment.pending.timer);
          environment.pending.resolve({
            ok: false,
            error: { name: 'HostClosed', message: 'stopped' },
            durationMs: Date.now() - environment.pending.started,
          });
        }
        await environment.worker.terminate();
      }),
    );
  }
}
