/**
 * Gradient rules of EC2T (`docs/METHOD.md` §4, steps 2–4) and its ECP / TTQ relatives (§7).
 * These are defined, not derived (straight-through estimators): tests assert the rules directly.
 *
 * `G` is `∂L/∂Wt`, the gradient of the loss with respect to the ternary weights the network
 * computed with; assignments use the codes of `assign.ts` (−1 n, 0 zero, +1 p).
 */
import { ValueError } from '../base/errors.js';
import { ASSIGN_N, ASSIGN_P, type Ec2tVariant } from './assign.js';

const f = Math.fround;

/** Gradients of the two centroid magnitudes. */
export interface CentroidGradients {
  /** `∂L/∂w_p = Σ_{A=p} G`. */
  gp: number;
  /** `∂L/∂w_n`: `+Σ_{A=n} G` (reference, TTQ's sign) or `−Σ_{A=n} G` (corrected, exact). */
  gn: number;
}

function checkLengths(op: string, n: number, m: number, what: string): void {
  if (n !== m) throw new ValueError(op, `expected ${what} of length ${n} (one per weight), got ${m}`);
}

/**
 * Centroid gradients (§4.2). `reference` uses `+Σ_{A=n} G` for `w_n` as the authors' (and TTQ's)
 * code [quirk]; `corrected` uses the exact `−Σ_{A=n} G` (the weight value is `−w_n`).
 * Used unchanged for TTQ (its paper's rule is the reference one) and for ECP's centroids, which
 * only steer the assignment there.
 *
 * NOTE(f32): sums are accumulated in float64 and rounded once. PyTorch's float32 `sum` uses a
 * backend-specific (vectorised / tree) order that cannot be reproduced exactly; a float64
 * accumulation is at least as accurate as any of them.
 *
 * @example centroidGradients(Float32Array.of(1, 2, 3), Int8Array.of(1, -1, -1), 'reference') // { gp: 1, gn: 5 }
 */
export function centroidGradients(gradWt: Float32Array, assignment: Int8Array, variant: Ec2tVariant): CentroidGradients {
  checkLengths('centroidGradients', gradWt.length, assignment.length, 'assignment');
  if (variant !== 'reference' && variant !== 'corrected') {
    throw new ValueError('centroidGradients', `expected variant 'reference' or 'corrected', got ${String(variant)}`);
  }
  let sp = 0;
  let sn = 0;
  for (let i = 0; i < gradWt.length; i++) {
    const a = assignment[i];
    if (a === ASSIGN_P) sp += gradWt[i];
    else if (a === ASSIGN_N) sn += gradWt[i];
  }
  // `0 +` turns a −0 (from negating an empty sum) into +0.
  return { gp: f(sp), gn: variant === 'reference' ? f(sn) : 0 + f(-sn) };
}

/**
 * Background-weight gradient (§4.3, scaled straight-through): `G·w_p` where `A=p`, `G·w_n` where
 * `A=n`, `G` where `A=zero`. Float32 products, as the authors' `w_p*a*G + w_n*b*G + 1.0*c*G`
 * (the two masked-out terms add exact zeros). Also TTQ's background rule.
 *
 * @example backgroundGradient(Float32Array.of(1, 1, 1), Int8Array.of(-1, 0, 1), 0.5, 0.25, new Float32Array(3)) // [0.25, 1, 0.5]
 */
export function backgroundGradient(gradWt: Float32Array, assignment: Int8Array, wp: number, wn: number, out: Float32Array): Float32Array {
  checkLengths('backgroundGradient', gradWt.length, assignment.length, 'assignment');
  checkLengths('backgroundGradient', gradWt.length, out.length, 'out');
  if (!Number.isFinite(wp) || !Number.isFinite(wn)) throw new ValueError('backgroundGradient', `expected finite centroids, got wp=${wp}, wn=${wn}`);
  const p = f(wp);
  const n = f(wn);
  for (let i = 0; i < gradWt.length; i++) {
    const a = assignment[i];
    const g = gradWt[i];
    out[i] = a === ASSIGN_P ? f(p * g) : a === ASSIGN_N ? f(n * g) : g;
  }
  return out;
}

/**
 * ECP background gradient (§7): `Wt = [A≠zero]·W`, so a kept weight receives `G` unchanged
 * (its exact derivative); a pruned weight also receives `G` (straight-through, as EC2T's zero
 * cluster), so that it can grow back and be re-assigned. The result is `G` itself, copied.
 *
 * @example ecpBackgroundGradient(Float32Array.of(1, 2), Int8Array.of(0, 1), new Float32Array(2)) // [1, 2]
 */
export function ecpBackgroundGradient(gradWt: Float32Array, assignment: Int8Array, out: Float32Array): Float32Array {
  checkLengths('ecpBackgroundGradient', gradWt.length, assignment.length, 'assignment');
  checkLengths('ecpBackgroundGradient', gradWt.length, out.length, 'out');
  out.set(gradWt);
  return out;
}
