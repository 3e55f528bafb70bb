/**
 * Reductions over any set of axes (negative allowed; omitted = all): sum, mean, max (gradient to
 * the first maximum) and variance (composed from mean, sub, mul and sum).
 */
import { kernel } from '../../kernels/registry.js';
import { ValueError, fmtShape } from '../../base/errors.js';
import { Tensor, makeResult, needsGrad, stridesOf } from '../tensor.js';
import { mul, scale, sub } from './elementwise.js';

/** Axes as given by users: one axis, a list, or undefined for all. */
export type Axes = number | readonly number[] | undefined;

/** Validates and normalises `axes` for a tensor of `ndim` dims: sorted, unique, non-negative. */
export function normalizeAxes(axes: Axes, ndim: number, op: string): number[] {
  if (axes === undefined) return Array.from({ length: ndim }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const out: number[] = [];
  // NOTE: a 0-d tensor accepts axis 0 / -1 (as PyTorch) and reduces over nothing.
  const lo = -Math.max(ndim, 1);
  const hi = Math.max(ndim, 1) - 1;
  for (const a of list) {
    if (!Number.isInteger(a) || a < lo || a > hi) {
      throw new ValueError(op, `axis ${a} is out of range for a tensor with ${ndim} dims; valid axes are ${lo}..${hi}`);
    }
    const n = a < 0 ? a - lo : a;
    if (out.includes(n)) throw new ValueError(op, `axis ${a} is given twice in axes [${list.join(', ')}]`);
    out.push(n);
  }
  if (ndim === 0) return [];
  return out.sort((x, y) => x - y);
}

interface ReducedShape {
  axes: number[];
  outShape: number[];
  keptShape: number[];
  count: number;
}

function reducedShape(x: Tensor, axes: Axes, keepdim: boolean, op: string): ReducedShape {
  const ax = normalizeAxes(axes, x.ndim, op);
  const keptShape = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const outShape = keepdim ? keptShape : x.shape.filter((_, i) => !ax.includes(i));
  let count = 1;
  for (const a of ax) count *= x.shape[a];
  return { axes: ax, outShape, keptShape, count };
}

/** Sum over axes times `factor`, with the broadcast-back gradient (shared by sum and mean). */
function scaledSum(op: string, x: Tensor, axes: Axes, keepdim: boolean, factor: number): Tensor {
  const r = reducedShape(x, axes, keepdim, op);
  let n = 1;
  for (const d of r.outShape) n *= d;
  const out = new Float32Array(n);
  kernel('reduceSum', x.size)(x.data, x.shape, r.axes, out);
  if (factor !== 1) for (let i = 0; i < n; i++) out[i] *= factor;
  return makeResult(op, out, r.outShape, [x], (g) => {
    const gx = new Float32Array(x.size);
    const gStrides = stridesOf(r.keptShape).map((s, d) => (r.axes.includes(d) ? 0 : s));
    kernel('expand', x.size)(g, gStrides, gx, x.shape);
    if (factor !== 1) for (let i = 0; i < gx.length; i++) gx[i] *= factor;
    return [gx];
  });
}

/**
 * Sum over `axes` (all when omitted).
 * @example sum(x, 1); sum(x, [0, 2], true); sum(x).item()
 */
export function sum(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  return scaledSum('sum', x, axes, keepdim, 1);
}

/**
 * Mean over `axes` (all when omitted); NaN over an empty set, as PyTorch.
 * @example mean(loss) // scalar
 */
export function mean(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  const r = reducedShape(x, axes, keepdim, 'mean');
  return scaledSum('mean', x, axes, keepdim, 1 / r.count);
}

/**
 * Maximum over `axes`; the gradient goes to the first maximum in row-major order.
 * @example max(logits, 1) // per-row maxima
 */
export function max(x: Tensor, axes?: number | readonly number[], keepdim = false): Tensor {
  const r = reducedShape(x, axes, keepdim, 'max');
  if (r.count === 0) throw new ValueError('max', `cannot take the max over an empty set: shape ${fmtShape(x.shape)}, axes [${r.axes.join(', ')}]`);
  let n = 1;
  for (const d of r.outShape) n *= d;
  const out = new Float32Array(n);
  const argmax = new Int32Array(n);
  kernel('reduceMax', x.size)(x.data, x.shape, r.axes, out, argmax);
  const keep = needsGrad(x) ? argmax : null;
  return makeResult('max', out, r.outShape, [x], (g) => {
    const gx = new Float32Array(x.size);
    kernel('scatterAdd', g.length)(g, keep!, gx);
    return [gx];
  });
}

/**
 * Variance over `axes` (biased by default, as batch norm; `unbiased` divides by n − 1).
 * @example variance(x, 0, false, true)
 */
export function variance(x: Tensor, axes?: number | readonly number[], keepdim = false, unbiased = false): Tensor {
  const r = reducedShape(x, axes, keepdim, 'variance');
  const centred = sub(x, mean(x, r.axes, true));
  const ss = sum(mul(centred, centred), r.axes, keepdim);
  return scale(ss, 1 / (r.count - (unbiased ? 1 : 0)));
}
