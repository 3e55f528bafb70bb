/**
 * The integer-activation ternary conv on the wasm SIMD path (./int.ts gives the arithmetic): a
 * per-layer generated module (./simd-jit.ts with integer lanes) whose work units quantize the input
 * rows they read into int16 phase planes (./int-gather.ts, explicit padding, the strided layers'
 * band layout of ./simd-plan.ts for every stride) and sum the taps in registers: i16x8 accumulators (8 pixels a
 * vector) for int8 activations, int16 inputs widened into i32x4 ones for int16. Work units (sample,
 * band of output rows) come from the pool's shared counter; integer sums are exact, so the output
 * is bit-identical to {@link ternaryConv2dIntReference} for any thread count.
 */
import { traceImplementation } from '../registry.js';
import { backendSettings } from '../settings.js';
import type { Conv2dGeometry, TernaryLayer } from '../types.js';
import type { WasmMemory } from '../wasm/assembler.js';
import { MAX_POOL_THREADS, runJob, withWorkerRecovery } from '../wasm/worker-pool.js';
import { type IntActivations, checkIntActivations, checkIntConv, intOutputCoefficients, intQmax, ternaryConv2dIntReference } from './int.js';
import { type BandSpec, type Jit, type JitPost, JIT_MAX_NONZEROS, J_BAND, J_BAND_B, J_BIAS, J_BLOCKS, J_CPS, J_HALO, J_OUT, J_OUT_SAMPLE_B, J_READY, J_ROW_B, J_SCRATCH, J_SCRATCH_B, J_SRC, J_SRC_SAMPLE_B, J_RES, J_RES_SAMPLE_B, J_WORDS, J_XS, buildJit, jitInstance, jitRelease, jitWork, postKey, setWorkUnits } from './simd-jit.js';
import { arenaTop } from './arena.js';
import { MAX_PAGES, PAGE } from './simd-module.js';
import { type SimdPlan, bandFor, planFor, residualSampleFloats } from './simd-plan.js';
import { JIT } from './simd-work.js';
import { type TernaryConvPost, type TernaryOperand, ternarySimdAvailable, ternarySimdInstance, ternaryThreads } from './simd.js';

/** Generated integer kernels per layer, keyed by geometry (batch aside), mode, scale and fused output work. */
const intJits = new WeakMap<TernaryLayer, Map<string, Jit>>();

function intJitFor(layer: TernaryLayer, p: SimdPlan, band: BandSpec, g: Conv2dGeometry, act: IntActivations, memory: WasmMemory, post: JitPost | undefined): Jit {
  const key = `${p.key};${act.mode};${act.scale};${postKey(post)}`;
  let per = intJits.get(layer);
  if (per === undefined) intJits.set(layer, (per = new Map()));
  const hit = per.get(key);
  if (hit !== undefined) return hit;
  const planeF = band.R * p.Wq;
  const built = buildJit(layer, {
    Wq: p.Wq, OH: g.outHeight, OW: g.outWidth,
    // The plan's offsets are float32 bytes; int16 elements take half.
    tapOffset: (m, t) => p.tapOffset(m, t, planeF) / 2,
    outPerGroup: layer.outChannels / g.groups,
    band,
    lanes: act.mode === 'int8' ? 'i16' : 'i16to32',
    coefficients: (m) => intOutputCoefficients(layer, act, m),
    quantize: { inv: Math.fround(1 / act.scale), qmax: intQmax(act.mode) },
    post,
  }, memory);
  per.set(key, built);
  jitRelease.register(layer, built.family);
  return built;
}

/**
 * The wasm path; false (nothing done) where it cannot run this problem. Each (sample, band of output
 * rows) unit quantizes and gathers the input rows it reads into its thread's band buffer (int16
 * phase planes, explicit padding), then runs every channel block over them, `post` fused into the
 * stores. Operands given as offsets (arena regions, ./arena.ts) are read and written in place;
 * arrays are copied in and out.
 */
function ternaryConv2dSimdIntOnce(x: TernaryOperand, layer: TernaryLayer, act: IntActivations, bias: Float32Array | null, out: TernaryOperand, g: Conv2dGeometry, threads: number, post?: TernaryConvPost): boolean {
  const I = ternarySimdInstance();
  if (I === null || layer.posTaps.length + layer.negTaps.length > JIT_MAX_NONZEROS) return false;
  const T = Math.min(threads, MAX_POOL_THREADS);
  const p = planFor(layer, g, true);
  const band = bandFor(layer, p, g, 2) as BandSpec;
  const jit = intJitFor(layer, p, band, g, act, I.memory, post?.spec);
  const { batch: N, inChannels: C, inHeight: H, inWidth: W, outChannels: M, outHeight: OH, outWidth: OW } = g;
  const inN = N * C * H * W, outN = N * M * OH * OW;
  let at = arenaTop();
  const take = (bytes: number): number => { const a = at; at += ((bytes + 15) & ~15) + 16; return a; };
  // +8 floats: the gather's f32x4 pairs may read past a row's last value (never past the batch).
  const stage = typeof x === 'number' ? x : take((inN + 8) * 4);
  const outAt = typeof out === 'number' ? out : take(outN * 4);
  const res = post?.res ?? null;
  // +16 floats: a row's last partial vector reads a whole vector of the residual (two, strided).
  const resSampleF = residualSampleFloats(post?.spec, M * OH * OW);
  const resAt = res === null ? 0 : typeof res === 'number' ? res : take((N * resSampleF + 16) * 4);
  const biasAt = take(M * 4);
  const readyAt = take(4);
  const scratchB = ((jit.maxBlock * OH * OW + 3) & ~3) * 4 + 64;
  const scratch = at;
  at += T * scratchB;
  const bandB = ((p.planes * band.R * p.Wq + p.tail) * 2 + 15 & ~15) + 16;
  const bands = at;
  at += T * bandB;
  if (at > MAX_PAGES * PAGE) return false;
  if (backendSettings().traceKernels) traceImplementation('ternaryConv2dInt', `wasm-simd ${act.mode}, ${T} thread${T === 1 ? '' : 's'}${post === undefined ? '' : ', fused output'}`);
  const have = I.memory.buffer.byteLength;
  if (have < at) I.memory.grow(Math.ceil((at - have) / PAGE));
  const buf = I.memory.buffer;
  const f32 = new Float32Array(buf);
  const i32 = new Int32Array(buf);
  if (bias !== null) f32.set(bias.subarray(0, M), biasAt >> 2);
  else f32.fill(0, biasAt >> 2, (biasAt >> 2) + M);
  const w = new Int32Array(J_WORDS);
  setWorkUnits(w, N, OH, band.rows, T);
  w[J_BLOCKS] = jit.blocks;
  w[J_XS] = jit.minOff; w[J_OUT] = outAt; w[J_OUT_SAMPLE_B] = M * OH * OW * 4;
  w[J_BIAS] = biasAt; w[J_SCRATCH] = scratch; w[J_SCRATCH_B] = scratchB;
  w[J_BAND] = bands; w[J_BAND_B] = bandB; w[J_SRC] = stage; w[J_SRC_SAMPLE_B] = C * H * W * 4; w[J_ROW_B] = p.Wq * 2; w[J_HALO] = band.R - band.rows;
  w[J_READY] = readyAt;
  w[J_RES] = resAt;
  w[J_RES_SAMPLE_B] = resSampleF * 4;
  const E = jitInstance(jit.family, I.memory);
  const units = N * w[J_CPS];
  const t = Math.min(T, units);
  const ex = E;
  // NOTE: the whole batch is staged before the job (a ~2 MB copy, ~0.2 ms), not sample by sample
  // during it as the float kernels' strided layers do: every integer layer is band-gathered, and on
  // a loaded machine a worker spinning on the next sample while the main thread is descheduled cost
  // more than the overlap saved (ResNet-20 at batch 32, 2 threads, load 7–14: int8 ran 247–595
  // images/s against the float path's 800–917 in the same runs, staging sample by sample).
  if (typeof x !== 'number') f32.set(x.subarray(0, inN), stage >> 2);
  if (res !== null && typeof res !== 'number') f32.set(res.subarray(0, N * resSampleF), resAt >> 2);
  i32[readyAt >> 2] = N;
  runJob(jit.family, JIT, w, t, (next) => jitWork(ex, I.memory, w, JIT, 0, t, next));
  if (typeof out !== 'number') out.set(f32.subarray(outAt >> 2, (outAt >> 2) + outN));
  return true;
}

/**
 * The integer conv with `post` fused into its output (see {@link JitPost}), over arrays or arena
 * regions (./arena.ts, the packed runtime's resident activations); false where the wasm path cannot
 * run it (the caller then runs {@link ternaryConv2dInt} and the post passes itself, same bits).
 * Arguments are not checked here: the runtime checked the layer at load.
 * @example if (!ternaryConv2dIntFused(xAt, layer, act, null, outAt, g, { spec, res: resAt })) ...
 */
export function ternaryConv2dIntFused(x: TernaryOperand, layer: TernaryLayer, act: IntActivations, bias: Float32Array | null, out: TernaryOperand, g: Conv2dGeometry, post?: TernaryConvPost, threads = ternaryThreads()): boolean {
  return ternarySimdAvailable() && withWorkerRecovery(() => ternaryConv2dSimdIntOnce(x, layer, act, bias, out, g, threads, post));
}

/**
 * Ternary 2-D convolution with integer activations (./int.ts): the wasm SIMD path where it is
 * available and on (the `ternaryWasm` setting), else {@link ternaryConv2dIntReference}; the two give
 * bit-identical outputs. Throws a `ValueError` for a layer whose accumulators could overflow.
 * @example ternaryConv2dInt(x, layer, { mode: 'int8', scale: 0.05 }, bias, out, g)
 */
export function ternaryConv2dInt(x: Float32Array, layer: TernaryLayer, act: IntActivations, bias: Float32Array | null, out: Float32Array, g: Conv2dGeometry, threads = ternaryThreads()): void {
  const op = 'ternaryConv2dInt';
  checkIntConv(x, layer, bias, out, g, op);
  checkIntActivations(layer, act, op);
  if (ternarySimdAvailable() && withWorkerRecovery(() => ternaryConv2dSimdIntOnce(x, layer, act, bias, out, g, threads))) return;
  if (backendSettings().traceKernels) traceImplementation('ternaryConv2dInt', 'typescript');
  ternaryConv2dIntReference(x, layer, act, bias, out, g);
}
