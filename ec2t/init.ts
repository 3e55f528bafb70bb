/**
 * Initial centroids of a ternarized layer (`docs/METHOD.md` §3) and the centroid floor
 * applied after every optimizer step (§4.6).
 */
import { ValueError } from '../base/errors.js';
import { ASSIGN_N, ASSIGN_P, nearestTernary } from './assign.js';

const f = Math.fround;

/** A pair of centroid magnitudes (`w_p`, `w_n` > 0 normally; float32 values). */
export interface Centroids {
  /** Positive centroid magnitude. */
  wp: number;
  /** Negative centroid magnitude (the centroid value is `−w_n`). */
  wn: number;
}

function extremes(op: string, weights: Float32Array): { min: number; max: number } {
  if (weights.length === 0) throw new ValueError(op, 'expected at least one weight, got an empty array');
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i];
    if (!Number.isFinite(w)) throw new ValueError(op, `expected finite weights, got ${w} at index ${i}`);
    if (w < min) min = w;
    if (w > max) max = w;
  }
  return { min, max };
}

/**
 * Centroids by scaler (§3): `w_p = |max W|·s`, `w_n = |min W|·s` (float32 products). A higher
 * scaler `s` (`ini_c_divr`, typically 0.15–0.5) starts sparser. All-zero weights give `0, 0`
 * (the floor cannot lift them, std = 0); every distance is then 0 and the tie rule assigns all
 * weights to n, whose value is 0 — a zero layer, no NaN.
 *
 * @example scalerCentroids(new Float32Array([-0.8, 0.1, 0.4]), 0.5) // { wp: 0.2, wn: 0.4 }
 */
export function scalerCentroids(weights: Float32Array, scaler: number): Centroids {
  if (!Number.isFinite(scaler) || scaler <= 0) throw new ValueError('scalerCentroids', `expected a scaler > 0 (typical 0.15–0.5), got ${scaler}`);
  const { min, max } = extremes('scalerCentroids', weights);
  // NOTE(f32): |max W| and |min W| are float32; the product with the scaler is rounded.
  const s = f(scaler);
  return { wp: f(f(Math.abs(max)) * s), wn: f(f(Math.abs(min)) * s) };
}

/** Options of {@link kmeansCentroids}. */
export interface KmeansOptions {
  /** Upper bound on Lloyd iterations (default 20); stops earlier when the assignment is stable. */
  maxIterations?: number;
}

/**
 * Centroids by 1-D k-means with three clusters and the middle one pinned at 0 (§3 option).
 *
 * Deterministic, no random seeding: starts at `w_p = |max W|/2`, `w_n = |min W|/2` (halfway to
 * the extremes, which always separates the two signs), then alternates nearest-centroid
 * assignment (float32, ties n < zero < p) and mean updates (float64 sums, rounded to float32) of
 * the two free centroids, until the assignment no longer changes or `maxIterations` is reached.
 * A cluster that becomes empty keeps its previous value. Weights with no negative (positive)
 * values give `w_n = 0` (`w_p = 0`); the floor ({@link applyCentroidFloor}) lifts such values.
 *
 * @example kmeansCentroids(new Float32Array([-1, -0.9, 0, 0.05, 0.8, 1])) // ≈ { wp: 0.9, wn: 0.95 }
 */
export function kmeansCentroids(weights: Float32Array, options: KmeansOptions = {}): Centroids {
  const maxIterations = options.maxIterations ?? 20;
  if (!Number.isInteger(maxIterations) || maxIterations < 1) {
    throw new ValueError('kmeansCentroids', `expected maxIterations to be an integer ≥ 1, got ${maxIterations}`);
  }
  const { min, max } = extremes('kmeansCentroids', weights);
  let wp = f(Math.max(max, 0) / 2);
  let wn = f(Math.max(-min, 0) / 2);
  let assignment = nearestTernary(weights, wp, wn);
  for (let it = 0; it < maxIterations; it++) {
    let sumP = 0;
    let cntP = 0;
    let sumN = 0;
    let cntN = 0;
    for (let i = 0; i < weights.length; i++) {
      if (assignment[i] === ASSIGN_P) {
        sumP += weights[i];
        cntP++;
      } else if (assignment[i] === ASSIGN_N) {
        sumN -= weights[i];
        cntN++;
      }
    }
    // A mean of weights nearest to +w_p is ≥ w_p/2 ≥ 0, except when squared distances of
    // subnormal weights underflow to ties; the clamp keeps the magnitudes ≥ 0 then too.
    if (cntP > 0) wp = f(Math.max(0, sumP / cntP));
    if (cntN > 0) wn = f(Math.max(0, sumN / cntN));
    const next = nearestTernary(weights, wp, wn);
    let same = true;
    for (let i = 0; i < next.length && same; i++) same = next[i] === assignment[i];
    assignment = next;
    if (same) break;
  }
  return { wp, wn };
}

/**
 * Sample standard deviation with Bessel's correction, as `torch.std` on a float32 CPU tensor:
 * two passes in float64, rounded to float32. One weight gives NaN (division by n − 1 = 0), as
 * PyTorch does.
 *
 * @example besselStd(new Float32Array([1, 2, 3, 4])) // ≈ 1.2909944
 */
export function besselStd(values: Float32Array): number {
  const n = values.length;
  if (n === 0) throw new ValueError('besselStd', 'expected at least one value, got an empty array');
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[i];
  // NOTE(f32): torch's two-pass CPU std takes the mean of the float32 tensor as a float32 value.
  mean = f(mean / n);
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const d = values[i] - mean;
    ss += d * d;
  }
  return f(Math.sqrt(ss / (n - 1)));
}

/**
 * Centroid floor (§4.6, [code]): each of `w_p`, `w_n` below `0.675·std(W)` (Bessel-corrected std of
 * the background weights) is raised to it. Float32 as the code (`torch.std(W).mul(0.675)`). A
 * single weight has no std (NaN); then the floor is not applied, as the code's comparison with NaN
 * is false.
 *
 * @example applyCentroidFloor(0.01, 0.5, new Float32Array([-1, 1])) // { wp: ≈0.9546, wn: 0.5 }
 */
export function applyCentroidFloor(wp: number, wn: number, background: Float32Array): Centroids & { floor: number } {
  if (!Number.isFinite(wp) || !Number.isFinite(wn)) throw new ValueError('applyCentroidFloor', `expected finite centroids, got wp=${wp}, wn=${wn}`);
  // NOTE(f32): .mul(0.675) multiplies the float32 std by float32(0.675).
  const floor = f(besselStd(background) * f(0.675));
  const p = f(wp);
  const n = f(wn);
  return { wp: p < floor ? floor : p, wn: n < floor ? floor : n, floor };
}
