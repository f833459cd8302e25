import * as fs from 'fs';
import * as path from 'path';
import { Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';

/** The package root: the folder with our package.json, from `lib/` or from `dist/lib/`. */
export const PACKAGE_ROOT = findPackageRoot(__dirname);

/**
 * The TypeScript entry of a bundled handler, `lambda/<name>/index.ts`. The `.ts` sources ship in
 * the npm package (`files` in package.json), so the entry resolves inside `node_modules` too.
 */
export function handlerEntry(name: string): string {
  return path.join(PACKAGE_ROOT, 'lambda', name, 'index.ts');
}

/**
 * Settings every handler of this library shares: Node.js 24 on ARM64, bundled locally by esbuild
 * (never Docker) as a minified ES module with source maps, and JSON logs.
 * Construct-specific props are spread over these.
 */
export function pipelineFunctionDefaults(entry: string): nodejs.NodejsFunctionProps {
  return {
    entry,
    handler: 'handler',
    runtime: lambda.Runtime.NODEJS_24_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: 512,
    timeout: Duration.seconds(30),
    loggingFormat: lambda.LoggingFormat.JSON,
    environment: {
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    },
    bundling: {
      forceDockerBundling: false,
      minify: true,
      sourceMap: true,
      sourcesContent: false,
      format: nodejs.OutputFormat.ESM,
      target: 'node24',
      mainFields: ['module', 'main'],
      // ESM output still meets CommonJS code inside the SDK; give it a require.
      banner: "import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);",
      // Bundle the SDK too: a pinned, tree-shaken client instead of whatever the runtime ships.
      externalModules: [],
    },
  };
}

/** CloudWatch namespace of the handlers' own (EMF) metrics. */
export const METRICS_NAMESPACE = 'KinesisPipeline';

function findPackageRoot(start: string): string {
  let dir = start;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(`kinesis-pipeline-cdk: no package.json above ${start}`);
    }
    dir = parent;
  }
  return dir;
}
