/**
 * Bundles a handler entry the way the constructs do (`pipelineFunctionDefaults` bundling: minified
 * ESM for node24, source maps, the createRequire banner, nothing external), so the benchmarks
 * measure the code that deploys. Returns the bundle's size in bytes.
 */
import * as fs from 'fs';
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
