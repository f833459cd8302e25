/**
 * Per-key ordered concurrency: runs items so that items of one key run strictly in order, one at a
 * time, and items of different keys run concurrently, at most `maxConcurrency` at once (the model
 * is Confluent Parallel Consumer's `ProcessingOrder.KEY`). A failure stops its key: the key's later
 * items never start; other keys go on. Pure scheduling: what an item does is the caller's `run`.
 */

/** What became of an item. */
export const ItemState = {
  /** Not started: its key failed earlier, or time ran out. */
  PENDING: 0,
  RUNNING: 1,
  DONE: 2,
  FAILED: 3,
  /** Already handled before scheduling (the caller marked it): never run, does not block its key. */
  HANDLED: 4,
} as const;
export type ItemState = (typeof ItemState)[keyof typeof ItemState];

export interface ScheduleOptions {
  /** Items in flight at most, 1 or more. */
  readonly maxConcurrency: number;
  /** Asked before each item starts; false stops starting new items (those in flight finish). */
  readonly mayStart?: () => boolean;
}

/**
 * Runs every item of `states` that is PENDING, by key. `keys[i]` is item i's key; `states` is
 * updated in place as items start and end (a caller that stops waiting sees RUNNING for items
 * still in flight). Resolves when nothing runs and nothing more may start. `run` rejecting marks
 * the item FAILED and stops its key; `onFailure` hears why.
 */
export async function runByKey(
  keys: readonly string[],
  states: Uint8Array,
  run: (index: number) => Promise<void>,
  options: ScheduleOptions,
  onFailure?: (index: number, error: unknown) => void,
): Promise<void> {
  // Each key's pending items, in order, with the index of its next one, and a queue of keys with
  // an item ready to start (round robin: a key goes to the back after each item, so every key
  // advances and the lowest unfinished item stays near the front).
  interface KeyQueue {
    readonly items: number[];
    next: number;
  }
  const queues = new Map<string, KeyQueue>();
  const ready: KeyQueue[] = [];
  for (let i = 0; i < keys.length; i++) {
    if (states[i] !== ItemState.PENDING) {
      continue;
    }
    let queue = queues.get(keys[i]);
    if (queue === undefined) {
      queue = { items: [], next: 0 };
      queues.set(keys[i], queue);
      ready.push(queue);
    }
    queue.items.push(i);
  }
  let head = 0;
  const mayStart = options.mayStart ?? (() => true);

  const lane = async (): Promise<void> => {
    while (head < ready.length) {
      if (!mayStart()) {
        return;
      }
      const queue = ready[head++];
      const index = queue.items[queue.next++];
      states[index] = ItemState.RUNNING;
      try {
        await run(index);
        states[index] = ItemState.DONE;
      } catch (error) {
        states[index] = ItemState.FAILED;
        onFailure?.(index, error);
        // The key stops here: its later items stay PENDING.
        continue;
      }
      if (queue.next < queue.items.length) {
        ready.push(queue);
      }
    }
  };

  const lanes = Math.max(1, Math.min(options.maxConcurrency, queues.size));
  const running: Promise<void>[] = [];
  for (let l = 0; l < lanes; l++) {
    running.push(lane());
  }
  await Promise.all(running);
}
