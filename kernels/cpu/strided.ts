/**
 * Dim collapsing for the strided cpu kernels: drops size-1 dims and merges neighbours that every
 * operand walks contiguously, so a same-shape op becomes one flat row and `[N, C, H, W] + [1, C, 1, 1]`
 * becomes rows of H·W with a per-row bias. Kernels then run a tight loop per innermost row.
 */

/** A collapsed iteration space: `shape` plus one stride array per operand (innermost last, never empty). */
export interface Collapsed {
  shape: number[];
  strides: number[][];
}

/** Collapses `shape` walked by each stride array in `strides` (all over the same output shape). */
export function collapseDims(shape: readonly number[], strides: readonly (readonly number[])[]): Collapsed {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d];
    if (n === 1) continue;
    // Merge dim d into the already-collected inner dim when every operand steps over it contiguously.
    if (outShape.length > 0 && strides.every((s, k) => s[d] === outStrides[k][0] * outShape[0])) {
      outShape[0] *= n;
    } else {
      outShape.unshift(n);
      for (let k = 0; k < strides.length; k++) outStrides[k].unshift(strides[k][d]);
    }
  }
  if (outShape.length === 0) return { shape: [1], strides: strides.map(() => [0]) };
  return { shape: outShape, strides: outStrides };
}
