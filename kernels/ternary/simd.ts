/**
 * Multi-threaded WebAssembly SIMD path of the ternary conv (any stride), on the shared kernel worker
 * pool (kernels/wasm/worker-pool.ts): one shared `WebAssembly.Memory` that every pool worker instantiates
 * this file's modules over; calls stay synchronous.
 *
 * Layout: x is copied in once and gathered (a wasm job split over the threads) into padded planes.
 * Stride 1 uses the *shared* padding of cpu.ts (one plane per channel, rows followed by ≥ padW zero
 * columns and planes by ≥ padH zero rows, so tap offsets may be negative); stride s uses *phase
 * planes* (plane (c, a, b) holds padded pixels `(a + sH·u, b + sW·v)`, explicit zeros), so a
 * strided conv becomes a stride-1 walk: tap (c, i, j) is a constant offset from an output's grid point.
 *
 * Two kernels, summing every output in the same order (tap order, one tap at a time from 0), so
 * they give bit-identical results:
 * - generated per layer (layers up to {@link JIT_MAX_NONZEROS} non-zeros, from a layer's third call
 *   per geometry by default, see {@link setTernaryJit}): a module built once per (layer, geometry
 *   without batch) with every tap offset baked in. Per block of output channels and output vector
 *   (4 pixels), each input vector is loaded once and added into the `+`/`−` register accumulators
 *   that use it; `w_p·P − w_n·N + b` (then any fused output work: residual, ReLU) goes
 *   straight to NCHW. It skips the whole-batch gather: each (sample, row band) unit gathers the
 *   rows of the (phase) planes it reads, explicit padding, into its thread's band buffer
 *   (cache-resident, see simd-plan.ts `bandFor`) right before summing them — the separate pass wrote
 *   2.3 MB of planes that the kernels then re-read (~40 % of a 16→32 @32×32 /2 call at 90 %
 *   sparsity), and on stride 1 it held 2 threads to 1.3× where bands reach 1.9×.
 * - generic: the layout above (shared padding for stride 1), a tap table per output channel, planes
 *   channel-major `[C·sH·sW][N][Hq][Wq]`; per (chunk of grid rows, output channel) one call sums the
 *   `+` taps, one the `−` taps (8 per accumulator pass), one writes the rows.
 * Work (planes, grid chunks, (sample, row band) units) is handed out from the job's shared counter;
 * every unit is computed by the same instruction sequence whichever thread takes it, so results are
 * bit-identical for any thread count and scheduling.
 *
 * Rooms: simd-module.ts (the generic module), simd-work.ts (its per-thread work), simd-jit.ts
 * (generated per-layer code), simd-plan.ts (layouts); this file holds the instance, the settings
 * and the entry point.
 */
import { traceImplementation } from '../registry.js';
import { type TernaryJitMode, backendSettings, setBackendSettings } from '../settings.js';
import type { Conv2dGeometry, TernaryLayer } from '../types.js';
import { webAssembly, type WasmMemory, type WasmModule } from '../wasm/assembler.js';
import { MAX_POOL_THREADS, type PoolFamily, checkThreadCount, registerPoolFamily, runJob, shutdownPool, withWorkerRecovery } from '../wasm/worker-pool.js';
import { gemmThreads } from '../wasm/threaded-gemm.js';
import { type Jit, type JitPost, JIT_MAX_NONZEROS, J_CPS, J_READY, J_RES, buildJit, jitInstance, jitRelease, jitWork, postKey } from './simd-jit.js';
import { MAX_PAGES, PAGE, SHARED_MEMORY, type TernaryExports, moduleBytes } from './simd-module.js';
import { bandFor, layoutFor, offsetsFor, planFor, residualSampleFloats } from './simd-plan.js';
import { GATHER, JIT, PARAMS, PLANES_PER_TAKE, TAPS, ternaryWork } from './simd-work.js';

// ------------------------------------------------------------------ instance

export interface Instance { module: WasmModule; memory: WasmMemory; E: TernaryExports; family: PoolFamily }
let inst: Instance | null | undefined;

function genericRunnerFactory(): string {
  return `const names = ${JSON.stringify(PARAMS)};
const PLANES_PER_TAKE = ${PLANES_PER_TAKE};
${ternaryWork.toString()}
return function (E, memory, params, op, index, threads, next) { ternaryWork(E, memory.buffer, params, 0, names, index, op === ${GATHER} ? 0 : 1, next); };`;
}

/**
 * The process's ternary wasm instance (shared memory, generic module, pool family), or null where
 * wasm SIMD or shared memory is missing; the integer path (./int-simd.ts) runs over the same memory.
 * @example ternarySimdInstance()?.memory.buffer.byteLength
 */
export function ternarySimdInstance(): Instance | null {
  return instance();
}

function instance(): Instance | null {
  if (inst !== undefined) return inst;
  inst = null;
  try {
    const wa = webAssembly;
    if (wa === undefined) return null;
    const bytes = moduleBytes();
    if (!wa.validate(bytes)) return null;
    const memory = new wa.Memory({ initial: 1, maximum: MAX_PAGES, shared: SHARED_MEMORY });
    const module = new wa.Module(bytes);
    const E = new wa.Instance(module, { env: { memory } }).exports as unknown as TernaryExports;
    inst = { module, memory, E, family: registerPoolFamily('ternaryConv2d', module, memory, genericRunnerFactory()) };
  } catch {
    inst = null;
  }
  return inst;
}

/** Is the wasm SIMD ternary path available in this engine and on (the `ternaryWasm` backend setting, `EC2T_TERNARY_WASM`)? */
export function ternarySimdAvailable(): boolean {
  return backendSettings().ternaryWasm && instance() !== null;
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

/** Threads the ternary conv uses: the `ternaryThreads` backend setting ({@link setTernaryThreads}), else the `threads` one (`setGemmThreads`, `--threads`, `EC2T_THREADS`, available parallelism). */
export function ternaryThreads(): number {
  return backendSettings().ternaryThreads ?? gemmThreads();
}

/**
 * Sets the ternary conv's thread count (undefined: back to the default). Results do not depend on it.
 * @example setTernaryThreads(1)
 */
export function setTernaryThreads(threads: number | undefined): void {
  checkThreadCount('setTernaryThreads', threads);
  setBackendSettings({ ternaryThreads: threads });
}

// NOTE: generated code costs 5–200 ms a layer, hence `lazy` by default; layers above the size limit
// always stay on the generic kernel. Both sum every output in the same order (bit-identical results).
export type { TernaryJitMode };
/** Calls of a (layer, geometry) on the generic kernel before `lazy` mode generates its code. */
const LAZY_CALLS = 2;

/**
 * Sets when layers get generated code (see {@link TernaryJitMode}); returns the previous mode.
 * @example const was = setTernaryJit('eager'); … setTernaryJit(was);
 */
export function setTernaryJit(mode: TernaryJitMode): TernaryJitMode {
  const was = backendSettings().ternaryJit;
  setBackendSettings({ ternaryJit: mode });
  return was;
}

/**
 * Stops the shared kernel worker pool (kernels/wasm/worker-pool.ts; workers are `unref()`'d, tests call
 * this to release them promptly).
 * @example await shutdownTernaryThreads();
 */
export async function shutdownTernaryThreads(): Promise<void> {
  await shutdownPool();
}

/** Generated kernels of a layer (or its call count so far, in lazy mode), per plan key (the same layer may serve several geometries). */
const jits = new WeakMap<TernaryLayer, Map<string, Jit | number>>();
/** The layer's generated kernel for this geometry, or null while the `ternaryJit` setting says not (yet). */
function jitFor(layer: TernaryLayer, g: Conv2dGeometry, post: JitPost | undefined, dense?: Float32Array): Jit | null {
  // Dense convs have no generic kernel here: always generated.
  const jitMode = dense === undefined ? backendSettings().ternaryJit : 'eager';
  if (jitMode === 'off' || layer.posTaps.length + layer.negTaps.length > JIT_MAX_NONZEROS) return null;
  let per = jits.get(layer);
  if (per === undefined) jits.set(layer, (per = new Map()));
  // Generated code reads band-gathered explicit planes (./simd-plan.ts bandFor).
  const p = planFor(layer, g, true);
  const key = `${p.key};${postKey(post)}`;
  const j = per.get(key);
  if (typeof j === 'object') return j;
  const calls = j ?? 0;
  if (jitMode === 'lazy' && calls < LAZY_CALLS) {
    per.set(key, calls + 1);
    return null;
  }
  const band = bandFor(layer, p, g);
  const planeF = band.R * p.Wq;
  const built = buildJit(layer, { Wq: p.Wq, OH: g.outHeight, OW: g.outWidth, tapOffset: (m, t) => p.tapOffset(m, t, planeF), outPerGroup: layer.outChannels / g.groups, band, post, tapWeights: dense }, (instance() as Instance).memory);
  per.set(key, built);
  jitRelease.register(layer, built.family);
  return built;
}

/**
 * A tensor operand of the ternary wasm kernels: an array (copied into the kernels' memory and out
 * again), or the byte offset of an arena region of that memory (./arena.ts), read and written in place.
 */
export type TernaryOperand = Float32Array | number;

/** Work fused into a ternary conv's output stores (see {@link JitPost}) and the residual it adds, if any. */
export interface TernaryConvPost {
  readonly spec: JitPost;
  readonly res: TernaryOperand | null;
}

/**
 * The ternary conv on the wasm SIMD path with `threads` threads; returns false (doing nothing) when
 * wasm SIMD is unavailable or the problem does not fit the shared memory. Arguments are pre-checked.
 */
export function ternaryConv2dSimd(x: Float32Array, layer: TernaryLayer, bias: Float32Array | null, out: Float32Array, g: Conv2dGeometry, threads = ternaryThreads()): boolean {
  // Everything is staged again on each call and `out` is written last: a worker death reruns it all.
  return withWorkerRecovery(() => ternaryConv2dSimdOnce(x, layer, bias, out, g, threads)) !== 'none';
}

/**
 * The float ternary conv with `post` fused into its output where the layer runs generated code
 * (`'fused'`); `'plain'`: it ran on the generic kernel (the first calls of a layer in `lazy` mode, or
 * a layer above the generated-code size), so the caller applies the post passes itself (same bits);
 * `'none'`: the wasm path cannot run it. Operands may be arena offsets (./arena.ts).
 * @example const done = ternaryConv2dFused(xAt, layer, null, outAt, g, { spec, res: null });
 */
export function ternaryConv2dFused(x: TernaryOperand, layer: TernaryLayer, bias: Float32Array | null, out: TernaryOperand, g: Conv2dGeometry, post: TernaryConvPost | undefined, threads = ternaryThreads()): 'fused' | 'plain' | 'none' {
  if (!ternarySimdAvailable()) return 'none';
  return withWorkerRecovery(() => ternaryConv2dSimdOnce(x, layer, bias, out, g, threads, post));
}

/** A dense conv's weights as generated code takes them (see {@link denseTaps}). */
export interface DenseTaps {
  /** Every weight as a `+` tap (zeros too: x·0 still carries a NaN or ∞ of x), no `−` taps. */
  readonly layer: TernaryLayer;
  /** The weight of each tap, aligned with `layer.posTaps`. */
  readonly weights: Float32Array;
}

/**
 * A dense conv's weights `[M, C/groups, kH, kW]` in the form generated code takes.
 * @example const taps = denseTaps(weight, [16, 3, 3, 3]);
 */
export function denseTaps(weight: Float32Array, shape: readonly [number, number, number, number]): DenseTaps {
  const [M, cpg, kh, kw] = shape;
  const per = cpg * kh * kw;
  const posTaps = new Int32Array(M * per);
  const posStart = new Int32Array(M + 1);
  for (let m = 0; m < M; m++) {
    posStart[m + 1] = (m + 1) * per;
    for (let t = 0; t < per; t++) posTaps[m * per + t] = t;
  }
  const layer: TernaryLayer = { outChannels: M, inPerGroup: cpg, kernelHeight: kh, kernelWidth: kw, wp: 1, wn: 0, posTaps, posStart, negTaps: new Int32Array(0), negStart: new Int32Array(M + 1) };
  return { layer, weights: weight.slice(0, M * per) };
}

/**
 * A small dense conv (a network's stem) on generated code: every tap and weight baked in as for a
 * ternary layer, one accumulator per output summing `x·w` in tap order, `+ b`, then `post` fused;
 * operands as for {@link ternaryConv2dFused}. False where the wasm path cannot run it. The sums
 * round differently from the im2col + GEMM kernel (kernels/wasm/conv.ts), the same on every engine
 * and thread count.
 * @example if (!denseConv2dFused(x, taps, bias, outAt, g, post)) conv2dForwardCpu(x, w, bias, out, g);
 */
export function denseConv2dFused(x: TernaryOperand, taps: DenseTaps, bias: Float32Array | null, out: TernaryOperand, g: Conv2dGeometry, post: TernaryConvPost | undefined, threads = ternaryThreads()): boolean {
  if (!ternarySimdAvailable()) return false;
  return withWorkerRecovery(() => ternaryConv2dSimdOnce(x, taps.layer, bias, out, g, threads, post, taps.weights)) !== 'none';
}

function ternaryConv2dSimdOnce(x: TernaryOperand, layer: TernaryLayer, bias: Float32Array | null, out: TernaryOperand, g: Conv2dGeometry, threads: number, post?: TernaryConvPost, dense?: Float32Array): 'fused' | 'plain' | 'none' {
  const I = instance();
  if (I === null) return 'none';
  const T = Math.min(threads, MAX_POOL_THREADS);
  const jit = jitFor(layer, g, post?.spec, dense);
  if (dense !== undefined && jit === null) return 'none';
  const p = planFor(layer, g, jit !== null);
  const res = jit !== null && post?.res != null ? post.res : null;
  const { bytes, at: P, jitWords } = layoutFor(layer, g, p, T, jit, { x: typeof x === 'number' ? x : undefined, out: typeof out === 'number' ? out : undefined, res: res === null ? undefined : typeof res === 'number' ? res : 'stage' });
  if (bytes > MAX_PAGES * PAGE) return 'none';
  if (backendSettings().traceKernels) traceImplementation(dense === undefined ? 'ternaryConv2d' : 'denseConv2d', `wasm-simd ${jit === null ? 'generic' : 'generated'}, ${T} thread${T === 1 ? '' : 's'}${jit !== null && post !== undefined ? ', fused output' : ''}`);
  const have = I.memory.buffer.byteLength;
  if (have < bytes) I.memory.grow(Math.ceil((bytes - have) / PAGE));
  const buf = I.memory.buffer;
  const f32 = new Float32Array(buf);
  const i32 = new Int32Array(buf);
  const { batch: N, inChannels: C, inHeight: H, inWidth: W, outChannels: M, outHeight: OH, outWidth: OW } = g;
  if (bias !== null) { f32.set(bias.subarray(0, M), P.bias >> 2); P.hasBias = 1; }
  else f32.fill(0, P.bias >> 2, (P.bias >> 2) + M);
  const bits = new Int32Array(new Float32Array([layer.wp, layer.wn]).buffer);
  P.wpBits = bits[0];
  P.wnBits = bits[1];
  if (P.coefP !== 0) { f32.set(layer.channelWp as Float32Array, P.coefP >> 2); f32.set(layer.channelWn as Float32Array, P.coefN >> 2); }
  const xp0 = P.xp >> 2;
  const gridF = N * p.planes * p.Hq * p.Wq;
  const outN = N * M * OH * OW;
  // Generated code gathers its bands inside the job (x staged sample by sample, so the other
  // threads start on the first samples meanwhile); the generic kernel needs the whole-batch planes
  // first, with zeros around them (shared-padding taps and garbage grid points read those).
  const generic = jit === null;
  if (generic) {
    f32.fill(0, xp0 - p.lead, xp0);
    f32.fill(0, xp0 + gridF, xp0 + gridF + p.tail);
    if (typeof x !== 'number') f32.set(x.subarray(0, N * C * H * W), P.xStage >> 2);
  }
  if (res !== null && typeof res !== 'number' && jitWords !== null) f32.set(res.subarray(0, N * residualSampleFloats(jit?.post, M * OH * OW)), jitWords[J_RES] >> 2);
  const words = new Int32Array(PARAMS.length);
  for (let k = 0; k < PARAMS.length; k++) words[k] = P[PARAMS[k]];
  const planesT = Math.min(T, p.planes * N);
  if (generic) runJob(I.family, GATHER, words, planesT, (next) => ternaryWork(I.E, buf, words, 0, PARAMS, 0, 0, next));
  if (jit !== null && jitWords !== null) {
    const E = jitInstance(jit.family, I.memory);
    const units = N * jitWords[J_CPS];
    const t = Math.min(T, units);
    const ex = E;
    const chw = C * H * W, stage0 = P.xStage >> 2, ready = jitWords[J_READY] >> 2;
    // Arena operands need no staging.
    const stageHere = typeof x !== 'number';
    i32[ready] = stageHere ? 0 : N;
    runJob(jit.family, JIT, jitWords, t, (next) => {
      if (stageHere) {
        try {
          for (let n = 0; n < N; n++) {
            f32.set((x as Float32Array).subarray(n * chw, (n + 1) * chw), stage0 + n * chw);
            Atomics.store(i32, ready, n + 1);
          }
        } finally {
          Atomics.store(i32, ready, N); // never leave a worker waiting, even if the copy threw
        }
      }
      jitWork(ex, I.memory, jitWords, JIT, 0, t, next);
    });
  } else {
    const { posOff, negOff } = offsetsFor(layer, p, N);
    i32.set(posOff, P.posTab >> 2);
    i32.set(negOff, P.negTab >> 2);
    i32.set(layer.posStart, P.posStart >> 2);
    i32.set(layer.negStart, P.negStart >> 2);
    const t = Math.min(T, P.chunks);
    runJob(I.family, TAPS, words, t, (next) => ternaryWork(I.E, buf, words, 0, PARAMS, 0, 1, next));
  }
  if (typeof out !== 'number') out.set(f32.subarray(P.out >> 2, (P.out >> 2) + outN));
  return jit !== null && post !== undefined ? 'fused' : 'plain';
}
