import * as fs from 'fs';
import * as path from 'path';

/**
 * The layout rule of docs/architecture.md: the developer tools (tools/: the local run, the
 * simulation, the diagram) depend on the product, never the reverse. The product (bin/, lib/,
 * lambda/) and its tests (test/) import nothing from tools/ or from the old scripts/ folder, and
 * the shipped code (lib/, lambda/) nothing from the tests or the benches either. The tools' own
 * tests live in tools/<tool>/test/ and are not scanned.
 */
const ROOT = path.join(__dirname, '..');
const SOURCE = /\.(ts|mts|cts|js|mjs|cjs)$/;

/** Every module specifier a file names: static and dynamic imports, re-exports, require, jest.mock. */
function specifiers(source: string): string[] {
  const patterns = [
    /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\b(?:import|require|jest\.(?:mock|requireActual|doMock))\s*\(\s*['"]([^'"]+)['"]/g,
  ];
  return patterns.flatMap((pattern) => [...source.matchAll(pattern)].map((match) => match[1]));
}

/** The specifiers of `file` (relative to the repository root) that resolve into one of `folders`. */
export function importsInto(file: string, source: string, folders: readonly string[]): string[] {
  return specifiers(source).filter((specifier) => {
    if (!specifier.startsWith('.')) return false;
    const target = path.relative(ROOT, path.resolve(ROOT, path.dirname(file), specifier));
    const top = target.split(path.sep)[0];
    return folders.includes(top);
  });
}

function sourceFiles(folder: string): string[] {
  const dir = path.join(ROOT, folder);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => SOURCE.test(name) && !name.split(path.sep).includes('node_modules'))
    .map((name) => path.join(folder, name));
}

function violations(folders: readonly string[], forbidden: readonly string[]): string[] {
  return folders
    .flatMap(sourceFiles)
    .flatMap((file) =>
      importsInto(file, fs.readFileSync(path.join(ROOT, file), 'utf8'), forbidden).map((specifier) => `${file} imports ${specifier}`),
    );
}

describe('layout: tools depend on the product, never the reverse', () => {
  test('bin/, lib/, lambda/ and test/ import nothing from tools/ or scripts/', () => {
    expect(sourceFiles('lib').length).toBeGreaterThan(0);
    expect(sourceFiles('test').length).toBeGreaterThan(0);

    expect(violations(['bin', 'lib', 'lambda', 'test'], ['tools', 'scripts'])).toEqual([]);
  });

  test('the shipped code (lib/, lambda/) imports nothing from test/ or bench/', () => {
    expect(violations(['lib', 'lambda'], ['test', 'bench'])).toEqual([]);
  });

  test('the scan finds every form of import that reaches into a forbidden folder', () => {
    const source = [
      "import { runLocal } from '../../tools/local-run/run';",
      "import type { Emulator } from '../../scripts/local/emulators';",
      "export { simulate } from '../../tools/simulate/model';",
      "import '../../tools/diagram/diagram';",
      "const { traces } = await import('../../tools/simulate/traces');",
      "const policies = require('../../tools/simulate/policies');",
      "jest.mock('../../tools/local-run/poller');",
      "import {\n  startKinesalite,\n} from '../../tools/local-run/emulators';",
      // allowed: product helpers, packages, and a folder that only starts with the same letters
      "import { startDynalite } from '../helpers/emulators';",
      "import { App } from 'aws-cdk-lib';",
      "import { x } from '../../toolsmith/x';",
    ].join('\n');

    expect(importsInto('test/consumer/example.test.ts', source, ['tools', 'scripts'])).toEqual([
      '../../tools/local-run/run',
      '../../scripts/local/emulators',
      '../../tools/simulate/model',
      '../../tools/local-run/emulators',
      '../../tools/diagram/diagram',
      '../../tools/simulate/traces',
      '../../tools/simulate/policies',
      '../../tools/local-run/poller',
    ]);
  });
});
