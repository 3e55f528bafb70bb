/**
 * Reference (float64, the spec) batched matrix product. Plain triple loop, no blocking.
 */
import { registerKernel } from '../registry.js';
import type { MatmulGeometry } from '../types.js';
/** Reference kernels take either precision and compute in float64. */
type FloatArray = Float32Array | Float64Array;

/**
 * Reference {@link MatmulKernel}: `out[b] = op(A[b])·op(B[b])`, summing in float64.
 * @example matmulReference(a, b, out, { batch: 1, m: 2, k: 3, n: 4, transA: false, transB: false, batchA: 1, batchB: 1 })
 */
export function matmulReference(a: FloatArray, b: FloatArray, out: FloatArray, g: MatmulGeometry): void {
  const { batch, m, k, n, transA, transB } = g;
  for (let bi = 0; bi < batch; bi++) {
    const aOff = (g.batchA === 1 ? 0 : bi) * m * k;
    const bOff = (g.batchB === 1 ? 0 : bi) * k * n;
    const oOff = bi * m * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) {
          const av = transA ? a[aOff + p * m + i] : a[aOff + i * k + p];
          const bv = transB ? b[bOff + j * k + p] : b[bOff + p * n + j];
          s += av * bv;
        }
        out[oOff + i * n + j] = s;
      }
    }
  }
}

registerKernel('matmul', 'reference', matmulReference);
