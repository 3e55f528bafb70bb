/**
 * One thread's part of a dense WASM conv op ({@link convWork}) and the job runner that ships it to
 * the shared worker pool as source text. Every chunk's result, including its weight-gradient
 * partial, is the same whichever thread computes it, so results do not depend on the thread count.
 */
import type { ConvExports } from './conv-codegen.js';
import { runTiles } from './gemm.js';

/**
 * Everything one thread needs, as integers (they travel to the workers through an Int32Array):
 * the geometry, the chunk size S and count, padded sizes, the byte offsets of the shared regions
 * (packed A, whole-batch input XIN and gradOut DYIN, whole-batch result YOUT, per-chunk weight-gradient
 * partials CWP, `cwBytes` apart) and of slot 0's scratch regions (XP, COL, DY, C; slot t's are
 * `slotBytes·t` further), and the GEMM blocking constants.
 */
export const PARAM_KEYS = [
  'batch', 'cin', 'H', 'W', 'cout', 'KH', 'KW', 'sh', 'sw', 'ph', 'pw', 'dh', 'dw', 'OH', 'OW',
  'S', 'K', 'kRows', 'coutPad', 'kPad4', 'Hp', 'Wp', 'padded',
  'nChunks', 'A', 'XIN', 'DYIN', 'YOUT', 'CWP', 'cwBytes', 'XP', 'COL', 'DY', 'C', 'slotBytes', 'bytes',
  'MR', 'NR', 'KC', 'MC', 'NC', 'DM', 'DN',
] as const;
/** Integer parameters of one geometry's work: see {@link PARAM_KEYS}. */
export type ConvParams = Record<(typeof PARAM_KEYS)[number], number>;

/** Operation codes of {@link convWork}. */
export const FORWARD = 0;
export const BACKWARD_INPUT = 1;
export const BACKWARD_WEIGHT = 2;

/**
 * One thread's part of a conv op: it takes chunk indices from `next()` (samples [ci·S, ci·S + S))
 * until they run out, using slot `slot`'s scratch. FORWARD writes YOUT (NCHW) from XIN with the
 * packed weights at A; BACKWARD_INPUT writes YOUT (as dX, NCHW) from DYIN with packed Wᵀ at A;
 * BACKWARD_WEIGHT sets chunk ci's partial at CWP + ci·cwBytes ([coutPad × kRows]) to Σ dY·colᵀ over
 * its samples. Every chunk's result is the same whichever thread computes it.
 * NOTE: self-contained (no closure over module scope): {@link convRunnerFactory} ships its source text
 * to the worker threads.
 */
export function convWork(E: ConvExports, runTilesFn: typeof runTiles, P: ConvParams, op: number, slot: number, next: () => number): void {
  const sb = slot * P.slotBytes;
  const XP = P.XP + sb, COL = P.COL + sb, DY = P.DY + sb, C = P.C + sb;
  const ohw = P.OH * P.OW, chw = P.cin * P.H * P.W, plane = P.Hp * P.Wp;
  for (let ci = next(); ci < P.nChunks; ci = next()) {
    const c0 = ci * P.S;
    const s = Math.min(P.S, P.batch - c0);
    const used = s * ohw;
    const nPad = Math.ceil(used / P.NR) * P.NR;
    if (op !== 1) {
      // Input chunk → (zero-bordered copy when padded) → col [K × nPad].
      let xb = P.XIN + c0 * chw * 4;
      if (P.padded === 1) {
        E.fill0(XP, s * P.cin * plane);
        E.copy2d(xb, XP + (P.ph * P.Wp + P.pw) * 4, s * P.cin, P.H, P.W, P.W * 4, P.Wp * 4, P.H * P.W * 4, plane * 4);
        xb = XP;
      }
      for (let q = 0; q < s; q++) {
        E.im2col(xb + q * P.cin * plane * 4, COL + q * ohw * 4, P.cin, P.KH, P.KW, P.OH, P.OW,
          plane * 4, P.sh * P.Wp * 4, P.sw * 4, P.dh * P.Wp * 4, P.dw * 4, nPad * 4);
      }
    }
    if (op === 0) {
      runTilesFn(E.tiles, P.A, COL, C, P.coutPad, nPad, P.K, 0, P.coutPad / P.MR, 0, nPad / P.NR, false, true, P.MR, P.NR, P.KC, P.MC, P.NC);
      E.copy2d(C, P.YOUT + c0 * P.cout * ohw * 4, s, P.cout, ohw, nPad * 4, ohw * 4, ohw * 4, P.cout * ohw * 4);
      continue;
    }
    // gradOut chunk → DY [Cout × nPad], zero past the used columns (they enter dotNT's sums).
    E.copy2d(P.DYIN + c0 * P.cout * ohw * 4, DY, s, P.cout, ohw, ohw * 4, nPad * 4, P.cout * ohw * 4, ohw * 4);
    if (nPad > used) for (let r = 0; r < P.cout; r++) E.fill0(DY + (r * nPad + used) * 4, nPad - used);
    if (op === 1) {
      runTilesFn(E.tiles, P.A, DY, C, P.kPad4, nPad, P.cout, 0, P.kPad4 / P.MR, 0, nPad / P.NR, false, true, P.MR, P.NR, P.KC, P.MC, P.NC);
      const gx = P.YOUT + c0 * chw * 4;
      const dst = P.padded === 1 ? XP : gx;
      E.fill0(dst, s * P.cin * plane);
      for (let q = 0; q < s; q++) {
        E.col2im(dst + q * P.cin * plane * 4, C + q * ohw * 4, P.cin, P.KH, P.KW, P.OH, P.OW,
          plane * 4, P.sh * P.Wp * 4, P.sw * 4, P.dh * P.Wp * 4, P.dw * 4, nPad * 4);
      }
      if (P.padded === 1) E.copy2d(XP + (P.ph * P.Wp + P.pw) * 4, gx, s * P.cin, P.H, P.W, P.Wp * 4, P.W * 4, plane * 4, P.H * P.W * 4);
    } else {
      if (nPad > used) for (let r = 0; r < P.K; r++) E.fill0(COL + (r * nPad + used) * 4, nPad - used);
      E.dotNT(DY, COL, P.CWP + ci * P.cwBytes, P.coutPad / P.DM, P.kRows / P.DN, nPad * 4, nPad * 4, nPad * 4, P.kRows * 4, 0);
    }
  }
}

/** The conv job runner's source for the shared pool (kernels/wasm/worker-pool.ts). */
export function convRunnerFactory(): string {
  return `const keys = ${JSON.stringify(PARAM_KEYS)};
${runTiles.toString()}
${convWork.toString()}
return function (E, memory, params, op, index, threads, next) {
  const P = {};
  for (let i = 0; i < keys.length; i++) P[keys[i]] = params[i];
  convWork(E, runTiles, P, op, index, next);
};`;
}
