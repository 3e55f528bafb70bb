/**
 * Ternary-valued checkpoints (docs/METHOD.md "Ternary-valued checkpoints"): the EC2T authors
 * publish their ternary networks as plain float32 state dicts whose ternary layers hold only the
 * values {−w_n, 0, +w_p}, with no assignment or centroid tensors. Such a layer carries all the
 * information of a ternary layer, so it is read as one: its assignment and centroids are derived
 * and added as the sibling keys `ec2t ternarize` writes (`.assignment`, `.w_p`, `.w_n`); the
 * `weight` itself is left untouched, so every float path computes exactly what it did before.
 */
import { stripDataParallelPrefix } from '../nn/module.js';
import { entryToFloat32, type SafetensorEntry } from '../nn/safetensors.js';

/** A layer's ternary reading: assignment (−1/0/+1 per weight) and the two centroids (w_n > 0 is the magnitude of the negative value). */
export interface TernaryValues {
  assignment: Int8Array;
  wp: number;
  wn: number;
}

/**
 * The ternary reading of a weight tensor whose values are at most {−a, 0, +b} with a, b > 0, or
 * null when it holds anything else: two distinct positive (or negative) values such as {0, 1, 2}
 * or {−a, 0, −b}, more values, a non-finite value, or no non-zero at all (nothing to recognise).
 * A centroid whose sign never occurs is set to the other one's magnitude (it multiplies nothing).
 * @example ternaryValuesOf(Float32Array.of(0.5, 0, -0.25)) // { assignment: [1, 0, -1], wp: 0.5, wn: 0.25 }
 */
export function ternaryValuesOf(weights: Float32Array): TernaryValues | null {
  let pos = NaN;
  let neg = NaN;
  const assignment = new Int8Array(weights.length);
  for (let k = 0; k < weights.length; k++) {
    const v = weights[k];
    if (v === 0) continue;
    if (v > 0) {
      if (v !== pos && !Number.isNaN(pos)) return null;
      if (v === Infinity) return null;
      pos = v;
      assignment[k] = 1;
    } else if (v < 0) {
      if (v !== neg && !Number.isNaN(neg)) return null;
      if (v === -Infinity) return null;
      neg = v;
      assignment[k] = -1;
    } else {
      return null; // NaN
    }
  }
  if (Number.isNaN(pos) && Number.isNaN(neg)) return null;
  const wp = Number.isNaN(pos) ? -neg : pos;
  const wn = Number.isNaN(neg) ? pos : -neg;
  return { assignment, wp, wn };
}

/** What {@link recognizeTernaryLayers} returns. */
export interface RecognizedWeights {
  /** The state dict (without a DataParallel `module.` prefix) with sibling keys added for each recognised layer. */
  stateDict: Map<string, SafetensorEntry>;
  /** Layers read as ternary from their values, in `layers` order. */
  recognized: string[];
}

/**
 * Reads as ternary every layer of `layers` (the model's ternarization policy) that has no
 * `.assignment` sibling yet and whose `weight` is ternary-valued ({@link ternaryValuesOf}). Other
 * layers, and layers already marked ternary, are left as they are; the input map is not changed.
 * @example recognizeTernaryLayers(sd, ternaryLayerNames(model, 'resnet20')).recognized // ['layer1.0.conv1', ...]
 */
export function recognizeTernaryLayers(stateDict: Map<string, SafetensorEntry>, layers: readonly string[]): RecognizedWeights {
  const sd = new Map(stripDataParallelPrefix([...stateDict]));
  const recognized: string[] = [];
  for (const name of layers) {
    const w = sd.get(`${name}.weight`);
    if (w === undefined || sd.has(`${name}.assignment`)) continue;
    if (w.dtype !== 'F32' && w.dtype !== 'F16' && w.dtype !== 'BF16' && w.dtype !== 'F64') continue;
    const t = ternaryValuesOf(entryToFloat32(w));
    if (t === null) continue;
    sd.set(`${name}.assignment`, { dtype: 'I8', shape: [...w.shape], data: t.assignment });
    sd.set(`${name}.w_p`, { dtype: 'F32', shape: [1], data: Float32Array.of(t.wp) });
    sd.set(`${name}.w_n`, { dtype: 'F32', shape: [1], data: Float32Array.of(t.wn) });
    recognized.push(name);
  }
  return { stateDict: sd, recognized };
}
