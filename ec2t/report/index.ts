/**
 * Run reports: one self-contained HTML page (inline SVG and CSS, no scripts, no network) from
 * one or more run folders. See `docs/REPORTS.md`.
 */
import { packageVersion } from '../runfolder.js';
import { writeFileAtomic } from '../../base/io.js';
import { nodeServices } from '../../base/platform.js';
import { loadRuns, type RunData } from './load.js';
import { renderReportDetailed } from './render.js';

export { loadRun, loadRuns, runParams, configValue, flatten } from './load.js';
export type { RunData, StoredLayerHistogram, ReportLayerStats, RunParams } from './load.js';
export { renderReport, renderReportDetailed, runLabel } from './render.js';
export type { RenderResult } from './render.js';

/** What {@link writeReport} wrote. */
export interface ReportSummary {
  /** The HTML file written. */
  outPath: string;
  /** Number of runs in the report. */
  runs: number;
  /** Number of SVG charts drawn. */
  charts: number;
  /** Size of the HTML file. */
  bytes: number;
  /** Things the report could not show (missing histograms.json, a run without sparsity in the scatter, …). */
  warnings: string[];
}

/**
 * Reads run folders and writes one self-contained HTML report to `outPath` (atomically).
 * Throws `FormatError` naming the file when a run folder, its `config.json` or `metrics.jsonl`
 * is missing or malformed.
 *
 * @example writeReport(['runs/g0', 'runs/g0.2'], 'report.html').warnings
 */
export function writeReport(runDirs: string[], outPath: string): ReportSummary {
  const runs: RunData[] = loadRuns(runDirs);
  const { html, charts, warnings } = renderReportDetailed(runs, `ec2t ${packageVersion()}`);
  writeFileAtomic(outPath, html);
  return { outPath, runs: runs.length, charts, bytes: nodeServices(outPath).fs.statSync(outPath).size, warnings };
}

