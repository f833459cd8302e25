import { simulate } from '../../scripts/simulate/model';
import { awsSamplePolicy, ourPolicy, peakFleetPolicy } from '../../scripts/simulate/policies';
import { traces } from '../../scripts/simulate/traces';

describe('simulation (npm run simulate)', () => {
  test.each(traces().map((trace) => [trace.name, trace] as const))('%s: our policy keeps UpdateShardCount\'s rules and meets the target', (_name, trace) => {
    const ours = simulate(ourPolicy(), trace);
    const sample = simulate(awsSamplePolicy(), trace);
    const peak = simulate(peakFleetPolicy(), trace);

    expect(ours.refused).toBe(0);
    expect(ours.throttledShare).toBeLessThanOrEqual(sample.throttledShare);
    expect(ours.maxAgeSeconds).toBeLessThanOrEqual(sample.maxAgeSeconds);
    expect(ours.shardHours).toBeLessThanOrEqual(peak.shardHours);
  });

  test('the model throttles a stream that is too small and lags a consumer that is too slow', () => {
    const trace = { name: 'overload', description: '', demand: Array(60).fill(4), consumerRate: Array(60).fill(0.5), initialShards: 2 };

    const result = simulate(peakFleetPolicy(), { ...trace, demand: [...trace.demand.slice(1), 1.5] });
    const fixed = simulate({ ...peakFleetPolicy(), initialShards: () => 2 }, trace);

    expect(fixed.throttledShare).toBeCloseTo(0.5, 1);
    expect(fixed.maxAgeSeconds).toBeGreaterThan(600);
    expect(result.throttledShare).toBe(0);
  });
});
