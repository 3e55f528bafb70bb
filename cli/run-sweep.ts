/**
 * `ec2t sweep` (run a grid on a local pool or a BullMQ queue; `--status`) and `ec2t worker`
 * (run cells from a queue). Flags map to the sweep library in sweep/; this file only prints.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError, type Parsed } from './args.js';
import { log } from './progress.js';
import { expandCells, readSweepSpec } from '../sweep/spec.js';
import { clearFailed, isSweepFolder, lockSweep, openOrCreateSweep, readResult, readSweep, rebuildJsonl, storeState, type CellResult, type SweepManifest } from '../sweep/store.js';
import { writeSweepReport } from './run-report.js';

function pct(v: number | undefined): string {
  return typeof v === 'number' && Number.isFinite(v) ? `${(100 * v).toFixed(2)}%` : '–';
}

/** One line saying how a cell ended. */
function endLine(r: CellResult): string {
  if (r.status === 'failed') return `${r.cell}: FAILED after ${r.attempts} attempt(s): ${r.error ?? 'unknown error'}`;
  const sp = r.sparsity !== undefined ? `, sparsity ${pct(r.sparsity)}` : '';
  return `${r.cell}: done, accuracy ${pct(r.accuracy)}${sp}${typeof r.seconds === 'number' ? `, ${r.seconds.toFixed(0)} s` : ''}${r.attempts > 1 ? ` (attempt ${r.attempts})` : ''}`;
}

/** The results table printed at the end of a sweep (markdown, so it pastes into notes). */
function resultsTable(manifest: SweepManifest, results: readonly CellResult[]): string {
  const axes = manifest.spec.axes.map((a) => a.flag);
  const byCell = new Map(results.map((r) => [r.cell, r]));
  const lines = [
    `| ${[...axes, 'accuracy', 'sparsity', 'status'].join(' | ')} |`,
    `|${[...axes, 'a', 's', 't'].map(() => '---:').join('|')}|`,
  ];
  for (const c of manifest.cells) {
    const r = byCell.get(c.name);
    lines.push(`| ${[...axes.map((a) => String(c.point[a])), pct(r?.accuracy), pct(r?.sparsity), r?.status ?? 'not ended'].join(' | ')} |`);
  }
  return lines.join('\n');
}

function threadsPerRun(manifest: SweepManifest): number {
  const t = [manifest.spec.options.threads, ...(manifest.spec.axes.find((a) => a.flag === 'threads')?.values ?? [])].filter((v): v is number => typeof v === 'number');
  return t.length > 0 ? Math.max(...t) : 1;
}

/** `ec2t sweep SPEC.json --out DIR [--workers N | --queue URL [--detach]]`, `ec2t sweep DIR --status`. */
export async function runSweep(p: Parsed): Promise<number> {
  const f = p.flags;
  const target = p.positionals[0];
  const queueUrl = f.queue as string | undefined;
  if (f.status === true) return sweepStatus(target, queueUrl, f.json === true);
  if (f.detach === true && queueUrl === undefined) throw new UsageError('ec2t sweep: --detach only enqueues; it needs --queue redis://HOST:PORT[/DB]');
  if (f.workers !== undefined && queueUrl !== undefined) throw new UsageError('ec2t sweep: --workers sets the local pool; with --queue the cells run on `ec2t worker`s instead');
  let out = f.out as string | undefined;
  let manifest: SweepManifest;
  const folderGiven = existsSync(target) && statSync(target).isDirectory();
  if (folderGiven) {
    // `ec2t sweep DIR`: continue the sweep a folder holds, from its own sweep.json.
    if (out !== undefined && out !== target) throw new UsageError(`ec2t sweep: ${target} is a sweep folder; rerun it as ec2t sweep ${target} (no --out), or give a spec file`);
    out = target;
    const old = readSweep(target);
    manifest = openOrCreateSweep(out, old.spec, expandCells(old.spec), queueUrl ?? null).manifest;
  } else {
    if (out === undefined) throw new UsageError('ec2t sweep: missing --out DIR (the sweep folder: one run folder per cell, sweep.jsonl)');
    const spec = readSweepSpec(target);
    const cells = expandCells(spec); // every cell checked before anything is written or queued
    if (queueUrl !== undefined) {
      const { probeRedis } = await import('../sweep/queue.js');
      await probeRedis(queueUrl);
    }
    manifest = openOrCreateSweep(out, spec, cells, queueUrl ?? null).manifest;
  }
  const dir = out;
  const t0 = performance.now();
  const total = manifest.cells.length;
  const done0 = manifest.cells.filter((c) => readResult(dir, c.name)?.status === 'done').length;
  let ended = done0;
  const onEnd = (r: CellResult): void => {
    ended++;
    log(`[${ended}/${total}] ${endLine(r)}`);
  };
  let results: CellResult[];
  if (queueUrl !== undefined) {
    const q = await import('../sweep/queue.js');
    const queued = await q.enqueueSweep(queueUrl, dir, manifest);
    log(`sweep ${dir}: ${total} cells, ${done0} already done, ${queued.length} on the queue at ${queueUrl}; run workers with: ec2t worker --queue ${queueUrl} --store ${dir}`);
    if (f.detach === true) return 0;
    results = await q.waitForSweep(queueUrl, dir, manifest, {
      onEnd,
      onCounts: (c) => log(`queue: ${c.queued} queued, ${c.running} running, ${c.done} done, ${c.failed} failed`),
      onConnection: (up, err) => log(up ? `reconnected to Redis at ${queueUrl}` : `lost Redis at ${queueUrl} (${err ?? ''}); waiting for it`),
    });
  } else {
    const { defaultWorkers, runLocalPool } = await import('../sweep/local.js');
    const release = lockSweep(dir);
    try {
      const pending = manifest.cells.filter((c) => readResult(dir, c.name)?.status !== 'done');
      for (const c of pending) clearFailed(dir, c.name);
      const threads = threadsPerRun(manifest);
      const workers = (f.workers as number | undefined) ?? defaultWorkers(threads);
      log(`sweep ${dir}: ${total} cells, ${done0} already done, running ${pending.length} on ${Math.min(workers, Math.max(1, pending.length))} local worker process(es) × ${threads} thread(s); logs in ${join(dir, 'logs')}`);
      await runLocalPool(dir, manifest, pending, {
        workers, threadsPerRun: threads,
        onEvent: (e) => {
          if (e.kind === 'start') log(`start ${e.cell}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}`);
          else if (e.kind === 'retry') log(`${e.cell}: attempt ${e.attempt - 1} failed (${e.error}); trying again`);
          else onEnd(e.result);
        },
      });
    } finally {
      release();
    }
  }
  results = rebuildJsonl(dir, manifest);
  const failed = results.filter((r) => r.status === 'failed').length;
  process.stderr.write(resultsTable(manifest, results) + '\n');
  // Like a run folder's report.html: the sweep's page, rewritten at every end of the sweep.
  const report = join(dir, 'report.html');
  let reportNote = `report: ${report}`;
  try {
    await writeSweepReport(dir, report);
  } catch (e) {
    reportNote = `report not written: ${(e as Error).message}`;
  }
  log(`sweep ${dir}: ${results.length - failed} done, ${failed} failed, wall time ${((performance.now() - t0) / 1000).toFixed(0)} s; results: ${join(dir, 'sweep.jsonl')}; ${reportNote}`);
  if (f.json === true) process.stdout.write(JSON.stringify(results) + '\n');
  return failed > 0 ? 1 : 0;
}

/** `ec2t sweep DIR --status`: queued / running / done / failed per cell, with retries. */
async function sweepStatus(dir: string, queueUrl: string | undefined, json: boolean): Promise<number> {
  if (!isSweepFolder(dir)) throw new UsageError(`ec2t sweep: --status needs a sweep folder (with sweep.json); ${dir} is not one`);
  const manifest = readSweep(dir);
  rebuildJsonl(dir, manifest);
  const url = queueUrl ?? manifest.queue ?? undefined;
  const rows: Array<{ cell: string; state: string; retries: number; accuracy?: number; sparsity?: number; error?: string }> = [];
  const queued = new Map<string, { state: string; retries: number; error?: string }>();
  if (url !== undefined) {
    const q = await import('../sweep/queue.js');
    await q.probeRedis(url);
    for (const s of await q.queueStates(url, manifest)) queued.set(s.cell, s);
  }
  for (const c of manifest.cells) {
    const r = readResult(dir, c.name);
    const s = queued.get(c.name);
    const local = storeState(dir, c.name);
    // The store's record wins for ended cells: it is what the report reads.
    const state = r !== null ? r.status : s !== undefined && s.state !== 'not queued' ? s.state : local === 'started' ? 'started' : url !== undefined ? 'not queued' : 'not started';
    rows.push({ cell: c.name, state, retries: s?.retries ?? (r !== null ? r.attempts - 1 : 0), accuracy: r?.accuracy, sparsity: r?.sparsity, error: r?.error ?? s?.error });
  }
  if (json) {
    process.stdout.write(JSON.stringify(rows) + '\n');
    return 0;
  }
  const w = Math.max(4, ...rows.map((r) => r.cell.length));
  const lines = [`${'cell'.padEnd(w)}  ${'state'.padEnd(21)} retries  accuracy  sparsity`];
  for (const r of rows) lines.push(`${r.cell.padEnd(w)}  ${r.state.padEnd(21)} ${String(r.retries).padStart(7)}  ${pct(r.accuracy).padStart(8)}  ${pct(r.sparsity).padStart(8)}${r.error ? `  ${r.error}` : ''}`);
  const count = (s: string): number => rows.filter((r) => r.state === s).length;
  lines.push(`${rows.length} cells: ${count('queued')} queued, ${count('running')} running, ${count('done')} done, ${count('failed')} failed${url !== undefined ? ` (queue ${url})` : ''}`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

/** `ec2t worker --queue URL --store DIR`: runs cells until Ctrl-C (which lets the current cell finish). */
export async function runWorker(p: Parsed): Promise<number> {
  const store = p.flags.store as string;
  const url = p.flags.queue as string;
  if (!existsSync(store) || !statSync(store).isDirectory()) throw new UsageError(`ec2t worker: --store ${store} is not a folder; give the folder the sweep writes to (shared by every worker)`);
  const lockEnv = process.env.EC2T_SWEEP_LOCK_MS;
  const lockMs = lockEnv === undefined ? undefined : Number(lockEnv);
  if (lockMs !== undefined && !(Number.isInteger(lockMs) && lockMs >= 1000)) throw new UsageError(`EC2T_SWEEP_LOCK_MS must be an integer number of milliseconds >= 1000, got ${JSON.stringify(lockEnv)}`);
  const { startWorker } = await import('../sweep/queue.js');
  const say = (line: string): void => {
    process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  };
  const worker = await startWorker(url, store, { lockMs, onLog: say });
  say(`worker ready: queue ${url}, store ${store} (Ctrl-C finishes the current cell, twice stops now)`);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (): void => {
      if (stopping) process.exit(130);
      stopping = true;
      say('stopping after the current cell (Ctrl-C again to stop now; the cell then resumes on another worker)');
      worker.close().then(() => resolve(0), () => resolve(1));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
