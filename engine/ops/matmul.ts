/**
 * Matrix products: `matmul` (2-D and batched with leading-dim broadcast) and `linear`
 * (x·Wᵀ + b), forward and backward side by side.
 */
import { kernel } from '../../kernels/registry.js';
import type { MatmulGeometry } from '../../kernels/types.js';
import { ShapeError, fmtShape } from '../../base/errors.js';
import { Tensor, makeResult, needsGrad } from '../tensor.js';

function geom(batch: number, m: number, k: number, n: number, transA: boolean, transB: boolean, batchA: number, batchB: number): MatmulGeometry {
  return { batch, m, k, n, transA, transB, batchA, batchB };
}

/** out = op(A)·op(B) for one (possibly broadcast) batch through the registered kernel. */
function runMatmul(a: Float32Array, b: Float32Array, g: MatmulGeometry): Float32Array {
  const out = new Float32Array(g.batch * g.m * g.n);
  if (out.length === 0) return out;
  if (g.k === 0) return out.fill(0);
  kernel('matmul', 2 * g.batch * g.m * g.n * g.k)(a, b, out, g);
  return out;
}

/** Broadcasts two leading-dim shapes NumPy-style (right-aligned); throws naming matmul. */
function broadcastLeading(a: readonly number[], b: readonly number[], aShape: readonly number[], bShape: readonly number[]): number[] {
  const nd = Math.max(a.length, b.length);
  const out = new Array<number>(nd);
  for (let i = 0; i < nd; i++) {
    const da = a[a.length - nd + i] ?? 1;
    const db = b[b.length - nd + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError('matmul', `leading (batch) dims of ${fmtShape(aShape)} and ${fmtShape(bShape)} do not broadcast (${da} vs ${db}); make them equal or 1`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Flat offset into a tensor whose leading dims `lead` broadcast against `outLead`, for output batch index `bi`. */
function broadcastBatchIndex(bi: number, outLead: readonly number[], lead: readonly number[]): number {
  let idx = 0;
  let mul = 1;
  let rem = bi;
  const off = outLead.length - lead.length;
  for (let d = outLead.length - 1; d >= 0; d--) {
    const coord = rem % outLead[d];
    rem = Math.floor(rem / outLead[d]);
    const ld = d - off;
    if (ld < 0) continue;
    if (lead[ld] !== 1) idx += coord * mul;
    mul *= lead[ld];
  }
  return idx;
}

const prod = (s: readonly number[]): number => s.reduce((p, d) => p * d, 1);

/**
 * Matrix product of `a [..., m, k]` and `b [..., k, n]` → `[..., m, n]`; leading dims broadcast
 * (NumPy rules). Both inputs need at least 2 dims.
 * @example matmul(randn([8, 3, 4], rng), randn([4, 5], rng)).shape // [8, 3, 5]
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.ndim < 2 || b.ndim < 2) throw new ShapeError('matmul', `both inputs need at least 2 dims, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}; reshape vectors to [1, k] or [k, 1]`);
  const m = a.shape[a.ndim - 2];
  const k = a.shape[a.ndim - 1];
  const k2 = b.shape[b.ndim - 2];
  const n = b.shape[b.ndim - 1];
  if (k !== k2) throw new ShapeError('matmul', `inner dims differ: ${fmtShape(a.shape)} · ${fmtShape(b.shape)} needs a's last dim (${k}) = b's second-to-last dim (${k2})`);
  const aLead = a.shape.slice(0, -2);
  const bLead = b.shape.slice(0, -2);
  const outLead = broadcastLeading(aLead, bLead, a.shape, b.shape);
  const batch = prod(outLead);
  const batchA = prod(aLead);
  const batchB = prod(bLead);
  // One kernel call when each side is either fully batched or a single matrix; otherwise one per output batch.
  const simple = (batchA === batch || batchA === 1) && (batchB === batch || batchB === 1);
  const product = (x: Float32Array, xBatch: number, y: Float32Array, yBatch: number, mm: number, kk: number, nn: number, tA: boolean, tB: boolean, xLead: readonly number[], yLead: readonly number[]): Float32Array => {
    if (simple) return runMatmul(x, y, geom(batch, mm, kk, nn, tA, tB, xBatch === 1 ? 1 : batch, yBatch === 1 ? 1 : batch));
    const out = new Float32Array(batch * mm * nn);
    const xs = mm * kk;
    const ys = kk * nn;
    for (let bi = 0; bi < batch; bi++) {
      const xi = broadcastBatchIndex(bi, outLead, xLead);
      const yi = broadcastBatchIndex(bi, outLead, yLead);
      out.set(runMatmul(x.subarray(xi * xs, xi * xs + xs), y.subarray(yi * ys, yi * ys + ys), geom(1, mm, kk, nn, tA, tB, 1, 1)), bi * mm * nn);
    }
    return out;
  };
  const data = product(a.data, batchA, b.data, batchB, m, k, n, false, false, aLead, bLead);
  const track = needsGrad(a, b);
  const aData = track ? a.data : null;
  const bData = track ? b.data : null;
  return makeResult('matmul', data, [...outLead, m, n], [a, b], (gradOut) => {
    // dA[b] = dC[b]·B[b]ᵀ, dB[b] = A[b]ᵀ·dC[b]; broadcast inputs sum over the batches they served.
    let gradA: Float32Array | null = null;
    let gradB: Float32Array | null = null;
    if (a.tracked) {
      const full = product(gradOut, batch, bData!, batchB, m, n, k, false, true, outLead, bLead);
      gradA = sumToLead(full, batch, outLead, aLead, m * k);
    }
    if (b.tracked) {
      const full = product(aData!, batchA, gradOut, batch, k, m, n, true, false, aLead, outLead);
      gradB = sumToLead(full, batch, outLead, bLead, k * n);
    }
    return [gradA, gradB];
  });
}

/** Sums per-output-batch matrices `full [batch, mat]` down to an input's broadcast leading dims. */
function sumToLead(full: Float32Array, batch: number, outLead: readonly number[], lead: readonly number[], mat: number): Float32Array {
  const count = prod(lead);
  if (count === batch) return full;
  const out = new Float32Array(count * mat);
  for (let bi = 0; bi < batch; bi++) {
    const o = broadcastBatchIndex(bi, outLead, lead) * mat;
    const src = bi * mat;
    for (let i = 0; i < mat; i++) out[o + i] += full[src + i];
  }
  return out;
}

/**
 * Fully connected layer `y = x·Wᵀ + b` for `x [N, in]`, `weight [out, in]`, `bias [out]` or null.
 * @example linear(x, weight, bias).shape // [N, out]
 */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  if (x.ndim !== 2) throw new ShapeError('linear', `input must be 2-D [N, in], got ${fmtShape(x.shape)}; flatten it first`);
  if (weight.ndim !== 2) throw new ShapeError('linear', `weight must be 2-D [out, in], got ${fmtShape(weight.shape)}`);
  const [batch, inF] = x.shape;
  const [outF, wIn] = weight.shape;
  if (wIn !== inF) throw new ShapeError('linear', `weight ${fmtShape(weight.shape)} expects ${wIn} input features, input ${fmtShape(x.shape)} has ${inF}`);
  if (bias !== null && (bias.ndim !== 1 || bias.shape[0] !== outF)) throw new ShapeError('linear', `bias must have shape [${outF}] (out features), got ${fmtShape(bias.shape)}`);
  const data = runMatmul(x.data, weight.data, geom(1, batch, inF, outF, false, true, 1, 1));
  if (bias !== null) {
    const bd = bias.data;
    for (let r = 0; r < batch; r++) for (let j = 0; j < outF; j++) data[r * outF + j] += bd[j];
  }
  const inputs = bias === null ? [x, weight] : [x, weight, bias];
  const track = needsGrad(...inputs);
  const xData = track ? x.data : null;
  const wData = track ? weight.data : null;
  return makeResult('linear', data, [batch, outF], inputs, (gradOut) => {
    // dx = dY·W ([N,out]·[out,in]); dW = dYᵀ·x ([out,N]·[N,in]); db = column sums of dY.
    const gx = x.tracked ? runMatmul(gradOut, wData!, geom(1, batch, outF, inF, false, false, 1, 1)) : null;
    const gw = weight.tracked ? runMatmul(gradOut, xData!, geom(1, outF, batch, inF, true, false, 1, 1)) : null;
    let gb: Float32Array | null = null;
    if (bias !== null && bias.tracked) {
      gb = new Float32Array(outF);
      for (let r = 0; r < batch; r++) for (let j = 0; j < outF; j++) gb[j] += gradOut[r * outF + j];
    }
    return bias === null ? [gx, gw] : [gx, gw, gb];
  });
}
