/**
 * The parent's side of a benchmark worker (worker.ts): a fresh Node.js process running one
 * handler bundle, driven one request at a time over IPC.
 */
import { execFileSync, fork, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { WorkerReply, WorkerRequest } from './worker';

export interface Invocation {
  millis: number;
  cpuMillis: number;
  processed: number;
  orderViolations: number;
  failures: string[];
  error?: string;
  ids?: string[];
}

type Pending = { resolve: (reply: WorkerReply) => void; reject: (error: Error) => void };

/** The Node.js version the workers run: BENCH_NODE's (e.g. Lambda's runtime line), else this process's. */
export function workerNodeVersion(): string {
  return process.env.BENCH_NODE ? execFileSync(process.env.BENCH_NODE, ['--version'], { encoding: 'utf8' }).trim() : process.version;
}

/**
 * The Node.js flags Lambda's Node.js runtime starts a function with (its bootstrap script:
 * `--expose-gc --max-http-header-size 81920` and, from AWS_LAMBDA_FUNCTION_MEMORY_SIZE, a tenth of
 * the memory for the young generation, so each of its two semi-spaces gets a twentieth, and the
 * rest for the old generation).
 */
export function lambdaNodeFlags(memoryMb: number): string[] {
  const newSpace = Math.floor(memoryMb / 10);
  return [
    '--expose-gc',
    '--max-http-header-size=81920',
    `--max-semi-space-size=${Math.floor(newSpace / 2)}`,
    `--max-old-space-size=${memoryMb - newSpace}`,
  ];
}

export class BenchWorker {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private stderr = '';
  private exited = false;
  /** Where this worker's next event is written, and the event last written there. */
  private readonly eventFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bench-event-')), 'event.json');
  private lastEvent?: string;

  private constructor(
    public readonly name: string,
    private readonly child: ChildProcess,
    public readonly importMillis: number,
  ) {}

  /**
   * Forks `workerFile` with `env` (and nothing else of ours but BENCH_HEAP_PROFILE) and waits until
   * it has imported its bundle; `nodeFlags` (e.g. lambdaNodeFlags) go before BENCH_EXEC_ARGV's.
   */
  public static start(
    name: string,
    workerFile: string,
    env: Record<string, string>,
    nodeFlags: readonly string[] = [],
  ): Promise<BenchWorker> {
    const child = fork(workerFile, [], {
      env: {
        PATH: process.env.PATH ?? '',
        ...(process.env.BENCH_HEAP_PROFILE ? { BENCH_HEAP_PROFILE: process.env.BENCH_HEAP_PROFILE } : {}),
        ...env,
      },
      // As Lambda runs the bundle: NODE_OPTIONS=--enable-source-maps (pipelineFunctionDefaults).
      // BENCH_EXEC_ARGV adds Node.js flags for a diagnosis (--trace-gc, --trace-deopt), printed on the bench's stdout.
      // BENCH_NODE runs the workers on another Node.js binary (Lambda's runtime line, e.g. 24), the bench itself on this one.
      ...(process.env.BENCH_NODE ? { execPath: process.env.BENCH_NODE } : {}),
      execArgv: ['--enable-source-maps', ...nodeFlags, ...(process.env.BENCH_EXEC_ARGV ? process.env.BENCH_EXEC_ARGV.split(' ') : [])],
      stdio: ['ignore', process.env.BENCH_EXEC_ARGV ? 'inherit' : 'ignore', 'pipe', 'ipc'],
    });
    return new Promise((resolve, reject) => {
      let worker: BenchWorker | undefined;
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString()).slice(-4000);
        if (worker) {
          worker.stderr = stderr;
        }
      });
      child.on('message', (reply: WorkerReply) => {
        if (reply.type === 'ready') {
          worker = new BenchWorker(name, child, reply.importMillis);
          worker.stderr = stderr;
          resolve(worker);
        } else if (reply.type === 'fatal') {
          const error = new Error(`bench worker ${name}: ${reply.message}`);
          if (worker) {
            worker.failAll(error);
          } else {
            reject(error);
          }
        } else if (worker && 'id' in reply) {
          const waiting = worker.pending.get(reply.id);
          worker.pending.delete(reply.id);
          waiting?.resolve(reply);
        }
      });
      child.on('exit', (code, signal) => {
        const error = new Error(`bench worker ${name} exited (${signal ?? code}): ${stderr.trim().split('\n').slice(-12).join('\n')}`);
        if (worker) {
          worker.exited = true;
          worker.failAll(error);
        } else {
          reject(error);
        }
      });
    });
  }

  private failAll(error: Error): void {
    for (const waiting of this.pending.values()) {
      waiting.reject(error);
    }
    this.pending.clear();
  }

  private request(request: WorkerRequest): Promise<WorkerReply> {
    if (this.exited) {
      return Promise.reject(new Error(`bench worker ${this.name} has exited: ${this.stderr.trim().slice(-2000)}`));
    }
    return new Promise((resolve, reject) => {
      this.pending.set(request.id, { resolve, reject });
      this.child.send(request);
    });
  }

  /**
   * One invocation of the handler with this event (JSON), as Lambda makes it. The event goes
   * through a file (written only when it changes), so that the worker gets it as one string, as
   * Lambda's runtime client returns it.
   */
  public async invoke(event: string, timeoutMillis = 30_000): Promise<Invocation> {
    if (event !== this.lastEvent) {
      fs.writeFileSync(this.eventFile, event);
      this.lastEvent = event;
    }
    const reply = await this.request({ type: 'invoke', id: this.nextId++, eventFile: this.eventFile, timeoutMillis });
    if (reply.type !== 'invoked') {
      throw new Error(`bench worker ${this.name}: unexpected reply ${reply.type}`);
    }
    return reply;
  }

  public async profileStart(): Promise<void> {
    await this.request({ type: 'profile-start', id: this.nextId++ });
  }

  public async profileStop(file: string): Promise<void> {
    await this.request({ type: 'profile-stop', id: this.nextId++, file });
  }

  /** Ends the process (it has nothing to flush). */
  public stop(): Promise<void> {
    fs.rmSync(path.dirname(this.eventFile), { recursive: true, force: true });
    if (this.exited || this.child.exitCode !== null || this.child.signalCode !== null) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.kill('SIGKILL');
    });
  }
}
