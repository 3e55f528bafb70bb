/**
 * Pieces every command shares: seeded generator streams, dataset loading with the validation
 * split, model construction and weight loading with clear errors.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../base/rng.js';
import { FormatError, IoError, ShapeError } from '../base/errors.js';
import { ImageFolderDataset, loadDataset, loadImageFolder, splitValidation, subset, type AnyDataset, type DatasetName } from '../datasets/index.js';
import { createModel, isModelName, type ModelName } from '../nn/models/index.js';
import { stripDataParallelPrefix, type Module } from '../nn/module.js';
import { mobileNetV2UsesCifarStrides } from '../nn/models/mobilenetv2.js';
import { loadSafetensors, entryToTensor, type SafetensorEntry } from '../nn/safetensors.js';
import { inferModelOptions } from '../ec2t/export.js';
import type { CommandSpec, FlagValue } from './args.js';
import { UsageError, flagValueProblem } from './args.js';
import { log } from './progress.js';

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

/** Default validation hold-out per dataset (an image folder's val/ is its test set; nothing is held out). */
export function defaultValSize(name: string): number {
  return name === 'imagefolder' ? 0 : 5000;
}

/**
 * Loads a dataset's splits. The validation set is drawn from the training set with the seed's
 * split stream, so `train` and `eval --split val` with the same seed agree.
 */
export function loadSplits(flags: Record<string, FlagValue>, streams: SeedStreams): DataSplits {
  const name = flags.dataset as DatasetName | 'imagefolder';
  const dir = flags.data as string | undefined;
  if (name === 'imagefolder' && dir === undefined) {
    throw new UsageError('--dataset imagefolder needs --data DIR: a folder holding train/ and val/, each with one subfolder of JPEG/PNG images per class');
  }
  if (name !== 'mnist' && dir === undefined) {
    throw new UsageError(`--dataset ${name} needs --data DIR: a folder with the official binary files (${name === 'cifar10' ? 'data_batch_1.bin … data_batch_5.bin, test_batch.bin' : 'train.bin, test.bin'}); nothing is downloaded`);
  }
  if (dir !== undefined && !existsSync(dir)) throw new UsageError(`--data ${dir}: no such folder`);
  if (name !== 'imagefolder' && flags['skip-bad-images'] === true) throw new UsageError('--skip-bad-images applies to --dataset imagefolder only');
  let fullTrain: AnyDataset;
  let test: AnyDataset;
  if (name === 'imagefolder') {
    const common = { root: dir as string, imageSize: (flags['input-size'] as number | undefined) ?? 224, skipBadImages: flags['skip-bad-images'] === true };
    const tr = loadImageFolder({ ...common, split: 'train', augment: flags['no-augment'] !== true });
    const te = loadImageFolder({ ...common, split: 'test', augment: false, classNames: tr.dataset.classNames });
    const ignored = [...tr.ignored, ...te.ignored];
    if (ignored.length > 0) log(`note: ignored ${ignored.length} file(s) that are not .jpg, .jpeg or .png (first: ${ignored[0]})`);
    fullTrain = tr.dataset;
    test = te.dataset;
  } else {
    fullTrain = loadDataset({ name, split: 'train', dir });
    test = loadDataset({ name, split: 'test', dir });
  }
  const valSize = (flags['val-size'] as number | undefined) ?? defaultValSize(name);
  let train = fullTrain;
  let val: AnyDataset | null = null;
  if (valSize > 0) {
    if (valSize >= fullTrain.size) throw new UsageError(`--val-size ${valSize} must be smaller than the training set (${fullTrain.size} images)`);
    const s = splitValidation(fullTrain, { count: valSize, rng: streams.split });
    train = s.train;
    val = s.validation;
  }
  const limit = flags['limit-train'] as number | undefined;
  if (limit !== undefined && limit < train.size) train = subset(train, Array.from({ length: limit }, (_, i) => i), `${train.split}/first${limit}`);
  return { train, val, test };
}

/**
 * `--input-size` of train / eval / ternarize against the data: with `--dataset imagefolder` it is the
 * crop size itself; with the fixed-size datasets it only chooses MobileNetV2's strides, so for any
 * other model it must equal the images' side.
 */
export function checkInputSize(flags: Record<string, FlagValue>, data: { height: number }): number | undefined {
  const size = flags['input-size'] as number | undefined;
  if (size !== undefined && flags.model !== 'mobilenetv2' && size !== data.height) {
    throw new UsageError(`--input-size ${size}: the ${String(flags.dataset)} images are ${data.height} px; there --input-size only chooses mobilenetv2's strides (it sets the crop size with --dataset imagefolder)`);
  }
  return size;
}

/**
 * Whether MobileNetV2 runs with its CIFAR strides — the one rule every command follows
 * ({@link mobileNetV2UsesCifarStrides}: ≤ 64 px). `inputSize` is `--input-size` when given; else
 * the command chooses from `seen`, the side it sees (its data, its input tensor, its default), and
 * says so in a one-line note on stderr.
 * @example mobileNetV2Cifar(undefined, 32) // true, and a note on stderr
 */
export function mobileNetV2Cifar(inputSize: number | undefined, seen: number): boolean {
  const side = inputSize ?? seen;
  const cifar = mobileNetV2UsesCifarStrides(side);
  if (inputSize === undefined) {
    log(cifar
      ? `note: mobilenetv2 uses CIFAR strides (stride-1 stem and second stage) for ${side} px inputs (≤ 64); --input-size 224 selects the ImageNet strides`
      : `note: mobilenetv2 uses ImageNet strides for ${side} px inputs (> 64); --input-size 32 selects the CIFAR strides`);
  }
  return cifar;
}

/**
 * Says on stderr how many images `--skip-bad-images` skipped in these splits (nothing when none).
 * @returns the count
 */
export function reportSkippedImages(data: DataSplits): number {
  const files = new Set<string>();
  for (const ds of [data.train, data.val, data.test]) if (ds instanceof ImageFolderDataset) for (const f of ds.skipped) files.add(f);
  if (files.size > 0) log(`skipped ${files.size} unreadable image(s) (--skip-bad-images), first: ${[...files][0]}`);
  return files.size;
}

/**
 * Builds a model for a dataset's geometry. MobileNetV2's strides follow `inputSize` (`--input-size`)
 * or else the data's side ({@link mobileNetV2Cifar}), unless `extra.cifar` says.
 */
export function buildModel(name: string, data: { classes: number; channels: number; height: number }, rng: Rng, extra: Record<string, unknown> = {}, inputSize?: number): Module {
  const opts: Record<string, unknown> = { numClasses: data.classes, inChannels: data.channels, rng, ...extra };
  if (name === 'lenet5') opts.inputSize = data.height;
  if (name === 'mobilenetv2' && extra.cifar === undefined) opts.cifar = mobileNetV2Cifar(inputSize, data.height);
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
 * @example requireFile(flags.weights, 'weights file')
 */
export function requireFile(path: string, what: string): void {
  if (!existsSync(path)) throw new FormatError(path, `${what} not found`);
  if (statSync(path).isDirectory()) throw new IoError(path, `cannot read the ${what}: it is a folder, not a file`);
}

/**
 * Whether a `--model` value names a packed ternary model file rather than an architecture: a
 * `.safetensors` name, or an existing file whose name is not a model name (so a stray file called
 * `lenet5` in the working folder does not hide the architecture). `predict` and `bench` both ask here.
 * @example isPackedModelPath('lenet5.ec2t.safetensors') // true
 */
export function isPackedModelPath(model: string): boolean {
  return model.endsWith('.safetensors') || (existsSync(model) && !isModelName(model));
}

/**
 * The tensors of a weights file, with a clear error when it is missing; a DataParallel `module.`
 * prefix on every key is stripped (the authors' checkpoints carry it), so shapes read by name.
 */
export function readWeights(path: string): Map<string, SafetensorEntry> {
  requireFile(path, 'weights file');
  return new Map(stripDataParallelPrefix([...loadSafetensors(path).tensors]));
}

/**
 * Loads float weights (safetensors, PyTorch names) into `model` with an error listing every
 * mismatch; `tensors`: the file's tensors when already read ({@link readWeights}).
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

/** A timestamped default run folder name. */
export function defaultRunDir(parts: string[]): string {
  const ts = new Date().toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19);
  return `runs/${parts.join('-')}-${ts}`;
}

/** Flags that `--resume` takes from the command line; every other one comes from the saved config.json. */
const RESUME_OWN_FLAGS = new Set(['resume', 'json', 'backend', 'threads']);

/** What `train` / `ternarize` write to a run folder's `config.json` (and `--resume` reads back). */
export interface RunConfigFile {
  command: string;
  flags: Record<string, FlagValue>;
  modelOptions?: Record<string, unknown>;
}

/**
 * The flags of `ec2t <cmd> --resume DIR`: the saved config's, with `resume` and `json` from the
 * command line. Usage errors when DIR is not a run folder of this command or has no checkpoint;
 * other flags given with `--resume` that differ from their defaults are named in a note as
 * ignored (the saved config wins).
 * @example const { flags, saved } = resumedFlags(trainSpec, 'runs/lenet5', p.flags);
 */
export function resumedFlags(cmd: CommandSpec, dir: string, given: Record<string, FlagValue>): { flags: Record<string, FlagValue>; saved: RunConfigFile } {
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new UsageError(`--resume ${dir}: not a run folder (no config.json); give the --out folder of an earlier ec2t ${cmd.name} run`);
  let saved: Partial<RunConfigFile>;
  try {
    saved = JSON.parse(readFileSync(configPath, 'utf8')) as Partial<RunConfigFile>;
  } catch (e) {
    throw new UsageError(`--resume ${dir}: config.json is not valid JSON (${(e as Error).message})`);
  }
  if (saved.command !== cmd.name || typeof saved.flags !== 'object' || saved.flags === null) {
    const hint = saved.command === 'train' || saved.command === 'ternarize' ? `; resume it with: ec2t ${saved.command} --resume ${dir}` : '';
    throw new UsageError(`--resume ${dir}: not a ${cmd.name} run folder (config.json is from ${typeof saved.command === 'string' ? `ec2t ${saved.command}` : 'an unknown command'})${hint}`);
  }
  for (const [name, v] of Object.entries(saved.flags)) {
    const spec = cmd.flags[name];
    if (spec === undefined) throw new UsageError(`--resume ${dir}: config.json has an unknown flag "${name}" (edited by hand?); ec2t ${cmd.name} has no --${name}`);
    const problem = flagValueProblem(spec, v);
    if (problem !== null) throw new UsageError(`--resume ${dir}: config.json flag "${name}" ${problem} (edited by hand? ec2t ${cmd.name} --help lists the valid values)`);
  }
  if (!existsSync(join(dir, 'checkpoint.safetensors'))) {
    throw new UsageError(`--resume ${dir}: no checkpoint.safetensors to resume from (the run stopped before its first checkpoint); start it again without --resume`);
  }
  const ignored: string[] = [];
  for (const [name, v] of Object.entries(given)) {
    if (RESUME_OWN_FLAGS.has(name) || v === undefined) continue;
    const dflt = cmd.flags[name]?.default;
    if (v !== dflt) ignored.push(`--${name}${typeof v === 'boolean' ? '' : ` ${Array.isArray(v) ? v.join(' ') : String(v)}`}`);
  }
  if (ignored.length > 0) log(`note: --resume continues with the saved config (${configPath}); ignoring ${ignored.join(', ')}`);
  return { flags: { ...saved.flags, resume: dir, json: given.json, out: dir }, saved: saved as RunConfigFile };
}
