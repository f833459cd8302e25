/**
 * Bundles a handler entry the way the constructs do (`pipelineFunctionDefaults` bundling: minified
 * ESM for node24, source maps, the createRequire banner, nothing external), so the benchmarks
 * measure the code that deploys. Returns the bundle's size in bytes.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as esbuild from 'esbuild';
import { handlerEntry, pipelineFunctionDefaults } from '../lib/private/pipeline-function';

export async function bundleLikeConstruct(entry: string, outfile: string, alias: Record<string, string> = {}): Promise<number> {
  const options = pipelineFunctionDefaults(handlerEntry('consumer')).bundling!;
  await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    outfile,
    minify: options.minify,
    sourcemap: options.sourceMap,
    sourcesContent: options.sourcesContent,
    format: 'esm',
    target: options.target,
    mainFields: options.mainFields,
    banner: { js: options.banner! },
    alias,
    external: options.externalModules,
    logLevel: 'silent',
  });
  return fs.statSync(outfile).size;
}

/**
 * `lambda/` of a git revision, unpacked in `dir` with our node_modules beside it (for esbuild to
 * resolve), for a "before" figure in the same run; returns the entry of handler `name`.
 */
export function checkoutHandler(root: string, ref: string, dir: string, name: string): string {
  const archive = execFileSync('git', ['archive', '--format=tar', ref, 'lambda'], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
  fs.mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-x', '-C', dir], { input: archive });
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return path.join(dir, 'lambda', name, 'index.ts');
}

/** The middle value (the upper one of an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
