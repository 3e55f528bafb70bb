/**
 * Sweep reports: one self-contained HTML page for a grid of runs — the accuracy–sparsity scatter
 * with the Pareto front (and reference points such as the paper's, where they exist) and a table
 * of every cell. The caller reads the sweep folder; this module only renders.
 */
import { REPORT_CSS } from './render.js';
import { PALETTE, escapeXml as esc, fmtPct, isNum, legend, paretoChart, pctTick, resetIds, type ParetoPoint } from './svg.js';

/** One cell of a sweep as the report shows it. */
export interface SweepReportCell {
  cell: string;
  /** Axis values of the cell. */
  point: Record<string, unknown>;
  status: 'done' | 'failed' | 'not ended';
  accuracy?: number;
  /** Sparsity of the ternarized layers. */
  sparsity?: number;
  overallSparsity?: number;
  attempts?: number;
  error?: string;
}

export { AUTHORS_LENET5, type ReferencePoint } from './figures.js';
import type { ReferencePoint } from './figures.js';

/**
 * Indices of the points no other point beats in both accuracy and sparsity (ties kept).
 * @example paretoFront([{ accuracy: 0.9, sparsity: 0.5 }, { accuracy: 0.8, sparsity: 0.4 }]) // [0]
 */
export function paretoFront(points: ReadonlyArray<{ accuracy: number; sparsity: number }>): number[] {
  const out: number[] = [];
  points.forEach((p, i) => {
    const dominated = points.some((q, j) => j !== i && q.accuracy >= p.accuracy && q.sparsity >= p.sparsity && (q.accuracy > p.accuracy || q.sparsity > p.sparsity));
    if (!dominated) out.push(i);
  });
  return out;
}

/** Options of {@link renderSweepReport}. */
export interface SweepReportOptions {
  title: string;
  /** Axis names in the spec's order (table columns, point labels, colours by the first axis). */
  axes: readonly string[];
  cells: readonly SweepReportCell[];
  reference?: readonly ReferencePoint[];
  /** A line about where the data came from (job, options). */
  subtitle?: string;
  generator?: string;
}

/** Short form of a cell's axis values for labels: `γ=0.1 s=0.3 seed=2`. */
function shortPoint(point: Record<string, unknown>, axes: readonly string[]): string {
  const short: Record<string, string> = { gain: 'γ', 'init-scale': 's' };
  return axes.map((a) => `${short[a] ?? a}=${Array.isArray(point[a]) ? (point[a] as unknown[]).join('+') : String(point[a])}`).join(' ');
}

/**
 * Renders a sweep into one HTML page (inline CSS and SVG, no scripts); also says how many point
 * labels had no free spot (those points keep their tooltip and table row).
 * @example renderSweepReport({ title: 'LeNet-5 grid', axes: ['gain'], cells, reference: AUTHORS_LENET5 }).html
 */
export function renderSweepReport(o: SweepReportOptions): { html: string; unlabelled: number; front: string[] } {
  resetIds();
  const plotted = o.cells.filter((c) => c.status === 'done' && isNum(c.accuracy) && isNum(c.sparsity)) as Array<SweepReportCell & { accuracy: number; sparsity: number }>;
  const frontIdx = new Set(paretoFront(plotted));
  const colorAxis = o.axes[0];
  const groups = colorAxis === undefined ? [] : [...new Set(plotted.map((c) => JSON.stringify(c.point[colorAxis])))];
  const colorOf = (c: SweepReportCell): string => PALETTE[Math.max(0, groups.indexOf(JSON.stringify(colorAxis === undefined ? null : c.point[colorAxis]))) % (PALETTE.length - 1)];
  const points: ParetoPoint[] = plotted.map((c, i) => ({
    x: c.sparsity, y: c.accuracy, color: colorOf(c), front: frontIdx.has(i),
    // Seeds of one configuration sit on top of each other: one label for all of them.
    label: frontIdx.has(i) ? shortPoint(c.point, o.axes.filter((a) => a !== 'seed')) || shortPoint(c.point, o.axes) : undefined,
    labelKey: frontIdx.has(i) ? shortPoint(c.point, o.axes.filter((a) => a !== 'seed')) || c.cell : undefined,
    tip: `${c.cell}: accuracy ${fmtPct(c.accuracy)}, sparsity ${fmtPct(c.sparsity)}${frontIdx.has(i) ? ' (Pareto front)' : ''}`,
  }));
  for (const ref of o.reference ?? []) {
    points.push({ x: ref.sparsity, y: ref.accuracy, color: PALETTE[7], shape: 'diamond', label: ref.label, tip: `${ref.label}: accuracy ${fmtPct(ref.accuracy)}, sparsity ${fmtPct(ref.sparsity)}` });
  }
  const chart = paretoChart({
    title: 'Accuracy vs sparsity', desc: `${plotted.length} cells; the dashed line joins the Pareto front (no other cell is both more accurate and sparser)`,
    points, xLabel: 'sparsity of the ternarized layers', yLabel: 'test accuracy', xTickFormat: pctTick, yTickFormat: pctTick, fractions: true,
    legend: [
      ...groups.map((g, i) => ({ name: `${shortPoint({ [colorAxis as string]: JSON.parse(g) as unknown }, [colorAxis as string])}`, color: PALETTE[i % (PALETTE.length - 1)] })),
      ...((o.reference ?? []).length > 0 ? [{ name: 'authors (paper)', color: PALETTE[7], shape: 'diamond' as const }] : []),
      ...(frontIdx.size > 0 ? [{ name: 'outlined: Pareto front', color: '#fff' }] : []),
    ],
  });
  const legendItems = [
    ...groups.map((g, i) => ({ name: `${colorAxis} = ${JSON.parse(g) as string}`, color: PALETTE[i % (PALETTE.length - 1)], kind: 'dot' as const })),
    ...((o.reference ?? []).length > 0 ? [{ name: 'authors (paper)', color: PALETTE[7], kind: 'box' as const }] : []),
  ];
  const frontNames = plotted.filter((_, i) => frontIdx.has(i)).map((c) => c.cell);
  const rows = o.cells.map((c) => {
    const onFront = frontNames.includes(c.cell);
    return `<tr${onFront ? ' class="front"' : ''}><td>${esc(c.cell)}</td>${o.axes.map((a) => `<td>${esc(String(c.point[a]))}</td>`).join('')}` +
      `<td>${fmtPct(c.accuracy)}</td><td>${fmtPct(c.sparsity)}</td><td>${fmtPct(c.overallSparsity)}</td><td>${onFront ? 'yes' : ''}</td>` +
      `<td>${esc(c.status)}${c.attempts !== undefined && c.attempts > 1 ? ` (${c.attempts} attempts)` : ''}${c.error ? `: ${esc(c.error)}` : ''}</td></tr>`;
  });
  const refRows = (o.reference ?? []).map((r) => `<tr><td>${esc(r.label)}</td>${o.axes.map(() => '<td></td>').join('')}<td>${fmtPct(r.accuracy)}</td><td>${fmtPct(r.sparsity)}</td><td></td><td></td><td>paper</td></tr>`);
  const failed = o.cells.filter((c) => c.status !== 'done').length;
  const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1" />
<title>${esc(o.title)}</title>
<style>${REPORT_CSS}
tr.front td { font-weight: 600; }</style>
</head>
<body>
<header><h1>${esc(o.title)}</h1><p class="small">${o.subtitle ? `${esc(o.subtitle)}. ` : ''}${o.cells.length} cells, ${plotted.length} plotted${failed > 0 ? `, ${failed} not done` : ''}; generated by ${esc(o.generator ?? 'ec2t')}. Hover a point for its numbers.</p></header>
<h2 id="pareto">Accuracy vs sparsity</h2>
<figure>${chart.svg}${legend(legendItems)}<figcaption class="small">Bold outlined points and the dashed line: the Pareto front (${frontNames.length} cell${frontNames.length === 1 ? '' : 's'}); labels are drawn only where they overlap nothing${chart.unlabelled > 0 ? ` (${chart.unlabelled} left out; see the table)` : ''}.</figcaption></figure>
<h2 id="cells">Cells</h2>
<table><thead><tr><th>cell</th>${o.axes.map((a) => `<th>${esc(a)}</th>`).join('')}<th>test accuracy</th><th>sparsity (ternary layers)</th><th>overall sparsity</th><th>Pareto</th><th>status</th></tr></thead>
<tbody>${[...rows, ...refRows].join('\n')}</tbody></table>
</body>
</html>
`;
  return { html, unlabelled: chart.unlabelled, front: frontNames };
}
