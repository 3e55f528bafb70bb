/**
 * The generic kernel's per-thread work (gather phase and tap-sum phase), self-contained so the pool's
 * workers can evaluate its source, and the parameter words a job passes it.
 */
import type { TernaryExports } from './simd-module.js';

/** Input planes a thread takes per visit to the job's shared counter (a gather of one plane is only ~1 µs). */
export const PLANES_PER_TAKE = 8;

// Job operation codes.
export const GATHER = 0, TAPS = 1, JIT = 2;
export const PARAMS = [
  'xStage', 'xp', 'out', 'posTab', 'negTab', 'posStart', 'negStart', 'bias', 'acc', 'accB',
  'C', 'N', 'H', 'W', 'Hq', 'Wq', 'ph', 'pw', 'sH', 'sW', 'M', 'OH', 'OW', 'totalRows', 'rowsPer', 'chunks', 'hasBias', 'wpBits', 'wnBits', 'coefP', 'coefN',
  'sampleMajor',
] as const;
export type Params = Record<(typeof PARAMS)[number], number>;

/**
 * One thread's part of a generic-kernel job: phase 0 (op GATHER) gathers input planes
 * (channel-major `[C][N]` planes, or sample-major `[N][C]` for the generated kernels), phase 1 (op
 * TAPS) runs chunks of the output grid; both taken from the job's shared counter `next`. Every
 * plane and chunk is computed the same whichever thread takes it, so results do not depend on the
 * thread count or the scheduling. Self-contained (the pool's workers evaluate its source).
 */
export function ternaryWork(E: TernaryExports, mem: ArrayBuffer | SharedArrayBuffer, ctl: Int32Array, p0: number, names: readonly string[], index: number, phase: number, next: () => number): void {
  // NOTE: plain locals, not an object keyed by name: a dictionary-mode object made the per-plane
  // loop of the strided gather cost more than the gather itself.
  const w = (name: string): number => ctl[p0 + names.indexOf(name)];
  const C = w('C'), N = w('N'), H = w('H'), W = w('W'), Hq = w('Hq'), Wq = w('Wq'), ph = w('ph'), pw = w('pw'), sH = w('sH'), sW = w('sW');
  const xStage = w('xStage'), xp = w('xp'), sampleMajor = w('sampleMajor') === 1;
  const plane = Hq * Wq;
  if (phase === 0 && (sH > 1 || sW > 1)) {
    // Phase planes (c, a, b) of a strided conv: valid rows/columns are a range, found by division.
    const per = sH * sW;
    const planes = C * per * N;
    // Per phase (a, b): the valid row/column ranges and the source offset (they do not depend on
    // the sample or channel), computed once rather than per plane.
    const uLo: number[] = [], uHi: number[] = [], vLo: number[] = [], vHi: number[] = [], off: number[] = [];
    for (let a = 0; a < sH; a++) {
      for (let b = 0; b < sW; b++) {
        // Padded row a + sH·u is input row y = a + sH·u − ph, valid for 0 ≤ y < H.
        const u0 = Math.max(0, Math.ceil((ph - a) / sH));
        const v0 = Math.max(0, Math.ceil((pw - b) / sW));
        uLo.push(u0);
        uHi.push(Math.max(u0, Math.min(Hq, Math.ceil((H + ph - a) / sH))));
        vLo.push(v0);
        vHi.push(Math.max(v0, Math.min(Wq, Math.ceil((W + pw - b) / sW))));
        off.push(((a + sH * u0 - ph) * W + (b + sW * v0 - pw)) * 4);
      }
    }
    const rowStepB = sH * W * 4, colStepB = sW * 4, hwB = H * W * 4;
    for (let q0 = next() * PLANES_PER_TAKE; q0 < planes; q0 = next() * PLANES_PER_TAKE) {
      for (let q = q0; q < Math.min(planes, q0 + PLANES_PER_TAKE); q++) {
        // Source plane n·C + c and phase k of destination plane q, in either layout.
        let src: number, k: number;
        if (sampleMajor) {
          src = Math.floor(q / per);
          k = q - src * per;
        } else {
          const vc = Math.floor(q / N);
          const c = Math.floor(vc / per);
          src = (q - vc * N) * C + c;
          k = vc - c * per;
        }
        E.gather(0, xp + q * plane * 4, uLo[k], uHi[k], vLo[k], vHi[k], Hq, Wq, xStage + src * hwB + off[k], rowStepB, colStepB);
      }
    }
    return;
  }
  if (phase === 0) {
    const planes = C * N;
    const hw = H * W;
    for (let q0 = next() * PLANES_PER_TAKE; q0 < planes; q0 = next() * PLANES_PER_TAKE) {
      const q1 = Math.min(planes, q0 + PLANES_PER_TAKE);
      // Sample-major planes follow the NCHW source planes one to one: one call for the batch.
      if (sampleMajor) E.plane(xStage + q0 * hw * 4, xp + q0 * plane * 4, H, W, Hq, Wq, ph, pw, q1 - q0);
      else {
        for (let q = q0; q < q1; q++) {
          const c = Math.floor(q / N);
          E.plane(xStage + ((q - c * N) * C + c) * hw * 4, xp + q * plane * 4, H, W, Hq, Wq, ph, pw, 1);
        }
      }
    }
    return;
  }
  const P: Record<string, number> = {};
  for (let k = 0; k < names.length; k++) P[names[k]] = ctl[p0 + k];
  const f32 = new Float32Array(1);
  const i32 = new Int32Array(f32.buffer);
  i32[0] = P.wpBits; const wp = f32[0];
  i32[0] = P.wnBits; const wn = f32[0];
  const view = new Int32Array(mem);
  const bias = new Float32Array(mem);
  const pos = P.acc + index * 2 * P.accB;
  const neg = pos + P.accB;
  const ohw = P.OH * P.OW;
  for (let ck = next(); ck < P.chunks; ck = next()) {
    const r0 = ck * P.rowsPer;
    const r1 = Math.min(P.totalRows, r0 + P.rowsPer);
    const nbytes = (((r1 - r0) * P.Wq + 3) & ~3) * 4;
    const base = P.xp + r0 * P.Wq * 4;
    const n0 = Math.floor(r0 / P.Hq);
    const oy0 = r0 - n0 * P.Hq;
    for (let m = 0; m < P.M; m++) {
      const ps = view[(P.posStart >> 2) + m], pe = view[(P.posStart >> 2) + m + 1];
      const ns = view[(P.negStart >> 2) + m], ne = view[(P.negStart >> 2) + m + 1];
      E.taps(pos, base, P.posTab + ps * 4, pe - ps, nbytes);
      E.taps(neg, base, P.negTab + ns * 4, ne - ns, nbytes);
      const b = P.hasBias === 1 ? bias[(P.bias >> 2) + m] : 0;
      // Per-channel centroids (coefP/coefN: their byte offsets, 0 = the layer's wp/wn).
      const cp = P.coefP === 0 ? wp : bias[(P.coefP >> 2) + m], cn = P.coefN === 0 ? wn : bias[(P.coefN >> 2) + m];
      E.rows(pos, neg, P.Wq * 4, r1 - r0, oy0, P.Hq, P.OH, P.OW, P.out + ((n0 * P.M + m) * ohw) * 4, P.OW * 4, P.M * ohw * 4, cp, cn, b);
    }
  }
}

