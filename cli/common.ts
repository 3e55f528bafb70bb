/**
 * Pieces every command shares: seeded generator streams, dataset loading with the validation
 * split, model construction and weight loading with clear errors.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../engine/rng.js';
import { FormatError, IoError } from '../engine/errors.js';
import { loadDataset, splitValidation, subset, type Dataset, type DatasetName } from '../datasets/index.js';
import { createModel, type ModelName } from '../nn/models/index.js';
import type { Module } from '../nn/module.js';
import { loadSafetensors, entryToTensor } from '../nn/safetensors.js';
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
  // EfficientNet's "same" padding is computed for the image size it runs at (the authors pass theirs).
  if ((name === 'efficientnet-b0' || name === 'efficientnet-b1') && data.height > 0 && opts.imageSize === undefined) opts.imageSize = data.height;
  return createModel(name as ModelName, opts);
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

/** Loads float weights (safetensors, PyTorch names) into `model` with an error listing every mismatch. */
export function loadWeightsInto(model: Module, path: string): void {
  requireFile(path, 'weights file');
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
