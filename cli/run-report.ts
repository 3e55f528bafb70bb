/**
 * `ec2t report`, and the report every training command writes into its run folder.
 */
import type { Parsed } from './args.js';
import { checkReportOut } from './outputs.js';
import { log } from './progress.js';

/** Writes `report.html` into a run folder; a report failure is logged and never fails the run. */
export async function writeRunReport(dir: string): Promise<string | null> {
  try {
    const { writeReport } = await import('../ec2t/report/index.js');
    const path = `${dir}/report.html`;
    writeReport([dir], path);
    log(`report: ${path}`);
    return path;
  } catch (e) {
    log(`report not written: ${(e as Error).message}`);
    return null;
  }
}

/**
 * Writes the report of a sweep folder: the accuracy–sparsity scatter with the Pareto front (and the
 * authors' points for an EC2T LeNet-5 / MNIST sweep) and a table of every cell.
 * @example writeSweepReport('sweeps/g', 'sweeps/g/report.html')
 */
export async function writeSweepReport(dir: string, out: string): Promise<{ cells: number; front: string[]; unlabelled: number }> {
  const { readSweep, readResult, rebuildJsonl } = await import('../sweep/store.js');
  const { renderSweepReport, AUTHORS_LENET5 } = await import('../ec2t/report/sweep.js');
  const { packageVersion } = await import('../ec2t/runfolder.js');
  const { writeFileAtomic } = await import('../base/io.js');
  const m = readSweep(dir);
  rebuildJsonl(dir, m);
  const cells = m.cells.map((c) => {
    const r = readResult(dir, c.name);
    return { cell: c.name, point: c.point, status: r?.status ?? ('not ended' as const), accuracy: r?.accuracy, sparsity: r?.sparsity, overallSparsity: r?.overallSparsity, attempts: r?.attempts, error: r?.error };
  });
  const lenet = m.spec.job === 'ternarize' && m.cells.every((c) => c.flags.model === 'lenet5' && c.flags.dataset === 'mnist' && c.flags.method === 'ec2t');
  const opts = Object.entries(m.spec.options).filter(([k]) => k !== 'weights').map(([k, v]) => `--${k} ${String(v)}`).join(' ');
  const { html, unlabelled, front } = renderSweepReport({
    title: `Sweep report: ${dir}`, axes: m.spec.axes.map((a) => a.flag), cells, reference: lenet ? AUTHORS_LENET5 : [],
    subtitle: `ec2t ${m.spec.job} ${opts}`, generator: `ec2t ${packageVersion()}`,
  });
  writeFileAtomic(out, html);
  return { cells: cells.length, front, unlabelled };
}

/** `ec2t report RUN_DIR [RUN_DIR ...] --out report.html` handler; a sweep folder gets the sweep report. */
export async function runReport(p: Parsed): Promise<number> {
  const { writeReport } = await import('../ec2t/report/index.js');
  const out = p.flags.out as string;
  checkReportOut(out, p.positionals, p.flags.force === true);
  const { isSweepFolder } = await import('../sweep/store.js');
  if (p.positionals.length === 1 && isSweepFolder(p.positionals[0])) {
    const s = await writeSweepReport(p.positionals[0], out);
    log(`report: ${out} (sweep of ${s.cells} cells; Pareto front: ${s.front.join(', ') || 'none yet'})`);
    return 0;
  }
  const summary = writeReport(p.positionals, out);
  for (const w of summary.warnings) log(`warning: ${w}`);
  log(`report: ${out} (${p.positionals.length} run${p.positionals.length > 1 ? 's' : ''})`);
  return 0;
}
