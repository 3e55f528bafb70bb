/**
 * Reference (float64, the spec) data-movement kernels: permute, pad, strided slice and its
 * adjoint, concat.
 */
import { registerKernel } from '../registry.js';
import { type FloatArray, contiguousStrides, forEachIndex, offsetOf } from './util.js';

/** Reference {@link PermuteKernel}. */
export function permuteReference(x: FloatArray, shape: readonly number[], perm: readonly number[], out: FloatArray): void {
  const xStrides = contiguousStrides(shape);
  const outShape = perm.map((p) => shape[p]);
  const readStrides = perm.map((p) => xStrides[p]);
  forEachIndex(outShape, (k, idx) => {
    out[k] = x[offsetOf(idx, readStrides)];
  });
}

/** Reference {@link PadKernel}. */
export function padReference(x: FloatArray, shape: readonly number[], pads: readonly (readonly [number, number])[], value: number, out: FloatArray): void {
  const outShape = shape.map((d, i) => d + pads[i][0] + pads[i][1]);
  const xStrides = contiguousStrides(shape);
  forEachIndex(outShape, (k, idx) => {
    let inside = true;
    let src = 0;
    for (let d = 0; d < idx.length; d++) {
      const j = idx[d] - pads[d][0];
      if (j < 0 || j >= shape[d]) inside = false;
      src += j * xStrides[d];
    }
    out[k] = inside ? x[src] : value;
  });
}

/** Reference {@link SliceKernel}. */
export function sliceReference(
  x: FloatArray, shape: readonly number[], starts: readonly number[], steps: readonly number[],
  out: FloatArray, outShape: readonly number[],
): void {
  const xStrides = contiguousStrides(shape);
  forEachIndex(outShape, (k, idx) => {
    let src = 0;
    for (let d = 0; d < idx.length; d++) src += (starts[d] + idx[d] * steps[d]) * xStrides[d];
    out[k] = x[src];
  });
}

/** Reference {@link SliceBackwardKernel}. */
export function sliceBackwardReference(
  gradOut: FloatArray, outShape: readonly number[], starts: readonly number[], steps: readonly number[],
  gradX: FloatArray, xShape: readonly number[],
): void {
  const xStrides = contiguousStrides(xShape);
  gradX.fill(0);
  forEachIndex(outShape, (k, idx) => {
    let dst = 0;
    for (let d = 0; d < idx.length; d++) dst += (starts[d] + idx[d] * steps[d]) * xStrides[d];
    gradX[dst] += gradOut[k];
  });
}

/** Reference {@link ConcatKernel}. */
export function concatReference(parts: readonly FloatArray[], outer: number, widths: readonly number[], out: FloatArray): void {
  const total = widths.reduce((a, b) => a + b, 0);
  let col = 0;
  for (let p = 0; p < parts.length; p++) {
    for (let r = 0; r < outer; r++) for (let j = 0; j < widths[p]; j++) out[r * total + col + j] = parts[p][r * widths[p] + j];
    col += widths[p];
  }
}

registerKernel('permute', 'reference', permuteReference);
registerKernel('pad', 'reference', padReference);
registerKernel('slice', 'reference', sliceReference);
registerKernel('sliceBackward', 'reference', sliceBackwardReference);
registerKernel('concat', 'reference', concatReference);
