/**
 * A compact, dependency-free SVG chart renderer for run reports: axes with nice ticks, lines,
 * stacked bars, scatter, histograms and horizontal bars. Every chart is a standalone `<svg>`
 * string with a `<title>`/`<desc>` for screen readers and a `<title>` tooltip on every mark, so
 * the numbers are readable by hovering. All text is escaped; non-finite numbers are never
 * printed (they render as gaps and `–`).
 *
 * Output is well-formed XML (self-closed empty elements, quoted attributes), so a report can be
 * parsed back strictly in tests.
 */

/** Okabe–Ito colour-blind-safe palette (Okabe & Ito 2008), black last. */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'] as const;

/** Colours of the three ternary clusters, used consistently in every figure. */
export const CLUSTER_COLORS = { n: '#D55E00', zero: '#BBBBBB', p: '#0072B2' } as const;

/**
 * Escapes text for XML/HTML element content and attribute values.
 *
 * @example escapeXml('a<b & "c"') // 'a&lt;b &amp; &quot;c&quot;'
 */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** True for a finite number (not null, NaN or ±Infinity). */
export function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/**
 * Formats a number with up to `digits` significant digits, trimming trailing zeros; `–` for a
 * missing or non-finite value (so `NaN`/`undefined` never reach the page).
 *
 * @example fmtNum(0.123456) // '0.1235'
 */
export function fmtNum(v: unknown, digits = 4): string {
  if (!isNum(v)) return '–';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) return v.toExponential(Math.max(0, digits - 1)).replace(/\.?0+e/, 'e');
  if (Number.isInteger(v)) return String(v);
  const s = v.toPrecision(digits);
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/**
 * Formats a fraction as a percentage with `decimals` decimals; `–` when missing.
 *
 * @example fmtPct(0.4517) // '45.17%'
 */
export function fmtPct(v: unknown, decimals = 2): string {
  return isNum(v) ? `${(v * 100).toFixed(decimals)}%` : '–';
}

/** Coordinates rounded to 0.01 px keep files small and free of `1e-17` noise. */
function r(v: number): string {
  const x = Math.round(v * 100) / 100;
  return String(Object.is(x, -0) ? 0 : x);
}

/** Ticks and the extended domain they cover. */
export interface NiceScale {
  lo: number;
  hi: number;
  step: number;
  ticks: number[];
  /** Decimals needed to print a tick exactly. */
  decimals: number;
}

/**
 * Round tick values (1, 2 or 5 × 10^k apart) covering `[lo, hi]`, about `count` of them. A
 * zero-width or inverted domain is widened so a constant series still gets an axis.
 *
 * @example niceScale(0.03, 0.97, 5).ticks // [0, 0.2, 0.4, 0.6, 0.8, 1]
 */
export function niceScale(lo: number, hi: number, count = 5): NiceScale {
  if (!isNum(lo) || !isNum(hi)) {
    lo = 0;
    hi = 1;
  }
  if (lo > hi) [lo, hi] = [hi, lo];
  if (hi - lo < 1e-12 * Math.max(1, Math.abs(lo), Math.abs(hi))) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / Math.max(1, count);
  let step = Math.pow(10, Math.floor(Math.log10(raw)));
  const err = raw / step;
  if (err >= 7.5) step *= 10;
  else if (err >= 3.5) step *= 5;
  else if (err >= 1.5) step *= 2;
  const i0 = Math.floor(lo / step + 1e-9);
  const i1 = Math.ceil(hi / step - 1e-9);
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const ticks: number[] = [];
  // NOTE: i·step (not repeated addition) so ticks do not drift (0.30000000000000004).
  for (let i = i0; i <= i1; i++) ticks.push(Number((i * step).toFixed(decimals)));
  return { lo: i0 * step, hi: i1 * step, step, ticks, decimals };
}

/** Formats a tick value given the decimals its step needs. */
export type TickFormat = (v: number, decimals: number) => string;

/**
 * Tick format for fractions shown as percentages, with just the decimals the step needs.
 *
 * @example pctTick(0.25, 2) // '25%'
 */
export const pctTick: TickFormat = (v, decimals) => `${(v * 100).toFixed(Math.max(0, decimals - 2))}%`;

function tickFmt(f: TickFormat | undefined): { format?: TickFormat } {
  return f ? { format: f } : {};
}

/** A linear map from a data domain onto pixels. */
export function linear(d0: number, d1: number, p0: number, p1: number): (v: number) => number {
  const k = d1 === d0 ? 0 : (p1 - p0) / (d1 - d0);
  return (v) => p0 + (v - d0) * k;
}

let nextId = 0;
/** A document-unique id for `aria-labelledby` (reset by {@link resetIds} at the start of a report). */
function uid(prefix: string): string {
  return `${prefix}${++nextId}`;
}
/** Restarts id numbering, so the same input renders byte-identical output. */
export function resetIds(): void {
  nextId = 0;
}

/** Common chart options. */
export interface ChartBase {
  title: string;
  /** Longer text for screen readers (the `<desc>`). */
  desc?: string;
  width?: number;
  height?: number;
}

/** A vertical marker line (e.g. a phase boundary). */
export interface Marker {
  x: number;
  label: string;
  color?: string;
  dash?: string;
}

interface Frame {
  parts: string[];
  x: (v: number) => number;
  y: (v: number) => number;
  left: number;
  right: number;
  top: number;
  bottom: number;
  width: number;
  height: number;
}

interface AxisSpec {
  domain: [number, number];
  label?: string;
  /** Tick label format; default prints the tick with the scale's decimals. */
  format?: (v: number, decimals: number) => string;
  /** Use the domain exactly (no extension to round ticks). */
  exact?: boolean;
  /** Only integer ticks (epochs). */
  integer?: boolean;
  ticks?: number;
}

function svgOpen(base: ChartBase, width: number, height: number): { parts: string[]; titleId: string } {
  const titleId = uid('t');
  const descId = uid('d');
  const parts = [
    `<svg class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-labelledby="${titleId} ${descId}">`,
    `<title id="${titleId}">${escapeXml(base.title)}</title>`,
    `<desc id="${descId}">${escapeXml(base.desc ?? base.title)}</desc>`,
    `<text class="ctitle" x="${r(width / 2)}" y="16" text-anchor="middle">${escapeXml(base.title)}</text>`,
  ];
  return { parts, titleId };
}

function axisScale(a: AxisSpec): NiceScale {
  let s = niceScale(a.domain[0], a.domain[1], a.ticks ?? 5);
  if (a.integer && s.step < 1) s = { ...s, step: 1, decimals: 0, ticks: range(Math.ceil(a.domain[0]), Math.floor(a.domain[1])) };
  if (a.exact) {
    const [lo, hi] = a.domain[0] < a.domain[1] ? a.domain : [s.lo, s.hi];
    s = { ...s, lo, hi, ticks: s.ticks.filter((t) => t >= lo - 1e-9 * Math.abs(hi - lo) && t <= hi + 1e-9 * Math.abs(hi - lo)) };
  }
  return s;
}

function range(a: number, b: number): number[] {
  const out: number[] = [];
  for (let i = a; i <= b; i++) out.push(i);
  return out;
}

/** Draws the frame: grid, axes, ticks and labels; returns the scales. */
function frame(base: ChartBase, xa: AxisSpec, ya: AxisSpec, defaults: { width: number; height: number; left?: number; rightPad?: number }): Frame {
  const width = base.width ?? defaults.width;
  const height = base.height ?? defaults.height;
  const { parts } = svgOpen(base, width, height);
  const left = defaults.left ?? 52;
  const right = width - (defaults.rightPad ?? 20);
  const top = 26;
  const bottom = height - (xa.label ? 38 : 24);
  const xs = axisScale(xa);
  const ys = axisScale(ya);
  const x = linear(xs.lo, xs.hi, left, right);
  const y = linear(ys.lo, ys.hi, bottom, top);
  const xf = xa.format ?? ((v: number, d: number) => v.toFixed(d));
  const yf = ya.format ?? ((v: number, d: number) => v.toFixed(d));
  parts.push('<g class="grid">');
  for (const t of ys.ticks) parts.push(`<line x1="${r(left)}" x2="${r(right)}" y1="${r(y(t))}" y2="${r(y(t))}" />`);
  parts.push('</g><g class="axis">');
  parts.push(`<line x1="${r(left)}" x2="${r(right)}" y1="${r(bottom)}" y2="${r(bottom)}" />`);
  parts.push(`<line x1="${r(left)}" x2="${r(left)}" y1="${r(top)}" y2="${r(bottom)}" />`);
  const xticks = thin(xs.ticks, Math.max(2, Math.floor((right - left) / 40)));
  for (const t of xticks) {
    parts.push(`<line x1="${r(x(t))}" x2="${r(x(t))}" y1="${r(bottom)}" y2="${r(bottom + 4)}" />`);
    parts.push(`<text x="${r(x(t))}" y="${r(bottom + 15)}" text-anchor="middle">${escapeXml(xf(t, xs.decimals))}</text>`);
  }
  for (const t of ys.ticks) parts.push(`<text x="${r(left - 5)}" y="${r(y(t) + 3.5)}" text-anchor="end">${escapeXml(yf(t, ys.decimals))}</text>`);
  if (xa.label) parts.push(`<text class="alabel" x="${r((left + right) / 2)}" y="${r(height - 6)}" text-anchor="middle">${escapeXml(xa.label)}</text>`);
  if (ya.label) parts.push(`<text class="alabel" transform="translate(11 ${r((top + bottom) / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(ya.label)}</text>`);
  parts.push('</g>');
  return { parts, x, y, left, right, top, bottom, width, height };
}

/** Keeps every k-th tick so labels do not collide. */
function thin(ticks: number[], max: number): number[] {
  if (ticks.length <= max) return ticks;
  const k = Math.ceil(ticks.length / max);
  return ticks.filter((_, i) => i % k === 0);
}

function drawMarkers(f: Frame, markers: readonly Marker[] | undefined): void {
  for (const m of markers ?? []) {
    if (!isNum(m.x)) continue;
    const x = f.x(m.x);
    if (x < f.left - 0.5 || x > f.right + 0.5) continue;
    f.parts.push(
      `<g class="marker"><title>${escapeXml(m.label)}</title><line x1="${r(x)}" x2="${r(x)}" y1="${r(f.top)}" y2="${r(f.bottom)}" stroke="${m.color ?? '#444'}" stroke-dasharray="${m.dash ?? '4 3'}" />` +
        `<text x="${r(x + 3)}" y="${r(f.top + 9)}">${escapeXml(m.label)}</text></g>`,
    );
  }
}

/** A legend row placed under or inside a chart. */
export interface LegendItem {
  name: string;
  color: string;
  dash?: string;
  /** `line` (default), `box` (filled area/bar) or `dot`. */
  kind?: 'line' | 'box' | 'dot';
}

/**
 * An HTML legend (wraps naturally, prints well) with SVG swatches.
 *
 * @example legend([{ name: 'train', color: PALETTE[0] }])
 */
export function legend(items: readonly LegendItem[]): string {
  const li = items.map((it) => {
    const sw =
      it.kind === 'box'
        ? `<rect x="1" y="2" width="14" height="10" fill="${it.color}" stroke="#333" stroke-width="0.5" />`
        : it.kind === 'dot'
          ? `<circle cx="8" cy="7" r="4" fill="${it.color}" />`
          : `<line x1="0" x2="16" y1="7" y2="7" stroke="${it.color}" stroke-width="2.5"${it.dash ? ` stroke-dasharray="${it.dash}"` : ''} />`;
    return `<li><svg width="16" height="14" aria-hidden="true">${sw}</svg>${escapeXml(it.name)}</li>`;
  });
  return `<ul class="legend">${li.join('')}</ul>`;
}

/** One line of a {@link lineChart}. `null`/non-finite y values leave a gap. */
export interface LineSeries {
  name: string;
  points: ReadonlyArray<readonly [number, number | null | undefined]>;
  color: string;
  dash?: string;
}

/** Options of {@link lineChart}. */
export interface LineChartOptions extends ChartBase {
  series: readonly LineSeries[];
  xLabel?: string;
  yLabel?: string;
  /** Fixed y domain (e.g. `[0, 1]` for fractions); default from the data. */
  yDomain?: [number, number];
  /** Include zero in the y domain. */
  yZero?: boolean;
  /** Format of y values in ticks and tooltips. */
  yFormat?: (v: number) => string;
  /** Format of y tick labels (gets the decimals the tick step needs), e.g. {@link pctTick}. */
  yTickFormat?: TickFormat;
  xName?: string;
  markers?: readonly Marker[];
  /** Draw point markers (default: when a series has ≤ 60 points). */
  dots?: boolean;
}

function extent(values: Iterable<number>): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!isNum(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : null;
}

/** Expands an x extent so a single point sits in the middle of the plot. */
function padX(e: [number, number] | null): [number, number] {
  if (!e) return [0, 1];
  return e[0] === e[1] ? [e[0] - 1, e[1] + 1] : e;
}

/**
 * Line chart of one or more series over a numeric x (epochs), with dots carrying tooltips and
 * optional vertical markers.
 *
 * @example lineChart({ title: 'Loss', series: [{ name: 'train', color: PALETTE[0], points: [[0, 1.2], [1, 0.8]] }] })
 */
export function lineChart(o: LineChartOptions): string {
  const xs = extent(o.series.flatMap((s) => s.points.map((p) => p[0])));
  const ysRaw = o.series.flatMap((s) => s.points.map((p) => p[1])).filter(isNum);
  if (o.yZero) ysRaw.push(0);
  const yd = o.yDomain ?? extent(ysRaw) ?? [0, 1];
  const yf = o.yFormat ?? ((v: number) => fmtNum(v));
  const integerX = o.series.every((s) => s.points.every((p) => Number.isInteger(p[0])));
  const f = frame(
    o,
    { domain: padX(xs), label: o.xLabel, integer: integerX, exact: true },
    { domain: yd, label: o.yLabel, format: o.yFormat ? (v) => yf(v) : undefined, exact: !!o.yDomain, ...tickFmt(o.yTickFormat) },
    { width: 420, height: 230 },
  );
  drawMarkers(f, o.markers);
  const xName = o.xName ?? 'epoch';
  for (const s of o.series) {
    const dots = o.dots ?? s.points.length <= 60;
    // Split into runs of finite points so a missing value is a gap, not a jump to 0.
    let d = '';
    let pen = false;
    for (const [px, py] of s.points) {
      if (!isNum(px) || !isNum(py)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${r(f.x(px))} ${r(f.y(py))}`;
      pen = true;
    }
    f.parts.push(`<g class="series"><title>${escapeXml(s.name)}</title>`);
    if (d) f.parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} />`);
    for (const [px, py] of s.points) {
      if (!isNum(px) || !isNum(py)) continue;
      const tip = `${s.name}, ${xName} ${fmtNum(px)}: ${yf(py)}`;
      f.parts.push(
        `<circle cx="${r(f.x(px))}" cy="${r(f.y(py))}" r="${dots ? 3 : 2}" fill="${s.color}"${dots ? '' : ' fill-opacity="0"'}><title>${escapeXml(tip)}</title></circle>`,
      );
    }
    f.parts.push('</g>');
  }
  f.parts.push('</svg>');
  return f.parts.join('');
}

/** One layer of a {@link stackedBarChart}. */
export interface Stack {
  name: string;
  color: string;
  /** One value per category (x); missing values draw nothing. */
  values: ReadonlyArray<number | null | undefined>;
}

/** Options of {@link stackedBarChart}. */
export interface StackedBarOptions extends ChartBase {
  /** x positions (epochs), one bar each. */
  categories: readonly number[];
  stacks: readonly Stack[];
  yMax?: number;
  xLabel?: string;
  yLabel?: string;
  yFormat?: (v: number) => string;
  yTickFormat?: TickFormat;
  xName?: string;
  markers?: readonly Marker[];
}

/**
 * Stacked bars (e.g. fractions of n / zero / p per epoch); each bar's tooltip lists every stack.
 *
 * @example stackedBarChart({ title: 'conv1', categories: [0, 1], stacks: [{ name: 'zero', color: '#bbb', values: [0.3, 0.5] }] })
 */
export function stackedBarChart(o: StackedBarOptions): string {
  const cats = o.categories;
  const e = extent(cats) ?? [0, 0];
  const gap = cats.length > 1 ? minGap(cats) : 1;
  const xd: [number, number] = [e[0] - gap / 2, e[1] + gap / 2];
  const totals = cats.map((_, i) => o.stacks.reduce((a, s) => a + (isNum(s.values[i]) ? (s.values[i] as number) : 0), 0));
  const yMax = o.yMax ?? Math.max(1e-12, ...totals);
  const yf = o.yFormat ?? ((v: number) => fmtNum(v));
  const f = frame(
    o,
    { domain: xd, label: o.xLabel, integer: true, exact: true },
    { domain: [0, yMax], label: o.yLabel, format: o.yFormat ? (v) => yf(v) : undefined, exact: o.yMax !== undefined, ...tickFmt(o.yTickFormat) },
    { width: 300, height: 190, left: 44 },
  );
  // Dense bars touch; +0.5 px overlap hides the anti-aliasing seams that would stripe them.
  const dense = cats.length > 40;
  const bw = Math.max(0.5, Math.abs(f.x(gap) - f.x(0)) * (dense ? 1 : 0.85) + (dense ? 0.5 : 0));
  const xName = o.xName ?? 'epoch';
  for (let i = 0; i < cats.length; i++) {
    const cx = f.x(cats[i]);
    const tip = `${xName} ${fmtNum(cats[i])}: ` + o.stacks.map((s) => `${s.name} ${yf(s.values[i] as number)}`).join(', ');
    f.parts.push(`<g${dense ? ' shape-rendering="crispEdges"' : ''}><title>${escapeXml(tip)}</title>`);
    let acc = 0;
    for (const s of o.stacks) {
      const v = s.values[i];
      if (!isNum(v) || v <= 0) continue;
      const y0 = f.y(acc);
      const y1 = f.y(acc + v);
      f.parts.push(`<rect x="${r(cx - bw / 2)}" y="${r(y1)}" width="${r(bw)}" height="${r(Math.max(0, y0 - y1))}" fill="${s.color}" />`);
      acc += v;
    }
    f.parts.push('</g>');
  }
  drawMarkers(f, o.markers);
  f.parts.push('</svg>');
  return f.parts.join('');
}

function minGap(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  let g = Infinity;
  for (let i = 1; i < s.length; i++) if (s[i] - s[i - 1] > 0) g = Math.min(g, s[i] - s[i - 1]);
  return isNum(g) ? g : 1;
}

/** A point of a {@link scatterChart}. */
export interface ScatterPoint {
  x: number;
  y: number;
  label: string;
  color: string;
  /** Tooltip text; default `label: x, y`. */
  tip?: string;
}

/** Options of {@link scatterChart}. */
export interface ScatterOptions extends ChartBase {
  points: readonly ScatterPoint[];
  xLabel?: string;
  yLabel?: string;
  xFormat?: (v: number) => string;
  yFormat?: (v: number) => string;
  xTickFormat?: TickFormat;
  yTickFormat?: TickFormat;
}

/**
 * Scatter plot with a text label next to every point.
 *
 * @example scatterChart({ title: 'Accuracy vs sparsity', points: [{ x: 0.6, y: 0.91, label: 'γ=0.1', color: PALETTE[0] }] })
 */
export function scatterChart(o: ScatterOptions): string {
  const pts = o.points.filter((p) => isNum(p.x) && isNum(p.y));
  const xe = extent(pts.map((p) => p.x)) ?? [0, 1];
  const ye = extent(pts.map((p) => p.y)) ?? [0, 1];
  // Pad so labels and dots at the extremes are not clipped.
  const px = (xe[1] - xe[0]) * 0.08 || 0.02;
  const py = (ye[1] - ye[0]) * 0.1 || 0.01;
  const xf = o.xFormat ?? ((v: number) => fmtNum(v));
  const yf = o.yFormat ?? ((v: number) => fmtNum(v));
  const f = frame(
    o,
    { domain: [xe[0] - px, xe[1] + px], label: o.xLabel, format: o.xFormat ? (v) => xf(v) : undefined, ...tickFmt(o.xTickFormat) },
    { domain: [ye[0] - py, ye[1] + py], label: o.yLabel, format: o.yFormat ? (v) => yf(v) : undefined, ...tickFmt(o.yTickFormat) },
    { width: 560, height: 340, left: 60 },
  );
  for (const p of pts) {
    const cx = f.x(p.x);
    const cy = f.y(p.y);
    const tip = p.tip ?? `${p.label}: ${xf(p.x)}, ${yf(p.y)}`;
    const anchorEnd = cx > (f.left + f.right) / 2 + (f.right - f.left) * 0.3;
    f.parts.push(
      `<g class="pt"><title>${escapeXml(tip)}</title><circle cx="${r(cx)}" cy="${r(cy)}" r="5" fill="${p.color}" stroke="#fff" stroke-width="1" />` +
        `<text x="${r(anchorEnd ? cx - 8 : cx + 8)}" y="${r(cy - 6)}"${anchorEnd ? ' text-anchor="end"' : ''}>${escapeXml(p.label)}</text></g>`,
    );
  }
  f.parts.push('</svg>');
  return f.parts.join('');
}

/** A vertical reference line of a {@link histogramChart}. */
export interface VLine {
  x: number;
  label: string;
  color: string;
  dash?: string;
  width?: number;
  /** Label row (0 = top) so close lines do not overprint. */
  row?: number;
}

/** Options of {@link histogramChart}. */
export interface HistogramOptions extends ChartBase {
  /** Counts per equal-width bin over `[lo, hi]`. */
  bins: readonly number[];
  lo: number;
  hi: number;
  /** Colour of a bin from its centre value (e.g. by cluster). */
  binColor?: (center: number) => string;
  /** Name of the region a bin falls in, for its tooltip. */
  binRegion?: (center: number) => string;
  lines?: readonly VLine[];
  /** A shaded x interval (e.g. the zero band). */
  band?: { from: number; to: number; color: string; label: string };
  xLabel?: string;
  yLabel?: string;
}

/**
 * Histogram with vertical reference lines and an optional shaded band; the x domain grows to
 * include every line.
 *
 * @example histogramChart({ title: 'w', bins: [1, 4, 2], lo: -1, hi: 1, lines: [{ x: 0, label: '0', color: '#000' }] })
 */
export function histogramChart(o: HistogramOptions): string {
  const nb = o.bins.length;
  // Lines far outside the data (a boundary pushed out by a huge λ) would squash the bars: the
  // domain grows by at most half the data span; lines beyond are drawn at the edge with an arrow.
  const span = o.hi - o.lo;
  const lim: [number, number] = [o.lo - 0.5 * span, o.hi + 0.5 * span];
  const clampX = (v: number): number => Math.min(lim[1], Math.max(lim[0], v));
  const xsAll = [o.lo, o.hi, ...(o.lines ?? []).map((l) => clampX(l.x))];
  if (o.band) xsAll.push(clampX(o.band.from), clampX(o.band.to));
  const xe = extent(xsAll) ?? [0, 1];
  const maxCount = Math.max(1, ...o.bins.filter(isNum));
  const rows = 4; // label rows reserved above the bars; see the greedy layout below
  const f = frame(
    { ...o, height: o.height ?? 260 + rows * 11 },
    { domain: xe, label: o.xLabel },
    { domain: [0, maxCount * (1 + 0.09 * rows)], label: o.yLabel, exact: true, format: (v) => fmtNum(v, 3) },
    { width: 560, height: 280, left: 56 },
  );
  if (o.band && isNum(o.band.from) && isNum(o.band.to) && o.band.to > o.band.from) {
    const x0 = Math.max(f.left, f.x(o.band.from));
    const x1 = Math.min(f.right, f.x(o.band.to));
    f.parts.push(
      `<rect class="band" x="${r(x0)}" y="${r(f.top)}" width="${r(Math.max(0, x1 - x0))}" height="${r(f.bottom - f.top)}" fill="${o.band.color}"><title>${escapeXml(o.band.label)}</title></rect>`,
    );
  }
  const w = (o.hi - o.lo) / Math.max(1, nb);
  for (let i = 0; i < nb; i++) {
    const c = o.bins[i];
    if (!isNum(c) || c <= 0) continue;
    const a = o.lo + i * w;
    const b = a + w;
    const center = (a + b) / 2;
    const x0 = f.x(a);
    const x1 = f.x(b);
    const y = f.y(c);
    const region = o.binRegion ? `, ${o.binRegion(center)}` : '';
    f.parts.push(
      `<rect x="${r(x0)}" y="${r(y)}" width="${r(Math.max(0.5, x1 - x0 - (x1 - x0 > 3 ? 0.5 : 0)))}" height="${r(f.bottom - y)}" fill="${o.binColor ? o.binColor(center) : PALETTE[0]}"><title>${escapeXml(`[${fmtNum(a)}, ${fmtNum(b)}): ${fmtNum(c)} weights${region}`)}</title></rect>`,
    );
  }
  // Greedy label layout: each label takes the first row (from `row`, default 0) where it does not
  // overlap a label already placed (≈ 6 px per character at 10 px bold).
  const placed: Array<Array<[number, number]>> = Array.from({ length: rows }, () => []);
  for (const l of o.lines ?? []) {
    if (!isNum(l.x)) continue;
    const out = l.x < lim[0] ? -1 : l.x > lim[1] ? 1 : 0;
    const x = Math.min(f.right, Math.max(f.left, f.x(clampX(l.x))));
    const text = out < 0 ? `← ${l.label} ${fmtNum(l.x)}` : out > 0 ? `${l.label} ${fmtNum(l.x)} →` : l.label;
    const anchor = out < 0 ? 'start' : out > 0 ? 'end' : 'middle';
    const tw = text.length * 6 + 4;
    const span0: [number, number] = anchor === 'start' ? [x, x + tw] : anchor === 'end' ? [x - tw, x] : [x - tw / 2, x + tw / 2];
    let row = Math.min(rows - 1, l.row ?? 0);
    while (row < rows - 1 && placed[row].some(([a, b]) => a < span0[1] && span0[0] < b)) row++;
    placed[row].push(span0);
    const ty = f.top + 9 + row * 11;
    f.parts.push(
      `<g class="vline"><title>${escapeXml(`${l.label} = ${fmtNum(l.x)}`)}</title><line x1="${r(x)}" x2="${r(x)}" y1="${r(ty + 2)}" y2="${r(f.bottom)}" stroke="${l.color}" stroke-width="${l.width ?? 2}"${l.dash ? ` stroke-dasharray="${l.dash}"` : ''} />` +
        `<text x="${r(x)}" y="${r(ty)}" text-anchor="${anchor}" fill="${l.color}">${escapeXml(text)}</text></g>`,
    );
  }
  f.parts.push('</svg>');
  return f.parts.join('');
}

/** One row of an {@link hBarChart}: segments stacked left to right. */
export interface HBarRow {
  label: string;
  segments: ReadonlyArray<{ name: string; value: number; color: string }>;
  /** Text printed after the bar (e.g. the total). */
  note?: string;
}

/** Options of {@link hBarChart}. */
export interface HBarOptions extends ChartBase {
  rows: readonly HBarRow[];
  xMax?: number;
  xLabel?: string;
  format?: (v: number) => string;
  tickFormat?: TickFormat;
}

/**
 * Horizontal stacked bars, one row per item (e.g. layer sparsity split by cause).
 *
 * @example hBarChart({ title: 'Sparsity', rows: [{ label: 'conv1', segments: [{ name: 'zero', value: 0.5, color: '#bbb' }] }] })
 */
export function hBarChart(o: HBarOptions): string {
  const maxLabel = Math.max(4, ...o.rows.map((rw) => rw.label.length));
  const left = Math.min(260, 12 + maxLabel * 6.2);
  const rowH = 20;
  const height = o.height ?? 30 + o.rows.length * rowH + (o.xLabel ? 42 : 28);
  const fmt = o.format ?? ((v: number) => fmtNum(v));
  const xMax = o.xMax ?? Math.max(1e-12, ...o.rows.map((rw) => rw.segments.reduce((a, s) => a + (isNum(s.value) ? s.value : 0), 0)));
  const f = frame(
    { ...o, height, width: o.width ?? 720 },
    { domain: [0, xMax], label: o.xLabel, exact: o.xMax !== undefined, format: o.format ? (v) => fmt(v) : undefined, ...tickFmt(o.tickFormat) },
    { domain: [0, 1], exact: true, format: () => '' , ticks: 1 },
    { width: 720, height, left, rightPad: 110 },
  );
  // The frame drew y grid lines at 0 and 1; the bars use their own row layout.
  o.rows.forEach((rw, i) => {
    const yc = f.top + 4 + i * rowH + rowH / 2;
    f.parts.push(`<text x="${r(left - 6)}" y="${r(yc + 4)}" text-anchor="end">${escapeXml(rw.label)}</text>`);
    let acc = 0;
    const tip = `${rw.label}: ` + rw.segments.map((s) => `${s.name} ${fmt(s.value)}`).join(', ');
    f.parts.push(`<g><title>${escapeXml(tip)}</title>`);
    for (const s of rw.segments) {
      if (!isNum(s.value) || s.value <= 0) continue;
      const x0 = f.x(acc);
      const x1 = f.x(acc + s.value);
      f.parts.push(`<rect x="${r(x0)}" y="${r(yc - 7)}" width="${r(Math.max(0.5, x1 - x0))}" height="14" fill="${s.color}" />`);
      acc += s.value;
    }
    f.parts.push('</g>');
    if (rw.note) f.parts.push(`<text x="${r(f.x(acc) + 5)}" y="${r(yc + 4)}">${escapeXml(rw.note)}</text>`);
  });
  f.parts.push('</svg>');
  return f.parts.join('');
}

/** A point of a {@link paretoChart}. */
export interface ParetoPoint {
  x: number;
  y: number;
  color: string;
  /** `dot` (a run of the sweep) or `diamond` (a reference point, e.g. a paper's). */
  shape?: 'dot' | 'diamond';
  /** Text next to the mark; drawn only where it overlaps no other label or mark. */
  label?: string;
  /** Points with the same key share one label (e.g. seeds of one configuration): only the first placed is drawn. */
  labelKey?: string;
  tip: string;
  /** On the Pareto front: drawn larger and joined by the front line. */
  front?: boolean;
}

/** Options of {@link paretoChart}. */
export interface ParetoOptions extends ChartBase {
  points: readonly ParetoPoint[];
  xLabel?: string;
  yLabel?: string;
  xTickFormat?: TickFormat;
  yTickFormat?: TickFormat;
  /** Keep both axes inside [0, 1] (fractions such as accuracy and sparsity). */
  fractions?: boolean;
  /** Legend drawn in the chart's right margin (so the SVG explains its colours on its own). */
  legend?: ReadonlyArray<{ name: string; color: string; shape?: 'dot' | 'diamond' }>;
}

/** NOTE: 6.6 px per character: 6.1 px (an average 11 px sans-serif glyph) let labels of the
 * rendered LeNet-5 sweep touch their neighbours in rsvg-convert; a box a little too wide only moves a label. */
const LABEL_CHAR_PX = 6.6;
const LABEL_HEIGHT_PX = 11;

interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

function overlaps(a: Box, b: Box): boolean {
  return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

/**
 * Accuracy–sparsity scatter with the Pareto front drawn as a line through its points. Labels are
 * placed greedily (front points first, in x order) at the first of eight spots around the mark
 * (of ten) that overlaps no placed label, no mark, no stretch of the front line and stays inside the plot; a label with no free spot is
 * left out (the tooltip and the report's table still carry it). Font size and family are set on
 * the `<svg>` itself, so the chart renders the same outside the report page.
 *
 * @example paretoChart({ title: 'Sweep', points: [{ x: 0.9, y: 0.98, color: PALETTE[0], tip: 'γ=0', label: 'γ=0', front: true }] })
 */
export function paretoChart(o: ParetoOptions): { svg: string; unlabelled: number } {
  const pts = o.points.filter((p) => isNum(p.x) && isNum(p.y));
  const xe = extent(pts.map((p) => p.x)) ?? [0, 1];
  const ye = extent(pts.map((p) => p.y)) ?? [0, 1];
  const px = (xe[1] - xe[0]) * 0.12 || 0.02;
  const py = (ye[1] - ye[0]) * 0.12 || 0.01;
  const lo = (v: number): number => (o.fractions ? Math.max(0, v) : v);
  const hi = (v: number): number => (o.fractions ? Math.min(1, v) : v);
  const legendWidth = o.legend && o.legend.length > 0 ? 14 + LABEL_CHAR_PX * Math.max(...o.legend.map((l) => l.name.length)) : 0;
  const f = frame(
    o,
    { domain: [lo(xe[0] - px), hi(xe[1] + px)], label: o.xLabel, exact: o.fractions, ...tickFmt(o.xTickFormat) },
    { domain: [lo(ye[0] - py), hi(ye[1] + py)], label: o.yLabel, exact: o.fractions, ...tickFmt(o.yTickFormat) },
    { width: 720 + legendWidth, height: 440, left: 60, rightPad: 20 + legendWidth },
  );
  (o.legend ?? []).forEach((l, i) => {
    const lx = f.right + 14;
    const ly = f.top + 8 + 16 * i;
    const mark = l.shape === 'diamond' ? `<path d="M${r(lx)} ${r(ly - 5)}L${r(lx + 5)} ${r(ly)}L${r(lx)} ${r(ly + 5)}L${r(lx - 5)} ${r(ly)}Z" fill="${l.color}" />` : `<circle cx="${r(lx)}" cy="${r(ly)}" r="4.5" fill="${l.color}"${l.color === "#fff" ? ' stroke="#222" stroke-width="1.5"' : ''} />`;
    f.parts.push(`<g class="lg">${mark}<text x="${r(lx + 9)}" y="${r(ly + 4)}">${escapeXml(l.name)}</text></g>`);
  });
  f.parts[0] = f.parts[0].replace('<svg ', '<svg xmlns="http://www.w3.org/2000/svg" font-size="11" font-family="sans-serif" ');
  const front = pts.filter((p) => p.front).sort((a, b) => a.x - b.x);
  if (front.length > 1) {
    f.parts.push(`<polyline class="front" fill="none" stroke="#555" stroke-width="1.5" stroke-dasharray="5 3" points="${front.map((p) => `${r(f.x(p.x))},${r(f.y(p.y))}`).join(' ')}" />`);
  }
  const marks: Box[] = pts.map((p) => ({ x0: f.x(p.x) - 6, y0: f.y(p.y) - 6, x1: f.x(p.x) + 6, y1: f.y(p.y) + 6 }));
  // The front line counts as marks too: small boxes every 4 px along each segment.
  for (let i = 1; i < front.length; i++) {
    const [x0, y0, x1, y1] = [f.x(front[i - 1].x), f.y(front[i - 1].y), f.x(front[i].x), f.y(front[i].y)];
    const steps = Math.ceil(Math.hypot(x1 - x0, y1 - y0) / 4);
    for (let k = 0; k <= steps; k++) {
      const x = x0 + ((x1 - x0) * k) / steps;
      const y = y0 + ((y1 - y0) * k) / steps;
      marks.push({ x0: x - 1.5, y0: y - 1.5, x1: x + 1.5, y1: y + 1.5 });
    }
  }
  const placed: Box[] = [];
  const labelledKeys = new Set<string>();
  const labels: string[] = [];
  let unlabelled = 0;
  const order = [...pts].sort((a, b) => Number(b.front === true) - Number(a.front === true) || Number(b.shape === 'diamond') - Number(a.shape === 'diamond') || a.x - b.x);
  for (const p of order) {
    if (p.label === undefined || p.label === '') continue;
    if (p.labelKey !== undefined && labelledKeys.has(p.labelKey)) continue;
    const cx = f.x(p.x);
    const cy = f.y(p.y);
    const w = p.label.length * LABEL_CHAR_PX;
    const h = LABEL_HEIGHT_PX;
    // Right, left, above, below, the four diagonals, then one row further above and below.
    const spots: Array<[number, number, 'start' | 'end' | 'middle']> = [
      [cx + 9, cy + 4, 'start'], [cx - 9, cy + 4, 'end'], [cx, cy - 10, 'middle'], [cx, cy + 18, 'middle'],
      [cx + 7, cy - 8, 'start'], [cx - 7, cy - 8, 'end'], [cx + 7, cy + 16, 'start'], [cx - 7, cy + 16, 'end'],
      [cx, cy - 24, 'middle'], [cx, cy + 32, 'middle'],
    ];
    let done = false;
    for (const [tx, ty, anchor] of spots) {
      const x0 = anchor === 'start' ? tx : anchor === 'end' ? tx - w : tx - w / 2;
      const box: Box = { x0, y0: ty - h + 2, x1: x0 + w, y1: ty + 2 };
      if (box.x0 < f.left + 2 || box.x1 > f.right - 2 || box.y0 < f.top || box.y1 > f.bottom - 2) continue;
      if (placed.some((b) => overlaps(b, box)) || marks.some((b) => overlaps(b, box))) continue;
      placed.push(box);
      if (p.labelKey !== undefined) labelledKeys.add(p.labelKey);
      labels.push(`<text x="${r(tx)}" y="${r(ty)}"${anchor === 'start' ? '' : ` text-anchor="${anchor}"`}>${escapeXml(p.label)}</text>`);
      done = true;
      break;
    }
    if (!done) unlabelled++;
  }
  for (const p of pts) {
    const cx = f.x(p.x);
    const cy = f.y(p.y);
    const size = p.front ? 6 : 4.5;
    const mark = p.shape === 'diamond'
      ? `<path d="M${r(cx)} ${r(cy - size - 1)}L${r(cx + size + 1)} ${r(cy)}L${r(cx)} ${r(cy + size + 1)}L${r(cx - size - 1)} ${r(cy)}Z" fill="${p.color}" stroke="#fff" stroke-width="1" />`
      : `<circle cx="${r(cx)}" cy="${r(cy)}" r="${size}" fill="${p.color}" stroke="${p.front ? '#222' : '#fff'}" stroke-width="${p.front ? 1.5 : 1}" />`;
    f.parts.push(`<g class="pt"><title>${escapeXml(p.tip)}</title>${mark}</g>`);
  }
  f.parts.push(`<g class="labels" stroke="#fff" stroke-width="3" paint-order="stroke" stroke-linejoin="round">${labels.join('')}</g>`);
  f.parts.push('</svg>');
  return { svg: f.parts.join(''), unlabelled };
}
