/**
 * The seeded batch iterator. Each epoch draws one 32-bit epoch seed from the loader's `Rng`;
 * the epoch's permutation comes from that seed and each batch's augmentation draws from
 * `(epoch seed, batch index)`. So a saved state `{ epoch, batch, epochSeed, rng }` regenerates
 * the exact next batch after a resume without replaying the epoch, and the same seed gives
 * identical batches.
 */
import { ValueError } from '../base/errors.js';
import { Rng } from '../base/rng.js';
import { Tensor } from '../engine/tensor.js';
import ndarray from 'ndarray';
import { isStreaming, type AnyDataset } from './dataset.js';
import {
  computeNormalization, cropInto, cutout, normalizationTable, randomCrop, randomHorizontalFlip,
  standardNormalization, type AugmentConfig, type Normalization,
} from './transforms.js';

/** One batch. */
export interface Batch {
  /** `[size, C, H, W]` normalised float32. Unless `copy` is set, it shares the loader's buffer: valid until the next batch. */
  x: Tensor;
  /** `size` labels (shares the loader's buffer unless `copy`). */
  labels: Int32Array;
  /**
   * Number of samples: the batch size, or fewer for the last batch when `dropLast` is false, or
   * when a streamed dataset skipped unreadable images.
   */
  size: number;
  /** Dataset indices of the samples, in batch order (shares the loader's buffer unless `copy`). */
  indices: Int32Array;
}

/** Options of {@link DataLoader}. */
export interface DataLoaderOptions {
  batchSize: number;
  /** A fresh seeded permutation every epoch (default true); false keeps dataset order. */
  shuffle?: boolean;
  /** Per-sample augmentation (training only); none by default. */
  augment?: AugmentConfig;
  /**
   * Per-channel normalisation; default: the standard constants of the dataset family
   * ({@link standardNormalization}), else computed from the data. `false`: only scale to [0, 1].
   */
  normalize?: Normalization | false;
  /** Source of every draw; pass `rng.fork()` to keep the loader's stream separate. */
  rng: Rng;
  /** Skip the last incomplete batch (default false). */
  dropLast?: boolean;
  /** Yield freshly allocated arrays instead of the reused buffers (default false). */
  copy?: boolean;
}

/** Serialisable position of a loader (JSON-safe numbers only). */
export interface DataLoaderState {
  /** Completed epochs. */
  epoch: number;
  /** Index of the next batch within the current epoch. */
  batch: number;
  /** Seed of the current epoch, or null when the next batch starts a new epoch. */
  epochSeed: number | null;
  /** The loader's `Rng` state ({@link Rng.getState}). */
  rng: number[];
}

/**
 * Seeded mini-batch iterator over a {@link Dataset}. Iterating yields the remaining batches of
 * the current epoch; iterate again for the next epoch. Batches fill preallocated buffers that
 * are reused: a yielded `x` is only valid until the next batch (set `copy: true` to keep them).
 * @example
 * const loader = new DataLoader(train, { batchSize: 128, shuffle: true, augment: CIFAR_AUGMENT, rng: rng.fork() });
 * for (let e = 0; e < epochs; e++) for (const { x, labels } of loader) step(x, labels);
 */
export class DataLoader implements Iterable<Batch> {
  readonly dataset: AnyDataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly copy: boolean;
  readonly augment: AugmentConfig | null;
  /** The normalisation in use (null: pixels scaled to [0, 1] only). */
  readonly normalization: Normalization | null;
  private readonly rng: Rng;
  private readonly lut: Float32Array;
  private readonly xBuffer: Float32Array;
  private readonly labelBuffer: Int32Array;
  private readonly indexBuffer: Int32Array;
  /** Uint8 scratch image a streamed dataset decodes into. */
  private readonly scratch: Uint8Array;
  /** Uint8 scratch image for crop/flip before normalisation. */
  private readonly augScratch: Uint8Array;
  private epochIndex = 0;
  private batchIndex = 0;
  private epochSeed: number | null = null;
  private order: Int32Array | null = null;

  constructor(dataset: AnyDataset, opts: DataLoaderOptions) {
    const { batchSize } = opts;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new ValueError('DataLoader', `batchSize must be a positive integer, got ${batchSize}`);
    if (!(opts.rng instanceof Rng)) throw new ValueError('DataLoader', 'rng must be an Rng (pass new Rng(seed) or rng.fork())');
    if (dataset.size === 0) throw new ValueError('DataLoader', `dataset ${dataset.name}/${dataset.split} is empty`);
    this.dataset = dataset;
    this.batchSize = batchSize;
    this.shuffle = opts.shuffle ?? true;
    this.dropLast = opts.dropLast ?? false;
    this.copy = opts.copy ?? false;
    this.augment = opts.augment ?? null;
    this.rng = opts.rng;
    if (this.dropLast && dataset.size < batchSize) {
      throw new ValueError('DataLoader', `dropLast with batchSize ${batchSize} > ${dataset.size} samples would yield no batches; lower batchSize or set dropLast: false`);
    }
    const { channels, height, width } = dataset;
    const standard = standardNormalization(dataset.name);
    if (opts.normalize === undefined && standard === null && isStreaming(dataset)) {
      throw new ValueError('DataLoader', `dataset ${dataset.name} is streamed: give its normalisation (it cannot be computed without reading every image)`);
    }
    this.normalization = opts.normalize === false ? null : (opts.normalize ?? standard ?? computeNormalization(dataset as Exclude<AnyDataset, { streaming: true }>));
    this.lut = normalizationTable(this.normalization ?? { mean: new Array<number>(channels).fill(0), std: new Array<number>(channels).fill(1) }, channels);
    const sample = channels * height * width;
    this.xBuffer = new Float32Array(batchSize * sample);
    this.labelBuffer = new Int32Array(batchSize);
    this.indexBuffer = new Int32Array(batchSize);
    this.scratch = new Uint8Array(sample);
    this.augScratch = new Uint8Array(sample);
  }

  /** Batches in one full epoch. */
  get batchesPerEpoch(): number {
    const n = this.dataset.size / this.batchSize;
    return this.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** Completed epochs. */
  get epoch(): number {
    return this.epochIndex;
  }

  /** The position, for a checkpoint. */
  getState(): DataLoaderState {
    return { epoch: this.epochIndex, batch: this.batchIndex, epochSeed: this.epochSeed, rng: this.rng.getState() };
  }

  /** Restores a position from {@link getState}: the next batch is the one that would have followed. */
  setState(state: DataLoaderState): void {
    const { epoch, batch, epochSeed } = state;
    if (!Number.isInteger(epoch) || epoch < 0 || !Number.isInteger(batch) || batch < 0 || batch > this.batchesPerEpoch) {
      throw new ValueError('DataLoader.setState', `expected epoch >= 0 and batch in [0, ${this.batchesPerEpoch}], got epoch ${epoch} batch ${batch}`);
    }
    if (epochSeed === null && batch !== 0) throw new ValueError('DataLoader.setState', `a state mid-epoch (batch ${batch}) needs its epochSeed`);
    this.rng.setState(state.rng);
    this.epochIndex = epoch;
    this.batchIndex = batch;
    this.epochSeed = epochSeed;
    this.order = epochSeed === null ? null : this.permutationFor(epochSeed);
  }

  /** Yields the remaining batches of the current epoch. */
  *[Symbol.iterator](): Iterator<Batch> {
    const total = this.batchesPerEpoch;
    if (this.epochSeed === null || this.order === null) {
      this.epochSeed = this.rng.nextUint32();
      this.order = this.permutationFor(this.epochSeed);
      this.batchIndex = 0;
    }
    const order = this.order;
    const seed = this.epochSeed;
    while (this.batchIndex < total) {
      const b = this.batchIndex;
      const start = b * this.batchSize;
      const size = Math.min(this.batchSize, this.dataset.size - start);
      const streamed = isStreaming(this.dataset);
      const batch = this.fill(order, start, size, this.augment === null && !streamed ? null : new Rng((seed ^ Math.imul(b + 1, 0x9e3779b1)) >>> 0));
      // Advance before yielding, so a state saved while the caller holds batch b points at b + 1,
      // and the epoch rolls over as soon as its last batch is handed out.
      if (b + 1 < total) this.batchIndex = b + 1;
      else this.endEpoch();
      // A batch whose every image was skipped as unreadable is not handed out.
      if (batch.size > 0) yield batch;
      if (this.epochSeed !== seed) return;
    }
  }

  private endEpoch(): void {
    this.epochIndex++;
    this.batchIndex = 0;
    this.epochSeed = null;
    this.order = null;
  }

  private permutationFor(seed: number): Int32Array {
    if (this.shuffle) return new Rng(seed).permutation(this.dataset.size);
    const o = new Int32Array(this.dataset.size);
    for (let i = 0; i < o.length; i++) o[i] = i;
    return o;
  }

  /**
   * Normalises (and augments) samples `order[start .. start+size)` into the batch buffers; a
   * streamed dataset decodes each of them here, one at a time, into the scratch image.
   */
  private fill(order: Int32Array, start: number, count: number, augRng: Rng | null): Batch {
    const ds = this.dataset;
    const { channels: C, height: H, width: W, labels } = ds;
    const streamed = isStreaming(ds) ? ds : null;
    const images = streamed === null ? (ds as { images: Uint8Array }).images : this.scratch;
    const plane = H * W;
    const sample = C * plane;
    const lut = this.lut;
    const x = this.xBuffer;
    const aug = this.augment;
    let size = 0;
    for (let k = 0; k < count; k++) {
      const i = order[start + k];
      let src = images;
      let srcOffset = i * sample;
      if (streamed !== null) {
        // Samples the dataset skips as unreadable leave no hole: the batch just gets smaller.
        if (!streamed.readSample(i, this.scratch, augRng as Rng)) continue;
        srcOffset = 0;
      }
      this.indexBuffer[size] = i;
      this.labelBuffer[size] = labels[i];
      if (aug !== null && augRng !== null && (aug.cropPadding !== undefined || aug.flip === true)) {
        const from = ndarray(src, [C, H, W], [plane, W, 1], srcOffset);
        const to = ndarray(this.augScratch, [C, H, W]);
        if (aug.cropPadding !== undefined && aug.cropPadding > 0) randomCrop(from, to, aug.cropPadding, augRng);
        else cropInto(from, to, 0, 0);
        if (aug.flip === true) randomHorizontalFlip(to, augRng);
        src = this.augScratch;
        srcOffset = 0;
      }
      const out = size * sample;
      for (let c = 0; c < C; c++) {
        const t = c * 256;
        const o = out + c * plane;
        const s = srcOffset + c * plane;
        for (let p = 0; p < plane; p++) x[o + p] = lut[t + src[s + p]];
      }
      if (aug?.cutout !== undefined && augRng !== null) {
        cutout(ndarray(x, [C, H, W], [plane, W, 1], out), aug.cutout.holes, aug.cutout.length, augRng);
      }
      size++;
    }
    const n = size * sample;
    const xs = this.copy ? x.slice(0, n) : x.subarray(0, n);
    return {
      x: new Tensor(xs, [size, C, H, W]),
      labels: this.copy ? this.labelBuffer.slice(0, size) : this.labelBuffer.subarray(0, size),
      indices: this.copy ? this.indexBuffer.slice(0, size) : this.indexBuffer.subarray(0, size),
      size,
    };
  }
}
