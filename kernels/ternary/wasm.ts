/**
 * A tiny hand-assembled WebAssembly SIMD module for the ternary kernels' inner loop:
 * `acc[q] (=|+=) a[q] + b[q] + c[q] + d[q]` over f32x4 lanes — four taps per pass, additions only.
 * JS scalar loops top out near 1 G additions/s here; f32x4 adds lift that several-fold. The module
 * is ~150 bytes, built from the bytes below at load; if the engine lacks SIMD, {@link wasmTaps}
 * is null and the kernels use their JS loops.
 *
 * Memory (one imported `WebAssembly.Memory`, views re-made after it grows):
 * `[zeros: ZERO floats][pos acc][neg acc][padded input …]`; a missing fourth tap reads the zeros.
 */

// NOTE: lib is ES2022 without DOM and @types/node does not declare the WebAssembly namespace; these
// are the few members used.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Memory: new (d: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
}
const WA = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

/** f32 lanes summed per call: the exported functions take byte addresses and a byte length (multiple of 16). */
export interface WasmTaps {
  /** acc = a + b + c + d (byte addresses, nbytes a multiple of 16). */
  readonly set: (acc: number, a: number, b: number, c: number, d: number, nbytes: number) => void;
  /** acc += a + b + c + d. */
  readonly add: (acc: number, a: number, b: number, c: number, d: number, nbytes: number) => void;
  /** The module's memory; grow with {@link ensureWasmFloats}. */
  readonly memory: WasmMemory;
}

// One function body; `accumulate` adds the old accumulator before the store.
function body(accumulate: boolean): number[] {
  const load = (p: number): number[] => [0x20, p, 0x20, 0x06, 0x6a, 0xfd, 0x00, 0x02, 0x00]; // (local p + i) v128.load
  const fadd = [0xfd, 0xe4, 0x01]; // f32x4.add
  const code = [
    0x01, 0x01, 0x7f, // one i32 local: i
    0x02, 0x40, // block
    0x20, 0x05, 0x45, 0x0d, 0x00, // nbytes == 0 → exit
    0x03, 0x40, // loop
    0x20, 0x00, 0x20, 0x06, 0x6a, // store address acc + i
    ...load(1), ...load(2), ...fadd, ...load(3), ...fadd, ...load(4), ...fadd,
    ...(accumulate ? [0x20, 0x00, 0x20, 0x06, 0x6a, 0xfd, 0x00, 0x02, 0x00, ...fadd] : []),
    0xfd, 0x0b, 0x02, 0x00, // v128.store
    0x20, 0x06, 0x41, 0x10, 0x6a, 0x22, 0x06, // i += 16
    0x20, 0x05, 0x49, 0x0d, 0x00, // (tee'd i) < nbytes → loop
    0x0b, 0x0b, 0x0b,
  ];
  return [...leb(code.length), ...code];
}

/** Unsigned LEB128, as wasm encodes sizes. */
function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

export function moduleBytes(): Uint8Array {
  const section = (id: number, content: number[]): number[] => [id, ...leb(content.length), ...content];
  const b0 = body(false);
  const b1 = body(true);
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [0x01, 0x60, 0x06, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x00]),
    ...section(2, [0x01, 0x01, 0x65, 0x01, 0x6d, 0x02, 0x00, 0x01]), // import e.m: memory, min 1 page
    ...section(3, [0x02, 0x00, 0x00]),
    ...section(7, [0x02, 0x01, 0x73, 0x00, 0x00, 0x01, 0x61, 0x00, 0x01]), // export "s" = 0, "a" = 1
    ...section(10, [0x02, ...b0, ...b1]),
  ]);
}

/** Floats of zeros at address 0: a missing tap stream reads them (≥ the longest chunk). */
export const ZERO_FLOATS = 4096;

function load(): WasmTaps | null {
  try {
    if (WA === undefined) return null;
    const bytes = moduleBytes();
    if (!WA.validate(bytes)) return null;
    const memory = new WA.Memory({ initial: 16 });
    const instance = new WA.Instance(new WA.Module(bytes), { e: { m: memory } });
    const ex = instance.exports as { s: WasmTaps['set']; a: WasmTaps['add'] };
    return { set: ex.s, add: ex.a, memory };
  } catch {
    return null;
  }
}

/** The SIMD tap summer, or null where WebAssembly SIMD is unavailable (or EC2T_TERNARY_WASM=0). */
export const wasmTaps: WasmTaps | null = process.env.EC2T_TERNARY_WASM === '0' ? null : load();

/** Grows the module memory to hold at least `floats` f32 values; returns a fresh view of it. */
export function ensureWasmFloats(w: WasmTaps, floats: number): Float32Array {
  const need = floats * 4;
  const have = w.memory.buffer.byteLength;
  if (have < need) w.memory.grow(Math.ceil((need - have) / 65536));
  return new Float32Array(w.memory.buffer);
}
