/**
 * Data movement: reshape and flatten (views sharing storage), permute/transpose, pad, strided
 * slice and concat, each with its adjoint as backward.
 */
import { kernel } from '../../kernels/registry.js';
import { ShapeError, ValueError, fmtShape } from '../../base/errors.js';
import { Tensor, gradBuffer, makeResult, outputBuffer } from '../tensor.js';

function normAxis(axis: number, ndim: number, op: string): number {
  if (!Number.isInteger(axis) || axis < -ndim || axis >= ndim) throw new ValueError(op, `axis ${axis} is out of range for a tensor with ${ndim} dims; valid axes are ${-ndim}..${ndim - 1}`);
  return axis < 0 ? axis + ndim : axis;
}

/**
 * Same data, new shape (one dim may be −1, inferred). Shares storage with `x`.
 * @example reshape(x, [2, -1])
 */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const inferred = shape.filter((d) => d === -1).length;
  if (inferred > 1) throw new ValueError('reshape', `at most one dim may be -1, got ${fmtShape(shape)}`);
  let known = 1;
  for (const d of shape) {
    if (d === -1) continue;
    if (!Number.isInteger(d) || d < 0) throw new ValueError('reshape', `invalid dim ${d} in ${fmtShape(shape)}; dims must be integers >= 0 or a single -1`);
    known *= d;
  }
  let out = [...shape];
  if (inferred === 1) {
    if (known === 0 || x.size % known !== 0) throw new ShapeError('reshape', `cannot infer -1 in ${fmtShape(shape)} for ${x.size} elements (shape ${fmtShape(x.shape)})`);
    out = shape.map((d) => (d === -1 ? x.size / known : d));
  } else if (known !== x.size) {
    throw new ShapeError('reshape', `shape ${fmtShape(shape)} holds ${known} elements but the tensor ${fmtShape(x.shape)} has ${x.size}`);
  }
  return makeResult('reshape', x.data, out, [x], (g) => [g]);
}

/**
 * Flattens dims from `startDim` on into one (PyTorch's `flatten(x, 1)` for [N, C, H, W] → [N, C·H·W]).
 * @example flatten(x) // [N, -1]
 */
export function flatten(x: Tensor, startDim = 1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normAxis(startDim, x.ndim, 'flatten');
  return reshape(x, [...x.shape.slice(0, s), -1]);
}

/**
 * Reorders dims: output dim d is input dim perm[d].
 * @example permute(nchw, [0, 2, 3, 1]) // NHWC
 */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const nd = x.ndim;
  const p = perm.map((a) => normAxis(a, nd, 'permute'));
  if (p.length !== nd || new Set(p).size !== nd) throw new ValueError('permute', `perm [${perm.join(', ')}] is not a permutation of the ${nd} dims of shape ${fmtShape(x.shape)}`);
  const outShape = p.map((a) => x.shape[a]);
  const out = new Float32Array(x.size);
  kernel('permute', x.size)(x.data, x.shape, p, out);
  const inverse = new Array<number>(nd);
  p.forEach((a, d) => (inverse[a] = d));
  return makeResult('permute', out, outShape, [x], (g) => {
    const gx = gradBuffer(x.size);
    kernel('permute', x.size)(g, outShape, inverse, gx);
    return [gx];
  });
}

/** Swaps two dims. @example transpose(m, 0, 1) */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  const perm = x.shape.map((_, i) => i);
  const a = normAxis(dim0, x.ndim, 'transpose');
  const b = normAxis(dim1, x.ndim, 'transpose');
  perm[a] = b;
  perm[b] = a;
  return permute(x, perm);
}

/**
 * Pads with a constant; `pads[i] = [before, after]` for dim i from dim 0 (missing trailing dims are not padded).
 * @example pad(img, [[0, 0], [0, 0], [4, 4], [4, 4]])
 */
export function pad(x: Tensor, pads: readonly (readonly [number, number])[], value = 0): Tensor {
  if (pads.length > x.ndim) throw new ShapeError('pad', `${pads.length} [before, after] pairs given for a tensor with ${x.ndim} dims ${fmtShape(x.shape)}`);
  const full: [number, number][] = x.shape.map((_, i) => {
    const pr = pads[i] ?? [0, 0];
    for (const v of pr) if (!Number.isInteger(v) || v < 0) throw new ValueError('pad', `pads for dim ${i} are [${pr.join(', ')}]; pads must be non-negative integers`);
    return [pr[0], pr[1]];
  });
  const outShape = x.shape.map((d, i) => d + full[i][0] + full[i][1]);
  let n = 1;
  for (const d of outShape) n *= d;
  const out = outputBuffer(n);
  kernel('pad', n)(x.data, x.shape, full, value, out);
  return makeResult('pad', out, outShape, [x], (g) => {
    const gx = gradBuffer(x.size);
    kernel('slice', x.size)(g, outShape, full.map((p) => p[0]), full.map(() => 1), gx, x.shape);
    return [gx];
  });
}

/**
 * Strided slice per dim from dim 0 (Python semantics: negative indices count from the end, bounds
 * clamp, steps positive); dims without an entry are kept whole.
 * @example slice(x, [0, 1], [2, -1]); slice(x, [0], [10], [2])
 */
export function slice(x: Tensor, starts: readonly number[], ends: readonly number[], steps?: readonly number[]): Tensor {
  if (starts.length !== ends.length || starts.length > x.ndim || (steps !== undefined && steps.length !== starts.length)) {
    throw new ShapeError('slice', `starts (${starts.length}), ends (${ends.length})${steps ? `, steps (${steps.length})` : ''} must have equal lengths of at most ndim = ${x.ndim} (shape ${fmtShape(x.shape)})`);
  }
  const st: number[] = [];
  const sp: number[] = [];
  const outShape: number[] = [];
  for (let d = 0; d < x.ndim; d++) {
    const dim = x.shape[d];
    const step = steps?.[d] ?? 1;
    if (!Number.isInteger(step) || step <= 0) throw new ValueError('slice', `step ${step} for dim ${d} must be a positive integer`);
    const clamp = (v: number): number => Math.min(dim, Math.max(0, v < 0 ? v + dim : v));
    if (d < starts.length && (!Number.isInteger(starts[d]) || !Number.isInteger(ends[d]))) throw new ValueError('slice', `start ${starts[d]} and end ${ends[d]} for dim ${d} must be integers`);
    const s = d < starts.length ? clamp(starts[d]) : 0;
    const e = d < ends.length ? clamp(ends[d]) : dim;
    st.push(s);
    sp.push(step);
    outShape.push(Math.max(0, Math.ceil((e - s) / step)));
  }
  let n = 1;
  for (const d of outShape) n *= d;
  const out = outputBuffer(n);
  kernel('slice', n)(x.data, x.shape, st, sp, out, outShape);
  return makeResult('slice', out, outShape, [x], (g) => {
    const gx = gradBuffer(x.size);
    kernel('sliceBackward', x.size)(g, outShape, st, sp, gx, x.shape);
    return [gx];
  });
}

/**
 * Joins tensors along `axis`; all other dims must match.
 * @example concat([a, b], 1)
 */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new ValueError('concat', 'needs at least one tensor');
  const first = xs[0];
  const ax = normAxis(axis, first.ndim, 'concat');
  for (const [i, t] of xs.entries()) {
    if (t.ndim !== first.ndim || t.shape.some((d, j) => j !== ax && d !== first.shape[j])) {
      throw new ShapeError('concat', `tensor ${i} has shape ${fmtShape(t.shape)}, tensor 0 has ${fmtShape(first.shape)}; all dims except axis ${ax} must match`);
    }
  }
  let outer = 1;
  for (let d = 0; d < ax; d++) outer *= first.shape[d];
  const widths = xs.map((t) => (outer === 0 ? 0 : t.size / outer));
  const outShape = [...first.shape];
  outShape[ax] = xs.reduce((acc, t) => acc + t.shape[ax], 0);
  const total = widths.reduce((a, b) => a + b, 0);
  const out = outputBuffer(outer * total);
  kernel('concat', out.length)(xs.map((t) => t.data), outer, widths, out);
  return makeResult('concat', out, outShape, xs, (g) => {
    let col = 0;
    return xs.map((t, i) => {
      const w = widths[i];
      const start = col;
      col += w;
      if (!t.tracked) return null;
      const gx = gradBuffer(t.size);
      kernel('slice', t.size)(g, [outer, total], [0, start], [1, 1], gx, [outer, w]);
      return gx;
    });
  });
}
