/**
 * Single-thread cpu GEMM: `C[m×n] (+)= op(A)[m×k]·op(B)[k×n]`, row-major with leading dimensions
 * (the contract in docs/ENGINE-API.md, shared with the SIMD/threaded GEMM).
 *
 * Goto/BLIS structure: B is packed per (KC × NC) block into NR-wide strips, A per (MC × KC) block
 * into MR-tall strips, and a 4×4 register-blocked micro-kernel runs over the packed strips with its
 * 16 accumulators in locals.
 * NOTE: panels are packed into Float64Arrays: V8 then loads doubles directly instead of converting
 * every float32 load in the inner loop (measured ~1.7× faster micro-kernel). 4×4 was the best
 * shape measured (3×4, 4×3, 2×8, 4×8 similar or slower; 4×8 spills the 16 xmm registers).
 * Pack buffers are module-level and grown on demand, so steady-state calls allocate nothing.
 */
import { traceImplementation } from '../registry.js';
import { backendSettings } from '../settings.js';
import { gemmEmpty, wasmGemm, wasmGemmFma, wasmSimdAvailable, wasmSimdLabel } from '../wasm/gemm.js';
import { threadedGemm, threadedGemmFma, gemmThreads } from '../wasm/threaded-gemm.js';

const MR = 4;
const NR = 4;
/** Strip width of both packed panels; the single packer relies on MR === NR. */
const STRIP: typeof MR & typeof NR = 4;
/** Depth of a packed block: MR·KC + NR·KC doubles stay in L1/L2 while the micro-kernel streams them. */
const KC = 256;
/** Rows of A packed at once (MC·KC doubles = 256 KiB, an L2-sized block). */
const MC = 128;
/** Columns of B packed at once. */
const NC = 1024;

let packA = new Float64Array(MC * KC);
let packB = new Float64Array(KC * NC);
/** Edge tiles land here before the valid part is copied to C. */
const edge = new Float64Array(MR * NR);

function growB(size: number): void {
  if (packB.length < size) packB = new Float64Array(size);
}
function growA(size: number): void {
  if (packA.length < size) packA = new Float64Array(size);
}

const WASM_OK = wasmSimdAvailable().available;

/**
 * C[m×n] (+)= op(A)[m×k]·op(B)[k×n]. `op(A)` is A, or Aᵀ when `transA` (then A is stored k×m with
 * leading dimension `lda`); likewise B. `accumulate=false` overwrites C (k=0 then zeroes it).
 * @example gemm(false, false, 2, 2, 3, a, 0, 3, b, 0, 2, c, 0, 2, false)
 */
export function gemm(
  transA: boolean, transB: boolean, m: number, n: number, k: number,
  a: Float32Array, aOff: number, lda: number,
  b: Float32Array, bOff: number, ldb: number,
  c: Float32Array, cOff: number, ldc: number,
  accumulate: boolean,
): void {
  if (gemmEmpty(m, n, k, c, cOff, ldc, accumulate)) return;
  // NOTE: the generated WebAssembly SIMD kernel wins from ~16³ (measured: 2.3 vs 1.8 GFLOP/s at
  // 16³, 5× at 64³, 8–12× at 512³+); an 8-wide tile wastes most of its lanes when n < 4. Worker
  // threads pay off from ~256³ of work. Results are bit-identical across thread counts.
  const work = m * n * k;
  const s = backendSettings();
  if (WASM_OK && s.wasm && n >= 4 && work >= 4096) {
    const threaded = work >= 1 << 24 && gemmThreads() > 1;
    if (s.traceKernels) traceImplementation('gemm', threaded ? `${wasmSimdLabel(threadedGemmFma())}, ${gemmThreads()} threads` : `${wasmSimdLabel(wasmGemmFma())}, 1 thread`);
    if (threaded) threadedGemm(transA, transB, m, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc, accumulate);
    else wasmGemm(transA, transB, m, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc, accumulate);
    return;
  }
  if (s.traceKernels) traceImplementation('gemm', 'typescript');
  gemmTs(transA, transB, m, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc, accumulate);
}

/** The plain-TypeScript blocked GEMM (the fallback when WebAssembly SIMD is unavailable). */
export function gemmTs(
  transA: boolean, transB: boolean, m: number, n: number, k: number,
  a: Float32Array, aOff: number, lda: number,
  b: Float32Array, bOff: number, ldb: number,
  c: Float32Array, cOff: number, ldc: number,
  accumulate: boolean,
): void {
  for (let jc = 0; jc < n; jc += NC) {
    const nc = Math.min(NC, n - jc);
    const nStrips = Math.ceil(nc / NR);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = Math.min(KC, k - pc);
      growB(nStrips * NR * kc);
      packPanel(!transB, b, bOff, ldb, pc, kc, jc, nc, packB);
      const add = accumulate || pc > 0;
      for (let ic = 0; ic < m; ic += MC) {
        const mc = Math.min(MC, m - ic);
        const mStrips = Math.ceil(mc / MR);
        growA(mStrips * MR * kc);
        packPanel(transA, a, aOff, lda, pc, kc, ic, mc, packA);
        for (let js = 0; js < nStrips; js++) {
          const nr = Math.min(NR, nc - js * NR);
          const bIdx = js * NR * kc;
          for (let is = 0; is < mStrips; is++) {
            const mr = Math.min(MR, mc - is * MR);
            microKernel4x4(packA, is * MR * kc, packB, bIdx, kc, c, cOff + (ic + is * MR) * ldc + jc + js * NR, ldc, mr, nr, add);
          }
        }
      }
    }
  }
}

/**
 * Packs a kc-deep, `width`-wide panel into 4-wide strips laid out [strip][p][4], zero-padding the
 * last strip; both operands use it (MR === NR === 4). Element (p, j) of the panel is
 * `src[off + (pc + p)·ld + j0 + j]` when `rowsAlongP` (op(B) of a plain B, op(A) of a transposed A),
 * else `src[off + (j0 + j)·ld + pc + p]` (each strip lane is a contiguous run of `src`).
 * B: `packPanel(!transB, b, bOff, ldb, pc, kc, jc, nc, dst)`; A: `packPanel(transA, a, aOff, lda, pc, kc, ic, mc, dst)`.
 */
function packPanel(rowsAlongP: boolean, src: Float32Array, off: number, ld: number, pc: number, kc: number, j0: number, width: number, dst: Float64Array): void {
  let o = 0;
  for (let s0 = 0; s0 < width; s0 += STRIP) {
    const w = Math.min(STRIP, width - s0);
    if (rowsAlongP) {
      let at = off + pc * ld + j0 + s0;
      if (w === STRIP) {
        for (let p = 0; p < kc; p++, at += ld, o += STRIP) {
          dst[o] = src[at];
          dst[o + 1] = src[at + 1];
          dst[o + 2] = src[at + 2];
          dst[o + 3] = src[at + 3];
        }
      } else {
        for (let p = 0; p < kc; p++, at += ld, o += STRIP) {
          for (let jj = 0; jj < STRIP; jj++) dst[o + jj] = jj < w ? src[at + jj] : 0;
        }
      }
    } else {
      for (let jj = 0; jj < STRIP; jj++) {
        if (jj < w) {
          let at = off + (j0 + s0 + jj) * ld + pc;
          for (let p = 0, d = o + jj; p < kc; p++, d += STRIP) dst[d] = src[at++];
        } else {
          for (let p = 0, d = o + jj; p < kc; p++, d += STRIP) dst[d] = 0;
        }
      }
      o += kc * STRIP;
    }
  }
}

/**
 * 4×4 tile of C from one packed A strip and one packed B strip. Accumulators live in locals;
 * `mr`/`nr` < 4 only on the right/bottom edges, which go through the `edge` scratch.
 */
function microKernel4x4(
  ap: Float64Array, ai: number, bp: Float64Array, bi: number, kc: number,
  c: Float32Array, co: number, ldc: number, mr: number, nr: number, add: boolean,
): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  for (let p = 0; p < kc; p++) {
    const a0 = ap[ai], a1 = ap[ai + 1], a2 = ap[ai + 2], a3 = ap[ai + 3];
    const b0 = bp[bi], b1 = bp[bi + 1], b2 = bp[bi + 2], b3 = bp[bi + 3];
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
    ai += MR;
    bi += NR;
  }
  if (mr === MR && nr === NR) {
    const r1 = co + ldc, r2 = r1 + ldc, r3 = r2 + ldc;
    if (add) {
      c[co] += c00; c[co + 1] += c01; c[co + 2] += c02; c[co + 3] += c03;
      c[r1] += c10; c[r1 + 1] += c11; c[r1 + 2] += c12; c[r1 + 3] += c13;
      c[r2] += c20; c[r2 + 1] += c21; c[r2 + 2] += c22; c[r2 + 3] += c23;
      c[r3] += c30; c[r3 + 1] += c31; c[r3 + 2] += c32; c[r3 + 3] += c33;
    } else {
      c[co] = c00; c[co + 1] = c01; c[co + 2] = c02; c[co + 3] = c03;
      c[r1] = c10; c[r1 + 1] = c11; c[r1 + 2] = c12; c[r1 + 3] = c13;
      c[r2] = c20; c[r2 + 1] = c21; c[r2 + 2] = c22; c[r2 + 3] = c23;
      c[r3] = c30; c[r3 + 1] = c31; c[r3 + 2] = c32; c[r3 + 3] = c33;
    }
    return;
  }
  const e = edge;
  e[0] = c00; e[1] = c01; e[2] = c02; e[3] = c03;
  e[4] = c10; e[5] = c11; e[6] = c12; e[7] = c13;
  e[8] = c20; e[9] = c21; e[10] = c22; e[11] = c23;
  e[12] = c30; e[13] = c31; e[14] = c32; e[15] = c33;
  for (let i = 0; i < mr; i++) {
    const row = co + i * ldc;
    for (let j = 0; j < nr; j++) {
      if (add) c[row + j] += e[i * NR + j];
      else c[row + j] = e[i * NR + j];
    }
  }
}
