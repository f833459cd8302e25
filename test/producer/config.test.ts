import { DEFAULT_LIMITS } from '../../lambda/producer/limits';
import { ProducerConfigError, loadConfig } from '../../lambda/producer/producer';

describe('producer settings', () => {
  test('ordering groups default to 16 and take 0 to 256 from ORDERING_GROUPS', () => {
    // Act / Assess
    expect(loadConfig({ STREAM_NAME: 's' }).limits).toEqual(DEFAULT_LIMITS);
    expect(loadConfig({ STREAM_NAME: 's' }).limits.orderingGroups).toBe(16);
    expect(loadConfig({ STREAM_NAME: 's', ORDERING_GROUPS: '0' }).limits.orderingGroups).toBe(0);
    expect(loadConfig({ STREAM_NAME: 's', ORDERING_GROUPS: '256' }).limits.orderingGroups).toBe(256);
  });

  test.each(['257', '-1', '2.5', 'x'])('refuses ORDERING_GROUPS=%s, naming the variable and the range', (value) => {
    // Act / Assess
    expect(() => loadConfig({ STREAM_NAME: 's', ORDERING_GROUPS: value })).toThrow(ProducerConfigError);
    expect(() => loadConfig({ STREAM_NAME: 's', ORDERING_GROUPS: value })).toThrow(
      `producer: ORDERING_GROUPS must be a whole number from 0 to 256; received '${value}'`,
    );
  });
});
