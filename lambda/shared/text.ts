/** A lone UTF-16 surrogate: UTF-8 has no form for it (Buffer writes U+FFFD in its place). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether `text` has a UTF-8 form: no lone surrogate (ES2024's `String.prototype.isWellFormed`). */
export function wellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}
