import { spawn, type ChildProcess } from 'child_process';
import * as fs from 'fs';
import type * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { KinesisClient, ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';

const KINESIS_LOCAL = path.join(__dirname, '..', '..', 'node_modules', 'kinesis-local');

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

export interface KinesisLocal {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/**
 * Starts kinesis-local (kinesis-mock) on free plain-HTTP and TLS ports, in a temporary working
 * directory holding its server.json, with reshards that take `updateShardCountMs`.
 */
export async function startKinesisLocal(options: { updateShardCountMs?: number } = {}): Promise<KinesisLocal> {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'kinesis-local-'));
  fs.copyFileSync(path.join(KINESIS_LOCAL, 'server.json'), path.join(cwd, 'server.json'));
  const [plain, tls] = [await freePort(), await freePort()];
  const child: ChildProcess = spawn(process.execPath, [path.join(KINESIS_LOCAL, 'main.js')], {
    cwd,
    env: {
      ...process.env,
      KINESIS_MOCK_PLAIN_PORT: String(plain),
      KINESIS_MOCK_TLS_PORT: String(tls),
      UPDATE_SHARD_COUNT_DURATION: `${options.updateShardCountMs ?? 300}ms`,
      CREATE_STREAM_DURATION: '100ms',
      LOG_LEVEL: 'ERROR',
      SHOULD_PERSIST_DATA: 'false',
    },
    stdio: 'ignore',
  });
  const endpoint = `http://127.0.0.1:${plain}`;
  const probe = new KinesisClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, requestHandler: new NodeHttpHandler(), maxAttempts: 1 });
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await probe.send(new ListStreamsCommand({}));
      break;
    } catch (error) {
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill();
        throw new Error(`kinesis-local did not start on port ${plain}: ${(error as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  probe.destroy();
  return {
    endpoint,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) {
        resolve();
        return;
      }
      child.once('exit', () => {
        fs.rmSync(cwd, { recursive: true, force: true });
        resolve();
      });
      // In-memory emulator with nothing to flush; SIGTERM waits ~30 s for idle keep-alive clients.
      child.kill('SIGKILL');
    }),
  };
}

export interface Dynalite {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** Starts dynalite (in memory) on a free loopback port. */
export async function startDynalite(): Promise<Dynalite> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dynalite = require('dynalite') as (options: Record<string, unknown>) => net.Server;
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 }) as http.Server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () => new Promise((resolve) => {
      server.close(() => resolve());
      // Clients keep their sockets alive; do not wait for them to time out.
      server.closeAllConnections();
    }),
  };
}
