/**
 * `ec2t train` and `ec2t eval`.
 */
import { Rng } from '../base/rng.js';
import { entryToTensor, saveSafetensors } from '../nn/safetensors.js';
import { stateDictForSave } from '../nn/module.js';
import { SGD, Adam } from '../nn/optim.js';
import { LrScheduler, cosineAnnealing, stepDecay, constantSchedule } from '../nn/schedule.js';
import { CIFAR_AUGMENT, type AugmentConfig } from '../datasets/transforms.js';
import { RunFolder, environmentFacts } from '../ec2t/runfolder.js';
import { OptimizerUpdater, TrainingPhase, evaluate, firstNonFinite, readRunCheckpoint, runToEnd, runYielding } from '../ec2t/train.js';
import { FormatError } from '../base/errors.js';
import { getBackend } from '../kernels/registry.js';
import type { Parsed, FlagValue } from './args.js';
import { UsageError } from './args.js';
import { architectureOfWeights, buildModel, checkInputSize, defaultRunDir, loadSplits, loadWeightsInto, readWeights, reportSkippedImages, resumedFlags, seedStreams } from './common.js';
import { trainSpec } from './commands.js';
import { prepareRunFolder } from './outputs.js';
import { log, progressPrinter } from './progress.js';
import { writeRunReport } from './run-report.js';

/** What `ec2t train --json` prints. */
export interface TrainSummary {
  model: string;
  dataset: string;
  epochs: number;
  testAccuracy: number;
  testLoss: number;
  bestValAccuracy: number | null;
  bestEpoch: number | null;
  seconds: number;
  out: string;
  interrupted: boolean;
}

/** Installs a SIGINT handler that asks the loop to checkpoint and stop; a second Ctrl-C exits at once. */
export function interruptFlag(): { flag: { interrupted: boolean }; dispose: () => void } {
  const flag = { interrupted: false };
  const handler = (): void => {
    if (flag.interrupted) process.exit(130);
    flag.interrupted = true;
    log('\ninterrupt: saving a checkpoint at the next batch (Ctrl-C again to quit without saving)');
  };
  process.on('SIGINT', handler);
  return { flag, dispose: () => process.off('SIGINT', handler) };
}

function augmentFor(flags: Record<string, FlagValue>, dataset: string): AugmentConfig | undefined {
  // An image folder's random resized crop and flip are its training transform (datasets/imagefolder).
  const on = flags['no-augment'] || dataset === 'imagefolder' ? false : flags.augment ? true : dataset !== 'mnist';
  const cut = (flags.cutout as number) ?? 0;
  if (!on && cut === 0) return undefined;
  return { ...(on ? CIFAR_AUGMENT : {}), ...(cut > 0 ? { cutout: { holes: 1, length: cut } } : {}) };
}

/** Options of {@link trainCommand} / {@link trainCommandAsync}. */
export interface TrainOptions {
  quiet?: boolean;
  modelOptions?: Record<string, unknown>;
  /**
   * Install a SIGINT handler: Ctrl-C (or the `EC2T_INTERRUPT_AFTER_STEPS` test hook) checkpoints
   * after the current batch and the summary comes back with `interrupted: true`. Only useful with
   * {@link trainCommandAsync}: a synchronous run never lets the handler run, so it would swallow Ctrl-C.
   */
  interruptible?: boolean;
}

/**
 * Trains a float model (library entry used by `ec2t scale`). Synchronous: a real
 * Ctrl-C is only seen by {@link trainCommandAsync}, which `ec2t train` uses.
 * @returns the summary printed by `--json`
 */
export function trainCommand(flagsIn: Record<string, FlagValue>, opts: TrainOptions = {}): TrainSummary {
  return runToEnd(trainSteps(flagsIn, opts));
}

/**
 * {@link trainCommand} that lets the event loop turn after every batch, so the SIGINT handler runs
 * and the run stops after that batch with a checkpoint.
 * @example const s = await trainCommandAsync({ model: 'lenet5', dataset: 'mnist', epochs: 1 });
 */
export function trainCommandAsync(flagsIn: Record<string, FlagValue>, opts: TrainOptions = {}): Promise<TrainSummary> {
  return runYielding(trainSteps(flagsIn, opts));
}

/** The training run as a generator that yields after every batch. */
function* trainSteps(flagsIn: Record<string, FlagValue>, opts: TrainOptions): Generator<void, TrainSummary, void> {
  const t0 = performance.now();
  let flags = flagsIn;
  const resumeDir = flags.resume as string | undefined;
  if (resumeDir !== undefined) {
    const r = resumedFlags(trainSpec, resumeDir, flagsIn);
    flags = r.flags;
    opts = { ...opts, modelOptions: r.saved.modelOptions };
  }
  if (flags.model === undefined) throw new UsageError('ec2t train: missing required flag --model (architecture), unless you --resume a run folder');
  // NOTE: per-dataset defaults: Adam (lr 0.002, L2 5e-4) reaches 99.3% on MNIST in 10 epochs here;
  // CIFAR follows the thesis (SGD, lr 0.1, momentum 0.9, L2 5e-4, cosine).
  const optimizerName = (flags.optimizer as string | undefined) ?? (flags.dataset === 'mnist' ? 'adam' : 'sgd');
  flags = { ...flags, optimizer: optimizerName, lr: (flags.lr as number | undefined) ?? (optimizerName === 'adam' ? 0.002 : 0.1) };
  if (flags.nesterov === true && (optimizerName !== 'sgd' || (flags.momentum as number) <= 0)) {
    throw new UsageError(`--nesterov needs --optimizer sgd with --momentum > 0 (got --optimizer ${optimizerName}, --momentum ${String(flags.momentum)})`);
  }
  const model = flags.model as string;
  const dataset = flags.dataset as string;
  const seed = flags.seed as number;
  const epochs = flags.epochs as number;
  const out = resumeDir ?? (flags.out as string | undefined) ?? defaultRunDir([model, dataset]);
  if (resumeDir === undefined) prepareRunFolder('train', out, flags.force === true, [{ flag: '--weights', path: flags.weights as string | undefined }]);
  const streams = seedStreams(seed);
  const data = loadSplits(flags, streams);
  const inputSize = checkInputSize(flags, data.train);
  // Starting from weights: their shapes decide the architecture (a scaled MicroNet, a MobileNetV2 width).
  const startWeights = flags.weights !== undefined && resumeDir === undefined ? readWeights(flags.weights as string) : null;
  if (startWeights !== null && opts.modelOptions === undefined) {
    opts = { ...opts, modelOptions: architectureOfWeights(model, startWeights, flags.weights as string, data.train).options };
  }
  const net = buildModel(model, data.train, streams.model, opts.modelOptions, inputSize);
  if (startWeights !== null) loadWeightsInto(net, flags.weights as string, startWeights);

  const params = net.parameters();
  const lr = flags.lr as number;
  const wd = flags['weight-decay'] as number;
  const optimizer = flags.optimizer === 'adam'
    ? new Adam({ params, lr, weightDecay: wd })
    : new SGD({ params, lr, momentum: flags.momentum as number, nesterov: flags.nesterov === true, weightDecay: wd });
  const schedule = flags.schedule === 'cosine'
    ? cosineAnnealing({ tMax: epochs })
    : flags.schedule === 'step'
      ? stepDecay({ stepSize: (flags['step-size'] as number | undefined) ?? Math.max(1, Math.floor(epochs / 3)), gamma: 0.1 })
      : constantSchedule();
  const scheduler = new LrScheduler(optimizer, schedule);
  const updater = new OptimizerUpdater(optimizer, scheduler);

  const run = new RunFolder(out);
  if (resumeDir === undefined) {
    run.writeJson('config.json', { command: 'train', flags, modelOptions: opts.modelOptions ?? {} });
    run.writeJson('manifest.json', {
      seed,
      ...environmentFacts(),
      backend: getBackend(),
      dataset: {
        name: dataset,
        fingerprint: data.train.fingerprint(),
        testFingerprint: data.test.fingerprint(),
        train: data.train.size,
        val: data.val?.size ?? 0,
        test: data.test.size,
      },
      argv: process.argv.slice(2),
      startedAt: new Date().toISOString(),
    });
    run.writeMetrics([]);
  }
  const interrupt = opts.interruptible ? interruptFlag() : null;
  const phase = new TrainingPhase({
    phase: 'train', model: net, train: data.train, val: data.val, batchSize: flags['batch-size'] as number, epochs,
    augment: augmentFor(flags, dataset), loaderRng: streams.loader, modelRng: streams.model, updater, run,
    onBest: () => saveSafetensors(run.bestWeights, stateDictForSave(net), { format: 'pt', model }),
    onProgress: progressPrinter(opts.quiet), interrupt: interrupt?.flag,
  });
  if (resumeDir !== undefined) {
    const ck = readRunCheckpoint(run.checkpoint);
    const tensors = new Map([...ck.model].map(([k, e]) => [k, entryToTensor(e)]));
    net.loadStateDict(tensors, { strict: true });
    phase.resume(ck.all, ck.extra);
    log(`resuming ${resumeDir} after ${ck.epoch} completed epoch(s)`);
  }
  let result;
  try {
    result = yield* phase.iterate();
  } finally {
    interrupt?.dispose();
  }
  saveSafetensors(run.lastWeights, stateDictForSave(net), { format: 'pt', model });
  const test = evaluate(net, data.test);
  const summary: TrainSummary = {
    model, dataset, epochs: result.metrics.length, testAccuracy: test.accuracy, testLoss: test.loss,
    bestValAccuracy: result.bestValAccuracy, bestEpoch: result.bestEpoch,
    seconds: (performance.now() - t0) / 1000, out, interrupted: !result.completed,
  };
  run.writeJson('summary.json', summary);
  reportSkippedImages(data);
  if (!result.completed) log(`stopped; resume with: ec2t train --resume ${out}`);
  return summary;
}

/** `ec2t train` handler. */
export async function runTrain(p: Parsed): Promise<number> {
  const s = await trainCommandAsync(p.flags, { quiet: false, interruptible: true });
  await writeRunReport(s.out);
  log(`test accuracy ${(100 * s.testAccuracy).toFixed(2)}% (loss ${s.testLoss.toFixed(4)}) after ${s.epochs} epoch(s), ${s.seconds.toFixed(1)} s; run folder ${s.out}`);
  if (p.flags.json) process.stdout.write(JSON.stringify(s) + '\n');
  return s.interrupted ? 130 : 0;
}

/** `ec2t eval` handler: prints `{ model, dataset, split, samples, loss, accuracy }` with --json. */
export async function runEval(p: Parsed): Promise<number> {
  const f = p.flags;
  const streams = seedStreams(f.seed as number);
  const split = f.split as 'test' | 'val';
  const data = loadSplits(split === 'val' ? f : { ...f, 'val-size': 0 }, streams);
  const ds = split === 'val' ? data.val : data.test;
  if (ds === null) throw new UsageError('--split val needs a validation set; --val-size must be > 0');
  const weights = readWeights(f.weights as string);
  const arch = architectureOfWeights(f.model as string, weights, f.weights as string, data.train);
  const net = buildModel(f.model as string, data.train, new Rng(0), arch.options, checkInputSize(f, data.train));
  loadWeightsInto(net, f.weights as string, weights);
  const bad = firstNonFinite(net);
  // NaN weights give NaN logits; an accuracy computed from them would be a meaningless number.
  if (bad !== null) throw new FormatError(f.weights as string, `the weights hold non-finite values (${bad}); there is no accuracy to report`);
  const r = evaluate(net, ds, f['batch-size'] as number);
  reportSkippedImages(data);
  const out = { model: f.model, dataset: f.dataset, split, samples: r.samples, loss: r.loss, accuracy: r.accuracy };
  if (f.json) process.stdout.write(JSON.stringify(out) + '\n');
  else log(`${f.model} on ${f.dataset}/${split}: accuracy ${(100 * r.accuracy).toFixed(2)}% loss ${r.loss.toFixed(4)} (${r.samples} images)`);
  return 0;
}
