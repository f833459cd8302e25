import * as http from 'http';
import * as https from 'https';
import type * as net from 'net';

/** What a loopback server needs to serve https: a private key and its certificate chain (PEM). */
export interface TlsIdentity {
  readonly key: string;
  readonly cert: string;
}

/**
 * An HTTP server on a free loopback port for fake AWS endpoints (tests and benches): `start()`
 * answers its URL, `stop()` closes it and every connection a keep-alive client left open, so a
 * test leaves nothing running. With `tls` (a key and its certificate chain) it serves https.
 */
export class LoopbackServer {
  private server?: http.Server | https.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly handler: http.RequestListener,
    private readonly options: { readonly keepAliveTimeoutMs?: number; readonly tls?: TlsIdentity } = {},
  ) {}

  /** Listens on 127.0.0.1 and a port the system picks; answers `http://127.0.0.1:<port>` (`https://` with `tls`). */
  public async start(): Promise<string> {
    const { tls } = this.options;
    const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }, this.handler) : http.createServer(this.handler);
    this.server = server;
    if (this.options.keepAliveTimeoutMs !== undefined) {
      server.keepAliveTimeout = this.options.keepAliveTimeoutMs;
    }
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    return `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  }

  public async stop(): Promise<void> {
    for (const socket of this.sockets) {
      socket.destroy();
    }
    const server = this.server;
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}
