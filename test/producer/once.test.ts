import { produceOnce, writtenSetOf } from '../../lambda/producer/once';
import { ProducerInputError, RULES } from '../../lambda/producer/validate';
import { ProgressStatus, WrittenSet, type Claim, type ProgressStore } from '../../lambda/producer/progress-store';
import type { ProducerRecord } from '../../lambda/producer/aggregate';
import type { PreparedPlan, WriteOutcome } from '../../lambda/producer/writer';

/** A progress store fake: claims as told, records every save (bitmap copied) and can fail one. */
function fakeStore(claim: Claim, options: { failFinal?: boolean; claimDelayMs?: number } = {}) {
  const saves: Array<{ written?: number[]; final?: string }> = [];
  const events: string[] = [];
  const store = {
    claim: async () => {
      events.push('claim-start');
      await new Promise((resolve) => setTimeout(resolve, options.claimDelayMs ?? 0));
      events.push('claim-end');
      return claim;
    },
    save: async (_key: string, _owner: string, written: WrittenSet, final?: { status: string }) => {
      // A COMPLETE write stores no bitmap (ProgressStore.save drops it): only the status counts.
      const indices = [...Array(written.bits.length * 8).keys()].filter((i) => written.has(i));
      saves.push({ ...(final?.status === ProgressStatus.COMPLETE ? {} : { written: indices }), ...(final ? { final: final.status } : {}) });
      return !(final && options.failFinal);
    },
  };
  return { store: store as unknown as ProgressStore, saves, events };
}

const records = (n: number): ProducerRecord[] =>
  Array.from({ length: n }, (_, index) => ({ index, partitionKey: `k${index}`, data: Buffer.from(`d${index}`) }));

function outcome(written: number[], failed: number[] = []): WriteOutcome {
  return {
    written,
    writtenCount: written.length,
    failed: failed.map((index) => ({ index, errorCode: 'AccessDeniedException' })),
    kinesisRecords: 1,
    retries: 0,
    throttledEntries: 0,
    misroutedEntries: 0,
    resentRecords: 0,
    unknownOutcomeRetries: 0,
  };
}

const base = { key: 'invoke#1', payloadHash: '-', owner: 'o', remainingMs: () => 10_000 };

describe('produceOnce: progress saves', () => {
  test('one round: the claim and one final write, COMPLETE (no separate round save, no bitmap)', async () => {
    // Prepare
    const { store, saves } = fakeStore({ kind: 'claimed', written: WrittenSet.empty(3) });

    // Act
    const once = await produceOnce(records(3), {
      ...base,
      store,
      produce: async (_pending, _ms, onWritten) => {
        expect(await onWritten!([0, 1, 2], true)).toBe(true);
        return outcome([0, 1, 2]);
      },
    });

    // Assess
    expect(saves).toEqual([{ final: ProgressStatus.COMPLETE }]);
    expect(once.progressSaved).toBe(true);
    expect(once.result.writtenCount).toBe(3);
  });

  test('several rounds: every round but the last is saved before the writer goes on; the last goes with the final write', async () => {
    // Prepare
    const { store, saves } = fakeStore({ kind: 'claimed', written: WrittenSet.empty(4) });

    // Act
    await produceOnce(records(4), {
      ...base,
      store,
      produce: async (_pending, _ms, onWritten) => {
        await onWritten!([0], false);
        await onWritten!([1, 2], false);
        await onWritten!([3], true);
        return outcome([0, 1, 2, 3]);
      },
    });

    // Assess
    expect(saves).toEqual([{ written: [0] }, { written: [0, 1, 2] }, { final: ProgressStatus.COMPLETE }]);
  });

  test("a last round with records left unwritten: the final PARTIAL write carries every acknowledged index, the last round's too", async () => {
    // Prepare
    const { store, saves } = fakeStore({ kind: 'claimed', written: WrittenSet.empty(5) });

    // Act
    const once = await produceOnce(records(5), {
      ...base,
      store,
      produce: async (_pending, _ms, onWritten) => {
        await onWritten!([0, 1], false);
        await onWritten!([3], true);
        return outcome([0, 1, 3], [2, 4]);
      },
    });

    // Assess
    expect(saves).toEqual([{ written: [0, 1] }, { written: [0, 1, 3], final: ProgressStatus.PARTIAL }]);
    expect(once.result.writtenCount).toBe(3);
    expect(once.result.failedCount).toBe(2);
  });

  test('a final write that fails after a last round it carried: progress not saved (a retry would copy those records)', async () => {
    // Prepare
    const { store } = fakeStore({ kind: 'claimed', written: WrittenSet.empty(3) }, { failFinal: true });

    // Act
    const once = await produceOnce(records(3), {
      ...base,
      store,
      produce: async (_pending, _ms, onWritten) => {
        await onWritten!([0, 1], true);
        return outcome([0, 1], [2]);
      },
    });

    // Assess
    expect(once.progressSaved).toBe(false);
    expect(once.result.failedCount).toBe(1);
  });

  test('a final write that fails when every round was saved on its own: progress stays saved (the bitmap is recorded)', async () => {
    // Prepare
    const { store } = fakeStore({ kind: 'claimed', written: WrittenSet.empty(3) }, { failFinal: true });

    // Act
    const once = await produceOnce(records(3), {
      ...base,
      store,
      produce: async (_pending, _ms, onWritten) => {
        await onWritten!([0, 1], false);
        return outcome([0, 1], [2]);
      },
    });

    // Assess
    expect(once.progressSaved).toBe(true);
  });
});

describe('produceOnce: planning while the claim is in flight', () => {
  const plan = { records: [], map: {}, entries: [] } as unknown as PreparedPlan;

  test('plans during the claim, sends only after it answers, and hands the plan over when nothing was written before', async () => {
    // Prepare
    const { store, events } = fakeStore({ kind: 'claimed', written: WrittenSet.empty(3) }, { claimDelayMs: 20 });
    const all = records(3);
    let got: { pending?: readonly ProducerRecord[]; plan?: PreparedPlan } = {};

    // Act
    await produceOnce(all, {
      ...base,
      store,
      prepare: async () => {
        events.push('prepare');
        return plan;
      },
      produce: async (pending, _ms, _onWritten, prepared) => {
        events.push('produce');
        got = { pending, ...(prepared ? { plan: prepared } : {}) };
        return outcome([0, 1, 2]);
      },
    });

    // Assess
    expect(events).toEqual(['claim-start', 'prepare', 'claim-end', 'produce']);
    expect(got.pending).toBe(all);
    expect(got.plan).toBe(plan);
  });

  test('a delivery after one that wrote some records sends only the rest, planned again (no plan handed over)', async () => {
    // Prepare
    const { store } = fakeStore({ kind: 'claimed', written: writtenSetOf(3, [1]) });
    let got: { pending?: readonly ProducerRecord[]; plan?: PreparedPlan } = {};

    // Act
    const once = await produceOnce(records(3), {
      ...base,
      store,
      prepare: async () => plan,
      produce: async (pending, _ms, _onWritten, prepared) => {
        got = { pending, ...(prepared ? { plan: prepared } : {}) };
        return outcome([0, 2]);
      },
    });

    // Assess
    expect(got.pending!.map((r) => r.index)).toEqual([0, 2]);
    expect(got.plan).toBeUndefined();
    expect(once.alreadyWritten).toBe(1);
  });

  test('a claim that fails sends nothing, even with a plan made', async () => {
    // Prepare
    const store = {
      claim: async () => {
        throw new Error('down');
      },
    } as unknown as ProgressStore;
    const produce = jest.fn();

    // Act
    const once = await produceOnce(records(2), { ...base, store, prepare: async () => plan, produce });

    // Assess
    expect(produce).not.toHaveBeenCalled();
    expect(once.result.failed.map((f) => f.errorCode)).toEqual(['ProgressStoreUnavailable', 'ProgressStoreUnavailable']);
  });
});

describe("produceOnce: validation while the claim is in flight (a direct invoke's records, deferred)", () => {
  const invalid = () => {
    throw new ProducerInputError([{ index: 1, rule: RULES.data }]);
  };

  test('parses and plans during the claim; nothing is sent before the claim answers', async () => {
    // Prepare
    const { store, events } = fakeStore({ kind: 'claimed', written: WrittenSet.empty(3) }, { claimDelayMs: 30 });

    // Act
    const once = await produceOnce(
      {
        count: 3,
        parse: () => {
          events.push('parse');
          return records(3);
        },
      },
      {
        ...base,
        store,
        prepare: async () => {
          events.push('prepare');
          return undefined;
        },
        produce: async (pending, _ms, onWritten) => {
          events.push(`produce ${pending.length}`);
          await onWritten!([0, 1, 2], true);
          return outcome([0, 1, 2]);
        },
      },
    );

    // Assess
    expect(events).toEqual(['claim-start', 'parse', 'prepare', 'claim-end', 'produce 3']);
    expect(once.result).toMatchObject({ recordCount: 3, writtenCount: 3, failedCount: 0 });
  });

  test('starts the shard map load once, after the claim went out and before validation (their round trips overlap)', async () => {
    // Prepare
    const { store, events } = fakeStore({ kind: 'claimed', written: WrittenSet.empty(2) }, { claimDelayMs: 30 });
    const parse = () => {
      events.push('parse');
      return records(2);
    };
    const produce = async (
      _pending: readonly unknown[],
      _ms: number,
      onWritten?: (i: readonly number[], last: boolean) => Promise<boolean>,
    ) => {
      await onWritten?.([0, 1], true);
      return outcome([0, 1]);
    };

    // Act
    await produceOnce({ count: 2, parse }, { ...base, store, prefetch: () => events.push('prefetch'), produce });
    const unkeyed: string[] = [];
    await produceOnce(records(2), { ...base, store: undefined, prefetch: () => unkeyed.push('prefetch'), produce });
    const deferredUnkeyed = async () => {
      unkeyed.push('parse');
      return records(2);
    };
    await produceOnce(
      { count: 2, parse: deferredUnkeyed },
      { ...base, store: undefined, prefetch: () => unkeyed.push('prefetch'), produce },
    );

    // Assess
    expect(events).toEqual(['claim-start', 'prefetch', 'parse', 'claim-end']);
    expect(unkeyed).toEqual(['prefetch', 'prefetch', 'parse']);
  });

  test('validation that yields (in slices) while the claim answers: a claim that failed meanwhile sends nothing; a refusal found after the claim answered becomes the claimed item', async () => {
    // Prepare: validation outlasts the claim's round trip (10 ms)
    const afterClaim = (result: () => ProducerRecord[]) => async () => {
      await new Promise((resolve) => setTimeout(resolve, 40));
      return result();
    };
    const failing = {
      claim: async () => {
        await new Promise((resolve) => setTimeout(resolve, 10));
        throw new Error('down');
      },
    } as unknown as ProgressStore;
    const { store } = fakeStore({ kind: 'claimed', written: WrittenSet.empty(2) }, { claimDelayMs: 10 });
    const refuseClaimed = jest.fn(async () => true);
    Object.assign(store, { refuseClaimed });
    const produce = jest.fn();

    // Act
    const unreachable = await produceOnce({ count: 2, parse: afterClaim(() => records(2)) }, { ...base, store: failing, produce });
    const refused = (await produceOnce({ count: 2, parse: afterClaim(invalid) }, { ...base, store, produce }).catch(
      (caught: unknown) => caught,
    )) as ProducerInputError;

    // Assess
    expect(unreachable.result.failed.map((f) => f.errorCode)).toEqual(['ProgressStoreUnavailable', 'ProgressStoreUnavailable']);
    expect(refused).toBeInstanceOf(ProducerInputError);
    expect(refused.recorded).toBe('first');
    expect(refuseClaimed).toHaveBeenCalledWith('invoke#1', 'o', refused.message);
    expect(produce).not.toHaveBeenCalled();
  });

  test('a claim that fails (however slowly) sends nothing, records parsed or not', async () => {
    // Prepare
    const store = {
      claim: async () => {
        await new Promise((resolve) => setTimeout(resolve, 30));
        throw new Error('down');
      },
    } as unknown as ProgressStore;
    const produce = jest.fn();

    // Act
    const once = await produceOnce({ count: 2, parse: () => records(2) }, { ...base, store, prepare: async () => undefined, produce });

    // Assess
    expect(produce).not.toHaveBeenCalled();
    expect(once.result.failed.map((f) => f.errorCode)).toEqual(['ProgressStoreUnavailable', 'ProgressStoreUnavailable']);
  });

  test('refused input after the claim went out: the claimed item becomes the refusal (first), nothing is sent', async () => {
    // Prepare
    const { store } = fakeStore({ kind: 'claimed', written: WrittenSet.empty(2) }, { claimDelayMs: 10 });
    const refuseClaimed = jest.fn(async () => true);
    Object.assign(store, { refuseClaimed });
    const produce = jest.fn();

    // Act
    const error = (await produceOnce({ count: 2, parse: invalid }, { ...base, store, produce }).catch(
      (caught: unknown) => caught,
    )) as ProducerInputError;

    // Assess
    expect(error).toBeInstanceOf(ProducerInputError);
    expect(error.errors).toEqual([{ index: 1, rule: RULES.data }]);
    expect(error.recorded).toBe('first');
    expect(refuseClaimed).toHaveBeenCalledWith('invoke#1', 'o', error.message);
    expect(produce).not.toHaveBeenCalled();
  });

  test('refused input whose claim finds an earlier refusal is a repeat (again), and nothing is recorded twice', async () => {
    // Prepare
    const { store } = fakeStore({ kind: 'refused', errors: 'x' });
    const refuseClaimed = jest.fn(async () => true);
    Object.assign(store, { refuseClaimed });

    // Act
    const error = (await produceOnce({ count: 2, parse: invalid }, { ...base, store, produce: jest.fn() }).catch(
      (caught: unknown) => caught,
    )) as ProducerInputError;

    // Assess
    expect(error.recorded).toBe('again');
    expect(refuseClaimed).not.toHaveBeenCalled();
  });

  test('refused input whose claim failed is left for the handler to record, as without a claim', async () => {
    // Prepare
    const store = {
      claim: async () => {
        throw new Error('down');
      },
    } as unknown as ProgressStore;

    // Act
    const error = (await produceOnce({ count: 2, parse: invalid }, { ...base, store, produce: jest.fn() }).catch(
      (caught: unknown) => caught,
    )) as ProducerInputError;

    // Assess
    expect(error).toBeInstanceOf(ProducerInputError);
    expect(error.recorded).toBeUndefined();
  });
});
