/**
 * `ec2t scale`: flags to the {@link scaleSearch} recipe (compound scaling of MicroNet, docs/METHOD.md
 * §1), and the table it prints.
 */
import { parseScalePair, scaleSearch, type ScaleSearchOptions, type ScaleSummary } from '../ec2t/recipes/scale.js';
import { runOptionsFromFlags } from '../ec2t/recipes/defaults.js';
import type { FlagValue, Parsed } from './args.js';
import { log } from './progress.js';
import { recipeProgressPrinter } from './run-train.js';

export { THESIS_GRID, type ScaleRow, type ScaleSummary } from '../ec2t/recipes/scale.js';

/**
 * The scale search of a flag record (the parsed command line, a sweep cell): the one mapping from
 * flags to {@link ScaleSearchOptions}; `--grid` and `--base` pairs are read where they are used.
 * @example const o = scaleSearchOptions(parseCommand(scaleSpec, ['--grid', '1,1.4']).flags);
 */
export function scaleSearchOptions(flags: Record<string, FlagValue>): ScaleSearchOptions {
  const { grid, base, ...rest } = flags;
  const o = runOptionsFromFlags<ScaleSearchOptions>(rest);
  if (o.phi !== undefined && base !== undefined) o.base = parseScalePair(base as string, '--base');
  if (o.phi === undefined && grid !== undefined) o.grid = (grid as string[]).map((s) => parseScalePair(s, '--grid'));
  return o;
}

/** Runs {@link scaleSearch} with the CLI's progress bar (unless `quiet`) and notes on stderr. */
export function scaleWithProgress(options: ScaleSearchOptions, opts: { quiet?: boolean } = {}): Promise<ScaleSummary> {
  return scaleSearch(options, { onProgress: recipeProgressPrinter(opts.quiet), onNote: log });
}

/** `ec2t scale` handler. */
export async function runScale(p: Parsed): Promise<number> {
  const f = p.flags;
  const { rows, best } = await scaleWithProgress(scaleSearchOptions(f));
  const table = [
    '| d | w | params (10 classes) | best val acc | test acc | seconds |',
    '|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.depth.toFixed(3)} | ${r.width.toFixed(3)} | ${r.params} | ${r.valAccuracy === null ? '–' : (100 * r.valAccuracy).toFixed(2) + '%'} | ${(100 * r.testAccuracy).toFixed(2)}% | ${r.seconds.toFixed(0)} |`),
    '',
    `best pair: d̂ = ${best.depth}, ŵ = ${best.width}; scale up with: ec2t scale --phi P --base ${best.depth},${best.width} ...`,
  ].join('\n');
  process.stderr.write(table + '\n');
  if (f.json) process.stdout.write(JSON.stringify({ rows, best: { depth: best.depth, width: best.width } }) + '\n');
  return 0;
}
