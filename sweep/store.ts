/**
 * The sweep folder: `sweep.json` (the spec and its cells), one ordinary run folder per cell,
 * `results/<cell>.json` (how each cell ended) and `sweep.jsonl` (every ended cell, one JSON line
 * each, in cell order). Every file is written atomically; `sweep.jsonl` is rebuilt from
 * `results/` so workers on different machines never append to one file at once.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { FormatError } from '../base/errors.js';
import { writeFileAtomic } from '../base/io.js';
import { UsageError, flagValueProblem, type FlagValue } from '../cli/args.js';
import { SWEEP_JOBS, type SweepCell, type SweepSpec } from './spec.js';

/** What `sweep.json` holds. */
export interface SweepManifest {
  /** Random id; names the sweep's jobs on a queue. */
  id: string;
  spec: SweepSpec;
  cells: SweepCell[];
  /** `redis://…` when the cells went to a queue, else null (local pool). */
  queue: string | null;
  createdAt: string;
}

/** How one cell ended: one line of `sweep.jsonl`. */
export interface CellResult {
  cell: string;
  point: Record<string, FlagValue>;
  job: SweepSpec['job'];
  status: 'done' | 'failed';
  /** Attempts it took (1 = first try). */
  attempts: number;
  /** The last error, for a failed cell. */
  error?: string;
  /** Test accuracy (ternarize: of the ternary model; train: of the last epoch's model; scale: of the best candidate). */
  accuracy?: number;
  /** Zeros among the ternarized layers' weights (ternarize). */
  sparsity?: number;
  /** Zeros among all parameters (ternarize). */
  overallSparsity?: number;
  /** The float model's test accuracy before ternarization (ternarize). */
  floatAccuracy?: number;
  /** Seconds of the attempt that finished the cell. */
  seconds?: number;
  /** The command's own summary (summary.json for train / ternarize, the table for scale). */
  summary?: unknown;
  /** Which process ended it (`host:pid`). */
  worker: string;
  finishedAt: string;
}

/** Largest sweep.json read back (a sweep of {@link MAX_CELLS} cells with long paths stays far below). */
const MAX_MANIFEST_BYTES = 64 << 20;

/** `host:pid` of this process, recorded with every result. */
export function workerName(): string {
  return `${hostname()}:${process.pid}`;
}

/** Whether `dir` holds a sweep (a `sweep.json`). */
export function isSweepFolder(dir: string): boolean {
  return existsSync(join(dir, 'sweep.json'));
}

/**
 * Creates the sweep folder, or reopens it when it already holds the same cells (a rerun: finished
 * cells are skipped, unfinished ones resumed). A folder holding anything else is refused.
 * @example const m = openOrCreateSweep('sweeps/g', spec, expandCells(spec), null);
 */
export function openOrCreateSweep(dir: string, spec: SweepSpec, cells: SweepCell[], queue: string | null): { manifest: SweepManifest; rerun: boolean } {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`ec2t sweep: --out ${dir} exists and is not a folder; choose another --out`);
  if (isSweepFolder(dir)) {
    const old = readSweep(dir);
    if (JSON.stringify(old.cells) !== JSON.stringify(cells) || old.spec.job !== spec.job) {
      throw new UsageError(`ec2t sweep: --out ${dir} holds a different sweep (its sweep.json has other cells or options); nothing was written. Choose a new --out, or rerun the sweep's own spec there to resume it`);
    }
    const manifest = { ...old, queue };
    writeFileAtomic(join(dir, 'sweep.json'), JSON.stringify(manifest, null, 2) + '\n');
    return { manifest, rerun: true };
  }
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new UsageError(`ec2t sweep: --out ${dir} holds files but no sweep.json; nothing was written. Choose a new or empty folder`);
  mkdirSync(join(dir, 'results'), { recursive: true });
  const manifest: SweepManifest = { id: randomBytes(6).toString('hex'), spec, cells, queue, createdAt: new Date().toISOString() };
  writeFileAtomic(join(dir, 'sweep.json'), JSON.stringify(manifest, null, 2) + '\n');
  return { manifest, rerun: false };
}

/** Reads `DIR/sweep.json`, checking its shape; errors name the file. */
export function readSweep(dir: string): SweepManifest {
  const p = join(dir, 'sweep.json');
  if (!existsSync(p)) throw new UsageError(`${dir} is not a sweep folder (no sweep.json); start one with ec2t sweep SPEC.json --out ${dir}`);
  const size = statSync(p).size;
  if (size > MAX_MANIFEST_BYTES) throw new FormatError(p, `${size} bytes; a sweep.json is at most ${MAX_MANIFEST_BYTES}`);
  let m: Partial<SweepManifest>;
  try {
    m = JSON.parse(readFileSync(p, 'utf8')) as Partial<SweepManifest>;
  } catch (e) {
    throw new FormatError(p, `not valid JSON (${(e as Error).message})`);
  }
  const ok = typeof m === 'object' && m !== null && typeof m.id === 'string' && typeof m.spec === 'object' && m.spec !== null &&
    Array.isArray(m.cells) && m.cells.every((c) => typeof c?.name === 'string' && /^[A-Za-z0-9.+_-]+$/.test(c.name) && typeof c.flags === 'object' && c.flags !== null);
  if (!ok) throw new FormatError(p, 'not a sweep manifest (needs id, spec and cells with safe names and flags); was it edited by hand?');
  // The cells' flags go straight to the recipes: check them as the spec's were checked.
  const cmd = SWEEP_JOBS[String(m.spec?.job)];
  if (cmd === undefined) throw new FormatError(p, `unknown job ${JSON.stringify(m.spec?.job)}; was it edited by hand?`);
  for (const c of m.cells as SweepCell[]) {
    for (const [flag, v] of Object.entries(c.flags)) {
      const f = cmd.flags[flag];
      const problem = f === undefined ? `is not a flag of ec2t ${cmd.name}` : flagValueProblem(f, v);
      if (problem !== null) throw new FormatError(p, `cell ${c.name}: flag "${flag}" ${problem}; was it edited by hand?`);
    }
  }
  return m as SweepManifest;
}

/** Path of a cell's run folder. */
export function cellDir(dir: string, cell: string): string {
  return join(dir, cell);
}

function resultPath(dir: string, cell: string): string {
  return join(dir, 'results', `${cell}.json`);
}

/** The recorded end of a cell, or null when it has not ended. */
export function readResult(dir: string, cell: string): CellResult | null {
  const p = resultPath(dir, cell);
  if (!existsSync(p)) return null;
  const size = statSync(p).size;
  if (size > MAX_MANIFEST_BYTES) throw new FormatError(p, `${size} bytes; a cell result is at most ${MAX_MANIFEST_BYTES}`);
  try {
    const r = JSON.parse(readFileSync(p, 'utf8')) as CellResult;
    return r.status === 'done' || r.status === 'failed' ? r : null;
  } catch (e) {
    throw new FormatError(p, `not valid JSON (${(e as Error).message})`);
  }
}

/** Records how a cell ended and rebuilds `sweep.jsonl`. */
export function writeResult(dir: string, manifest: SweepManifest, r: CellResult): void {
  mkdirSync(join(dir, 'results'), { recursive: true });
  writeFileAtomic(resultPath(dir, r.cell), JSON.stringify(r, null, 2) + '\n');
  rebuildJsonl(dir, manifest);
}

/** Forgets a failed cell's result so a rerun tries it again. */
export function clearFailed(dir: string, cell: string): void {
  const r = readResult(dir, cell);
  if (r?.status === 'failed') writeFileAtomic(resultPath(dir, cell), '{}\n');
}

/**
 * Rewrites `sweep.jsonl` from `results/`: one line per ended cell, in cell order. Two workers
 * finishing at once on different machines may race, and the older rebuild may rename last; the
 * result files are the record, and every later rebuild (the next cell's end, `ec2t sweep` as it
 * waits and at its end, `--status`, `ec2t report`) lists every ended cell again.
 */
export function rebuildJsonl(dir: string, manifest: SweepManifest): CellResult[] {
  const results = manifest.cells.map((c) => readResult(dir, c.name)).filter((r): r is CellResult => r !== null);
  writeFileAtomic(join(dir, 'sweep.jsonl'), results.map((r) => JSON.stringify(r)).join('\n') + (results.length ? '\n' : ''));
  return results;
}

/** Where a cell stands in the store alone (a queue knows more: queued / running / retries). */
export type StoreState = 'done' | 'failed' | 'started' | 'not started';

/** A cell's state as its folder and result file say. */
export function storeState(dir: string, cell: string): StoreState {
  const r = readResult(dir, cell);
  if (r !== null) return r.status;
  return existsSync(cellDir(dir, cell)) ? 'started' : 'not started';
}

/**
 * Takes `DIR/sweep.lock` for a local pool, so two `ec2t sweep` processes never run the same cells at
 * once. A lock left by a process of this host that is gone is taken over; one from another host is
 * refused (this host cannot tell whether it still runs). Returns the release function.
 * @example const release = lockSweep('sweeps/g'); try { ... } finally { release(); }
 */
export function lockSweep(dir: string): () => void {
  const path = join(dir, 'sweep.lock');
  const me = workerName();
  for (let tries = 0; tries < 2; tries++) {
    try {
      writeFileSync(path, me + '\n', { flag: 'wx' });
      return () => {
        if (existsSync(path) && readFileSync(path, 'utf8').trim() === me) rmSync(path, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = readFileSync(path, 'utf8').trim().slice(0, 300);
    const [host, pidText] = [holder.slice(0, holder.lastIndexOf(':')), holder.slice(holder.lastIndexOf(':') + 1)];
    const pid = Number(pidText);
    if (host !== hostname()) throw new UsageError(`ec2t sweep: ${path} says ${holder} is running this sweep; if that process is gone, remove the file and run again`);
    let alive = Number.isInteger(pid) && pid > 0;
    if (alive) {
      try {
        process.kill(pid, 0);
      } catch (e) {
        alive = (e as NodeJS.ErrnoException).code === 'EPERM';
      }
    }
    if (alive) throw new UsageError(`ec2t sweep: another ec2t sweep (pid ${pid}) is running this sweep in ${dir}; wait for it, or follow it with ec2t sweep ${dir} --status`);
    rmSync(path, { force: true }); // left by a process of this host that is gone
  }
  throw new UsageError(`ec2t sweep: could not take ${path}; another process keeps creating it`);
}
