import * as http from 'http';
import type * as net from 'net';
import { evaluateExpression, type Dimension, type MetricStore } from './metrics';

/**
 * The AWS endpoint (AWS_ENDPOINT_URL) the handlers get in the local run for every service
 * without an emulator. It serves what the scaler needs, from local state: CloudWatch
 * (GetMetricData from the run's own metrics, DescribeAlarms / PutMetricAlarm / SetAlarmState
 * on the template's alarms; JSON 1.0 protocol) and Lambda's event-source mapping
 * (GetEventSourceMapping / UpdateEventSourceMapping; REST JSON). Anything else gets 501, so no
 * call ever leaves the machine.
 */
export interface MetricQuery {
  readonly Id: string;
  readonly Expression?: string;
  readonly MetricStat?: {
    readonly Metric: { readonly Namespace: string; readonly MetricName: string; readonly Dimensions?: Dimension[] };
    readonly Period: number;
    readonly Stat: string;
  };
  readonly ReturnData?: boolean;
  readonly Label?: string;
}

/** An alarm in the CloudWatch API's shape (the template's properties, resolved). */
export interface AlarmDefinition {
  readonly AlarmName: string;
  readonly ComparisonOperator: string;
  readonly Threshold: number;
  readonly EvaluationPeriods: number;
  readonly DatapointsToAlarm?: number;
  readonly TreatMissingData?: string;
  readonly Metrics?: MetricQuery[];
  readonly Namespace?: string;
  readonly MetricName?: string;
  readonly Dimensions?: Dimension[];
  readonly Period?: number;
  readonly Statistic?: string;
  readonly AlarmActions?: string[];
  readonly [key: string]: unknown;
}

export interface AlarmEventOut {
  readonly source: 'aws.cloudwatch';
  readonly alarmArn: string;
  readonly accountId: string;
  readonly time: string;
  readonly region: string;
  readonly alarmData: {
    readonly alarmName: string;
    readonly state: { readonly value: 'ALARM'; readonly reason: string; readonly timestamp: string };
    readonly previousState: { readonly value: string };
  };
}

const COMPARE: Record<string, (value: number, threshold: number) => boolean> = {
  GreaterThanOrEqualToThreshold: (v, t) => v >= t,
  GreaterThanThreshold: (v, t) => v > t,
  LessThanThreshold: (v, t) => v < t,
  LessThanOrEqualToThreshold: (v, t) => v <= t,
};

/** Alarms evaluated on the local metrics with their own periods, thresholds and M-of-N rules. */
export class LocalAlarms {
  private readonly definitions = new Map<string, AlarmDefinition>();
  private readonly states = new Map<string, string>();
  /** When each alarm may be evaluated next: a minute after its state was set from outside, as CloudWatch's once-a-minute evaluation. */
  private readonly nextEvaluation = new Map<string, number>();
  public readonly transitions: Array<{ at: number; alarmName: string; value: string }> = [];

  public constructor(
    private readonly store: MetricStore,
    alarms: readonly AlarmDefinition[],
    private readonly region: string,
  ) {
    alarms.forEach((alarm) => {
      this.definitions.set(alarm.AlarmName, alarm);
      this.states.set(alarm.AlarmName, 'INSUFFICIENT_DATA');
    });
  }

  public names(): string[] {
    return [...this.definitions.keys()];
  }

  public state(name: string): string | undefined {
    return this.states.get(name);
  }

  /** The alarm's datapoint for the period that ends at `end`. */
  public datapoint(alarm: AlarmDefinition, end: number): number | undefined {
    if (alarm.Metrics?.length) {
      const ids: Record<string, number | undefined> = {};
      for (const query of alarm.Metrics.filter((q) => q.MetricStat)) {
        const stat = query.MetricStat!;
        ids[query.Id] = this.store.stat(
          stat.Metric.Namespace,
          stat.Metric.MetricName,
          stat.Metric.Dimensions ?? [],
          end - stat.Period * 1000,
          end,
          stat.Stat,
        );
      }
      // Metric math has a datapoint only where one of its metrics has data (FILL fills gaps, not empty periods).
      if (Object.values(ids).every((value) => value === undefined)) {
        return undefined;
      }
      const output = alarm.Metrics.find((q) => q.ReturnData !== false) ?? alarm.Metrics[0];
      return output.Expression ? evaluateExpression(output.Expression, ids) : ids[output.Id];
    }
    return this.store.stat(
      alarm.Namespace!,
      alarm.MetricName!,
      alarm.Dimensions ?? [],
      end - alarm.Period! * 1000,
      end,
      alarm.Statistic ?? 'Average',
    );
  }

  private periodMs(alarm: AlarmDefinition): number {
    return 1000 * (alarm.Period ?? alarm.Metrics?.find((q) => q.MetricStat)?.MetricStat?.Period ?? 60);
  }

  /** Evaluates every alarm on its complete periods; returns the events of alarms that went to ALARM. */
  public evaluate(now: number): AlarmEventOut[] {
    const events: AlarmEventOut[] = [];
    for (const alarm of this.definitions.values()) {
      if ((this.nextEvaluation.get(alarm.AlarmName) ?? 0) > now) {
        continue;
      }
      const period = this.periodMs(alarm);
      const lastEnd = Math.floor(now / period) * period;
      const points = Array.from({ length: alarm.EvaluationPeriods }, (_v, i) => this.datapoint(alarm, lastEnd - i * period));
      const compare = COMPARE[alarm.ComparisonOperator] ?? COMPARE.GreaterThanOrEqualToThreshold;
      const breaching = points.filter((point) =>
        point === undefined ? alarm.TreatMissingData === 'breaching' : compare(point, alarm.Threshold),
      ).length;
      const allMissing = points.every((point) => point === undefined);
      const next =
        breaching >= (alarm.DatapointsToAlarm ?? alarm.EvaluationPeriods)
          ? 'ALARM'
          : allMissing && (alarm.TreatMissingData ?? 'missing') === 'missing'
            ? 'INSUFFICIENT_DATA'
            : 'OK';
      const previous = this.states.get(alarm.AlarmName)!;
      if (next !== previous) {
        this.states.set(alarm.AlarmName, next);
        this.transitions.push({ at: now, alarmName: alarm.AlarmName, value: next });
        if (next === 'ALARM') {
          const timestamp = new Date(now).toISOString();
          events.push({
            source: 'aws.cloudwatch',
            alarmArn: `arn:aws:cloudwatch:${this.region}:000000000000:alarm:${alarm.AlarmName}`,
            accountId: '000000000000',
            time: timestamp,
            region: this.region,
            alarmData: {
              alarmName: alarm.AlarmName,
              state: {
                value: 'ALARM',
                reason: `Threshold Crossed: ${breaching} of the last ${points.length} datapoints [${points.map((p) => (p === undefined ? '-' : p.toFixed(1))).join(', ')}] breached ${alarm.Threshold}`,
                timestamp,
              },
              previousState: { value: previous },
            },
          });
        }
      }
    }
    return events;
  }

  public describe(names?: readonly string[]): Array<Record<string, unknown>> {
    return [...this.definitions.values()]
      .filter((alarm) => !names?.length || names.includes(alarm.AlarmName))
      .map((alarm) => ({
        ...alarm,
        StateValue: this.states.get(alarm.AlarmName),
        AlarmArn: `arn:aws:cloudwatch:${this.region}:000000000000:alarm:${alarm.AlarmName}`,
      }));
  }

  public put(alarm: AlarmDefinition): void {
    this.definitions.set(alarm.AlarmName, alarm);
    if (!this.states.has(alarm.AlarmName)) {
      this.states.set(alarm.AlarmName, 'INSUFFICIENT_DATA');
    }
  }

  public setState(name: string, value: string): void {
    if (this.definitions.has(name)) {
      this.states.set(name, value);
      this.nextEvaluation.set(name, Date.now() + 60_000);
      this.transitions.push({ at: Date.now(), alarmName: name, value });
    }
  }
}

export interface MappingControl {
  describe(uuid: string): Record<string, unknown>;
  update(uuid: string, changes: Record<string, unknown>): Record<string, unknown>;
}

export interface ControlPlane {
  readonly endpoint: string;
  readonly unsupported: Map<string, number>;
  stop(): Promise<void>;
}

export async function startControlPlane(
  store: MetricStore,
  alarms: LocalAlarms | undefined,
  mapping: MappingControl | undefined,
): Promise<ControlPlane> {
  const unsupported = new Map<string, number>();
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = chunks.length ? safeJson(Buffer.concat(chunks).toString('utf8')) : {};
      const target = String(request.headers['x-amz-target'] ?? '');
      const send = (status: number, payload: unknown, type = 'application/x-amz-json-1.0') => {
        response.writeHead(status, { 'content-type': type });
        response.end(JSON.stringify(payload));
      };
      try {
        if (target.startsWith('GraniteServiceVersion20100801.')) {
          const operation = target.split('.')[1];
          const result = cloudWatch(operation, body as Record<string, unknown>, store, alarms);
          if (result !== undefined) {
            send(200, result);
            return;
          }
        }
        const path = (request.url ?? '').split('?')[0];
        const esm = /^\/2015-03-31\/event-source-mappings\/([^/]+)\/?$/.exec(path);
        if (esm && mapping) {
          const uuid = decodeURIComponent(esm[1]);
          send(
            200,
            request.method === 'PUT' ? mapping.update(uuid, body as Record<string, unknown>) : mapping.describe(uuid),
            'application/json',
          );
          return;
        }
        const what = target || `${request.method} ${path}`;
        unsupported.set(what, (unsupported.get(what) ?? 0) + 1);
        send(501, { __type: 'NotAvailableLocally', message: `${what} has no emulator in the local run` });
      } catch (error) {
        send(400, { __type: 'ValidationError', message: (error as Error).message });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    unsupported,
    stop: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

const seconds = (value: unknown): number => (typeof value === 'number' ? value * 1000 : Date.parse(String(value)));

function cloudWatch(operation: string, body: Record<string, unknown>, store: MetricStore, alarms?: LocalAlarms): unknown {
  switch (operation) {
    case 'GetMetricData': {
      const start = seconds(body.StartTime);
      const end = seconds(body.EndTime);
      const descending = body.ScanBy !== 'TimestampAscending';
      const queries = (body.MetricDataQueries as MetricQuery[] | undefined) ?? [];
      return {
        MetricDataResults: queries
          .filter((q) => q.ReturnData !== false)
          .map((query) => {
            const timestamps: number[] = [];
            const values: number[] = [];
            if (query.MetricStat) {
              const period = query.MetricStat.Period * 1000;
              for (let at = Math.floor(start / period) * period; at < end; at += period) {
                const value = store.stat(
                  query.MetricStat.Metric.Namespace,
                  query.MetricStat.Metric.MetricName,
                  query.MetricStat.Metric.Dimensions ?? [],
                  at,
                  at + period,
                  query.MetricStat.Stat,
                );
                if (value !== undefined) {
                  timestamps.push(at / 1000);
                  values.push(value);
                }
              }
            }
            if (descending) {
              timestamps.reverse();
              values.reverse();
            }
            return { Id: query.Id, Label: query.Label ?? query.Id, Timestamps: timestamps, Values: values, StatusCode: 'Complete' };
          }),
        Messages: [],
      };
    }
    case 'DescribeAlarms':
      return { MetricAlarms: alarms?.describe(body.AlarmNames as string[] | undefined) ?? [], CompositeAlarms: [] };
    case 'PutMetricAlarm':
      alarms?.put(body as unknown as AlarmDefinition);
      return {};
    case 'SetAlarmState':
      alarms?.setState(String(body.AlarmName), String(body.StateValue));
      return {};
    default:
      return undefined;
  }
}
