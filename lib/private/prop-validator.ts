import { Token, type Duration, type Size } from 'aws-cdk-lib';

/**
 * The one validation helper of the constructs' props. Every message is
 * `<subject>: <prop> must be <rule>; received <value>`, the subject naming the construct (e.g.
 * `ProducerFunction my-producer`). Checks skip `undefined` and unresolved tokens: CloudFormation
 * and the service check those at deployment.
 */
export class PropValidator {
  /**
   * @param subject what the messages start with: the construct (and its id where messages name it)
   */
  constructor(public readonly subject: string) {}

  /** Throws `<subject>: <message>`. */
  public fail(message: string): never {
    throw new Error(`${this.subject}: ${message}`);
  }

  /**
   * A whole number from `min` to `max` (inclusive; without `max`, at least `min`). `hint` follows
   * the rule, e.g. ` (MB, the Lambda limits)`.
   */
  public wholeNumber(prop: string, value: number | undefined, min: number, max?: number, hint = ''): void {
    if (value === undefined || Token.isUnresolved(value)) {
      return;
    }
    if (!Number.isInteger(value) || value < min || (max !== undefined && value > max)) {
      const range = max === undefined ? `of at least ${min}` : `from ${min} to ${max}`;
      this.fail(`${prop} must be a whole number ${range}${hint}; received ${value}`);
    }
  }

  /**
   * A number within bounds: from `min` to `max` inclusive, or with `exclusive` above `min` and
   * below `max`. `rule` names what the number is (e.g. `a percentage`).
   */
  public number(
    prop: string,
    value: number | undefined,
    min: number,
    max: number,
    options: { exclusive?: boolean; rule?: string } = {},
  ): void {
    if (value === undefined || Token.isUnresolved(value)) {
      return;
    }
    const inside = options.exclusive ? value > min && value < max : value >= min && value <= max;
    if (!inside) {
      const bounds = options.exclusive ? `above ${min} and below ${max}` : `from ${min} to ${max}`;
      this.fail(`${prop} must be ${options.rule ? `${options.rule} ` : ''}${bounds}; received ${value}`);
    }
  }

  /**
   * A duration from `min` to `max` (inclusive); with `wholeSeconds`, also whole seconds. `hint`
   * follows the rule, e.g. ` (the Lambda maximum)`.
   */
  public duration(
    prop: string,
    value: Duration | undefined,
    min: Duration,
    max: Duration,
    options: { wholeSeconds?: boolean; hint?: string } = {},
  ): void {
    if (value === undefined || value.isUnresolved()) {
      return;
    }
    const millis = value.toMilliseconds();
    const whole = !options.wholeSeconds || Number.isInteger(value.toSeconds({ integral: false }));
    if (!whole || millis < min.toMilliseconds() || millis > max.toMilliseconds()) {
      this.fail(
        `${prop} must be ${options.wholeSeconds ? 'whole seconds ' : ''}from ${min.toHumanString()} to ${max.toHumanString()}${options.hint ?? ''}; received ${value.toHumanString()}`,
      );
    }
  }

  /**
   * A size from `min` bytes to `max` (inclusive); `maxName` says where the maximum comes from
   * (e.g. `the PutRecords request limit`). Skipped when either size is a token.
   */
  public size(prop: string, value: Size | undefined, min: number, max: Size, maxName?: string): void {
    if (value === undefined || value.isUnresolved() || max.isUnresolved()) {
      return;
    }
    const bytes = value.toBytes();
    if (bytes < min || bytes > max.toBytes()) {
      this.fail(`${prop} must be from ${min} bytes to ${max.toBytes()} bytes${maxName ? ` (${maxName})` : ''}; received ${bytes} bytes`);
    }
  }

  /** One of `allowed` (the values of the enum-like `typeName`, e.g. `RecordOrdering`). */
  public oneOf<T extends string>(prop: string, value: T | undefined, allowed: readonly T[], typeName: string): void {
    if (value === undefined || Token.isUnresolved(value) || allowed.includes(value)) {
      return;
    }
    this.fail(`${prop} must be one of ${allowed.map((v) => `'${v}'`).join(', ')} (${typeName}); received '${value}'`);
  }

  /**
   * A string of `minLength` (default 1) to `maxLength` characters matching `pattern` (when given).
   * `rule` replaces the rule's text (e.g. `an email address (name@domain)`); a string of the wrong
   * length also reports its length.
   */
  public text(
    prop: string,
    value: string | undefined,
    options: { pattern?: RegExp; minLength?: number; maxLength?: number; rule?: string },
  ): void {
    if (value === undefined || Token.isUnresolved(value)) {
      return;
    }
    const minLength = options.minLength ?? 1;
    const lengthOk = value.length >= minLength && (options.maxLength === undefined || value.length <= options.maxLength);
    const patternOk = options.pattern === undefined || options.pattern.test(value);
    if (!lengthOk || !patternOk) {
      const rule =
        options.rule ??
        (options.maxLength === undefined ? `at least ${minLength} characters` : `${minLength} to ${options.maxLength} characters`);
      this.fail(`${prop} must be ${rule}; received '${value}'${lengthOk ? '' : ` (${value.length} characters)`}`);
    }
  }
}
