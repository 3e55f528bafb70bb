/**
 * Pieces every command shares: seeded generator streams, dataset loading with the validation
 * split, model construction and weight loading with clear errors.
 */
import { existsSync } from 'node:fs';
import { Rng } from '../engine/rng.js';
import { FormatError } from '../engine/errors.js';
import { loadDataset, splitValidation, subset, type Dataset, type DatasetName } from '../datasets/index.js';
import { createModel, type ModelName } from '../nn/models/index.js';
import type { Module } from '../nn/module.js';
import { loadSafetensors, entryToTensor } from '../nn/safetensors.js';
import type { FlagValue } from './args.js';
import { UsageError } from './args.js';

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
  train: Dataset;
  val: Dataset | null;
  test: Dataset;
}

/** Default validation hold-out per dataset. */
export function defaultValSize(name: string): number {
  return name === 'mnist' ? 5000 : 5000;
}

/**
 * Loads a dataset's splits. The validation set is drawn from the training set with the seed's
 * split stream, so `train` and `eval --split val` with the same seed agree.
 */
export function loadSplits(flags: Record<string, FlagValue>, streams: SeedStreams): DataSplits {
  const name = flags.dataset as DatasetName;
  const dir = flags.data as string | undefined;
  if (name !== 'mnist' && dir === undefined) {
    throw new UsageError(`--dataset ${name} needs --data DIR: a folder with the official binary files (${name === 'cifar10' ? 'data_batch_1.bin … data_batch_5.bin, test_batch.bin' : 'train.bin, test.bin'}); nothing is downloaded`);
  }
  if (dir !== undefined && !existsSync(dir)) throw new UsageError(`--data ${dir}: no such folder`);
  const fullTrain = loadDataset({ name, split: 'train', dir });
  const test = loadDataset({ name, split: 'test', dir });
  const valSize = (flags['val-size'] as number | undefined) ?? defaultValSize(name);
  let train = fullTrain;
  let val: Dataset | null = null;
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

/** Builds a model for a dataset's geometry. */
export function buildModel(name: string, data: { classes: number; channels: number; height: number }, rng: Rng, extra: Record<string, unknown> = {}): Module {
  const opts: Record<string, unknown> = { numClasses: data.classes, inChannels: data.channels, rng, ...extra };
  if (name === 'lenet5') opts.inputSize = data.height;
  if (name === 'mobilenetv2' && data.height <= 64) opts.cifar = true;
  return createModel(name as ModelName, opts);
}

/** Loads float weights (safetensors, PyTorch names) into `model` with an error listing every mismatch. */
export function loadWeightsInto(model: Module, path: string): void {
  if (!existsSync(path)) throw new FormatError(path, 'weights file not found');
  const file = loadSafetensors(path);
  const tensors = new Map<string, ReturnType<typeof entryToTensor>>();
  // A ternary.safetensors holds Wt in `weight` plus sibling keys; the siblings are not parameters.
  const ternaryLayers = new Set([...file.tensors.keys()].filter((k) => k.endsWith('.assignment')).map((k) => k.slice(0, -'.assignment'.length)));
  for (const [k, e] of file.tensors) {
    const dot = k.lastIndexOf('.');
    if (ternaryLayers.has(k.slice(0, dot)) && ['w_p', 'w_n', 'assignment'].includes(k.slice(dot + 1))) continue;
    tensors.set(k, entryToTensor(e));
  }
  model.loadStateDict(tensors, { strict: true });
}

/** A timestamped default run folder name. */
export function defaultRunDir(parts: string[]): string {
  const ts = new Date().toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19);
  return `runs/${parts.join('-')}-${ts}`;
}
