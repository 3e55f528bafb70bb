/**
 * Bitmask encoding of a ternary layer (docs/METHOD.md §9, docs/FORMAT.md "Bitmasks"): a non-zero mask with
 * one bit per weight and a sign mask with one bit per non-zero weight only, both LSB-first within
 * each byte, weights in row-major order of the weight tensor. Lossless both ways.
 */
import { ShapeError, ValueError } from '../base/errors.js';
import { ASSIGN_N, ASSIGN_P, ASSIGN_ZERO } from './assign.js';

/** The two bitmasks of one ternary layer. */
export interface TernaryMasks {
  /** Bit k (byte k >> 3, bit k & 7, LSB first) is 1 when weight k is non-zero; ⌈count/8⌉ bytes. */
  readonly nonzeroMask: Uint8Array;
  /** Bit s is 1 when the s-th non-zero weight (in weight order) is negative; ⌈nonzeros/8⌉ bytes. */
  readonly signMask: Uint8Array;
  /** Number of weights (bits used in nonzeroMask). */
  readonly count: number;
}

/**
 * Packs an assignment (−1, 0, +1 per weight, row-major) into its two bitmasks. Unused high bits of
 * each mask's last byte are zero.
 * @example packAssignment(Int8Array.of(1, 0, -1)) // { nonzeroMask: [0b101], signMask: [0b10], count: 3 }
 */
export function packAssignment(assignment: Int8Array): TernaryMasks {
  const count = assignment.length;
  const nonzeroMask = new Uint8Array(Math.ceil(count / 8));
  let nonzeros = 0;
  for (let k = 0; k < count; k++) {
    const a = assignment[k];
    if (a === ASSIGN_ZERO) continue;
    if (a !== ASSIGN_P && a !== ASSIGN_N) throw new ValueError('packAssignment', `assignment[${k}] = ${a}; expected −1, 0 or +1`);
    nonzeroMask[k >> 3] |= 1 << (k & 7);
    nonzeros++;
  }
  const signMask = new Uint8Array(Math.ceil(nonzeros / 8));
  let s = 0;
  for (let k = 0; k < count; k++) {
    const a = assignment[k];
    if (a === ASSIGN_ZERO) continue;
    if (a === ASSIGN_N) signMask[s >> 3] |= 1 << (s & 7);
    s++;
  }
  return { nonzeroMask, signMask, count };
}

/** Number of set bits in the first `bits` bits of `mask` (LSB-first). */
export function countBits(mask: Uint8Array, bits: number): number {
  let c = 0;
  const full = bits >> 3;
  for (let i = 0; i < full; i++) {
    let v = mask[i];
    v = v - ((v >> 1) & 0x55);
    v = (v & 0x33) + ((v >> 2) & 0x33);
    c += (v + (v >> 4)) & 0x0f;
  }
  for (let k = full << 3; k < bits; k++) c += (mask[k >> 3] >> (k & 7)) & 1;
  return c;
}

function checkMasks(masks: TernaryMasks, op: string): number {
  const { nonzeroMask, signMask, count } = masks;
  // Bit indices are int32 (k >> 3, k & 7), so a layer holds at most 2^31 − 1 weights.
  if (!Number.isInteger(count) || count < 0 || count > 2 ** 31 - 1) throw new ValueError(op, `count must be an integer in 0..2^31 − 1, got ${count}`);
  if (nonzeroMask.length !== Math.ceil(count / 8)) {
    throw new ShapeError(op, `non-zero mask has ${nonzeroMask.length} bytes; ${count} weights need ${Math.ceil(count / 8)}`);
  }
  const nonzeros = countBits(nonzeroMask, count);
  if (signMask.length !== Math.ceil(nonzeros / 8)) {
    throw new ShapeError(op, `sign mask has ${signMask.length} bytes; the non-zero mask sets ${nonzeros} bits, needing ${Math.ceil(nonzeros / 8)}`);
  }
  // Bits past the end must be zero: a file with stray bits is corrupt, not "also valid".
  if (count & 7 && nonzeroMask[nonzeroMask.length - 1] >> (count & 7)) throw new ValueError(op, `non-zero mask has bits set past weight ${count}`);
  if (nonzeros & 7 && signMask[signMask.length - 1] >> (nonzeros & 7)) throw new ValueError(op, `sign mask has bits set past non-zero ${nonzeros}`);
  return nonzeros;
}

/**
 * Unpacks two bitmasks back to the assignment (−1, 0, +1). Rejects masks of the wrong length or
 * with stray bits past the end.
 * @example unpackAssignment(packAssignment(a)) // equals a
 */
export function unpackAssignment(masks: TernaryMasks): Int8Array {
  checkMasks(masks, 'unpackAssignment');
  const { nonzeroMask, signMask, count } = masks;
  const a = new Int8Array(count);
  let s = 0;
  for (let k = 0; k < count; k++) {
    if (((nonzeroMask[k >> 3] >> (k & 7)) & 1) === 0) continue;
    a[k] = (signMask[s >> 3] >> (s & 7)) & 1 ? ASSIGN_N : ASSIGN_P;
    s++;
  }
  return a;
}

/**
 * Dense ternary weights `Wt` (`+w_p`, 0, `−w_n`) from the masks, in weight order.
 * @example masksToDense(packAssignment(Int8Array.of(1, 0, -1)), 0.5, 0.25) // [0.5, 0, -0.25]
 */
export function masksToDense(masks: TernaryMasks, wp: number, wn: number, out?: Float32Array): Float32Array {
  checkMasks(masks, 'masksToDense');
  const { nonzeroMask, signMask, count } = masks;
  const w = out ?? new Float32Array(count);
  if (w.length < count) throw new ShapeError('masksToDense', `out has ${w.length} elements, needs ${count}`);
  let s = 0;
  for (let k = 0; k < count; k++) {
    if (((nonzeroMask[k >> 3] >> (k & 7)) & 1) === 0) {
      w[k] = 0;
      continue;
    }
    w[k] = (signMask[s >> 3] >> (s & 7)) & 1 ? -wn : wp;
    s++;
  }
  return w;
}

/** Counts of a layer's masks: non-zeros, negatives, and the storage in bits (§9). */
export function maskStats(masks: TernaryMasks): { nonzeros: number; negatives: number; positives: number; bits: number } {
  const nonzeros = checkMasks(masks, 'maskStats');
  const negatives = countBits(masks.signMask, nonzeros);
  return { nonzeros, negatives, positives: nonzeros - negatives, bits: masks.count + nonzeros };
}
