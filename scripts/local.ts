import { parseArgs, UsageError } from './local/args';
import { CleanUp } from './local/emulators';
import { runLocal } from './local/run';

/**
 * `npm run local -- [--duration 30] [--rate 100] [--record-size 512] ...`: the whole pipeline on
 * this machine, on emulators. Exits 1 if any record was lost or processed twice.
 */
async function main(): Promise<number> {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const cleanUp = new CleanUp();
  const uninstall = cleanUp.installSignalHandlers();
  try {
    const { ok } = await runLocal({ ...options, cleanUp });
    return ok ? 0 : 1;
  } finally {
    uninstall();
  }
}

main().then((code) => process.exit(code), (error: Error) => {
  process.stderr.write(`local: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
