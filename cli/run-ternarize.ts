/**
 * `ec2t ternarize`: EC2T (or TTQ / ECP) main phase on a pretrained model, best model by
 * validation accuracy, then frozen-assignment retraining (docs/METHOD.md §4–§7); `--resume DIR`
 * continues an interrupted run bit for bit.
 */
import { entryToTensor, loadSafetensors, saveSafetensors, type SafetensorEntry, type SafetensorInput } from '../nn/safetensors.js';
import { stateDictForSave, type Module } from '../nn/module.js';
import { ternaryLayerNames } from '../nn/models/index.js';
import { RunFolder, environmentFacts } from '../ec2t/runfolder.js';
import { TrainingPhase, evaluate, readRunCheckpoint, runToEnd, runYielding, type Updater } from '../ec2t/train.js';
import { TernaryQuantizer, type QuantizerConfig } from '../ec2t/quantizer.js';
import { recognizeTernaryValued } from '../ec2t/export.js';
import type { JsonValue } from '../nn/checkpoint.js';
import { getBackend } from '../kernels/registry.js';
import type { FlagValue, Parsed } from './args.js';
import { UsageError } from './args.js';
import { ternarizeSpec } from './commands.js';
import { interruptFlag } from './run-train.js';
import { architectureOfWeights, buildModel, checkInputSize, defaultRunDir, loadSplits, loadWeightsInto, readWeights, reportSkippedImages, resumedFlags, seedStreams } from './common.js';
import { prepareRunFolder } from './outputs.js';
import { log, progressPrinter } from './progress.js';
import { writeRunReport } from './run-report.js';

/** What `ec2t ternarize --json` prints. */
export interface TernarizeSummary {
  accuracy: number;
  sparsity: number;
  overallSparsity: number;
  epochs: number;
  seconds: number;
  /** Extra fields (not part of the --json contract's required set). */
  floatAccuracy: number;
  loss: number;
  method: string;
  gain: number;
  initScale: number;
  variant: string;
  out: string;
  /** True when Ctrl-C stopped the run (accuracy and loss are then NaN, `epochs` counts completed ones). */
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

/** Turns `--layers` glob patterns (`*` wildcard) into the matching Conv2d/Linear layer names. */
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

function snapshot(model: Module, q: TernaryQuantizer): { tensors: Map<string, SafetensorInput>; json: JsonValue } {
  const tensors = new Map<string, SafetensorInput>(stateDictForSave(model));
  for (const [k, v] of q.stateTensors()) tensors.set(`__q.${k}`, v);
  return { tensors, json: q.stateJson() };
}

function restore(model: Module, q: TernaryQuantizer, path: string): void {
  const file = loadSafetensors(path);
  const modelTensors = new Map<string, ReturnType<typeof entryToTensor>>();
  const qTensors = new Map<string, SafetensorEntry>();
  for (const [k, e] of file.tensors) {
    if (k.startsWith('__q.')) qTensors.set(k.slice(4), e);
    else modelTensors.set(k, entryToTensor(e));
  }
  model.loadStateDict(modelTensors, { strict: true });
  q.loadState(qTensors, JSON.parse(file.metadata.quantizer) as JsonValue);
}

/** Options of {@link ternarizeCommand} / {@link ternarizeCommandAsync}. */
export interface TernarizeOptions {
  quiet?: boolean;
  /**
   * Install a SIGINT handler: Ctrl-C (or the `EC2T_INTERRUPT_AFTER_STEPS` test hook) checkpoints
   * after the current batch and the summary comes back with `interrupted: true` (no test
   * evaluation, no summary.json). A real Ctrl-C needs {@link ternarizeCommandAsync}: the
   * synchronous entry never lets the handler run.
   */
  interruptible?: boolean;
}

/**
 * Runs EC2T on a pretrained model (library entry used by the demo; synchronous): the main phase,
 * the best model of it (§6), frozen-assignment retraining. With `flags.resume` it continues an
 * interrupted run folder where its checkpoint stopped — in either phase, mid-epoch included — and
 * ends with the same files, bit for bit, as an uninterrupted run.
 * @example const s = ternarizeCommand(parseCommand(ternarizeSpec, ['--model', 'lenet5', '--weights', 'fp.safetensors']).flags);
 */
export function ternarizeCommand(flags: Record<string, FlagValue>, opts: TernarizeOptions = {}): TernarizeSummary {
  return runToEnd(ternarizeSteps(flags, opts));
}

/**
 * {@link ternarizeCommand} that lets the event loop run after every training batch, so Ctrl-C is
 * seen (with `opts.interruptible`); what `ec2t ternarize` uses.
 * @example const s = await ternarizeCommandAsync(flags, { interruptible: true });
 */
export function ternarizeCommandAsync(flags: Record<string, FlagValue>, opts: TernarizeOptions = {}): Promise<TernarizeSummary> {
  return runYielding(ternarizeSteps(flags, opts));
}

/** The ternarize run as a generator that yields after every training batch. */
function* ternarizeSteps(flagsIn: Record<string, FlagValue>, opts: TernarizeOptions): Generator<void, TernarizeSummary, void> {
  const t0 = performance.now();
  const resumeDir = flagsIn.resume as string | undefined;
  const flags = resumeDir === undefined ? flagsIn : resumedFlags(ternarizeSpec, resumeDir, flagsIn).flags;
  for (const [name, what] of [['model', 'architecture'], ['weights', 'pretrained float weights']] as const) {
    if (flags[name] === undefined) throw new UsageError(`ec2t ternarize: missing required flag --${name} (${what}), unless you --resume a run folder. See ec2t ternarize --help`);
  }
  const modelName = flags.model as string;
  const seed = flags.seed as number;
  const out = resumeDir ?? (flags.out as string | undefined) ?? defaultRunDir([modelName, flags.method as string]);
  // The float run's best.safetensors as --weights with --out at that run would destroy the float model.
  if (resumeDir === undefined) prepareRunFolder('ternarize', out, flags.force === true, [{ flag: '--weights', path: flags.weights as string }]);
  const streams = seedStreams(seed);
  const data = loadSplits(flags, streams);
  const run = new RunFolder(out);
  // On resume every weight comes from the checkpoint; the float weights file may be gone.
  const ck = resumeDir === undefined ? null : readRunCheckpoint(run.checkpoint);
  const weightsPath = flags.weights as string;
  const weights = ck === null ? readWeights(weightsPath) : ck.model;
  // The weights' shapes decide the architecture (a scaled MicroNet, a MobileNetV2 width).
  const arch = architectureOfWeights(modelName, weights, ck === null ? weightsPath : run.checkpoint, data.train);
  const model = buildModel(modelName, data.train, streams.model, arch.options, checkInputSize(flags, data.train));
  let floatAccuracy: number;
  if (ck === null) {
    loadWeightsInto(model, weightsPath, weights);
    floatAccuracy = evaluate(model, data.test).accuracy;
  } else {
    const m = run.readJson<{ floatTestAccuracy?: unknown }>('manifest.json');
    floatAccuracy = typeof m.floatTestAccuracy === 'number' ? m.floatTestAccuracy : NaN;
  }
  const layers = selectLayers(model, modelName, flags.layers as string[] | undefined);
  const cfg: QuantizerConfig = {
    method: flags.method as QuantizerConfig['method'],
    variant: flags.variant as QuantizerConfig['variant'],
    gain: flags.gain as number,
    initScale: flags['init-scale'] as number,
    initMethod: flags['init-method'] as QuantizerConfig['initMethod'],
    ttqThreshold: flags['ttq-threshold'] as number,
    lr: flags.lr as number,
    centroidLr: flags['centroid-lr'] as number,
    weightDecay: flags['weight-decay'] as number,
  };
  // A ternary-valued checkpoint (the authors' release format) retrains from its own ternary state.
  const initial = new Map<string, { wp: number; wn: number; assignment: Int8Array }>();
  if (ck === null) {
    const r = recognizeTernaryValued(modelName, weights, arch.options, weightsPath);
    for (const name of r.recognized.filter((n) => layers.includes(n))) {
      const e = (k: string): SafetensorEntry => r.stateDict.get(`${name}.${k}`) as SafetensorEntry;
      initial.set(name, { wp: (e('w_p').data as Float32Array)[0], wn: (e('w_n').data as Float32Array)[0], assignment: e('assignment').data as Int8Array });
    }
    if (initial.size > 0) log(`note: ${initial.size} layer(s) of ${weightsPath} hold only {−w_n, 0, +w_p}; they start from that ternary state (centroids and assignment), not from --init-scale`);
  }
  const q = new TernaryQuantizer(model, layers, cfg, { initial });
  const updater = new QuantizerUpdater(q);
  const mainEpochs = flags.epochs as number;
  const retrainEpochs = flags['retrain-epochs'] as number;
  if (ck === null) {
    run.writeJson('config.json', { command: 'ternarize', flags, layers, method: cfg.method, gain: cfg.gain, initScale: cfg.initScale, variant: cfg.variant });
    run.writeJson('manifest.json', {
      seed, ...environmentFacts(), backend: getBackend(),
      dataset: { name: flags.dataset, fingerprint: data.train.fingerprint(), testFingerprint: data.test.fingerprint(), train: data.train.size, val: data.val?.size ?? 0, test: data.test.size },
      argv: process.argv.slice(2), startedAt: new Date().toISOString(), floatTestAccuracy: floatAccuracy,
    });
    run.writeMetrics([]);
  } else {
    if ((ck.phase === 'ec2t' && mainEpochs === 0) || (ck.phase === 'frozen' && retrainEpochs === 0) || ck.phase === 'train') {
      throw new UsageError(`--resume ${out}: its checkpoint is in phase '${ck.phase}', which a ternarize run with --epochs ${mainEpochs} --retrain-epochs ${retrainEpochs} does not have; was checkpoint.safetensors copied from another run?`);
    }
    // Backgrounds and BN buffers first: the quantizer's state (loaded by the phase) rebuilds ECP's Wt from them.
    model.loadStateDict(new Map([...ck.model].map(([k, e]) => [k, entryToTensor(e)])), { strict: true });
    const m = run.readJson<Record<string, unknown>>('manifest.json');
    const resumes = Array.isArray(m.resumes) ? m.resumes : [];
    run.writeJson('manifest.json', { ...m, resumes: [...resumes, { at: new Date().toISOString(), argv: process.argv.slice(2), backend: getBackend(), phase: ck.phase, epochsDone: ck.epoch }] });
    log(`resuming ${out} in the ${ck.phase === 'ec2t' ? 'EC2T' : 'frozen-assignment'} phase after ${ck.epoch} completed epoch(s)`);
  }
  const extras = (): Record<string, unknown> => {
    const s = q.sparsity();
    return { overallSparsity: s.overall, sparsity: s.quantized, entropy: s.entropy, layers: q.layerStats() };
  };
  const progress = progressPrinter(opts.quiet);
  const bestPath = run.path('best-ec2t.safetensors');
  const saveBest = (): void => {
    const snap = snapshot(model, q);
    saveSafetensors(bestPath, snap.tensors, { quantizer: JSON.stringify(snap.json) });
  };
  const ternaryPath = run.path('ternary.safetensors');
  const saveTernary = (): void => saveSafetensors(ternaryPath, q.ternaryStateDict(), { format: 'pt', model: modelName, method: cfg.method });
  const interrupt = opts.interruptible ? interruptFlag() : null;
  let stopped = false;
  try {
    // On resume, best-ec2t.safetensors and ternary.safetensors on disk are the run's own (written
    // before its checkpoint); rewriting them from the resumed state would be wrong.
    if (ck === null) saveBest(); // the initial ternarization, in case no epoch improves on it
    let stepsBefore = 0;
    if (mainEpochs > 0 && ck?.phase !== 'frozen') {
      const phase1 = new TrainingPhase({
        phase: 'ec2t', model, train: data.train, val: data.val, batchSize: flags['batch-size'] as number, epochs: mainEpochs,
        loaderRng: streams.loader, modelRng: streams.model, updater, run, epochExtras: extras,
        onBest: saveBest, onProgress: progress, skipFirstEpochForBest: true, interrupt: interrupt?.flag,
      });
      if (ck !== null) phase1.resume(ck.all, ck.extra);
      const r1 = yield* phase1.iterate();
      stepsBefore = phase1.steps;
      // A Ctrl-C during the last epoch's validation completes the phase; stop before the next one
      // all the same (the checkpoint then resumes at the phase boundary).
      stopped = !r1.completed || interrupt?.flag.interrupted === true;
      if (!stopped) {
        log(`EC2T phase: best validation accuracy ${((r1.bestValAccuracy ?? 0) * 100).toFixed(2)}% at epoch ${r1.bestEpoch}`);
        // §6: retraining starts from the best ternary model of the main phase.
        restore(model, q, bestPath);
      }
    }
    if (!stopped && ck?.phase !== 'frozen') {
      q.freeze(); // fresh Adam state for the non-quantized parameters and centroids ([code] define_optimizers)
      saveTernary();
    }
    if (!stopped && retrainEpochs > 0) {
      const phase2 = new TrainingPhase({
        phase: 'frozen', model, train: data.train, val: data.val, batchSize: flags['batch-size'] as number, epochs: retrainEpochs,
        loaderRng: streams.loader, modelRng: streams.model, updater, run, epochExtras: extras,
        onBest: () => {
          saveTernary();
          saveBest();
        },
        onProgress: progress, interrupt: interrupt?.flag, stepsBefore,
      });
      // The frozen flag and the optimizers' state (fresh at the phase start, then stepped) come with the checkpoint.
      if (ck?.phase === 'frozen') phase2.resume(ck.all, ck.extra);
      stopped = !(yield* phase2.iterate()).completed;
      if (!stopped) {
        saveSafetensors(run.lastWeights, q.ternaryStateDict(), { format: 'pt', model: modelName });
        restore(model, q, bestPath);
      }
    } else if (!stopped) {
      saveSafetensors(run.lastWeights, q.ternaryStateDict(), { format: 'pt', model: modelName });
    }
  } finally {
    interrupt?.dispose();
  }
  const s = q.sparsity();
  const base = { sparsity: s.quantized, overallSparsity: s.overall, floatAccuracy, method: cfg.method, gain: cfg.gain, initScale: cfg.initScale, variant: cfg.variant, out };
  if (stopped) {
    log(`stopped; resume with: ec2t ternarize --resume ${out}`);
    return { ...base, accuracy: NaN, loss: NaN, epochs: run.readMetrics().length, seconds: (performance.now() - t0) / 1000, interrupted: true };
  }
  saveSafetensors(run.bestWeights, q.ternaryStateDict(), { format: 'pt', model: modelName });
  const test = evaluate(model, data.test);
  run.writeJson('histograms.json', { layers: q.histograms(60) });
  const summary: TernarizeSummary = {
    ...base, accuracy: test.accuracy, loss: test.loss, epochs: mainEpochs + retrainEpochs,
    seconds: (performance.now() - t0) / 1000, interrupted: false,
  };
  run.writeJson('summary.json', summary);
  reportSkippedImages(data);
  return summary;
}

/**
 * `ec2t ternarize` handler. Exit 130 after an interrupt (checkpoint written; `--json` then prints
 * `{ interrupted: true, epochs, seconds, out }` with the epochs completed so far).
 */
export async function runTernarize(p: Parsed): Promise<number> {
  const s = await ternarizeCommandAsync(p.flags, { interruptible: true });
  if (s.interrupted) {
    if (p.flags.json) process.stdout.write(JSON.stringify({ interrupted: true, epochs: s.epochs, seconds: s.seconds, out: s.out }) + '\n');
    return 130;
  }
  log(`ternary test accuracy ${(100 * s.accuracy).toFixed(2)}% (float ${(100 * s.floatAccuracy).toFixed(2)}%), sparsity of ternary layers ${(100 * s.sparsity).toFixed(2)}%, overall ${(100 * s.overallSparsity).toFixed(2)}%, ${s.seconds.toFixed(1)} s; run folder ${s.out}`);
  await writeRunReport(s.out);
  if (p.flags.json) {
    const { accuracy, sparsity, overallSparsity, epochs, seconds } = s;
    process.stdout.write(JSON.stringify({ accuracy, sparsity, overallSparsity, epochs, seconds }) + '\n');
  }
  return 0;
}
