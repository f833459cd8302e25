import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { LocalFunction } from '../assembly';
import { FunctionHost } from '../function-host';

/** The execution environments of the local run: worker threads with the function's own environment. */
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'function-host-test-'));
const hosts: FunctionHost[] = [];

beforeAll(() => {
  fs.writeFileSync(
    path.join(dir, 'index.mjs'),
    `
    let calls = 0;
    export const handler = async (event, context) => {
      calls += 1;
      if (event.throw) { throw new TypeError('boom'); }
      if (event.sleep) { await new Promise((resolve) => setTimeout(resolve, event.sleep)); }
      console.log(JSON.stringify({ level: 'INFO', message: 'handled', calls, id: event.id ?? null }));
      console.log(JSON.stringify({ _aws: { Timestamp: 0, CloudWatchMetrics: [{ Namespace: 'N', Dimensions: [['service']], Metrics: [{ Name: 'UserRecords', Unit: 'Count' }] }] }, service: 's', UserRecords: 3 }));
      return { variable: process.env.MY_VARIABLE ?? null, endpoint: process.env.AWS_ENDPOINT_URL_KINESIS ?? null, functionName: context.functionName, remaining: context.getRemainingTimeInMillis(), calls };
    };
  `,
  );
  fs.writeFileSync(path.join(dir, 'broken.mjs'), 'export const other = 1;\n');
});

afterAll(async () => {
  await Promise.all(hosts.map((host) => host.close()));
  fs.rmSync(dir, { recursive: true, force: true });
});

function fn(overrides: Partial<LocalFunction> = {}): LocalFunction {
  return {
    logicalId: 'Fn',
    cdkPath: 'Stack/Fn/Resource',
    name: 'stack-fn',
    role: 'consumer',
    entryFile: path.join(dir, 'index.mjs'),
    handlerName: 'handler',
    environment: {},
    timeoutMs: 2000,
    memoryMb: 512,
    ...overrides,
  };
}

function host(env: Record<string, string>, overrides: Partial<LocalFunction> = {}) {
  const logFile = path.join(dir, `log-${hosts.length}.txt`);
  const log = fs.createWriteStream(logFile);
  const created = new FunctionHost(fn(overrides), env, log, 'us-east-1');
  hosts.push(created);
  return { host: created, logFile };
}

describe('FunctionHost', () => {
  test('gives each function its own environment variables and a Lambda context, and sends its logs to the log file', async () => {
    // Prepare
    const a = host({ MY_VARIABLE: 'a', AWS_ENDPOINT_URL_KINESIS: 'http://127.0.0.1:1' });
    const b = host({ MY_VARIABLE: 'b' });
    // Act
    const [first, second] = await Promise.all([a.host.invoke({}), b.host.invoke({})]);
    // Assess
    expect(first).toMatchObject({ ok: true, result: { variable: 'a', endpoint: 'http://127.0.0.1:1', functionName: 'stack-fn' } });
    expect(second).toMatchObject({ ok: true, result: { variable: 'b', endpoint: null } });
    expect((first as { result: { remaining: number } }).result.remaining).toBeGreaterThan(0);
    expect(process.env.MY_VARIABLE).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fs.readFileSync(a.logFile, 'utf8')).toContain('"message":"handled"');
    expect(a.host.metrics.get('UserRecords')).toBe(3);
  });

  test('hands every log line to onLogLine before the answer of the invocation that wrote it, across environments', async () => {
    // Prepare
    const { host: h } = host({});
    const logged = new Set<unknown>();
    h.onLogLine = (line) => logged.add(line.id);
    // Act: 12 invocations, 4 at a time (4 environments), each checking its line on its answer.
    const seenAtAnswer: boolean[] = [];
    for (let round = 0; round < 3; round += 1) {
      await Promise.all(
        [0, 1, 2, 3].map(async (i) => {
          const id = round * 4 + i;
          const outcome = await h.invoke({ id, sleep: 1 + i });
          seenAtAnswer.push(outcome.ok && logged.has(id));
        }),
      );
    }
    // Assess
    expect(seenAtAnswer).toEqual(Array.from({ length: 12 }, () => true));
    expect(h.coldStarts).toBe(4);
  });

  test('reuses an idle environment and starts one per concurrent invocation', async () => {
    // Prepare
    const { host: h } = host({});
    // Act
    await h.invoke({});
    const again = await h.invoke({});
    await Promise.all([h.invoke({ sleep: 50 }), h.invoke({ sleep: 50 })]);
    // Assess
    expect(again).toMatchObject({ ok: true, result: { calls: 2 } });
    expect(h.coldStarts).toBe(2);
    expect(h.invocations).toBe(4);
  });

  test('reports a thrown error as a function error with its name', async () => {
    // Prepare
    const { host: h } = host({});
    // Act
    const outcome = await h.invoke({ throw: true });
    // Assess
    expect(outcome).toMatchObject({ ok: false, error: { name: 'TypeError', message: 'boom' } });
    expect(h.errors).toBe(1);
  });

  test('fails an invocation over the timeout, discards its environment and serves the next one from a new one', async () => {
    // Prepare
    const { host: h } = host({}, { timeoutMs: 200 });
    // Act
    const late = await h.invoke({ sleep: 1000 });
    const next = await h.invoke({});
    // Assess
    expect(late).toMatchObject({ ok: false, error: { name: 'Sandbox.Timedout' } });
    expect(next).toMatchObject({ ok: true, result: { calls: 1 } });
    expect(h.coldStarts).toBe(2);
  });

  test('reports a bundle without the handler export as an init failure', async () => {
    // Prepare
    const { host: h } = host({}, { entryFile: path.join(dir, 'broken.mjs') });
    // Act
    const outcome = await h.invoke({});
    // Assess
    expect(outcome).toMatchObject({
      ok: false,
      error: { name: 'FunctionInitError', message: expect.stringContaining('exports no function handler') },
    });
  });
});
