import { startDynalite as startDynaliteServer, startKinesisLocal as startKinesisLocalServer, type Emulator } from '../helpers/emulators';

/**
 * The emulators of test/helpers/emulators.ts (kinesis-local with fast reshards), for the integration tests: on
 * free loopback ports, stopped by `stop()` with nothing left behind.
 */
export type KinesisLocal = Emulator;
export type Dynalite = Emulator;

/** kinesis-local (kinesis-mock) as a child process; reshards take `updateShardCountMs`. */
export function startKinesisLocal(options: { updateShardCountMs?: number } = {}): Promise<KinesisLocal> {
  return startKinesisLocalServer(0, { updateShardCountMs: options.updateShardCountMs ?? 300 });
}

/** dynalite, in memory, in this process. */
export function startDynalite(): Promise<Dynalite> {
  return startDynaliteServer();
}
