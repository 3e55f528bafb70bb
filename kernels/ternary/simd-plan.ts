/**
 * The ternary conv's memory layout on the wasm SIMD path: the padded input planes of a geometry
 * (shared padding for stride 1, phase planes for stride s), tap byte offsets, strided layers' band
 * gather, and the byte layout of one call's shared memory.
 */
import type { Conv2dGeometry, TernaryLayer } from '../types.js';
import { type BandSpec, type Jit, J_BAND, J_BAND_B, J_BIAS, J_BLOCKS, J_HALO, J_OUT, J_OUT_SAMPLE_B, J_READY, J_ROW_B, J_SCRATCH, J_SCRATCH_B, J_SRC, J_SRC_SAMPLE_B, J_RES, J_RES_SAMPLE_B, J_WORDS, J_XS, type JitPost, setWorkUnits } from './simd-jit.js';
import { arenaTop } from './arena.js';
import { SIMD_CHUNK } from './simd-module.js';
import type { Params } from './simd-work.js';

/** Chunks per call at least (when there are that many grid rows): balances the threads (a pure function of the geometry, so results stay thread-count independent). */
const MIN_CHUNKS = 8;

export interface SimdPlan {
  readonly key: string;
  readonly Hq: number;
  readonly Wq: number;
  /** Planes per sample: C·sH·sW. */
  readonly planes: number;
  /** Zero floats before the first plane (stride 1: shared padding, negative tap offsets reach into it). */
  readonly lead: number;
  /** Padding the gather writes explicitly (0 in the shared-padding layout). */
  readonly gatherPadH: number;
  readonly gatherPadW: number;
  /** Zero floats after the last plane (garbage grid points read up to a kernel extent past it). */
  readonly tail: number;
  /** Byte offset of tap t of output m from a grid point, for a plane stride of `planeF` floats. */
  readonly tapOffset: (m: number, t: number, planeF: number) => number;
}
/** Per layer, its last plan of each layout (a layer runs with both: generic kernel, then generated code). */
const plans = new WeakMap<TernaryLayer, { shared?: SimdPlan; explicit?: SimdPlan }>();

/** The layer's padded layout for geometry g (batch aside); `explicit`: phase planes with explicit padding for stride 1 too (the band-gathered integer path). */
export function planFor(layer: TernaryLayer, g: Conv2dGeometry, explicit = false): SimdPlan {
  const key = `${explicit ? 'e' : ''}${g.inChannels},${g.inHeight},${g.inWidth},${g.outChannels},${g.strideH},${g.strideW},${g.padH},${g.padW},${g.dilationH},${g.dilationW},${g.groups}`;
  let per = plans.get(layer);
  if (per === undefined) plans.set(layer, (per = {}));
  const cached = explicit ? per.explicit : per.shared;
  if (cached !== undefined && cached.key === key) return cached;
  const { strideH: sh, strideW: sw, dilationH: dh, dilationW: dw } = g;
  // Stride 1: the shared-padding layout (each row followed by gw ≥ padW zero columns, each plane by
  // gh ≥ padH zero rows, so a read off one side of a row lands in zeros) — fewer wasted grid points
  // than explicit padding on small maps (8×8: 81 vs 100 per 64 outputs). NOTE: ≥ OW−W / OH−H keeps
  // the grid from overlapping the next row/plane when pad > kernel.
  const shared = !explicit && sh === 1 && sw === 1;
  const Hq = shared ? g.inHeight + Math.max(g.padH, g.outHeight - g.inHeight, 0) : Math.ceil((g.inHeight + 2 * g.padH) / sh);
  const Wq = shared ? g.inWidth + Math.max(g.padW, g.outWidth - g.inWidth, 0) : Math.ceil((g.inWidth + 2 * g.padW) / sw);
  const lead = shared ? g.padH * Wq + g.padW : 0;
  const kh = layer.kernelHeight, kw = layer.kernelWidth;
  // Garbage grid points past the last plane read up to one kernel extent further (+8: f32x4 rounding).
  const tail = (Math.floor(((kh - 1) * dh) / sh) + 1) * Wq + Math.floor(((kw - 1) * dw) / sw) + 8;
  const cpg = layer.inPerGroup;
  const opg = layer.outChannels / g.groups;
  const tapOffset = (m: number, t: number, planeF: number): number => {
    const j = t % kw;
    const ci = (t - j) / kw;
    const i = ci % kh;
    const c = (ci - i) / kh;
    const gi = Math.floor(m / opg);
    const yi = i * dh, xj = j * dw;
    const plane = ((gi * cpg + c) * sh + (yi % sh)) * sw + (xj % sw);
    if (shared) return (plane * planeF + (yi - g.padH) * Wq + (xj - g.padW)) * 4;
    return (plane * planeF + Math.floor(yi / sh) * Wq + Math.floor(xj / sw)) * 4;
  };
  const plan = { key, Hq, Wq, planes: g.inChannels * sh * sw, lead, gatherPadH: shared ? 0 : g.padH, gatherPadW: shared ? 0 : g.padW, tail, tapOffset };
  if (explicit) per.explicit = plan;
  else per.shared = plan;
  return plan;
}

/** Generic kernel: tap byte offsets for the channel-major layout of batch N (cached per layer). */
const genericOffsets = new WeakMap<TernaryLayer, { key: string; posOff: Int32Array; negOff: Int32Array }>();
export function offsetsFor(layer: TernaryLayer, p: SimdPlan, N: number): { posOff: Int32Array; negOff: Int32Array } {
  const key = `${p.key};${N}`;
  const hit = genericOffsets.get(layer);
  if (hit !== undefined && hit.key === key) return hit;
  const chanStride = N * p.Hq * p.Wq;
  const posOff = new Int32Array(layer.posTaps.length);
  const negOff = new Int32Array(layer.negTaps.length);
  for (let m = 0; m < layer.outChannels; m++) {
    for (let t = layer.posStart[m]; t < layer.posStart[m + 1]; t++) posOff[t] = p.tapOffset(m, layer.posTaps[t], chanStride);
    for (let t = layer.negStart[m]; t < layer.negStart[m + 1]; t++) negOff[t] = p.tapOffset(m, layer.negTaps[t], chanStride);
  }
  const r = { key, posOff, negOff };
  genericOffsets.set(layer, r);
  return r;
}

/**
 * Most bytes of a strided layer's band buffer (per thread). NOTE: measured, not derived: on
 * 16→32 @32×32 /2 at N = 32, whole-sample bands (74 KiB) ran 0.37–0.39 ms a call against 0.45–0.50
 * for 24 KiB bands (4 rows) and 0.47–0.55 for 8-row bands; 64→64 @32×32 /2: 296 KiB whole samples
 * 2.3 ms, 200 KiB bands 2.6, 24 KiB 3.6. Small batches still get short bands (units ≥ 16 a call).
 */
const BAND_BUDGET = 1 << 20;

/**
 * The band gather of a layer's generated code over the explicit layout `p` (`planFor(…, true)`; the
 * integer path's, `elemBytes` 2, also quantizes): bands of at most `rows` output rows, their input
 * (every phase plane, rows + halo) at most {@link BAND_BUDGET} bytes; a pure function of the
 * geometry (the generated code bakes the band plane stride in).
 * NOTE: stride-1 float layers too: gathering the whole batch into planes first (a separate job)
 * scaled 1.3× on 2 threads where the per-unit band gather scales 1.8–1.9× (ResNet-20, batch 32).
 */
export function bandFor(layer: TernaryLayer, p: SimdPlan, g: Conv2dGeometry, elemBytes = 4): BandSpec {
  const { strideH: sH, strideW: sW, padH: ph, padW: pw, inHeight: H, inWidth: W } = g;
  const halo = Math.floor(((layer.kernelHeight - 1) * g.dilationH) / sH);
  const rows = Math.min(g.outHeight, Math.max(1, Math.floor(BAND_BUDGET / (p.planes * p.Wq * 4)) - halo));
  // Per phase (a, b): valid grid rows/columns and the source offset, as in ternaryWork's gather
  // (repeated, not shared: workers evaluate ternaryWork's own source, so it cannot call helpers here).
  const uLo: number[] = [], uHi: number[] = [], vLo: number[] = [], vHi: number[] = [], off: number[] = [];
  for (let a = 0; a < sH; a++) {
    for (let b = 0; b < sW; b++) {
      const u0 = Math.max(0, Math.ceil((ph - a) / sH));
      const v0 = Math.max(0, Math.ceil((pw - b) / sW));
      uLo.push(u0);
      uHi.push(Math.max(u0, Math.min(p.Hq, Math.ceil((H + ph - a) / sH))));
      vLo.push(v0);
      vHi.push(Math.max(v0, Math.min(p.Wq, Math.ceil((W + pw - b) / sW))));
      off.push(((a + sH * u0 - ph) * W + (b + sW * v0 - pw)) * 4);
    }
  }
  return { C: g.inChannels, phases: sH * sW, rows, R: rows + halo, Wq: p.Wq, elemBytes, hwB: H * W * 4, rowStepB: sH * W * 4, colStepB: sW * 4, uLo, uHi, vLo, vHi, off };
}

/**
 * Where a call's tensors already are (byte offsets of arena regions, ./arena.ts); absent ones are
 * staged in the call's scratch. `res: 'stage'`: a residual array to stage for a fused join.
 */
export interface ResidentOperands {
  readonly x?: number;
  readonly out?: number;
  readonly res?: number | 'stage';
}

/**
 * Floats per sample of a fused residual operand: the shortcut's source tensor for a mapped residual
 * (see {@link JitPost}), else the output's `outSampleF`.
 * @example residualSampleFloats(jit.post, M * OH * OW)
 */
export function residualSampleFloats(post: JitPost | undefined, outSampleF: number): number {
  const map = post?.residualMap;
  return map === undefined ? outSampleF : map.channels * map.height * map.width;
}

/** Byte layout of one call's shared memory, above every arena region. */
export function layoutFor(layer: TernaryLayer, g: Conv2dGeometry, p: SimdPlan, threads: number, jit: Jit | null, resident: ResidentOperands = {}): { bytes: number; at: Params; jitWords: Int32Array | null } {
  const { batch: N, inChannels: C, inHeight: H, inWidth: W, outChannels: M, outHeight: OH, outWidth: OW } = g;
  const planeF = p.Hq * p.Wq;
  let at = arenaTop();
  const take = (floats: number): number => { const a = at; at += ((floats + 3) & ~3) * 4 + 16; return a; };
  const xStage = resident.x ?? take(N * C * H * W + 8);
  // Generated code gathers bands per work unit: only the generic kernel needs whole-batch planes.
  const xp = jit !== null ? take(0) : take(p.lead + N * p.planes * planeF + p.tail) + p.lead * 4;
  const out = resident.out ?? take(N * M * OH * OW);
  // +16 floats: a row's last partial vector reads a whole vector of the residual (two, strided).
  const resSampleF = residualSampleFloats(jit?.post, M * OH * OW);
  const res = resident.res === undefined || jit === null ? 0 : resident.res === 'stage' ? take(N * resSampleF + 16) : resident.res;
  const bias = take(M);
  const params: Params = {
    xStage, xp, out, posTab: 0, negTab: 0, posStart: 0, negStart: 0, bias, acc: 0, accB: 0,
    C, N, H, W, Hq: p.Hq, Wq: p.Wq, ph: p.gatherPadH, pw: p.gatherPadW, sH: g.strideH, sW: g.strideW, M, OH, OW, totalRows: N * p.Hq, rowsPer: 1,
    chunks: 0, hasBias: 0, wpBits: 0, wnBits: 0, coefP: 0, coefN: 0, sampleMajor: jit === null ? 0 : 1,
  };
  if (jit !== null) {
    const scratchB = ((jit.maxBlock * OH * OW + 3) & ~3) * 4 + 64;
    const scratch = at;
    at += threads * scratchB;
    const band = jit.band;
    const w = new Int32Array(J_WORDS);
    setWorkUnits(w, N, OH, band.rows, threads);
    w[J_BLOCKS] = jit.blocks;
    w[J_XS] = jit.minOff; w[J_OUT] = out; w[J_OUT_SAMPLE_B] = M * OH * OW * 4;
    w[J_BIAS] = bias; w[J_SCRATCH] = scratch; w[J_SCRATCH_B] = scratchB;
    w[J_RES] = res;
    w[J_RES_SAMPLE_B] = resSampleF * 4;
    // Per-thread band buffers; the slack past the last band plane covers garbage grid points' reads.
    const bandB = ((p.planes * band.R * p.Wq + p.tail + 3) & ~3) * 4 + 16;
    w[J_BAND] = at; w[J_BAND_B] = bandB; w[J_SRC] = xStage; w[J_SRC_SAMPLE_B] = C * H * W * 4; w[J_ROW_B] = p.Wq * 4; w[J_HALO] = band.R - band.rows;
    at += threads * bandB;
    w[J_READY] = at;
    at += 16;
    return { bytes: at, at: params, jitWords: w };
  }
  const totalRows = N * p.Hq;
  const rowsPer = Math.max(1, Math.min(Math.floor(SIMD_CHUNK / p.Wq), Math.ceil(totalRows / MIN_CHUNKS)));
  const accB = ((rowsPer * p.Wq + 3) & ~3) * 4 + 16;
  // Per-channel centroids (generated code bakes them in).
  if (layer.channelWp !== undefined) { params.coefP = take(M); params.coefN = take(M); }
  params.posTab = take(layer.posTaps.length);
  params.negTab = take(layer.negTaps.length);
  params.posStart = take(M + 1);
  params.negStart = take(M + 1);
  params.acc = at;
  params.accB = accB;
  params.rowsPer = rowsPer;
  params.chunks = Math.ceil(totalRows / rowsPer);
  at += threads * 2 * accB;
  return { bytes: at, at: params, jitWords: null };
}
