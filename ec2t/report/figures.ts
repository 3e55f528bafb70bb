/**
 * Figures shared by the run report and the EC2T Lab page: pure SVG strings from plain data (no
 * file access), so a browser bundle can use them.
 */
import type { LayerHistogram } from '../quantizer.js';
import { CLUSTER_COLORS, fmtNum, histogramChart } from './svg.js';

/** A layer histogram as the quantizer makes it or as `histograms.json` stores it (older files lack λ). */
export type HistogramOfLayer = Omit<LayerHistogram, 'lambda'> & { lambda?: number };

/** Styles of the charts of ./svg.ts (text, grid, markers), shared by the report and the Lab page. */
export const CHART_CSS = `svg.chart { max-width: 100%; height: auto; font-size: 11px; font-family: inherit; }
svg.chart text { fill: #222; }
svg.chart .ctitle { font-size: 13px; font-weight: 600; }
svg.chart .alabel { fill: #444; }
svg.chart .grid line { stroke: #e6e6e6; }
svg.chart .axis line { stroke: #555; }
svg.chart .marker text { fill: #444; font-size: 10px; }
svg.chart .vline text { font-size: 10px; font-weight: 600; }
svg.chart .marker text, svg.chart .vline text, svg.chart .pt text { paint-order: stroke; stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
ul.legend { list-style: none; padding: 0; margin: 4px 0 8px; display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 12px; }
ul.legend li { display: flex; align-items: center; gap: 5px; }`;

/** A published point drawn for comparison. */
export interface ReferencePoint {
  label: string;
  accuracy: number;
  sparsity: number;
}

/**
 * The authors' LeNet-5 / MNIST results (their code, s = 0.3; see docs/RESULTS.md): accuracy @
 * sparsity of the ternarized layers for γ = 0, 0.15, 0.3.
 */
export const AUTHORS_LENET5: readonly ReferencePoint[] = [
  { label: 'authors γ=0', accuracy: 0.9862, sparsity: 0.892 },
  { label: 'authors γ=0.15', accuracy: 0.9804, sparsity: 0.926 },
  { label: 'authors γ=0.3', accuracy: 0.9714, sparsity: 0.944 },
];

/**
 * A layer's background-weight histogram as every view of ec2t draws it: bars coloured by the cluster
 * their centre falls in, the zero band between the decision boundaries, lines at the centroids, the
 * boundaries and the nearest-neighbour midpoints. `big` = the featured size of a report.
 * @example layerHistogramChart(quantizer.histograms(60)[0], false)
 */
export function layerHistogramChart(h: HistogramOfLayer, big: boolean): string {
  const { negZero, zeroPos } = h.boundaries;
  const region = (c: number): 'n' | 'zero' | 'p' => (c <= negZero ? 'n' : c >= zeroPos ? 'p' : 'zero');
  return histogramChart({
    title: `Background weights of ${h.name}`,
    desc: `Histogram of ${h.name}'s full-precision background weights with centroids −w_n = ${fmtNum(-h.wn)}, 0, +w_p = ${fmtNum(h.wp)} and decision boundaries ${fmtNum(negZero)} and ${fmtNum(zeroPos)}; weights between the boundaries are assigned to zero.`,
    width: big ? 760 : 420,
    height: big ? 330 : 250,
    bins: h.bins,
    lo: h.lo,
    hi: h.hi,
    xLabel: 'weight value',
    yLabel: 'count',
    binColor: (c) => CLUSTER_COLORS[region(c)],
    binRegion: (c) => `assigned to ${region(c) === 'n' ? '−w_n' : region(c) === 'p' ? '+w_p' : 'zero'}`,
    band: { from: negZero, to: zeroPos, color: 'rgba(240,228,66,0.28)', label: `zero band (${fmtNum(negZero)}, ${fmtNum(zeroPos)})` },
    // Order = label priority: centroids get the top label row, then boundaries, then midpoints.
    lines: [
      { x: -h.wn, label: '−w_n', color: CLUSTER_COLORS.n, width: 2.5 },
      { x: 0, label: '0', color: '#555', width: 2.5 },
      { x: h.wp, label: '+w_p', color: CLUSTER_COLORS.p, width: 2.5 },
      { x: negZero, label: 'boundary', color: '#000', dash: '5 3', width: 1.5 },
      { x: zeroPos, label: 'boundary', color: '#000', dash: '5 3', width: 1.5 },
      { x: -h.wn / 2, label: '−w_n/2', color: '#777', dash: '1 3', width: 1.5 },
      { x: h.wp / 2, label: 'w_p/2', color: '#777', dash: '1 3', width: 1.5 },
    ],
  });
}

