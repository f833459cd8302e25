import { KinesisEmulator } from './emulators';
import type { LocalRunOptions } from './run';

export class UsageError extends Error {
  public override readonly name = 'UsageError';
}

export const USAGE = `usage: npm run local -- [options]
  --duration <s>        seconds of load (default 30)
  --rate <n>            records per second sent to the producer (default 100)
  --record-size <bytes> size of each record (default 512)
  --partition-keys <n>  distinct partition keys (default 32)
  --shards <n>          shards of the provisioned stream, as \`cdk synth -c shards=<n>\` (default 2)
  --stack <name>        ProvisionedPipeline (default) or OnDemandPipeline
  --parallelization-factor <n>
                        batches of a shard at once, 1 to 10 (default: the template's mapping);
                        the consumer is told the factor may reach it (MAX_PARALLELIZATION_FACTOR)
  --redeliver-every <n> deliver every n-th finished batch once more, as Lambda may after a lost
                        answer; the consumer must skip it all (default 0: never)
  --emulator <name>     auto (default), kinesalite or kinesis-local
  --kinesis-port <n>    port of the Kinesis emulator (default: a free one)
  --dynamodb-port <n>   port of dynalite (default: a free one)
  --drain <s>           longest wait for the consumer after the load stops (default 20)
  --out-dir <path>      where handler logs and the on-failure destination go (default: a temp folder)
  --view <mode>         tty, lines or none (default: tty on a terminal, else lines)`;

/** Parses `npm run local` flags (`--name value` or `--name=value`). */
export function parseArgs(argv: readonly string[]): LocalRunOptions {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      throw new UsageError(USAGE);
    }
    if (!arg.startsWith('--')) {
      throw new UsageError(`unexpected argument '${arg}'\n${USAGE}`);
    }
    const eq = arg.indexOf('=');
    if (eq > 0) {
      values.set(arg.slice(2, eq), arg.slice(eq + 1));
    } else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) {
        throw new UsageError(`${arg} needs a value\n${USAGE}`);
      }
      values.set(arg.slice(2), next);
      i += 1;
    }
  }
  const known = [
    'duration',
    'rate',
    'record-size',
    'partition-keys',
    'shards',
    'stack',
    'parallelization-factor',
    'redeliver-every',
    'emulator',
    'kinesis-port',
    'dynamodb-port',
    'drain',
    'out-dir',
    'view',
  ];
  for (const key of values.keys()) {
    if (!known.includes(key)) {
      throw new UsageError(`unknown option --${key}\n${USAGE}`);
    }
  }
  const num = (key: string, fallback: number, min: number, max: number, integer = true): number => {
    const text = values.get(key);
    if (text === undefined) {
      return fallback;
    }
    const value = Number(text);
    if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
      throw new UsageError(`--${key} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}; received '${text}'`);
    }
    return value;
  };
  const emulator = values.get('emulator') ?? 'auto';
  if (emulator !== 'auto' && !Object.values(KinesisEmulator).includes(emulator as KinesisEmulator)) {
    throw new UsageError(`--emulator must be auto, kinesalite or kinesis-local; received '${emulator}'`);
  }
  const view = values.get('view');
  if (view !== undefined && !['tty', 'lines', 'none'].includes(view)) {
    throw new UsageError(`--view must be tty, lines or none; received '${view}'`);
  }
  return {
    durationMs: num('duration', 30, 1, 86_400, false) * 1000,
    rate: num('rate', 100, 1, 100_000),
    recordSize: num('record-size', 512, 64, 1_048_576),
    partitionKeys: num('partition-keys', 32, 1, 1_000_000),
    ...(values.has('shards') ? { shards: num('shards', 2, 1, 10_000) } : {}),
    ...(values.has('parallelization-factor') ? { parallelizationFactor: num('parallelization-factor', 1, 1, 10) } : {}),
    redeliverEvery: num('redeliver-every', 0, 0, 1_000_000),
    stackName: values.get('stack') ?? 'ProvisionedPipeline',
    emulator: emulator as LocalRunOptions['emulator'],
    kinesisPort: num('kinesis-port', 0, 0, 65_535),
    dynamodbPort: num('dynamodb-port', 0, 0, 65_535),
    drainMs: num('drain', 20, 0, 3600, false) * 1000,
    outDir: values.get('out-dir'),
    view: view as LocalRunOptions['view'],
  };
}
