import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/**
 * The package as users get it, for tests that play a user: `npm pack` of a snapshot of the
 * working tree, the tarball installed with aws-cdk-lib, constructs, cdk-nag and @types/aws-lambda
 * into a directory outside the repository, and apps created in folders under it (Node.js, tsc and
 * esbuild resolve `kinesis-pipeline-cdk` from the install's node_modules, never from the repo).
 *
 * Packing and installing take a minute or more, so the install is made once and kept in the
 * temporary directory under a hash of what goes into the tarball: every test file and jest worker,
 * in this run and later ones, reuses it until lib/, lambda/, the README or the package manifest
 * change. A lock directory lets one process build it while the others wait.
 */
export const ROOT = path.resolve(__dirname, '../..');

interface PackageJson {
  readonly name: string;
  readonly version: string;
  readonly devDependencies: Record<string, string>;
}

export const PACKAGE = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as PackageJson;

/** What the tarball is built from (prepack runs tsc -p tsconfig.build.json over lib/ and lambda/). */
const PACKAGE_INPUTS = ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'lib', 'lambda'];
/** What a user installs next to the package, at the versions this repository tests with. */
const USER_DEPENDENCIES = ['aws-cdk-lib', 'constructs', 'cdk-nag', '@types/aws-lambda'];
/** Bump when the install layout changes, so older caches are not reused. */
const LAYOUT_VERSION = '1';
const CACHE_ROOT = path.join(os.tmpdir(), 'kpc-packed-app');
const WAIT_LIMIT_MS = 10 * 60_000;
/** Installs of other content (233 MB each) unused for this long are removed when a new one is made. */
const STALE_AFTER_MS = 20 * 60_000;

export interface PackedInstall {
  /** The directory whose node_modules holds the installed tarball and the user's dependencies. */
  readonly dir: string;
  /** The tarball `npm pack` made. */
  readonly tarball: string;
  /** Whether this call packed and installed it (false: reused from an earlier call or run). */
  readonly built: boolean;
}

/**
 * The packed and installed package for the current content of lib/, lambda/ and the manifest:
 * reused when an install of the same content exists, made (once, whoever asks first) when not.
 */
export async function packedInstall(): Promise<PackedInstall> {
  fs.mkdirSync(CACHE_ROOT, { recursive: true });
  const snapshot = fs.mkdtempSync(path.join(CACHE_ROOT, 'snapshot-'));
  try {
    // Copy first, hash and pack the copy: the tree is shared, and files may change mid-pack.
    for (const input of PACKAGE_INPUTS) {
      fs.cpSync(path.join(ROOT, input), path.join(snapshot, input), { recursive: true });
    }
    const dir = path.join(CACHE_ROOT, contentHash(snapshot));
    const tarball = path.join(dir, `${PACKAGE.name}-${PACKAGE.version}.tgz`);
    const ready = path.join(dir, '.ready');
    const lock = `${dir}.lock`;
    // A build of this content that failed while this process waited fails it too (no second try).
    const failed = `${dir}.failed`;
    const waitStart = Date.now();
    const deadline = waitStart + WAIT_LIMIT_MS;
    for (;;) {
      if (fs.existsSync(ready)) {
        const now = new Date();
        fs.utimesSync(ready, now, now);
        return { dir, tarball, built: false };
      }
      const failedMeanwhile = () => fs.existsSync(failed) && fs.statSync(failed).mtimeMs >= waitStart;
      if (failedMeanwhile()) {
        throw new Error(`packedInstall: another process failed to build ${dir}: ${fs.readFileSync(failed, 'utf8')}`);
      }
      if (tryLock(lock)) {
        try {
          if (fs.existsSync(ready)) {
            return { dir, tarball, built: false };
          }
          if (failedMeanwhile()) {
            throw new Error(`packedInstall: another process failed to build ${dir}: ${fs.readFileSync(failed, 'utf8')}`);
          }
          try {
            build(snapshot, dir);
          } catch (error) {
            fs.rmSync(dir, { recursive: true, force: true });
            fs.writeFileSync(failed, (error as Error).message);
            throw error;
          }
          fs.rmSync(failed, { force: true });
          fs.writeFileSync(ready, new Date().toISOString());
          removeStaleInstalls(dir);
          return { dir, tarball, built: true };
        } finally {
          fs.rmSync(lock, { recursive: true, force: true });
        }
      }
      if (Date.now() > deadline) {
        throw new Error(`packedInstall: waited ${WAIT_LIMIT_MS / 1000} s for another process to build ${dir} (lock ${lock})`);
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  } finally {
    fs.rmSync(snapshot, { recursive: true, force: true });
  }
}

/** A new, empty app folder inside the install (remove it with `fs.rmSync` when done). */
export function createAppDir(install: PackedInstall, prefix: string): string {
  const apps = path.join(install.dir, 'apps');
  fs.mkdirSync(apps, { recursive: true });
  return fs.mkdtempSync(path.join(apps, `${prefix}-`));
}

/**
 * Type-checks and compiles the app's TypeScript files in place (CommonJS next to the sources),
 * strict, against the package's shipped declarations: as a user's `tsc` would.
 */
export function compileApp(appDir: string, files: string[]): void {
  runExplained(
    process.execPath,
    [
      path.join(ROOT, 'node_modules/typescript/bin/tsc'),
      ...files,
      '--strict',
      '--module',
      'commonjs',
      '--target',
      'es2022',
      '--moduleResolution',
      'node',
      '--skipLibCheck',
      '--esModuleInterop',
      '--types',
      'node',
      '--typeRoots',
      path.join(ROOT, 'node_modules/@types'),
    ],
    appDir,
  );
}

function contentHash(snapshot: string): string {
  const hash = createHash('sha256').update(`layout ${LAYOUT_VERSION}\n`);
  for (const name of USER_DEPENDENCIES) {
    hash.update(`${name}@${PACKAGE.devDependencies[name]}\n`);
  }
  for (const file of listFiles(snapshot)) {
    hash
      .update(`${file}\n`)
      .update(fs.readFileSync(path.join(snapshot, file)))
      .update('\n');
  }
  return hash.digest('hex').slice(0, 16);
}

function listFiles(dir: string, prefix = ''): string[] {
  return fs
    .readdirSync(path.join(dir, prefix), { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((entry) => {
      const relative = path.join(prefix, entry.name);
      return entry.isDirectory() ? listFiles(dir, relative) : [relative];
    });
}

/** Pack the snapshot (prepack compiles it, with the repo's node_modules) and install the tarball into `dir`. */
function build(snapshot: string, dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(snapshot, 'node_modules'), 'dir');
  const tarball = runExplained('npm', ['pack', '--silent', '--pack-destination', dir], snapshot).trim().split('\n').pop()!;
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'packed-app', version: '1.0.0', private: true }));
  runExplained(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      '--loglevel=error',
      `./${tarball}`,
      ...USER_DEPENDENCIES.map((name) => `${name}@${PACKAGE.devDependencies[name]}`),
    ],
    dir,
  );
}

/** Runs a command, and when it fails throws with what it printed (tsc's errors, npm's reasons). */
function runExplained(command: string, args: string[], cwd: string): string {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const failed = error as { status?: number; stdout?: string; stderr?: string };
    const output = `${failed.stdout ?? ''}${failed.stderr ?? ''}`.trim();
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd} (exit ${failed.status}):\n${output.slice(-8000)}`, { cause: error });
  }
}

/** Takes the lock, or takes over a lock whose holder has exited. */
function tryLock(lock: string): boolean {
  try {
    fs.mkdirSync(lock);
    fs.writeFileSync(path.join(lock, 'pid'), String(process.pid));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw error;
    }
  }
  const holder = Number(readOrEmpty(path.join(lock, 'pid')));
  if (holder > 0 && !isAlive(holder)) {
    fs.rmSync(lock, { recursive: true, force: true });
  }
  return false;
}

function readOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes installs of other content not used for a while (each later run of an older tree rebuilds its own). */
function removeStaleInstalls(current: string): void {
  for (const name of fs.readdirSync(CACHE_ROOT)) {
    const entry = path.join(CACHE_ROOT, name);
    if (entry === current || name.endsWith('.lock')) {
      continue;
    }
    const lastUse = lastUseOf(entry);
    if (lastUse !== undefined && Date.now() - lastUse > STALE_AFTER_MS && !fs.existsSync(`${entry}.lock`)) {
      fs.rmSync(entry, { recursive: true, force: true });
    }
  }
}

/** When an install (its `.ready` marker) or another entry was last used; undefined when another process just removed it. */
function lastUseOf(entry: string): number | undefined {
  for (const file of [path.join(entry, '.ready'), entry]) {
    try {
      return fs.statSync(file).mtimeMs;
    } catch (error) {
      // ENOTDIR: the entry is a file (a failed build's note), which has no .ready inside.
      if (!['ENOENT', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '')) {
        throw error;
      }
    }
  }
  return undefined;
}
