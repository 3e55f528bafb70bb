/**
 * One fuzz run: `count` cases of one format, each read in the child process of a
 * {@link HostileRunner} under a time limit. Counts outcomes, keeps the first failures for replay,
 * and finds the case that raised the child's peak RSS the most.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FORMATS } from './formats.js';
import { HostileRunner } from './runner.js';

/** What a fuzz run found. */
export interface FuzzReport {
  format: string;
  seed: number;
  cases: number;
  ok: number;
  typed: number;
  untyped: number;
  hangs: number;
  crashes: number;
  /** Peak RSS of the reading child process over the run, in bytes. */
  peakRss: number;
  /** The case that raised the peak RSS the most, and by how much (bytes). */
  worst: { index: number; what: string; raisedBy: number; peakRss: number; error?: string } | null;
  /** Slowest case (ms). */
  slowestMs: number;
  /** Up to 10 failing cases (untyped, hang, crash), with what to replay them. */
  failures: Array<{ index: number; what: string; outcome: string; error?: string }>;
  seconds: number;
}

/**
 * Runs `count` cases of `format` from stream `seed` (from case `from`), each with `timeoutMs`;
 * `progress` prints a line to stderr every 500 cases.
 * @example const r = await fuzzFormat('packed', 1, 200, 10_000); r.untyped // 0
 */
export async function fuzzFormat(format: string, seed: number, count: number, timeoutMs: number, from = 0, progress = false): Promise<FuzzReport> {
  const f = FORMATS[format];
  if (f === undefined) throw new Error(`unknown format ${format}; formats: ${Object.keys(FORMATS).join(', ')}`);
  const dir = mkdtempSync(join(tmpdir(), `ec2t-fuzz-${format}-`));
  const runner = new HostileRunner(timeoutMs);
  const t0 = performance.now();
  const rep: Omit<FuzzReport, 'seconds'> = { format, seed, cases: 0, ok: 0, typed: 0, untyped: 0, hangs: 0, crashes: 0, peakRss: 0, worst: null, slowestMs: 0, failures: [] };
  try {
    for (let i = from; i < from + count; i++) {
      const c = f.make(seed, i, dir);
      const r = await runner.run(c.reader, c.path);
      rep.cases++;
      if (r.outcome === 'ok') rep.ok++;
      else if (r.outcome === 'typed') rep.typed++;
      else if (r.outcome === 'untyped') rep.untyped++;
      else if (r.outcome === 'hang') rep.hangs++;
      else rep.crashes++;
      if (r.outcome === 'untyped' || r.outcome === 'hang' || r.outcome === 'crash') {
        if (rep.failures.length < 10) rep.failures.push({ index: i, what: c.what, outcome: r.outcome, error: r.error });
      }
      rep.slowestMs = Math.max(rep.slowestMs, r.ms);
      if (progress && rep.cases % 500 === 0) process.stderr.write(`${format}: ${rep.cases}/${count} (${rep.untyped} untyped, ${rep.hangs} hangs, ${rep.crashes} crashes)\n`);
      const raised = r.maxRss - r.maxRssBefore;
      if (r.maxRss > 0 && (rep.worst === null || raised > rep.worst.raisedBy)) rep.worst = { index: i, what: c.what, raisedBy: raised, peakRss: r.maxRss, error: r.error };
    }
  } finally {
    runner.close();
    rmSync(dir, { recursive: true, force: true });
  }
  rep.peakRss = runner.peakRss;
  return { ...rep, seconds: (performance.now() - t0) / 1000 };
}
