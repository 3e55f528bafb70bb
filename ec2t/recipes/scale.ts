/**
 * Compound scaling of MicroNet (docs/METHOD.md §1) as a library call, the recipe of `ec2t scale`:
 * trains each (d, w) candidate of a grid with the thesis recipe, or the exponentially scaled
 * super-network d = d̂^φ, w = ŵ^φ — from a random init, or grown from a trained smaller MicroNet
 * ({@link growMicroNet}).
 */
import { nodeServices } from '../../base/platform.js';
import { UsageError } from '../../base/errors.js';
import type { DatasetName } from '../../datasets/index.js';
import { createModel, MicroNet } from '../../nn/models/index.js';
import { growMicroNet } from '../../nn/models/grow.js';
import { loadSafetensors, saveSafetensors } from '../../nn/safetensors.js';
import { stateDictForSave } from '../../nn/module.js';
import { RunFolder, prepareRunFolder } from '../runfolder.js';
import { SCALE_SEARCH_DEFAULTS } from './defaults.js';
import { trainRun, type RunConfigFile, type RunControl, type TrainRunOptions } from './run.js';
import { buildModel, defaultRunDir, loadWeightsInto, seedStreams, type DataOptions } from './setup.js';

/** The thesis grid for CIFAR: pairs with d·w² ≈ 2. */
export const THESIS_GRID: ReadonlyArray<readonly [number, number]> = [[1.0, 1.4], [1.2, 1.3], [1.4, 1.2], [1.6, 1.1], [1.7, 1.1], [1.9, 1.0]];

/** Options of {@link scaleSearch} (`ec2t scale`'s flags; unset fields take {@link SCALE_SEARCH_DEFAULTS}). */
export interface ScaleSearchOptions extends Partial<DataOptions> {
  /** Candidate (depth, width) pairs (default {@link THESIS_GRID}); ignored with `phi`. */
  grid?: ReadonlyArray<readonly [number, number]>;
  /** Build the scaled super-network d = d̂^φ, w = ŵ^φ instead of a grid (needs `base`). */
  phi?: number;
  /** The winning pair (d̂, ŵ) of a grid search, for `phi`. */
  base?: readonly [number, number];
  /** With `phi`: grow the network from this smaller MicroNet run folder instead of a random init. */
  from?: string;
  /** Epochs per candidate. */
  epochs?: number;
  batchSize?: number;
  /** SGD learning rate (cosine schedule, momentum 0.9, weight decay 5e-4). */
  lr?: number;
  seed?: number;
  /** Folder of the candidates' run folders (default `runs/micronet-scale-<dataset>-<time>`); new or empty unless `force`. */
  out?: string;
  force?: boolean;
}

/** One row of the scaling table. */
export interface ScaleRow {
  depth: number;
  width: number;
  params: number;
  valAccuracy: number | null;
  testAccuracy: number;
  seconds: number;
  out: string;
}

/** What {@link scaleSearch} returns (`ec2t scale --json` prints `rows` and `best`). */
export interface ScaleSummary {
  rows: ScaleRow[];
  best: { depth: number; width: number };
  out: string;
}

/**
 * A `d,w` pair as `--grid` and `--base` write it; `flag` names it in the error.
 * @example parseScalePair('1.4,1.2', '--base') // [1.4, 1.2]
 */
export function parseScalePair(s: string, flag: string): [number, number] {
  const parts = s.split(',').map(Number);
  if (parts.length !== 2 || !parts.every((x) => Number.isFinite(x) && x > 0)) throw new UsageError(`${flag} ${JSON.stringify(s)}: expected d,w with positive numbers, e.g. 1.4,1.2`);
  return [parts[0], parts[1]];
}

/**
 * Builds the φ-scaled network (`opts`, initialised exactly as a train run with `seed` would), grows
 * it from the trained MicroNet of run folder `dir` and saves it to `file`.
 * @returns a one-line description for the log
 * @example growFromRun('runs/scale/d1-w1.4', 'cifar10', 1, { phi: 2, baseDepth: 1, baseWidth: 1.4 }, 'grown.safetensors')
 */
export function growFromRun(dir: string, dataset: string, seed: number, opts: Record<string, unknown>, file: string): string {
  const { fs, path } = nodeServices(dir);
  const cfgPath = path.join(dir, 'config.json');
  if (!fs.existsSync(cfgPath)) throw new UsageError(`--from ${dir}: not a run folder (no config.json); give the folder of a trained MicroNet, e.g. a grid candidate of ec2t scale`);
  const cfg = new RunFolder(dir).readJson<Partial<RunConfigFile>>('config.json');
  if (cfg.flags?.model !== 'micronet') throw new UsageError(`--from ${dir}: the run trained ${String(cfg.flags?.model)}, not micronet`);
  if (cfg.flags.dataset !== dataset) throw new UsageError(`--from ${dir}: the run trained on ${String(cfg.flags.dataset)}, this one uses --dataset ${dataset}`);
  const weights = [path.join(dir, 'best.safetensors'), path.join(dir, 'last.safetensors')].find((p) => fs.existsSync(p));
  if (weights === undefined) throw new UsageError(`--from ${dir}: no best.safetensors or last.safetensors; did the run finish an epoch?`);
  // Input channels and classes come from the weights, so the small network is built as it was trained.
  const file0 = loadSafetensors(weights).tensors;
  const stem = file0.get('conv1.weight');
  const head = file0.get('linear.weight');
  if (stem === undefined || head === undefined) throw new UsageError(`--from ${dir}: ${weights} is not a MicroNet checkpoint (no conv1.weight / linear.weight)`);
  const classes = head.shape[0];
  const channels = stem.shape[1];
  const small = createModel('micronet', { ...(cfg.modelOptions ?? {}), numClasses: classes, inChannels: channels, seed: 0 }) as MicroNet;
  loadWeightsInto(small, weights);
  const big = buildModel('micronet', { classes, channels, height: 0 }, seedStreams(seed).model, opts) as MicroNet;
  const report = growMicroNet(small, big);
  saveSafetensors(file, stateDictForSave(big), { format: 'pt', model: 'micronet', grownFrom: weights });
  return `grown from ${weights} (${small.blocksPerStage} blocks/stage × channels [${small.stageChannels.join(', ')}] → ${big.blocksPerStage} × [${big.stageChannels.join(', ')}]): ` +
    `${report.copied.length} tensors copied, ${report.widened.length} widened, ${report.newBlocks.length} new identity blocks; saved ${file}`;
}

/**
 * Trains every candidate of a scale run (the grid, or the φ-scaled network) into its own run
 * folder under `out`, with the thesis recipe (SGD, momentum 0.9, weight decay 5e-4, cosine), and
 * returns the table and the best pair by validation accuracy. Notes (one per candidate, the
 * growth) go to `control.onNote`, each candidate's progress to `control.onProgress`.
 * @example const s = await scaleSearch({ dataset: 'mnist', grid: [[0.14, 0.5]], limitTrain: 256, out: 'runs/scale' });
 */
export async function scaleSearch(options: ScaleSearchOptions, control: RunControl = {}): Promise<ScaleSummary> {
  const o = { ...SCALE_SEARCH_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as ScaleSearchOptions & typeof SCALE_SEARCH_DEFAULTS;
  const note = control.onNote ?? ((): void => {});
  const out = o.out ?? defaultRunDir(['micronet-scale', o.dataset]);
  let candidates: Array<{ label: string; opts: Record<string, unknown>; depth: number; width: number }>;
  if (o.from !== undefined && o.phi === undefined) throw new UsageError('--from DIR grows the --phi network from a smaller run; give --phi P --base d,w too');
  if (o.phi !== undefined) {
    if (o.base === undefined) throw new UsageError('--phi needs --base d,w (the winning pair of the grid search)');
    const [d, w] = o.base;
    const phi = o.phi;
    candidates = [{ label: `phi${phi}`, opts: { phi, baseDepth: d, baseWidth: w }, depth: d ** phi, width: w ** phi }];
  } else {
    candidates = (o.grid ?? THESIS_GRID).map(([d, w]) => ({ label: `d${d}-w${w}`, opts: { depth: d, width: w }, depth: d, width: w }));
  }
  prepareRunFolder('scale', out, o.force === true, [], note);
  const rows: ScaleRow[] = [];
  for (const c of candidates) {
    const dir = nodeServices(out).path.join(out, c.label);
    note(`candidate ${c.label}: depth ×${c.depth.toFixed(3)}, width ×${c.width.toFixed(3)}`);
    let grown: string | undefined;
    if (o.from !== undefined) {
      grown = nodeServices(out).path.join(out, 'grown.safetensors');
      new RunFolder(out); // creates the folder
      note(growFromRun(o.from, o.dataset, o.seed, c.opts, grown));
    }
    // Every train option in config.json's order, as `ec2t train` records a run with these flags.
    const train: TrainRunOptions = {
      model: 'micronet', dataset: o.dataset as DatasetName, data: o.data, valSize: o.valSize, inputSize: o.inputSize, skipBadImages: o.skipBadImages === true ? true : undefined,
      epochs: o.epochs, batchSize: o.batchSize, optimizer: 'sgd', lr: o.lr, momentum: 0.9, weightDecay: 5e-4, schedule: 'cosine',
      cutout: 0, seed: o.seed, out: dir, force: o.force === true ? true : undefined, weights: grown, limitTrain: o.limitTrain, backend: 'auto',
      modelOptions: c.opts,
    };
    const s = await trainRun(train, control);
    const params = createModel('micronet', { ...c.opts, numClasses: 10 }).numParameters();
    rows.push({ depth: c.depth, width: c.width, params, valAccuracy: s.bestValAccuracy, testAccuracy: s.testAccuracy, seconds: s.seconds, out: dir });
  }
  const best = rows.reduce((a, b) => ((b.valAccuracy ?? b.testAccuracy) > (a.valAccuracy ?? a.testAccuracy) ? b : a));
  return { rows, best: { depth: best.depth, width: best.width }, out };
}
