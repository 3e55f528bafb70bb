/**
 * Multiplication-free cpu kernels for ternary layers (docs/METHOD.md §9):
 * `y[m] = w_p·Σ_{t∈P(m)} x[t] − w_n·Σ_{t∈N(m)} x[t] + bias[m]` — the sums are additions only, then
 * two multiplications per output.
 *
 * Layout trick (why no im2col): the input is copied once into a zero-padded, channel-major buffer
 * `[C][N][Hs][Ws]` whose padding is *shared*: each row is followed by `Gw ≥ padW` zero columns and
 * each sample by `Gh ≥ padH` zero rows, so a read that falls off one side of a row lands in zeros.
 * A tap `(c, i, j)` is then a constant offset `c·chanStride + (i·dH − pH)·Ws + (j·dW − pW)` from
 * the output position, and for stride 1 every output of every sample sits on one flat grid
 * `p = n·Hs·Ws + oy·Ws + ox`. The inner loop is `acc[p] += x[o₀+p] + x[o₁+p] + x[o₂+p] + x[o₃+p]`
 * over a contiguous chunk of positions (four taps per pass, so the accumulator is loaded and stored
 * once per four additions); grid points in the gaps are computed and dropped. Other strides walk
 * the same buffer row by row.
 *
 * These JS loops are the fallback: where WebAssembly SIMD and shared memory exist, the conv runs the
 * multi-threaded wasm path of ./simd.ts (same layout idea, every stride), see `setTernarySimd`.
 */
import { ShapeError } from '../../base/errors.js';
import type { Conv2dGeometry, TernaryLayer } from '../types.js';
import { traceImplementation } from '../registry.js';
import { backendSettings, setBackendSettings } from '../settings.js';
import { ternaryConv2dSimd, ternarySimdAvailable } from './simd.js';

/** Offsets of every tap for one (layer, geometry): same order as posTaps/negTaps. */
interface Plan {
  readonly key: string;
  readonly ws: number;
  readonly hs: number;
  readonly chanStride: number;
  readonly lead: number;
  readonly bufLen: number;
  readonly posOff: Int32Array;
  readonly negOff: Int32Array;
}

const plans = new WeakMap<TernaryLayer, Plan>();
let padScratch = new Float32Array(1 << 16);
let posScratch = new Float32Array(1 << 12);
let negScratch = new Float32Array(1 << 12);
let rowScratch = new Int32Array(256);

/**
 * Turns the WebAssembly SIMD inner loop on or off (tests run both paths; the API level of the
 * `ternaryWasm` backend setting); returns whether it is now on (false when the engine has no wasm
 * SIMD, whatever was asked).
 * @example setTernarySimd(false) // force the pure-JS loops
 */
export function setTernarySimd(on: boolean): boolean {
  setBackendSettings({ ternaryWasm: on });
  return ternarySimdAvailable();
}

/** Target positions per chunk: two accumulators of this size stay in L1. */
const CHUNK = 2048;

function planFor(layer: TernaryLayer, g: Conv2dGeometry): Plan {
  const key = `${g.batch},${g.inChannels},${g.inHeight},${g.inWidth},${g.outChannels},${g.strideH},${g.strideW},${g.padH},${g.padW},${g.dilationH},${g.dilationW},${g.groups}`;
  const cached = plans.get(layer);
  if (cached !== undefined && cached.key === key) return cached;
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, padH: ph, padW: pw } = g;
  // NOTE: gaps ≥ pad keep every read of a real output in zeros or its own sample; ≥ OW−W / OH−H
  // keeps the flat output grid (stride 1) from overlapping the next row/sample when pad > kernel.
  const gw = Math.max(pw, OW - W, 0);
  const gh = Math.max(ph, OH - H, 0);
  const ws = W + gw;
  const hs = H + gh;
  const chanStride = g.batch * hs * ws;
  const lead = ph * ws + pw;
  const kh = layer.kernelHeight;
  const kw = layer.kernelWidth;
  // Garbage grid points read up to one kernel extent beyond the last sample.
  // (+4: the SIMD path rounds chunk lengths up to whole f32x4 lanes.)
  const tail = ((kh - 1) * g.dilationH + 1) * ws + (kw - 1) * g.dilationW + 1 + 4;
  const bufLen = lead + g.inChannels * chanStride + tail;
  const cpg = layer.inPerGroup;
  const opg = layer.outChannels / g.groups;
  const tapOffset = (m: number, t: number): number => {
    const j = t % kw;
    const ci = (t - j) / kw;
    const i = ci % kh;
    const c = (ci - i) / kh;
    const gi = Math.floor(m / opg);
    return (gi * cpg + c) * chanStride + (i * g.dilationH - ph) * ws + (j * g.dilationW - pw);
  };
  const posOff = new Int32Array(layer.posTaps.length);
  const negOff = new Int32Array(layer.negTaps.length);
  for (let m = 0; m < layer.outChannels; m++) {
    for (let t = layer.posStart[m]; t < layer.posStart[m + 1]; t++) posOff[t] = tapOffset(m, layer.posTaps[t]);
    for (let t = layer.negStart[m]; t < layer.negStart[m + 1]; t++) negOff[t] = tapOffset(m, layer.negTaps[t]);
  }
  const plan = { key, ws, hs, chanStride, lead, bufLen, posOff, negOff };
  plans.set(layer, plan);
  return plan;
}

/** Copies NCHW x into the shared-padding layout `[C][N][Hs][Ws]` (gaps zero) at `xp[at …]`. */
function padInput(x: Float32Array, g: Conv2dGeometry, p: Plan, dst?: Float32Array, at = 0): Float32Array {
  if (dst === undefined && padScratch.length < p.bufLen) padScratch = new Float32Array(p.bufLen);
  const xp = dst ?? padScratch;
  xp.fill(0, at, at + p.bufLen);
  const { batch: N, inChannels: C, inHeight: H, inWidth: W } = g;
  if (p.ws === W && p.hs === H) {
    // No gaps (1×1 unpadded, linear): plain transpose of the batch and channel dims.
    const hw = H * W;
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) xp.set(x.subarray((n * C + c) * hw, (n * C + c + 1) * hw), at + p.lead + c * p.chanStride + n * hw);
    return xp;
  }
  for (let c = 0; c < C; c++) {
    for (let n = 0; n < N; n++) {
      const dst = at + p.lead + c * p.chanStride + n * p.hs * p.ws;
      const src = (n * C + c) * H * W;
      for (let y = 0; y < H; y++) xp.set(x.subarray(src + y * W, src + y * W + W), dst + y * p.ws);
    }
  }
  return xp;
}

/** acc[q] = Σ_{t∈[s,e)} xp[base + off[t] + q] for q < len; four taps per pass. */
function sumTaps(acc: Float32Array, xp: Float32Array, base: number, off: Int32Array, s: number, e: number, len: number): void {
  const n = e - s;
  let t = s;
  switch (n & 3) {
    case 0:
      if (n === 0) {
        acc.fill(0, 0, len);
        return;
      } else {
        const o0 = base + off[t], o1 = base + off[t + 1], o2 = base + off[t + 2], o3 = base + off[t + 3];
        for (let q = 0; q < len; q++) acc[q] = xp[o0 + q] + xp[o1 + q] + xp[o2 + q] + xp[o3 + q];
        t += 4;
      }
      break;
    case 1: {
      const o0 = base + off[t];
      for (let q = 0; q < len; q++) acc[q] = xp[o0 + q];
      t += 1;
      break;
    }
    case 2: {
      const o0 = base + off[t], o1 = base + off[t + 1];
      for (let q = 0; q < len; q++) acc[q] = xp[o0 + q] + xp[o1 + q];
      t += 2;
      break;
    }
    default: {
      const o0 = base + off[t], o1 = base + off[t + 1], o2 = base + off[t + 2];
      for (let q = 0; q < len; q++) acc[q] = xp[o0 + q] + xp[o1 + q] + xp[o2 + q];
      t += 3;
    }
  }
  for (; t < e; t += 4) {
    const o0 = base + off[t], o1 = base + off[t + 1], o2 = base + off[t + 2], o3 = base + off[t + 3];
    for (let q = 0; q < len; q++) acc[q] += xp[o0 + q] + xp[o1 + q] + xp[o2 + q] + xp[o3 + q];
  }
}

/**
 * Strided variant: acc[r·ow + ox] = Σ_t xp[rowBase[r] + off[t] + ox·sw] for `rows` output rows.
 * Taps outer, rows and pixels inner (two taps per pass).
 */
function sumTapsStrided(
  acc: Float32Array,
  xp: Float32Array,
  rowBase: Int32Array,
  rows: number,
  ow: number,
  sw: number,
  off: Int32Array,
  s: number,
  e: number,
): void {
  const len = rows * ow;
  if (e === s) {
    acc.fill(0, 0, len);
    return;
  }
  let t = s;
  if ((e - s) & 1) {
    const o0 = off[t];
    for (let r = 0; r < rows; r++) {
      const b = rowBase[r] + o0;
      const a = r * ow;
      for (let ox = 0; ox < ow; ox++) acc[a + ox] = xp[b + ox * sw];
    }
    t += 1;
  } else {
    const o0 = off[t], o1 = off[t + 1];
    for (let r = 0; r < rows; r++) {
      const b0 = rowBase[r] + o0, b1 = rowBase[r] + o1;
      const a = r * ow;
      for (let ox = 0; ox < ow; ox++) acc[a + ox] = xp[b0 + ox * sw] + xp[b1 + ox * sw];
    }
    t += 2;
  }
  for (; t < e; t += 2) {
    const o0 = off[t], o1 = off[t + 1];
    for (let r = 0; r < rows; r++) {
      const b0 = rowBase[r] + o0, b1 = rowBase[r] + o1;
      const a = r * ow;
      for (let ox = 0; ox < ow; ox++) acc[a + ox] += xp[b0 + ox * sw] + xp[b1 + ox * sw];
    }
  }
}

function checkConv(x: Float32Array, layer: TernaryLayer, bias: Float32Array | null, out: Float32Array, g: Conv2dGeometry, op: string): void {
  const { batch: N, inChannels: C, inHeight: H, inWidth: W, outChannels: M, groups } = g;
  if (layer.outChannels !== M || layer.inPerGroup * groups !== C || layer.kernelHeight !== g.kernelHeight || layer.kernelWidth !== g.kernelWidth) {
    throw new ShapeError(
      op,
      `layer [${layer.outChannels}, ${layer.inPerGroup}, ${layer.kernelHeight}, ${layer.kernelWidth}] does not fit geometry ` +
        `(out ${M}, in ${C}/groups ${groups}, kernel ${g.kernelHeight}×${g.kernelWidth}); build the layer from weights of that shape`,
    );
  }
  if (M % groups !== 0) throw new ShapeError(op, `out channels ${M} not divisible by groups ${groups}`);
  if (x.length < N * C * H * W) throw new ShapeError(op, `x has ${x.length} elements, geometry needs ${N * C * H * W}`);
  if (out.length < N * M * g.outHeight * g.outWidth) throw new ShapeError(op, `out has ${out.length} elements, geometry needs ${N * M * g.outHeight * g.outWidth}`);
  if (bias !== null && bias.length < M) throw new ShapeError(op, `bias has ${bias.length} elements, needs ${M} (one per output channel)`);
  if (g.outHeight < 1 || g.outWidth < 1) throw new ShapeError(op, `output ${g.outHeight}×${g.outWidth} is empty`);
}

function grow(n: number): void {
  if (posScratch.length < n) {
    posScratch = new Float32Array(n);
    negScratch = new Float32Array(n);
  }
}

/**
 * Ternary 2-D convolution (NCHW, any stride/padding/dilation/groups, depthwise included):
 * `out = w_p·Σ_P x − w_n·Σ_N x + bias`. Overwrites `out`.
 * @example ternaryConv2dCpu(x, ternaryLayerFromAssignment(a, [16, 16, 3, 3], wp, wn), null, out, conv2dGeometry([1, 16, 8, 8], [16, 16, 3, 3], { padding: 1 }))
 */
export function ternaryConv2dCpu(x: Float32Array, layer: TernaryLayer, bias: Float32Array | null, out: Float32Array, g: Conv2dGeometry): void {
  checkConv(x, layer, bias, out, g, 'ternaryConv2d');
  // The wasm SIMD path (threads, any stride) unless off or too big for its shared memory.
  if (ternarySimdAvailable() && ternaryConv2dSimd(x, layer, bias, out, g)) return;
  if (backendSettings().traceKernels) traceImplementation('ternaryConv2d', 'typescript');
  const p = planFor(layer, g);
  const xp = padInput(x, g, p);
  const { batch: N, outChannels: M, outHeight: OH, outWidth: OW } = g;
  const { wp, wn, posStart, negStart, channelWp, channelWn } = layer;
  const { posOff, negOff, ws, hs, lead } = p;
  const ohw = OH * OW;
  if (g.strideH === 1 && g.strideW === 1) {
    const totalRows = N * hs;
    const rowsPer = Math.max(1, Math.floor(CHUNK / ws));
    grow(rowsPer * ws);
    const pos = posScratch;
    const neg = negScratch;
    for (let r0 = 0; r0 < totalRows; r0 += rowsPer) {
      const r1 = Math.min(totalRows, r0 + rowsPer);
      // The last row of the last sample only needs OW points; everything past it is gap.
      const len = (r1 - r0) * ws;
      const base = lead + r0 * ws;
      for (let m = 0; m < M; m++) {
        sumTaps(pos, xp, base, posOff, posStart[m], posStart[m + 1], len);
        sumTaps(neg, xp, base, negOff, negStart[m], negStart[m + 1], len);
        const b = bias === null ? 0 : bias[m];
        const cp = channelWp === undefined ? wp : channelWp[m], cn = channelWn === undefined ? wn : channelWn[m];
        for (let r = r0; r < r1; r++) {
          const n = Math.floor(r / hs);
          const oy = r - n * hs;
          if (oy >= OH) continue;
          const d = (n * M + m) * ohw + oy * OW;
          const a = (r - r0) * ws;
          for (let ox = 0; ox < OW; ox++) out[d + ox] = cp * pos[a + ox] - cn * neg[a + ox] + b;
        }
      }
    }
    return;
  }
  // Any stride: output rows (n, oy) in chunks; each row starts at its own buffer offset.
  const totalRows = N * OH;
  const rowsPer = Math.max(1, Math.floor(CHUNK / OW));
  grow(rowsPer * OW);
  if (rowScratch.length < rowsPer) rowScratch = new Int32Array(rowsPer);
  const rowBase = rowScratch;
  const pos = posScratch;
  const neg = negScratch;
  const sh = g.strideH;
  const sw = g.strideW;
  for (let r0 = 0; r0 < totalRows; r0 += rowsPer) {
    const r1 = Math.min(totalRows, r0 + rowsPer);
    for (let r = r0; r < r1; r++) {
      const n = Math.floor(r / OH);
      const oy = r - n * OH;
      rowBase[r - r0] = lead + n * hs * ws + oy * sh * ws;
    }
    const rows = r1 - r0;
    for (let m = 0; m < M; m++) {
      sumTapsStrided(pos, xp, rowBase, rows, OW, sw, posOff, posStart[m], posStart[m + 1]);
      sumTapsStrided(neg, xp, rowBase, rows, OW, sw, negOff, negStart[m], negStart[m + 1]);
      const b = bias === null ? 0 : bias[m];
      const cp = channelWp === undefined ? wp : channelWp[m], cn = channelWn === undefined ? wn : channelWn[m];
      for (let r = r0; r < r1; r++) {
        const n = Math.floor(r / OH);
        const oy = r - n * OH;
        const d = (n * M + m) * ohw + oy * OW;
        const a = (r - r0) * OW;
        for (let ox = 0; ox < OW; ox++) out[d + ox] = cp * pos[a + ox] - cn * neg[a + ox] + b;
      }
    }
  }
}

/**
 * Ternary fully connected layer: `out[n, m] = w_p·Σ_{P(m)} x[n, ·] − w_n·Σ_{N(m)} x[n, ·] + bias[m]`
 * for `x` `[batch, in]`, `out` `[batch, out]` (batch = x.length / in). Small batches gather per
 * sample; larger ones reuse the conv path (a 1×1 conv on a 1×1 map, the batch contiguous inside).
 * @example ternaryLinearCpu(x, ternaryLayerFromAssignment(a, [10, 64], wp, wn), bias, out)
 */
export function ternaryLinearCpu(x: Float32Array, layer: TernaryLayer, bias: Float32Array | null, out: Float32Array): void {
  const op = 'ternaryLinear';
  const I = layer.inPerGroup;
  const M = layer.outChannels;
  if (layer.kernelHeight !== 1 || layer.kernelWidth !== 1) {
    throw new ShapeError(op, `layer has a ${layer.kernelHeight}×${layer.kernelWidth} kernel; a linear layer needs weights [out, in]`);
  }
  const batch = x.length / I;
  if (!Number.isInteger(batch)) throw new ShapeError(op, `x has ${x.length} elements, not a multiple of in = ${I}; expected [batch, ${I}]`);
  if (out.length !== batch * M) throw new ShapeError(op, `out has ${out.length} elements, [${batch}, ${M}] needs ${batch * M}`);
  if (bias !== null && bias.length < M) throw new ShapeError(op, `bias has ${bias.length} elements, needs ${M}`);
  if (batch >= 8) {
    const g: Conv2dGeometry = {
      batch, inChannels: I, inHeight: 1, inWidth: 1, outChannels: M, kernelHeight: 1, kernelWidth: 1,
      strideH: 1, strideW: 1, padH: 0, padW: 0, dilationH: 1, dilationW: 1, groups: 1, outHeight: 1, outWidth: 1,
    };
    ternaryConv2dCpu(x, layer, bias, out, g);
    return;
  }
  const { wp, wn, posStart, posTaps, negStart, negTaps, channelWp, channelWn } = layer;
  for (let n = 0; n < batch; n++) {
    const xo = n * I;
    for (let m = 0; m < M; m++) {
      let sp = 0;
      for (let t = posStart[m]; t < posStart[m + 1]; t++) sp += x[xo + posTaps[t]];
      let sn = 0;
      for (let t = negStart[m]; t < negStart[m + 1]; t++) sn += x[xo + negTaps[t]];
      out[n * M + m] = (channelWp === undefined ? wp : channelWp[m]) * sp - (channelWn === undefined ? wn : channelWn[m]) * sn + (bias === null ? 0 : bias[m]);
    }
  }
}
