/**
 * `ec2t scale`: compound scaling of MicroNet (docs/METHOD.md §1). Trains each (d, w) candidate of a grid
 * with the thesis recipe and reports the table; `--phi` builds (and trains, for --epochs) the
 * exponentially scaled super-network d = d̂^φ, w = ŵ^φ; with `--from DIR` it starts from a trained
 * smaller MicroNet grown into it ({@link growMicroNet}) instead of a random init.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseCommand, UsageError, type Parsed, type FlagValue } from './args.js';
import { trainSpec } from './commands.js';
import { trainCommandAsync } from './run-train.js';
import { buildModel, defaultRunDir, loadWeightsInto, seedStreams } from './common.js';
import { RunFolder } from '../ec2t/runfolder.js';
import { createModel, MicroNet } from '../nn/models/index.js';
import { growMicroNet } from '../nn/models/grow.js';
import { loadSafetensors, saveSafetensors } from '../nn/safetensors.js';
import { stateDictForSave } from '../nn/module.js';
import { prepareRunFolder } from './outputs.js';
import { log } from './progress.js';

/** The thesis grid for CIFAR: pairs with d·w² ≈ 2. */
export const THESIS_GRID: ReadonlyArray<readonly [number, number]> = [[1.0, 1.4], [1.2, 1.3], [1.4, 1.2], [1.6, 1.1], [1.7, 1.1], [1.9, 1.0]];

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

function parsePair(s: string, flag: string): [number, number] {
  const parts = s.split(',').map(Number);
  if (parts.length !== 2 || !parts.every((x) => Number.isFinite(x) && x > 0)) throw new UsageError(`${flag} ${JSON.stringify(s)}: expected d,w with positive numbers, e.g. 1.4,1.2`);
  return [parts[0], parts[1]];
}

/**
 * `--from DIR`: builds the φ-scaled network (`opts`, initialised exactly as `ec2t train` would with
 * `seed`), grows it from the trained MicroNet of run folder `dir` and saves it to `file`.
 * @returns a one-line description for the log
 */
export function growFromRun(dir: string, dataset: string, seed: number, opts: Record<string, unknown>, file: string): string {
  const cfgPath = join(dir, 'config.json');
  if (!existsSync(cfgPath)) throw new UsageError(`--from ${dir}: not a run folder (no config.json); give the folder of a trained MicroNet, e.g. a grid candidate of ec2t scale`);
  const cfg = new RunFolder(dir).readJson<{ flags?: Record<string, FlagValue>; modelOptions?: Record<string, unknown> }>('config.json');
  if (cfg.flags?.model !== 'micronet') throw new UsageError(`--from ${dir}: the run trained ${String(cfg.flags?.model)}, not micronet`);
  if (cfg.flags.dataset !== dataset) throw new UsageError(`--from ${dir}: the run trained on ${String(cfg.flags.dataset)}, this one uses --dataset ${dataset}`);
  const weights = [join(dir, 'best.safetensors'), join(dir, 'last.safetensors')].find((p) => existsSync(p));
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

/** What {@link scaleCommandAsync} returns (and `ec2t scale --json` prints). */
export interface ScaleSummary {
  rows: ScaleRow[];
  best: { depth: number; width: number };
  out: string;
}

/**
 * Trains every candidate of a scale run (the grid, or the φ-scaled network) into `flags.out`;
 * the library entry of `ec2t scale` and of sweep workers. Yields to the event loop after every
 * batch, so a queue worker keeps its lock while it runs.
 * @example const s = await scaleCommandAsync(parseCommand(scaleSpec, ['--grid', '1,1.4', '--epochs', '1']).flags);
 */
export async function scaleCommandAsync(f: Record<string, FlagValue>, opts: { quiet?: boolean } = {}): Promise<ScaleSummary> {
  const out = (f.out as string | undefined) ?? defaultRunDir(['micronet-scale', f.dataset as string]);
  let candidates: Array<{ label: string; opts: Record<string, unknown>; depth: number; width: number }>;
  if (f.from !== undefined && f.phi === undefined) throw new UsageError('--from DIR grows the --phi network from a smaller run; give --phi P --base d,w too');
  if (f.phi !== undefined) {
    if (f.base === undefined) throw new UsageError('--phi needs --base d,w (the winning pair of the grid search)');
    const [d, w] = parsePair(f.base as string, '--base');
    const phi = f.phi as number;
    candidates = [{ label: `phi${phi}`, opts: { phi, baseDepth: d, baseWidth: w }, depth: d ** phi, width: w ** phi }];
  } else {
    const grid = (f.grid as string[] | undefined)?.map((s) => parsePair(s, '--grid')) ?? THESIS_GRID.map(([d, w]) => [d, w] as [number, number]);
    candidates = grid.map(([d, w]) => ({ label: `d${d}-w${w}`, opts: { depth: d, width: w }, depth: d, width: w }));
  }
  prepareRunFolder('scale', out, f.force === true, []);
  const rows: ScaleRow[] = [];
  for (const c of candidates) {
    const dir = join(out, c.label);
    log(`candidate ${c.label}: depth ×${c.depth.toFixed(3)}, width ×${c.width.toFixed(3)}`);
    let grown: string | undefined;
    if (f.from !== undefined) {
      grown = join(out, 'grown.safetensors');
      new RunFolder(out); // creates the folder
      log(growFromRun(f.from as string, f.dataset as string, f.seed as number, c.opts, grown));
    }
    const argv = [
      '--model', 'micronet', '--dataset', f.dataset as string, '--epochs', String(f.epochs), '--batch-size', String(f['batch-size']),
      '--optimizer', 'sgd', '--lr', String(f.lr), '--momentum', '0.9', '--weight-decay', '5e-4', '--schedule', 'cosine',
      '--seed', String(f.seed), '--out', dir, ...(f.force === true ? ['--force'] : []),
      ...(f.data !== undefined ? ['--data', f.data as string] : []),
      ...(f['limit-train'] !== undefined ? ['--limit-train', String(f['limit-train'])] : []),
      ...(f['val-size'] !== undefined ? ['--val-size', String(f['val-size'])] : []),
      ...(f['input-size'] !== undefined ? ['--input-size', String(f['input-size'])] : []),
      ...(f['skip-bad-images'] === true ? ['--skip-bad-images'] : []),
      ...(grown !== undefined ? ['--weights', grown] : []),
    ];
    const s = await trainCommandAsync(parseCommand(trainSpec, argv).flags, { modelOptions: c.opts, quiet: opts.quiet });
    const params = createModel('micronet', { ...c.opts, numClasses: 10 }).numParameters();
    rows.push({ depth: c.depth, width: c.width, params, valAccuracy: s.bestValAccuracy, testAccuracy: s.testAccuracy, seconds: s.seconds, out: dir });
  }
  const best = rows.reduce((a, b) => ((b.valAccuracy ?? b.testAccuracy) > (a.valAccuracy ?? a.testAccuracy) ? b : a));
  return { rows, best: { depth: best.depth, width: best.width }, out };
}

/** `ec2t scale` handler. */
export async function runScale(p: Parsed): Promise<number> {
  const f = p.flags;
  const { rows, best } = await scaleCommandAsync(f);
  const table = [
    '| d | w | params (10 classes) | best val acc | test acc | seconds |',
    '|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.depth.toFixed(3)} | ${r.width.toFixed(3)} | ${r.params} | ${r.valAccuracy === null ? '–' : (100 * r.valAccuracy).toFixed(2) + '%'} | ${(100 * r.testAccuracy).toFixed(2)}% | ${r.seconds.toFixed(0)} |`),
    '',
    `best pair: d̂ = ${best.depth}, ŵ = ${best.width}; scale up with: ec2t scale --phi P --base ${best.depth},${best.width} ...`,
  ].join('\n');
  process.stderr.write(table + '\n');
  if (f.json) process.stdout.write(JSON.stringify({ rows, best: { depth: best.depth, width: best.width } }) + '\n');
  return 0;
}
