/**
 * A tiny WebAssembly SIMD module for the ternary kernels' inner loop:
 * `acc[q] (=|+=) a[q] + b[q] + c[q] + d[q]` over f32x4 lanes — four taps per pass, additions only.
 * JS scalar loops top out near 1 G additions/s here; f32x4 adds lift that several-fold. The module
 * is ~200 bytes, emitted at load by the shared builder in `kernels/wasm/assembler.ts`; if the
 * engine lacks SIMD, {@link wasmTaps} is null and the kernels use their JS loops.
 *
 * Memory (one imported `WebAssembly.Memory`, views re-made after it grows):
 * `[zeros: ZERO floats][pos acc][neg acc][padded input …]`; a missing fourth tap reads the zeros.
 */

import { I32, ModuleBuilder, webAssembly, type FuncBuilder, type WasmMemory } from '../wasm/assembler.js';

const WA = webAssembly;

/** f32 lanes summed per call: the exported functions take byte addresses and a byte length (multiple of 16). */
export interface WasmTaps {
  /** acc = a + b + c + d (byte addresses, nbytes a multiple of 16). */
  readonly set: (acc: number, a: number, b: number, c: number, d: number, nbytes: number) => void;
  /** acc += a + b + c + d. */
  readonly add: (acc: number, a: number, b: number, c: number, d: number, nbytes: number) => void;
  /** The module's memory; grow with {@link ensureWasmFloats}. */
  readonly memory: WasmMemory;
}

// The six i32 parameters of both functions, then the one local.
const ACC = 0, A = 1, B = 2, C = 3, D = 4, NBYTES = 5;

/** One function body; `accumulate` adds the old accumulator before the store. */
function emitTaps(f: FuncBuilder, accumulate: boolean): void {
  const i = f.local(I32);
  const load = (p: number): FuncBuilder => f.get(p).get(i).i32Add().v128Load();
  f.block();
  f.get(NBYTES).i32Eqz().brIf(0); // nbytes == 0 → exit
  f.loop();
  f.get(ACC).get(i).i32Add(); // store address acc + i
  load(A); load(B).f32x4Add(); load(C).f32x4Add(); load(D).f32x4Add();
  if (accumulate) load(ACC).f32x4Add();
  f.v128Store();
  f.get(i).i32Const(16).i32Add().tee(i); // i += 16
  f.get(NBYTES).i32LtU().brIf(0); // i < nbytes → loop
  f.end().end();
}

/** The module: imported `env.memory` (min 1 page), exports `s` (acc = …) and `a` (acc += …). */
export function moduleBytes(): Uint8Array {
  const mod = new ModuleBuilder({ initialPages: 1 });
  const params = [I32, I32, I32, I32, I32, I32] as const;
  emitTaps(mod.func('s', params, []), false);
  emitTaps(mod.func('a', params, []), true);
  return mod.bytes();
}

/** Floats of zeros at address 0: a missing tap stream reads them (≥ the longest chunk). */
export const ZERO_FLOATS = 4096;

function load(): WasmTaps | null {
  try {
    if (WA === undefined) return null;
    const bytes = moduleBytes();
    if (!WA.validate(bytes)) return null;
    const memory = new WA.Memory({ initial: 16 });
    const instance = new WA.Instance(new WA.Module(bytes), { env: { memory } });
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
