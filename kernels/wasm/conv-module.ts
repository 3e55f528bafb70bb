/**
 * The conv module's one instance and its memory, shared by the dense conv (kernels/wasm/conv.ts)
 * and the depthwise conv (kernels/wasm/depthwise.ts): compiled on first use (with relaxed-SIMD FMA
 * where {@link useFma} says so), over a shared memory where SharedArrayBuffer exists so the worker
 * pool's threads can instantiate it too, and grown on demand up to {@link MAX_PAGES}.
 */
import { KernelError } from '../../base/errors.js';
import { type WasmMemory, type WasmModule } from './assembler.js';
import { type ConvExports, type Copy2d, type DotNT, type DwTaps, type Fill0, type Im2col, MAX_PAGES, convModuleBytes } from './conv-codegen.js';
import { convRunnerFactory } from './conv-work.js';
import { PAGE, type TilesFn, requireWasm, useFma } from './gemm.js';
import { type PoolFamily, registerPoolFamily, releasePoolFamily } from './worker-pool.js';

/** Whether this runtime has shared memory (threads possible). */
export const SHARED = typeof SharedArrayBuffer !== 'undefined';

/** The compiled module, its memory, a float view of it and its exports. */
export interface Inst {
  module: WasmModule;
  memory: WasmMemory;
  view: Float32Array;
  E: ConvExports;
  /** The pool registration (shared memory only). */
  family: PoolFamily | undefined;
  /** Whether the module was compiled with relaxed-SIMD FMA. */
  fma: boolean;
}
let inst: Inst | undefined;

function compile(memory: WasmMemory): Inst {
  const wa = requireWasm();
  const fma = useFma();
  const module = new wa.Module(convModuleBytes(fma, SHARED));
  const e = new wa.Instance(module, { env: { memory } }).exports;
  const E: ConvExports = {
    tiles: e.tiles as TilesFn, fill0: e.fill0 as Fill0, copy2d: e.copy2d as Copy2d, im2col: e.im2col as Im2col, col2im: e.col2im as Im2col, dotNT: e.dotNT as DotNT,
    dwFwd: e.dwFwd as DwTaps, dwBwdIn: e.dwBwdIn as DwTaps, dwBwdW: e.dwBwdW as DwTaps,
  };
  const family = SHARED ? registerPoolFamily('wasm conv', module, memory, convRunnerFactory()) : undefined;
  return { module, memory, view: new Float32Array(memory.buffer), E, family, fma };
}

/**
 * The instance with at least `bytes` of memory (compiled on first use, and again over the same
 * memory when the `fma` setting no longer matches the compiled module, so a later
 * `setBackendSettings({ fma })` takes effect).
 */
export function instance(bytes: number): Inst {
  if (inst === undefined) {
    const wa = requireWasm();
    inst = compile(new wa.Memory(SHARED ? { initial: 1, maximum: MAX_PAGES, shared: true } : { initial: 1 }));
  } else if (inst.fma !== useFma()) {
    const old = inst;
    inst = compile(old.memory);
    if (old.family !== undefined) releasePoolFamily(old.family);
  }
  const have = inst.memory.buffer.byteLength;
  if (have < bytes) {
    if (SHARED && bytes > MAX_PAGES * PAGE) throw new KernelError(`wasm conv: needs ${bytes} bytes of WebAssembly memory, more than the ${MAX_PAGES * PAGE} allowed; use a smaller batch`);
    inst.memory.grow(Math.ceil((bytes - have) / PAGE));
  }
  if (inst.view.buffer !== inst.memory.buffer || inst.view.length * 4 !== inst.memory.buffer.byteLength) inst.view = new Float32Array(inst.memory.buffer);
  return inst;
}

/** Whether the conv module runs (or, not compiled yet, will run) its FMA kernels (`tiles`, `dotNT`). */
export function wasmConvFma(): boolean {
  return inst?.fma ?? useFma();
}

/** `v` rounded up to a multiple of `m`. */
export const up = (v: number, m: number): number => Math.ceil(v / m) * m;

/** Cap on the module memory one call lays out; bigger batches run in sub-batches of samples. */
let MEMORY_CAP = 512 * 1024 * 1024;

/**
 * Sets the memory cap in bytes (undefined: 512 MiB); for tests of the sub-batch path.
 * @example setConvMemoryCap(1 << 20)
 */
export function setConvMemoryCap(bytes: number | undefined): void {
  MEMORY_CAP = bytes ?? 512 * 1024 * 1024;
}

/** The memory cap of {@link setConvMemoryCap}. */
export function convMemoryCap(): number {
  return MEMORY_CAP;
}
