/**
 * Runs one sweep cell through the library (the same recipes `ec2t train / ternarize / scale`
 * call), in its own run folder: a finished cell is skipped, an unfinished one with a checkpoint
 * resumes from it bit for bit, one killed before its first checkpoint starts again.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isTempName } from '../base/io.js';
import { Ec2tError } from '../base/errors.js';
import type { FlagValue } from '../cli/args.js';
import { cellDir, readResult, workerName, writeResult, type CellResult, type SweepManifest } from './store.js';
import type { SweepCell } from './spec.js';

/** What {@link runCell} did. */
export interface CellOutcome {
  result: CellResult;
  /** `trained`: this call ran the cell to its end; `skipped`: it had already ended. */
  action: 'trained' | 'skipped';
  /** True when this call continued from a checkpoint. */
  resumed: boolean;
}

/** Options of {@link runCell}. */
export interface RunCellOptions {
  /** Which attempt this is (1 = first); recorded in the result. */
  attempt?: number;
  /** Print per-batch progress (off by default: many cells share one terminal). */
  progress?: boolean;
}

/**
 * Runs `cell` of the sweep in `dir` to its end and records its result (`results/<cell>.json`,
 * `sweep.jsonl`). Errors propagate (the caller counts attempts); nothing is recorded for them.
 * @example const { result } = await runCell('sweeps/g', readSweep('sweeps/g'), cell);
 */
export async function runCell(dir: string, manifest: SweepManifest, cell: SweepCell, opts: RunCellOptions = {}): Promise<CellOutcome> {
  const prior = readResult(dir, cell.name);
  if (prior?.status === 'done') return { result: prior, action: 'skipped', resumed: false };
  const out = cellDir(dir, cell.name);
  const job = manifest.spec.job;
  const quiet = opts.progress !== true;
  // scale has no checkpoint of its own: its candidates start again.
  const resumable = job !== 'scale' && existsSync(join(out, 'checkpoint.safetensors')) && existsSync(join(out, 'config.json'));
  const started = existsSync(out) && readdirSync(out).some((n) => !isTempName(n));
  const flags: Record<string, FlagValue> = resumable ? { resume: out } : { ...cell.flags, out, force: started };
  const base = { cell: cell.name, point: cell.point, job, attempts: opts.attempt ?? 1, worker: workerName(), finishedAt: '' };
  let result: CellResult;
  // The library runs the cell; from cli/ come only the flag mapping and the printing.
  const [{ trainRunOptions, recipeProgressPrinter }, { log }] = await Promise.all([import('../cli/run-train.js'), import('../cli/progress.js')]);
  const control = { onProgress: recipeProgressPrinter(quiet), onNote: log };
  if (job === 'ternarize') {
    const [{ ternarizeRun }, { ternarizeRunOptions }] = await Promise.all([import('../ec2t/recipes/run.js'), import('../cli/run-ternarize.js')]);
    const s = await ternarizeRun(ternarizeRunOptions(flags), control);
    if (s.interrupted) throw new Ec2tError(`cell ${cell.name}: interrupted`);
    result = { ...base, status: 'done', accuracy: s.accuracy, sparsity: s.sparsity, overallSparsity: s.overallSparsity, floatAccuracy: s.floatAccuracy, seconds: s.seconds, summary: s };
  } else if (job === 'train') {
    const { trainRun } = await import('../ec2t/recipes/run.js');
    const s = await trainRun(trainRunOptions(flags), control);
    if (s.interrupted) throw new Ec2tError(`cell ${cell.name}: interrupted`);
    result = { ...base, status: 'done', accuracy: s.testAccuracy, seconds: s.seconds, summary: s };
  } else {
    const [{ scaleSearch }, { scaleSearchOptions }] = await Promise.all([import('../ec2t/recipes/scale.js'), import('../cli/run-scale.js')]);
    const t0 = performance.now();
    const s = await scaleSearch(scaleSearchOptions(flags), control);
    const best = s.rows.find((r) => r.depth === s.best.depth && r.width === s.best.width);
    result = { ...base, status: 'done', accuracy: best?.testAccuracy, seconds: (performance.now() - t0) / 1000, summary: s };
  }
  result.finishedAt = new Date().toISOString();
  writeResult(dir, manifest, result);
  return { result, action: 'trained', resumed: resumable };
}

/** Records a cell that failed its last attempt with `error`. */
export function recordFailure(dir: string, manifest: SweepManifest, cell: SweepCell, attempts: number, error: string): CellResult {
  const r: CellResult = { cell: cell.name, point: cell.point, job: manifest.spec.job, status: 'failed', attempts, error, worker: workerName(), finishedAt: new Date().toISOString() };
  writeResult(dir, manifest, r);
  return r;
}
