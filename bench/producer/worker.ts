/**
 * One "container" of the producer benchmark: a fresh Node.js process (forked by
 * producer.bench.ts through bench/consumer/child.ts) that imports one handler bundle
 * (BENCH_HANDLER) and, on each `invoke` message, parses the event JSON (as the Lambda runtime
 * does), calls `handler(event, context)` with a Lambda context (a fresh awsRequestId each time,
 * as each Lambda invocation has), and answers with the wall and CPU time of the call and how many
 * records the handler reported written. `profile-start` / `profile-stop` wrap invocations in a V8
 * CPU profile (node:inspector). Same messages as bench/consumer/worker.ts.
 */
import { randomUUID } from 'crypto';
import * as fs from 'fs';
import { Session } from 'inspector';
import { pathToFileURL } from 'url';
import type { Context } from 'aws-lambda';
import type { WorkerReply, WorkerRequest } from '../consumer/worker';

type Handler = (event: unknown, context: Context) => Promise<{ writtenCount?: number; failedCount?: number; statusCode?: number } | undefined>;

const send = (reply: WorkerReply): void => {
  process.send!(reply);
};

function lambdaContext(timeoutMillis: number): Context {
  const deadline = Date.now() + timeoutMillis;
  const name = process.env.AWS_LAMBDA_FUNCTION_NAME ?? 'bench-producer';
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${name}`,
    memoryLimitInMB: '1024',
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

async function main(): Promise<void> {
  const started = process.hrtime.bigint();
  const { handler } = (await import(pathToFileURL(process.env.BENCH_HANDLER!).href)) as { handler: Handler };
  send({ type: 'ready', importMillis: Number(process.hrtime.bigint() - started) / 1e6 });
  let session: Session | undefined;
  process.on('message', (request: WorkerRequest) => {
    void (async () => {
      switch (request.type) {
        case 'invoke': {
          const event = JSON.parse(request.event) as unknown;
          const context = lambdaContext(request.timeoutMillis);
          let processed = 0;
          let failures: string[] = [];
          let error: string | undefined;
          const cpu = process.cpuUsage();
          const start = process.hrtime.bigint();
          try {
            const result = await handler(event, context);
            processed = result?.writtenCount ?? 0;
            failures = result?.failedCount ? [`${result.failedCount} failed`] : [];
          } catch (caught) {
            error = (caught as Error).stack ?? String(caught);
          }
          const millis = Number(process.hrtime.bigint() - start) / 1e6;
          const used = process.cpuUsage(cpu);
          send({ type: 'invoked', id: request.id, millis, cpuMillis: (used.user + used.system) / 1000, processed, orderViolations: 0, failures, error });
          return;
        }
        case 'profile-start':
          session = new Session();
          session.connect();
          await post(session, 'Profiler.enable');
          await post(session, 'Profiler.setSamplingInterval', { interval: 100 });
          await post(session, 'Profiler.start');
          send({ type: 'done', id: request.id });
          return;
        case 'profile-stop': {
          const { profile } = (await post(session!, 'Profiler.stop')) as { profile: unknown };
          fs.writeFileSync(request.file, JSON.stringify(profile));
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
}

main().catch((error: unknown) => {
  send({ type: 'fatal', message: (error as Error).stack ?? String(error) });
  process.exit(1);
});
