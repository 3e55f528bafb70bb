/**
 * The in-memory image classification dataset the MNIST and CIFAR loaders produce: uint8 pixels
 * kept compactly (N·C·H·W, planar, row-major) and int32 labels; and the streamed one an image
 * folder gives (files decoded per batch). Float conversion and normalisation happen per
 * batch in the {@link DataLoader}, so a 50 000-image CIFAR train set costs 150 MB, not 600 MB.
 */
import { FormatError, ValueError } from '../base/errors.js';
import { platform } from '../base/platform.js';
import type { Rng } from '../base/rng.js';

/**
 * A corrupt, truncated, mismatched or missing dataset file. `file` names it; the message says
 * what was expected, what was found and, for missing files, how to provide them.
 */
export class DatasetError extends FormatError {
  /**
   * @param file the file (or folder) at fault
   * @param detail what was expected and what was found
   * @param hint how to fix it, appended to the message
   */
  constructor(
    file: string,
    detail: string,
    public readonly hint?: string,
  ) {
    super(file, hint === undefined ? detail : `${detail}. ${hint}`);
  }
}

/** An image classification dataset held in memory. */
export interface Dataset extends DatasetInfo {
  /** N·C·H·W pixels in 0..255, sample-major, planar channels, row-major rows. */
  readonly images: Uint8Array;
}

/**
 * A dataset read sample by sample (an image folder): only the file list and labels stay in
 * memory; the loader asks for the samples of one batch at a time.
 */
export interface StreamingDataset extends DatasetInfo {
  readonly streaming: true;
  /**
   * Writes sample `index` as C·H·W uint8 into `out` (its transforms applied, drawing from `rng`
   * when they are random). Returns false when the sample is unreadable and the dataset skips such
   * samples; otherwise an unreadable one throws a {@link DatasetError} naming its file.
   */
  readSample(index: number, out: Uint8Array, rng: Rng): boolean;
  /** The samples at `indices` as a new dataset; `evaluation` switches to the evaluation transforms. */
  subset(indices: ArrayLike<number>, split: string, evaluation?: boolean): StreamingDataset;
}

/** Any dataset the loader iterates. */
export type AnyDataset = Dataset | StreamingDataset;

/** True for a {@link StreamingDataset}. */
export function isStreaming(ds: AnyDataset): ds is StreamingDataset {
  return (ds as Partial<StreamingDataset>).streaming === true;
}

/** Fields every dataset has, whether held in memory or streamed. */
export interface DatasetInfo {
  /** Family, e.g. `mnist`, `cifar10`, `cifar100`, `cifar100-coarse`; picks standard normalisation. */
  readonly name: string;
  /** Which part: `train`, `test`, or a derived split such as `train/val`. */
  readonly split: string;
  /** Number of samples N. */
  readonly size: number;
  /** Number of classes; every label is in [0, classes). */
  readonly classes: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  /** N labels. */
  readonly labels: Int32Array;
  /** Short stable content hash (16 hex digits of SHA-256; in memory: over dims, pixels and labels), for run manifests. */
  fingerprint(): string;
}

/** Fields of {@link createDataset}. */
export interface DatasetSpec {
  name: string;
  split: string;
  classes: number;
  channels: number;
  height: number;
  width: number;
  images: Uint8Array;
  labels: Int32Array;
}

/**
 * Wraps pixel and label arrays (not copied) as a {@link Dataset}, checking that sizes agree and
 * labels are in range.
 * @example createDataset({ name: 'toy', split: 'train', classes: 2, channels: 1, height: 2, width: 2, images: new Uint8Array(8), labels: Int32Array.of(0, 1) })
 */
export function createDataset(spec: DatasetSpec): Dataset {
  const { name, split, classes, channels, height, width, images, labels } = spec;
  for (const [k, v] of [['classes', classes], ['channels', channels], ['height', height], ['width', width]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new ValueError('createDataset', `${k} must be a positive integer, got ${v}`);
  }
  const sampleBytes = channels * height * width;
  const size = labels.length;
  if (images.length !== size * sampleBytes) {
    throw new ValueError('createDataset', `${size} labels need ${size}×${channels}×${height}×${width} = ${size * sampleBytes} pixels, got ${images.length}`);
  }
  for (let i = 0; i < size; i++) {
    const l = labels[i];
    if (l < 0 || l >= classes) throw new ValueError('createDataset', `label ${i} is ${l}, expected an integer in [0, ${classes})`);
  }
  let cached: string | null = null;
  return {
    name, split, size, classes, channels, height, width, images, labels,
    fingerprint(): string {
      if (cached === null) {
        cached = platform().sha256Hex([Int32Array.of(size, channels, height, width, classes), images, labels]).slice(0, 16);
      }
      return cached;
    },
  };
}

/**
 * The samples at `indices` (in that order) as a new compact dataset.
 * @example const firstTen = subset(ds, Int32Array.from({ length: 10 }, (_, i) => i), 'train/head');
 */
export function subset<D extends AnyDataset>(ds: D, indices: ArrayLike<number>, split?: string): D;
export function subset(ds: AnyDataset, indices: ArrayLike<number>, split = `${ds.split}/subset`): AnyDataset {
  if (isStreaming(ds)) return ds.subset(indices, split);
  const sampleBytes = ds.channels * ds.height * ds.width;
  const images = new Uint8Array(indices.length * sampleBytes);
  const labels = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!Number.isInteger(i) || i < 0 || i >= ds.size) throw new ValueError('subset', `index ${i} at position ${k} is outside [0, ${ds.size})`);
    images.set(ds.images.subarray(i * sampleBytes, (i + 1) * sampleBytes), k * sampleBytes);
    labels[k] = ds.labels[i];
  }
  return createDataset({ ...ds, split, images, labels });
}

/** Options of {@link splitValidation}: exactly one of `fraction` or `count`. */
export interface ValidationSplitOptions {
  /** Share of samples held out, in (0, 1). */
  fraction?: number;
  /** Number of samples held out, in [1, N). */
  count?: number;
  /** Draws the held-out set. */
  rng: Rng;
}

/**
 * Holds out a random validation set (seeded, not stratified). The two parts are disjoint, cover
 * every sample, and keep the original order within each part.
 * @example const { train, validation } = splitValidation(mnistTrain, { count: 5000, rng: new Rng(0) });
 */
export function splitValidation<D extends AnyDataset>(ds: D, opts: ValidationSplitOptions): { train: D; validation: D } {
  const { fraction, count } = opts;
  if ((fraction === undefined) === (count === undefined)) {
    throw new ValueError('splitValidation', `pass exactly one of fraction or count, got fraction=${fraction} count=${count}`);
  }
  let held: number;
  if (fraction !== undefined) {
    if (!(fraction > 0 && fraction < 1)) throw new ValueError('splitValidation', `fraction must be in (0, 1), got ${fraction}`);
    held = Math.round(fraction * ds.size);
  } else {
    held = count!;
  }
  if (!Number.isInteger(held) || held < 1 || held >= ds.size) {
    throw new ValueError('splitValidation', `validation size must be an integer in [1, ${ds.size - 1}] for ${ds.size} samples, got ${held}`);
  }
  const perm = opts.rng.permutation(ds.size);
  const valIdx = perm.slice(0, held).sort();
  const trainIdx = perm.slice(held).sort();
  // A streamed validation part is evaluated, so it takes the evaluation transforms.
  return {
    train: subset(ds, trainIdx, `${ds.split}/train`),
    validation: (isStreaming(ds) ? ds.subset(valIdx, `${ds.split}/val`, true) : subset(ds, valIdx, `${ds.split}/val`)) as D,
  };
}
