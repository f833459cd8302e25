/**
 * `npm run bench`: runs every `bench/*.bench.ts` in turn. Each exports `run()`, which measures
 * our code and its reference in the same process and prints ratios, never absolute pass/fail.
 * `npm run bench -- producer` runs only the files whose name contains "producer".
 */
import * as fs from 'fs';
import * as path from 'path';

async function main(): Promise<void> {
  const filter = process.argv[2];
  const files = fs
    .readdirSync(__dirname)
    .filter((file) => file.endsWith('.bench.ts'))
    .filter((file) => !filter || file.includes(filter))
    .sort();
  if (files.length === 0) {
    throw new Error(`no benchmark matches '${filter ?? ''}' in ${__dirname}`);
  }
  for (const file of files) {
    console.log(`\n## ${file}`);
    const bench = (await import(path.join(__dirname, file))) as { run: () => Promise<void> };
    await bench.run();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
