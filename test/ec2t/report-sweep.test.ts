/**
 * Sweep reports: the Pareto front, and chart labels that never overlap each other or a mark even
 * when a grid crowds its points (the LeNet-5 grid's shape: seeds on top of each other).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AUTHORS_LENET5, paretoFront, renderSweepReport, type SweepReportCell } from '../../ec2t/report/sweep.js';

test('paretoFront keeps the points no other point beats in both accuracy and sparsity', () => {
  const pts = [
    { accuracy: 0.98, sparsity: 0.7 }, { accuracy: 0.97, sparsity: 0.7 }, { accuracy: 0.96, sparsity: 0.9 },
    { accuracy: 0.96, sparsity: 0.8 }, { accuracy: 0.98, sparsity: 0.7 }, { accuracy: 0.99, sparsity: 0.5 },
  ];
  assert.deepEqual(paretoFront(pts), [0, 2, 4, 5]);
});

/** A 6 γ × 2 s × 2 seed grid whose seeds land within 0.1 pt of each other. */
function grid(): SweepReportCell[] {
  const cells: SweepReportCell[] = [];
  for (const gain of [0, 0.05, 0.1, 0.15, 0.2, 0.3]) {
    for (const s of [0.15, 0.3]) {
      for (const seed of [1, 2]) {
        cells.push({
          cell: `gain-${gain}_init-scale-${s}_seed-${seed}`, point: { gain, 'init-scale': s, seed }, status: 'done',
          accuracy: (s === 0.3 ? 0.982 : 0.962) - gain * (s === 0.3 ? 0.04 : 0.01) + seed * 0.0004,
          sparsity: (s === 0.3 ? 0.65 : 0.47) + gain * 0.8 + seed * 0.0002,
        });
      }
    }
  }
  return cells;
}

interface Rect {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  text: string;
}

test('sweep report: labels of the front and the authors\' points, none overlapping another or a mark', () => {
  const { html, front } = renderSweepReport({ title: 'grid', axes: ['gain', 'init-scale', 'seed'], cells: grid(), reference: AUTHORS_LENET5 });
  assert.ok(front.length >= 6, `front: ${front.join(', ')}`);
  const svg = /<svg xmlns[\s\S]*?<\/svg>/.exec(html)?.[0] ?? '';
  const labelGroup = /<g class="labels"[^>]*>([\s\S]*?)<\/g>/.exec(svg)?.[1] ?? '';
  const labels: Rect[] = [...labelGroup.matchAll(/<text x="([\d.]+)" y="([\d.]+)"(?: text-anchor="(\w+)")?>([^<]*)<\/text>/g)].map((m) => {
    // NOTE: 6.6 px per character, the chart's own estimate of an 11 px sans-serif glyph.
    const w = [...m[4]].length * 6.6;
    const x = Number(m[1]);
    const x0 = m[3] === 'end' ? x - w : m[3] === 'middle' ? x - w / 2 : x;
    return { x0, x1: x0 + w, y0: Number(m[2]) - 9, y1: Number(m[2]) + 2, text: m[4] };
  });
  const texts = labels.map((l) => l.text);
  for (const a of AUTHORS_LENET5) assert.ok(texts.includes(a.label), `${a.label} is labelled: ${texts.join(' | ')}`);
  assert.equal(new Set(texts).size, texts.length, 'one label per configuration (seeds share it)');
  const marks: Rect[] = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)" r="([\d.]+)"/g)].map((m) => {
    const [x, y, r] = [Number(m[1]), Number(m[2]), Number(m[3])];
    return { x0: x - r, x1: x + r, y0: y - r, y1: y + r, text: 'mark' };
  });
  const hit = (a: Rect, b: Rect): boolean => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
  for (let i = 0; i < labels.length; i++) {
    for (let j = i + 1; j < labels.length; j++) assert.ok(!hit(labels[i], labels[j]), `"${labels[i].text}" overlaps "${labels[j].text}"`);
    for (const m of marks) assert.ok(!hit(labels[i], m), `"${labels[i].text}" covers a point at ${m.x0},${m.y0}`);
  }
  assert.match(html, /<td>gain-0\.3_init-scale-0\.3_seed-2<\/td><td>0\.3<\/td><td>0\.3<\/td><td>2<\/td>/);
});
