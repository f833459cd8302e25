/**
 * Traffic traces, one value a minute: the write demand in MiB/s (records of 1 KiB, so bytes and
 * records bind alike), and the consumer's processing rate per concurrent batch in MiB/s.
 */
export interface Trace {
  readonly name: string;
  readonly description: string;
  /** Write demand per minute, MiB/s. */
  readonly demand: readonly number[];
  /** What one concurrent consumer batch (one shard at parallelization factor 1) processes, MiB/s, per minute. */
  readonly consumerRate: readonly number[];
  /** Shards the provisioned policies start with. */
  readonly initialShards: number;
  /** Minutes in which the consumer fails on a poison record and processes nothing. */
  readonly consumerFailing?: readonly boolean[];
  /** Minutes for which CloudWatch has no datapoint (a metric outage). */
  readonly metricsMissing?: readonly boolean[];
}

const HEALTHY_CONSUMER = 2;

/** A deterministic ±5 % jitter (LCG), so every run prints the same table. */
function jitter(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return 0.95 + 0.1 * (state / 2147483648);
  };
}

function build(
  name: string,
  description: string,
  minutes: number,
  initialShards: number,
  demandAt: (minute: number) => number,
  consumerAt: (minute: number) => number = () => HEALTHY_CONSUMER,
): Trace {
  const noise = jitter(minutes * 7 + initialShards);
  const demand = Array.from({ length: minutes }, (_, m) => demandAt(m) * noise());
  const consumerRate = Array.from({ length: minutes }, (_, m) => consumerAt(m));
  return { name, description, demand, consumerRate, initialShards };
}

export function traces(): Trace[] {
  return [
    build('4x ramp in 10 min', '1.5 MiB/s for 1 h, ramp to 6 MiB/s in 10 min, hold 3 h, back to 1.5 MiB/s for 2 h', 6 * 60 + 10, 3, (m) => {
      if (m < 60) return 1.5;
      if (m < 70) return 1.5 + 4.5 * ((m - 60 + 1) / 10);
      if (m < 250) return 6;
      return 1.5;
    }),
    build(
      'daily wave',
      '48 h of a daily cycle from 0.5 to 5 MiB/s (trough at midnight)',
      48 * 60,
      2,
      (m) => 0.5 + (4.5 * (1 - Math.cos((2 * Math.PI * m) / (24 * 60)))) / 2,
    ),
    build('one-hour spike', '1 MiB/s for 24 h with a spike to 8 MiB/s from hour 6 to 7 (2-minute edges)', 24 * 60, 2, (m) => {
      const start = 6 * 60;
      if (m < start || m >= start + 62) return 1;
      if (m < start + 2) return 1 + 3.5 * (m - start + 1);
      if (m >= start + 60) return 8 - 3.5 * (m - start - 59);
      return 8;
    }),
    build(
      'consumer slowdown',
      '2 MiB/s steady for 8 h; from hour 2 to 4 each consumer batch processes 0.3 MiB/s instead of 2',
      8 * 60,
      3,
      () => 2,
      (m) => (m >= 120 && m < 240 ? 0.3 : HEALTHY_CONSUMER),
    ),
    {
      ...build(
        'stuck consumer',
        '0.05 MiB/s (5 % of 1 shard) for 8 h; from minute 30 to hour 3 the consumer fails on a poison record and processes nothing',
        8 * 60,
        1,
        () => 0.05,
      ),
      consumerFailing: Array.from({ length: 8 * 60 }, (_, m) => m >= 30 && m < 180),
    },
    {
      ...build(
        'metric outage under load',
        'the 4x ramp (1.5 to 6 MiB/s), with no CloudWatch datapoints from hour 2 to 3:30, while the load holds',
        6 * 60 + 10,
        3,
        (m) => {
          if (m < 60) return 1.5;
          if (m < 70) return 1.5 + 4.5 * ((m - 60 + 1) / 10);
          if (m < 250) return 6;
          return 1.5;
        },
      ),
      metricsMissing: Array.from({ length: 6 * 60 + 10 }, (_, m) => m >= 120 && m < 210),
    },
  ];
}
