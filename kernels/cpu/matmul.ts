/** Fast cpu batched matmul: one {@link gemm} call per batch. */
import { registerKernel } from '../registry.js';
import type { MatmulGeometry } from '../types.js';
import { gemm } from './gemm.js';

/**
 * Cpu {@link MatmulKernel}: `out[b] = op(A[b])·op(B[b])` with broadcast of a single A or B.
 * @example matmulCpu(a, b, out, { batch: 2, m: 3, k: 4, n: 5, transA: false, transB: false, batchA: 2, batchB: 1 })
 */
export function matmulCpu(a: Float32Array, b: Float32Array, out: Float32Array, g: MatmulGeometry): void {
  const { batch, m, k, n, transA, transB } = g;
  const lda = transA ? m : k;
  const ldb = transB ? k : n;
  for (let bi = 0; bi < batch; bi++) {
    const aOff = (g.batchA === 1 ? 0 : bi) * m * k;
    const bOff = (g.batchB === 1 ? 0 : bi) * k * n;
    gemm(transA, transB, m, n, k, a, aOff, lda, b, bOff, ldb, out, bi * m * n, n, false);
  }
}

registerKernel('matmul', 'cpu', matmulCpu);
