import type { lambdaContext } from '../producer/fixtures';

/** The producer handler as Lambda invokes it. */
export type ProducerHandler = (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<unknown>;

/** The bundled-in-process producer of an integration test, and the resets its module state needs. */
export interface LoadedProducer {
  readonly handler: ProducerHandler;
  /** Forgets the container's clients and shard map (a fresh container). */
  reset(): void;
}

/**
 * Sets `env` on `process.env`, then imports the producer handler (its settings are read from the
 * environment the first time it runs), with its clients and shard map reset. The caller restores
 * `process.env` when done.
 */
export async function loadProducer(env: Record<string, string>): Promise<LoadedProducer> {
  Object.assign(process.env, env);
  const { handler } = (await import('../../lambda/producer/index')) as unknown as { handler: ProducerHandler };
  const { resetShardMapCache } = await import('../../lambda/producer/producer');
  const { resetClients } = await import('../../lambda/shared/clients');
  const reset = (): void => {
    resetClients();
    resetShardMapCache();
  };
  reset();
  return { handler, reset };
}
