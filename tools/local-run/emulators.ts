import { startKinesalite, startKinesisLocal, type Emulator } from '../../test/helpers/emulators';

/**
 * The local run's side of the emulators: which Kinesis emulator `--emulator` picks, and the
 * clean-up that stops everything the run started. The emulators themselves are the product's
 * test infrastructure (test/helpers/emulators.ts); the tool depends on it, never the reverse.
 */
export const KinesisEmulator = {
  KINESALITE: 'kinesalite',
  KINESIS_LOCAL: 'kinesis-local',
} as const;
export type KinesisEmulator = (typeof KinesisEmulator)[keyof typeof KinesisEmulator];

/** Starts the Kinesis emulator of that kind. */
export function startKinesis(kind: KinesisEmulator, port = 0): Promise<Emulator> {
  return kind === KinesisEmulator.KINESIS_LOCAL ? startKinesisLocal(port) : startKinesalite(port);
}

/**
 * Things to stop, in reverse order of start, once: on a normal end, on SIGINT/SIGTERM and on an
 * uncaught exception (the signal handlers are removed again by `stopAll`).
 */
export class CleanUp {
  private readonly tasks: Array<{ name: string; stop: () => Promise<void> | void }> = [];
  private stopping?: Promise<void>;

  public add(name: string, stop: () => Promise<void> | void): void {
    this.tasks.push({ name, stop });
  }

  public stopAll(): Promise<void> {
    this.stopping ??= (async () => {
      for (const task of this.tasks.reverse()) {
        try {
          await task.stop();
        } catch (error) {
          process.stderr.write(`local: stopping ${task.name} failed: ${(error as Error).message}\n`);
        }
      }
    })();
    return this.stopping;
  }

  /** Stops everything on SIGINT/SIGTERM/uncaught errors, then exits with `code`. Returns the uninstaller. */
  public installSignalHandlers(onSignal?: () => void): () => void {
    const handler =
      (reason: string) =>
      (error?: unknown): void => {
        if (error instanceof Error) {
          process.stderr.write(`local: ${reason}: ${error.stack ?? error.message}\n`);
        } else {
          process.stderr.write(`\nlocal: ${reason}, stopping\n`);
        }
        onSignal?.();
        const code = reason === 'SIGINT' ? 130 : reason === 'SIGTERM' ? 143 : 1;
        // At most 5 s of orderly stopping; process.exit still kills any child (see startKinesisLocal).
        setTimeout(() => process.exit(code), 5000).unref();
        void this.stopAll().finally(() => process.exit(code));
      };
    const handlers = {
      SIGINT: handler('SIGINT'),
      SIGTERM: handler('SIGTERM'),
      uncaughtException: handler('uncaught exception'),
      unhandledRejection: handler('unhandled rejection'),
    };
    for (const [event, fn] of Object.entries(handlers)) {
      process.on(event as NodeJS.Signals, fn);
    }
    return () => {
      for (const [event, fn] of Object.entries(handlers)) {
        process.removeListener(event, fn);
      }
    };
  }
}
