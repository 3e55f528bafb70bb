/**
 * Per-channel normalisation and the standard augmentations (random crop with zero padding,
 * horizontal flip, cutout). Augmentations work on `ndarray` views `[C, H, W]` of any strides
 * and element type (uint8 before normalisation, float32 after), and take every random draw
 * from an explicit {@link Rng}.
 */
import ndarray from 'ndarray';
import { ValueError } from '../base/errors.js';
import type { Rng } from '../base/rng.js';
import type { Dataset } from './dataset.js';

/** Per-channel mean and standard deviation of pixels scaled to [0, 1]. */
export interface Normalization {
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

/** MNIST train statistics (the usual 0.1307 / 0.3081). */
export const MNIST_NORMALIZATION: Normalization = Object.freeze({ mean: [0.1307], std: [0.3081] });
/**
 * CIFAR-10 train statistics (R, G, B). NOTE: the std is the true per-channel std over all
 * pixels; the often-copied (0.2023, 0.1994, 0.2010) is a mean of per-image stds.
 */
export const CIFAR10_NORMALIZATION: Normalization = Object.freeze({ mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] });
/** CIFAR-100 train statistics (R, G, B), for fine and coarse labels alike. */
export const CIFAR100_NORMALIZATION: Normalization = Object.freeze({ mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762] });

/** ImageNet train statistics (R, G, B): torchvision's constants, the standard for image folders. */
export const IMAGENET_NORMALIZATION: Normalization = Object.freeze({ mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });

/**
 * The standard constants for a dataset family (`mnist`, `cifar10`, `cifar100`, `cifar100-coarse`,
 * `imagefolder`: ImageNet's), or null when there are none.
 * @example standardNormalization('cifar10')?.mean // [0.4914, 0.4822, 0.4465]
 */
export function standardNormalization(name: string): Normalization | null {
  if (name === 'mnist') return MNIST_NORMALIZATION;
  if (name === 'cifar10') return CIFAR10_NORMALIZATION;
  if (name === 'cifar100' || name === 'cifar100-coarse') return CIFAR100_NORMALIZATION;
  if (name === 'imagefolder') return IMAGENET_NORMALIZATION;
  return null;
}

/**
 * Per-channel mean and (population) std of a dataset's pixels scaled to [0, 1], computed from
 * channel histograms (exact, one pass).
 * @example computeNormalization(loadMnist({ split: 'train' })).mean[0] // ≈ 0.1307
 */
export function computeNormalization(ds: Dataset): Normalization {
  const { channels, height, width, images, size } = ds;
  const plane = height * width;
  const hist = new Float64Array(channels * 256);
  for (let i = 0; i < size; i++) {
    for (let c = 0; c < channels; c++) {
      const base = (i * channels + c) * plane;
      const h = c * 256;
      for (let p = 0; p < plane; p++) hist[h + images[base + p]]++;
    }
  }
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < channels; c++) {
    let n = 0;
    let s = 0;
    let s2 = 0;
    for (let v = 0; v < 256; v++) {
      const k = hist[c * 256 + v];
      const x = v / 255;
      n += k;
      s += k * x;
      s2 += k * x * x;
    }
    const m = n > 0 ? s / n : 0;
    mean.push(m);
    std.push(Math.sqrt(Math.max(0, n > 0 ? s2 / n - m * m : 0)));
  }
  return { mean, std };
}

/**
 * A lookup table `lut[c·256 + v] = (v/255 − mean[c]) / std[c]` that turns uint8 pixels into
 * normalised float32 in one indexed load.
 */
export function normalizationTable(norm: Normalization, channels: number): Float32Array {
  if (norm.mean.length !== channels || norm.std.length !== channels) {
    throw new ValueError('normalize', `expected ${channels} per-channel means and stds, got ${norm.mean.length} means and ${norm.std.length} stds`);
  }
  const lut = new Float32Array(channels * 256);
  for (let c = 0; c < channels; c++) {
    const sd = norm.std[c];
    if (!(sd > 0)) throw new ValueError('normalize', `std of channel ${c} must be > 0, got ${sd}`);
    for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v / 255 - norm.mean[c]) / sd;
  }
  return lut;
}

// ---------------------------------------------------------------- augmentation

/** A `[C, H, W]` image view: uint8 pixels or float32 values, any strides and offset. */
export type ImageView = ndarray.NdArray<Uint8Array> | ndarray.NdArray<Float32Array>;

/**
 * An `[C, H, W]` view of sample `index` of a dataset's pixel array (no copy).
 * @example imageView(ds, 0).get(0, 14, 14)
 */
export function imageView(ds: Dataset, index: number): ndarray.NdArray<Uint8Array> {
  const { channels: c, height: h, width: w } = ds;
  return ndarray(ds.images, [c, h, w], [h * w, w, 1], index * c * h * w);
}

function dims3(v: ImageView, op: string): [number, number, number] {
  if (v.shape.length !== 3) throw new ValueError(op, `expected a [C, H, W] view, got shape [${v.shape.join(', ')}]`);
  return [v.shape[0], v.shape[1], v.shape[2]];
}

/**
 * Writes `dst(c, y, x) = src(c, y + dy, x + dx)`, zero where that falls outside `src`: the crop
 * at offset `(dy, dx)` of `src` padded with zeros. Offset (0, 0) copies. Shapes must match.
 * @example cropInto(src, dst, -2, 3)
 */
export function cropInto(src: ImageView, dst: ImageView, dy: number, dx: number): void {
  const [C, H, W] = dims3(src, 'cropInto');
  const [C2, H2, W2] = dims3(dst, 'cropInto');
  if (C !== C2 || H !== H2 || W !== W2) throw new ValueError('cropInto', `src [${C}, ${H}, ${W}] and dst [${C2}, ${H2}, ${W2}] must have the same shape`);
  if (!Number.isInteger(dy) || !Number.isInteger(dx)) throw new ValueError('cropInto', `offsets must be integers, got (${dy}, ${dx})`);
  const sd = src.data;
  const dd = dst.data;
  const [sc, sy, sx] = src.stride;
  const [tc, ty, tx] = dst.stride;
  // Loops over raw strides rather than get/set: a view is only a (data, stride, offset) description.
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) {
      const yy = y + dy;
      const rowOut = dst.offset + c * tc + y * ty;
      if (yy < 0 || yy >= H) {
        for (let x = 0; x < W; x++) dd[rowOut + x * tx] = 0;
        continue;
      }
      const rowIn = src.offset + c * sc + yy * sy;
      for (let x = 0; x < W; x++) {
        const xx = x + dx;
        dd[rowOut + x * tx] = xx >= 0 && xx < W ? sd[rowIn + xx * sx] : 0;
      }
    }
  }
}

/**
 * Random crop with zero padding `padding` (pad 4 for CIFAR): draws `dy`, `dx` uniformly in
 * [−padding, padding] (dy first) and crops `src` into `dst`. Returns the offsets.
 * @example randomCrop(src, dst, 4, rng)
 */
export function randomCrop(src: ImageView, dst: ImageView, padding: number, rng: Rng): { dy: number; dx: number } {
  if (!Number.isInteger(padding) || padding < 0) throw new ValueError('randomCrop', `padding must be an integer >= 0, got ${padding}`);
  const dy = rng.int(2 * padding + 1) - padding;
  const dx = rng.int(2 * padding + 1) - padding;
  cropInto(src, dst, dy, dx);
  return { dy, dx };
}

/**
 * Mirrors the image left–right in place.
 * @example horizontalFlip(view); horizontalFlip(view); // back to the original
 */
export function horizontalFlip(img: ImageView): void {
  const [C, H, W] = dims3(img, 'horizontalFlip');
  const d = img.data;
  const [sc, sy, sx] = img.stride;
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) {
      const row = img.offset + c * sc + y * sy;
      for (let x = 0, z = W - 1; x < z; x++, z--) {
        const a = row + x * sx;
        const b = row + z * sx;
        const t = d[a];
        d[a] = d[b];
        d[b] = t;
      }
    }
  }
}

/**
 * Flips with probability `p` (one draw). Returns whether it flipped.
 * @example randomHorizontalFlip(view, rng)
 */
export function randomHorizontalFlip(img: ImageView, rng: Rng, p = 0.5): boolean {
  const flip = rng.uniform() < p;
  if (flip) horizontalFlip(img);
  return flip;
}

/**
 * Cutout (DeVries & Taylor 2017): for each of `holes` holes, draws a centre (y then x) anywhere
 * in the image and sets the square `[y − ⌊L/2⌋, y + ⌊L/2⌋) × [x − ⌊L/2⌋, x + ⌊L/2⌋)`, clipped to
 * the image, to `fill` in every channel. Applied after normalisation, fill 0 is the mean, as in
 * the paper. Returns the centres.
 * @example cutout(normalisedView, 1, 16, rng)
 */
export function cutout(img: ImageView, holes: number, length: number, rng: Rng, fill = 0): Array<{ y: number; x: number }> {
  const [C, H, W] = dims3(img, 'cutout');
  if (!Number.isInteger(holes) || holes < 0) throw new ValueError('cutout', `holes must be an integer >= 0, got ${holes}`);
  if (!Number.isInteger(length) || length < 0) throw new ValueError('cutout', `length must be an integer >= 0, got ${length}`);
  const d = img.data;
  const [sc, sy, sx] = img.stride;
  const half = Math.floor(length / 2);
  const centres: Array<{ y: number; x: number }> = [];
  for (let h = 0; h < holes; h++) {
    const cy = rng.int(H);
    const cx = rng.int(W);
    centres.push({ y: cy, x: cx });
    const y1 = Math.max(0, cy - half);
    const y2 = Math.min(H, cy + half);
    const x1 = Math.max(0, cx - half);
    const x2 = Math.min(W, cx + half);
    for (let c = 0; c < C; c++) {
      for (let y = y1; y < y2; y++) {
        const row = img.offset + c * sc + y * sy;
        for (let x = x1; x < x2; x++) d[row + x * sx] = fill;
      }
    }
  }
  return centres;
}

/** Which augmentations a loader applies to each training sample, in this order. */
export interface AugmentConfig {
  /** Random crop with this much zero padding (before normalisation). */
  cropPadding?: number;
  /** Random horizontal flip with probability 0.5 (before normalisation). */
  flip?: boolean;
  /** Cutout holes of side `length` (after normalisation, so the holes hold the mean). */
  cutout?: { holes: number; length: number };
}

/** The standard CIFAR training augmentation: pad-4 random crop and horizontal flip. */
export const CIFAR_AUGMENT: AugmentConfig = Object.freeze({ cropPadding: 4, flip: true });
