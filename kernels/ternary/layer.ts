/**
 * The compute-friendly form of a ternary layer, built once from its bitmasks (or an assignment):
 * per output channel, the list of weight taps that are `+w_p` and the list that are `−w_n`. A tap
 * is the flat index `(c·KH + i)·KW + j` into that output channel's `[inPerGroup, KH, KW]` weight
 * block (for a linear layer `KH = KW = 1` and a tap is the input feature). The kernels turn taps
 * into memory offsets for a given input geometry and only ever add inputs up.
 *
 * Bit order of the masks (docs/FORMAT.md "Bitmasks"): weight `k` in row-major order
 * `[out, inPerGroup, KH, KW]` is bit `k & 7` (LSB first) of byte `k >> 3` of the non-zero mask; the
 * sign mask has one bit per non-zero weight, in the same order, 1 = negative.
 */
import { ShapeError, ValueError, fmtShape } from '../../base/errors.js';
import type { TernaryLayer } from '../types.js';

/** Weight shape `[out, inPerGroup, KH, KW]`, or `[out, in]` for a linear layer. */
export type TernaryWeightShape = readonly [number, number, number, number] | readonly [number, number];

function dims(shape: TernaryWeightShape, op: string): [number, number, number, number] {
  const [o, i, kh, kw] = shape.length === 2 ? [shape[0], shape[1], 1, 1] : shape;
  for (const d of [o, i, kh, kw]) {
    if (!Number.isInteger(d) || d < 1) throw new ShapeError(op, `weight shape must be positive integers, got ${fmtShape(shape)}`);
  }
  return [o, i, kh, kw];
}

function checkCentroids(wp: number, wn: number, op: string): void {
  if (!Number.isFinite(wp) || !Number.isFinite(wn)) throw new ValueError(op, `centroids must be finite, got w_p=${wp}, w_n=${wn}`);
}

/**
 * Builds a {@link TernaryLayer} from an assignment (−1 → −w_n, 0 → 0, +1 → +w_p) in row-major
 * weight order.
 * @example ternaryLayerFromAssignment(Int8Array.of(1, 0, -1, 1), [2, 2], 0.5, 0.25).posTaps // [0, 1]
 */
export function ternaryLayerFromAssignment(assignment: Int8Array, shape: TernaryWeightShape, wp: number, wn: number): TernaryLayer {
  const op = 'ternaryLayerFromAssignment';
  const [o, i, kh, kw] = dims(shape, op);
  const per = i * kh * kw;
  if (assignment.length !== o * per) {
    throw new ShapeError(op, `assignment has ${assignment.length} entries but weight shape ${fmtShape(shape)} needs ${o * per}`);
  }
  checkCentroids(wp, wn, op);
  let np = 0;
  let nn = 0;
  for (let k = 0; k < assignment.length; k++) {
    const a = assignment[k];
    if (a === 1) np++;
    else if (a === -1) nn++;
    else if (a !== 0) throw new ValueError(op, `assignment[${k}] = ${a}; expected −1, 0 or +1`);
  }
  const posStart = new Int32Array(o + 1);
  const negStart = new Int32Array(o + 1);
  const posTaps = new Int32Array(np);
  const negTaps = new Int32Array(nn);
  let p = 0;
  let n = 0;
  for (let m = 0; m < o; m++) {
    posStart[m] = p;
    negStart[m] = n;
    const base = m * per;
    for (let t = 0; t < per; t++) {
      const a = assignment[base + t];
      if (a === 1) posTaps[p++] = t;
      else if (a === -1) negTaps[n++] = t;
    }
  }
  posStart[o] = p;
  negStart[o] = n;
  return { outChannels: o, inPerGroup: i, kernelHeight: kh, kernelWidth: kw, wp, wn, posStart, posTaps, negStart, negTaps };
}

/**
 * Builds a {@link TernaryLayer} straight from the two bitmasks (bit order in the file header),
 * without materialising an assignment.
 * @example ternaryLayerFromMasks(Uint8Array.of(0b0101), Uint8Array.of(0b10), [2, 2], 0.5, 0.25).negTaps // [0]
 */
export function ternaryLayerFromMasks(
  nonzeroMask: Uint8Array,
  signMask: Uint8Array,
  shape: TernaryWeightShape,
  wp: number,
  wn: number,
): TernaryLayer {
  const op = 'ternaryLayerFromMasks';
  const [o, i, kh, kw] = dims(shape, op);
  const per = i * kh * kw;
  const total = o * per;
  // Taps are int32; and Math.ceil, not (total + 7) >> 3, which wraps at 2^31 (a wrapped length let
  // an empty mask stand for 2^40 weights).
  if (total > 2 ** 31 - 1) throw new ShapeError(op, `weight shape ${fmtShape(shape)} has ${total} weights, above the 2^31 − 1 a layer may have`);
  if (nonzeroMask.length !== Math.ceil(total / 8)) {
    throw new ShapeError(op, `non-zero mask has ${nonzeroMask.length} bytes but ${total} weights need ${Math.ceil(total / 8)}`);
  }
  checkCentroids(wp, wn, op);
  let count = 0;
  for (let k = 0; k < total; k++) count += (nonzeroMask[k >> 3] >> (k & 7)) & 1;
  if (signMask.length !== Math.ceil(count / 8)) {
    throw new ShapeError(op, `sign mask has ${signMask.length} bytes but the non-zero mask sets ${count} bits, needing ${Math.ceil(count / 8)}`);
  }
  let nn = 0;
  for (let s = 0; s < count; s++) nn += (signMask[s >> 3] >> (s & 7)) & 1;
  const posStart = new Int32Array(o + 1);
  const negStart = new Int32Array(o + 1);
  const posTaps = new Int32Array(count - nn);
  const negTaps = new Int32Array(nn);
  let p = 0;
  let n = 0;
  let s = 0;
  for (let m = 0; m < o; m++) {
    posStart[m] = p;
    negStart[m] = n;
    for (let t = 0; t < per; t++) {
      const k = m * per + t;
      if (((nonzeroMask[k >> 3] >> (k & 7)) & 1) === 0) continue;
      if ((signMask[s >> 3] >> (s & 7)) & 1) negTaps[n++] = t;
      else posTaps[p++] = t;
      s++;
    }
  }
  posStart[o] = p;
  negStart[o] = n;
  return { outChannels: o, inPerGroup: i, kernelHeight: kh, kernelWidth: kw, wp, wn, posStart, posTaps, negStart, negTaps };
}

/**
 * The dense weights `Wt` of a layer in row-major `[out, inPerGroup, KH, KW]` (for reference maths
 * and the dense fallback).
 * @example ternaryLayerDense(layer) // Float32Array of out·inPerGroup·KH·KW
 */
export function ternaryLayerDense(layer: TernaryLayer, out?: Float32Array): Float32Array {
  const per = layer.inPerGroup * layer.kernelHeight * layer.kernelWidth;
  const w = out ?? new Float32Array(layer.outChannels * per);
  w.fill(0, 0, layer.outChannels * per);
  for (let m = 0; m < layer.outChannels; m++) {
    // Per-channel centroids where the layer has them.
    const wp = layer.channelWp === undefined ? layer.wp : layer.channelWp[m];
    const wn = layer.channelWn === undefined ? layer.wn : layer.channelWn[m];
    for (let t = layer.posStart[m]; t < layer.posStart[m + 1]; t++) w[m * per + layer.posTaps[t]] = wp;
    for (let t = layer.negStart[m]; t < layer.negStart[m + 1]; t++) w[m * per + layer.negTaps[t]] = -wn;
  }
  return w;
}
