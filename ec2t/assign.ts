/**
 * The entropy-constrained ternary assignment of EC2T (`docs/METHOD.md` §5) and the simpler
 * assignments it is compared with (nearest neighbour, TTQ threshold, ECP), as pure functions over
 * `Float32Array`s.
 *
 * Assignment codes follow the authors' centroid order: `-1` = n (centroid `−w_n`, index 0 in their
 * code), `0` = zero (index 1), `+1` = p (centroid `+w_p`, index 2). Ties always go to the lowest
 * index (n, then zero, then p), as `torch.argmin` does.
 *
 * Float32 fidelity. The `reference` variant reproduces the authors' float32 PyTorch code
 * (d-becking/efficientCNNs, `model_quantization/quantizer.py`) bit for bit: every value their code
 * holds in a float32 tensor is rounded with `Math.fround` at the same step (each `NOTE(f32)` below).
 * One `+ − × ÷` of float32 operands done in float64 and then rounded is exactly the float32 IEEE
 * result, so this is exact; `log2` is evaluated in float64 and rounded (torch's float `log2` agrees
 * on every golden case, see `test/ec2t/fixtures/assign-golden.json`). Probabilities use PyTorch's
 * CPU division `count / numel`; PyTorch's CUDA kernel computes `count · (1/numel)` instead, which
 * can differ in the last bit.
 */
import { ValueError } from '../base/errors.js';

const f = Math.fround;

/** Which behaviour to follow where the authors' code is arguably wrong (`docs/METHOD.md` [quirk] marks). */
export type Ec2tVariant = 'reference' | 'corrected';

/** Assignment code of the negative centroid `−w_n`. */
export const ASSIGN_N = -1;
/** Assignment code of the zero centroid. */
export const ASSIGN_ZERO = 0;
/** Assignment code of the positive centroid `+w_p`. */
export const ASSIGN_P = 1;

/** Options of {@link assignTernary}. */
export interface AssignOptions {
  /** Positive centroid magnitude `w_p ≥ 0` (float32-rounded before use). */
  wp: number;
  /** Negative centroid magnitude `w_n ≥ 0` (the centroid value is `−w_n`). */
  wn: number;
  /** Global gain `γ` (`lambda_max_divider`), ≥ 0; `0` gives nearest-neighbour assignment. */
  gain: number;
  /** The layer's decay `δ` from {@link layerDecay}, ≥ 0. */
  decay: number;
  /** `reference` (authors' code, default in the trainer) or `corrected`. */
  variant: Ec2tVariant;
}

/** Result of {@link assignTernary}. */
export interface AssignResult {
  /** Per weight: −1 (n), 0 (zero), +1 (p). */
  assignment: Int8Array;
  /** `λ = γ·δ·λ_max` actually used in the costs (a float32 value; 0 when λ_max is undefined). */
  lambda: number;
  /** `λ_max` (a float32 value; 0 when neither term of §5.5 is defined, see {@link assignTernary}). */
  lambdaMax: number;
  /** `[P_n, P_0, P_p]` after the empty-cluster rule and the 0.5 zero floor (float32 values). */
  probabilities: [number, number, number];
  /** `[I_n, I_0, I_p] = −log2 P` as used in the costs (float32 values). */
  information: [number, number, number];
  /** Counts of the preliminary (distance-only) assignment `[n, zero, p]`. */
  preliminaryCounts: [number, number, number];
}

function checkCentroid(op: string, name: string, v: number): void {
  if (!Number.isFinite(v) || v < 0) {
    throw new ValueError(op, `expected ${name} to be a finite number ≥ 0 (a centroid magnitude), got ${v}`);
  }
}

function checkWeights(op: string, weights: Float32Array): void {
  if (weights.length === 0) throw new ValueError(op, 'expected at least one weight, got an empty array');
  for (let i = 0; i < weights.length; i++) {
    if (!Number.isFinite(weights[i])) {
      throw new ValueError(op, `expected finite weights, got ${weights[i]} at index ${i}; check the training for divergence`);
    }
  }
}

/**
 * Argmin over three costs with `torch.argmin`'s tie rule (first minimum: n, zero, p).
 * Returns the assignment code.
 */
function argmin3(cn: number, c0: number, cp: number): number {
  if (cn <= c0 && cn <= cp) return ASSIGN_N;
  if (c0 <= cp) return ASSIGN_ZERO;
  return ASSIGN_P;
}

/**
 * Nearest-centroid ternarization (λ = 0): each weight goes to the closest of `−w_n, 0, +w_p` by
 * float32 squared distance, ties to the lowest index (n, zero, p).
 *
 * @example nearestTernary(new Float32Array([-0.9, 0.1, 0.7]), 0.5, 0.5) // Int8Array [-1, 0, 1]
 */
export function nearestTernary(weights: Float32Array, wp: number, wn: number, out?: Int8Array): Int8Array {
  checkCentroid('nearestTernary', 'wp', wp);
  checkCentroid('nearestTernary', 'wn', wn);
  checkWeights('nearestTernary', weights);
  const a = out ?? new Int8Array(weights.length);
  if (a.length !== weights.length) {
    throw new ValueError('nearestTernary', `expected out of length ${weights.length}, got ${a.length}`);
  }
  const cn = -f(wn);
  const cp = f(wp);
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i];
    // NOTE(f32): (C − w)**2 in the authors' get_distances: subtraction rounded, then the square.
    const dn = f(cn - w);
    const dp = f(cp - w);
    a[i] = argmin3(f(dn * dn), f(w * w), f(dp * dp));
  }
  return a;
}

/**
 * Assignment for a given `λ` and given information contents (the last step of §5, cost
 * `C_c = D_c + λ·I_c`, argmin with the n/zero/p tie rule). Exported so that tests can vary λ with
 * fixed statistics; {@link assignTernary} is the function to use.
 *
 * @example assignWithLambda(new Float32Array([0.3]), 0.5, 0.5, 0.1, [3, 1, 3]) // Int8Array [0]
 */
export function assignWithLambda(
  weights: Float32Array,
  wp: number,
  wn: number,
  lambda: number,
  information: readonly [number, number, number],
  out?: Int8Array,
): Int8Array {
  checkCentroid('assignWithLambda', 'wp', wp);
  checkCentroid('assignWithLambda', 'wn', wn);
  if (!Number.isFinite(lambda)) throw new ValueError('assignWithLambda', `expected a finite lambda, got ${lambda}`);
  for (const v of information) {
    if (!Number.isFinite(v)) throw new ValueError('assignWithLambda', `expected finite information contents, got [${information.join(', ')}]`);
  }
  checkWeights('assignWithLambda', weights);
  const a = out ?? new Int8Array(weights.length);
  if (a.length !== weights.length) {
    throw new ValueError('assignWithLambda', `expected out of length ${weights.length}, got ${a.length}`);
  }
  const cn = -f(wn);
  const cp = f(wp);
  const lam = f(lambda);
  // NOTE(f32): `Lambda * I_extruded` is a float32 tensor, then added to the float32 distances.
  const en = f(lam * f(information[0]));
  const e0 = f(lam * f(information[1]));
  const ep = f(lam * f(information[2]));
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i];
    const dn = f(cn - w);
    const dp = f(cp - w);
    a[i] = argmin3(f(f(dn * dn) + en), f(f(w * w) + e0), f(f(dp * dp) + ep));
  }
  return a;
}

/**
 * The probability step of §5.3: counts → `P_c = count_c / numel` (an empty cluster counts 1
 * [code]), then the 0.5 zero floor. `reference` reduces `P_p` with the already reduced `P_n`
 * [quirk]; `corrected` uses the old values.
 *
 * @example floorProbabilities([6, 2, 2], 'reference') // P_0 = 0.2 < 0.5 → floored
 */
export function floorProbabilities(counts: readonly [number, number, number], variant: Ec2tVariant): [number, number, number] {
  const numel = counts[0] + counts[1] + counts[2];
  if (numel <= 0) throw new ValueError('floorProbabilities', `expected counts with a positive sum, got [${counts.join(', ')}]`);
  // NOTE(f32): torch.div(C_counts.float(), numel) on CPU is a correctly rounded float32 division.
  const nf = f(numel);
  let pn = f(f(counts[0] === 0 ? 1 : counts[0]) / nf);
  let p0 = f(f(counts[1] === 0 ? 1 : counts[1]) / nf);
  let pp = f(f(counts[2] === 0 ? 1 : counts[2]) / nf);
  if (p0 < 0.5) {
    // NOTE(f32): each line is a chain of 0-dim float32 tensor ops, rounded after every op.
    const t = f(0.5 - p0);
    const pnOld = pn;
    pn = f(pn - f(f(pn / f(pn + pp)) * t));
    const pnForP = variant === 'reference' ? pn : pnOld;
    pp = f(pp - f(f(pp / f(pnForP + pp)) * t));
    p0 = 0.5;
  }
  return [pn, p0, pp];
}

/**
 * One `λ_max` term of §5.5: `(e² − (w − e)²) / (I_c − I_0)` with `e` the extreme magnitude
 * (`|min W|` or `|max W|`), in float32 as the authors' code computes it.
 */
function lambdaMaxTerm(extreme: number, centroid: number, ic: number, i0: number): { value: number; num: number; den: number } {
  // NOTE(f32): ((0 - e)**2 - (w.sub(e))**2) / (I[c] - I[1]) on 0-dim float32 tensors.
  const d = f(centroid - extreme);
  const num = f(f(extreme * extreme) - f(d * d));
  const den = f(ic - i0);
  return { value: f(num / den), num, den };
}

/**
 * Entropy-constrained ternary assignment (`docs/METHOD.md` §5) of one layer.
 *
 * Steps (all in float32 as the authors' code): squared distances to `(−w_n, 0, +w_p)`;
 * preliminary argmin (ties n < zero < p); probabilities with an empty cluster counting 1 and the
 * 0.5 zero floor ({@link floorProbabilities}); `I_c = −log2 P_c`; `λ_max = min(λ_max,n, λ_max,p)`;
 * `λ = (λ_max · γ) · δ` (rounded after each product, the code's order); argmin of `D_c + λ·I_c`.
 *
 * Degenerate inputs never give NaN or ±Infinity:
 * - A `λ_max` term whose quotient is not finite (`I_c = I_0`, e.g. a single weight, where every
 *   probability is 1) is left out of the minimum; with neither term defined `λ_max = λ = 0` and the
 *   result is the nearest-neighbour assignment. (The authors' code then picks ±Infinity or NaN.)
 * - `reference` otherwise keeps the code's values, including a negative `λ_max` (a centroid beyond
 *   twice the extreme weight, or `I_c < I_0` after the floor with an empty cluster counted as 1).
 * - `corrected` only uses terms with a positive numerator and `I_c > I_0` (so `λ ≥ 0`), costs use
 *   `max(I_c, I_0)` (zero is never penalised more than a non-zero cluster, so it never has fewer
 *   zeros than nearest neighbour), and if every weight would still land in one non-zero cluster the
 *   single weight of smallest magnitude (lowest index on ties) is moved to zero — a layer is never
 *   all `+w_p` or all `−w_n`.
 *
 * @example
 * const r = assignTernary(w, { wp: 0.4, wn: 0.4, gain: 0.2, decay: 1, variant: 'reference' });
 * r.assignment; // Int8Array of −1/0/+1
 */
export function assignTernary(weights: Float32Array, options: AssignOptions): AssignResult {
  const { wp, wn, gain, decay, variant } = options;
  const op = 'assignTernary';
  checkCentroid(op, 'wp', wp);
  checkCentroid(op, 'wn', wn);
  if (!Number.isFinite(gain) || gain < 0) throw new ValueError(op, `expected gain γ to be a finite number ≥ 0, got ${gain}`);
  if (!Number.isFinite(decay) || decay < 0) throw new ValueError(op, `expected decay δ to be a finite number ≥ 0 (see layerDecay), got ${decay}`);
  if (variant !== 'reference' && variant !== 'corrected') {
    throw new ValueError(op, `expected variant 'reference' or 'corrected', got ${String(variant)}`);
  }
  const prelim = nearestTernary(weights, wp, wn);
  const counts: [number, number, number] = [0, 0, 0];
  let minW = Infinity;
  let maxW = -Infinity;
  for (let i = 0; i < weights.length; i++) {
    counts[prelim[i] + 1]++;
    const w = weights[i];
    if (w < minW) minW = w;
    if (w > maxW) maxW = w;
  }
  const probabilities = floorProbabilities(counts, variant);
  // NOTE(f32): −torch.log2(pmf); float64 log2 rounded to float32 (negation is exact).
  const info: [number, number, number] = [f(-Math.log2(probabilities[0])), f(-Math.log2(probabilities[1])), f(-Math.log2(probabilities[2]))];
  const wpf = f(wp);
  const wnf = f(wn);
  const termN = lambdaMaxTerm(f(Math.abs(minW)), wnf, info[0], info[1]);
  const termP = lambdaMaxTerm(f(Math.abs(maxW)), wpf, info[2], info[1]);
  const usable = (t: { value: number; num: number; den: number }): boolean =>
    variant === 'reference' ? Number.isFinite(t.value) : Number.isFinite(t.value) && t.num > 0 && t.den > 0;
  const okN = usable(termN);
  const okP = usable(termP);
  let lambdaMax = 0;
  // The code's `if Lambda_p_max < Lambda_n_max: p else n` is the minimum for finite values.
  if (okN && okP) lambdaMax = termP.value < termN.value ? termP.value : termN.value;
  else if (okN) lambdaMax = termN.value;
  else if (okP) lambdaMax = termP.value;
  // NOTE(f32): `Lambda *= lambda_max_divider; Lambda *= lambda_decay` on a float32 tensor.
  let lambda = f(f(lambdaMax * f(gain)) * f(decay));
  if (lambda === 0) lambda = 0; // −0 from a negative λ_max times γ = 0; same costs, cleaner JSON
  const costInfo: [number, number, number] =
    variant === 'corrected' ? [Math.max(info[0], info[1]), info[1], Math.max(info[2], info[1])] : info;
  const assignment = lambda === 0 ? prelim.slice() : assignWithLambda(weights, wpf, wnf, lambda, costInfo);
  if (variant === 'corrected') preventSingleNonZeroCluster(weights, assignment);
  return { assignment, lambda, lambdaMax, probabilities, information: info, preliminaryCounts: counts };
}

/** `corrected` safety net: if all weights sit in one non-zero cluster, the smallest |w| goes to zero. */
function preventSingleNonZeroCluster(weights: Float32Array, assignment: Int8Array): void {
  const first = assignment[0];
  if (first === ASSIGN_ZERO) return;
  for (let i = 1; i < assignment.length; i++) if (assignment[i] !== first) return;
  let best = 0;
  for (let i = 1; i < weights.length; i++) if (Math.abs(weights[i]) < Math.abs(weights[best])) best = i;
  assignment[best] = ASSIGN_ZERO;
}

/**
 * Layer decay `δ = (numel / numelLargest + sustain) / (1 + sustain)` (§5.6): larger layers are
 * pushed harder; the sustain (0.05 in the authors' code) keeps small layers from getting λ ≈ 0.
 * Computed in float64, as the authors' Python does; {@link assignTernary} rounds the product.
 *
 * @example layerDecay(1000, 1000) // 1
 */
export function layerDecay(numel: number, numelLargest: number, sustain = 0.05): number {
  if (!Number.isInteger(numel) || numel < 1) throw new ValueError('layerDecay', `expected numel to be an integer ≥ 1, got ${numel}`);
  if (!Number.isInteger(numelLargest) || numelLargest < numel) {
    throw new ValueError('layerDecay', `expected numelLargest to be an integer ≥ numel (${numel}), got ${numelLargest}`);
  }
  if (!Number.isFinite(sustain) || sustain < 0) throw new ValueError('layerDecay', `expected sustain ≥ 0, got ${sustain}`);
  return (numel / numelLargest + sustain) / (1 + sustain);
}

/**
 * TTQ threshold assignment (§7, Zhu et al. 2017): normalise by `max|W|`; `> t` → p, `< −t` → n,
 * else zero. All-zero weights (max|W| = 0) give all zero (PyTorch would compare NaN, also all zero).
 *
 * @example ttqAssign(new Float32Array([-1, 0.01, 0.5])) // Int8Array [-1, 0, 1]
 */
export function ttqAssign(weights: Float32Array, threshold = 0.05, out?: Int8Array): Int8Array {
  if (!Number.isFinite(threshold) || threshold < 0) throw new ValueError('ttqAssign', `expected a threshold ≥ 0, got ${threshold}`);
  checkWeights('ttqAssign', weights);
  const a = out ?? new Int8Array(weights.length);
  if (a.length !== weights.length) throw new ValueError('ttqAssign', `expected out of length ${weights.length}, got ${a.length}`);
  let maxAbs = 0;
  for (let i = 0; i < weights.length; i++) maxAbs = Math.max(maxAbs, Math.abs(weights[i]));
  const t = f(threshold);
  for (let i = 0; i < weights.length; i++) {
    // NOTE(f32): weights / max_w is a float32 tensor; the threshold is compared as float32.
    const v = maxAbs === 0 ? 0 : f(weights[i] / maxAbs);
    a[i] = v > t ? ASSIGN_P : v < -t ? ASSIGN_N : ASSIGN_ZERO;
  }
  return a;
}

function checkLengths(op: string, n: number, m: number, what: string): void {
  if (n !== m) throw new ValueError(op, `expected ${what} of length ${n} (one per weight), got ${m}`);
}

/**
 * ECP weights (§7): `Wt = [A ≠ zero] · W` — pruned weights are 0, kept weights keep their
 * full-precision background value.
 *
 * @example ecpWeights(new Float32Array([0.3, -0.2]), Int8Array.of(1, 0)) // [0.3, 0]
 */
export function ecpWeights(background: Float32Array, assignment: Int8Array, out?: Float32Array): Float32Array {
  checkLengths('ecpWeights', background.length, assignment.length, 'assignment');
  const o = out ?? new Float32Array(background.length);
  checkLengths('ecpWeights', background.length, o.length, 'out');
  for (let i = 0; i < background.length; i++) o[i] = assignment[i] === ASSIGN_ZERO ? 0 : background[i];
  return o;
}

/**
 * Ternary weights `Wt = w_p·[A=p] − w_n·[A=n]` (§2), float32 centroids; zeros are `+0`
 * (the authors' `w_p*a + (−w_n*b)`).
 *
 * @example ternaryWeights(Int8Array.of(-1, 0, 1), 0.5, 0.25) // [-0.25, 0, 0.5]
 */
export function ternaryWeights(assignment: Int8Array, wp: number, wn: number, out?: Float32Array): Float32Array {
  checkCentroid('ternaryWeights', 'wp', wp);
  checkCentroid('ternaryWeights', 'wn', wn);
  const o = out ?? new Float32Array(assignment.length);
  checkLengths('ternaryWeights', assignment.length, o.length, 'out');
  const p = f(wp);
  const n = 0 - f(wn); // +0 when w_n = 0, as the code's `w_p*a + (−w_n*b)`
  for (let i = 0; i < assignment.length; i++) {
    const a = assignment[i];
    o[i] = a === ASSIGN_P ? p : a === ASSIGN_N ? n : 0;
  }
  return o;
}
