/**
 * gpu.js batched matrix product `out[b] = op(A[b])·op(B[b])`: one thread per output cell over
 * `[batch, m, n]`, transposes and batch broadcast folded into baked element strides.
 */
import type { MatmulGeometry, MatmulKernel } from '../types.js';
import { type GpujsLaunch, type GpujsMode, type KernelSpec, runCached } from './runtime.js';

interface MatmulThis {
  thread: { x: number; y: number; z: number };
  constants: { K: number; aB: number; aI: number; aP: number; bB: number; bJ: number; bP: number };
}

function matmulSource(this: MatmulThis, a: number[], b: number[]): number {
  const aBase = this.thread.z * this.constants.aB + this.thread.y * this.constants.aI;
  const bBase = this.thread.z * this.constants.bB + this.thread.x * this.constants.bJ;
  let s = 0;
  for (let p = 0; p < this.constants.K; p++) {
    s += a[aBase + p * this.constants.aP] * b[bBase + p * this.constants.bP];
  }
  return s;
}

const MATMUL = matmulSource.toString();

/**
 * The gpu.js matmul launch for `g` (null when nothing is left to run: an empty `out`, or k = 0, which zero-fills).
 * @example const l = matmulLaunch(a, b, out, g); if (l) runCached('webasm', l, out);
 */
export function matmulLaunch(a: Float32Array, b: Float32Array, out: Float32Array, g: MatmulGeometry): GpujsLaunch | null {
  if (out.length === 0) return null;
  if (g.k === 0) {
    out.fill(0);
    return null;
  }
  const spec = (): KernelSpec => ({
    source: MATMUL,
    output: [g.n, g.m, g.batch],
    constants: {
      K: g.k,
      // A is [batchA, m, k] or, transposed, [batchA, k, m]; a broadcast batch has stride 0.
      aB: g.batchA === 1 ? 0 : g.m * g.k,
      aI: g.transA ? 1 : g.k,
      aP: g.transA ? g.m : 1,
      bB: g.batchB === 1 ? 0 : g.k * g.n,
      bJ: g.transB ? g.k : 1,
      bP: g.transB ? 1 : g.n,
    },
    maxLoop: g.k,
  });
  const key = `${g.batch},${g.m},${g.k},${g.n},${+g.transA},${+g.transB},${g.batchA},${g.batchB}`;
  return { op: 'matmul', key, spec, args: [a, b] };
}

/**
 * gpu.js {@link MatmulKernel} for `mode`.
 * @example makeMatmul('webasm')(a, b, out, { batch: 1, m: 2, k: 3, n: 4, transA: false, transB: false, batchA: 1, batchB: 1 })
 */
export function makeMatmul(mode: GpujsMode): MatmulKernel {
  return (a, b, out, g: MatmulGeometry) => {
    const launch = matmulLaunch(a, b, out, g);
    if (launch !== null) runCached(mode, launch, out);
  };
}
