/**
 * Dense 2-D convolution in generated WebAssembly SIMD: the data movement that dominated the cpu
 * conv (TypeScript im2col, GEMM B packing, col2im) runs in WASM over one module memory, next to the
 * GEMM micro-kernel (`tiles`, kernels/wasm/gemm.ts) that does the arithmetic.
 *
 * Per chunk of S samples (S chosen so the column matrix stays cache-sized; a pure function of the
 * geometry, so results are deterministic):
 * - forward: x → zero-padded image xp (border-free im2col) → col [K × S·OH·OW] row-major
 *   (K = Cin·KH·KW) → C = W·col with the packed-A / row-major-B `tiles` kernel → scattered to NCHW;
 * - input gradient: dY gathered to [Cout × S·OH·OW] → dcol = Wᵀ·dY (`tiles`) → col2im (SIMD
 *   scatter-add into padded dxp) → un-padded into dX;
 * - weight gradient: dW (+)= dY·colᵀ with a dot-product kernel (`dotNT`) reading both operands
 *   along the contiguous pixel axis, so neither needs a transposing pack.
 * Threads: the shared kernel pool's workers (kernels/wasm/worker-pool.ts) instantiate the module over its
 * shared memory and take chunks from the job's shared counter (each with
 * its own scratch slot); every chunk's result, including its weight-gradient partial (the partials
 * are added in chunk order), is the same whoever computes it, so all results are bit-identical for
 * any thread count and scheduling.
 * The generated code is in kernels/wasm/conv-codegen.ts, one thread's work in kernels/wasm/conv-work.ts,
 * the module instance in kernels/wasm/conv-module.ts; depthwise convs in kernels/wasm/depthwise.ts.
 */
import type { Conv2dGeometry } from '../types.js';
import { backendSettings, setBackendSettings } from '../settings.js';
import { DM, DN } from './conv-codegen.js';
import { type Inst, SHARED, convMemoryCap, instance, up } from './conv-module.js';
import { BACKWARD_INPUT, BACKWARD_WEIGHT, type ConvParams, FORWARD, PARAM_KEYS, convWork } from './conv-work.js';
import { KC, MC_STRIPS, MR, NC_STRIPS, NR, packA, runTiles, wasmSimdAvailable } from './gemm.js';
import { gemmThreads } from './threaded-gemm.js';
import { MAX_POOL_THREADS, checkThreadCount, runJob, shutdownPool, withWorkerRecovery } from './worker-pool.js';

export { setConvMemoryCap } from './conv-module.js';

/** Target floats of the column matrix per chunk (1 MiB): big enough to amortise calls, small enough for L2. */
const CHUNK_FLOATS = 1 << 18;
/** Chunks per batch at least (when the batch has that many samples), for load balance over threads. */
const MIN_CHUNKS = 8;

// ---------------------------------------------------------------- layout, threads

const layouts = new Map<string, ConvParams>();

/** The parameters (and memory layout) of geometry `g` run on `slots` threads. */
function params(g: Conv2dGeometry, slots: number): ConvParams {
  const key = `${slots}:${g.batch},${g.inChannels},${g.inHeight},${g.inWidth},${g.outChannels},${g.kernelHeight},${g.kernelWidth},${g.strideH},${g.strideW},${g.padH},${g.padW},${g.dilationH},${g.dilationW},${g.outHeight},${g.outWidth}`;
  const hit = layouts.get(key);
  if (hit !== undefined) return hit;
  const K = g.inChannels * g.kernelHeight * g.kernelWidth;
  const ohw = g.outHeight * g.outWidth;
  // At least MIN_CHUNKS chunks where the batch allows, so threads taking chunks dynamically balance.
  const S = Math.max(1, Math.min(Math.ceil(g.batch / MIN_CHUNKS), Math.floor(CHUNK_FLOATS / (K * ohw))));
  const nChunks = Math.ceil(g.batch / S);
  const nPadMax = up(S * ohw, NR);
  const kRows = up(K, DN);
  const coutPad = up(g.outChannels, Math.max(MR, DM));
  const kPad4 = up(K, MR);
  const Hp = g.inHeight + 2 * g.padH;
  const Wp = g.inWidth + 2 * g.padW;
  const chw = g.inChannels * g.inHeight * g.inWidth;
  let at = 0;
  const region = (floats: number): number => {
    const o = at;
    at += up(floats, 16) * 4 + 64;
    return o;
  };
  const A = region(Math.max(coutPad * K, kPad4 * g.outChannels));
  const XIN = region(g.batch * chw);
  const DYIN = region(g.batch * g.outChannels * ohw);
  const YOUT = region(g.batch * Math.max(chw, g.outChannels * ohw));
  const cwFloats = up(coutPad * kRows, 16) + 16;
  const CWP = region(nChunks * cwFloats);
  const slot0 = at;
  const XP = region(S * g.inChannels * Hp * Wp);
  const COL = region(kRows * nPadMax);
  const DY = region(coutPad * nPadMax);
  const C = region(Math.max(coutPad, kPad4) * nPadMax);
  const slotBytes = at - slot0;
  const P: ConvParams = {
    batch: g.batch, cin: g.inChannels, H: g.inHeight, W: g.inWidth, cout: g.outChannels, KH: g.kernelHeight, KW: g.kernelWidth,
    sh: g.strideH, sw: g.strideW, ph: g.padH, pw: g.padW, dh: g.dilationH, dw: g.dilationW, OH: g.outHeight, OW: g.outWidth,
    S, K, kRows, coutPad, kPad4, Hp, Wp, padded: g.padH > 0 || g.padW > 0 ? 1 : 0,
    nChunks, A, XIN, DYIN, YOUT, CWP, cwBytes: cwFloats * 4, XP, COL, DY, C, slotBytes, bytes: slot0 + slots * slotBytes,
    MR, NR, KC, MC: MC_STRIPS, NC: NC_STRIPS, DM, DN,
  };
  if (layouts.size > 64) layouts.clear();
  layouts.set(key, P);
  return P;
}

const MAX_THREADS = MAX_POOL_THREADS;

/**
 * Sets the conv's thread count, the API level of the `convThreads` backend setting (undefined: the
 * `threads` setting, i.e. `setGemmThreads`, `--threads`, `EC2T_THREADS` or available parallelism).
 * Results are deterministic for a given count; the weight gradient's summation order depends on it.
 * @example setConvThreads(1)
 */
export function setConvThreads(threads: number | undefined): void {
  checkThreadCount('setConvThreads', threads);
  setBackendSettings({ convThreads: threads });
}

/** Below this many forward FLOPs a conv runs on one thread (waking workers costs ~0.1 ms). */
const THREAD_MIN_FLOPS = 1 << 23;

/**
 * Threads the WASM conv uses for geometry `g` (1 without shared memory or below the work worth
 * waking workers for, unless `convThreads` is set); the kernel trace reports it.
 * @example wasmConvThreads(g) // 2
 */
export function wasmConvThreads(g: Conv2dGeometry): number {
  return threadsFor(g);
}

function threadsFor(g: Conv2dGeometry): number {
  if (!SHARED) return 1;
  const threadOverride = backendSettings().convThreads;
  const want = Math.min(threadOverride ?? gemmThreads(), MAX_THREADS, g.batch);
  if (want <= 1) return 1;
  const flops = 2 * g.batch * g.outChannels * g.outHeight * g.outWidth * g.inChannels * g.kernelHeight * g.kernelWidth;
  return threadOverride === undefined && flops < THREAD_MIN_FLOPS ? 1 : want;
}

/**
 * Runs `op` over the batch's chunks on `threads` threads of the shared pool (the main thread is
 * slot 0), each taking the next chunk from the job's shared counter: load-balanced, and since every
 * chunk's result is the same whoever computes it, the results do not depend on the thread count or
 * the scheduling.
 */
function runOp(I: Inst, P: ConvParams, op: number, threads: number): void {
  if (threads <= 1 || I.family === undefined) {
    let ci = 0;
    convWork(I.E, runTiles, P, op, 0, () => ci++);
    return;
  }
  const words = new Int32Array(PARAM_KEYS.length);
  for (let i = 0; i < PARAM_KEYS.length; i++) words[i] = P[PARAM_KEYS[i]];
  runJob(I.family, op, words, threads, (next) => convWork(I.E, runTiles, P, op, 0, next));
}

/**
 * Stops the shared kernel worker pool (kernels/wasm/worker-pool.ts; a later threaded conv starts it
 * again). Workers are `unref()`'d, so a process exits without this; tests call it to release
 * threads promptly.
 * @example await shutdownConvThreads();
 */
export async function shutdownConvThreads(): Promise<void> {
  await shutdownPool();
}

// ---------------------------------------------------------------- kernels

/** Can the WASM conv run here (WebAssembly SIMD available)? */
export function wasmConvAvailable(): boolean {
  return wasmSimdAvailable().available;
}

/** {@link wasmConv2dForward} over the whole batch in one layout. */
function forwardAll(x: Float32Array, w: Float32Array, bias: Float32Array | null, out: Float32Array, g: Conv2dGeometry): void {
  withWorkerRecovery(() => forwardAllOnce(x, w, bias, out, g));
}

function forwardAllOnce(x: Float32Array, w: Float32Array, bias: Float32Array | null, out: Float32Array, g: Conv2dGeometry): void {
  const T = threadsFor(g);
  const P = params(g, T);
  const I = instance(P.bytes);
  packA(false, P.cout, P.K, w, 0, P.K, I.view, P.A / 4, P.coutPad, 0, P.coutPad / MR);
  I.view.set(x.subarray(0, P.batch * P.cin * P.H * P.W), P.XIN / 4);
  runOp(I, P, FORWARD, T);
  const ohw = P.OH * P.OW;
  out.set(I.view.subarray(P.YOUT / 4, P.YOUT / 4 + P.batch * P.cout * ohw));
  if (bias !== null) {
    for (let i = 0, o = 0; i < P.batch * P.cout; i++, o = i % P.cout) {
      const bv = bias[o];
      for (let j = i * ohw; j < (i + 1) * ohw; j++) out[j] += bv;
    }
  }
}

/** {@link wasmConv2dBackwardInput} over the whole batch in one layout. */
function backwardInputAll(gradOut: Float32Array, w: Float32Array, gradX: Float32Array, g: Conv2dGeometry): void {
  withWorkerRecovery(() => backwardInputAllOnce(gradOut, w, gradX, g));
}

function backwardInputAllOnce(gradOut: Float32Array, w: Float32Array, gradX: Float32Array, g: Conv2dGeometry): void {
  const T = threadsFor(g);
  const P = params(g, T);
  const I = instance(P.bytes);
  // op(A) = Wᵀ: K × Cout, stored Cout × K.
  packA(true, P.K, P.cout, w, 0, P.K, I.view, P.A / 4, P.kPad4, 0, P.kPad4 / MR);
  I.view.set(gradOut.subarray(0, P.batch * P.cout * P.OH * P.OW), P.DYIN / 4);
  runOp(I, P, BACKWARD_INPUT, T);
  gradX.set(I.view.subarray(P.YOUT / 4, P.YOUT / 4 + P.batch * P.cin * P.H * P.W));
}

/** {@link wasmConv2dBackwardWeight} over the whole batch in one layout (batch ≥ 1). */
function backwardWeightAll(x: Float32Array, gradOut: Float32Array, gradW: Float32Array, g: Conv2dGeometry): void {
  withWorkerRecovery(() => backwardWeightAllOnce(x, gradOut, gradW, g));
}

function backwardWeightAllOnce(x: Float32Array, gradOut: Float32Array, gradW: Float32Array, g: Conv2dGeometry): void {
  const T = threadsFor(g);
  const P = params(g, T);
  const I = instance(P.bytes);
  I.view.set(x.subarray(0, P.batch * P.cin * P.H * P.W), P.XIN / 4);
  I.view.set(gradOut.subarray(0, P.batch * P.cout * P.OH * P.OW), P.DYIN / 4);
  runOp(I, P, BACKWARD_WEIGHT, T);
  // Chunk partials added in chunk order: independent of the thread count.
  const v = I.view;
  const step = P.cwBytes / 4;
  for (let o = 0; o < P.cout; o++) {
    const base = P.CWP / 4 + o * P.kRows;
    for (let j = 0; j < P.K; j++) {
      let acc = v[base + j];
      for (let ci = 1; ci < P.nChunks; ci++) acc = Math.fround(acc + v[base + ci * step + j]);
      gradW[o * P.K + j] = acc;
    }
  }
}


// ---------------------------------------------------------------- public kernels (batch split to bound memory)

/** Samples per call so the layout fits the memory cap ({@link setConvMemoryCap}) (halving from the batch); 0 when not even one sample fits. */
function samplesPerCall(g: Conv2dGeometry): number {
  const bytes = (nb: number): number => {
    const sub = nb === g.batch ? g : { ...g, batch: nb };
    return params(sub, threadsFor(sub)).bytes;
  };
  let nb = g.batch;
  while (nb > 1 && bytes(nb) > convMemoryCap()) nb = Math.ceil(nb / 2);
  return bytes(nb) <= convMemoryCap() ? nb : 0;
}

/**
 * Whether the WASM conv can take this geometry: dense (the caller checks groups), and at least one
 * sample's work fits the memory cap.
 */
export function wasmConvFits(g: Conv2dGeometry): boolean {
  return g.batch === 0 || samplesPerCall(g) >= 1;
}

/**
 * Dense (groups = 1) conv forward: out = conv(x, w) + bias, NCHW/OIHW; overwrites out.
 * @example wasmConv2dForward(x, w, null, out, conv2dGeometry([1, 3, 8, 8], [4, 3, 3, 3], { padding: 1 }))
 */
export function wasmConv2dForward(x: Float32Array, w: Float32Array, bias: Float32Array | null, out: Float32Array, g: Conv2dGeometry): void {
  if (g.batch === 0) return;
  const nb = samplesPerCall(g);
  if (nb >= g.batch) return forwardAll(x, w, bias, out, g);
  const xs = g.inChannels * g.inHeight * g.inWidth, ys = g.outChannels * g.outHeight * g.outWidth;
  for (let n0 = 0; n0 < g.batch; n0 += nb) {
    const b = Math.min(nb, g.batch - n0);
    forwardAll(x.subarray(n0 * xs, (n0 + b) * xs), w, bias, out.subarray(n0 * ys, (n0 + b) * ys), { ...g, batch: b });
  }
}

/**
 * Dense conv input gradient: gradX = conv_transpose(gradOut, w); overwrites gradX.
 * @example wasmConv2dBackwardInput(dy, w, dx, g)
 */
export function wasmConv2dBackwardInput(gradOut: Float32Array, w: Float32Array, gradX: Float32Array, g: Conv2dGeometry): void {
  if (g.batch === 0) return;
  const nb = samplesPerCall(g);
  if (nb >= g.batch) return backwardInputAll(gradOut, w, gradX, g);
  const xs = g.inChannels * g.inHeight * g.inWidth, ys = g.outChannels * g.outHeight * g.outWidth;
  for (let n0 = 0; n0 < g.batch; n0 += nb) {
    const b = Math.min(nb, g.batch - n0);
    backwardInputAll(gradOut.subarray(n0 * ys, (n0 + b) * ys), w, gradX.subarray(n0 * xs, (n0 + b) * xs), { ...g, batch: b });
  }
}

/**
 * Dense conv weight gradient: gradW = correlate(x, gradOut) summed over the batch; overwrites gradW.
 * With T threads each sums its samples, then the T partial sums are added in thread order; sub-batches
 * (huge inputs only) are added in order too.
 * @example wasmConv2dBackwardWeight(x, dy, dw, g)
 */
export function wasmConv2dBackwardWeight(x: Float32Array, gradOut: Float32Array, gradW: Float32Array, g: Conv2dGeometry): void {
  if (g.batch === 0) {
    gradW.fill(0);
    return;
  }
  const nb = samplesPerCall(g);
  if (nb >= g.batch) return backwardWeightAll(x, gradOut, gradW, g);
  const xs = g.inChannels * g.inHeight * g.inWidth, ys = g.outChannels * g.outHeight * g.outWidth;
  const part = new Float32Array(gradW.length);
  for (let n0 = 0; n0 < g.batch; n0 += nb) {
    const b = Math.min(nb, g.batch - n0);
    backwardWeightAll(x.subarray(n0 * xs, (n0 + b) * xs), gradOut.subarray(n0 * ys, (n0 + b) * ys), n0 === 0 ? gradW : part, { ...g, batch: b });
    if (n0 > 0) for (let i = 0; i < gradW.length; i++) gradW[i] += part[i];
  }
}

