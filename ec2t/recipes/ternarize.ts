/**
 * EC2T (or TTQ / ECP) as a library call, the recipe of `ec2t ternarize` (docs/METHOD.md §4–§7):
 * the main phase on a pretrained model, the best ternary model of it by validation accuracy, then
 * frozen-assignment retraining from that best model; written through a {@link RunStore} and
 * resumable bit for bit from its checkpoint, in either phase.
 */
import type { Rng } from '../../base/rng.js';
import type { AnyDataset } from '../../datasets/dataset.js';
import type { JsonValue } from '../../nn/checkpoint.js';
import { stateDictForSave, type Module } from '../../nn/module.js';
import { entryToTensor, type SafetensorEntry, type SafetensorInput } from '../../nn/safetensors.js';
import { TernaryQuantizer, type QuantizerConfig } from '../quantizer.js';
import { RUN_FILES, readSafetensors, writeSafetensors, type EpochMetrics, type RunStore } from '../runstore.js';
import { TrainingPhase, evaluate, runYielding, type BatchProgress, type RunCheckpoint, type Updater } from '../train.js';
import { ValueError } from '../../base/errors.js';
import { interruptOf, type LayerInspection, type RecipeControl } from './events.js';

/** File of the best ternary model of the run with the quantizer's state (what retraining restores). */
export const BEST_EC2T_FILE = 'best-ec2t.safetensors';
/** File of the ternary state dict (`{name}.w_p`, `.w_n`, `.assignment`, …) that `ec2t export` packs. */
export const TERNARY_FILE = 'ternary.safetensors';

/** Options of {@link ternarizeModel}. */
export interface TernarizeModelOptions extends RecipeControl {
  /** The pretrained float network (built with `modelRng`, weights loaded); ternarized in place. */
  model: Module;
  /** Architecture name, recorded in the weight files' metadata (`lenet5`). */
  modelName: string;
  /** Conv2d/Linear layers to ternarize, by module name (e.g. `ternaryLayerNames(model, 'lenet5')`). */
  layers: readonly string[];
  train: AnyDataset;
  /** Validation split that picks the best model of each phase; null = the training accuracy. */
  val: AnyDataset | null;
  test: AnyDataset;
  quantizer: QuantizerConfig;
  /** Layers that start from a given ternary state (centroids and assignment) instead of `initScale`. */
  initial?: ReadonlyMap<string, { wp: number; wn: number; assignment: Int8Array }>;
  /** Epochs of the main (EC2T) phase. */
  epochs: number;
  /** Epochs of frozen-assignment retraining. */
  retrainEpochs: number;
  batchSize: number;
  /** Shuffling generator (saved in checkpoints). */
  loaderRng: Rng;
  /** The generator the model draws from (dropout). */
  modelRng: Rng;
  /** Where metrics, weights and the checkpoint go. */
  store: RunStore;
  /** Test accuracy of the float model, reported back in the result (default: evaluated here; NaN on resume). */
  floatAccuracy?: number;
  /** Resume from this checkpoint of `store` ({@link readRunCheckpoint}); its phase must be one this run has. */
  checkpoint?: RunCheckpoint;
  /**
   * Emit a `quantizer` progress event after the first step and every `inspectEvery` steps (default:
   * never; each event walks every weight once to build the histograms).
   */
  inspectEvery?: number;
  /** Histogram bins of the `quantizer` events (default 60). */
  inspectBins?: number;
}

/** What {@link ternarizeModel} returns. */
export interface TernarizeResult {
  /** Test accuracy and loss of the best ternary model; NaN when interrupted. */
  accuracy: number;
  loss: number;
  /** Zeros among the ternarized layers' weights / their weights. */
  sparsity: number;
  /** Zeros among all parameters / all parameters. */
  overallSparsity: number;
  floatAccuracy: number;
  /** Epochs of the run (main + retraining), or those completed when interrupted. */
  epochs: number;
  seconds: number;
  /** True when the signal stopped the run (a resume checkpoint is in the store). */
  interrupted: boolean;
}

/** Adapts the quantizer to the training loop. */
class QuantizerUpdater implements Updater {
  constructor(readonly q: TernaryQuantizer) {}
  zeroGrad(): void {
    this.q.zeroGrad();
  }
  step(): void {
    this.q.step();
  }
  lr(): number {
    return this.q.lrs()[0] ?? 0;
  }
  endEpoch(): void {}
  stateTensors(): Map<string, SafetensorInput> {
    return this.q.stateTensors();
  }
  stateJson(): JsonValue {
    return this.q.stateJson();
  }
  loadState(tensors: Map<string, SafetensorEntry>, json: JsonValue): void {
    this.q.loadState(tensors, json);
  }
}

function inspectLayers(q: TernaryQuantizer, bins: number): LayerInspection[] {
  const histograms = q.histograms(bins);
  const stats = q.layerStats();
  return q.layers.map((l, i) => ({
    histogram: histograms[i],
    stats: stats[i],
    probabilities: [2 ** -l.information[0], 2 ** -l.information[1], 2 ** -l.information[2]],
  }));
}

function snapshot(model: Module, q: TernaryQuantizer): { tensors: Map<string, SafetensorInput>; json: JsonValue } {
  const tensors = new Map<string, SafetensorInput>(stateDictForSave(model));
  for (const [k, v] of q.stateTensors()) tensors.set(`__q.${k}`, v);
  return { tensors, json: q.stateJson() };
}

function restore(model: Module, q: TernaryQuantizer, store: RunStore): void {
  const file = readSafetensors(store, BEST_EC2T_FILE);
  const modelTensors = new Map<string, ReturnType<typeof entryToTensor>>();
  const qTensors = new Map<string, SafetensorEntry>();
  for (const [k, e] of file.tensors) {
    if (k.startsWith('__q.')) qTensors.set(k.slice(4), e);
    else modelTensors.set(k, entryToTensor(e));
  }
  model.loadStateDict(modelTensors, { strict: true });
  q.loadState(qTensors, JSON.parse(file.metadata.quantizer) as JsonValue);
}

/**
 * Ternarizes a pretrained model: EC2T main phase, restore of its best model (§6), freeze, frozen
 * retraining, evaluation of the best ternary model on `test`. Lets the event loop run after every
 * batch, so an abort is seen at the next batch; the run then returns `interrupted: true`.
 * @example
 * const r = await ternarizeModel({ model: net, modelName: 'lenet5', layers: ternaryLayerNames(net, 'lenet5'),
 *   train, val, test, quantizer: DEFAULT_QUANTIZER_CONFIG, epochs: 1, retrainEpochs: 1, batchSize: 128,
 *   loaderRng, modelRng, store: new MemoryRunStore(), onProgress: (e) => console.log(e.kind) });
 */
export function ternarizeModel(o: TernarizeModelOptions): Promise<TernarizeResult> {
  return runYielding(ternarizeSteps(o));
}

function* ternarizeSteps(o: TernarizeModelOptions): Generator<void, TernarizeResult, void> {
  const t0 = performance.now();
  const { model, store, checkpoint: ck } = o;
  const floatAccuracy = o.floatAccuracy ?? (ck === undefined ? evaluate(model, o.test).accuracy : NaN);
  const q = new TernaryQuantizer(model, [...o.layers], o.quantizer, { initial: new Map(o.initial ?? []) });
  const updater = new QuantizerUpdater(q);
  if (ck === undefined) {
    store.writeMetrics([]);
  } else {
    // Backgrounds and BN buffers first: the quantizer's state (loaded by the phase) rebuilds ECP's Wt from them.
    model.loadStateDict(new Map([...ck.model].map(([k, e]) => [k, entryToTensor(e)])), { strict: true });
  }
  const extras = (): Record<string, unknown> => {
    const s = q.sparsity();
    return { overallSparsity: s.overall, sparsity: s.quantized, entropy: s.entropy, layers: q.layerStats() };
  };
  const onProgress = o.onProgress;
  const every = o.inspectEvery;
  if (every !== undefined && (!Number.isInteger(every) || every < 1)) throw new ValueError('ternarizeModel', `inspectEvery must be an integer ≥ 1, got ${every}`);
  const inspect = (p: BatchProgress): void => {
    if (onProgress === undefined || every === undefined || (p.step !== 1 && p.step % every !== 0)) return;
    onProgress({ kind: 'quantizer', phase: p.phase, step: p.step, sparsity: q.sparsity().quantized, layers: inspectLayers(q, o.inspectBins ?? 60) });
  };
  const progress = {
    onProgress: onProgress && ((p: BatchProgress) => {
      onProgress({ kind: 'batch', ...p });
      inspect(p);
    }),
    onEpoch: onProgress && ((metrics: EpochMetrics) => onProgress({ kind: 'epoch', metrics })),
  };
  const saveBest = (): void => {
    const snap = snapshot(model, q);
    writeSafetensors(store, BEST_EC2T_FILE, snap.tensors, { quantizer: JSON.stringify(snap.json) });
  };
  const saveTernary = (): void => writeSafetensors(store, TERNARY_FILE, q.ternaryStateDict(), { format: 'pt', model: o.modelName, method: o.quantizer.method });
  const interrupt = interruptOf(o.signal);
  let stopped = false;
  // On resume, best-ec2t.safetensors and ternary.safetensors in the store are the run's own
  // (written before its checkpoint); rewriting them from the resumed state would be wrong.
  if (ck === undefined) saveBest(); // the initial ternarization, in case no epoch improves on it
  let stepsBefore = 0;
  if (o.epochs > 0 && ck?.phase !== 'frozen') {
    const phase1 = new TrainingPhase({
      phase: 'ec2t', model, train: o.train, val: o.val, batchSize: o.batchSize, epochs: o.epochs,
      loaderRng: o.loaderRng, modelRng: o.modelRng, updater, run: store, epochExtras: extras,
      onBest: saveBest, ...progress, skipFirstEpochForBest: true, interrupt,
    });
    if (ck !== undefined) phase1.resume(ck.all, ck.extra);
    const r1 = yield* phase1.iterate();
    stepsBefore = phase1.steps;
    // An abort during the last epoch's validation completes the phase; stop before the next one
    // all the same (the checkpoint then resumes at the phase boundary).
    stopped = !r1.completed || interrupt?.interrupted === true;
    onProgress?.({ kind: 'phase', phase: 'ec2t', completed: !stopped, bestValAccuracy: r1.bestValAccuracy, bestEpoch: r1.bestEpoch });
    // §6: retraining starts from the best ternary model of the main phase.
    if (!stopped) restore(model, q, store);
  }
  if (!stopped && ck?.phase !== 'frozen') {
    q.freeze(); // fresh Adam state for the non-quantized parameters and centroids ([code] define_optimizers)
    saveTernary();
  }
  if (!stopped && o.retrainEpochs > 0) {
    const phase2 = new TrainingPhase({
      phase: 'frozen', model, train: o.train, val: o.val, batchSize: o.batchSize, epochs: o.retrainEpochs,
      loaderRng: o.loaderRng, modelRng: o.modelRng, updater, run: store, epochExtras: extras,
      onBest: () => {
        saveTernary();
        saveBest();
      },
      ...progress, interrupt, stepsBefore,
    });
    // The frozen flag and the optimizers' state (fresh at the phase start, then stepped) come with the checkpoint.
    if (ck?.phase === 'frozen') phase2.resume(ck.all, ck.extra);
    const r2 = yield* phase2.iterate();
    stopped = !r2.completed;
    onProgress?.({ kind: 'phase', phase: 'frozen', completed: r2.completed, bestValAccuracy: r2.bestValAccuracy, bestEpoch: r2.bestEpoch });
    if (!stopped) {
      writeSafetensors(store, RUN_FILES.last, q.ternaryStateDict(), { format: 'pt', model: o.modelName });
      restore(model, q, store);
    }
  } else if (!stopped) {
    writeSafetensors(store, RUN_FILES.last, q.ternaryStateDict(), { format: 'pt', model: o.modelName });
  }
  const s = q.sparsity();
  const base = { sparsity: s.quantized, overallSparsity: s.overall, floatAccuracy };
  if (stopped) {
    return { ...base, accuracy: NaN, loss: NaN, epochs: store.readMetrics().length, seconds: (performance.now() - t0) / 1000, interrupted: true };
  }
  writeSafetensors(store, RUN_FILES.best, q.ternaryStateDict(), { format: 'pt', model: o.modelName });
  const test = evaluate(model, o.test);
  store.writeJson('histograms.json', { layers: q.histograms(60) });
  return { ...base, accuracy: test.accuracy, loss: test.loss, epochs: o.epochs + o.retrainEpochs, seconds: (performance.now() - t0) / 1000, interrupted: false };
}
