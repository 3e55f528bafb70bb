/**
 * Reads run folders for reports: `config.json` and `metrics.jsonl` (required), `manifest.json`,
 * `summary.json` and `histograms.json` (optional). Every fault is a {@link FormatError} naming the
 * file and what is wrong with it.
 */
import { FormatError } from '../../base/errors.js';
import { nodeServices } from '../../base/platform.js';
import { RunFolder, type EpochMetrics } from '../runfolder.js';
import type { LayerHistogram } from '../quantizer.js';
import { isNum } from './svg.js';

/** Per-layer statistics of one epoch as a report reads them (`LayerStats` of `ec2t/stats.ts`, fields optional). */
export interface ReportLayerStats {
  name: string;
  shape?: number[];
  numel?: number;
  n?: number;
  zero?: number;
  p?: number;
  wn?: number;
  wp?: number;
  entropy?: number;
  lambda?: number;
  lambdaMax?: number;
  sparsity?: number;
  deadChannels?: number;
}

/** One layer of `histograms.json` as a report reads it: a quantizer {@link LayerHistogram}, λ optional (absent in files of other tools). */
export type StoredLayerHistogram = Omit<LayerHistogram, 'lambda'> & { lambda?: number };

/** Everything a report needs from one run folder. */
export interface RunData {
  /** Folder path as given. */
  dir: string;
  /** Short unique name shown in the report (folder name, parent added when names collide). */
  name: string;
  config: Record<string, unknown>;
  /** `null` when the run has no manifest.json. */
  manifest: Record<string, unknown> | null;
  /** `null` when the run has no summary.json (no final test evaluation). */
  summary: Record<string, unknown> | null;
  metrics: EpochMetrics[];
  /** `null` when the run has no histograms.json. */
  histograms: StoredLayerHistogram[] | null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readObject(folder: RunFolder, name: string, optional: boolean): Record<string, unknown> | null {
  if (optional && !folder.has(name)) return null;
  const v = folder.readJson<unknown>(name);
  if (!isObject(v)) throw new FormatError(folder.path(name), `expected a JSON object, got ${Array.isArray(v) ? 'an array' : typeof v}`);
  return v;
}

/** Checks the per-layer records of every epoch: each needs a string `name`; numeric fields must be numbers or absent. */
function checkMetrics(metrics: EpochMetrics[], file: string): void {
  const numericFields = ['shape', 'numel', 'n', 'zero', 'p', 'wn', 'wp', 'entropy', 'lambda', 'lambdaMax', 'sparsity', 'deadChannels'];
  metrics.forEach((m, i) => {
    if (typeof m.phase !== 'string') throw new FormatError(file, `epoch record ${i + 1} (epoch ${m.epoch}) has no "phase" ('train', 'ec2t' or 'frozen')`);
    if (m.layers === undefined) return;
    if (!Array.isArray(m.layers)) throw new FormatError(file, `epoch ${m.epoch}: "layers" must be an array of layer statistics, got ${typeof m.layers}`);
    m.layers.forEach((l, j) => {
      if (!isObject(l) || typeof l.name !== 'string') throw new FormatError(file, `epoch ${m.epoch}: layers[${j}] needs a string "name"`);
      for (const k of numericFields) {
        const v = l[k];
        if (v === undefined || v === null) continue;
        const ok = k === 'shape' ? Array.isArray(v) && v.every((d) => Number.isInteger(d) && d > 0) : typeof v === 'number';
        if (!ok) throw new FormatError(file, `epoch ${m.epoch}: layers[${j}] (${l.name}) field "${k}" must be ${k === 'shape' ? 'an array of positive integers' : 'a number'}, got ${JSON.stringify(v)}`);
      }
    });
  });
}

function parseHistograms(v: unknown, file: string): StoredLayerHistogram[] {
  if (!isObject(v) || !Array.isArray(v.layers)) throw new FormatError(file, 'expected { "layers": [ { name, bins, lo, hi, wn, wp, lambda, boundaries } ] }');
  return v.layers.map((l, i) => {
    const where = `layers[${i}]`;
    if (!isObject(l) || typeof l.name !== 'string') throw new FormatError(file, `${where} needs a string "name"`);
    if (!Array.isArray(l.bins) || l.bins.length === 0 || !l.bins.every((b) => isNum(b) && b >= 0)) {
      throw new FormatError(file, `${where} (${l.name}): "bins" must be a non-empty array of counts ≥ 0`);
    }
    for (const k of ['lo', 'hi', 'wn', 'wp'] as const) if (!isNum(l[k])) throw new FormatError(file, `${where} (${l.name}): "${k}" must be a finite number, got ${JSON.stringify(l[k])}`);
    if (!((l.hi as number) > (l.lo as number))) throw new FormatError(file, `${where} (${l.name}): expected lo < hi, got lo=${l.lo}, hi=${l.hi}`);
    const b = l.boundaries;
    if (!isObject(b) || !isNum(b.negZero) || !isNum(b.zeroPos)) throw new FormatError(file, `${where} (${l.name}): "boundaries" must be { negZero: number, zeroPos: number }`);
    return {
      name: l.name,
      bins: l.bins as number[],
      lo: l.lo as number,
      hi: l.hi as number,
      wn: l.wn as number,
      wp: l.wp as number,
      lambda: isNum(l.lambda) ? l.lambda : undefined,
      boundaries: { negZero: b.negZero, zeroPos: b.zeroPos },
    };
  });
}

/**
 * Loads one run folder for a report.
 *
 * @example const run = loadRun('runs/resnet20-g0.1'); run.metrics.at(-1)?.valAccuracy
 */
export function loadRun(dir: string): RunData {
  const { fs, path } = nodeServices(dir);
  // NOTE: check before `new RunFolder`, which would create a missing folder.
  if (!fs.existsSync(dir)) throw new FormatError(dir, 'run folder not found; pass a folder written by ec2t train/ternarize');
  if (!fs.statSync(dir).isDirectory()) throw new FormatError(dir, 'not a folder; pass a run folder written by ec2t train/ternarize');
  const folder = new RunFolder(dir);
  const metricsPath = folder.path('metrics.jsonl');
  if (!fs.existsSync(metricsPath)) throw new FormatError(metricsPath, `missing; ${dir} has no epoch records (did the run finish its first epoch?)`);
  const config = readObject(folder, 'config.json', false) as Record<string, unknown>;
  const metrics = folder.readMetrics();
  if (metrics.length === 0) throw new FormatError(metricsPath, 'has no epoch records; nothing to report');
  checkMetrics(metrics, metricsPath);
  const manifest = readObject(folder, 'manifest.json', true);
  const summary = readObject(folder, 'summary.json', true);
  const histPath = folder.path('histograms.json');
  const histograms = fs.existsSync(histPath) ? parseHistograms(folder.readJson<unknown>('histograms.json'), histPath) : null;
  return { dir, name: path.basename(path.resolve(dir)), config, manifest, summary, metrics, histograms };
}

/** Loads several runs and gives them unique display names (adds the parent folder where names collide). */
export function loadRuns(dirs: readonly string[]): RunData[] {
  const runs = dirs.map(loadRun);
  const { path } = nodeServices('run folders');
  const count = new Map<string, number>();
  for (const r of runs) count.set(r.name, (count.get(r.name) ?? 0) + 1);
  const seen = new Map<string, number>();
  for (const r of runs) {
    if ((count.get(r.name) ?? 0) < 2) continue;
    const longer = `${path.basename(path.dirname(path.resolve(r.dir)))}/${r.name}`;
    const k = (seen.get(longer) ?? 0) + 1;
    seen.set(longer, k);
    r.name = k > 1 ? `${longer} (${k})` : longer;
  }
  return runs;
}

/** Flattens nested config objects to dotted keys (`{ a: { b: 1 } }` → `a.b`). */
export function flatten(obj: Record<string, unknown>, prefix = ''): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = [];
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (isObject(v) && Object.keys(v).length > 0) out.push(...flatten(v, key));
    else out.push([key, v]);
  }
  return out;
}

/** Normalised key: lower case, no `_`, `-` or spaces (`lambda_max_divider` → `lambdamaxdivider`). */
function norm(k: string): string {
  return k.toLowerCase().replace(/[_\-\s]/g, '');
}

/** First config value whose last key segment matches one of `names` (lenient about case, `_` and nesting). */
export function configValue(config: Record<string, unknown>, names: readonly string[]): unknown {
  const wanted = names.map(norm);
  const flat = flatten(config);
  for (const w of wanted) {
    for (const [k, v] of flat) {
      const last = norm(k.split('.').pop() as string);
      if (last === w && v !== null && v !== undefined && v !== '') return v;
    }
  }
  return undefined;
}

/** Method, gain γ, initial centroid scaler s and TTQ threshold t of a run, read leniently from its config. */
export interface RunParams {
  method?: string;
  gain?: number;
  initScale?: number;
  threshold?: number;
}

/** Reads {@link RunParams} from a config, accepting the paper's and the authors' code names. */
export function runParams(config: Record<string, unknown>): RunParams {
  const method = configValue(config, ['method', 'quantizer', 'quantization', 'mode', 'command']);
  const num = (v: unknown): number | undefined => (isNum(v) ? v : typeof v === 'string' && v.trim() !== '' && isNum(Number(v)) ? Number(v) : undefined);
  return {
    method: typeof method === 'string' ? method : undefined,
    gain: num(configValue(config, ['gain', 'gamma', 'lambdaMaxDivider', 'lambda_max_divider', 'γ'])),
    initScale: num(configValue(config, ['initScale', 'initialScale', 'centroidScale', 'iniCDivr', 'ini_c_divr', 's'])),
    threshold: num(configValue(config, ['threshold', 'ttqThreshold', 't'])),
  };
}
