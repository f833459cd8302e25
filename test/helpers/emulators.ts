import { spawn, type ChildProcess } from 'child_process';
import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { KinesisClient, ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { cbor } from '@smithy/core/cbor';
import { AMZ_CBOR, formOf } from './kinesis-wire';
import type { TlsIdentity } from './loopback-server';

/**
 * Local emulators for the integration tests (and the developer tools that reuse them): kinesalite
 * and dynalite in this process, kinesis-local (kinesis-mock, the one with UpdateShardCount, the
 * real reshard limits and on-demand streams) as a child process. Each listens on 127.0.0.1 on a
 * free port unless told one, and `stop()` leaves nothing behind: servers closed with their
 * keep-alive sockets, the child killed and its working directory removed (the child is also killed
 * if this process exits first). No Docker, no AWS account.
 */
export interface Emulator {
  readonly name: string;
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

export class EmulatorStartError extends Error {
  public override readonly name = 'EmulatorStartError';
}

const PACKAGE_ROOT = path.join(__dirname, '..', '..');
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
export const LOCAL_REGION = 'us-east-1';

/** A free TCP port on loopback (asked of the OS, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Listens on `port` (0 = any free one) on 127.0.0.1; a taken port is an error that names it. */
async function listen(server: net.Server, port: number, name: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new EmulatorStartError(`${name}: cannot listen on 127.0.0.1:${port}: ${error.message}`)));
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return (server.address() as net.AddressInfo).port;
}

function closer(server: http.Server): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (!server.listening) {
        resolve();
        return;
      }
      server.close(() => resolve());
      // Clients keep their sockets alive; do not wait for them to time out.
      server.closeAllConnections();
    });
}

/**
 * A CBOR PutRecords / PutRecord body with every Data byte string turned into base64 text (still
 * CBOR), or the body unchanged when it is something else.
 */
function cborDataAsText(body: Buffer): Buffer {
  try {
    const input = cbor.deserialize(body) as { Data?: unknown; Records?: Array<{ Data?: unknown }> };
    const entries = Array.isArray(input.Records) ? input.Records : [input];
    for (const entry of entries) {
      if (entry.Data instanceof Uint8Array) {
        entry.Data = Buffer.from(entry.Data).toString('base64');
      }
    }
    return Buffer.from(cbor.serialize(input));
  } catch {
    return body;
  }
}

/**
 * kinesalite in this process (fast; no UpdateShardCount, no on-demand streams). It speaks JSON and
 * CBOR, but stores a CBOR PutRecords entry's Data as the Buffer it decoded where a JSON one stores
 * base64 text, and a JSON GetRecords then answers that Buffer's JSON form: records written as CBOR
 * (the producer's default, as the AWS SDK for Java's) come back broken to a JSON reader. Real
 * Kinesis stores bytes. So CBOR PutRecords bodies reach kinesalite with their Data as base64 text
 * (which its CBOR path also takes): its own CBOR parsing, validation and CBOR answers still run.
 */
export async function startKinesalite(port = 0): Promise<Emulator> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const kinesalite = require('kinesalite') as (options: Record<string, unknown>) => http.Server;
  const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 500 });
  const handlers = server.listeners('request') as http.RequestListener[];
  server.removeAllListeners('request');
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const cborPut = formOf(req.headers) === AMZ_CBOR && /\.PutRecords?$/.test(String(req.headers['x-amz-target']));
    if (!cborPut) {
      handlers.forEach((handler) => handler(req, res));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const relayed = Object.assign(new EventEmitter(), { headers: req.headers, method: req.method, url: req.url });
      handlers.forEach((handler) => handler(relayed as unknown as http.IncomingMessage, res));
      relayed.emit('data', cborDataAsText(Buffer.concat(chunks)));
      relayed.emit('end');
    });
  });
  const bound = await listen(server, port, 'kinesalite');
  return { name: 'kinesalite', endpoint: `http://127.0.0.1:${bound}`, port: bound, stop: closer(server) };
}

/** dynalite (in memory) in this process. */
export async function startDynalite(port = 0): Promise<Emulator> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dynalite = require('dynalite') as (options: Record<string, unknown>) => http.Server;
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const bound = await listen(server, port, 'dynalite');
  return { name: 'dynalite', endpoint: `http://127.0.0.1:${bound}`, port: bound, stop: closer(server) };
}

/**
 * dynalite as a child process (its CLI on a free loopback port), for a caller whose own heap should
 * not delay the emulator's answers (the producer bench's process reads 2 MB request bodies and runs
 * a full collection every few of them). Stopped with SIGTERM, so that a preload such as
 * bench/server-timing.cjs can report; what it prints after it listens goes to this process's stdout.
 * With `tls` (a key and its certificate chain, PEM) it serves https.
 */
export async function startDynaliteProcess(options: { tls?: TlsIdentity } = {}): Promise<Emulator> {
  const port = await freePort();
  const { tls } = options;
  const child = spawn(
    process.execPath,
    [
      require.resolve('dynalite/cli.js'),
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--createTableMs',
      '0',
      '--deleteTableMs',
      '0',
      '--updateTableMs',
      '0',
      // `--name=value`: a PEM begins with dashes, which the CLI's parser would take for a flag.
      ...(tls ? ['--ssl', `--key=${tls.key}`, `--cert=${tls.cert}`] : []),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const stop = stopperOf(child, 'SIGTERM');
  await new Promise<void>((resolve, reject) => {
    let listening = false;
    child.once('exit', (code) => reject(new EmulatorStartError(`dynalite exited (${code}) before listening`)));
    child.stdout.on('data', (chunk: Buffer) => {
      if (listening) {
        process.stdout.write(chunk);
      } else if (chunk.toString().includes('listening')) {
        listening = true;
        resolve();
      }
    });
  });
  return { name: 'dynalite', endpoint: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`, port, stop };
}

/**
 * How to stop an emulator's child process: with `signal`, then `cleanUp`; and, as a last resort
 * should the runner die without its clean-up, SIGKILL when this process exits.
 */
function stopperOf(child: ChildProcess, signal: NodeJS.Signals, cleanUp?: () => void): () => Promise<void> {
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  return () =>
    new Promise<void>((resolve) => {
      process.removeListener('exit', killOnExit);
      const done = (): void => {
        cleanUp?.();
        resolve();
      };
      if (child.exitCode !== null || child.signalCode !== null) {
        done();
        return;
      }
      child.once('exit', done);
      child.kill(signal);
    });
}

/**
 * kinesis-local as a child process, in a temporary working directory holding its server.json,
 * on `port` (plain HTTP) and a free TLS port; reshards take `updateShardCountMs`.
 */
export async function startKinesisLocal(port = 0, options: { updateShardCountMs?: number } = {}): Promise<Emulator> {
  const home = path.join(PACKAGE_ROOT, 'node_modules', 'kinesis-local');
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'kinesis-local-'));
  fs.copyFileSync(path.join(home, 'server.json'), path.join(cwd, 'server.json'));
  const plain = port || (await freePort());
  const tls = await freePort();
  const child: ChildProcess = spawn(process.execPath, [path.join(home, 'main.js')], {
    cwd,
    env: {
      PATH: process.env.PATH,
      KINESIS_MOCK_PLAIN_PORT: String(plain),
      KINESIS_MOCK_TLS_PORT: String(tls),
      UPDATE_SHARD_COUNT_DURATION: `${options.updateShardCountMs ?? 500}ms`,
      CREATE_STREAM_DURATION: '100ms',
      LOG_LEVEL: 'ERROR',
      SHOULD_PERSIST_DATA: 'false',
    },
    stdio: 'ignore',
  });
  // In-memory emulator with nothing to flush; SIGTERM waits for idle keep-alive clients.
  const stop = stopperOf(child, 'SIGKILL', () => fs.rmSync(cwd, { recursive: true, force: true }));
  const endpoint = `http://127.0.0.1:${plain}`;
  const probe = new KinesisClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    requestHandler: new NodeHttpHandler(),
    maxAttempts: 1,
  });
  const deadline = Date.now() + 30_000;
  try {
    for (;;) {
      try {
        await probe.send(new ListStreamsCommand({}));
        break;
      } catch (error) {
        if (Date.now() > deadline || child.exitCode !== null) {
          throw new EmulatorStartError(`kinesis-local did not start on 127.0.0.1:${plain}: ${(error as Error).message}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  } catch (error) {
    await stop();
    throw error;
  } finally {
    probe.destroy();
  }
  return { name: 'kinesis-local', endpoint, port: plain, stop };
}

/**
 * Clients' settings for an emulator: loopback endpoint, dummy credentials, HTTP/1.1; `ca` (PEM): the
 * root an https emulator's certificate chains to.
 */
export function localClientConfig(endpoint: string, options: { ca?: string } = {}) {
  const agent = { keepAlive: true, maxSockets: 64 };
  return {
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: 3_000,
      requestTimeout: 15_000,
      httpAgent: agent,
      ...(options.ca === undefined ? {} : { httpsAgent: { ...agent, ca: options.ca } }),
    }),
  };
}

/**
 * A loopback proxy in front of kinesalite that accepts the `StreamARN` parameter (which the
 * handlers use, and kinesalite predates) by rewriting it to `StreamName`, in a JSON or a CBOR body
 * (the producer's PutRecords); everything else passes through unchanged.
 */
export async function startStreamArnProxy(target: string): Promise<Emulator> {
  const { hostname, port: targetPort } = new URL(target);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      let body = Buffer.concat(chunks);
      const asCbor = formOf(request.headers) === AMZ_CBOR;
      try {
        const input = (asCbor ? cbor.deserialize(body) : JSON.parse(body.toString('utf8'))) as Record<string, unknown>;
        if (typeof input.StreamARN === 'string') {
          if (input.StreamName === undefined && input.NextToken === undefined) {
            input.StreamName = input.StreamARN.split('/').pop();
          }
          delete input.StreamARN;
          body = Buffer.from(asCbor ? cbor.serialize(input) : JSON.stringify(input));
        }
      } catch {
        // neither JSON nor CBOR: pass through
      }
      const headers = { ...request.headers, 'content-length': String(body.length), host: `${hostname}:${targetPort}` };
      const upstream = http.request(
        { hostname, port: Number(targetPort), method: request.method, path: request.url, headers, agent },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      upstream.on('error', (error) => {
        response.writeHead(502, { 'content-type': 'application/x-amz-json-1.1' });
        response.end(JSON.stringify({ __type: 'ServiceUnavailable', message: error.message }));
      });
      upstream.end(body);
    });
  });
  const bound = await listen(server, 0, 'kinesalite StreamARN proxy');
  const close = closer(server);
  return {
    name: 'kinesalite-proxy',
    endpoint: `http://127.0.0.1:${bound}`,
    port: bound,
    stop: async () => {
      await close();
      agent.destroy();
    },
  };
}
