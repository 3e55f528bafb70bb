/**
 * `ec2t train` and `ec2t eval`: flags to the {@link trainModel} recipe, and printing.
 */
import { Rng } from '../base/rng.js';
import { CIFAR_AUGMENT, type AugmentConfig } from '../datasets/transforms.js';
import { RunFolder, environmentFacts } from '../ec2t/runfolder.js';
import { evaluate, firstNonFinite, readRunCheckpoint } from '../ec2t/train.js';
import { trainModel, type TrainResult } from '../ec2t/recipes/train.js';
import type { RecipeProgress } from '../ec2t/recipes/events.js';
import { FormatError } from '../base/errors.js';
import { getBackend } from '../kernels/registry.js';
import type { Parsed, FlagValue } from './args.js';
import { UsageError } from './args.js';
import { architectureOfWeights, buildModel, checkInputSize, defaultRunDir, loadSplits, loadWeightsInto, readWeights, reportSkippedImages, resumedFlags, seedStreams } from './common.js';
import { trainSpec } from './commands.js';
import { prepareRunFolder } from './outputs.js';
import { log, progressPrinter } from './progress.js';
import { writeRunReport } from './run-report.js';

/** What `ec2t train --json` prints: the recipe's result, plus where and on what it ran. */
export interface TrainSummary extends TrainResult {
  model: string;
  dataset: string;
  out: string;
}

/**
 * Ctrl-C as an abort: the first SIGINT aborts the returned signal (the recipe checkpoints after the
 * current batch and returns); a second one exits at once.
 */
export function interruptSignal(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const handler = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
    log('\ninterrupt: saving a checkpoint at the next batch (Ctrl-C again to quit without saving)');
  };
  process.on('SIGINT', handler);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', handler) };
}

/** The recipes' progress events as the CLI shows them: a bar (or log lines) per batch, phase results. */
export function recipeProgressPrinter(quiet = false): (e: RecipeProgress) => void {
  const bar = progressPrinter(quiet);
  return (e) => {
    if (e.kind === 'batch') bar(e);
    else if (e.kind === 'phase' && e.phase === 'ec2t' && e.completed) {
      log(`EC2T phase: best validation accuracy ${((e.bestValAccuracy ?? 0) * 100).toFixed(2)}% at epoch ${e.bestEpoch}`);
    }
  };
}

function augmentFor(flags: Record<string, FlagValue>, dataset: string): AugmentConfig | undefined {
  // An image folder's random resized crop and flip are its training transform (datasets/imagefolder).
  const on = flags['no-augment'] || dataset === 'imagefolder' ? false : flags.augment ? true : dataset !== 'mnist';
  const cut = (flags.cutout as number) ?? 0;
  if (!on && cut === 0) return undefined;
  return { ...(on ? CIFAR_AUGMENT : {}), ...(cut > 0 ? { cutout: { holes: 1, length: cut } } : {}) };
}

/** Options of {@link trainCommandAsync}. */
export interface TrainOptions {
  quiet?: boolean;
  modelOptions?: Record<string, unknown>;
  /**
   * Install a SIGINT handler: Ctrl-C (or the `EC2T_INTERRUPT_AFTER_STEPS` test hook) checkpoints
   * after the current batch and the summary comes back with `interrupted: true`.
   */
  interruptible?: boolean;
}

/**
 * `ec2t train` from its flags: maps them to {@link trainModel}'s options, runs it on the run folder
 * and writes the folder's records (config, manifest, summary).
 * @example const s = await trainCommandAsync({ model: 'lenet5', dataset: 'mnist', epochs: 1 });
 */
export async function trainCommandAsync(flagsIn: Record<string, FlagValue>, opts: TrainOptions = {}): Promise<TrainSummary> {
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
  }
  const checkpoint = resumeDir === undefined ? undefined : readRunCheckpoint(run);
  if (checkpoint !== undefined) log(`resuming ${resumeDir} after ${checkpoint.epoch} completed epoch(s)`);
  const interrupt = opts.interruptible ? interruptSignal() : null;
  let result;
  try {
    result = await trainModel({
      model: net, modelName: model, train: data.train, val: data.val, test: data.test, epochs,
      batchSize: flags['batch-size'] as number, optimizer: flags.optimizer as 'sgd' | 'adam', lr: flags.lr as number,
      momentum: flags.momentum as number, nesterov: flags.nesterov === true, weightDecay: flags['weight-decay'] as number,
      schedule: flags.schedule as 'cosine' | 'step' | 'none', stepSize: flags['step-size'] as number | undefined,
      augment: augmentFor(flags, dataset), loaderRng: streams.loader, modelRng: streams.model, store: run, checkpoint,
      onProgress: recipeProgressPrinter(opts.quiet), signal: interrupt?.signal,
    });
  } finally {
    interrupt?.dispose();
  }
  const summary: TrainSummary = {
    model, dataset, epochs: result.epochs, testAccuracy: result.testAccuracy, testLoss: result.testLoss,
    bestValAccuracy: result.bestValAccuracy, bestEpoch: result.bestEpoch,
    seconds: (performance.now() - t0) / 1000, out, interrupted: result.interrupted,
  };
  run.writeJson('summary.json', summary);
  reportSkippedImages(data);
  if (result.interrupted) log(`stopped; resume with: ec2t train --resume ${out}`);
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
