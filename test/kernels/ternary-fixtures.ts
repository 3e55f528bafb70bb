/**
 * Shared by the ternary kernel tests: random assignments at an exact sparsity and the dense
 * float64 reference maths (plain loops over the dense ternary weights, no tricks).
 */
import type { Rng } from '../../base/rng.js';
import type { Conv2dGeometry } from '../../kernels/types.js';

/** An assignment of `n` weights with exactly `round(sparsity·n)` zeros, the rest ±1 at random. */
export function randomAssignment(n: number, sparsity: number, rng: Rng): Int8Array {
  const a = new Int8Array(n);
  const zeros = Math.round(sparsity * n);
  const perm = rng.permutation(n);
  for (let k = zeros; k < n; k++) a[perm[k]] = rng.uniform() < 0.5 ? -1 : 1;
  return a;
}

/** Dense float64 conv (NCHW, OIHW weights, groups/stride/padding/dilation) — the spec. */
export function referenceConv(x: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null, g: Conv2dGeometry): Float64Array {
  const { batch: N, inChannels: C, inHeight: H, inWidth: W, outChannels: M, kernelHeight: KH, kernelWidth: KW, groups } = g;
  const cpg = C / groups;
  const opg = M / groups;
  const out = new Float64Array(N * M * g.outHeight * g.outWidth);
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const gi = Math.floor(m / opg);
      for (let oy = 0; oy < g.outHeight; oy++) {
        for (let ox = 0; ox < g.outWidth; ox++) {
          let s = bias === null ? 0 : bias[m];
          for (let c = 0; c < cpg; c++) {
            for (let i = 0; i < KH; i++) {
              const y = oy * g.strideH - g.padH + i * g.dilationH;
              if (y < 0 || y >= H) continue;
              for (let j = 0; j < KW; j++) {
                const xx = ox * g.strideW - g.padW + j * g.dilationW;
                if (xx < 0 || xx >= W) continue;
                s += x[((n * C + gi * cpg + c) * H + y) * W + xx] * w[((m * cpg + c) * KH + i) * KW + j];
              }
            }
          }
          out[((n * M + m) * g.outHeight + oy) * g.outWidth + ox] = s;
        }
      }
    }
  }
  return out;
}

/** Dense float64 linear: out[n, m] = Σ_i x[n, i]·w[m, i] + bias[m]. */
export function referenceLinear(x: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null, batch: number, inF: number, outF: number): Float64Array {
  const out = new Float64Array(batch * outF);
  for (let n = 0; n < batch; n++) {
    for (let m = 0; m < outF; m++) {
      let s = bias === null ? 0 : bias[m];
      for (let i = 0; i < inF; i++) s += x[n * inF + i] * w[m * inF + i];
      out[n * outF + m] = s;
    }
  }
  return out;
}
