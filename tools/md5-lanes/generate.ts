/**
 * Generates lambda/shared/md5-lanes-wasm.ts: a WebAssembly kernel that runs MD5 over four
 * messages at once, one per 32-bit lane of a SIMD vector (the "multi-buffer" technique of Intel's
 * isa-l_crypto, in 128-bit WebAssembly SIMD). MD5 is one long chain of dependent steps, so a
 * native single-message MD5 waits on latency; four independent messages side by side fill the
 * vector instead. Measured in docs/performance-producer.md; checked against `crypto` MD5 in
 * test/shared/md5-lanes.test.ts, which also checks the generated file is current.
 *
 * Usage: `npm run generate:md5`. The WAT is built here, assembled by wabt (a devDependency) and
 * written as base64, so the Lambda bundles carry it without a loader or a file of their own.
 *
 * Memory layout (the driver, lambda/shared/md5-lanes.ts, keeps to it):
 * - 0: the four lanes' block pointers (i32 each), advanced by the kernel;
 * - 64: the state A, B, C, D, one vector each (lane l's word at byte 4l of the vector);
 * - 256: the current block's message words, transposed (word w of the four lanes at 256 + 16w);
 * - 1024 + 128l: lane l's last one or two blocks, padded (the driver writes them);
 * - 2048: the 64 round constants, each repeated in four lanes (a data segment);
 * - 4096 + WINDOW_BYTES × l: lane l's window of message blocks (the driver copies them in).
 */
import { writeFileSync } from 'fs';
import { join } from 'path';

/** Lanes: one vector of four 32-bit words. */
export const LANES = 4;
/** Bytes of message a lane's window holds (a multiple of 64). */
export const WINDOW_BYTES = 16 * 1024;

const POINTERS = 0;
const STATE = 64;
const WORDS = 256;
const TAILS = 1024;
const CONSTANTS = 2048;
const WINDOWS = 4096;
const PAGE = 65536;
const PAGES = Math.ceil((WINDOWS + LANES * WINDOW_BYTES) / PAGE);

/** Shift amounts per round, step mod 4 (RFC 1321). */
const SHIFTS = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
/** K[i] = floor(|sin(i + 1)| × 2^32) (RFC 1321), as written out there. */
const K = [
  0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1,
  0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453,
  0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942,
  0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05,
  0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d,
  0x85845dd1, 0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/** The message word step i reads (RFC 1321). */
function wordOf(i: number): number {
  const round = i >> 4;
  return round === 0 ? i : round === 1 ? (5 * i + 1) % 16 : round === 2 ? (3 * i + 5) % 16 : (7 * i) % 16;
}

/** The kernel as WAT: `blocks(n)` runs n 64-byte blocks of every lane from its pointer. */
export function kernelWat(): string {
  const out: string[] = [];
  const get = (name: string): string => `(local.get $${name})`;
  const constants = K.map((k) => {
    const bytes = Buffer.alloc(16);
    for (let lane = 0; lane < 4; lane++) {
      bytes.writeUInt32LE(k, lane * 4);
    }
    return [...bytes].map((b) => `\\${b.toString(16).padStart(2, '0')}`).join('');
  }).join('');
  out.push('(module');
  out.push(`(memory (export "memory") ${PAGES})`);
  out.push(`(data (i32.const ${CONSTANTS}) "${constants}")`);
  out.push('(func (export "blocks") (param $n i32)');
  for (let lane = 0; lane < LANES; lane++) {
    out.push(`(local $p${lane} i32)`);
  }
  for (const r of 'abcd') {
    out.push(`(local $${r} v128) (local $${r}0 v128)`);
  }
  for (let q = 0; q < 4; q++) {
    out.push(`(local $r${q} v128) (local $t${q} v128)`);
  }
  for (let lane = 0; lane < LANES; lane++) {
    out.push(`(local.set $p${lane} (i32.load offset=${POINTERS + lane * 4} (i32.const 0)))`);
  }
  ['a', 'b', 'c', 'd'].forEach((r, k) => out.push(`(local.set $${r} (v128.load offset=${STATE + k * 16} (i32.const 0)))`));
  out.push('(block $done (loop $block');
  out.push('(br_if $done (i32.eqz (local.get $n)))');
  // Message words: four 16-byte rows per lane, transposed 4 × 4 so vector w holds word w of each lane.
  const low32 = '0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23';
  const high32 = '8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31';
  const low64 = '0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23';
  const high64 = '8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31';
  for (let q = 0; q < 4; q++) {
    for (let lane = 0; lane < 4; lane++) {
      out.push(`(local.set $r${lane} (v128.load offset=${q * 16} ${get(`p${lane}`)}))`);
    }
    out.push(`(local.set $t0 (i8x16.shuffle ${low32} ${get('r0')} ${get('r1')}))`);
    out.push(`(local.set $t1 (i8x16.shuffle ${low32} ${get('r2')} ${get('r3')}))`);
    out.push(`(local.set $t2 (i8x16.shuffle ${high32} ${get('r0')} ${get('r1')}))`);
    out.push(`(local.set $t3 (i8x16.shuffle ${high32} ${get('r2')} ${get('r3')}))`);
    const at = WORDS + q * 64;
    out.push(`(v128.store offset=${at} (i32.const 0) (i8x16.shuffle ${low64} ${get('t0')} ${get('t1')}))`);
    out.push(`(v128.store offset=${at + 16} (i32.const 0) (i8x16.shuffle ${high64} ${get('t0')} ${get('t1')}))`);
    out.push(`(v128.store offset=${at + 32} (i32.const 0) (i8x16.shuffle ${low64} ${get('t2')} ${get('t3')}))`);
    out.push(`(v128.store offset=${at + 48} (i32.const 0) (i8x16.shuffle ${high64} ${get('t2')} ${get('t3')}))`);
  }
  for (const r of 'abcd') {
    out.push(`(local.set $${r}0 ${get(r)})`);
  }
  // The 64 steps, a = b + ((a + f(b, c, d) + M[g] + K[i]) <<< s), the registers renamed each step.
  let [a, b, c, d] = ['a', 'b', 'c', 'd'];
  for (let i = 0; i < 64; i++) {
    const round = i >> 4;
    const shift = SHIFTS[round * 4 + (i % 4)];
    const [B, C, D] = [get(b), get(c), get(d)];
    const f =
      round === 0
        ? `(v128.bitselect ${C} ${D} ${B})`
        : round === 1
          ? `(v128.bitselect ${B} ${C} ${D})`
          : round === 2
            ? `(v128.xor (v128.xor ${B} ${C}) ${D})`
            : `(v128.xor ${C} (v128.or ${B} (v128.not ${D})))`;
    const word = `(v128.load offset=${WORDS + wordOf(i) * 16} (i32.const 0))`;
    const constant = `(v128.load offset=${CONSTANTS + i * 16} (i32.const 0))`;
    out.push(`(local.set $r0 (i32x4.add (i32x4.add ${get(a)} ${f}) (i32x4.add ${word} ${constant})))`);
    out.push(
      `(local.set $${a} (i32x4.add ${B} (v128.or (i32x4.shl ${get('r0')} (i32.const ${shift})) (i32x4.shr_u ${get('r0')} (i32.const ${32 - shift})))))`,
    );
    [a, b, c, d] = [d, a, b, c];
  }
  for (const r of 'abcd') {
    out.push(`(local.set $${r} (i32x4.add ${get(r)} ${get(`${r}0`)}))`);
  }
  for (let lane = 0; lane < LANES; lane++) {
    out.push(`(local.set $p${lane} (i32.add ${get(`p${lane}`)} (i32.const 64)))`);
  }
  out.push('(local.set $n (i32.sub (local.get $n) (i32.const 1)))');
  out.push('(br $block)))');
  for (let lane = 0; lane < LANES; lane++) {
    out.push(`(i32.store offset=${POINTERS + lane * 4} (i32.const 0) ${get(`p${lane}`)})`);
  }
  ['a', 'b', 'c', 'd'].forEach((r, k) => out.push(`(v128.store offset=${STATE + k * 16} (i32.const 0) ${get(r)})`));
  out.push(')');
  out.push(')');
  return out.join('\n');
}

/** The assembled kernel. */
export async function kernelBytes(): Promise<Uint8Array> {
  const wabt = await (await import('wabt')).default();
  const module = wabt.parseWat('md5-lanes.wat', kernelWat(), { simd: true });
  try {
    module.validate();
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

/** The generated TypeScript module's text. */
export async function generatedSource(): Promise<string> {
  const base64 = Buffer.from(await kernelBytes()).toString('base64');
  return [
    '// Generated by tools/md5-lanes/generate.ts (npm run generate:md5). Do not edit.',
    '',
    '/** The four-lane MD5 kernel, WebAssembly with SIMD, as base64. */',
    `export const MD5_LANES_WASM = '${base64}';`,
    '',
    '/** Lanes the kernel runs at once. */',
    `export const MD5_LANES = ${LANES};`,
    '',
    '/** Memory offsets the kernel uses (tools/md5-lanes/generate.ts says what each holds). */',
    `export const MD5_LAYOUT = { pointers: ${POINTERS}, state: ${STATE}, tails: ${TAILS}, windows: ${WINDOWS}, windowBytes: ${WINDOW_BYTES} } as const;`,
    '',
  ].join('\n');
}

/** Where the generated module lives. */
export const GENERATED_PATH = join(__dirname, '..', '..', 'lambda', 'shared', 'md5-lanes-wasm.ts');

if (require.main === module) {
  void generatedSource().then((source) => {
    writeFileSync(GENERATED_PATH, source);
    process.stdout.write(`wrote ${GENERATED_PATH}\n`);
  });
}
