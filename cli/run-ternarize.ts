/**
 * `ec2t ternarize`: EC2T (or TTQ / ECP) main phase on a pretrained model, best model by
 * validation accuracy, then frozen-assignment retraining (EC2T.md §4–§7).
 */
import { entryToTensor, loadSafetensors, saveSafetensors, type SafetensorEntry, type SafetensorInput } from '../nn/safetensors.js';
import { stateDictForSave, type Module } from '../nn/module.js';
import { ternaryLayerNames } from '../nn/models/index.js';
import { RunFolder, environmentFacts } from '../ec2t/runfolder.js';
import { TrainingPhase, evaluate, type Updater } from '../ec2t/train.js';
import { TernaryQuantizer, type QuantizerConfig } from '../ec2t/quantizer.js';
import type { JsonValue } from '../nn/checkpoint.js';
import { getBackend } from '../kernels/registry.js';
import type { FlagValue, Parsed } from './args.js';
import { UsageError } from './args.js';
import { buildModel, defaultRunDir, loadSplits, loadWeightsInto, seedStreams } from './common.js';
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

/**
 * Runs EC2T on a pretrained model (library entry used by `ec2t ternarize` and the demo).
 */
export function ternarizeCommand(flags: Record<string, FlagValue>, opts: { quiet?: boolean } = {}): TernarizeSummary {
  const t0 = performance.now();
  const modelName = flags.model as string;
  const seed = flags.seed as number;
  const streams = seedStreams(seed);
  const data = loadSplits(flags, streams);
  const model = buildModel(modelName, data.train, streams.model);
  loadWeightsInto(model, flags.weights as string);
  const floatEval = evaluate(model, data.test);
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
  const q = new TernaryQuantizer(model, layers, cfg);
  const updater = new QuantizerUpdater(q);
  const out = (flags.out as string | undefined) ?? defaultRunDir([modelName, cfg.method]);
  const run = new RunFolder(out);
  run.writeJson('config.json', { command: 'ternarize', flags, layers, method: cfg.method, gain: cfg.gain, initScale: cfg.initScale, variant: cfg.variant });
  run.writeJson('manifest.json', {
    seed, ...environmentFacts(), backend: getBackend(),
    dataset: { name: flags.dataset, fingerprint: data.train.fingerprint(), testFingerprint: data.test.fingerprint(), train: data.train.size, val: data.val?.size ?? 0, test: data.test.size },
    argv: process.argv.slice(2), startedAt: new Date().toISOString(), floatTestAccuracy: floatEval.accuracy,
  });
  run.writeMetrics([]);
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
  const mainEpochs = flags.epochs as number;
  const retrainEpochs = flags['retrain-epochs'] as number;
  saveBest(); // the initial ternarization, in case no epoch improves on it
  if (mainEpochs > 0) {
    const phase1 = new TrainingPhase({
      phase: 'ec2t', model, train: data.train, val: data.val, batchSize: flags['batch-size'] as number, epochs: mainEpochs,
      loaderRng: streams.loader, modelRng: streams.model, updater, run, epochExtras: extras,
      onBest: saveBest, onProgress: progress, skipFirstEpochForBest: true,
    });
    const r1 = phase1.run();
    log(`EC2T phase: best validation accuracy ${((r1.bestValAccuracy ?? 0) * 100).toFixed(2)}% at epoch ${r1.bestEpoch}`);
    // §6: retraining starts from the best ternary model of the main phase.
    restore(model, q, bestPath);
  }
  q.freeze();
  const ternaryPath = run.path('ternary.safetensors');
  const saveTernary = (): void => saveSafetensors(ternaryPath, q.ternaryStateDict(), { format: 'pt', model: modelName, method: cfg.method });
  saveTernary();
  if (retrainEpochs > 0) {
    const phase2 = new TrainingPhase({
      phase: 'frozen', model, train: data.train, val: data.val, batchSize: flags['batch-size'] as number, epochs: retrainEpochs,
      loaderRng: streams.loader, modelRng: streams.model, updater, run, epochExtras: extras,
      onBest: () => {
        saveTernary();
        saveBest();
      },
      onProgress: progress,
    });
    phase2.run();
    saveSafetensors(run.lastWeights, q.ternaryStateDict(), { format: 'pt', model: modelName });
    restore(model, q, bestPath);
  } else {
    saveSafetensors(run.lastWeights, q.ternaryStateDict(), { format: 'pt', model: modelName });
  }
  saveSafetensors(run.bestWeights, q.ternaryStateDict(), { format: 'pt', model: modelName });
  const test = evaluate(model, data.test);
  const s = q.sparsity();
  run.writeJson('histograms.json', { layers: q.histograms(60) });
  const summary: TernarizeSummary = {
    accuracy: test.accuracy, sparsity: s.quantized, overallSparsity: s.overall, epochs: mainEpochs + retrainEpochs,
    seconds: (performance.now() - t0) / 1000, floatAccuracy: floatEval.accuracy, loss: test.loss,
    method: cfg.method, gain: cfg.gain, initScale: cfg.initScale, variant: cfg.variant, out,
  };
  run.writeJson('summary.json', summary);
  return summary;
}

/** `ec2t ternarize` handler. */
export async function runTernarize(p: Parsed): Promise<number> {
  const s = ternarizeCommand(p.flags);
  log(`ternary test accuracy ${(100 * s.accuracy).toFixed(2)}% (float ${(100 * s.floatAccuracy).toFixed(2)}%), sparsity of ternary layers ${(100 * s.sparsity).toFixed(2)}%, overall ${(100 * s.overallSparsity).toFixed(2)}%, ${s.seconds.toFixed(1)} s; run folder ${s.out}`);
  await writeRunReport(s.out);
  if (p.flags.json) {
    const { accuracy, sparsity, overallSparsity, epochs, seconds } = s;
    process.stdout.write(JSON.stringify({ accuracy, sparsity, overallSparsity, epochs, seconds }) + '\n');
  }
  return 0;
}
