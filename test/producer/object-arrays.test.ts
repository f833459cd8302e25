import * as v8 from 'v8';
import { objectArray, sizedObjectArray } from '../../lambda/shared/object-arrays';

// V8's own check of two objects' hidden classes (maps); natives syntax is allowed for this worker only.
v8.setFlagsFromString('--allow-natives-syntax');
// eslint-disable-next-line @typescript-eslint/no-implied-eval -- natives syntax compiles only in a function made after the flag is set
const sameHiddenClass = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: unknown, b: unknown) => boolean;

describe('arrays that hold objects from their creation on (one hidden class for every request)', () => {
  test('an empty object array keeps its hidden class when objects are pushed; a fresh [] does not', () => {
    // Prepare
    const fresh = objectArray<{ n: number }>();
    const filled = objectArray<{ n: number }>();
    const literal: Array<{ n: number }> = [];
    const literalFilled: Array<{ n: number }> = [];

    // Act
    filled.push({ n: 1 }, { n: 2 });
    literalFilled.push({ n: 1 });

    // Assess
    expect(fresh).toEqual([]);
    expect(filled).toEqual([{ n: 1 }, { n: 2 }]);
    expect(sameHiddenClass(fresh, filled)).toBe(true);
    expect(sameHiddenClass(literal, literalFilled)).toBe(false); // the check can fail
  });

  test('a sized object array has its places, each undefined and none a hole, and keeps its hidden class when set anywhere', () => {
    // Prepare
    const fresh = sizedObjectArray<{ n: number }>(5);
    const set = sizedObjectArray<{ n: number }>(5);
    const plain = new Array<{ n: number }>(5);
    const plainSet = new Array<{ n: number }>(5);

    // Act
    set[3] = { n: 3 };
    set[0] = { n: 0 };
    plainSet[3] = { n: 3 };

    // Assess
    expect(fresh).toHaveLength(5);
    expect([...fresh.keys()].every((i) => i in fresh && fresh[i] === undefined)).toBe(true);
    expect(set[3]).toEqual({ n: 3 });
    expect(sameHiddenClass(fresh, set)).toBe(true);
    expect(sameHiddenClass(plain, plainSet)).toBe(false);
  });
});
