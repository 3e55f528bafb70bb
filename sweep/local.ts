/**
 * The local pool: up to N worker processes on this machine, one per running cell, each logging to
 * `DIR/logs/<cell>.log`. A cell whose process fails is tried again (resuming from its checkpoint)
 * until it has failed {@link MAX_ATTEMPTS} times; then it is recorded as failed and the sweep goes on.
 */
import { fork } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { recordFailure } from './cell.js';
import type { ChildMessage } from './child.js';
import type { SweepCell } from './spec.js';
import { readResult, type CellResult, type SweepManifest } from './store.js';

/** Attempts a cell gets before it is recorded as failed (local pool and queue alike). */
export const MAX_ATTEMPTS = 3;

/** Something that happened to a cell, for progress lines. */
export type PoolEvent =
  | { kind: 'start'; cell: string; attempt: number; resume: boolean }
  | { kind: 'end'; cell: string; result: CellResult; action: 'trained' | 'skipped' }
  | { kind: 'retry'; cell: string; attempt: number; error: string };

/** Options of {@link runLocalPool}. */
export interface LocalPoolOptions {
  /** Worker processes at once. */
  workers: number;
  /** `EC2T_THREADS` of each worker process (the spec's `threads` wins inside the cell). */
  threadsPerRun: number;
  onEvent?: (e: PoolEvent) => void;
}

/**
 * Runs one cell in a process of its own (`child.js`), logging to `DIR/logs/<cell>.log`, and
 * resolves with what it reported. The caller's event loop stays free meanwhile (a queue worker
 * keeps renewing its job lock however long the cell blocks its own thread), and a crash stays in
 * the child. `threads`: its `EC2T_THREADS` (undefined: inherited).
 * @example const m = await runCellProcess('sweeps/g', 'gain-0_seed-1', 1, 1);
 */
export function runCellProcess(dir: string, cell: string, attempt: number, threads: number | undefined): Promise<ChildMessage> {
  const childPath = fileURLToPath(new URL('./child.js', import.meta.url));
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const logPath = join(dir, 'logs', `${cell}.log`);
  return new Promise((resolve) => {
    const log = openSync(logPath, 'a');
    const child = fork(childPath, [dir, cell, String(attempt)], {
      stdio: ['ignore', log, log, 'ipc'],
      env: threads === undefined ? process.env : { ...process.env, EC2T_THREADS: String(threads) },
    });
    closeSync(log);
    let message: ChildMessage | null = null;
    child.on('message', (m) => (message = m as ChildMessage));
    child.on('error', (e) => (message ??= { ok: false, error: `cannot start a worker process: ${e.message}` }));
    child.on('exit', (code, signal) => {
      resolve(message ?? { ok: false, error: `worker process ${signal !== null ? `killed by ${signal}` : `exited with code ${String(code)}`} (see ${logPath})` });
    });
  });
}

/**
 * Default worker count: the cores divided by the threads each run uses (at least 1).
 * @example defaultWorkers(1) // 16 on a 16-core machine
 */
export function defaultWorkers(threadsPerRun: number): number {
  return Math.max(1, Math.floor(availableParallelism() / Math.max(1, threadsPerRun)));
}

/**
 * Runs `cells` of the sweep in `dir` on a pool of local processes and resolves when every one
 * has ended (done or failed), with their results in cell order.
 * @example await runLocalPool('sweeps/g', manifest, manifest.cells, { workers: 2, threadsPerRun: 1 })
 */
export async function runLocalPool(dir: string, manifest: SweepManifest, cells: readonly SweepCell[], opts: LocalPoolOptions): Promise<CellResult[]> {
  const todo: Array<{ cell: SweepCell; attempt: number }> = cells.map((cell) => ({ cell, attempt: 1 }));
  const lane = async (): Promise<void> => {
    for (let next = todo.shift(); next !== undefined; next = todo.shift()) {
      const { cell, attempt } = next;
      opts.onEvent?.({ kind: 'start', cell: cell.name, attempt, resume: attempt > 1 });
      const m = await runCellProcess(dir, cell.name, attempt, opts.threadsPerRun);
      if (m.ok) {
        const result = readResult(dir, cell.name);
        if (result !== null) {
          opts.onEvent?.({ kind: 'end', cell: cell.name, result, action: m.action });
          continue;
        }
      }
      const error = m.ok ? 'the worker process ended without recording a result' : m.error;
      if (attempt < MAX_ATTEMPTS) {
        opts.onEvent?.({ kind: 'retry', cell: cell.name, attempt: attempt + 1, error });
        todo.unshift({ cell, attempt: attempt + 1 });
      } else {
        opts.onEvent?.({ kind: 'end', cell: cell.name, result: recordFailure(dir, manifest, cell, attempt, error), action: 'trained' });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.workers, cells.length)) }, lane));
  return cells.map((c) => readResult(dir, c.name)).filter((r): r is CellResult => r !== null);
}
