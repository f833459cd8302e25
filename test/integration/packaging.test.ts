import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/**
 * The package as users get it: `npm pack`, install the tarball into a fresh CDK app that imports
 * the public API by package name, type-check that app against the shipped declarations, and
 * synthesize it with real asset bundling (esbuild, from inside node_modules).
 */
const ROOT = path.resolve(__dirname, '../..');
const PACKAGE = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  devDependencies: Record<string, string>;
};

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
  let workDir: string;

  beforeAll(() => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kpc-pack-'));
  });

  afterAll(() => {
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  test('installs into another CDK app, type-checks and synthesizes offline', () => {
    // Prepare: pack (prepack builds dist/) and a consumer app that depends on the tarball.
    const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', workDir], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').pop()!;
    const appDir = path.join(workDir, 'app');
    fs.mkdirSync(appDir);
    fs.writeFileSync(path.join(appDir, 'package.json'), JSON.stringify({ name: 'consumer-app', version: '1.0.0', private: true }));
    execFileSync('npm', [
      'install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error',
      path.join(workDir, tarball),
      `aws-cdk-lib@${PACKAGE.devDependencies['aws-cdk-lib']}`,
      `constructs@${PACKAGE.devDependencies.constructs}`,
    ], { cwd: appDir, stdio: 'pipe' });
    fs.writeFileSync(path.join(appDir, 'app.ts'), APP_SOURCE);

    // Act: compile with the shipped .d.ts files, then run the app (bundling happens here).
    execFileSync(process.execPath, [
      path.join(ROOT, 'node_modules/typescript/bin/tsc'), 'app.ts',
      '--strict', '--module', 'commonjs', '--target', 'es2022', '--moduleResolution', 'node', '--skipLibCheck', '--types', 'node',
      '--typeRoots', path.join(ROOT, 'node_modules/@types'),
    ], { cwd: appDir, stdio: 'pipe' });
    const output = execFileSync(process.execPath, ['app.js'], { cwd: appDir, encoding: 'utf8' });

    // Assess: the app ran, and its template holds the pipeline from the package.
    expect(JSON.parse(output.trim().split('\n').pop()!)).toEqual({ stream: 'provisioned', extra: 'on-demand' });
    const template = JSON.parse(fs.readFileSync(path.join(appDir, 'cdk.out', 'Consumer.template.json'), 'utf8')) as { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };
    const streams = Object.values(template.Resources).filter((resource) => resource.Type === 'AWS::Kinesis::Stream');
    expect(streams).toHaveLength(2);
    expect(streams.map((stream) => (stream.Properties?.StreamModeDetails as { StreamMode: string }).StreamMode).sort()).toEqual(['ON_DEMAND', 'PROVISIONED']);
    // Every bundled Lambda has its asset in the assembly: a minified ES module built by esbuild.
    const functions = Object.values(template.Resources).filter((resource) => resource.Type === 'AWS::Lambda::Function') as Array<{ Metadata?: Record<string, string> }>;
    for (const fn of functions.filter((resource) => resource.Metadata?.['aws:asset:property'] === 'Code')) {
      const assetDir = path.join(appDir, 'cdk.out', fn.Metadata!['aws:asset:path']);
      expect(fs.readdirSync(assetDir)).toEqual(expect.arrayContaining(['index.mjs']));
    }
  }, 300_000);
});
