/**
 * Float training as a library call: the loop of `ec2t train` (optimizer, schedule, validation,
 * best model, resume checkpoint) over a model and datasets the caller built, writing through a
 * {@link RunStore}.
 */
import type { Rng } from '../../base/rng.js';
import type { AnyDataset } from '../../datasets/dataset.js';
import type { AugmentConfig } from '../../datasets/transforms.js';
import { stateDictForSave, type Module } from '../../nn/module.js';
import { Adam, SGD } from '../../nn/optim.js';
import { LrScheduler, constantSchedule, cosineAnnealing, stepDecay } from '../../nn/schedule.js';
import { entryToTensor } from '../../nn/safetensors.js';
import { RUN_FILES, writeSafetensors, type RunStore } from '../runstore.js';
import { OptimizerUpdater, TrainingPhase, evaluate, runYielding, type RunCheckpoint } from '../train.js';
import { interruptOf, type RecipeControl } from './events.js';

/** Options of {@link trainModel}. */
export interface TrainModelOptions extends RecipeControl {
  /** The network to train, in place (built with `modelRng`, weights already loaded if any). */
  model: Module;
  /** Architecture name, recorded in the weight files' metadata (`lenet5`). */
  modelName: string;
  train: AnyDataset;
  /** Validation split that picks the best epoch; null = the training accuracy picks it. */
  val: AnyDataset | null;
  /** Evaluated once at the end, with the last weights. */
  test: AnyDataset;
  epochs: number;
  batchSize: number;
  optimizer: 'sgd' | 'adam';
  lr: number;
  /** SGD momentum (default 0). */
  momentum?: number;
  /** SGD with Nesterov momentum (needs momentum > 0). */
  nesterov?: boolean;
  /** Coupled L2 weight decay, as PyTorch (default 0). */
  weightDecay?: number;
  /** Per-epoch learning-rate schedule (default `none`). */
  schedule?: 'cosine' | 'step' | 'none';
  /** Epochs between drops of the `step` schedule (default epochs/3, at least 1). */
  stepSize?: number;
  augment?: AugmentConfig;
  /** Shuffling and augmentation generator (saved in checkpoints). */
  loaderRng: Rng;
  /** The generator the model draws from (dropout). */
  modelRng: Rng;
  /** Where metrics, weights (`best`, `last`) and the checkpoint go. */
  store: RunStore;
  /** Resume from this checkpoint of `store` ({@link readRunCheckpoint}): the run then ends bit for bit as an uninterrupted one. */
  checkpoint?: RunCheckpoint;
}

/** What {@link trainModel} returns. */
export interface TrainResult {
  /** Epochs completed. */
  epochs: number;
  /** Test accuracy and loss of the last weights (evaluated after an abort too, as `ec2t train` reports). */
  testAccuracy: number;
  testLoss: number;
  bestValAccuracy: number | null;
  bestEpoch: number | null;
  seconds: number;
  /** True when the signal stopped the run (a resume checkpoint is in the store). */
  interrupted: boolean;
}

/**
 * Trains a float model. Lets the event loop run after every batch, so an abort (Ctrl-C in the
 * CLI) is seen at the next batch.
 * @example
 * const r = await trainModel({ model: net, modelName: 'lenet5', train, val, test, epochs: 1, batchSize: 64,
 *   optimizer: 'adam', lr: 0.002, loaderRng, modelRng, store: new MemoryRunStore() });
 */
export function trainModel(o: TrainModelOptions): Promise<TrainResult> {
  return runYielding(trainSteps(o));
}

function* trainSteps(o: TrainModelOptions): Generator<void, TrainResult, void> {
  const t0 = performance.now();
  const params = o.model.parameters();
  const wd = o.weightDecay ?? 0;
  const optimizer = o.optimizer === 'adam'
    ? new Adam({ params, lr: o.lr, weightDecay: wd })
    : new SGD({ params, lr: o.lr, momentum: o.momentum ?? 0, nesterov: o.nesterov === true, weightDecay: wd });
  const schedule = o.schedule === 'cosine'
    ? cosineAnnealing({ tMax: o.epochs })
    : o.schedule === 'step'
      ? stepDecay({ stepSize: o.stepSize ?? Math.max(1, Math.floor(o.epochs / 3)), gamma: 0.1 })
      : constantSchedule();
  const updater = new OptimizerUpdater(optimizer, new LrScheduler(optimizer, schedule));
  const store = o.store;
  if (o.checkpoint === undefined) store.writeMetrics([]);
  const onProgress = o.onProgress;
  const phase = new TrainingPhase({
    phase: 'train', model: o.model, train: o.train, val: o.val, batchSize: o.batchSize, epochs: o.epochs,
    augment: o.augment, loaderRng: o.loaderRng, modelRng: o.modelRng, updater, run: store,
    onBest: () => writeSafetensors(store, RUN_FILES.best, stateDictForSave(o.model), { format: 'pt', model: o.modelName }),
    onProgress: onProgress && ((p) => onProgress({ kind: 'batch', ...p })),
    onEpoch: onProgress && ((metrics) => onProgress({ kind: 'epoch', metrics })),
    interrupt: interruptOf(o.signal),
  });
  if (o.checkpoint !== undefined) {
    o.model.loadStateDict(new Map([...o.checkpoint.model].map(([k, e]) => [k, entryToTensor(e)])), { strict: true });
    phase.resume(o.checkpoint.all, o.checkpoint.extra);
  }
  const r = yield* phase.iterate();
  onProgress?.({ kind: 'phase', phase: 'train', completed: r.completed, bestValAccuracy: r.bestValAccuracy, bestEpoch: r.bestEpoch });
  writeSafetensors(store, RUN_FILES.last, stateDictForSave(o.model), { format: 'pt', model: o.modelName });
  const test = evaluate(o.model, o.test);
  return {
    epochs: r.metrics.length, testAccuracy: test.accuracy, testLoss: test.loss, bestValAccuracy: r.bestValAccuracy,
    bestEpoch: r.bestEpoch, seconds: (performance.now() - t0) / 1000, interrupted: !r.completed,
  };
}
