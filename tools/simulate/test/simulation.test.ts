import { simulate } from '../model';
import { awsSamplePolicy, ourPolicy, peakFleetPolicy } from '../policies';
import { traces } from '../traces';

describe('simulation (npm run simulate)', () => {
  test.each(traces().map((trace) => [trace.name, trace] as const))(
    "%s: our policy keeps UpdateShardCount's rules and meets the target",
    (_name, trace) => {
      const ours = simulate(ourPolicy(), trace);
      const sample = simulate(awsSamplePolicy(), trace);
      const peak = simulate(peakFleetPolicy(), trace);

      expect(ours.refused).toBe(0);
      expect(ours.throttledShare).toBeLessThanOrEqual(sample.throttledShare);
      expect(ours.maxAgeSeconds).toBeLessThanOrEqual(sample.maxAgeSeconds);
      expect(ours.shardHours).toBeLessThanOrEqual(peak.shardHours);
    },
  );

  test('the model throttles a stream that is too small and lags a consumer that is too slow', () => {
    const trace = { name: 'overload', description: '', demand: Array(60).fill(4), consumerRate: Array(60).fill(0.5), initialShards: 2 };

    const result = simulate(peakFleetPolicy(), { ...trace, demand: [...trace.demand.slice(1), 1.5] });
    const fixed = simulate({ ...peakFleetPolicy(), initialShards: () => 2 }, trace);

    expect(fixed.throttledShare).toBeCloseTo(0.5, 1);
    expect(fixed.maxAgeSeconds).toBeGreaterThan(600);
    expect(result.throttledShare).toBe(0);
  });
});

describe('simulation: the traces this scaler must not be fooled by', () => {
  const byName = (name: string) => traces().find((trace) => trace.name === name)!;

  test('stuck consumer: no shard and no factor added while it fails, ConsumerStuck reported', () => {
    const trace = byName('stuck consumer');
    const policy = ourPolicy();

    const ours = simulate(policy, trace);

    expect(ours.maxShardsWhileFailing).toBe(trace.initialShards);
    expect(ours.maxFactorWhileFailing).toBe(1);
    expect(ours.reshards).toBe(0);
    expect(policy.decisions.filter((d) => d === 'ConsumerStuck').length).toBeGreaterThan(100);
    expect(ours.shardHours).toBeLessThanOrEqual(simulate(peakFleetPolicy(), trace).shardHours);
  });

  test('metric outage under load: no scale-in on minutes without datapoints, as if the metrics had been there', () => {
    const trace = byName('metric outage under load');
    const same = { ...trace, metricsMissing: undefined };
    const policy = ourPolicy();

    const ours = simulate(policy, trace);
    const seen = simulate(ourPolicy(), same);

    expect(policy.decisions).toContain('NoData');
    expect(ours.throttledShare).toBeLessThanOrEqual(seen.throttledShare);
    expect(ours.reshards).toBe(seen.reshards);
    expect(ours.maxShards).toBe(seen.maxShards);
  });
});
