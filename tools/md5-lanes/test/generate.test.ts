import { readFileSync } from 'fs';
import { GENERATED_PATH, generatedSource, kernelWat, LANES, WINDOW_BYTES } from '../generate';

describe('md5-lanes kernel generator (npm run generate:md5)', () => {
  test('lambda/shared/md5-lanes-wasm.ts is what the generator makes today', async () => {
    expect(readFileSync(GENERATED_PATH, 'utf8')).toBe(await generatedSource());
  });

  test('the kernel runs every lane through all 64 MD5 steps per block', () => {
    const wat = kernelWat();
    expect(wat.match(/i32x4\.shl/g)).toHaveLength(64);
    expect(wat).toContain('(export "blocks")');
    expect(LANES).toBe(4);
    expect(WINDOW_BYTES % 64).toBe(0);
  });
});
