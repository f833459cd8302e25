/**
 * Certificates for the bench's loopback endpoints, so that handlers reach them over `https://` as a
 * function reaches Kinesis and DynamoDB: a root, an intermediate and a leaf for 127.0.0.1, RSA 2048
 * as AWS's service certificates are (a root with an intermediate that the server sends beside its
 * leaf, as AWS endpoints do). The handler processes trust the root through NODE_EXTRA_CA_CERTS,
 * which Node.js reads at start-up (Lambda's Node.js runtime honours it too).
 *
 * Over plain `http://` the SDK's NodeHttpHandler loads `node:http` with a dynamic `import()`, whose
 * ES-module facade loads Node.js's bundled undici: 15-24 ms of every contender's first invocation
 * that Lambda does not pay (its endpoints are https, `node:https` is imported statically). Over
 * https each contender pays instead what it pays on Lambda: a TLS handshake per connection and the
 * encryption of every byte it sends.
 *
 * Made with the `openssl` command (OpenSSL 3) in `dir`, once per bench run: throwaway keys for
 * loopback only (dynalite gets its key on its command line).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { TlsIdentity } from '../test/helpers/loopback-server';

/** `key`: the leaf's private key; `cert`: the leaf and the intermediate, as the server sends them (PEM). */
export interface LoopbackTls extends TlsIdentity {
  /** The root (PEM), what clients trust. */
  readonly ca: string;
  /** A file holding `ca`, for NODE_EXTRA_CA_CERTS. */
  readonly caFile: string;
}

export function loopbackTls(dir: string): LoopbackTls {
  fs.mkdirSync(dir, { recursive: true });
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => {
    try {
      execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (caught) {
      throw new Error(
        `the producer bench serves its endpoints over https and makes their certificates with the openssl command (OpenSSL 3): openssl ${args[0]} failed: ${(caught as Error).message}`,
        { cause: caught },
      );
    }
  };
  const extensions = (name: string, text: string) => {
    fs.writeFileSync(file(name), text);
    return file(name);
  };
  const request = (name: string, subject: string) =>
    openssl('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', subject);
  const sign = (name: string, issuer: string, ext: string) =>
    openssl(
      'x509',
      '-req',
      '-in',
      file(`${name}.csr`),
      '-CA',
      file(`${issuer}.pem`),
      '-CAkey',
      file(`${issuer}.key`),
      '-CAcreateserial',
      '-days',
      '2',
      '-sha256',
      '-out',
      file(`${name}.pem`),
      '-extfile',
      ext,
    );
  const caExt = extensions('ca.ext', 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    file('root.key'),
    '-out',
    file('root.pem'),
    '-days',
    '2',
    '-sha256',
    '-subj',
    '/CN=bench loopback root',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  request('intermediate', '/CN=bench loopback intermediate');
  sign('intermediate', 'root', caExt);
  request('leaf', '/CN=127.0.0.1');
  sign(
    'leaf',
    'intermediate',
    extensions(
      'leaf.ext',
      'subjectAltName=IP:127.0.0.1\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n',
    ),
  );
  const read = (name: string) => fs.readFileSync(file(name), 'utf8');
  return {
    key: read('leaf.key'),
    cert: read('leaf.pem') + read('intermediate.pem'),
    ca: read('root.pem'),
    caFile: file('root.pem'),
  };
}
