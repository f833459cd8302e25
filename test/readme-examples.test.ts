import * as fs from 'fs';
import * as path from 'path';
import type { App } from 'aws-cdk-lib';
import * as cxapi from 'aws-cdk-lib/cx-api';
import * as ts from 'typescript';
import { CDK_JSON_CONTEXT } from './helpers/app';

/**
 * The README's TypeScript examples compile and synthesize, as a user would paste them.
 *
 * Convention (for whoever edits the README):
 * - Every ```ts block is a complete file, importing the library as `kinesis-pipeline-cdk`; the
 *   test maps that to this repository's `lib/index`.
 * - A block whose first line is `// <name>.ts` is written under that name, so other blocks can
 *   point at it (the consumer examples' `processorEntry: path.join(__dirname, 'processor.ts')`).
 * - A block with `const app = new App();` is an app: it is run with bundling skipped and its
 *   `app` synthesized, so a prop the constructs refuse fails the test too.
 * - A fragment that cannot be a complete file is marked with the line
 *   `<!-- readme-examples: skip -->` just before its fence. Prefer complete blocks.
 *
 * All blocks are type-checked by one TypeScript program (the repository's compiler options,
 * `types: ['node']`), so this stays fast. The ```ts blocks of the reference pages
 * (docs/constructs/*.md) are complete files too and are type-checked in the same program.
 */
const ROOT = path.resolve(__dirname, '..');
const README = path.join(ROOT, 'README.md');
const CONSTRUCT_PAGES = path.join(ROOT, 'docs', 'constructs');
const PACKAGE_NAME = 'kinesis-pipeline-cdk';
const LIB_INDEX = path.join(ROOT, 'lib', 'index').split(path.sep).join('/');
const SKIP_MARKER = '<!-- readme-examples: skip -->';
const APP_LINE = /^const app = new App\(\);$/m;
/** The public constructs: each must have a quick start that synthesizes. */
const CONSTRUCTS = [
  'DataStream',
  'ProducerFunction',
  'ConsumerFunction',
  'LeaseTable',
  'FirehoseArchive',
  'ShardAutoscaler',
  'PipelineMonitoring',
  'StreamingPipeline',
  'StreamingPipelineStack',
];

interface Example {
  /** The Markdown file, relative to the repository. */
  readonly source?: string;
  /** Line of the opening fence in the Markdown file (1-based). */
  readonly line: number;
  readonly code: string;
  readonly fileName: string;
  readonly isApp: boolean;
}

/** The ```ts blocks of a Markdown text, without the ones marked to skip. */
function extractExamples(markdown: string): Example[] {
  const lines = markdown.split('\n');
  const examples: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})(ts|typescript)\s*$/.exec(lines[i]);
    if (!open) {
      continue;
    }
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i].trim() !== open[1]; i++) {
      body.push(lines[i]);
    }
    let previous = start - 1;
    while (previous >= 0 && lines[previous].trim() === '') {
      previous--;
    }
    if (previous >= 0 && lines[previous].trim() === SKIP_MARKER) {
      continue;
    }
    const code = body.join('\n') + '\n';
    const named = /^\/\/\s*([\w.-]+\.ts)\s*$/.exec(body[0] ?? '')?.[1];
    examples.push({ line: start + 1, code, fileName: named ?? `example-${examples.length + 1}.ts`, isApp: APP_LINE.test(code) });
  }
  return examples;
}

/** The block as it compiles in this repository: the package name mapped to lib/index. */
function mapImports(code: string): string {
  return code.split(`from '${PACKAGE_NAME}'`).join(`from '${LIB_INDEX}'`);
}

/** Type-checks files in one program; returns the errors of each file, with the README's line numbers. */
function typeCheck(files: Array<{ path: string; example: Example }>): Map<string, string[]> {
  const config = ts.readConfigFile(path.join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  const program = ts.createProgram(
    files.map((file) => file.path),
    { ...options, noEmit: true, types: ['node'], sourceMap: false, declaration: false },
  );
  const errors = new Map<string, string[]>();
  for (const { path: file, example } of files) {
    const source = program.getSourceFile(file)!;
    const diagnostics = [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)];
    errors.set(
      file,
      diagnostics.map((diagnostic) => {
        const { line } =
          diagnostic.file && diagnostic.start !== undefined
            ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start)
            : { line: -1 };
        return `${example.source ?? 'README.md'}:${example.line + 1 + line} (${example.fileName}): TS${diagnostic.code} ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
      }),
    );
  }
  return errors;
}

/**
 * Runs an app block as CommonJS with this test's `require` (lib/ through ts-jest), its `new App()`
 * given cdk.json's context with bundling skipped and an output folder, and returns its `app`.
 */
function runApp(example: Example, dir: string, outdir: string): App {
  const appProps = { context: { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [] }, outdir };
  const code = mapImports(example.code).replace(APP_LINE, 'const app = new App(__exampleAppProps);');
  const js = ts.transpileModule(code, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  }).outputText;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- runs a documentation example as a user's app runs it; the source is this repository's README
  const run = new Function('require', 'module', 'exports', '__dirname', '__filename', '__exampleAppProps', `${js}\nreturn app;`) as (
    ...args: unknown[]
  ) => App;
  const exampleModule = { exports: {} };
  return run(require, exampleModule, exampleModule.exports, dir, path.join(dir, example.fileName), appProps);
}

describe('README examples', () => {
  const examples = extractExamples(fs.readFileSync(README, 'utf8'));
  const pageExamples = fs
    .readdirSync(CONSTRUCT_PAGES)
    .filter((name) => name.endsWith('.md'))
    .sort()
    .flatMap((name) =>
      extractExamples(fs.readFileSync(path.join(CONSTRUCT_PAGES, name), 'utf8')).map((example, index) => ({
        ...example,
        source: `docs/constructs/${name}`,
        fileName: `${path.basename(name, '.md')}-${index + 1}.ts`,
      })),
    );
  let dir: string;

  beforeAll(() => {
    // Under node_modules/ so the blocks resolve aws-cdk-lib and @types/aws-lambda as in an app.
    const cache = path.join(ROOT, 'node_modules', '.cache');
    fs.mkdirSync(cache, { recursive: true });
    dir = fs.mkdtempSync(path.join(cache, 'readme-examples-'));
    fs.mkdirSync(path.join(dir, 'pages'));
    for (const example of examples) {
      fs.writeFileSync(path.join(dir, example.fileName), mapImports(example.code));
    }
    for (const example of pageExamples) {
      fs.writeFileSync(path.join(dir, 'pages', example.fileName), mapImports(example.code));
    }
  });

  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the README has a synthesized quick start for every public construct', () => {
    const apps = examples.filter((example) => example.isApp);
    expect(new Set(examples.map((example) => example.fileName)).size).toBe(examples.length);
    for (const name of CONSTRUCTS) {
      expect({ name, found: apps.some((example) => new RegExp(`new ${name}\\(`).test(example.code)) }).toEqual({ name, found: true });
    }
  });

  test('every ts block of the README and docs/constructs type-checks against lib/ (one program), and a wrong prop does not', () => {
    // Prepare: the README's blocks, plus one block with a misspelt prop that must fail.
    const wrong: Example = {
      line: 0,
      fileName: 'wrong-prop.ts',
      isApp: true,
      code: `import { App, Stack } from 'aws-cdk-lib';\nimport { DataStream } from '${PACKAGE_NAME}';\n\nconst app = new App();\nnew DataStream(new Stack(app, 'S'), 'D', { shardCont: 2 });\n`,
    };
    fs.writeFileSync(path.join(dir, wrong.fileName), mapImports(wrong.code));
    const files = [
      ...examples.map((example) => ({ path: path.join(dir, example.fileName), example })),
      ...pageExamples.map((example) => ({ path: path.join(dir, 'pages', example.fileName), example })),
      { path: path.join(dir, wrong.fileName), example: wrong },
    ];
    expect(pageExamples.length).toBeGreaterThanOrEqual(CONSTRUCTS.length);

    // Act
    const errors = typeCheck(files);

    // Assess: no error in the documentation's blocks; the misspelt prop is reported.
    const documentationErrors = files.slice(0, -1).flatMap((file) => errors.get(file.path)!);
    expect(documentationErrors).toEqual([]);
    expect(errors.get(path.join(dir, wrong.fileName))!.join('\n')).toMatch(/TS2561|TS2353/);
  }, 180_000);

  test('every app block synthesizes with bundling skipped', () => {
    const apps = examples.filter((example) => example.isApp);
    expect(apps.length).toBeGreaterThanOrEqual(CONSTRUCTS.length);
    apps.forEach((example, index) => {
      const assembly = runApp(example, dir, path.join(dir, `cdk.out-${index}`)).synth();
      const errors = assembly.stacks.flatMap((stack) =>
        stack.messages
          .filter((message) => message.level === cxapi.SynthesisMessageLevel.ERROR)
          .map((message) => `${stack.stackName}: ${JSON.stringify(message.entry.data)}`),
      );
      expect({ example: `README.md:${example.line}`, stacks: assembly.stacks.length > 0, errors }).toEqual({
        example: `README.md:${example.line}`,
        stacks: true,
        errors: [],
      });
    });
  }, 180_000);

  test('a prop the construct refuses fails the synthesis step', () => {
    const refused: Example = {
      line: 0,
      fileName: 'refused.ts',
      isApp: true,
      code: `import { App, Stack } from 'aws-cdk-lib';\nimport { DataStream } from '${PACKAGE_NAME}';\n\nconst app = new App();\nnew DataStream(new Stack(app, 'S'), 'D', { shardCount: 0 });\n`,
    };
    expect(() => runApp(refused, dir, path.join(dir, 'cdk.out-refused')).synth()).toThrow(
      /shardCount must be a whole number of at least 1; received 0/,
    );
  });

  test('blocks marked to skip are left out, and a first-line file name names the file', () => {
    const markdown = [
      '```ts',
      '// processor.ts',
      'export {};',
      '```',
      '',
      SKIP_MARKER,
      '```ts',
      'stack.fragment();',
      '```',
      '```ts',
      'const app = new App();',
      '```',
    ].join('\n');
    const found = extractExamples(markdown);
    expect(found.map(({ fileName, isApp, line }) => ({ fileName, isApp, line }))).toEqual([
      { fileName: 'processor.ts', isApp: false, line: 1 },
      { fileName: 'example-2.ts', isApp: true, line: 10 },
    ]);
  });
});
