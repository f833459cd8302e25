/**
 * Typed readers of a handler's environment, one style for every handler's contract
 * (lambda/<name>/contract.ts). Pure: no AWS clients, no logger, so constructs import the
 * contracts at synth time.
 *
 * A reader returns the typed value, the fallback when the variable is unset or empty, or throws an
 * `EnvConfigError` naming the handler, the variable, the rule and the value received.
 */

/** The variables every handler of this library gets from its construct (lib/private/pipeline-function.ts). */
export const RuntimeEnv = {
  /** Node's options: source maps on. */
  NODE_OPTIONS: 'NODE_OPTIONS',
  /** The `service` dimension of the handler's metrics and its logs' service (Powertools). */
  POWERTOOLS_SERVICE_NAME: 'POWERTOOLS_SERVICE_NAME',
  /** The namespace of the handler's metrics (Powertools). */
  POWERTOOLS_METRICS_NAMESPACE: 'POWERTOOLS_METRICS_NAMESPACE',
} as const;

/** The namespace of every handler's custom (EMF) metrics. */
export const METRICS_NAMESPACE = 'KinesisPipeline';

/** A variable of a handler's environment is missing or breaks its rule. */
export class EnvConfigError extends Error {
  public override readonly name: string = 'EnvConfigError';

  /**
   * @param source the handler (`producer`, `consumer`, `scaler`), first in the message
   * @param variable the variable (or a part of it, `CONSUMERS[1] id`)
   * @param rule what it must be (`a whole number from 1 to 10`)
   * @param value what it is: undefined when unset
   * @param received how the message shows the value (default `'<value>'`)
   */
  constructor(
    public readonly source: string,
    public readonly variable: string,
    public readonly rule: string,
    public readonly value: string | undefined,
    received?: string,
  ) {
    super(
      value === undefined && received === undefined
        ? `${source}: ${variable} is not set; it must be ${rule}`
        : `${source}: ${variable} must be ${rule}; ${received ?? `received '${value}'`}`,
    );
  }
}

/** The error class a contract throws: `EnvConfigError` or a subclass naming its handler. */
export type EnvConfigErrorClass = new (
  source: string,
  variable: string,
  rule: string,
  value: string | undefined,
  received?: string,
) => EnvConfigError;

export interface IntegerRule {
  /** Unset or empty: this value; without it the variable is required. */
  readonly fallback?: number;
  /** @default 1 */
  readonly min?: number;
  /** @default - no upper bound */
  readonly max?: number;
  /** What `max` is (a Kinesis limit), named when a value above it is refused: `at most <max> (<maxName>)`. */
  readonly maxName?: string;
}

export interface NumberRule {
  readonly fallback?: number;
  /** Values must be above this (exclusive). @default - no lower bound */
  readonly above?: number;
  /** Values must be at most this. @default - no upper bound */
  readonly max?: number;
}

/** The readers of one handler's environment (`envReader`). */
export interface EnvReader {
  /** A required, non-empty string. */
  string(name: string): string;
  /** A string, undefined when unset or empty. */
  optionalString(name: string): string | undefined;
  /** A whole number from `min` (default 1) to `max`. */
  integer(name: string, rule?: IntegerRule): number;
  /** A finite number within the rule's bounds. */
  number(name: string, rule?: NumberRule): number;
  /** `true` or `false`. */
  boolean(name: string, fallback?: boolean): boolean;
  /** One of `values`. */
  oneOf<const T extends string>(name: string, values: readonly T[], fallback?: T): T;
  /** JSON, checked by `validate` (which throws through `fail` naming the part and the rule). */
  json<T>(name: string, rule: string, validate: (value: unknown, fail: (part: string, rule: string, received: string) => never) => T): T;
  /** Throws the contract's error for `name` (a rule across variables). */
  fail(name: string, rule: string, value: string | undefined, received?: string): never;
}

/** Readers of `env` for the handler `source`, throwing `ErrorClass`. */
export function envReader(env: NodeJS.ProcessEnv, source: string, ErrorClass: EnvConfigErrorClass = EnvConfigError): EnvReader {
  const fail = (name: string, rule: string, value: string | undefined, received?: string): never => {
    throw new ErrorClass(source, name, rule, value, received);
  };
  const raw = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value === '' ? undefined : value;
  };
  const integer = (name: string, rule: IntegerRule = {}): number => {
    const { min = 1, max = Number.POSITIVE_INFINITY, maxName, fallback } = rule;
    const text = raw(name);
    const wanted = Number.isFinite(max)
      ? `a whole number from ${min} to ${max}`
      : min === 1
        ? 'a positive integer'
        : `a whole number of at least ${min}`;
    if (text === undefined) {
      return fallback ?? fail(name, wanted, undefined);
    }
    const value = Number(text);
    if (maxName !== undefined && Number.isInteger(value) && value > max) {
      return fail(name, `at most ${max} (${maxName})`, text);
    }
    if (!Number.isInteger(value) || value < min || value > max) {
      return fail(name, maxName !== undefined ? (min === 1 ? 'a positive integer' : `a whole number of at least ${min}`) : wanted, text);
    }
    return value;
  };
  const number = (name: string, rule: NumberRule = {}): number => {
    const { above, max, fallback } = rule;
    const bounds = [above !== undefined ? `above ${above}` : undefined, max !== undefined ? `at most ${max}` : undefined]
      .filter(Boolean)
      .join(' and ');
    const wanted = bounds ? `a number ${bounds}` : 'a number';
    const text = raw(name);
    if (text === undefined) {
      return fallback ?? fail(name, wanted, undefined);
    }
    const value = Number(text);
    if (!Number.isFinite(value) || (above !== undefined && value <= above) || (max !== undefined && value > max)) {
      return fail(name, wanted, text);
    }
    return value;
  };
  return {
    string: (name) => raw(name) ?? fail(name, 'a non-empty string', undefined),
    optionalString: raw,
    integer,
    number,
    boolean: (name, fallback) => {
      const text = raw(name);
      if (text === undefined) {
        return fallback ?? fail(name, `'true' or 'false'`, undefined);
      }
      if (text !== 'true' && text !== 'false') {
        return fail(name, `'true' or 'false'`, text);
      }
      return text === 'true';
    },
    oneOf: (name, values, fallback) => {
      const wanted = values.map((v) => `'${v}'`).join(values.length === 2 ? ' or ' : ', ');
      const text = raw(name);
      if (text === undefined) {
        return fallback ?? fail(name, `one of ${wanted}`, undefined);
      }
      if (!(values as readonly string[]).includes(text)) {
        return fail(name, values.length === 2 ? wanted : `one of ${wanted}`, text);
      }
      return text as (typeof values)[number];
    },
    json: (name, rule, validate) => {
      const text = raw(name) ?? fail(name, rule, undefined);
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        return fail(name, rule, text, `it is not JSON (${(error as Error).message})`);
      }
      return validate(value, (part, partRule, received) => fail(`${name}${part}`, partRule, text, received));
    },
    fail,
  };
}
