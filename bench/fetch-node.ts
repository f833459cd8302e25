/**
 * `npm run bench:node -- 24`: fetches the Node.js binary of a release line from the npm registry
 * (the `node-<platform>-<arch>` packages) into `.bench/node-<line>/` and prints its path, for
 * `BENCH_NODE=<path> npm run bench -- producer`: the benchmark's handler processes then run on the
 * line Lambda runs (`NODEJS_24_X`), not on whatever Node.js runs the bench.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const line = process.argv[2] ?? '24';
if (!/^\d+(\.\d+){0,2}$/.test(line)) {
  throw new Error(`usage: npm run bench:node -- <release line, e.g. 24>; got '${line}'`);
}
const dir = path.join(__dirname, '..', '.bench', `node-${line}`);
const binary = path.join(dir, 'package', 'bin', 'node');
if (!fs.existsSync(binary)) {
  fs.mkdirSync(dir, { recursive: true });
  const spec = `node-${process.platform}-${process.arch}@${line}`;
  const tarball = execFileSync('npm', ['pack', spec, '--pack-destination', dir, '--silent'], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .pop()!;
  execFileSync('tar', ['xzf', path.join(dir, tarball), '-C', dir]);
  fs.rmSync(path.join(dir, tarball));
}
console.log(`${binary} (${execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim()})`);
