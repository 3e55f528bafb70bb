/**
 * Small synthetic run folders for report tests (and for looking at a report by hand:
 * `node dist/test/ec2t/report-fixtures.js OUT_DIR` writes the fixtures and `OUT_DIR/report.html`).
 * Curves are smooth closed forms, not training results; the histogram's decision boundaries follow
 * the entropy-constrained cost of docs/METHOD.md §5 so the figure looks like the real thing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EpochMetrics } from '../../ec2t/runfolder.js';

export interface FixtureLayer {
  name: string;
  shape: number[];
  /** Final zero fraction. */
  sparsity: number;
  /** Dead output channels at the end. */
  dead: number;
}

export interface FixtureOptions {
  method?: string;
  gain?: number;
  initScale?: number;
  threshold?: number;
  ec2tEpochs?: number;
  frozenEpochs?: number;
  layers?: FixtureLayer[];
  /** Final validation accuracy. */
  finalAccuracy?: number;
  /** Write summary.json with this test accuracy. */
  testAccuracy?: number;
  histograms?: boolean;
  /** Plain float training run: phase `train`, no EC2T fields. */
  plain?: boolean;
  /** Extra config fields. */
  config?: Record<string, unknown>;
}

export const DEFAULT_LAYERS: FixtureLayer[] = [
  { name: 'layer1.0.conv1.weight', shape: [16, 16, 3, 3], sparsity: 0.42, dead: 0 },
  { name: 'layer2.0.conv1.weight', shape: [32, 16, 3, 3], sparsity: 0.61, dead: 2 },
  { name: 'layer3.0.conv2.weight', shape: [64, 64, 3, 3], sparsity: 0.78, dead: 9 },
];

const numelOf = (s: number[]): number => s.reduce((a, b) => a * b, 1);

/** Epoch records of a synthetic run. */
export function fixtureMetrics(o: FixtureOptions): EpochMetrics[] {
  const e1 = o.plain ? (o.ec2tEpochs ?? 6) : (o.ec2tEpochs ?? 8);
  const e2 = o.plain ? 0 : (o.frozenEpochs ?? 0);
  const total = e1 + e2;
  const finalAcc = o.finalAccuracy ?? 0.9;
  const layers = o.layers ?? DEFAULT_LAYERS;
  const out: EpochMetrics[] = [];
  for (let e = 0; e < total; e++) {
    const t = total === 1 ? 1 : e / (total - 1); // progress 0 → 1
    const valAccuracy = finalAcc - 0.25 * (1 - t) ** 2;
    const rec: EpochMetrics = {
      epoch: e,
      phase: o.plain ? 'train' : e < e1 ? 'ec2t' : 'frozen',
      lr: 1e-4 * (0.5 + 0.5 * Math.cos(Math.PI * t)),
      trainLoss: 0.25 + 1.6 * (1 - t) ** 2,
      trainAccuracy: Math.min(0.999, valAccuracy + 0.04),
      valLoss: 0.32 + 1.5 * (1 - t) ** 2,
      valAccuracy,
      imagesPerSecond: 1200 + 10 * e,
      seconds: 40 + e,
    };
    if (!o.plain) {
      // Sparsity rises during the ec2t phase and is fixed in the frozen phase.
      const grow = e1 === 1 ? 1 : Math.min(1, e / (e1 - 1));
      let zeros = 0;
      let numelAll = 0;
      let hWeighted = 0;
      rec.layers = layers.map((l) => {
        const numel = numelOf(l.shape);
        const sp = 0.3 + (l.sparsity - 0.3) * grow;
        const zero = Math.round(numel * Math.min(1, sp));
        const rest = numel - zero;
        const n = Math.floor(rest * 0.48);
        const p = rest - n;
        const q = [n, zero, p].map((c) => c / numel);
        const entropy = q.reduce((a, x) => (x > 0 ? a - x * Math.log2(x) : a), 0);
        zeros += zero;
        numelAll += numel;
        hWeighted += entropy * numel;
        const floor = zero === numel;
        return {
          name: l.name,
          shape: l.shape,
          numel,
          n,
          zero,
          p,
          wn: floor ? 0.0123 : 0.08 + 0.01 * grow,
          wp: floor ? 0.0123 : 0.09 + 0.012 * grow,
          entropy,
          lambda: 0.002 * grow,
          lambdaMax: 0.01,
          sparsity: zero / numel,
          deadChannels: Math.round(l.dead * grow),
        };
      });
      rec.sparsity = zeros / numelAll;
      rec.overallSparsity = (zeros / (numelAll + 5000)) * 0.97;
      rec.entropy = hWeighted / numelAll;
    }
    out.push(rec);
  }
  return out;
}

/** A background-weight histogram with boundaries from the EC2T cost (docs/METHOD.md §5). */
export function fixtureHistogram(name: string, wn: number, wp: number, lambda: number, probs: [number, number, number]) {
  const nb = 60;
  const lo = -0.3;
  const hi = 0.32;
  const w = (hi - lo) / nb;
  const bins: number[] = [];
  for (let i = 0; i < nb; i++) {
    const x = lo + (i + 0.5) * w;
    bins.push(Math.round(4000 * w * Math.exp(-Math.abs(x) / 0.06) / 0.12));
  }
  const [In, I0, Ip] = probs.map((p) => -Math.log2(p));
  // (w + wn)² + λ I_n = w² + λ I_0  ⇒  w = −wn/2 − λ (I_n − I_0) / (2 wn); same on the positive side.
  const negZero = -wn / 2 - (lambda * (In - I0)) / (2 * wn);
  const zeroPos = wp / 2 + (lambda * (Ip - I0)) / (2 * wp);
  return { name, bins, lo, hi, wn, wp, lambda, boundaries: { negZero, zeroPos } };
}

/** Writes a run folder: config.json, manifest.json, metrics.jsonl and optional summary/histograms. */
export function writeFixtureRun(dir: string, o: FixtureOptions): void {
  mkdirSync(dir, { recursive: true });
  const config: Record<string, unknown> = {
    command: o.plain ? 'train' : 'ternarize',
    model: 'resnet20',
    dataset: 'cifar10',
    epochs: (o.ec2tEpochs ?? 8) + (o.frozenEpochs ?? 0),
    batchSize: 128,
    ...(o.plain ? {} : { method: o.method ?? 'ec2t' }),
    ...(o.gain !== undefined ? { gain: o.gain } : {}),
    ...(o.initScale !== undefined ? { ec2t: { initScale: o.initScale } } : {}),
    ...(o.threshold !== undefined ? { threshold: o.threshold } : {}),
    optimizer: { name: 'adam', lr: 1e-4, centroidLr: 1e-5 },
    ...o.config,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  writeFileSync(
    join(dir, 'manifest.json'),
    JSON.stringify({ seed: 7, packageVersion: '0.1.0', node: 'v22.0.0', backend: 'cpu', dataset: { name: 'cifar10', fingerprint: 'sha256:00ff' } }, null, 2),
  );
  const metrics = fixtureMetrics(o);
  writeFileSync(join(dir, 'metrics.jsonl'), metrics.map((m) => JSON.stringify(m)).join('\n') + '\n');
  const last = metrics[metrics.length - 1];
  if (o.testAccuracy !== undefined) {
    writeFileSync(join(dir, 'summary.json'), JSON.stringify({ accuracy: o.testAccuracy, sparsity: last.sparsity, overallSparsity: last.overallSparsity, epochs: metrics.length }));
  }
  if (o.histograms && Array.isArray(last.layers)) {
    const layers = (last.layers as Array<{ name: string; wn: number; wp: number; lambda: number; n: number; zero: number; p: number; numel: number }>).map((l) =>
      fixtureHistogram(l.name, l.wn, l.wp, l.lambda * 4, [Math.max(l.n, 1) / l.numel, Math.max(l.zero, 1) / l.numel, Math.max(l.p, 1) / l.numel]),
    );
    writeFileSync(join(dir, 'histograms.json'), JSON.stringify({ layers }));
  }
}

/** The standard set: a full EC2T run, a TTQ run, a γ=0 run, a one-epoch run, a run with a fully sparse layer, a plain train run. */
export function writeFixtureSet(root: string): Record<string, string> {
  const d = (n: string): string => join(root, n);
  const dirs = {
    ec2t: d('ec2t-g0.2'),
    ttq: d('ttq-t0.05'),
    gamma0: d('ec2t-g0'),
    one: d('one-epoch'),
    fullySparse: d('fully-sparse'),
    plain: d('plain-train'),
  };
  writeFixtureRun(dirs.ec2t, { gain: 0.2, initScale: 0.25, ec2tEpochs: 8, frozenEpochs: 4, finalAccuracy: 0.9123, testAccuracy: 0.9087, histograms: true });
  writeFixtureRun(dirs.ttq, { method: 'ttq', threshold: 0.05, ec2tEpochs: 8, frozenEpochs: 4, finalAccuracy: 0.8851, testAccuracy: 0.8823, layers: DEFAULT_LAYERS.map((l) => ({ ...l, sparsity: l.sparsity * 0.7, dead: 0 })) });
  writeFixtureRun(dirs.gamma0, { gain: 0, initScale: 0.25, ec2tEpochs: 8, frozenEpochs: 4, finalAccuracy: 0.9141, testAccuracy: 0.9116, layers: DEFAULT_LAYERS.map((l) => ({ ...l, sparsity: 0.45, dead: 0 })) });
  writeFixtureRun(dirs.one, { gain: 0.1, ec2tEpochs: 1, finalAccuracy: 0.5, layers: [{ name: 'fc1.weight', shape: [120, 400], sparsity: 0.5, dead: 3 }] });
  writeFixtureRun(dirs.fullySparse, {
    gain: 0.4,
    ec2tEpochs: 5,
    finalAccuracy: 0.81,
    histograms: true,
    layers: [
      { name: 'conv1.weight', shape: [6, 1, 5, 5], sparsity: 0.5, dead: 1 },
      { name: 'fc2.weight', shape: [10, 84], sparsity: 1, dead: 10 },
    ],
  });
  writeFixtureRun(dirs.plain, { plain: true, ec2tEpochs: 6, finalAccuracy: 0.9167 });
  return dirs;
}

// `node dist/test/ec2t/report-fixtures.js OUT_DIR`: write fixtures and a report to look at.
if (process.argv[1]?.endsWith('report-fixtures.js') && process.argv[2]) {
  const { writeReport } = await import('../../ec2t/report/index.js');
  const dirs = writeFixtureSet(process.argv[2]);
  const which = process.argv[3] === 'all' ? Object.values(dirs) : process.argv[3] ? process.argv.slice(3).map((k) => dirs[k as keyof typeof dirs]) : Object.values(dirs);
  console.log(writeReport(which, join(process.argv[2], 'report.html')));
}
