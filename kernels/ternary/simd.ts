/**
 * Multi-threaded WebAssembly SIMD path of the ternary conv (any stride): the same machinery as the
 * dense wasm conv — one shared `WebAssembly.Memory`, `worker_threads` instantiating the same module,
 * `Atomics.wait` — with a fixed partition, so results are bit-identical for any thread count.
 *
 * Layout: the input is gathered into *phase planes* `[C·sH·sW][N][Hq][Wq]` (explicit zero padding;
 * plane (c, a, b) holds padded pixels `(a + sH·u, b + sW·v)`), so a stride-s conv becomes a stride-1
 * walk: tap (c, i, j) is the constant offset `plane·N·Hq·Wq + ⌊i·dH/sH⌋·Wq + ⌊j·dW/sW⌋` from flat
 * grid point `p = n·Hq·Wq + oy·Wq + ox`. (Stride 1 uses the *shared* padding of cpu.ts instead: one
 * plane per channel, rows followed by ≥ padW zero columns, so tap offsets may be negative.) Grid rows are cut into fixed chunks (a pure function of the
 * geometry); per (chunk, output channel) one wasm call sums all `+` taps (four per pass), one all
 * `−` taps, and one writes `w_p·P − w_n·N + b` into the NCHW output rows. Each output element is
 * computed by the same instruction sequence whichever thread owns its chunk.
 * Phase 1 (gather, planes split over threads) and phase 2 (chunks split over threads) are two jobs.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { KernelError, ValueError } from '../../engine/errors.js';
import type { Conv2dGeometry } from '../types.js';
import { F32, I32, ModuleBuilder, webAssembly, type FuncBuilder, type WasmMemory, type WasmModule, forRange } from '../wasm/assembler.js';
import type { TernaryLayer } from './layer.js';

/** Grid points per chunk (two accumulators of this size stay in L1). */
export const SIMD_CHUNK = 2048;
/** Chunks per call at least (when there are that many grid rows): balances the threads (a pure function of the geometry, so results stay thread-count independent). */
const MIN_CHUNKS = 8;
const MAX_PAGES = 16384; // 1 GiB
const PAGE = 65536;

// ------------------------------------------------------------------ code generation

/** Taps summed per pass over the accumulator (a power of two): more taps, fewer accumulator loads/stores. */
const TAPS_PER_PASS = 8;

/**
 * `taps(acc, base, tab, n, nbytes)`: acc[q] = Σ_{t<n} mem[base + tab[t] + q] (byte offsets),
 * TAPS_PER_PASS taps per pass; n = 0 zeroes acc. nbytes is a multiple of 16.
 */
function emitTaps(mod: ModuleBuilder): void {
  const f = mod.func('taps', [I32, I32, I32, I32, I32], []);
  const [acc, base, tab, n, nbytes] = [0, 1, 2, 3, 4];
  const i = f.local(I32), t = f.local(I32), r = f.local(I32);
  const a = Array.from({ length: TAPS_PER_PASS }, () => f.local(I32));
  const pass = (k: number, accumulate: boolean): void => {
    for (let q = 0; q < k; q++) f.get(base).get(tab).get(t).i32Const(2).i32Shl().i32Add().i32Load(4 * q).i32Add().set(a[q]);
    f.i32Const(0).set(i);
    forRange(f, i, nbytes, 16, () => {
      f.get(acc).get(i).i32Add();
      for (let q = 0; q < k; q++) {
        f.get(a[q]).get(i).i32Add().v128Load();
        if (q > 0) f.f32x4Add();
      }
      if (accumulate) f.get(acc).get(i).i32Add().v128Load().f32x4Add();
      f.v128Store();
    });
  };
  f.i32Const(0).set(t);
  f.get(n).i32Eqz();
  f.if();
  f.i32Const(0).set(i);
  forRange(f, i, nbytes, 16, () => { f.get(acc).get(i).i32Add().f32x4Const(0).v128Store(); });
  f.return();
  f.end();
  // First pass takes n mod G taps (or G), the rest G at a time.
  f.get(n).i32Const(TAPS_PER_PASS - 1).i32And().set(r);
  f.get(r).i32Eqz();
  f.if(); f.i32Const(TAPS_PER_PASS).set(r); f.end();
  for (let k = 1; k <= TAPS_PER_PASS; k++) {
    f.get(r).i32Const(k).i32Eq();
    f.if(); pass(k, false); f.end();
  }
  f.get(r).set(t);
  forRange(f, t, n, TAPS_PER_PASS, () => pass(TAPS_PER_PASS, true));
}

/**
 * `rows(pos, neg, rowB, nRows, oy, Hq, OH, ow, dst, dstRowB, dstSampleB, wp, wn, b)`: for each grid
 * row with oy < OH, dst row = wp·pos − wn·neg + b over `ow` floats; oy wraps at Hq (next sample).
 */
function emitRows(mod: ModuleBuilder): void {
  const f = mod.func('rows', [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, F32, F32, F32], []);
  const [pos, neg, rowB, nRows, oy, Hq, OH, ow, dst, dstRowB, dstSampleB, wp, wn, b] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
  const r = f.local(I32), i = f.local(I32), vecEnd = f.local(I32), end = f.local(I32), d = f.local(I32), src = f.local(I32);
  f.get(ow).i32Const(4).i32Mul().set(end);
  f.get(ow).i32Const(-4).i32And().i32Const(4).i32Mul().set(vecEnd);
  f.i32Const(0).set(r);
  forRange(f, r, nRows, 1, () => {
    f.get(oy).get(OH).i32LtU();
    f.if();
    f.get(dst).get(oy).get(dstRowB).i32Mul().i32Add().set(d);
    f.get(r).get(rowB).i32Mul().set(src);
    f.i32Const(0).set(i);
    const body = (vec: boolean): void => {
      f.get(d).get(i).i32Add();
      if (vec) {
        f.get(wp).f32x4Splat().get(pos).get(src).i32Add().get(i).i32Add().v128Load().f32x4Mul();
        f.get(wn).f32x4Splat().get(neg).get(src).i32Add().get(i).i32Add().v128Load().f32x4Mul().f32x4Sub();
        f.get(b).f32x4Splat().f32x4Add().v128Store();
      } else {
        f.get(wp).get(pos).get(src).i32Add().get(i).i32Add().f32Load().f32Mul();
        f.get(wn).get(neg).get(src).i32Add().get(i).i32Add().f32Load().f32Mul().raw(0x93); // f32.sub
        f.get(b).f32Add().f32Store();
      }
    };
    forRange(f, i, vecEnd, 16, () => body(true));
    forRange(f, i, end, 4, () => body(false));
    f.end();
    f.get(oy).i32Const(1).i32Add().tee(oy).get(Hq).i32Eq();
    f.if(); f.i32Const(0).set(oy); f.get(dst).get(dstSampleB).i32Add().set(dst); f.end();
  });
}

/**
 * `plane(src, dst, H, W, Hq, Wq, ph, pw)`: one stride-1 padded plane: Hq rows of Wq floats, the
 * source rows (W floats each, contiguous) at column pw of rows ph..ph+H−1, zeros elsewhere.
 */
function emitPlane(mod: ModuleBuilder): void {
  const f = mod.func('plane', [I32, I32, I32, I32, I32, I32, I32, I32], []);
  const [src, dst, H, W, Hq, Wq, ph, pw] = [0, 1, 2, 3, 4, 5, 6, 7];
  const u = f.local(I32), i = f.local(I32), e = f.local(I32), s = f.local(I32), vecEnd = f.local(I32), wB = f.local(I32), rowB = f.local(I32);
  f.get(W).i32Const(4).i32Mul().set(wB);
  f.get(W).i32Const(-4).i32And().i32Const(4).i32Mul().set(vecEnd);
  f.get(Wq).i32Const(4).i32Mul().set(rowB);
  f.i32Const(0).set(u);
  forRange(f, u, Hq, 1, () => {
    f.get(u).get(ph).i32Sub().get(H).i32LtU();
    f.if();
    // Left pad zeros, the source row, right pad zeros: each float written once.
    f.get(pw).i32Const(4).i32Mul().set(s);
    f.i32Const(0).set(i);
    forRange(f, i, s, 4, () => { f.get(dst).get(i).i32Add().f32Const(0).f32Store(); });
    f.get(dst).get(s).i32Add().set(e);
    f.i32Const(0).set(i);
    forRange(f, i, vecEnd, 16, () => { f.get(e).get(i).i32Add().get(src).get(i).i32Add().v128Load().v128Store(); });
    forRange(f, i, wB, 4, () => { f.get(e).get(i).i32Add().get(src).get(i).i32Add().f32Load().f32Store(); });
    f.get(src).get(wB).i32Add().set(src);
    f.get(s).get(wB).i32Add().set(i);
    forRange(f, i, rowB, 4, () => { f.get(dst).get(i).i32Add().f32Const(0).f32Store(); });
    f.else();
    f.i32Const(0).set(i);
    f.get(rowB).i32Const(-16).i32And().set(s);
    forRange(f, i, s, 16, () => { f.get(dst).get(i).i32Add().f32x4Const(0).v128Store(); });
    forRange(f, i, rowB, 4, () => { f.get(dst).get(i).i32Add().f32Const(0).f32Store(); });
    f.end();
    f.get(dst).get(rowB).i32Add().set(dst);
  });
}

/**
 * `gather(src, dst, uLo, uHi, vLo, vHi, Hq, Wq, src0, rowStepB, colStepB)`: one phase plane of a
 * strided conv, Hq rows of Wq floats; rows [uLo, uHi) × columns [vLo, vHi) read
 * `src0 + (u−uLo)·rowStepB + (v−vLo)·colStepB`, everything else is 0.
 */
function emitGather(mod: ModuleBuilder): void {
  const f = mod.func('gather', [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32], []);
  const [, dst, uLo, uHi, vLo, vHi, Hq, Wq, src0, rowStepB, colStepB] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const u = f.local(I32), v = f.local(I32), sp = f.local(I32), d = f.local(I32);
  f.get(dst).set(d);
  f.i32Const(0).set(u);
  forRange(f, u, Hq, 1, () => {
    f.get(u).get(uLo).i32GeS().get(u).get(uHi).i32LtS().i32And();
    f.if();
    f.get(src0).get(u).get(uLo).i32Sub().get(rowStepB).i32Mul().i32Add().set(sp);
    // Zeros, the strided source run, zeros: no per-element range test.
    const zero = (): void => { f.get(d).f32Const(0).f32Store(); f.get(d).i32Const(4).i32Add().set(d); };
    f.i32Const(0).set(v);
    forRange(f, v, vLo, 1, zero);
    forRange(f, v, vHi, 1, () => {
      f.get(d).get(sp).f32Load().f32Store();
      f.get(sp).get(colStepB).i32Add().set(sp);
      f.get(d).i32Const(4).i32Add().set(d);
    });
    forRange(f, v, Wq, 1, zero);
    f.else();
    f.i32Const(0).set(v);
    forRange(f, v, Wq, 1, () => { f.get(d).f32Const(0).f32Store(); f.get(d).i32Const(4).i32Add().set(d); });
    f.end();
  });
}

function moduleBytes(shared: boolean): Uint8Array {
  const mod = new ModuleBuilder(shared ? { initialPages: 1, maximumPages: MAX_PAGES, shared: true } : { initialPages: 1 });
  emitTaps(mod);
  emitRows(mod);
  emitPlane(mod);
  emitGather(mod);
  return mod.bytes();
}

/** The module's exports. */
export interface TernaryExports {
  taps(acc: number, base: number, tab: number, n: number, nbytes: number): void;
  rows(pos: number, neg: number, rowB: number, nRows: number, oy: number, Hq: number, OH: number, ow: number, dst: number, dstRowB: number, dstSampleB: number, wp: number, wn: number, b: number): void;
  plane(src: number, dst: number, H: number, W: number, Hq: number, Wq: number, ph: number, pw: number): void;
  gather(src: number, dst: number, uLo: number, uHi: number, vLo: number, vHi: number, Hq: number, Wq: number, src0: number, rowStepB: number, colStepB: number): void;
}

// ------------------------------------------------------------------ the work (runs in every thread)

// Parameter words of a job (Int32 control block; wp/wn at W_WP/W_WN are f32 bit patterns).
const GEN = 0, DONE = 1, STOP = 2, ERROR = 3, PHASE = 4, NTHREADS = 5;
const P0 = 8;
const PARAMS = [
  'xStage', 'xp', 'out', 'posTab', 'negTab', 'posStart', 'negStart', 'bias', 'acc', 'accB',
  'C', 'N', 'H', 'W', 'Hq', 'Wq', 'ph', 'pw', 'sH', 'sW', 'M', 'OH', 'OW', 'totalRows', 'rowsPer', 'chunks', 'hasBias', 'wpBits', 'wnBits',
] as const;
type Params = Record<(typeof PARAMS)[number], number>;
const CONTROL_WORDS = P0 + PARAMS.length + 8;

/**
 * Thread `index` of `threads`: phase 0 gathers its share of the C·N planes (stride 1), phase 1 runs
 * its contiguous range of chunks. Self-contained (workers evaluate its source).
 */
export function ternaryWork(E: TernaryExports, mem: ArrayBuffer | SharedArrayBuffer, ctl: Int32Array, p0: number, names: readonly string[], index: number, threads: number, phase: number): void {
  const P: Record<string, number> = {};
  for (let k = 0; k < names.length; k++) P[names[k]] = ctl[p0 + k];
  const f32 = new Float32Array(1);
  const i32 = new Int32Array(f32.buffer);
  i32[0] = P.wpBits; const wp = f32[0];
  i32[0] = P.wnBits; const wn = f32[0];
  if (phase === 0 && (P.sH > 1 || P.sW > 1)) {
    // Phase planes (c, a, b) of a strided conv: valid rows/columns are a range, found by division.
    const per = P.sH * P.sW;
    const planes = P.C * per * P.N;
    const s = Math.floor((planes * index) / threads);
    const e = Math.floor((planes * (index + 1)) / threads);
    const plane = P.Hq * P.Wq;
    for (let q = s; q < e; q++) {
      const vc = Math.floor(q / P.N);
      const n = q - vc * P.N;
      const c = Math.floor(vc / per);
      const a = Math.floor((vc - c * per) / P.sW);
      const b = vc - c * per - a * P.sW;
      // Padded row a + sH·u is input row y = a + sH·u − ph, valid for 0 ≤ y < H.
      const uLo = Math.max(0, Math.ceil((P.ph - a) / P.sH));
      const uHi = Math.max(uLo, Math.min(P.Hq, Math.ceil((P.H + P.ph - a) / P.sH)));
      const vLo = Math.max(0, Math.ceil((P.pw - b) / P.sW));
      const vHi = Math.max(vLo, Math.min(P.Wq, Math.ceil((P.W + P.pw - b) / P.sW)));
      const y0 = a + P.sH * uLo - P.ph;
      const x0 = b + P.sW * vLo - P.pw;
      const src0 = P.xStage + ((n * P.C + c) * P.H * P.W + y0 * P.W + x0) * 4;
      E.gather(0, P.xp + q * plane * 4, uLo, uHi, vLo, vHi, P.Hq, P.Wq, src0, P.sH * P.W * 4, P.sW * 4);
    }
    return;
  }
  if (phase === 0) {
    const planes = P.C * P.N;
    const s = Math.floor((planes * index) / threads);
    const e = Math.floor((planes * (index + 1)) / threads);
    const hw = P.H * P.W;
    const plane = P.Hq * P.Wq;
    for (let q = s; q < e; q++) {
      const c = Math.floor(q / P.N);
      const n = q - c * P.N;
      E.plane(P.xStage + (n * P.C + c) * hw * 4, P.xp + q * plane * 4, P.H, P.W, P.Hq, P.Wq, P.ph, P.pw);
    }
    return;
  }
  const view = new Int32Array(mem);
  const bias = new Float32Array(mem);
  const ck0 = Math.floor((P.chunks * index) / threads);
  const ck1 = Math.floor((P.chunks * (index + 1)) / threads);
  const pos = P.acc + index * 2 * P.accB;
  const neg = pos + P.accB;
  const ohw = P.OH * P.OW;
  for (let ck = ck0; ck < ck1; ck++) {
    const r0 = ck * P.rowsPer;
    const r1 = Math.min(P.totalRows, r0 + P.rowsPer);
    const nbytes = (((r1 - r0) * P.Wq + 3) & ~3) * 4;
    const base = P.xp + r0 * P.Wq * 4;
    const n0 = Math.floor(r0 / P.Hq);
    const oy0 = r0 - n0 * P.Hq;
    for (let m = 0; m < P.M; m++) {
      const ps = view[(P.posStart >> 2) + m], pe = view[(P.posStart >> 2) + m + 1];
      const ns = view[(P.negStart >> 2) + m], ne = view[(P.negStart >> 2) + m + 1];
      E.taps(pos, base, P.posTab + ps * 4, pe - ps, nbytes);
      E.taps(neg, base, P.negTab + ns * 4, ne - ns, nbytes);
      const b = P.hasBias === 1 ? bias[(P.bias >> 2) + m] : 0;
      E.rows(pos, neg, P.Wq * 4, r1 - r0, oy0, P.Hq, P.OH, P.OW, P.out + ((n0 * P.M + m) * ohw) * 4, P.OW * 4, P.M * ohw * 4, wp, wn, b);
    }
  }
}

function workerSource(): string {
  return `
const { workerData, parentPort } = require('node:worker_threads');
${ternaryWork.toString()}
const { module, memory, control, index, names } = workerData;
const ctl = new Int32Array(control);
let E = null;
let startupError = '';
try { E = new WebAssembly.Instance(module, { env: { memory } }).exports; } catch (e) { startupError = String(e && e.stack || e); }
let seen = 0;
for (;;) {
  Atomics.wait(ctl, ${GEN}, seen);
  seen = Atomics.load(ctl, ${GEN});
  if (Atomics.load(ctl, ${STOP}) === 1) break;
  try {
    if (E === null) throw new Error('ternary worker ' + index + ' could not instantiate: ' + startupError);
    const t = ctl[${NTHREADS}];
    if (index < t) ternaryWork(E, memory.buffer, ctl, ${P0}, names, index, t, ctl[${PHASE}]);
  } catch (e) {
    Atomics.store(ctl, ${ERROR}, 1);
    parentPort.postMessage(String(e && e.stack || e));
  }
  Atomics.add(ctl, ${DONE}, 1);
  Atomics.notify(ctl, ${DONE});
}
`;
}

// ------------------------------------------------------------------ instance and pool

interface Instance { module: WasmModule; memory: WasmMemory; E: TernaryExports; control: Int32Array; workers: Worker[]; errors: string[] }
let inst: Instance | null | undefined;

function instance(): Instance | null {
  if (inst !== undefined) return inst;
  inst = null;
  try {
    const wa = webAssembly;
    if (wa === undefined || typeof SharedArrayBuffer === 'undefined') return null;
    const bytes = moduleBytes(true);
    if (!wa.validate(bytes)) return null;
    const memory = new wa.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
    const module = new wa.Module(bytes);
    const E = new wa.Instance(module, { env: { memory } }).exports as unknown as TernaryExports;
    inst = { module, memory, E, control: new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4)), workers: [], errors: [] };
  } catch {
    inst = null;
  }
  return inst;
}

/** Is the wasm SIMD ternary path available in this engine (and not disabled by EC2T_TERNARY_WASM=0)? */
export function ternarySimdAvailable(): boolean {
  return process.env.EC2T_TERNARY_WASM !== '0' && instance() !== null;
}

/**
 * Fills the whole shared scratch memory with NaN (tests: proves every output was written by this
 * call, whichever thread owns it, rather than left over from an earlier one).
 * @example poisonTernaryScratch()
 */
export function poisonTernaryScratch(): void {
  const I = instance();
  if (I !== null) new Float32Array(I.memory.buffer).fill(Number.NaN);
}

let threadOverride: number | undefined;

/** Threads the ternary conv uses: {@link setTernaryThreads}, else `EC2T_THREADS`, else available parallelism. */
export function ternaryThreads(): number {
  if (threadOverride !== undefined) return threadOverride;
  const env = process.env.EC2T_THREADS;
  if (env !== undefined && env !== '') {
    const t = Number(env);
    if (Number.isInteger(t) && t >= 1) return t;
  }
  return Math.max(1, availableParallelism());
}

/**
 * Sets the ternary conv's thread count (undefined: back to the default). Results do not depend on it.
 * @example setTernaryThreads(1)
 */
export function setTernaryThreads(threads: number | undefined): void {
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > 64)) {
    throw new ValueError('setTernaryThreads', `expected an integer thread count in 1..64, got ${threads}`);
  }
  threadOverride = threads;
}

/**
 * Stops the ternary worker pool (workers are `unref()`'d; tests call this to release them promptly).
 * @example await shutdownTernaryThreads();
 */
export async function shutdownTernaryThreads(): Promise<void> {
  const I = inst;
  if (I === null || I === undefined || I.workers.length === 0) return;
  const ws = I.workers;
  I.workers = [];
  Atomics.store(I.control, STOP, 1);
  Atomics.add(I.control, GEN, 1);
  Atomics.notify(I.control, GEN);
  await Promise.all(ws.map((w) => w.terminate()));
  Atomics.store(I.control, STOP, 0);
}

function ensureWorkers(I: Instance, n: number): void {
  while (I.workers.length < n) {
    const index = I.workers.length + 1;
    const w = new Worker(workerSource(), { eval: true, workerData: { module: I.module, memory: I.memory, control: I.control.buffer, index, names: PARAMS } });
    w.on('message', (msg: unknown) => I.errors.push(String(msg)));
    w.on('error', (e: Error) => { I.errors.push(String(e.stack ?? e)); Atomics.store(I.control, ERROR, 1); });
    w.unref();
    I.workers.push(w);
  }
}

/** Runs one phase on `threads` threads (main thread is index 0) and waits for the workers. */
function runPhase(I: Instance, phase: number, threads: number): void {
  const ctl = I.control;
  if (threads > 1) {
    ensureWorkers(I, threads - 1);
    ctl[PHASE] = phase;
    ctl[NTHREADS] = threads;
    Atomics.store(ctl, DONE, 0);
    Atomics.store(ctl, ERROR, 0);
    Atomics.add(ctl, GEN, 1);
    Atomics.notify(ctl, GEN);
  }
  ternaryWork(I.E, I.memory.buffer, ctl, P0, PARAMS, 0, threads, phase);
  if (threads <= 1) return;
  const nw = I.workers.length;
  for (;;) {
    const done = Atomics.load(ctl, DONE);
    if (done >= nw) break;
    if (Atomics.wait(ctl, DONE, done, 10_000) === 'timed-out' && Atomics.load(ctl, ERROR) === 1) break;
  }
  if (Atomics.load(ctl, ERROR) === 1) {
    const msg = I.errors.join('\n');
    void shutdownTernaryThreads();
    throw new KernelError(`ternaryConv2d: a worker failed: ${msg || 'unknown error'}`);
  }
}

// ------------------------------------------------------------------ plan and entry point

interface SimdPlan {
  readonly key: string;
  readonly Hq: number;
  readonly Wq: number;
  readonly planes: number;
  /** Zero floats before the first plane (stride 1: shared padding, negative tap offsets reach into it). */
  readonly lead: number;
  /** Padding the gather writes explicitly (0 in the shared-padding layout). */
  readonly gatherPadH: number;
  readonly gatherPadW: number;
  /** Floats from the first plane to the end of the tail. */
  readonly bufFloats: number;
  /** Byte offsets of every tap (same order as posTaps/negTaps). */
  readonly posOff: Int32Array;
  readonly negOff: Int32Array;
}
const plans = new WeakMap<TernaryLayer, SimdPlan>();

function planFor(layer: TernaryLayer, g: Conv2dGeometry): SimdPlan {
  const key = `${g.batch},${g.inChannels},${g.inHeight},${g.inWidth},${g.outChannels},${g.strideH},${g.strideW},${g.padH},${g.padW},${g.dilationH},${g.dilationW},${g.groups}`;
  const cached = plans.get(layer);
  if (cached !== undefined && cached.key === key) return cached;
  const { strideH: sh, strideW: sw, dilationH: dh, dilationW: dw } = g;
  // Stride 1: the shared-padding layout (each row followed by gw ≥ padW zero columns, each sample by
  // gh ≥ padH zero rows, so a read off one side of a row lands in zeros) — fewer wasted grid points
  // than explicit padding on small maps (8×8: 81 vs 100 per 64 outputs). NOTE: ≥ OW−W / OH−H keeps
  // the grid from overlapping the next row/sample when pad > kernel.
  const shared = sh === 1 && sw === 1;
  const Hq = shared ? g.inHeight + Math.max(g.padH, g.outHeight - g.inHeight, 0) : Math.ceil((g.inHeight + 2 * g.padH) / sh);
  const Wq = shared ? g.inWidth + Math.max(g.padW, g.outWidth - g.inWidth, 0) : Math.ceil((g.inWidth + 2 * g.padW) / sw);
  const lead = shared ? g.padH * Wq + g.padW : 0;
  const planes = g.inChannels * sh * sw;
  const chanStride = g.batch * Hq * Wq;
  const kh = layer.kernelHeight, kw = layer.kernelWidth;
  // Garbage grid points past the last sample read up to one kernel extent further (+8: f32x4 rounding).
  const tail = (Math.floor(((kh - 1) * dh) / sh) + 1) * Wq + Math.floor(((kw - 1) * dw) / sw) + 8;
  const bufFloats = planes * chanStride + tail;
  const cpg = layer.inPerGroup;
  const opg = layer.outChannels / g.groups;
  const tapOffset = (m: number, t: number): number => {
    const j = t % kw;
    const ci = (t - j) / kw;
    const i = ci % kh;
    const c = (ci - i) / kh;
    const gi = Math.floor(m / opg);
    const yi = i * dh, xj = j * dw;
    const plane = ((gi * cpg + c) * sh + (yi % sh)) * sw + (xj % sw);
    if (shared) return (plane * chanStride + (yi - g.padH) * Wq + (xj - g.padW)) * 4;
    return (plane * chanStride + Math.floor(yi / sh) * Wq + Math.floor(xj / sw)) * 4;
  };
  const posOff = new Int32Array(layer.posTaps.length);
  const negOff = new Int32Array(layer.negTaps.length);
  for (let m = 0; m < layer.outChannels; m++) {
    for (let t = layer.posStart[m]; t < layer.posStart[m + 1]; t++) posOff[t] = tapOffset(m, layer.posTaps[t]);
    for (let t = layer.negStart[m]; t < layer.negStart[m + 1]; t++) negOff[t] = tapOffset(m, layer.negTaps[t]);
  }
  const plan = { key, Hq, Wq, planes, lead, gatherPadH: shared ? 0 : g.padH, gatherPadW: shared ? 0 : g.padW, bufFloats, posOff, negOff };
  plans.set(layer, plan);
  return plan;
}

/** Does the geometry fit the shared memory (else the caller uses the JS path)? */
function layoutFor(layer: TernaryLayer, g: Conv2dGeometry, p: SimdPlan, threads: number): { bytes: number; at: Params } {
  const { batch: N, inChannels: C, inHeight: H, inWidth: W, outChannels: M, outHeight: OH, outWidth: OW } = g;
  const totalRows = N * p.Hq;
  const rowsPer = Math.max(1, Math.min(Math.floor(SIMD_CHUNK / p.Wq), Math.ceil(totalRows / MIN_CHUNKS)));
  const accB = ((rowsPer * p.Wq + 3) & ~3) * 4 + 16;
  let at = 0;
  const take = (floats: number): number => { const a = at; at += ((floats + 3) & ~3) * 4 + 16; return a; };
  const xStage = take(N * C * H * W + 4);
  const xp = take(p.lead + p.bufFloats) + p.lead * 4;
  const out = take(N * M * OH * OW);
  const posTab = take(layer.posTaps.length);
  const negTab = take(layer.negTaps.length);
  const posStart = take(M + 1);
  const negStart = take(M + 1);
  const bias = take(M);
  const acc = at;
  at += threads * 2 * accB;
  const params: Params = {
    xStage, xp, out, posTab, negTab, posStart, negStart, bias, acc, accB,
    C, N, H, W, Hq: p.Hq, Wq: p.Wq, ph: p.gatherPadH, pw: p.gatherPadW, sH: g.strideH, sW: g.strideW, M, OH, OW, totalRows, rowsPer,
    chunks: Math.ceil(totalRows / rowsPer), hasBias: 0, wpBits: 0, wnBits: 0,
  };
  return { bytes: at, at: params };
}

/**
 * The ternary conv on the wasm SIMD path with `threads` threads; returns false (doing nothing) when
 * wasm SIMD is unavailable or the problem does not fit the shared memory. Arguments are pre-checked.
 */
export function ternaryConv2dSimd(x: Float32Array, layer: TernaryLayer, bias: Float32Array | null, out: Float32Array, g: Conv2dGeometry, threads = ternaryThreads()): boolean {
  const I = instance();
  if (I === null) return false;
  const p = planFor(layer, g);
  const { bytes, at: P } = layoutFor(layer, g, p, threads);
  if (bytes > MAX_PAGES * PAGE) return false;
  const have = I.memory.buffer.byteLength;
  if (have < bytes) I.memory.grow(Math.ceil((bytes - have) / PAGE));
  const buf = I.memory.buffer;
  const f32 = new Float32Array(buf);
  const i32 = new Int32Array(buf);
  const { batch: N, inChannels: C, inHeight: H, inWidth: W, outChannels: M, outHeight: OH, outWidth: OW } = g;
  i32.set(p.posOff, P.posTab >> 2);
  i32.set(p.negOff, P.negTab >> 2);
  i32.set(layer.posStart, P.posStart >> 2);
  i32.set(layer.negStart, P.negStart >> 2);
  if (bias !== null) { f32.set(bias.subarray(0, M), P.bias >> 2); P.hasBias = 1; }
  const bits = new Int32Array(new Float32Array([layer.wp, layer.wn]).buffer);
  P.wpBits = bits[0];
  P.wnBits = bits[1];
  const ctl = I.control;
  for (let k = 0; k < PARAMS.length; k++) ctl[P0 + k] = P[PARAMS[k]];
  const xp0 = P.xp >> 2;
  const planeF = p.Hq * p.Wq;
  const gridF = p.planes * N * planeF;
  // Tail past the last plane: garbage grid points read it.
  f32.fill(0, xp0 - p.lead, xp0);
  f32.fill(0, xp0 + gridF, xp0 + p.bufFloats);
  f32.set(x.subarray(0, N * C * H * W), P.xStage >> 2);
  runPhase(I, 0, Math.min(threads, p.planes * N));
  runPhase(I, 1, Math.min(threads, P.chunks));
  out.set(f32.subarray(P.out >> 2, (P.out >> 2) + N * M * OH * OW));
  return true;
}
