import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Stack } from 'aws-cdk-lib';
import { ConsumerFunction, DataStream } from '../../lib';
import { encodeAggregated } from '../helpers/kpl-encoder';
import { testApp } from '../helpers/app';
import { kinesisRecord } from '../consumer/factories';

/**
 * The processor bundling for real: a processor module in a folder of its own (outside this
 * package, importing a sibling module) is bundled by esbuild into the consumer's one file, and
 * the bundled handler, run by plain Node.js, calls it for each user record.
 */
let workDir: string;

beforeAll(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'consumer-bundle-'));
});

afterAll(() => {
  fs.rmSync(workDir, { recursive: true, force: true });
});

describe('ConsumerFunction bundling', () => {
  test('bundles the user processor (and what it imports) with the handler, and the bundle calls it per user record', () => {
    // Prepare: a processor that fails on "poison" and prints what it saw.
    const processorDir = path.join(workDir, 'my-app', 'src');
    fs.mkdirSync(processorDir, { recursive: true });
    fs.writeFileSync(
      path.join(processorDir, 'format.ts'),
      'export const line = (key: string, data: string): string => `SEEN ${key} ${data}`;\n',
    );
    fs.writeFileSync(
      path.join(processorDir, 'processor.ts'),
      [
        "import { line } from './format';",
        'export async function processRecord(record: { partitionKey: string; data: Buffer }): Promise<void> {',
        "  if (record.data.toString() === 'poison') { throw new Error('poison'); }",
        '  process.stdout.write(line(record.partitionKey, record.data.toString()) + "\\n");',
        '}',
      ].join('\n'),
    );
    const app = testApp({ bundle: true });
    const stack = new Stack(app, 'Bundled');
    const stream = new DataStream(stack, 'Stream');
    new ConsumerFunction(stack, 'Consumer', { stream, processorEntry: path.join(processorDir, 'processor.ts') });

    // Act: synthesize (esbuild runs), then invoke the bundled handler in a plain Node.js process.
    const assembly = app.synth({ force: true });
    const template = assembly.getStackByName('Bundled').template as {
      Resources: Record<
        string,
        {
          Type: string;
          Properties?: { Handler?: string; Code?: { S3Key?: string }; Environment?: { Variables?: Record<string, unknown> } };
        }
      >;
    };
    const fn = Object.values(template.Resources).find(
      (resource) => resource.Type === 'AWS::Lambda::Function' && resource.Properties?.Handler === 'index.handler',
    )!;
    // The code's S3 key is `<asset hash>.zip`; the assembly holds the bundle in `asset.<asset hash>`.
    const bundle = path.join(assembly.directory, `asset.${fn.Properties!.Code!.S3Key!.replace(/\.zip$/, '')}`, 'index.mjs');
    const event = {
      Records: [
        kinesisRecord('first', { offset: 1, partitionKey: 'p1' }),
        kinesisRecord(
          encodeAggregated([
            { partitionKey: 'a', data: Buffer.from('agg-0') },
            { partitionKey: 'b', data: Buffer.from('agg-1') },
          ]),
          { offset: 2 },
        ),
        kinesisRecord('poison', { offset: 3, partitionKey: 'p3' }),
        kinesisRecord('other-key', { offset: 4, partitionKey: 'p4' }),
      ],
    };
    // The construct's ordering settings, as the function gets them (the lease table name is a token: no checkpointing here).
    const variables = fn.Properties!.Environment!.Variables!;
    const orderingEnv = { ORDERING: String(variables.ORDERING), MAX_CONCURRENCY: String(variables.MAX_CONCURRENCY) };
    const script = `
      const { handler } = await import(${JSON.stringify(bundle)});
      const context = { functionName: 'bundled', getRemainingTimeInMillis: () => 60000 };
      const response = await handler(${JSON.stringify(event)}, context);
      process.stdout.write('RESPONSE ' + JSON.stringify(response) + '\\n');
    `;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH,
        AWS_REGION: 'us-east-1',
        POWERTOOLS_LOG_LEVEL: 'SILENT',
        POWERTOOLS_METRICS_DISABLED: 'true',
        RESERVE_MILLIS: '0',
        ...orderingEnv,
      },
    });

    // Assess: the bundle is self-contained; by default (per-key order) the poison record stops its
    // own key only, so every other key's record is processed and the response names the poison one.
    expect(orderingEnv).toEqual({ ORDERING: 'partition-key', MAX_CONCURRENCY: '16' });
    expect(fs.readFileSync(bundle, 'utf8')).toContain('SEEN ');
    const lines = output.split('\n');
    expect(lines.filter((entry) => entry.startsWith('SEEN ')).sort()).toEqual([
      'SEEN a agg-0',
      'SEEN b agg-1',
      'SEEN p1 first',
      'SEEN p4 other-key',
    ]);
    const response = JSON.parse(lines.find((entry) => entry.startsWith('RESPONSE '))!.slice('RESPONSE '.length)) as {
      batchItemFailures: { itemIdentifier: string }[];
    };
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: event.Records[2].kinesis.sequenceNumber }]);
  }, 120_000);
});
