/**
 * NumPy broadcasting for the elementwise ops: the output shape, per-input read strides over it,
 * and the reduction of an output-shaped gradient back to an input's shape.
 */
import { kernel } from '../../kernels/registry.js';
import { ShapeError, fmtShape } from '../../base/errors.js';
import { stridesOf } from '../tensor.js';

/**
 * The broadcast shape of `a` and `b` (align right; equal dims or 1 broadcast).
 * @example broadcastShapes([4, 1, 3], [5, 1], 'add') // [4, 5, 3]
 */
export function broadcastShapes(a: readonly number[], b: readonly number[], op: string): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(op, `shapes ${fmtShape(a)} and ${fmtShape(b)} do not broadcast: dim ${i} of the aligned shapes is ${da} vs ${db}; each trailing dim must be equal or 1 (reshape one side, e.g. add a unit dim)`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides of a contiguous `inShape` read over `outShape` (right-aligned), 0 on broadcast dims. */
export function broadcastStrides(inShape: readonly number[], outShape: readonly number[]): number[] {
  const s = stridesOf(inShape);
  const offset = outShape.length - inShape.length;
  return outShape.map((_, d) => (d < offset || inShape[d - offset] === 1 ? 0 : s[d - offset]));
}

/**
 * Sums an output-shaped gradient over the dims `inShape` was broadcast along, giving a gradient of
 * `inShape`'s size; returns `grad` itself when nothing was broadcast.
 */
export function sumToShape(grad: Float32Array, outShape: readonly number[], inShape: readonly number[]): Float32Array {
  const offset = outShape.length - inShape.length;
  const axes: number[] = [];
  for (let d = 0; d < outShape.length; d++) {
    if (d < offset || (inShape[d - offset] === 1 && outShape[d] !== 1)) axes.push(d);
  }
  if (axes.length === 0) return grad;
  let n = 1;
  for (const d of inShape) n *= d;
  const out = new Float32Array(n);
  kernel('reduceSum', grad.length)(grad, outShape, axes, out);
  return out;
}
