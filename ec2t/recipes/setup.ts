/**
 * What every run sets up before its recipe starts: seeded generator streams, dataset splits with
 * the validation hold-out, a model for the data's geometry, and float weights read and loaded with
 * clear errors. The recipes of whole runs ({@link trainRun}, {@link ternarizeRun}) and the commands
 * that only evaluate or predict share these.
 */
import { nodeServices } from '../../base/platform.js';
import { Rng } from '../../base/rng.js';
import { FormatError, IoError, ShapeError, UsageError } from '../../base/errors.js';
import { ImageFolderDataset, loadDataset, loadImageFolder, splitValidation, subset, type AnyDataset, type DatasetName } from '../../datasets/index.js';
import { createModel, type ModelName } from '../../nn/models/index.js';
import { stripDataParallelPrefix, type Module } from '../../nn/module.js';
import { mobileNetV2UsesCifarStrides } from '../../nn/models/mobilenetv2.js';
import { loadSafetensors, entryToTensor, type SafetensorEntry } from '../../nn/safetensors.js';
import { inferModelOptions } from '../export.js';

/** Where a recipe says something worth a line of the log (a note, not an error). */
export type NoteSink = (line: string) => void;

const silent: NoteSink = () => {};

/** Independent generator streams derived from one seed, so adding draws to one never shifts another. */
export interface SeedStreams {
  split: Rng;
  model: Rng;
  loader: Rng;
}

/** The generator streams of a run with `seed`. */
export function seedStreams(seed: number): SeedStreams {
  const root = new Rng(seed);
  return { split: root.fork(), model: root.fork(), loader: root.fork() };
}

/** Train / validation / test splits of a dataset. */
export interface DataSplits {
  train: AnyDataset;
  val: AnyDataset | null;
  test: AnyDataset;
}

/** Which data a run reads (the dataset options of `ec2t train / ternarize / eval / scale`). */
export interface DataOptions {
  dataset: DatasetName | 'imagefolder';
  /** Folder of the dataset files (MNIST: the embedded copy when absent). */
  data?: string;
  /** Images held out of the training set for validation (default {@link defaultValSize}). */
  valSize?: number;
  /** Image side: the crop size of an image folder; MobileNetV2's strides otherwise. */
  inputSize?: number;
  /** Image folder: skip unreadable images (counted) instead of stopping. */
  skipBadImages?: boolean;
  /** Image folder: no random resized crop and flip on the training split. */
  noAugment?: boolean;
  /** Train on the first N training images only. */
  limitTrain?: number;
}

/** Default validation hold-out per dataset (an image folder's val/ is its test set; nothing is held out). */
export function defaultValSize(name: string): number {
  return name === 'imagefolder' ? 0 : 5000;
}

/**
 * Loads a dataset's splits. The validation set is drawn from the training set with the seed's
 * split stream, so `train` and `eval --split val` with the same seed agree.
 * @example const data = loadSplits({ dataset: 'mnist', limitTrain: 2000 }, seedStreams(3));
 */
export function loadSplits(o: DataOptions, streams: SeedStreams, note: NoteSink = silent): DataSplits {
  const name = o.dataset;
  const dir = o.data;
  if (name === 'imagefolder' && dir === undefined) {
    throw new UsageError('--dataset imagefolder needs --data DIR: a folder holding train/ and val/, each with one subfolder of JPEG/PNG images per class');
  }
  if (name !== 'mnist' && dir === undefined) {
    throw new UsageError(`--dataset ${name} needs --data DIR: a folder with the official binary files (${name === 'cifar10' ? 'data_batch_1.bin … data_batch_5.bin, test_batch.bin' : 'train.bin, test.bin'}); nothing is downloaded`);
  }
  if (dir !== undefined && !nodeServices(dir).fs.existsSync(dir)) throw new UsageError(`--data ${dir}: no such folder`);
  if (name !== 'imagefolder' && o.skipBadImages === true) throw new UsageError('--skip-bad-images applies to --dataset imagefolder only');
  let fullTrain: AnyDataset;
  let test: AnyDataset;
  if (name === 'imagefolder') {
    const common = { root: dir as string, imageSize: o.inputSize ?? 224, skipBadImages: o.skipBadImages === true };
    const tr = loadImageFolder({ ...common, split: 'train', augment: o.noAugment !== true });
    const te = loadImageFolder({ ...common, split: 'test', augment: false, classNames: tr.dataset.classNames });
    const ignored = [...tr.ignored, ...te.ignored];
    if (ignored.length > 0) note(`note: ignored ${ignored.length} file(s) that are not .jpg, .jpeg or .png (first: ${ignored[0]})`);
    fullTrain = tr.dataset;
    test = te.dataset;
  } else {
    fullTrain = loadDataset({ name, split: 'train', dir });
    test = loadDataset({ name, split: 'test', dir });
  }
  const valSize = o.valSize ?? defaultValSize(name);
  let train = fullTrain;
  let val: AnyDataset | null = null;
  if (valSize > 0) {
    if (valSize >= fullTrain.size) throw new UsageError(`--val-size ${valSize} must be smaller than the training set (${fullTrain.size} images)`);
    const s = splitValidation(fullTrain, { count: valSize, rng: streams.split });
    train = s.train;
    val = s.validation;
  }
  const limit = o.limitTrain;
  if (limit !== undefined && limit < train.size) train = subset(train, Array.from({ length: limit }, (_, i) => i), `${train.split}/first${limit}`);
  return { train, val, test };
}

/**
 * `inputSize` of a run against its data: with an image folder it is the crop size itself; with
 * the fixed-size datasets it only chooses MobileNetV2's strides, so for any other model it must
 * equal the images' side.
 */
export function checkInputSize(o: { model: string; dataset: string; inputSize?: number }, data: { height: number }): number | undefined {
  const size = o.inputSize;
  if (size !== undefined && o.model !== 'mobilenetv2' && size !== data.height) {
    throw new UsageError(`--input-size ${size}: the ${o.dataset} images are ${data.height} px; there --input-size only chooses mobilenetv2's strides (it sets the crop size with --dataset imagefolder)`);
  }
  return size;
}

/**
 * Whether MobileNetV2 runs with its CIFAR strides — the one rule every command follows
 * ({@link mobileNetV2UsesCifarStrides}: ≤ 64 px). `inputSize` is `--input-size` when given; else
 * the caller chooses from `seen`, the side it sees (its data, its input tensor, its default), and
 * `note` says so in one line.
 * @example mobileNetV2Cifar(undefined, 32, console.error) // true, and a note
 */
export function mobileNetV2Cifar(inputSize: number | undefined, seen: number, note: NoteSink = silent): boolean {
  const side = inputSize ?? seen;
  const cifar = mobileNetV2UsesCifarStrides(side);
  if (inputSize === undefined) {
    note(cifar
      ? `note: mobilenetv2 uses CIFAR strides (stride-1 stem and second stage) for ${side} px inputs (≤ 64); --input-size 224 selects the ImageNet strides`
      : `note: mobilenetv2 uses ImageNet strides for ${side} px inputs (> 64); --input-size 32 selects the CIFAR strides`);
  }
  return cifar;
}

/**
 * The images `skipBadImages` skipped in these splits, each file once (empty when none).
 * @example const files = skippedImages(data);
 */
export function skippedImages(data: DataSplits): string[] {
  const files = new Set<string>();
  for (const ds of [data.train, data.val, data.test]) if (ds instanceof ImageFolderDataset) for (const f of ds.skipped) files.add(f);
  return [...files];
}

/** The one-line note on images skipped in `data`, or null when none were. */
export function skippedImagesNote(data: DataSplits): string | null {
  const files = skippedImages(data);
  return files.length > 0 ? `skipped ${files.length} unreadable image(s) (--skip-bad-images), first: ${files[0]}` : null;
}

/**
 * Builds a model for a dataset's geometry. MobileNetV2's strides follow `inputSize` or else the
 * data's side ({@link mobileNetV2Cifar}, which tells `note`), unless `extra.cifar` says.
 * @example const net = buildModel('lenet5', data.train, streams.model);
 */
export function buildModel(name: string, data: { classes: number; channels: number; height: number }, rng: Rng, extra: Record<string, unknown> = {}, inputSize?: number, note: NoteSink = silent): Module {
  const opts: Record<string, unknown> = { numClasses: data.classes, inChannels: data.channels, rng, ...extra };
  if (name === 'lenet5') opts.inputSize = data.height;
  if (name === 'mobilenetv2' && extra.cifar === undefined) opts.cifar = mobileNetV2Cifar(inputSize, data.height, note);
  // EfficientNet's "same" padding is computed for the image size it runs at (the authors pass theirs).
  if ((name === 'efficientnet-b0' || name === 'efficientnet-b1') && data.height > 0 && opts.imageSize === undefined) opts.imageSize = data.height;
  return createModel(name as ModelName, opts);
}

/**
 * The architecture options a state dict's shapes say (MicroNet stage channels and blocks,
 * MobileNetV2 width, …: `inferModelOptions`, the reader predict, score and export use), minus the
 * ones the data decides, after checking that its input channels and classes fit the data.
 * `classes` undefined: any class count (`predict`).
 * @example const { options } = architectureOfWeights('micronet', sd, 'best.safetensors', { channels: 3, classes: 10 });
 */
export function architectureOfWeights(name: string, sd: Map<string, SafetensorEntry>, source: string, data: { channels: number; classes?: number }): { numClasses: number; options: Record<string, unknown> } {
  const { numClasses, inChannels, inputSize: _s, cifar: _c, ...options } = inferModelOptions(name, sd, source);
  if (inChannels !== data.channels) throw new ShapeError('weights', `${source}: the weights take ${String(inChannels)} input channel(s), the data has ${data.channels}`);
  if (data.classes !== undefined && numClasses !== data.classes) throw new ShapeError('weights', `${source}: the weights have ${String(numClasses)} classes, the data has ${data.classes}`);
  return { numClasses: numClasses as number, options };
}

/**
 * Checks that `path` names a file to read before a reader opens it: a missing path is a
 * {@link FormatError} saying `what` was not found, a folder an {@link IoError}.
 * @example requireFile('best.safetensors', 'weights file')
 */
export function requireFile(path: string, what: string): void {
  const { fs } = nodeServices(path);
  if (!fs.existsSync(path)) throw new FormatError(path, `${what} not found`);
  if (fs.statSync(path).isDirectory()) throw new IoError(path, `cannot read the ${what}: it is a folder, not a file`);
}

/**
 * The tensors of a weights file, with a clear error when it is missing; a DataParallel `module.`
 * prefix on every key is stripped (the authors' checkpoints carry it), so shapes read by name.
 * @example const sd = readWeights('runs/lenet5/best.safetensors');
 */
export function readWeights(path: string): Map<string, SafetensorEntry> {
  requireFile(path, 'weights file');
  return new Map(stripDataParallelPrefix([...loadSafetensors(path).tensors]));
}

/**
 * Loads float weights (safetensors, PyTorch names) into `model` with an error listing every
 * mismatch; `tensors`: the file's tensors when already read ({@link readWeights}).
 * @example loadWeightsInto(net, 'runs/lenet5/best.safetensors');
 */
export function loadWeightsInto(model: Module, path: string, tensors?: Map<string, SafetensorEntry>): void {
  const file = { tensors: tensors ?? readWeights(path) };
  const params = new Map<string, ReturnType<typeof entryToTensor>>();
  // A ternary.safetensors holds Wt in `weight` plus sibling keys; the siblings are not parameters.
  const ternaryLayers = new Set([...file.tensors.keys()].filter((k) => k.endsWith('.assignment')).map((k) => k.slice(0, -'.assignment'.length)));
  for (const [k, e] of file.tensors) {
    const dot = k.lastIndexOf('.');
    if (ternaryLayers.has(k.slice(0, dot)) && ['w_p', 'w_n', 'assignment'].includes(k.slice(dot + 1))) continue;
    params.set(k, entryToTensor(e));
  }
  model.loadStateDict(params, { strict: true });
}

/**
 * A timestamped default run folder name, `runs/<parts>-<UTC time>`.
 * @example defaultRunDir(['lenet5', 'mnist']) // 'runs/lenet5-mnist-2026-01-01_12-00-00'
 */
export function defaultRunDir(parts: string[]): string {
  const ts = new Date().toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19);
  return `runs/${parts.join('-')}-${ts}`;
}
