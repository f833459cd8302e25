import { hash } from 'crypto';
import { MD5_LANES, MD5_LANES_WASM, MD5_LAYOUT } from './md5-lanes-wasm';

/**
 * MD5 of many messages at once: four side by side in the lanes of a WebAssembly SIMD kernel
 * (tools/md5-lanes/generate.ts), each lane taking the next message as it finishes one. A KPL
 * aggregate ends with the MD5 of its body, and a request's aggregates are sealed together: 2.2 to
 * 2.4 times the rate of `crypto`'s MD5 one message at a time, copies into the kernel's memory
 * included (docs/performance-producer.md). Where WebAssembly SIMD is missing, or for fewer
 * messages than lanes, `crypto` does it.
 */

/** The part of the WebAssembly API this module uses (the project's `lib` has no DOM types). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
};

interface Kernel {
  /** Runs `n` blocks of every lane from its pointer. */
  readonly blocks: (n: number) => void;
  readonly bytes: Uint8Array;
  readonly words: Int32Array;
}

/** Fewer messages than this go through `crypto` (a lane would stay idle). */
const MIN_MESSAGES = MD5_LANES;
const { pointers: POINTERS, state: STATE, tails: TAILS, windows: WINDOWS, windowBytes: WINDOW_BYTES } = MD5_LAYOUT;
const IV = [0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476];

/** The kernel once loaded; `null` where it cannot load (no WebAssembly SIMD). */
let kernel: Kernel | null | undefined;

/** Per lane: the message (-1 idle), the next byte to copy in (-1 once in its padded tail), blocks left in view. */
const messageOf = new Int32Array(MD5_LANES);
const nextByte = new Int32Array(MD5_LANES);
const blocksLeft = new Int32Array(MD5_LANES);

function loadKernel(): Kernel | null {
  try {
    const module = new WebAssembly.Module(Buffer.from(MD5_LANES_WASM, 'base64'));
    const { exports } = new WebAssembly.Instance(module, {});
    const buffer = (exports.memory as { buffer: ArrayBuffer }).buffer;
    // The memory never grows, so these views stay valid.
    return { blocks: exports.blocks as (n: number) => void, bytes: new Uint8Array(buffer), words: new Int32Array(buffer) };
  } catch {
    return null;
  }
}

/**
 * Writes the MD5 of each `messages[i]` into the first 16 bytes of `digests[i]`: the same bytes as
 * `crypto.hash('md5', messages[i])`. A digest may lie in the same buffer as any message: every
 * message is read before its digest is written, and digests are written message by message, so
 * a digest must not overlap a later message.
 */
export function md5Each(messages: readonly Uint8Array[], digests: readonly Uint8Array[]): void {
  if (messages.length !== digests.length) {
    throw new RangeError(`md5Each: ${messages.length} messages but ${digests.length} digests`);
  }
  for (const digest of digests) {
    if (digest.length < 16) {
      throw new RangeError(`md5Each: a digest needs 16 bytes, got ${digest.length}`);
    }
  }
  const lanes = messages.length >= MIN_MESSAGES ? (kernel ??= loadKernel()) : null;
  if (lanes === null) {
    for (let i = 0; i < messages.length; i++) {
      digests[i].set(hash('md5', messages[i], 'buffer'));
    }
    return;
  }
  runLanes(lanes, messages, digests);
}

/** Whether the four-lane kernel loads here (diagnosis and tests). */
export function md5LanesAvailable(): boolean {
  return (kernel ??= loadKernel()) !== null;
}

function runLanes(lanes: Kernel, messages: readonly Uint8Array[], digests: readonly Uint8Array[]): void {
  const { blocks, words } = lanes;
  let next = 0;
  let active = 0;
  for (let lane = 0; lane < MD5_LANES; lane++) {
    messageOf[lane] = -1;
    if (next < messages.length) {
      start(lanes, messages, lane, next++);
      active++;
    }
  }
  while (active > 0) {
    let n = 0x7fffffff;
    let busy = 0;
    for (let lane = 0; lane < MD5_LANES; lane++) {
      if (messageOf[lane] >= 0 && blocksLeft[lane] < n) {
        n = blocksLeft[lane];
        busy = lane;
      }
    }
    // An idle lane reads a busy lane's blocks (they are there for n blocks); its result is dropped.
    for (let lane = 0; lane < MD5_LANES; lane++) {
      if (messageOf[lane] < 0) {
        words[(POINTERS >> 2) + lane] = words[(POINTERS >> 2) + busy];
      }
    }
    blocks(n);
    for (let lane = 0; lane < MD5_LANES; lane++) {
      const message = messageOf[lane];
      if (message < 0 || (blocksLeft[lane] -= n) > 0) {
        continue;
      }
      if (nextByte[lane] >= 0) {
        fill(lanes, messages[message], lane);
        continue;
      }
      const digest = digests[message];
      for (let word = 0; word < 4; word++) {
        const at = STATE + word * 16 + lane * 4;
        digest.set(lanes.bytes.subarray(at, at + 4), word * 4);
      }
      messageOf[lane] = -1;
      active--;
      if (next < messages.length) {
        start(lanes, messages, lane, next++);
        active++;
      }
    }
  }
}

/** Gives `lane` message i: the initial state, and its first blocks in view. */
function start(lanes: Kernel, messages: readonly Uint8Array[], lane: number, i: number): void {
  messageOf[lane] = i;
  nextByte[lane] = 0;
  for (let word = 0; word < 4; word++) {
    lanes.words[(STATE >> 2) + word * 4 + lane] = IV[word];
  }
  fill(lanes, messages[i], lane);
}

/**
 * Puts the lane's next blocks in view: up to a window of whole blocks copied in, or, once those
 * are done, the message's last bytes padded as RFC 1321 says (0x80, zeros, the bit length, little
 * endian) in one or two blocks.
 */
function fill(lanes: Kernel, message: Uint8Array, lane: number): void {
  const { bytes, words } = lanes;
  const length = message.length;
  const whole = length - (length & 63);
  const from = nextByte[lane];
  if (from < whole) {
    const size = Math.min(WINDOW_BYTES, whole - from);
    const window = WINDOWS + lane * WINDOW_BYTES;
    bytes.set(message.subarray(from, from + size), window);
    words[(POINTERS >> 2) + lane] = window;
    blocksLeft[lane] = size >> 6;
    nextByte[lane] = from + size;
    return;
  }
  const rest = length - whole;
  const tail = TAILS + lane * 128;
  const tailBlocks = rest < 56 ? 1 : 2;
  bytes.fill(0, tail, tail + 128);
  bytes.set(message.subarray(whole), tail);
  bytes[tail + rest] = 0x80;
  const bits = tail + tailBlocks * 64 - 8;
  words[bits >> 2] = (length << 3) | 0;
  words[(bits >> 2) + 1] = Math.floor(length / 0x20000000);
  words[(POINTERS >> 2) + lane] = tail;
  blocksLeft[lane] = tailBlocks;
  nextByte[lane] = -1;
}
