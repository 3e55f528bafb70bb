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

/** `ec2t report RUN_DIR [RUN_DIR ...] --out report.html` handler. */
export async function runReport(p: Parsed): Promise<number> {
  const { writeReport } = await import('../ec2t/report/index.js');
  const out = p.flags.out as string;
  checkReportOut(out, p.positionals, p.flags.force === true);
  const summary = writeReport(p.positionals, out);
  for (const w of summary.warnings) log(`warning: ${w}`);
  log(`report: ${out} (${p.positionals.length} run${p.positionals.length > 1 ? 's' : ''})`);
  return 0;
}
