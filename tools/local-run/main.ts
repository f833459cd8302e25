/**
 * `npm run local -- [--duration 30] [--rate 100] [--record-size 512] [--parallelization-factor 4] ...`:
 * the whole pipeline on this machine, on emulators. Exits 1 if any record was lost, processed
 * twice or out of order for its partition key, or the consumer's leases do not hold what it
 * acknowledged.
 */
quietSdkNodeVersionWarning();

/** The SDK's notice about Node.js 20 would sit in the middle of the live view: keep other warnings only. */
function quietSdkNodeVersionWarning(): void {
  const defaults = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (warning.name !== 'NodeVersionSupportWarning' && !warning.message.startsWith('NodeVersionSupportWarning')) {
      defaults.forEach((listener) => listener(warning));
    }
  });
}

async function main(): Promise<number> {
  // Loaded after the warning filter: the SDK warns when it is loaded.
  const { parseArgs, UsageError } = await import('./args');
  const { CleanUp } = await import('./emulators');
  const { runLocal } = await import('./run');
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

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`local: ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
