/**
 * Whole runs as library calls: what `ec2t train` and `ec2t ternarize` do, less the flag parsing and
 * the printing. Options in, defaults applied (per dataset where the recipes differ), data loaded,
 * model built (from weights when given), the run folder's records written (`config.json`,
 * `manifest.json`, `summary.json`), {@link trainModel} / {@link ternarizeModel} run with progress
 * events and an abort signal, and an interrupted run folder resumed bit for bit.
 */
import { FormatError, UsageError } from '../../base/errors.js';
import { Rng } from '../../base/rng.js';
import { platform } from '../../base/platform.js';
import { CIFAR_AUGMENT, type AugmentConfig } from '../../datasets/transforms.js';
import type { DatasetName } from '../../datasets/index.js';
import type { Module } from '../../nn/module.js';
import { ternaryLayerNames } from '../../nn/models/index.js';
import type { SafetensorEntry } from '../../nn/safetensors.js';
import { getBackend } from '../../kernels/registry.js';
import type { QuantizerConfig } from '../quantizer.js';
import { recognizeTernaryValued } from '../export.js';
import { RunFolder, environmentFacts, prepareRunFolder } from '../runfolder.js';
import type { RunStore } from '../runstore.js';
import { evaluate, firstNonFinite, readRunCheckpoint } from '../train.js';
import { TERNARIZE_RUN_DEFAULTS, TERNARIZE_RUN_FIELDS, TRAIN_RUN_DEFAULTS, TRAIN_RUN_FIELDS, flagsOfRunOptions } from './defaults.js';
import type { RecipeControl } from './events.js';
import { architectureOfWeights, buildModel, checkInputSize, defaultRunDir, loadSplits, loadWeightsInto, readWeights, seedStreams, skippedImagesNote, type DataOptions, type NoteSink } from './setup.js';
import { ternarizeModel } from './ternarize.js';
import { trainModel, type TrainResult } from './train.js';

/** How a whole run reports and where it keeps its files, beside its options. */
export interface RunControl extends RecipeControl {
  /** One-line notes (a resumed run, a choice made for you, skipped images); default: dropped. */
  onNote?: NoteSink;
  /**
   * Keep the run here instead of the folder `out` (e.g. a {@link MemoryRunStore}); `out` is then
   * only recorded. A resume reads its checkpoint and records from this store.
   */
  store?: RunStore;
  /** The command line recorded in manifest.json (default: this process's arguments). */
  argv?: readonly string[];
}

/**
 * A float training run: `ec2t train`'s flags as typed options, exactly what config.json records
 * (under the flag names: `batchSize` is `batch-size`). Unset fields take
 * {@link TRAIN_RUN_DEFAULTS}; `optimizer` defaults per dataset (Adam on MNIST, SGD elsewhere) and
 * `lr` per optimizer (0.002 Adam, 0.1 SGD).
 */
export interface TrainRunOptions extends Partial<DataOptions> {
  /** Architecture (`lenet5`, `resnet20`, …); may be absent only with `resume`. */
  model?: string;
  epochs?: number;
  batchSize?: number;
  optimizer?: 'sgd' | 'adam';
  lr?: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  schedule?: 'cosine' | 'step' | 'none';
  stepSize?: number;
  /** Random crop and flip (default on for CIFAR, off for MNIST; an image folder has its own). */
  augment?: boolean;
  cutout?: number;
  seed?: number;
  /** Run folder (default `runs/<model>-<dataset>-<time>`); must be new or empty unless `force`. */
  out?: string;
  force?: boolean;
  /** Start from these float weights; their shapes decide the architecture options. */
  weights?: string;
  /** Continue this interrupted run folder where its checkpoint stopped (its options must be the saved ones). */
  resume?: string;
  /** Recorded only: the backend and threads the caller configured. */
  backend?: string;
  threads?: number;
  /** Architecture options (a scaled MicroNet's depth and width); recorded apart from the flags. */
  modelOptions?: Record<string, unknown>;
}

/** What a train run returns and writes to summary.json (`ec2t train --json` prints it). */
export interface TrainRunSummary extends TrainResult {
  model: string;
  dataset: string;
  out: string;
}

/** What `ec2t train` / `ec2t ternarize` write to a run folder's `config.json` (and a resume reads back). */
export interface RunConfigFile {
  command: string;
  flags: Record<string, unknown>;
  modelOptions?: Record<string, unknown>;
}

const silent: NoteSink = () => {};

function withDefaults<T extends object>(options: T, defaults: object): T {
  const o = { ...options } as Record<string, unknown>;
  for (const [k, v] of Object.entries(defaults)) if (o[k] === undefined) o[k] = v;
  return o as T;
}

function augmentFor(o: TrainRunOptions, dataset: string): AugmentConfig | undefined {
  // An image folder's random resized crop and flip are its training transform (datasets/imagefolder).
  const on = o.noAugment || dataset === 'imagefolder' ? false : o.augment ? true : dataset !== 'mnist';
  const cut = o.cutout ?? 0;
  if (!on && cut === 0) return undefined;
  return { ...(on ? CIFAR_AUGMENT : {}), ...(cut > 0 ? { cutout: { holes: 1, length: cut } } : {}) };
}

function manifestDataset(name: unknown, data: ReturnType<typeof loadSplits>): Record<string, unknown> {
  return { name, fingerprint: data.train.fingerprint(), testFingerprint: data.test.fingerprint(), train: data.train.size, val: data.val?.size ?? 0, test: data.test.size };
}

function argvOf(control: RunControl): readonly string[] {
  if (control.argv !== undefined) return control.argv;
  // Outside Node (a run in a page) there is no command line to record.
  return platform().node?.process.argv.slice(2) ?? [];
}

/**
 * Trains a float model as `ec2t train` does and returns its summary. A new run checks its folder
 * (never over another run without `force`, never over its own `weights`), writes config.json and
 * manifest.json, trains, and writes summary.json; `resume` continues an interrupted folder bit for
 * bit. An abort checkpoints after the current batch and returns `interrupted: true`.
 * @example
 * const s = await trainRun({ model: 'lenet5', dataset: 'mnist', epochs: 1, limitTrain: 2000, out: 'runs/lenet5' },
 *   { onProgress: (e) => { if (e.kind === 'epoch') console.log(e.metrics.valAccuracy); }, signal: abort.signal });
 */
export async function trainRun(options: TrainRunOptions, control: RunControl = {}): Promise<TrainRunSummary> {
  const t0 = performance.now();
  const note = control.onNote ?? silent;
  const o = withDefaults(options, TRAIN_RUN_DEFAULTS);
  const resumeDir = o.resume;
  if (o.model === undefined) throw new UsageError('ec2t train: missing required flag --model (architecture), unless you --resume a run folder');
  // NOTE: per-dataset defaults: Adam (lr 0.002, L2 5e-4) reaches 99.3% on MNIST in 10 epochs here;
  // CIFAR follows the thesis (SGD, lr 0.1, momentum 0.9, L2 5e-4, cosine).
  o.optimizer ??= o.dataset === 'mnist' ? 'adam' : 'sgd';
  o.lr ??= o.optimizer === 'adam' ? 0.002 : 0.1;
  if (o.nesterov === true && (o.optimizer !== 'sgd' || (o.momentum as number) <= 0)) {
    throw new UsageError(`--nesterov needs --optimizer sgd with --momentum > 0 (got --optimizer ${o.optimizer}, --momentum ${String(o.momentum)})`);
  }
  const model = o.model;
  const dataset = o.dataset as DatasetName | 'imagefolder';
  const out = resumeDir ?? o.out ?? defaultRunDir([model, dataset]);
  if (resumeDir === undefined && control.store === undefined) prepareRunFolder('train', out, o.force === true, [{ flag: '--weights', path: o.weights }], note);
  const streams = seedStreams(o.seed as number);
  const data = loadSplits({ ...o, dataset }, streams, note);
  const inputSize = checkInputSize({ model, dataset, inputSize: o.inputSize }, data.train);
  let modelOptions = o.modelOptions;
  if (resumeDir !== undefined) modelOptions = (control.store ?? new RunFolder(out)).readJson<Partial<RunConfigFile>>('config.json').modelOptions;
  // Starting from weights: their shapes decide the architecture (a scaled MicroNet, a MobileNetV2 width).
  const startWeights = o.weights !== undefined && resumeDir === undefined ? readWeights(o.weights) : null;
  if (startWeights !== null && modelOptions === undefined) modelOptions = architectureOfWeights(model, startWeights, o.weights as string, data.train).options;
  const net = buildModel(model, data.train, streams.model, modelOptions, inputSize, note);
  if (startWeights !== null) loadWeightsInto(net, o.weights as string, startWeights);
  // Created only now: a new run that fails on its data or weights leaves no folder behind.
  const run = control.store ?? new RunFolder(out);
  if (resumeDir === undefined) {
    run.writeJson('config.json', { command: 'train', flags: flagsOfRunOptions(o, TRAIN_RUN_FIELDS, ['modelOptions']), modelOptions: modelOptions ?? {} });
    run.writeJson('manifest.json', {
      seed: o.seed, ...environmentFacts(), backend: getBackend(), dataset: manifestDataset(dataset, data),
      argv: argvOf(control), startedAt: new Date().toISOString(),
    });
  }
  const checkpoint = resumeDir === undefined ? undefined : readRunCheckpoint(run);
  if (checkpoint !== undefined) note(`resuming ${resumeDir} after ${checkpoint.epoch} completed epoch(s)`);
  const result = await trainModel({
    model: net, modelName: model, train: data.train, val: data.val, test: data.test, epochs: o.epochs as number,
    batchSize: o.batchSize as number, optimizer: o.optimizer, lr: o.lr, momentum: o.momentum, nesterov: o.nesterov === true,
    weightDecay: o.weightDecay, schedule: o.schedule, stepSize: o.stepSize, augment: augmentFor(o, dataset),
    loaderRng: streams.loader, modelRng: streams.model, store: run, checkpoint, onProgress: control.onProgress, signal: control.signal,
  });
  const summary: TrainRunSummary = {
    model, dataset, epochs: result.epochs, testAccuracy: result.testAccuracy, testLoss: result.testLoss,
    bestValAccuracy: result.bestValAccuracy, bestEpoch: result.bestEpoch,
    seconds: (performance.now() - t0) / 1000, out, interrupted: result.interrupted,
  };
  run.writeJson('summary.json', summary);
  const skipped = skippedImagesNote(data);
  if (skipped !== null) note(skipped);
  return summary;
}

/**
 * EC2T (or TTQ / ECP) on pretrained float weights: `ec2t ternarize`'s flags as typed options,
 * exactly what config.json records (under the flag names). Unset fields take
 * {@link TERNARIZE_RUN_DEFAULTS}.
 */
export interface TernarizeRunOptions extends Partial<DataOptions> {
  /** Architecture; may be absent only with `resume`. */
  model?: string;
  /** Pretrained float weights (or a ternary-valued release checkpoint); may be absent only with `resume`. */
  weights?: string;
  /** Epochs of the main (EC2T) phase. */
  epochs?: number;
  /** Epochs of frozen-assignment retraining. */
  retrainEpochs?: number;
  gain?: number;
  initScale?: number;
  initMethod?: QuantizerConfig['initMethod'];
  method?: QuantizerConfig['method'];
  ttqThreshold?: number;
  variant?: QuantizerConfig['variant'];
  /** Layer name patterns (`*` wildcard) to ternarize; default: the model's policy. */
  layers?: string[];
  batchSize?: number;
  lr?: number;
  centroidLr?: number;
  weightDecay?: number;
  seed?: number;
  /** Run folder (default `runs/<model>-<method>-<time>`); must be new or empty unless `force`. */
  out?: string;
  force?: boolean;
  /** Continue this interrupted run folder, in either phase (its options must be the saved ones). */
  resume?: string;
  backend?: string;
  threads?: number;
}

/** What a ternarize run returns (and, when it finished, writes to summary.json). */
export interface TernarizeRunSummary {
  accuracy: number;
  sparsity: number;
  overallSparsity: number;
  epochs: number;
  seconds: number;
  floatAccuracy: number;
  loss: number;
  method: string;
  gain: number;
  initScale: number;
  variant: string;
  out: string;
  /** True when the signal stopped the run (accuracy and loss are then NaN, `epochs` counts completed ones; no summary.json). */
  interrupted: boolean;
}

/**
 * Turns layer name patterns (`*` wildcard) into the matching Conv2d/Linear layer names; none: the
 * model's ternarization policy.
 * @example selectLayers(net, 'resnet20', ['layer1.*']) // ['layer1.0.conv1', …]
 */
export function selectLayers(model: Module, modelName: string, patterns: readonly string[] | undefined): string[] {
  if (patterns === undefined || patterns.length === 0) return ternaryLayerNames(model, modelName);
  const weighted = model.namedModules().filter(([, m]) => 'weightFn' in m).map(([n]) => n);
  const out = new Set<string>();
  for (const p of patterns) {
    const re = new RegExp('^' + p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
    const hits = weighted.filter((n) => re.test(n));
    if (hits.length === 0) throw new UsageError(`--layers ${p} matches no conv/linear layer; layers: ${weighted.join(', ')}`);
    for (const h of hits) out.add(h);
  }
  return weighted.filter((n) => out.has(n));
}

/**
 * Ternarizes pretrained weights as `ec2t ternarize` does (main phase, best model, frozen
 * retraining; docs/METHOD.md §4–§7) and returns its summary. A new run checks its folder, writes
 * config.json and manifest.json (with the float model's test accuracy); `resume` continues an
 * interrupted folder in either phase, mid-epoch included, and ends with the same files, bit for
 * bit, as an uninterrupted run. An abort checkpoints and returns `interrupted: true`.
 * @example
 * const s = await ternarizeRun({ model: 'lenet5', weights: 'runs/lenet5/best.safetensors', epochs: 1, retrainEpochs: 1, gain: 0.1 },
 *   { store: new MemoryRunStore(), onProgress: (e) => { if (e.kind === 'epoch') console.log(e.metrics.sparsity); } });
 */
export async function ternarizeRun(options: TernarizeRunOptions, control: RunControl = {}): Promise<TernarizeRunSummary> {
  const t0 = performance.now();
  const note = control.onNote ?? silent;
  const o = withDefaults(options, TERNARIZE_RUN_DEFAULTS);
  const resumeDir = o.resume;
  for (const [name, what] of [['model', 'architecture'], ['weights', 'pretrained float weights']] as const) {
    if (o[name] === undefined) throw new UsageError(`ec2t ternarize: missing required flag --${name} (${what}), unless you --resume a run folder. See ec2t ternarize --help`);
  }
  const modelName = o.model as string;
  const dataset = o.dataset as DatasetName | 'imagefolder';
  const out = resumeDir ?? o.out ?? defaultRunDir([modelName, o.method as string]);
  // The float run's best.safetensors as weights with out at that run would destroy the float model.
  if (resumeDir === undefined && control.store === undefined) prepareRunFolder('ternarize', out, o.force === true, [{ flag: '--weights', path: o.weights }], note);
  const streams = seedStreams(o.seed as number);
  const data = loadSplits({ ...o, dataset }, streams, note);
  const run = control.store ?? new RunFolder(out);
  // On resume every weight comes from the checkpoint; the float weights file may be gone.
  const ck = resumeDir === undefined ? undefined : readRunCheckpoint(run);
  const weightsPath = o.weights as string;
  const weights = ck === undefined ? readWeights(weightsPath) : ck.model;
  // The weights' shapes decide the architecture (a scaled MicroNet, a MobileNetV2 width).
  const arch = architectureOfWeights(modelName, weights, ck === undefined ? weightsPath : run.path('checkpoint.safetensors'), data.train);
  const model = buildModel(modelName, data.train, streams.model, arch.options, checkInputSize({ model: modelName, dataset, inputSize: o.inputSize }, data.train), note);
  let floatAccuracy: number;
  if (ck === undefined) {
    loadWeightsInto(model, weightsPath, weights);
    floatAccuracy = evaluate(model, data.test).accuracy;
  } else {
    const m = run.readJson<{ floatTestAccuracy?: unknown }>('manifest.json');
    floatAccuracy = typeof m.floatTestAccuracy === 'number' ? m.floatTestAccuracy : NaN;
  }
  const layers = selectLayers(model, modelName, o.layers);
  const cfg: QuantizerConfig = {
    method: o.method as QuantizerConfig['method'], variant: o.variant as QuantizerConfig['variant'], gain: o.gain as number,
    initScale: o.initScale as number, initMethod: o.initMethod as QuantizerConfig['initMethod'], ttqThreshold: o.ttqThreshold as number,
    lr: o.lr as number, centroidLr: o.centroidLr as number, weightDecay: o.weightDecay as number,
  };
  // A ternary-valued checkpoint (the authors' release format) retrains from its own ternary state.
  const initial = new Map<string, { wp: number; wn: number; assignment: Int8Array }>();
  if (ck === undefined) {
    const r = recognizeTernaryValued(modelName, weights, arch.options, weightsPath);
    for (const name of r.recognized.filter((n) => layers.includes(n))) {
      const e = (k: string): SafetensorEntry => r.stateDict.get(`${name}.${k}`) as SafetensorEntry;
      initial.set(name, { wp: (e('w_p').data as Float32Array)[0], wn: (e('w_n').data as Float32Array)[0], assignment: e('assignment').data as Int8Array });
    }
    if (initial.size > 0) note(`note: ${initial.size} layer(s) of ${weightsPath} hold only {−w_n, 0, +w_p}; they start from that ternary state (centroids and assignment), not from --init-scale`);
  }
  const mainEpochs = o.epochs as number;
  const retrainEpochs = o.retrainEpochs as number;
  if (ck === undefined) {
    run.writeJson('config.json', { command: 'ternarize', flags: flagsOfRunOptions(o, TERNARIZE_RUN_FIELDS), layers, method: cfg.method, gain: cfg.gain, initScale: cfg.initScale, variant: cfg.variant });
    run.writeJson('manifest.json', {
      seed: o.seed, ...environmentFacts(), backend: getBackend(), dataset: manifestDataset(dataset, data),
      argv: argvOf(control), startedAt: new Date().toISOString(), floatTestAccuracy: floatAccuracy,
    });
  } else {
    if ((ck.phase === 'ec2t' && mainEpochs === 0) || (ck.phase === 'frozen' && retrainEpochs === 0) || ck.phase === 'train') {
      throw new UsageError(`--resume ${out}: its checkpoint is in phase '${ck.phase}', which a ternarize run with --epochs ${mainEpochs} --retrain-epochs ${retrainEpochs} does not have; was checkpoint.safetensors copied from another run?`);
    }
    const m = run.readJson<Record<string, unknown>>('manifest.json');
    const resumes = Array.isArray(m.resumes) ? m.resumes : [];
    run.writeJson('manifest.json', { ...m, resumes: [...resumes, { at: new Date().toISOString(), argv: argvOf(control), backend: getBackend(), phase: ck.phase, epochsDone: ck.epoch }] });
    note(`resuming ${out} in the ${ck.phase === 'ec2t' ? 'EC2T' : 'frozen-assignment'} phase after ${ck.epoch} completed epoch(s)`);
  }
  const r = await ternarizeModel({
    model, modelName, layers, train: data.train, val: data.val, test: data.test, quantizer: cfg, initial,
    epochs: mainEpochs, retrainEpochs, batchSize: o.batchSize as number, loaderRng: streams.loader, modelRng: streams.model,
    store: run, floatAccuracy, checkpoint: ck, onProgress: control.onProgress, signal: control.signal,
  });
  const base = { sparsity: r.sparsity, overallSparsity: r.overallSparsity, floatAccuracy, method: cfg.method, gain: cfg.gain, initScale: cfg.initScale, variant: cfg.variant, out };
  if (r.interrupted) return { ...base, accuracy: NaN, loss: NaN, epochs: r.epochs, seconds: (performance.now() - t0) / 1000, interrupted: true };
  const summary: TernarizeRunSummary = { ...base, accuracy: r.accuracy, loss: r.loss, epochs: r.epochs, seconds: (performance.now() - t0) / 1000, interrupted: false };
  run.writeJson('summary.json', summary);
  const skipped = skippedImagesNote(data);
  if (skipped !== null) note(skipped);
  return summary;
}

/** Options of {@link evalRun} (`ec2t eval`'s flags). */
export interface EvalRunOptions extends Partial<DataOptions> {
  model: string;
  /** Float weights (or a ternary.safetensors: its `weight` tensors hold Wt). */
  weights: string;
  /** `val`: the validation split a train run with the same `seed` and `valSize` held out. */
  split?: 'test' | 'val';
  /** Seed of the validation split (must match training's). */
  seed?: number;
  batchSize?: number;
}

/** What {@link evalRun} returns (`ec2t eval --json` prints it). */
export interface EvalRunResult {
  model: string;
  dataset: string;
  split: 'test' | 'val';
  samples: number;
  loss: number;
  accuracy: number;
}

/**
 * Evaluates weights on a split of a dataset, as `ec2t eval` does: with `split: 'val'` and the
 * training run's seed it reproduces the validation accuracy of that run.
 * @example const r = evalRun({ model: 'lenet5', weights: 'runs/lenet5/best.safetensors', dataset: 'mnist' });
 */
export function evalRun(o: EvalRunOptions, control: Pick<RunControl, 'onNote'> = {}): EvalRunResult {
  const note = control.onNote ?? silent;
  const dataset = o.dataset ?? 'mnist';
  const split = o.split ?? 'test';
  const streams = seedStreams(o.seed ?? 1);
  const data = loadSplits({ ...o, dataset, valSize: split === 'val' ? o.valSize : 0 }, streams, note);
  const ds = split === 'val' ? data.val : data.test;
  if (ds === null) throw new UsageError('--split val needs a validation set; --val-size must be > 0');
  const weights = readWeights(o.weights);
  const arch = architectureOfWeights(o.model, weights, o.weights, data.train);
  const net = buildModel(o.model, data.train, new Rng(0), arch.options, checkInputSize({ model: o.model, dataset, inputSize: o.inputSize }, data.train), note);
  loadWeightsInto(net, o.weights, weights);
  const bad = firstNonFinite(net);
  // NaN weights give NaN logits; an accuracy computed from them would be a meaningless number.
  if (bad !== null) throw new FormatError(o.weights, `the weights hold non-finite values (${bad}); there is no accuracy to report`);
  const r = evaluate(net, ds, o.batchSize ?? 256);
  const skipped = skippedImagesNote(data);
  if (skipped !== null) note(skipped);
  return { model: o.model, dataset, split, samples: r.samples, loss: r.loss, accuracy: r.accuracy };
}
