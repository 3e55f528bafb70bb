/**
 * Fast cpu data-movement kernels: row copies (`set`/`subarray` where contiguous) under an
 * odometer over the outer dims, after collapsing dims that stay adjacent.
 */
import { registerKernel } from '../registry.js';
import { collapseDims } from './strided.js';
import { contiguousStrides as contiguous } from '../reference/util.js';


/**
 * Copies `src` read through `srcStrides` (from `srcOff`) into `dst` written through `dstStrides`
 * (from `dstOff`) over `shape`, overwriting.
 */
function stridedCopy(
  src: Float32Array, srcOff: number, srcStrides: readonly number[],
  dst: Float32Array, dstOff: number, dstStrides: readonly number[], shape: readonly number[],
): void {
  let total = 1;
  for (const d of shape) total *= d;
  if (total === 0) return;
  const { shape: dims, strides: [ss, ds] } = collapseDims(shape, [srcStrides, dstStrides]);
  const nd = dims.length;
  const inner = dims[nd - 1];
  const si = ss[nd - 1];
  const di = ds[nd - 1];
  const rows = total / inner;
  const idx = new Int32Array(nd);
  let s = srcOff;
  let t = dstOff;
  for (let r = 0; r < rows; r++) {
    if (si === 1 && di === 1) dst.set(src.subarray(s, s + inner), t);
    else for (let i = 0, a = s, b = t; i < inner; i++, a += si, b += di) dst[b] = src[a];
    for (let d = nd - 2; d >= 0; d--) {
      s += ss[d];
      t += ds[d];
      if (++idx[d] < dims[d]) break;
      s -= ss[d] * dims[d];
      t -= ds[d] * dims[d];
      idx[d] = 0;
    }
  }
}

/** Cpu {@link PermuteKernel}. */
export function permuteCpu(x: Float32Array, shape: readonly number[], perm: readonly number[], out: Float32Array): void {
  const xs = contiguous(shape);
  const outShape = perm.map((p) => shape[p]);
  stridedCopy(x, 0, perm.map((p) => xs[p]), out, 0, contiguous(outShape), outShape);
}

/** Cpu {@link PadKernel}. */
export function padCpu(x: Float32Array, shape: readonly number[], pads: readonly (readonly [number, number])[], value: number, out: Float32Array): void {
  const outShape = shape.map((d, i) => d + pads[i][0] + pads[i][1]);
  const os = contiguous(outShape);
  out.fill(value);
  let off = 0;
  for (let d = 0; d < shape.length; d++) off += pads[d][0] * os[d];
  stridedCopy(x, 0, contiguous(shape), out, off, os, shape);
}

/** Cpu {@link SliceKernel}. */
export function sliceCpu(
  x: Float32Array, shape: readonly number[], starts: readonly number[], steps: readonly number[],
  out: Float32Array, outShape: readonly number[],
): void {
  const xs = contiguous(shape);
  let off = 0;
  for (let d = 0; d < shape.length; d++) off += starts[d] * xs[d];
  stridedCopy(x, off, xs.map((s, d) => s * steps[d]), out, 0, contiguous(outShape), outShape);
}

/** Cpu {@link SliceBackwardKernel} (positive steps never hit one element twice, so a copy suffices). */
export function sliceBackwardCpu(
  gradOut: Float32Array, outShape: readonly number[], starts: readonly number[], steps: readonly number[],
  gradX: Float32Array, xShape: readonly number[],
): void {
  const xs = contiguous(xShape);
  gradX.fill(0);
  let off = 0;
  for (let d = 0; d < xShape.length; d++) off += starts[d] * xs[d];
  stridedCopy(gradOut, 0, contiguous(outShape), gradX, off, xs.map((s, d) => s * steps[d]), outShape);
}

/** Cpu {@link ConcatKernel}. */
export function concatCpu(parts: readonly Float32Array[], outer: number, widths: readonly number[], out: Float32Array): void {
  let total = 0;
  for (const w of widths) total += w;
  let col = 0;
  for (let p = 0; p < parts.length; p++) {
    const w = widths[p];
    const src = parts[p];
    if (outer === 1) out.set(src.subarray(0, w), col);
    else for (let r = 0; r < outer; r++) out.set(src.subarray(r * w, r * w + w), r * total + col);
    col += w;
  }
}

registerKernel('permute', 'cpu', permuteCpu);
registerKernel('pad', 'cpu', padCpu);
registerKernel('slice', 'cpu', sliceCpu);
registerKernel('sliceBackward', 'cpu', sliceBackwardCpu);
registerKernel('concat', 'cpu', concatCpu);
