/**
 * Renders run data into one self-contained HTML page (inline CSS and SVG, no scripts, no network):
 * training curves with phase boundaries, per-layer n/zero/p fractions and centroids, final
 * per-layer sparsity split by cause, the background-weight histogram with centroids and decision
 * boundaries, an accuracy-vs-sparsity comparison across runs, and config/manifest tables.
 */
import type { EpochMetrics } from '../runfolder.js';
import { flatten, runParams, type StoredLayerHistogram, type ReportLayerStats, type RunData } from './load.js';
import {
  CLUSTER_COLORS,
  PALETTE,
  escapeXml as esc,
  fmtNum,
  fmtPct,
  hBarChart,
  isNum,
  legend,
  lineChart,
  pctTick,
  resetIds,
  scatterChart,
  stackedBarChart,
  type Marker,
  type ScatterPoint,
} from './svg.js';
import { CHART_CSS, layerHistogramChart } from './figures.js';

const pct = (v: unknown): string => fmtPct(v, 1);
const pct2 = (v: unknown): string => fmtPct(v, 2);

/** Notes collected while rendering (things the report could not show). */
export interface RenderResult {
  html: string;
  /** Number of `<svg>` charts (legend swatches not counted). */
  charts: number;
  warnings: string[];
}

/** x coordinate of every epoch record: the epoch number when epochs increase, else the record index. */
function epochXs(metrics: readonly EpochMetrics[]): { xs: number[]; label: string } {
  const increasing = metrics.every((m, i) => isNum(m.epoch) && (i === 0 || m.epoch > metrics[i - 1].epoch));
  return increasing ? { xs: metrics.map((m) => m.epoch), label: 'epoch' } : { xs: metrics.map((_, i) => i), label: 'epoch record (sequential)' };
}

/** Vertical markers where the phase changes (e.g. ec2t → frozen), midway between the epochs. */
function phaseMarkers(metrics: readonly EpochMetrics[], xs: readonly number[]): Marker[] {
  const out: Marker[] = [];
  for (let i = 1; i < metrics.length; i++) {
    if (metrics[i].phase !== metrics[i - 1].phase) out.push({ x: (xs[i - 1] + xs[i]) / 2, label: `→ ${metrics[i].phase}` });
  }
  return out;
}

function layerList(m: EpochMetrics): ReportLayerStats[] {
  return Array.isArray(m.layers) ? (m.layers as ReportLayerStats[]) : [];
}

function numelOf(l: ReportLayerStats): number | undefined {
  if (isNum(l.numel) && l.numel > 0) return l.numel;
  const s = (l.n ?? 0) + (l.zero ?? 0) + (l.p ?? 0);
  return s > 0 ? s : undefined;
}

/** Final-epoch headline numbers of a run. */
interface Headline {
  accuracy?: number;
  accuracySource: string;
  sparsity?: number;
  overallSparsity?: number;
  bestVal?: number;
  bestValEpoch?: number;
}

function headline(run: RunData): Headline {
  const last = run.metrics[run.metrics.length - 1];
  const s = run.summary ?? {};
  let accuracy: number | undefined;
  let accuracySource = 'final validation';
  if (isNum(s.accuracy)) {
    accuracy = s.accuracy;
    accuracySource = 'test (summary.json)';
  } else if (isNum(last.valAccuracy)) accuracy = last.valAccuracy;
  else if (isNum(last.trainAccuracy)) {
    accuracy = last.trainAccuracy;
    accuracySource = 'final training (no validation)';
  }
  let bestVal: number | undefined;
  let bestValEpoch: number | undefined;
  for (const m of run.metrics) {
    if (isNum(m.valAccuracy) && (bestVal === undefined || m.valAccuracy > bestVal)) {
      bestVal = m.valAccuracy;
      bestValEpoch = m.epoch;
    }
  }
  const sparsity = isNum(s.sparsity) ? s.sparsity : isNum(last.sparsity) ? last.sparsity : undefined;
  const overallSparsity = isNum(s.overallSparsity) ? s.overallSparsity : isNum(last.overallSparsity) ? last.overallSparsity : undefined;
  return { accuracy, accuracySource, sparsity, overallSparsity, bestVal, bestValEpoch };
}

/** `EC2T γ=0.1 s=0.2`, `TTQ t=0.05`: the point label of a run in comparisons. */
export function runLabel(run: RunData): string {
  const p = runParams(run.config);
  const method = p.method ?? (run.metrics.some((m) => m.phase === 'ec2t') ? 'ec2t' : 'train');
  const parts = [method.toUpperCase()];
  const isTtq = /ttq/i.test(method);
  if (!isTtq && p.gain !== undefined) parts.push(`γ=${fmtNum(p.gain)}`);
  if (!isTtq && p.initScale !== undefined) parts.push(`s=${fmtNum(p.initScale)}`);
  if (isTtq && p.threshold !== undefined) parts.push(`t=${fmtNum(p.threshold)}`);
  return parts.join(' ');
}

function kvTable(caption: string, rows: ReadonlyArray<[string, unknown]>): string {
  const body = rows
    .map(([k, v]) => {
      const text = typeof v === 'string' ? v : v === undefined ? '–' : typeof v === 'number' && !Number.isFinite(v) ? '–' : JSON.stringify(v);
      return `<tr><th scope="row">${esc(k)}</th><td>${esc(text)}</td></tr>`;
    })
    .join('');
  return `<table class="kv"><caption>${esc(caption)}</caption><tbody>${body || '<tr><td>(empty)</td></tr>'}</tbody></table>`;
}

function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '').toLowerCase() || 'run';
}

// ---------------------------------------------------------------- sections of one run

function curvesSection(run: RunData, ctx: Ctx): string {
  const m = run.metrics;
  const { xs, label } = epochXs(m);
  const markers = phaseMarkers(m, xs);
  const pts = (f: (e: EpochMetrics) => unknown): Array<[number, number | null]> => m.map((e, i) => [xs[i], isNum(f(e)) ? (f(e) as number) : null]);
  const has = (f: (e: EpochMetrics) => unknown): boolean => m.some((e) => isNum(f(e)));
  const charts: string[] = [];
  const accDesc = `Accuracy per epoch of ${run.name}; final training ${pct2(m[m.length - 1].trainAccuracy)}, validation ${pct2(m[m.length - 1].valAccuracy as number)}.`;
  charts.push(
    lineChart({
      title: 'Accuracy',
      desc: accDesc,
      xLabel: label,
      yLabel: 'accuracy',
      yFormat: pct, yTickFormat: pctTick,
      markers,
      series: [
        { name: 'train', color: PALETTE[0], points: pts((e) => e.trainAccuracy) },
        ...(has((e) => e.valAccuracy) ? [{ name: 'validation', color: PALETTE[1], dash: '6 3', points: pts((e) => e.valAccuracy) }] : []),
      ],
    }),
  );
  charts.push(
    lineChart({
      title: 'Loss',
      desc: `Cross-entropy loss per epoch of ${run.name}.`,
      xLabel: label,
      yLabel: 'loss',
      yZero: true,
      markers,
      series: [
        { name: 'train', color: PALETTE[0], points: pts((e) => e.trainLoss) },
        ...(has((e) => e.valLoss) ? [{ name: 'validation', color: PALETTE[1], dash: '6 3', points: pts((e) => e.valLoss) }] : []),
      ],
    }),
  );
  if (has((e) => e.sparsity) || has((e) => e.overallSparsity)) {
    charts.push(
      lineChart({
        title: 'Sparsity',
        desc: `Fraction of zero weights per epoch: all parameters and the ternarized layers only.`,
        xLabel: label,
        yLabel: 'zeros / weights',
        yFormat: pct, yTickFormat: pctTick,
        yZero: true,
        markers,
        series: [
          ...(has((e) => e.overallSparsity) ? [{ name: 'overall', color: PALETTE[2], points: pts((e) => e.overallSparsity) }] : []),
          ...(has((e) => e.sparsity) ? [{ name: 'ternarized layers', color: PALETTE[3], dash: '6 3', points: pts((e) => e.sparsity) }] : []),
        ],
      }),
    );
  }
  if (has((e) => e.entropy)) {
    charts.push(
      lineChart({
        title: 'Entropy of the assignment',
        desc: 'Size-weighted mean entropy (bits) of the n/zero/p distribution over ternarized layers; at most log2 3 ≈ 1.585.',
        xLabel: label,
        yLabel: 'bits',
        yZero: true,
        markers,
        series: [{ name: 'entropy', color: PALETTE[4], points: pts((e) => e.entropy) }],
      }),
    );
  }
  if (has((e) => e.lr)) {
    charts.push(
      lineChart({
        title: 'Learning rate',
        desc: 'Learning rate per epoch.',
        xLabel: label,
        yLabel: 'lr',
        yZero: true,
        markers,
        series: [{ name: 'lr', color: PALETTE[7], points: pts((e) => e.lr) }],
      }),
    );
  }
  ctx.charts += charts.length;
  const leg = legend([
    { name: 'train', color: PALETTE[0] },
    { name: 'validation', color: PALETTE[1], dash: '6 3' },
    { name: 'overall sparsity', color: PALETTE[2] },
    { name: 'ternarized-layer sparsity', color: PALETTE[3], dash: '6 3' },
    ...(markers.length ? [{ name: 'phase change', color: '#444', dash: '4 3' }] : []),
  ]);
  return `<section><h3>Training curves</h3>${leg}<div class="grid">${charts.map((c) => `<figure>${c}</figure>`).join('')}</div></section>`;
}

function layersSection(run: RunData, ctx: Ctx): string {
  const m = run.metrics;
  const { xs, label } = epochXs(m);
  const markers = phaseMarkers(m, xs);
  const names: string[] = [];
  for (const e of m) for (const l of layerList(e)) if (!names.includes(l.name)) names.push(l.name);
  if (names.length === 0) return '';
  const cells: string[] = [];
  for (const name of names) {
    const per = m.map((e) => layerList(e).find((l) => l.name === name));
    const frac = (k: 'n' | 'zero' | 'p'): Array<number | null> =>
      per.map((l) => {
        const t = l ? numelOf(l) : undefined;
        return l && t && isNum(l[k]) ? (l[k] as number) / t : null;
      });
    const last = [...per].reverse().find((l) => l !== undefined) as ReportLayerStats;
    const shape = Array.isArray(last.shape) ? ` [${last.shape.join('×')}]` : '';
    const bars = stackedBarChart({
      title: 'n / zero / p fractions',
      desc: `Fraction of ${name}'s weights assigned to −w_n, 0 and +w_p per epoch; final zero fraction ${pct2(frac('zero').at(-1) as number)}.`,
      categories: xs,
      xLabel: label,
      yMax: 1,
      yFormat: pct, yTickFormat: pctTick,
      markers,
      stacks: [
        { name: 'n', color: CLUSTER_COLORS.n, values: frac('n') },
        { name: 'zero', color: CLUSTER_COLORS.zero, values: frac('zero') },
        { name: 'p', color: CLUSTER_COLORS.p, values: frac('p') },
      ],
    });
    const cent = lineChart({
      title: 'centroids w_n, w_p',
      desc: `Centroid magnitudes of ${name} per epoch; final w_n ${fmtNum(last.wn)}, w_p ${fmtNum(last.wp)}.`,
      xLabel: label,
      width: 300,
      height: 190,
      markers,
      series: [
        { name: 'w_n', color: CLUSTER_COLORS.n, points: per.map((l, i) => [xs[i], l?.wn ?? null]) },
        { name: 'w_p', color: CLUSTER_COLORS.p, dash: '6 3', points: per.map((l, i) => [xs[i], l?.wp ?? null]) },
      ],
    });
    ctx.charts += 2;
    const facts = `sparsity ${pct2(last.sparsity ?? (isNum(last.zero) && numelOf(last) ? last.zero / (numelOf(last) as number) : undefined))}, ${fmtNum(last.numel ?? numelOf(last))} weights, dead channels ${fmtNum(last.deadChannels)}, λ ${fmtNum(last.lambda)}`;
    cells.push(`<figure class="layer"><figcaption><code>${esc(name)}</code>${esc(shape)}<br /><span class="small">${esc(facts)}</span></figcaption>${bars}${cent}</figure>`);
  }
  const leg = legend([
    { name: 'n (−w_n)', color: CLUSTER_COLORS.n, kind: 'box' },
    { name: 'zero', color: CLUSTER_COLORS.zero, kind: 'box' },
    { name: 'p (+w_p)', color: CLUSTER_COLORS.p, kind: 'box' },
    { name: 'w_n', color: CLUSTER_COLORS.n },
    { name: 'w_p', color: CLUSTER_COLORS.p, dash: '6 3' },
  ]);
  return `<section id="${esc(ctx.ids.get(run) as string)}-layers"><h3>Ternarized layers per epoch</h3><p>For every ternarized layer: the share of weights assigned to each centroid (left) and the centroid magnitudes (right). Hover a bar or point for its numbers.</p>${leg}<div class="grid layers">${cells.join('')}</div></section>`;
}

function finalSparsitySection(run: RunData, ctx: Ctx): string {
  const lastWithLayers = [...run.metrics].reverse().find((e) => layerList(e).length > 0);
  if (!lastWithLayers) return '';
  let totalNumel = 0;
  let totalCh = 0;
  let totalSingle = 0;
  let noShape = false;
  const rows = layerList(lastWithLayers).map((l) => {
    const numel = numelOf(l) ?? 0;
    const zero = isNum(l.zero) ? l.zero : isNum(l.sparsity) ? l.sparsity * numel : 0;
    const fanIn = Array.isArray(l.shape) && l.shape.length > 0 && l.shape[0] > 0 ? numel / l.shape[0] : undefined;
    if (fanIn === undefined) noShape = true;
    const chWeights = fanIn !== undefined && isNum(l.deadChannels) ? Math.min(zero, l.deadChannels * fanIn) : 0;
    const single = Math.max(0, zero - chWeights);
    totalNumel += numel;
    totalCh += chWeights;
    totalSingle += single;
    const f = numel > 0 ? 1 / numel : 0;
    return {
      label: l.name,
      note: `${pct(zero * f)}${isNum(l.deadChannels) && l.deadChannels > 0 ? ` (${l.deadChannels} ch.)` : ''}`,
      segments: [
        { name: 'removed channels', value: chWeights * f, color: PALETTE[3] },
        { name: 'removed single weights', value: single * f, color: PALETTE[1] },
      ],
    };
  });
  if (totalNumel > 0) {
    rows.push({
      label: 'all ternarized layers',
      note: pct((totalCh + totalSingle) / totalNumel),
      segments: [
        { name: 'removed channels', value: totalCh / totalNumel, color: PALETTE[3] },
        { name: 'removed single weights', value: totalSingle / totalNumel, color: PALETTE[1] },
      ],
    });
  }
  ctx.charts++;
  const chart = hBarChart({
    title: `Sparsity per layer at epoch ${fmtNum(lastWithLayers.epoch)}`,
    desc: `Share of each ternarized layer's weights that are zero, split into whole removed output channels (dead channels × fan-in) and single zero weights.`,
    rows,
    xMax: 1,
    xLabel: 'zero weights / layer weights',
    format: pct,
    tickFormat: pctTick,
  });
  const leg = legend([
    { name: 'removed channels (dead output channel × fan-in)', color: PALETTE[3], kind: 'box' },
    { name: 'removed single weights', color: PALETTE[1], kind: 'box' },
  ]);
  const note = noShape ? '<p class="small">Some layers have no shape in metrics.jsonl, so their dead channels cannot be converted to weights; all their zeros count as single weights.</p>' : '';
  return `<section><h3>Where the sparsity is</h3><p>A dead channel (a filter whose weights are all zero) is removed whole, together with the matching input channel of the next layer; the other zeros are single weights skipped by a sparse kernel.</p>${leg}<figure>${chart}</figure>${note}</section>`;
}

/** Fraction of a histogram's weights inside the zero band (by bin centre). */
function bandShare(h: StoredLayerHistogram): number {
  const w = (h.hi - h.lo) / h.bins.length;
  let inBand = 0;
  let total = 0;
  h.bins.forEach((c, i) => {
    const center = h.lo + (i + 0.5) * w;
    total += c;
    if (center > h.boundaries.negZero && center < h.boundaries.zeroPos) inBand += c;
  });
  return total > 0 ? inBand / total : 0;
}

function histogramSection(run: RunData, ctx: Ctx): string {
  const hs = run.histograms;
  if (!hs || hs.length === 0) return '';
  // Feature the layer with the most weights: the one EC2T pushes hardest (largest decay δ).
  const total = (h: StoredLayerHistogram): number => h.bins.reduce((a, b) => a + b, 0);
  const featured = hs.reduce((a, b) => (total(b) > total(a) ? b : a));
  const rest = hs.filter((h) => h !== featured);
  ctx.charts += hs.length;
  const lambda = isNum(featured.lambda) ? `λ = ${fmtNum(featured.lambda)}` : 'the current λ';
  const caption =
    `<figcaption><p><strong>How EC2T decides which weights become zero.</strong> The bars count the full-precision ` +
    `<em>background</em> weights of <code>${esc(featured.name)}</code> by value. The network computes with only three values: ` +
    `the solid lines −w_n = ${esc(fmtNum(-featured.wn))}, 0 and +w_p = ${esc(fmtNum(featured.wp))}. Plain rounding would send each weight ` +
    `to the nearest of them, splitting at the dotted midpoints −w_n/2 and w_p/2. EC2T instead picks the centroid with the lowest cost ` +
    `<em>squared distance + λ × information content</em>, where the information content −log₂ P is small for a value that many weights share. ` +
    (isNum(featured.lambda) && featured.lambda === 0
      ? `Here λ = 0 (γ = 0 or an inactive layer), so the decision boundaries (dashed) sit on the midpoints, at `
      : `Zero is the most common value, so it is the cheapest, and with ${esc(lambda)} the decision boundaries (dashed) move outwards to `) +
    `${esc(fmtNum(featured.boundaries.negZero))} and ${esc(fmtNum(featured.boundaries.zeroPos))}: every weight in the shaded band ` +
    `(${esc(pct(bandShare(featured)))} of this layer) is set to zero. A larger gain γ means a larger λ, a wider band and a sparser layer; ` +
    `γ = 0 puts the boundaries back on the midpoints. Bar colours show where each weight goes.</p></figcaption>`;
  const leg = legend([
    { name: 'assigned to −w_n', color: CLUSTER_COLORS.n, kind: 'box' },
    { name: 'assigned to zero', color: CLUSTER_COLORS.zero, kind: 'box' },
    { name: 'assigned to +w_p', color: CLUSTER_COLORS.p, kind: 'box' },
    { name: 'decision boundary', color: '#000', dash: '5 3' },
    { name: 'nearest-centroid midpoint (λ = 0)', color: '#777', dash: '1 3' },
  ]);
  const others = rest.length ? `<h4>Other layers</h4><div class="grid wide">${rest.map((h) => `<figure>${layerHistogramChart(h, false)}</figure>`).join('')}</div>` : '';
  return `<section id="${esc(ctx.ids.get(run) as string)}-weights"><h3>Background weights, centroids and decision boundaries</h3>${leg}<figure class="featured">${layerHistogramChart(featured, true)}${caption}</figure>${others}</section>`;
}

function headlineList(run: RunData): string {
  const h = headline(run);
  const m = run.metrics;
  const last = m[m.length - 1];
  const phases = [...new Set(m.map((e) => e.phase))].join(' → ');
  const seconds = m.reduce((a, e) => a + (isNum(e.seconds) ? e.seconds : 0), 0);
  const items: Array<[string, string]> = [
    ['accuracy', `${pct2(h.accuracy)} (${h.accuracySource})`],
    ['final validation accuracy', pct2(last.valAccuracy)],
    ['best validation accuracy', h.bestVal !== undefined ? `${pct2(h.bestVal)} (epoch ${fmtNum(h.bestValEpoch)})` : '–'],
    ['final training accuracy / loss', `${pct2(last.trainAccuracy)} / ${fmtNum(last.trainLoss)}`],
    ['sparsity (ternarized layers)', pct2(h.sparsity)],
    ['sparsity (all parameters)', pct2(h.overallSparsity)],
    ['epochs', `${m.length} (${phases})`],
    ['training time', `${fmtNum(seconds, 3)} s`],
    ['method', runLabel(run)],
  ];
  return `<dl class="headline">${items.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${esc(v)}</dd></div>`).join('')}</dl>`;
}

function runSection(run: RunData, ctx: Ctx): string {
  const id = ctx.ids.get(run) as string;
  const parts = [
    `<section class="run" id="${esc(id)}"><h2>Run <code>${esc(run.name)}</code></h2><p class="small">Folder: <code>${esc(run.dir)}</code></p>`,
    headlineList(run),
    curvesSection(run, ctx),
  ];
  const layers = layersSection(run, ctx);
  if (layers) parts.push(layers, finalSparsitySection(run, ctx));
  else {
    parts.push('<p class="note">This run has no per-layer ternarization statistics (a float training run): only accuracy and loss are shown.</p>');
    if (run.metrics.some((e) => e.phase !== 'train')) ctx.warnings.push(`${run.name}: no per-layer statistics ("layers") in metrics.jsonl`);
  }
  const hist = histogramSection(run, ctx);
  if (hist) parts.push(hist);
  else if (layers) ctx.warnings.push(`${run.name}: no histograms.json, so the decision-boundary figure is missing`);
  parts.push('<section><h3>How this run was made</h3><div class="tables">');
  parts.push(kvTable('config.json', flatten(run.config)));
  parts.push(run.manifest ? kvTable('manifest.json', flatten(run.manifest)) : '<p class="note">No manifest.json in this run folder.</p>');
  if (run.summary) parts.push(kvTable('summary.json', flatten(run.summary)));
  parts.push('</div></section></section>');
  return parts.join('');
}

// ---------------------------------------------------------------- comparison of several runs

function comparisonSection(runs: readonly RunData[], ctx: Ctx): string {
  const methods: string[] = [];
  const labels = runs.map(runLabel);
  const rows: string[] = [];
  const points: ScatterPoint[] = [];
  runs.forEach((run, i) => {
    const h = headline(run);
    const method = labels[i].split(' ')[0];
    const dup = labels.filter((l) => l === labels[i]).length > 1;
    const label = dup ? `${labels[i]} (${run.name})` : labels[i];
    const x = h.sparsity ?? h.overallSparsity;
    if (isNum(x) && isNum(h.accuracy)) {
      if (!methods.includes(method)) methods.push(method);
      const color = PALETTE[methods.indexOf(method) % PALETTE.length];
      points.push({ x, y: h.accuracy, label, color, tip: `${run.name} — ${labels[i]}: sparsity ${pct2(x)}, ${h.accuracySource} accuracy ${pct2(h.accuracy)}` });
    } else ctx.warnings.push(`${run.name}: left out of the accuracy-vs-sparsity plot (no ${isNum(h.accuracy) ? 'sparsity' : 'accuracy'})`);
    const id = ctx.ids.get(run) as string;
    rows.push(
      `<tr><td><a href="#${esc(id)}">${esc(run.name)}</a></td><td>${esc(labels[i])}</td><td>${run.metrics.length}</td><td>${esc(pct2(h.accuracy))}</td><td>${esc(h.accuracySource)}</td><td>${esc(pct2(h.bestVal))}</td><td>${esc(pct2(h.sparsity))}</td><td>${esc(pct2(h.overallSparsity))}</td></tr>`,
    );
  });
  const table = `<table class="runs"><caption>Runs compared</caption><thead><tr><th>run</th><th>method</th><th>epochs</th><th>accuracy</th><th>accuracy from</th><th>best val.</th><th>sparsity (ternarized)</th><th>sparsity (all)</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
  const figs: string[] = [];
  if (points.length > 0) {
    ctx.charts++;
    figs.push(
      scatterChart({
        title: 'Accuracy versus sparsity',
        desc: `One point per run: accuracy against the sparsity of the ternarized layers (all parameters where a run has no ternarized layers). Up and to the right is better.`,
        points,
        xLabel: 'sparsity (ternarized layers)',
        yLabel: 'accuracy',
        xFormat: pct,
        yFormat: pct,
        xTickFormat: pctTick,
        yTickFormat: pctTick,
      }) + legend(methods.map((m, i) => ({ name: m, color: PALETTE[i % PALETTE.length], kind: 'dot' as const }))),
    );
  }
  const series = runs
    .map((run, i) => {
      const { xs } = epochXs(run.metrics);
      return { name: `${run.name}`, color: PALETTE[i % PALETTE.length], dash: i >= PALETTE.length ? '6 3' : undefined, points: run.metrics.map((e, k) => [xs[k], e.valAccuracy] as [number, number | null]) };
    })
    .filter((s) => s.points.some((p) => isNum(p[1])));
  if (series.length > 0) {
    ctx.charts++;
    figs.push(
      lineChart({ title: 'Validation accuracy of every run', desc: 'Validation accuracy per epoch, one line per run.', width: 560, height: 340, xLabel: 'epoch', yLabel: 'validation accuracy', yFormat: pct, yTickFormat: pctTick, series }) +
        legend(series.map((s) => ({ name: s.name, color: s.color, dash: s.dash }))),
    );
  }
  return `<section class="compare" id="comparison"><h2>Comparison</h2>${table}<div class="grid wide">${figs.map((f) => `<figure>${f}</figure>`).join('')}</div></section>`;
}

// ---------------------------------------------------------------- page

interface Ctx {
  charts: number;
  warnings: string[];
  ids: Map<RunData, string>;
}

/** The stylesheet every report page inlines (run reports and sweep reports). */
export const REPORT_CSS = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1a1a1a; background: #fff; margin: 0 auto; padding: 16px 24px 48px; max-width: 1400px; }
h1 { font-size: 24px; margin: 8px 0 4px; }
h2 { font-size: 20px; border-bottom: 2px solid #0072B2; padding-bottom: 4px; margin-top: 36px; }
h3 { font-size: 16px; margin: 22px 0 6px; }
h4 { font-size: 14px; margin: 16px 0 4px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.95em; }
.small, .note { color: #555; font-size: 12px; }
.note { background: #f4f4f4; padding: 6px 10px; border-left: 3px solid #999; }
figure { margin: 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(430px, 1fr)); gap: 12px 18px; align-items: start; }
.grid.layers { grid-template-columns: repeat(auto-fill, minmax(620px, 1fr)); }
.grid.wide { grid-template-columns: repeat(auto-fill, minmax(580px, 1fr)); }
figure.layer { border: 1px solid #ddd; border-radius: 4px; padding: 6px; }
figure.layer figcaption { margin-bottom: 2px; }
figure.featured figcaption { max-width: 760px; }
${CHART_CSS}
dl.headline { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 6px 16px; margin: 10px 0; }
dl.headline div { background: #f6f8fa; border-radius: 4px; padding: 6px 10px; }
dl.headline dt { font-size: 11px; color: #555; text-transform: uppercase; letter-spacing: 0.03em; }
dl.headline dd { margin: 0; font-weight: 600; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
thead th { background: #f0f0f0; }
table.kv th { background: #f8f8f8; font-weight: 500; white-space: nowrap; }
table.kv td { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; word-break: break-all; max-width: 520px; }
.tables { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
nav ul { margin: 4px 0; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  h2 { break-before: page; }
  figure, table, dl.headline { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
`;

/**
 * Renders runs into one self-contained HTML page (no scripts, no external resources); also
 * returns how many charts it drew and what it had to leave out.
 *
 * @example const { html } = renderReportDetailed([loadRun('runs/a')])
 */
export function renderReportDetailed(runs: readonly RunData[], generator = 'ec2t'): RenderResult {
  resetIds();
  const ctx: Ctx = { charts: 0, warnings: [], ids: new Map() };
  const used = new Set<string>();
  for (const run of runs) {
    let id = `run-${slug(run.name)}`;
    for (let k = 2; used.has(id); k++) id = `run-${slug(run.name)}-${k}`;
    used.add(id);
    ctx.ids.set(run, id);
  }
  const title = runs.length === 1 ? `Run report: ${runs[0].name}` : `Run report: ${runs.length} runs`;
  const body: string[] = [];
  body.push(`<header><h1>${esc(title)}</h1><p class="small">Generated by ${esc(generator)} from ${runs.length} run folder${runs.length === 1 ? '' : 's'}. Every chart has tooltips with its numbers (hover a bar, point or line).</p>`);
  if (runs.length > 1) {
    body.push(`<nav><ul><li><a href="#comparison">Comparison</a></li>${runs.map((r) => `<li><a href="#${esc(ctx.ids.get(r) as string)}">${esc(r.name)}</a> — ${esc(runLabel(r))}</li>`).join('')}</ul></nav>`);
  }
  body.push('</header>');
  if (runs.length === 0) body.push('<p class="note">No runs given.</p>');
  if (runs.length > 1) body.push(comparisonSection(runs, ctx));
  for (const run of runs) body.push(runSection(run, ctx));
  const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1" />
<title>${esc(title)}</title>
<style>${REPORT_CSS}</style>
</head>
<body>
${body.join('\n')}
</body>
</html>
`;
  return { html, charts: ctx.charts, warnings: ctx.warnings };
}

/**
 * Renders runs into one self-contained HTML page.
 *
 * @example writeFileSync('report.html', renderReport([loadRun('runs/a'), loadRun('runs/b')]))
 */
export function renderReport(runs: readonly RunData[]): string {
  return renderReportDetailed(runs).html;
}
