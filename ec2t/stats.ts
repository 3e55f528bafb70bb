/**
 * Per-layer and network statistics logged every epoch (`docs/METHOD.md` §8), as plain
 * JSON-able records (they become the `layers` array of `metrics.jsonl` lines; keep field names).
 */
import { ValueError, fmtShape } from '../base/errors.js';
import { ASSIGN_N, ASSIGN_P, ASSIGN_ZERO } from './assign.js';

/** Statistics of one ternarized layer. Field names are a file format: do not rename. */
export interface LayerStats {
  /** Parameter name, e.g. `layer1.0.conv1.weight`. */
  name: string;
  /** Weight shape, output channels first (`[out, in, kh, kw]` or `[out, in]`). */
  shape: number[];
  /** Number of weights. */
  numel: number;
  /** Weights assigned to `−w_n`. */
  n: number;
  /** Weights assigned to zero. */
  zero: number;
  /** Weights assigned to `+w_p`. */
  p: number;
  /** Negative centroid magnitude. */
  wn: number;
  /** Positive centroid magnitude. */
  wp: number;
  /** `H = −Σ P_c log2 P_c` over the actual fractions `count_c / numel` (bits; 0·log 0 = 0). */
  entropy: number;
  /** λ used in the last assignment. */
  lambda: number;
  /** λ_max of the last assignment. */
  lambdaMax: number;
  /** `zero / numel`. */
  sparsity: number;
  /** Output channels whose filter is entirely zero (removable, see {@link deadOutputChannels}). */
  deadChannels: number;
}

/** Inputs of {@link layerStats} besides the assignment. */
export interface LayerStatsInput {
  name: string;
  shape: readonly number[];
  assignment: Int8Array;
  wp: number;
  wn: number;
  lambda: number;
  lambdaMax: number;
}

function checkShape(op: string, shape: readonly number[], numel: number): void {
  let prod = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 1) throw new ValueError(op, `expected a shape of positive integers, got ${fmtShape(shape)}`);
    prod *= d;
  }
  if (shape.length < 1 || prod !== numel) {
    throw new ValueError(op, `expected a shape with ${numel} elements (one per weight), got ${fmtShape(shape)}`);
  }
}

/** Counts of `[n, zero, p]` in an assignment. Throws on a code other than −1, 0, +1. */
export function assignmentCounts(assignment: Int8Array): [number, number, number] {
  const c: [number, number, number] = [0, 0, 0];
  for (let i = 0; i < assignment.length; i++) {
    const a = assignment[i];
    if (a !== ASSIGN_N && a !== ASSIGN_ZERO && a !== ASSIGN_P) {
      throw new ValueError('assignmentCounts', `expected assignment codes −1, 0 or +1, got ${a} at index ${i}`);
    }
    c[a + 1]++;
  }
  return c;
}

/**
 * Entropy in bits of the distribution `counts / Σcounts`, with `0·log2 0 = 0`.
 *
 * @example entropyBits([1, 2, 1]) // 1.5
 */
export function entropyBits(counts: readonly number[]): number {
  let total = 0;
  for (const c of counts) total += c;
  if (total <= 0) return 0;
  let h = 0;
  for (const c of counts) {
    if (c > 0) {
      const q = c / total;
      h -= q * Math.log2(q);
    }
  }
  return h === 0 ? 0 : h; // no −0 in JSON
}

/**
 * Indices of output channels (dimension 0) whose weights are all assigned to zero. Such a
 * filter can be removed together with the matching input channel of the next layer
 * ({@link removableInputChannels}).
 *
 * @example deadOutputChannels(Int8Array.of(0, 0, 1, 0), [2, 2]) // [0]
 */
export function deadOutputChannels(assignment: Int8Array, shape: readonly number[]): number[] {
  checkShape('deadOutputChannels', shape, assignment.length);
  const out = shape[0];
  const per = assignment.length / out;
  const dead: number[] = [];
  for (let o = 0; o < out; o++) {
    let allZero = true;
    for (let j = o * per; j < (o + 1) * per && allZero; j++) allZero = assignment[j] === ASSIGN_ZERO;
    if (allZero) dead.push(o);
  }
  return dead;
}

/**
 * Indices of input channels (dimension 1) whose weights are zero for every output channel.
 * Assumes a dense layer (`groups = 1`): shape `[out, in, ...kernel]`.
 *
 * @example deadInputChannels(Int8Array.of(0, 1, 0, 1), [2, 2]) // [0]
 */
export function deadInputChannels(assignment: Int8Array, shape: readonly number[]): number[] {
  checkShape('deadInputChannels', shape, assignment.length);
  if (shape.length < 2) throw new ValueError('deadInputChannels', `expected a shape [out, in, ...], got ${fmtShape(shape)}`);
  const [out, inp] = shape;
  const k = assignment.length / (out * inp);
  const dead: number[] = [];
  for (let i = 0; i < inp; i++) {
    let allZero = true;
    for (let o = 0; o < out && allZero; o++) {
      const base = (o * inp + i) * k;
      for (let j = 0; j < k && allZero; j++) allZero = assignment[base + j] === ASSIGN_ZERO;
    }
    if (allZero) dead.push(i);
  }
  return dead;
}

/**
 * The next layer's input indices made removable by dead output channels of the previous layer.
 * `featuresPerChannel` is 1 for a conv → conv link and `H·W` for conv → flatten → linear (channel
 * `c` feeds features `c·HW … c·HW + HW − 1`).
 *
 * @example removableInputChannels([1], [10, 8], 4) // [4, 5, 6, 7]
 */
export function removableInputChannels(deadOutputs: readonly number[], nextShape: readonly number[], featuresPerChannel = 1): number[] {
  if (nextShape.length < 2) throw new ValueError('removableInputChannels', `expected a next-layer shape [out, in, ...], got ${fmtShape(nextShape)}`);
  if (!Number.isInteger(featuresPerChannel) || featuresPerChannel < 1) {
    throw new ValueError('removableInputChannels', `expected featuresPerChannel to be an integer ≥ 1, got ${featuresPerChannel}`);
  }
  const inp = nextShape[1];
  const res: number[] = [];
  for (const c of deadOutputs) {
    if ((c + 1) * featuresPerChannel > inp) {
      throw new ValueError('removableInputChannels', `dead channel ${c} × ${featuresPerChannel} features exceeds the next layer's ${inp} inputs`);
    }
    for (let j = 0; j < featuresPerChannel; j++) res.push(c * featuresPerChannel + j);
  }
  return res;
}

/**
 * Statistics record of one ternarized layer (§8).
 *
 * @example layerStats({ name: 'fc1.weight', shape: [2, 2], assignment: Int8Array.of(-1, 0, 0, 0), wp: 0.5, wn: 0.4, lambda: 0, lambdaMax: 0 })
 */
export function layerStats(input: LayerStatsInput): LayerStats {
  const { name, shape, assignment, wp, wn, lambda, lambdaMax } = input;
  checkShape('layerStats', shape, assignment.length);
  const [n, zero, p] = assignmentCounts(assignment);
  const numel = assignment.length;
  return {
    name,
    shape: [...shape],
    numel,
    n,
    zero,
    p,
    wn,
    wp,
    entropy: entropyBits([n, zero, p]),
    lambda,
    lambdaMax,
    sparsity: zero / numel,
    deadChannels: deadOutputChannels(assignment, shape).length,
  };
}

/** Network-level sparsity (§8). */
export interface NetworkSparsity {
  /** Zero-valued parameters among all parameters (quantized + non-quantized). */
  overall: number;
  /** Zeros among the quantized layers' weights. */
  quantized: number;
  totalParams: number;
  totalZeros: number;
  quantizedParams: number;
  quantizedZeros: number;
}

/**
 * Overall and quantized-layer sparsity, as the authors' `calc_sparsity`: overall = (zeros of the
 * quantized layers + exact zeros among all non-quantized parameters: BN, biases, stem, head,
 * shortcuts) / (all of them). Background copies are not parameters of the network and not counted.
 *
 * @example networkSparsity([{ numel: 4, zero: 3 }], [Float32Array.of(0, 1)]) // overall 4/6, quantized 3/4
 */
export function networkSparsity(quantizedLayers: readonly { numel: number; zero: number }[], otherParams: readonly ArrayLike<number>[]): NetworkSparsity {
  let quantizedParams = 0;
  let quantizedZeros = 0;
  for (const l of quantizedLayers) {
    quantizedParams += l.numel;
    quantizedZeros += l.zero;
  }
  let totalParams = quantizedParams;
  let totalZeros = quantizedZeros;
  for (const t of otherParams) {
    totalParams += t.length;
    for (let i = 0; i < t.length; i++) if (t[i] === 0) totalZeros++;
  }
  return {
    overall: totalParams === 0 ? 0 : totalZeros / totalParams,
    quantized: quantizedParams === 0 ? 0 : quantizedZeros / quantizedParams,
    totalParams,
    totalZeros,
    quantizedParams,
    quantizedZeros,
  };
}
