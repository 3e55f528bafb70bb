/**
 * The training loop shared by float training (`ec2t train`) and EC2T (`ec2t ternarize`): epochs
 * over a seeded loader, an {@link Updater} that owns the parameter update, validation, metrics,
 * best-model tracking and checkpoints that resume bit for bit (also from the middle of an epoch,
 * after Ctrl-C).
 */
import { crossEntropy, accuracyCount } from '../engine/ops/loss.js';
import { noGrad, recycleActivations } from '../engine/tensor.js';
import { Rng } from '../base/rng.js';
import { FormatError, ValueError } from '../base/errors.js';
import { platform } from '../base/platform.js';
import { DataLoader, type DataLoaderState } from '../datasets/loader.js';
import type { AnyDataset } from '../datasets/dataset.js';
import type { AugmentConfig } from '../datasets/transforms.js';
import type { Module } from '../nn/module.js';
import { stateDictForSave } from '../nn/module.js';
import { Optimizer, optimizerStateFromSafetensors, optimizerStateToSafetensors, type ParamGroupBase } from '../nn/optim.js';
import type { LrScheduler, SchedulerState } from '../nn/schedule.js';
import { parseCheckpoint, serializeCheckpoint, type JsonValue } from '../nn/checkpoint.js';
import type { SafetensorEntry, SafetensorInput } from '../nn/safetensors.js';
import { RUN_FILES, type EpochMetrics, type RunStore } from './runstore.js';

/** Owns the parameter update of a training phase (a plain optimizer, or the EC2T quantizer). */
export interface Updater {
  zeroGrad(): void;
  /** Applies one update after `loss.backward()`. */
  step(): void;
  /** Learning rate to log (the first group's). */
  lr(): number;
  /** Called after every epoch (schedules step here). */
  endEpoch(): void;
  /** Tensors needed to resume exactly (optimizer buffers, ternary state). */
  stateTensors(): Map<string, SafetensorInput>;
  /** The JSON part of the state. */
  stateJson(): JsonValue;
  /** Restores {@link stateTensors}/{@link stateJson}. */
  loadState(tensors: Map<string, SafetensorEntry>, json: JsonValue): void;
}

/** {@link Updater} over one nn optimizer and an optional per-epoch schedule. */
export class OptimizerUpdater implements Updater {
  constructor(
    readonly optimizer: Optimizer<ParamGroupBase>,
    readonly scheduler: LrScheduler | null,
  ) {}
  zeroGrad(): void {
    this.optimizer.zeroGrad();
  }
  step(): void {
    this.optimizer.step();
  }
  lr(): number {
    return this.optimizer.groups[0]?.lr ?? 0;
  }
  endEpoch(): void {
    this.scheduler?.step();
  }
  stateTensors(): Map<string, SafetensorInput> {
    const { tensors } = optimizerStateToSafetensors(this.optimizer.stateDict(), 'optim.');
    return tensors;
  }
  stateJson(): JsonValue {
    const { json } = optimizerStateToSafetensors(this.optimizer.stateDict(), 'optim.');
    return { optimizer: json, scheduler: (this.scheduler?.stateDict() ?? null) as unknown as JsonValue };
  }
  loadState(tensors: Map<string, SafetensorEntry>, json: JsonValue): void {
    const j = json as { optimizer: string; scheduler: SchedulerState | null };
    this.optimizer.loadStateDict(optimizerStateFromSafetensors(tensors, j.optimizer, 'optim.'));
    if (j.scheduler && this.scheduler) this.scheduler.loadStateDict(j.scheduler);
  }
}

/** Loss and accuracy of a model over a dataset. */
export interface Evaluation {
  samples: number;
  loss: number;
  accuracy: number;
}

/**
 * Evaluates `model` on `ds` in eval mode without recording (mean cross-entropy, accuracy as a
 * fraction). The model's train/eval mode is restored afterwards.
 * @example const { accuracy } = evaluate(model, testSet, 256);
 */
export function evaluate(model: Module, ds: AnyDataset, batchSize = 256, rng?: Rng): Evaluation {
  const wasTraining = model.training;
  model.eval();
  const loader = new DataLoader(ds, { batchSize, shuffle: false, rng: rng ?? new Rng(0), dropLast: false });
  let lossSum = 0;
  let correct = 0;
  let seen = 0;
  try {
    noGrad(() => {
      for (const batch of loader) {
        const logits = model.forward(batch.x);
        const labels = batch.labels.subarray(0, batch.size);
        lossSum += crossEntropy(logits, labels, { reduction: 'sum' }).item();
        correct += accuracyCount(logits, labels);
        seen += batch.size;
      }
    });
  } finally {
    model.train(wasTraining);
  }
  if (seen === 0) throw new ValueError('evaluate', `dataset ${ds.name}/${ds.split} is empty`);
  return { samples: seen, loss: lossSum / seen, accuracy: correct / seen };
}

/** Progress of the current batch, for a progress bar. */
export interface BatchProgress {
  phase: EpochMetrics['phase'];
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  /** Optimizer steps of the run so far (across phases). */
  step: number;
  loss: number;
  accuracy: number;
  imagesPerSecond: number;
  etaSeconds: number;
}

/** Options of {@link TrainingPhase}. */
export interface PhaseOptions {
  phase: EpochMetrics['phase'];
  model: Module;
  train: AnyDataset;
  val: AnyDataset | null;
  batchSize: number;
  evalBatchSize?: number;
  /** Epochs of this phase. */
  epochs: number;
  augment?: AugmentConfig;
  /** Shuffling/augmentation generator. */
  loaderRng: Rng;
  /** Generator the model draws from (dropout); saved in checkpoints. */
  modelRng: Rng;
  updater: Updater;
  /** Where metrics and the checkpoint go (a {@link RunFolder} on disk, or a store in memory). */
  run: RunStore;
  /** Extra fields of each epoch's metrics line (EC2T statistics). */
  epochExtras?: () => Partial<EpochMetrics>;
  /** Called when validation accuracy improves (epoch > 0 for EC2T). */
  onBest?: (epoch: number, valAccuracy: number) => void;
  /**
   * When true, the phase's first epoch is not a best-model candidate if the phase has more than
   * one epoch (docs/METHOD.md §6: "best validation accuracy, epoch > 0", 0-based in the authors' code).
   */
  skipFirstEpochForBest?: boolean;
  onProgress?: (p: BatchProgress) => void;
  /** Called with each epoch's metrics line once it is written. */
  onEpoch?: (m: EpochMetrics) => void;
  /** Set `.interrupted = true` (e.g. on SIGINT) to checkpoint at the next batch and stop. */
  interrupt?: { interrupted: boolean };
  /** Extra JSON kept in checkpoints (the command's config). */
  checkpointExtra?: JsonValue;
  /**
   * Optimizer steps taken by earlier phases of the same run (default 0), so the step count of
   * checkpoints and of the `EC2T_INTERRUPT_AFTER_STEPS` test hook runs across phases: with it,
   * the hook stops a two-phase `ternarize` run once, in whichever phase holds step N.
   */
  stepsBefore?: number;
}

/** Where a phase stopped. */
export interface PhaseResult {
  completed: boolean;
  metrics: EpochMetrics[];
  bestValAccuracy: number | null;
  bestEpoch: number | null;
}

interface EpochAccumulators {
  lossSum: number;
  correct: number;
  seen: number;
  seconds: number;
}

/**
 * One phase of training (float training, the EC2T main phase, or frozen retraining). The run
 * folder's `metrics.jsonl` holds one line per completed epoch across all phases; a checkpoint is
 * written after every epoch and on interrupt.
 */
export class TrainingPhase {
  readonly loader: DataLoader;
  private metrics: EpochMetrics[];
  private acc: EpochAccumulators = { lossSum: 0, correct: 0, seen: 0, seconds: 0 };
  private step = 0;
  private bestValAccuracy: number | null = null;
  private bestEpoch: number | null = null;
  /** Epochs of this phase completed. */
  private epochsDone = 0;
  /**
   * Resumed from a checkpoint taken right after an epoch's last batch: the loader has already
   * rolled over to the next epoch, but this epoch still needs its validation and metrics line.
   */
  private epochBatchesDone = false;

  constructor(readonly o: PhaseOptions) {
    this.step = o.stepsBefore ?? 0;
    this.loader = new DataLoader(o.train, { batchSize: o.batchSize, shuffle: true, augment: o.augment, rng: o.loaderRng, dropLast: false });
    this.metrics = o.run.readMetrics();
  }

  /** Restores the phase from the run's checkpoint (written by this class). Returns false when none. */
  resume(tensors: Map<string, SafetensorEntry>, extra: JsonValue): void {
    const x = extra as unknown as CheckpointExtra;
    if (x.phase !== this.o.phase) throw new ValueError('resume', `checkpoint is in phase ${x.phase}, expected ${this.o.phase}`);
    this.loader.setState(x.loader);
    this.acc = x.acc;
    this.step = x.step;
    this.epochsDone = x.epochsDone;
    this.epochBatchesDone = x.epochBatchesDone === true;
    this.bestValAccuracy = x.bestValAccuracy;
    this.bestEpoch = x.bestEpoch;
    this.o.modelRng.setState(x.modelRng.map((v) => (v === null ? NaN : v)));
    const upd = new Map<string, SafetensorEntry>();
    for (const [k, v] of tensors) if (k.startsWith(UPDATER_PREFIX)) upd.set(k.slice(UPDATER_PREFIX.length), v);
    this.o.updater.loadState(upd, x.updater);
    // Metrics past the checkpoint (written after it, before a crash) are dropped.
    this.metrics = this.o.run.readMetrics().filter((m) => m.epoch <= x.globalEpochsDone);
  }

  /** Optimizer steps of the run so far (this phase's plus {@link PhaseOptions.stepsBefore}, or as resumed). */
  get steps(): number {
    return this.step;
  }

  /** Global epoch number (1-based across phases) of the epoch now running. */
  private globalEpoch(): number {
    return this.metricsBeforePhase() + this.epochsDone + 1;
  }

  private phaseStartIndex: number | null = null;
  private metricsBeforePhase(): number {
    if (this.phaseStartIndex === null) this.phaseStartIndex = this.metrics.filter((m) => m.phase !== this.o.phase).length;
    return this.phaseStartIndex;
  }

  /**
   * Runs (the rest of) the phase synchronously. A SIGINT handler cannot run meanwhile (the event
   * loop is blocked): when `interrupt` is set from a signal, drive {@link iterate} with
   * {@link runYielding} instead, as the CLI does.
   */
  run(): PhaseResult {
    return runToEnd(this.iterate());
  }

  /**
   * The phase as a generator that yields after every batch (before the interrupt check), for
   * callers that interleave it with other work: `const r = yield* phase.iterate()`.
   */
  *iterate(): Generator<void, PhaseResult, void> {
    const o = this.o;
    o.model.train();
    const batches = this.loader.batchesPerEpoch;
    while (this.epochsDone < o.epochs) {
      const epoch = this.globalEpoch();
      let t0 = performance.now();
      const batchesLeft = !this.epochBatchesDone;
      this.epochBatchesDone = false;
      if (batchesLeft) for (const batch of this.loader) {
        // The loader advances before it hands a batch out and rolls over to batch 0 after the
        // epoch's last one, so its position is this batch's 1-based number, or 0 for the last.
        const done = this.loader.getState().batch || batches;
        const where = `epoch ${epoch}, batch ${done}`;
        // One step; its activations' memory is reused by the next (nothing made here outlives it).
        const { lossValue, correct } = recycleActivations(() => {
          o.updater.zeroGrad();
          const logits = o.model.forward(batch.x);
          const labels = batch.labels.subarray(0, batch.size);
          const loss = crossEntropy(logits, labels);
          const value = loss.item();
          if (!Number.isFinite(value)) {
            const bad = firstNonFinite(o.model);
            if (bad !== null) throw new ValueError('train', `the weights hold non-finite values before ${where} (${bad}): the starting weights or checkpoint are damaged; nothing was saved over the last checkpoint`);
            throw new ValueError('train', `loss became ${value} at ${where}; lower --lr (now ${o.updater.lr()}) or check the input data`);
          }
          loss.backward();
          o.updater.step();
          // The loss can stay finite while gradients are NaN or Inf (a NaN hidden by a max-pool or a
          // saturated softmax): they then show up in the weights, checked after every step.
          const bad = firstNonFinite(o.model);
          if (bad !== null) throw new ValueError('train', `the weights became non-finite at ${where} (${bad}; loss was ${value}): the gradients held NaN or Inf. Lower --lr (now ${o.updater.lr()}) or check the input data; the run stopped before saving, so the last checkpoint is the last good state`);
          return { lossValue: value, correct: accuracyCount(logits, labels) };
        });
        this.step++;
        this.acc.lossSum += lossValue * batch.size;
        this.acc.correct += correct;
        this.acc.seen += batch.size;
        const now = performance.now();
        this.acc.seconds += (now - t0) / 1000;
        t0 = now;
        if (o.onProgress) {
          const ips = this.acc.seen / Math.max(this.acc.seconds, 1e-9);
          const remainingImages = (batches - done) * o.batchSize + (o.epochs - this.epochsDone - 1) * o.train.size;
          o.onProgress({
            phase: o.phase, epoch, epochs: this.metricsBeforePhase() + o.epochs, batch: done, batches, step: this.step,
            loss: this.acc.lossSum / this.acc.seen, accuracy: this.acc.correct / this.acc.seen,
            imagesPerSecond: ips, etaSeconds: remainingImages / ips,
          });
        }
        if (this.step === INTERRUPT_AFTER_STEPS && o.interrupt) o.interrupt.interrupted = true;
        yield;
        if (o.interrupt?.interrupted) {
          // NOTE: after an epoch's last batch the loader has rolled over (no epoch seed), so the
          // checkpoint must say that only finishing the epoch is left.
          this.saveCheckpoint(this.loader.getState().epochSeed === null);
          return { completed: false, metrics: this.metrics, bestValAccuracy: this.bestValAccuracy, bestEpoch: this.bestEpoch };
        }
      }
      this.finishEpoch(epoch);
      this.saveCheckpoint();
      if (o.interrupt?.interrupted) return { completed: this.epochsDone >= o.epochs, metrics: this.metrics, bestValAccuracy: this.bestValAccuracy, bestEpoch: this.bestEpoch };
    }
    return { completed: true, metrics: this.metrics, bestValAccuracy: this.bestValAccuracy, bestEpoch: this.bestEpoch };
  }

  private finishEpoch(epoch: number): void {
    const o = this.o;
    const lr = o.updater.lr();
    const val = o.val ? evaluate(o.model, o.val, o.evalBatchSize ?? 256) : null;
    o.model.train();
    const line: EpochMetrics = {
      epoch,
      phase: o.phase,
      lr,
      trainLoss: this.acc.lossSum / Math.max(1, this.acc.seen),
      trainAccuracy: this.acc.correct / Math.max(1, this.acc.seen),
      valLoss: val ? val.loss : null,
      valAccuracy: val ? val.accuracy : null,
      imagesPerSecond: this.acc.seen / Math.max(this.acc.seconds, 1e-9),
      seconds: this.acc.seconds,
      ...(o.epochExtras ? o.epochExtras() : {}),
    };
    this.metrics.push(line);
    o.run.writeMetrics(this.metrics);
    o.onEpoch?.(line);
    this.epochsDone++;
    this.acc = { lossSum: 0, correct: 0, seen: 0, seconds: 0 };
    o.updater.endEpoch();
    const score = val ? val.accuracy : line.trainAccuracy;
    // NOTE: the authors' first EC2T epoch (index 0) can never be saved as best: it is the one right
    // after the jump from float to ternary weights. With a single epoch it must still be eligible.
    const eligible = !(o.skipFirstEpochForBest && this.epochsDone === 1 && o.epochs > 1);
    if (eligible && (this.bestValAccuracy === null || score > this.bestValAccuracy)) {
      this.bestValAccuracy = score;
      this.bestEpoch = epoch;
      o.onBest?.(epoch, score);
    }
  }

  /**
   * Writes the resume checkpoint (model, updater, loader, generators, accumulators).
   * @param epochBatchesDone true when taken after the current epoch's last batch and before its
   *   validation (a resume then finishes that epoch instead of starting the next one)
   */
  saveCheckpoint(epochBatchesDone = false): void {
    const o = this.o;
    const model = new Map<string, SafetensorInput>(stateDictForSave(o.model));
    for (const [k, v] of o.updater.stateTensors()) model.set(UPDATER_PREFIX + k, v);
    const extra: CheckpointExtra = {
      phase: o.phase,
      loader: this.loader.getState(),
      acc: this.acc,
      step: this.step,
      epochsDone: this.epochsDone,
      epochBatchesDone,
      globalEpochsDone: this.metrics.length,
      bestValAccuracy: this.bestValAccuracy,
      bestEpoch: this.bestEpoch,
      modelRng: o.modelRng.getState().map((v) => (Number.isNaN(v) ? null : v)),
      updater: o.updater.stateJson(),
      config: o.checkpointExtra ?? null,
    };
    o.run.writeBytes(RUN_FILES.checkpoint, serializeCheckpoint({ model, epoch: this.metrics.length, step: this.step, rng: o.loaderRng, extra: extra as unknown as JsonValue }));
  }
}

/**
 * Drives a generator from {@link TrainingPhase.iterate} (or one that `yield*`s it) to its end synchronously.
 * @example const r = runToEnd(phase.iterate());
 */
export function runToEnd<T>(gen: Generator<void, T, void>): T {
  for (;;) {
    const r = gen.next();
    if (r.done) return r.value;
  }
}

/**
 * One turn of the event loop: `setImmediate` in Node; elsewhere (browsers, workers) a message to
 * oneself, which, unlike `setTimeout(0)`, is not clamped to 4 ms when repeated.
 */
function nextTurn(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise<void>((resolve) => setImmediate(resolve));
  return new Promise<void>((resolve) => {
    // A web MessagePort (Node's typings describe worker_threads' EventEmitter port instead).
    const ch = new MessageChannel() as unknown as { port1: { onmessage: (() => void) | null; close(): void }; port2: { postMessage(m: unknown): void } };
    ch.port1.onmessage = () => {
      ch.port1.close();
      resolve();
    };
    ch.port2.postMessage(null);
  });
}

/**
 * Drives a generator to its end, yielding to the event loop at each of its yields, so signal
 * handlers, timers and (in a worker) incoming messages run between training batches.
 * @example const summary = await runYielding(ternarizeSteps(flags));
 */
export async function runYielding<T>(gen: Generator<void, T, void>): Promise<T> {
  for (;;) {
    const r = gen.next();
    if (r.done) return r.value;
    await nextTurn();
  }
}

const UPDATER_PREFIX = '__updater.';
/**
 * Test hook: behave as if Ctrl-C arrived right after this many optimizer steps, so the
 * interrupt-and-resume path can be tested deterministically (`EC2T_INTERRUPT_AFTER_STEPS`).
 */
const INTERRUPT_AFTER_STEPS = Number(platform().env('EC2T_INTERRUPT_AFTER_STEPS') ?? NaN);

interface CheckpointExtra {
  phase: EpochMetrics['phase'];
  loader: DataLoaderState;
  acc: EpochAccumulators;
  step: number;
  epochsDone: number;
  /** Absent in checkpoints written before it existed (read as false). */
  epochBatchesDone?: boolean;
  globalEpochsDone: number;
  bestValAccuracy: number | null;
  bestEpoch: number | null;
  modelRng: (number | null)[];
  updater: JsonValue;
  config: JsonValue;
}

/** What {@link readRunCheckpoint} returns. */
export interface RunCheckpoint {
  /** The model's own tensors (state-dict names). */
  model: Map<string, SafetensorEntry>;
  /** Every tensor, updater state included (pass to {@link TrainingPhase.resume}). */
  all: Map<string, SafetensorEntry>;
  extra: JsonValue;
  /** Epochs completed across all phases. */
  epoch: number;
  /** Phase the checkpoint was written in (a `ternarize` run resumes into that phase). */
  phase: EpochMetrics['phase'];
}

const PHASES: ReadonlyArray<EpochMetrics['phase']> = ['train', 'ec2t', 'frozen'];

/**
 * A run folder's checkpoint split into model tensors and the rest, for resuming.
 * @example const ck = readRunCheckpoint(run); model.loadStateDict(...); phase.resume(ck.all, ck.extra);
 */
export function readRunCheckpoint(store: RunStore): RunCheckpoint {
  const path = store.path(RUN_FILES.checkpoint);
  const c = parseCheckpoint(store.readBytes(RUN_FILES.checkpoint), path);
  const model = new Map<string, SafetensorEntry>();
  for (const [k, v] of c.model) if (!k.startsWith(UPDATER_PREFIX)) model.set(k, v);
  const phase = (c.extra as { phase?: unknown } | null)?.phase;
  if (typeof phase !== 'string' || !(PHASES as readonly string[]).includes(phase)) {
    throw new FormatError(path, `checkpoint metadata has phase ${JSON.stringify(phase)}; expected one of ${PHASES.join(', ')} (not written by ec2t train/ternarize?)`);
  }
  checkCheckpointExtra(path, c.extra as Record<string, unknown>);
  return { model, all: c.model, extra: c.extra, epoch: c.epoch, phase: phase as EpochMetrics['phase'] };
}

/**
 * The resume state in a checkpoint's metadata, checked field by field before anything uses it:
 * a hand-edited or damaged field is a one-line {@link FormatError} naming it, never a stack trace
 * or a silently different run.
 */
function checkCheckpointExtra(path: string, x: Record<string, unknown>): void {
  const bad = (field: string, want: string, v: unknown): never => {
    throw new FormatError(path, `checkpoint metadata field "${field}" must be ${want}, got ${(JSON.stringify(v) ?? String(v)).slice(0, 80)}`);
  };
  const count = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  const finite = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);
  const obj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  for (const f of ['step', 'epochsDone', 'globalEpochsDone'] as const) if (!count(x[f])) bad(f, 'an integer >= 0', x[f]);
  if (x.epochBatchesDone !== undefined && typeof x.epochBatchesDone !== 'boolean') bad('epochBatchesDone', 'true or false', x.epochBatchesDone);
  if (x.bestValAccuracy !== null && !(finite(x.bestValAccuracy) && (x.bestValAccuracy as number) >= 0 && (x.bestValAccuracy as number) <= 1)) bad('bestValAccuracy', 'null or a number in [0, 1]', x.bestValAccuracy);
  if (x.bestEpoch !== null && !count(x.bestEpoch)) bad('bestEpoch', 'null or an integer >= 0', x.bestEpoch);
  const rngState = (field: string, v: unknown): void => {
    if (!Array.isArray(v) || v.length !== 5 || !v.every((w) => w === null || finite(w))) bad(field, 'a generator state (5 numbers)', v);
  };
  rngState('modelRng', x.modelRng);
  const acc = x.acc;
  if (!obj(acc) || !['lossSum', 'correct', 'seen', 'seconds'].every((k) => finite(acc[k]))) bad('acc', 'an object of 4 numbers (lossSum, correct, seen, seconds)', acc);
  const loader = x.loader;
  if (!obj(loader)) return bad('loader', 'a data-loader state object', loader);
  if (!count(loader.epoch) || !count(loader.batch)) bad('loader', 'a state with integer epoch and batch >= 0', loader);
  if (loader.epochSeed !== null && !count(loader.epochSeed)) bad('loader.epochSeed', 'null or an integer >= 0', loader.epochSeed);
  rngState('loader.rng', loader.rng);
}

/**
 * The first parameter of `model` holding NaN or ±Inf, as `name (NaN)`, or null. One pass of
 * additions per parameter (a non-finite value makes the sum non-finite; the sum of finite float32
 * values cannot overflow a float64), cheaper than the optimizer step it follows.
 * @example firstNonFinite(model) // 'conv1.weight (NaN)'
 */
export function firstNonFinite(model: Module): string | null {
  for (const [name, p] of model.namedParameters()) {
    const d = p.data;
    let s = 0;
    for (let i = 0; i < d.length; i++) s += d[i];
    if (!Number.isFinite(s)) {
      const hasNaN = Number.isNaN(s) && d.some((v) => Number.isNaN(v));
      return `${name} (${hasNaN ? 'NaN' : 'Inf'})`;
    }
  }
  return null;
}
