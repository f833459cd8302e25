/**
 * Arrays that hold objects from their creation on. V8 gives a fresh `[]` or `new Array(n)` small
 * integers as its elements kind and changes the array's hidden class when the first object goes in;
 * code V8 optimised in one request for the arrays of that request (already changed) meets the next
 * request's fresh ones and is thrown away ("wrong map", "not a Smi" in `--trace-deopt`), which costs
 * a container's second and third invocations their packing at full speed. These start as arrays of
 * objects, so every request's arrays have one hidden class.
 */

/** An empty array whose elements are objects (push keeps its hidden class). */
export function objectArray<T extends object | undefined>(): T[] {
  const array: unknown[] = [null];
  array.length = 0;
  return array as T[];
}

/** An array of `length` empty places (`undefined` until set) whose elements are objects. */
export function sizedObjectArray<T extends object>(length: number): T[] {
  return new Array<T | undefined>(length).fill(undefined) as T[];
}
