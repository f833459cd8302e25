/**
 * The local run's CloudWatch: the metrics the scaler's alarms read (IncomingBytes and
 * IncomingRecords by arrival time, GetRecords.IteratorAgeMilliseconds, the consumer's
 * IteratorAge), statistics over periods, and the metric-math subset the alarms use
 * (numbers, ids, + - * /, comparisons, FILL, MAX, MIN, IF).
 */
export interface Dimension {
  readonly Name: string;
  readonly Value: string;
}
export type Statistic = 'Sum' | 'Maximum' | 'Minimum' | 'Average' | 'SampleCount';

export class MetricMathError extends Error {
  public override readonly name = 'MetricMathError';
}

function seriesKey(namespace: string, metricName: string, dimensions: readonly Dimension[] = []): string {
  return `${namespace}|${metricName}|${[...dimensions]
    .sort((a, b) => a.Name.localeCompare(b.Name))
    .map((d) => `${d.Name}=${d.Value}`)
    .join(',')}`;
}

export class MetricStore {
  private readonly series = new Map<string, Array<{ at: number; value: number }>>();

  public put(namespace: string, metricName: string, dimensions: readonly Dimension[], value: number, at = Date.now()): void {
    const key = seriesKey(namespace, metricName, dimensions);
    let points = this.series.get(key);
    if (!points) {
      points = [];
      this.series.set(key, points);
    }
    points.push({ at, value });
  }

  /** The statistic of the points in [start, end), or undefined when there are none. */
  public stat(
    namespace: string,
    metricName: string,
    dimensions: readonly Dimension[],
    start: number,
    end: number,
    stat: string,
  ): number | undefined {
    const values = (this.series.get(seriesKey(namespace, metricName, dimensions)) ?? [])
      .filter((p) => p.at >= start && p.at < end)
      .map((p) => p.value);
    if (values.length === 0) {
      return undefined;
    }
    switch (stat) {
      case 'Sum':
        return values.reduce((a, b) => a + b, 0);
      case 'Maximum':
        return Math.max(...values);
      case 'Minimum':
        return Math.min(...values);
      case 'Average':
        return values.reduce((a, b) => a + b, 0) / values.length;
      case 'SampleCount':
        return values.length;
      default:
        throw new MetricMathError(`local CloudWatch: statistic ${stat} is not supported`);
    }
  }
}

type Value = number | undefined | Value[];

/** Evaluates a metric-math expression at one timestamp, with `ids` giving each query's value there. */
export function evaluateExpression(expression: string, ids: Readonly<Record<string, number | undefined>>): number | undefined {
  const tokens =
    expression
      .match(/\s*(>=|<=|==|!=|[-+*/()[\],<>]|[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?|[A-Za-z_][A-Za-z0-9_]*)/g)
      ?.map((t) => t.trim()) ?? [];
  if (tokens.join('') !== expression.replace(/\s+/g, '')) {
    throw new MetricMathError(`local CloudWatch: cannot read the expression ${expression}`);
  }
  let pos = 0;
  const peek = () => tokens[pos];
  const take = (expected?: string) => {
    const token = tokens[pos++];
    if (expected !== undefined && token !== expected) {
      throw new MetricMathError(`local CloudWatch: expected ${expected} at token ${pos} of ${expression}`);
    }
    return token;
  };
  const num = (v: Value): number | undefined => (Array.isArray(v) ? undefined : v);
  const arith = (a: Value, b: Value, op: (x: number, y: number) => number): number | undefined => {
    const [x, y] = [num(a), num(b)];
    return x === undefined || y === undefined ? undefined : op(x, y);
  };
  const list = (close: string): Value[] => {
    const items: Value[] = [];
    if (peek() !== close) {
      items.push(comparison());
      while (peek() === ',') {
        take(',');
        items.push(comparison());
      }
    }
    take(close);
    return items;
  };
  const call = (name: string, args: Value[]): Value => {
    const flat = (): number[] => args.flat(2).filter((v): v is number => typeof v === 'number');
    switch (name.toUpperCase()) {
      case 'FILL':
        return num(args[0]) ?? num(args[1]);
      case 'MAX':
        return flat().length ? Math.max(...flat()) : undefined;
      case 'MIN':
        return flat().length ? Math.min(...flat()) : undefined;
      case 'SUM':
        return flat().reduce((a, b) => a + b, 0);
      case 'ABS':
        return num(args[0]) === undefined ? undefined : Math.abs(num(args[0])!);
      case 'IF': {
        const condition = num(args[0]);
        if (condition === undefined) {
          return undefined;
        }
        return condition !== 0 ? args[1] : args[2];
      }
      default:
        throw new MetricMathError(`local CloudWatch: function ${name} is not supported`);
    }
  };
  const primary = (): Value => {
    const token = take();
    if (token === undefined) {
      throw new MetricMathError(`local CloudWatch: unexpected end of ${expression}`);
    }
    if (token === '(') {
      const inner = comparison();
      take(')');
      return inner;
    }
    if (token === '[') {
      return list(']');
    }
    if (token === '-') {
      const v = num(primary());
      return v === undefined ? undefined : -v;
    }
    if (/^[0-9]/.test(token)) {
      return Number(token);
    }
    if (peek() === '(') {
      take('(');
      return call(token, list(')'));
    }
    if (!(token in ids)) {
      throw new MetricMathError(`local CloudWatch: unknown id ${token} in ${expression}`);
    }
    return ids[token];
  };
  const product = (): Value => {
    let left = primary();
    while (peek() === '*' || peek() === '/') {
      const op = take();
      const right = primary();
      left = arith(left, right, op === '*' ? (x, y) => x * y : (x, y) => x / y);
    }
    return left;
  };
  const sum = (): Value => {
    let left = product();
    while (peek() === '+' || peek() === '-') {
      const op = take();
      const right = product();
      left = arith(left, right, op === '+' ? (x, y) => x + y : (x, y) => x - y);
    }
    return left;
  };
  const comparison = (): Value => {
    const left = sum();
    const op = peek();
    const compare: Record<string, (x: number, y: number) => boolean> = {
      '>=': (x, y) => x >= y,
      '<=': (x, y) => x <= y,
      '>': (x, y) => x > y,
      '<': (x, y) => x < y,
      '==': (x, y) => x === y,
      '!=': (x, y) => x !== y,
    };
    if (op !== undefined && op in compare) {
      take();
      const right = sum();
      return arith(left, right, (x, y) => (compare[op](x, y) ? 1 : 0));
    }
    return left;
  };
  const result = comparison();
  if (pos !== tokens.length) {
    throw new MetricMathError(`local CloudWatch: unexpected ${tokens[pos]} in ${expression}`);
  }
  return num(result);
}
