/**
 * The part every benchmark "container" shares: a fresh Node.js process that imports one handler
 * bundle (BENCH_HANDLER) and serves the bench's messages. On `invoke` it reads the event JSON from a
 * file as one string and parses it (as the Lambda runtime does with the body its native client
 * returns; sending the event itself over IPC left ~8.5 MB of young garbage per invocation that
 * Lambda's runtime does not make), calls the handler with a Lambda context (a fresh awsRequestId each
 * time) through `invoke`, and answers with the wall and CPU time of the call and what `invoke`
 * reports; `profile-start` / `profile-stop` wrap invocations in a V8 CPU profile (node:inspector),
 * and with BENCH_HEAP_PROFILE=1 an allocation-sampling profile beside it (`.heapprofile`).
 */
import { randomUUID } from 'crypto';
import * as fs from 'fs';
import { Session } from 'inspector';
import { pathToFileURL } from 'url';
import type { Context } from 'aws-lambda';

export type WorkerRequest =
  | { type: 'invoke'; id: number; eventFile: string; timeoutMillis: number }
  | { type: 'profile-start'; id: number }
  | { type: 'profile-stop'; id: number; file: string }
  | { type: 'exit'; id: number };

/** What one invocation reports besides its timing. */
export interface InvocationReport {
  processed: number;
  orderViolations: number;
  failures: string[];
  ids?: string[];
}

export type WorkerReply =
  | { type: 'ready'; importMillis: number }
  | ({ type: 'invoked'; id: number; millis: number; cpuMillis: number; error?: string } & InvocationReport)
  | { type: 'done'; id: number }
  | { type: 'fatal'; message: string };

const send = (reply: WorkerReply): void => {
  process.send!(reply);
};

/** A Lambda context whose remaining time counts down from `timeoutMillis`. */
export function lambdaContext(timeoutMillis: number, fallbackName: string, memoryLimitInMB: string): Context {
  const deadline = Date.now() + timeoutMillis;
  const name = process.env.AWS_LAMBDA_FUNCTION_NAME ?? fallbackName;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${name}`,
    memoryLimitInMB,
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: `2026/12/04/[$LATEST]${randomUUID().replace(/-/g, '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

function post(session: Session, method: string, params?: object): Promise<unknown> {
  return new Promise((resolve, reject) => {
    session.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

/**
 * Imports the bundle and serves the bench's messages until told to exit. `invoke` calls the
 * handler (with the parsed event and a fresh context) and returns its report; a throw is reported
 * as the invocation's error.
 */
export function serveInvocations<H>(
  invoke: (handler: H, event: unknown, context: () => Context) => Promise<InvocationReport>,
  context: (timeoutMillis: number) => Context,
): void {
  const main = async (): Promise<void> => {
    const started = process.hrtime.bigint();
    const { handler } = (await import(pathToFileURL(process.env.BENCH_HANDLER!).href)) as { handler: H };
    send({ type: 'ready', importMillis: Number(process.hrtime.bigint() - started) / 1e6 });
    let session: Session | undefined;
    process.on('message', (request: WorkerRequest) => {
      void (async () => {
        switch (request.type) {
          case 'invoke': {
            // The event arrives as Lambda's runtime client hands it over: one string (read from the
            // file the bench wrote), parsed here, outside the measured time.
            const event = JSON.parse(fs.readFileSync(request.eventFile, 'utf8')) as unknown;
            let report: InvocationReport = { processed: 0, orderViolations: 0, failures: [] };
            let error: string | undefined;
            const cpu = process.cpuUsage();
            const start = process.hrtime.bigint();
            try {
              report = await invoke(handler, event, () => context(request.timeoutMillis));
            } catch (caught) {
              error = (caught as Error).stack ?? String(caught);
            }
            const millis = Number(process.hrtime.bigint() - start) / 1e6;
            const used = process.cpuUsage(cpu);
            send({ type: 'invoked', id: request.id, millis, cpuMillis: (used.user + used.system) / 1000, error, ...report });
            return;
          }
          case 'profile-start':
            session = new Session();
            session.connect();
            await post(session, 'Profiler.enable');
            await post(session, 'Profiler.setSamplingInterval', { interval: 100 });
            await post(session, 'Profiler.start');
            if (process.env.BENCH_HEAP_PROFILE === '1') {
              // Allocation sampling too, the young generation's garbage included (diagnosis).
              await post(session, 'HeapProfiler.startSampling', {
                samplingInterval: 8192,
                includeObjectsCollectedByMajorGC: true,
                includeObjectsCollectedByMinorGC: true,
              });
            }
            send({ type: 'done', id: request.id });
            return;
          case 'profile-stop': {
            const { profile } = (await post(session!, 'Profiler.stop')) as { profile: unknown };
            fs.writeFileSync(request.file, JSON.stringify(profile));
            if (process.env.BENCH_HEAP_PROFILE === '1') {
              const { profile: heap } = (await post(session!, 'HeapProfiler.stopSampling')) as { profile: unknown };
              fs.writeFileSync(request.file.replace(/\.cpuprofile$/, '.heapprofile'), JSON.stringify(heap));
            }
            session!.disconnect();
            send({ type: 'done', id: request.id });
            return;
          }
          case 'exit':
            process.exit(0);
        }
      })().catch((error: unknown) => send({ type: 'fatal', message: (error as Error).stack ?? String(error) }));
    });
    process.on('disconnect', () => process.exit(0));
  };
  main().catch((error: unknown) => {
    send({ type: 'fatal', message: (error as Error).stack ?? String(error) });
    process.exit(1);
  });
}
