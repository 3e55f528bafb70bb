/**
 * Backend `auto` by measurement: {@link calibrateBackends} times every registered backend (except
 * `reference`, the spec) on conv2d forward / input gradient / weight gradient and matmul at a few
 * representative sizes, installs a chooser (`setAutoChooser`) that picks the measured fastest per
 * (op, nearest calibrated size), and returns the table. The table can be cached as JSON keyed by
 * machine facts (cpu model, cores, node version, gpu.js mode), so later runs reuse it unmeasured.
 */
import { writeFileAtomic } from '../base/io.js';
import { ValueError } from '../base/errors.js';
import { nodeServices, platform } from '../base/platform.js';
// Every built-in backend registers itself on import; calibration must see them all (the CLI configures
// the backend before a command imports its kernels).
import './index.js';
import { backendSettings } from './settings.js';
import { type AutoChooser, kernelBackends, kernelFor, setAutoChooser } from './registry.js';
import { type Backend, type Conv2dGeometry, type KernelName, type MatmulGeometry, conv2dGeometry } from './types.js';

/** Ops calibration measures. */
export type CalibratedOp = 'conv2dForward' | 'conv2dBackwardInput' | 'conv2dBackwardWeight' | 'matmul';
/** Representative sizes. */
export type SizeBucket = 'small' | 'medium' | 'large';
export const CALIBRATED_OPS: readonly CalibratedOp[] = ['conv2dForward', 'conv2dBackwardInput', 'conv2dBackwardWeight', 'matmul'];
export const SIZE_BUCKETS: readonly SizeBucket[] = ['small', 'medium', 'large'];

/** What a cached table is valid for: a change in any field re-measures. */
export interface MachineFacts {
  readonly cpuModel: string;
  readonly cores: number;
  readonly node: string;
  /** The gpu.js mode asked for (`EC2T_GPUJS_MODE`, or `auto`), or the mode registered. */
  readonly gpujsMode: string;
}

/** One measured (op, size): ms per call per backend and the fastest. */
export interface CalibrationEntry {
  readonly op: CalibratedOp;
  readonly bucket: SizeBucket;
  /** The engine's size hint for this size (FLOPs), which the chooser compares against. */
  readonly sizeHint: number;
  readonly shape: string;
  readonly ms: Readonly<Partial<Record<Backend, number>>>;
  readonly best: Backend;
}

/** The measured table. */
export interface CalibrationTable {
  readonly version: 1;
  readonly facts: MachineFacts;
  readonly entries: readonly CalibrationEntry[];
  /** True when read from the cache rather than measured now. */
  readonly cached?: boolean;
}

/** Options of {@link calibrateBackends}. */
export interface CalibrateOptions {
  readonly ops?: readonly CalibratedOp[];
  readonly sizes?: readonly SizeBucket[];
  /** Total measuring time in ms, split evenly over (op, size, backend); default 4000. */
  readonly budgetMs?: number;
  /** Cache file: read when its facts match, written after measuring. null: no cache. Default {@link defaultCalibrationPath}. */
  readonly cachePath?: string | null;
  /** Measure even when the cache matches. */
  readonly force?: boolean;
  /** Facts to key the cache by (default {@link machineFacts}). */
  readonly facts?: MachineFacts;
  /** Replaces the timer (tests): ms per call of `backend`'s `op` at `bucket`. */
  readonly measure?: (op: CalibratedOp, bucket: SizeBucket, backend: Backend, budgetMs: number) => number;
}

/** `~/.cache/ec2t/calibration.json` (or `$XDG_CACHE_HOME/ec2t/calibration.json`); Node only (a browser keeps no cache). */
export function defaultCalibrationPath(): string {
  const { path, os } = nodeServices('the calibration cache');
  return path.join(platform().env('XDG_CACHE_HOME') || path.join(os.homedir(), '.cache'), 'ec2t', 'calibration.json');
}

/** Facts of this machine and process. @example machineFacts().cores */
export function machineFacts(gpujsMode = backendSettings().gpujsMode ?? 'auto'): MachineFacts {
  const h = platform().hostFacts();
  return { cpuModel: h.cpuModel, cores: h.cores, node: h.runtime, gpujsMode };
}

function sameFacts(a: MachineFacts, b: MachineFacts): boolean {
  return a.cpuModel === b.cpuModel && a.cores === b.cores && a.node === b.node && a.gpujsMode === b.gpujsMode;
}

// ---------------------------------------------------------------- representative sizes

const CONV_SIZES: Record<SizeBucket, [readonly number[], readonly number[]]> = {
  small: [[1, 3, 8, 8], [8, 3, 3, 3]],
  medium: [[8, 16, 16, 16], [16, 16, 3, 3]],
  large: [[32, 16, 32, 32], [16, 16, 3, 3]],
};
const MATMUL_SIZES: Record<SizeBucket, number> = { small: 16, medium: 128, large: 512 };

function convGeometry(bucket: SizeBucket): Conv2dGeometry {
  const [x, w] = CONV_SIZES[bucket];
  return conv2dGeometry(x, w, { padding: 1 });
}
function matmulGeometry(bucket: SizeBucket): MatmulGeometry {
  const s = MATMUL_SIZES[bucket];
  return { batch: 1, m: s, k: s, n: s, transA: false, transB: false, batchA: 1, batchB: 1 };
}

/** The engine's size hint (FLOPs, as engine/ops/conv.ts and matmul.ts pass it) and a label. */
function sizeOf(op: CalibratedOp, bucket: SizeBucket): { sizeHint: number; shape: string } {
  if (op === 'matmul') {
    const g = matmulGeometry(bucket);
    return { sizeHint: 2 * g.batch * g.m * g.n * g.k, shape: `${g.m}×${g.k}×${g.n}` };
  }
  const g = convGeometry(bucket);
  return {
    sizeHint: 2 * g.batch * g.outChannels * g.outHeight * g.outWidth * (g.inChannels / g.groups) * g.kernelHeight * g.kernelWidth,
    shape: `N=${g.batch} ${g.inChannels}→${g.outChannels} ${g.inHeight}×${g.inWidth} 3×3 p1`,
  };
}

function filled(n: number, seed: number): Float32Array {
  const v = new Float32Array(n);
  // A fixed pattern in [-1, 1): timing does not depend on the values, and no Rng is needed.
  for (let i = 0; i < n; i++) v[i] = (((i * 2654435761 + seed) >>> 0) % 2000) / 1000 - 1;
  return v;
}

/** A closure running `backend`'s `op` once at `bucket`, inputs allocated up front. */
function work(op: CalibratedOp, bucket: SizeBucket, backend: Backend): () => void {
  if (op === 'matmul') {
    const g = matmulGeometry(bucket);
    const a = filled(g.m * g.k, 1), b = filled(g.k * g.n, 2), out = new Float32Array(g.m * g.n);
    const k = kernelFor('matmul', backend);
    return () => k(a, b, out, g);
  }
  const g = convGeometry(bucket);
  const x = filled(g.batch * g.inChannels * g.inHeight * g.inWidth, 3);
  const w = filled(g.outChannels * g.inChannels * g.kernelHeight * g.kernelWidth, 4);
  const y = filled(g.batch * g.outChannels * g.outHeight * g.outWidth, 5);
  if (op === 'conv2dForward') { const k = kernelFor(op, backend); return () => k(x, w, null, y, g); }
  if (op === 'conv2dBackwardInput') { const k = kernelFor(op, backend); return () => k(y, w, x, g); }
  const k = kernelFor('conv2dBackwardWeight', backend);
  return () => k(x, y, w, g);
}

/** Best (minimum) ms per call within `budgetMs`: one untimed warm-up call (compiles), then at least one timed call. */
function timeCall(fn: () => void, budgetMs: number): number {
  fn();
  let best = Infinity;
  const stop = performance.now() + budgetMs;
  do {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  } while (performance.now() < stop);
  return best;
}

// ---------------------------------------------------------------- chooser, cache

/**
 * The chooser of a table: for a calibrated op, the fastest backend at the calibrated size nearest
 * the hint (in log scale) among those available; undefined (default order) for other ops.
 * @example setAutoChooser(chooserFromTable(table))
 */
export function chooserFromTable(table: CalibrationTable): AutoChooser {
  const byOp = new Map<KernelName, CalibrationEntry[]>();
  for (const e of table.entries) {
    const list = byOp.get(e.op) ?? [];
    list.push(e);
    byOp.set(e.op, list);
  }
  return (op, sizeHint, available) => {
    const list = byOp.get(op);
    if (list === undefined || list.length === 0) return undefined;
    const h = Math.log(Math.max(sizeHint, 1));
    let near = list[0];
    for (const e of list) if (Math.abs(Math.log(e.sizeHint) - h) < Math.abs(Math.log(near.sizeHint) - h)) near = e;
    // Fastest measured backend that is still registered.
    let pick: Backend | undefined;
    for (const [b, ms] of Object.entries(near.ms) as [Backend, number][]) {
      if (available.includes(b) && (pick === undefined || ms < (near.ms[pick] ?? Infinity))) pick = b;
    }
    return pick;
  };
}

/**
 * The cached table at `path` when it exists, parses and was measured under `facts`; else undefined.
 * @example const t = loadCalibration(defaultCalibrationPath(), machineFacts());
 */
export function loadCalibration(path: string, facts: MachineFacts = machineFacts()): CalibrationTable | undefined {
  let raw: string;
  try {
    raw = new TextDecoder().decode(nodeServices(path).fs.readFileSync(path));
  } catch {
    return undefined;
  }
  try {
    const t = JSON.parse(raw) as CalibrationTable;
    if (t.version !== 1 || !Array.isArray(t.entries) || t.facts === undefined || !sameFacts(t.facts, facts)) return undefined;
    if (!t.entries.every(validEntry)) return undefined;
    return { ...t, cached: true };
  } catch {
    return undefined; // a damaged cache is re-measured, not an error
  }
}

/** Whether a cached entry has every field the chooser reads, with the right types. */
function validEntry(e: unknown): boolean {
  if (typeof e !== 'object' || e === null) return false;
  const x = e as Record<string, unknown>;
  const ms = x.ms;
  return typeof x.op === 'string' && typeof x.bucket === 'string' && typeof x.sizeHint === 'number' && x.sizeHint > 0 && Number.isFinite(x.sizeHint) &&
    typeof ms === 'object' && ms !== null && Object.values(ms).every((v) => typeof v === 'number' && Number.isFinite(v));
}

/** Writes `table` to `path` atomically (temp file + rename, with the project's temp naming), creating the folder. */
export async function saveCalibration(path: string, table: CalibrationTable): Promise<void> {
  const { cached: _cached, ...plain } = table;
  writeFileAtomic(path, JSON.stringify(plain, null, 2) + '\n');
}

/**
 * Measures (or loads from the cache) which backend is fastest per (op, size), installs the chooser
 * `auto` consults, and returns the table.
 * @example const table = await calibrateBackends({ budgetMs: 2000 }); console.log(formatCalibration(table));
 */
export async function calibrateBackends(opts: CalibrateOptions = {}): Promise<CalibrationTable> {
  const ops = opts.ops ?? CALIBRATED_OPS;
  const sizes = opts.sizes ?? SIZE_BUCKETS;
  const budgetMs = opts.budgetMs ?? 4000;
  if (!(budgetMs > 0)) throw new ValueError('calibrateBackends', `budgetMs must be positive, got ${budgetMs}`);
  // A browser has no cache folder: it measures every time unless given a path (which then fails typed).
  const cachePath = opts.cachePath === undefined ? (platform().node === null ? null : defaultCalibrationPath()) : opts.cachePath;
  const facts = opts.facts ?? machineFacts();
  if (cachePath !== null && opts.force !== true) {
    const hit = loadCalibration(cachePath, facts);
    const covers = hit !== undefined && ops.every((op) => sizes.every((s) => hit.entries.some((e) => e.op === op && e.bucket === s)));
    if (hit !== undefined && covers) {
      setAutoChooser(chooserFromTable(hit));
      return hit;
    }
  }
  const measure = opts.measure ?? ((op, bucket, backend, ms) => timeCall(work(op, bucket, backend), ms));
  const plan: [CalibratedOp, SizeBucket, Backend[]][] = [];
  for (const op of ops) {
    const backends = kernelBackends(op).filter((b) => b !== 'reference');
    for (const s of sizes) if (backends.length > 0) plan.push([op, s, backends]);
  }
  const runs = plan.reduce((n, [, , b]) => n + b.length, 0);
  const each = runs === 0 ? 0 : budgetMs / runs;
  const entries: CalibrationEntry[] = [];
  for (const [op, bucket, backends] of plan) {
    const ms: Partial<Record<Backend, number>> = {};
    let best = backends[0];
    for (const b of backends) {
      ms[b] = measure(op, bucket, b, each);
      if (ms[b]! < ms[best]!) best = b;
    }
    entries.push({ op, bucket, ...sizeOf(op, bucket), ms, best });
  }
  const table: CalibrationTable = { version: 1, facts, entries };
  setAutoChooser(chooserFromTable(table));
  if (cachePath !== null) await saveCalibration(cachePath, table);
  return table;
}

/** The table as aligned text lines (op, size, ms per backend, fastest). */
export function formatCalibration(table: CalibrationTable): string {
  const backends = [...new Set(table.entries.flatMap((e) => Object.keys(e.ms)))].sort();
  const head = ['op', 'size', 'shape', ...backends.map((b) => `${b} ms`), 'fastest'];
  const rows = table.entries.map((e) => [e.op, e.bucket, e.shape, ...backends.map((b) => (e.ms[b as Backend] === undefined ? '-' : e.ms[b as Backend]!.toFixed(3))), e.best]);
  const f = table.facts;
  return `calibration${table.cached === true ? ' (cached)' : ''}: ${f.cpuModel}, ${f.cores} cores, node ${f.node}, gpu.js ${f.gpujsMode}\n` + textTable(head, rows);
}

/**
 * The kernel trace (`kernelTrace()`: `{ 'op@backend': calls, 'op: implementation': calls }`) as a
 * small text table for `EC2T_TRACE_KERNELS=1`: one row per op and backend, each followed by the
 * implementations that ran inside it (rows `op  > wasm-simd, 2 threads  calls`).
 * @example process.stderr.write(formatKernelTrace(kernelTrace()));
 */
export function formatKernelTrace(trace: Readonly<Record<string, number>>): string {
  const entries = Object.entries(trace);
  const impls = entries.filter(([key]) => key.includes(': '));
  const rows: string[][] = [];
  const shown = new Set<string>();
  for (const [key, calls] of entries) {
    if (key.includes(': ')) continue;
    const at = key.lastIndexOf('@');
    const op = key.slice(0, at);
    rows.push([op, key.slice(at + 1), String(calls)]);
    if (shown.has(op)) continue;
    shown.add(op);
    for (const [ikey, icalls] of impls) if (ikey.startsWith(`${op}: `)) rows.push([op, `> ${ikey.slice(op.length + 2)}`, String(icalls)]);
  }
  for (const [ikey, icalls] of impls) {
    const op = ikey.slice(0, ikey.indexOf(': '));
    if (!shown.has(op)) rows.push([op, `> ${ikey.slice(op.length + 2)}`, String(icalls)]);
  }
  if (rows.length === 0) return 'kernel trace: no kernels ran\n';
  return 'kernel trace:\n' + textTable(['op', 'backend', 'calls'], rows);
}

function textTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: readonly string[]): string => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}
