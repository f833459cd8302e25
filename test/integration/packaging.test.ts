import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { compileApp, createAppDir, PACKAGE, packedInstall } from '../helpers/packed-app';

/**
 * The package as users get it: `npm pack`, install the tarball into a fresh CDK app that imports
 * the public API by package name, type-check that app against the shipped declarations, and
 * synthesize it with real asset bundling (esbuild, from inside node_modules). The pack and install
 * are shared with the other tests that play a user (test/helpers/packed-app.ts).
 */

const APP_SOURCE = `
import { App, Stack } from 'aws-cdk-lib';
import { DataStream, DataStreamMode, StreamingPipeline } from '${PACKAGE.name}';

const app = new App({ outdir: 'cdk.out' });
const stack = new Stack(app, 'Consumer');
const pipeline = new StreamingPipeline(stack, 'Pipeline');
const extra = new DataStream(stack, 'Extra', { mode: DataStreamMode.ON_DEMAND });
const mode: string = extra.mode;
console.log(JSON.stringify({ stream: pipeline.stream.mode, extra: mode }));
app.synth();
`;

describe('npm package', () => {
  let appDir: string | undefined;

  afterAll(() => {
    if (appDir) {
      fs.rmSync(appDir, { recursive: true, force: true });
    }
  });

  test('installs into another CDK app, type-checks and synthesizes offline', async () => {
    // Prepare: the packed tarball installed (prepack builds dist/), and an app next to it that imports it by name.
    const install = await packedInstall();
    appDir = createAppDir(install, 'pipeline-app');
    fs.writeFileSync(path.join(appDir, 'app.ts'), APP_SOURCE);

    // Act: compile with the shipped .d.ts files, then run the app (bundling happens here).
    compileApp(appDir, ['app.ts']);
    const output = execFileSync(process.execPath, ['app.js'], { cwd: appDir, encoding: 'utf8' });

    // Assess: the app ran, and its template holds the pipeline from the package.
    expect(JSON.parse(output.trim().split('\n').pop()!)).toEqual({ stream: 'provisioned', extra: 'on-demand' });
    const template = JSON.parse(fs.readFileSync(path.join(appDir, 'cdk.out', 'Consumer.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }>;
    };
    const streams = Object.values(template.Resources).filter((resource) => resource.Type === 'AWS::Kinesis::Stream');
    expect(streams).toHaveLength(2);
    expect(streams.map((stream) => (stream.Properties?.StreamModeDetails as { StreamMode: string }).StreamMode).sort()).toEqual([
      'ON_DEMAND',
      'PROVISIONED',
    ]);
    // Every bundled Lambda has its asset in the assembly: a minified ES module built by esbuild.
    const functions = Object.values(template.Resources).filter((resource) => resource.Type === 'AWS::Lambda::Function') as Array<{
      Metadata?: Record<string, string>;
    }>;
    for (const fn of functions.filter((resource) => resource.Metadata?.['aws:asset:property'] === 'Code')) {
      const assetDir = path.join(appDir, 'cdk.out', fn.Metadata!['aws:asset:path']);
      expect(fs.readdirSync(assetDir)).toEqual(expect.arrayContaining(['index.mjs']));
    }
  }, 300_000);
});
