/**
 * `ec2t ternarize`: EC2T (or TTQ / ECP) main phase on a pretrained model, best model by
 * validation accuracy, then frozen-assignment retraining (docs/METHOD.md §4–§7); `--resume DIR`
 * continues an interrupted run bit for bit.
 */
import type { SafetensorEntry } from '../nn/safetensors.js';
import type { Module } from '../nn/module.js';
import { ternaryLayerNames } from '../nn/models/index.js';
import { RunFolder, environmentFacts } from '../ec2t/runfolder.js';
import { evaluate, readRunCheckpoint } from '../ec2t/train.js';
import type { QuantizerConfig } from '../ec2t/quantizer.js';
import { recognizeTernaryValued } from '../ec2t/export.js';
import { ternarizeModel } from '../ec2t/recipes/ternarize.js';
import { getBackend } from '../kernels/registry.js';
import type { FlagValue, Parsed } from './args.js';
import { UsageError } from './args.js';
import { ternarizeSpec } from './commands.js';
import { interruptSignal, recipeProgressPrinter } from './run-train.js';
import { architectureOfWeights, buildModel, checkInputSize, defaultRunDir, loadSplits, loadWeightsInto, readWeights, reportSkippedImages, resumedFlags, seedStreams } from './common.js';
import { prepareRunFolder } from './outputs.js';
import { log } from './progress.js';
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

/** Options of {@link ternarizeCommandAsync}. */
export interface TernarizeOptions {
  quiet?: boolean;
  /**
   * Install a SIGINT handler: Ctrl-C (or the `EC2T_INTERRUPT_AFTER_STEPS` test hook) checkpoints
   * after the current batch and the summary comes back with `interrupted: true` (no test
   * evaluation, no summary.json).
   */
  interruptible?: boolean;
}

/**
 * `ec2t ternarize` from its flags: maps them to {@link ternarizeModel}'s options and runs it on the
 * run folder, which gets its records (config, manifest, summary). With `flags.resume` it continues
 * an interrupted run folder where its checkpoint stopped — in either phase, mid-epoch included —
 * and ends with the same files, bit for bit, as an uninterrupted run.
 * @example const s = await ternarizeCommandAsync(flags, { interruptible: true });
 */
export async function ternarizeCommandAsync(flagsIn: Record<string, FlagValue>, opts: TernarizeOptions = {}): Promise<TernarizeSummary> {
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
  const ck = resumeDir === undefined ? undefined : readRunCheckpoint(run);
  const weightsPath = flags.weights as string;
  const weights = ck === undefined ? readWeights(weightsPath) : ck.model;
  // The weights' shapes decide the architecture (a scaled MicroNet, a MobileNetV2 width).
  const arch = architectureOfWeights(modelName, weights, ck === undefined ? weightsPath : run.checkpoint, data.train);
  const model = buildModel(modelName, data.train, streams.model, arch.options, checkInputSize(flags, data.train));
  let floatAccuracy: number;
  if (ck === undefined) {
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
  if (ck === undefined) {
    const r = recognizeTernaryValued(modelName, weights, arch.options, weightsPath);
    for (const name of r.recognized.filter((n) => layers.includes(n))) {
      const e = (k: string): SafetensorEntry => r.stateDict.get(`${name}.${k}`) as SafetensorEntry;
      initial.set(name, { wp: (e('w_p').data as Float32Array)[0], wn: (e('w_n').data as Float32Array)[0], assignment: e('assignment').data as Int8Array });
    }
    if (initial.size > 0) log(`note: ${initial.size} layer(s) of ${weightsPath} hold only {−w_n, 0, +w_p}; they start from that ternary state (centroids and assignment), not from --init-scale`);
  }
  const mainEpochs = flags.epochs as number;
  const retrainEpochs = flags['retrain-epochs'] as number;
  if (ck === undefined) {
    run.writeJson('config.json', { command: 'ternarize', flags, layers, method: cfg.method, gain: cfg.gain, initScale: cfg.initScale, variant: cfg.variant });
    run.writeJson('manifest.json', {
      seed, ...environmentFacts(), backend: getBackend(),
      dataset: { name: flags.dataset, fingerprint: data.train.fingerprint(), testFingerprint: data.test.fingerprint(), train: data.train.size, val: data.val?.size ?? 0, test: data.test.size },
      argv: process.argv.slice(2), startedAt: new Date().toISOString(), floatTestAccuracy: floatAccuracy,
    });
  } else {
    if ((ck.phase === 'ec2t' && mainEpochs === 0) || (ck.phase === 'frozen' && retrainEpochs === 0) || ck.phase === 'train') {
      throw new UsageError(`--resume ${out}: its checkpoint is in phase '${ck.phase}', which a ternarize run with --epochs ${mainEpochs} --retrain-epochs ${retrainEpochs} does not have; was checkpoint.safetensors copied from another run?`);
    }
    const m = run.readJson<Record<string, unknown>>('manifest.json');
    const resumes = Array.isArray(m.resumes) ? m.resumes : [];
    run.writeJson('manifest.json', { ...m, resumes: [...resumes, { at: new Date().toISOString(), argv: process.argv.slice(2), backend: getBackend(), phase: ck.phase, epochsDone: ck.epoch }] });
    log(`resuming ${out} in the ${ck.phase === 'ec2t' ? 'EC2T' : 'frozen-assignment'} phase after ${ck.epoch} completed epoch(s)`);
  }
  const interrupt = opts.interruptible ? interruptSignal() : null;
  let r;
  try {
    r = await ternarizeModel({
      model, modelName, layers, train: data.train, val: data.val, test: data.test, quantizer: cfg, initial,
      epochs: mainEpochs, retrainEpochs, batchSize: flags['batch-size'] as number, loaderRng: streams.loader, modelRng: streams.model,
      store: run, floatAccuracy, checkpoint: ck, onProgress: recipeProgressPrinter(opts.quiet), signal: interrupt?.signal,
    });
  } finally {
    interrupt?.dispose();
  }
  const base = { sparsity: r.sparsity, overallSparsity: r.overallSparsity, floatAccuracy, method: cfg.method, gain: cfg.gain, initScale: cfg.initScale, variant: cfg.variant, out };
  if (r.interrupted) {
    log(`stopped; resume with: ec2t ternarize --resume ${out}`);
    return { ...base, accuracy: NaN, loss: NaN, epochs: r.epochs, seconds: (performance.now() - t0) / 1000, interrupted: true };
  }
  const summary: TernarizeSummary = {
    ...base, accuracy: r.accuracy, loss: r.loss, epochs: r.epochs,
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
