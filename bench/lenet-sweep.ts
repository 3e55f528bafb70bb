/**
 * The LeNet-5 / MNIST acceptance sweep of the EC2T issue: from one float LeNet-5 (trained by
 * `ec2t train`), run the authors' schedule (batch 256, 3 EC2T epochs + 1 frozen epoch) for
 * γ ∈ {0, 0.15, 0.3} × s ∈ {0.3, 0.15} in both variants, plus TTQ thresholds, and print the
 * table of test accuracy @ sparsity of the ternarized layers beside the authors' numbers.
 *
 * Usage: node dist/bench/lenet-sweep.js --weights runs/lenet5/best.safetensors --out runs/sweep [--quick] [--only 'reference γ=0 s=0.3,ttq']
 * Long-running (about a minute per point on 2 cores): a script, not a test.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));

/** The authors' code run on CPU from their pretrained LeNet-5 (99.20%), s = 0.3, as given in the issue. */
const AUTHORS: Record<string, { accuracy: number; sparsity: number }> = {
  'ec2t reference γ=0 s=0.3': { accuracy: 0.9862, sparsity: 0.892 },
  'ec2t reference γ=0.15 s=0.3': { accuracy: 0.9804, sparsity: 0.926 },
  'ec2t reference γ=0.3 s=0.3': { accuracy: 0.9714, sparsity: 0.944 },
};

interface Point {
  label: string;
  accuracy: number;
  sparsity: number;
  overallSparsity: number;
  seconds: number;
  out: string;
}

const { values } = parseArgs({
  options: {
    weights: { type: 'string' },
    out: { type: 'string', default: 'runs/lenet-sweep' },
    quick: { type: 'boolean', default: false },
    seed: { type: 'string', default: '1' },
    only: { type: 'string' },
  },
});
if (values.weights === undefined) {
  process.stderr.write('usage: node dist/bench/lenet-sweep.js --weights FLOAT.safetensors [--out DIR] [--quick]\n');
  process.exit(2);
}
mkdirSync(values.out, { recursive: true });

const configs: Array<{ label: string; args: string[] }> = [];
for (const variant of ['reference', 'corrected']) {
  for (const s of ['0.3', '0.15']) {
    for (const g of ['0', '0.15', '0.3']) configs.push({ label: `ec2t ${variant} γ=${g} s=${s}`, args: ['--method', 'ec2t', '--variant', variant, '--gain', g, '--init-scale', s] });
  }
}
for (const t of ['0.05', '0.1', '0.2']) configs.push({ label: `ttq t=${t}`, args: ['--method', 'ttq', '--ttq-threshold', t] });

const points: Point[] = [];
// --only takes comma-separated substrings of the labels: 'reference γ=0 s=0.3,ttq'.
const only = values.only?.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
const selected = only ? configs.filter((c) => only.some((o) => c.label.includes(o))) : configs;
for (const c of values.quick ? selected.slice(0, 2) : selected) {
  const out = join(values.out, c.label.replace(/[^a-z0-9.=]+/gi, '_'));
  const args = [CLI, 'ternarize', '--model', 'lenet5', '--weights', values.weights, '--dataset', 'mnist', '--epochs', values.quick ? '1' : '3', '--retrain-epochs', '1', '--batch-size', '256', '--seed', values.seed, '--out', out, '--json', ...c.args];
  if (values.quick) args.push('--limit-train', '2000');
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    process.stderr.write(`${c.label} failed:\n${r.stderr.slice(-2000)}\n`);
    process.exit(1);
  }
  const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Point;
  points.push({ label: c.label, accuracy: j.accuracy, sparsity: j.sparsity, overallSparsity: j.overallSparsity, seconds: j.seconds, out });
  process.stderr.write(`${c.label}: ${(100 * j.accuracy).toFixed(2)}% @ ${(100 * j.sparsity).toFixed(1)}% (${j.seconds.toFixed(0)} s)\n`);
}

const pct = (x: number, d = 2): string => `${(100 * x).toFixed(d)}%`;
const lines = [
  '| run | test accuracy | sparsity (ternary layers) | overall sparsity | authors (acc @ sparsity) | Δacc / Δsparsity (pt) | seconds |',
  '|---|---:|---:|---:|---:|---:|---:|',
  ...points.map((p) => {
    const a = AUTHORS[p.label];
    const ref = a ? `${pct(a.accuracy)} @ ${pct(a.sparsity, 1)}` : '–';
    const delta = a ? `${(100 * (p.accuracy - a.accuracy)).toFixed(2)} / ${(100 * (p.sparsity - a.sparsity)).toFixed(1)}` : '–';
    return `| ${p.label} | ${pct(p.accuracy)} | ${pct(p.sparsity, 1)} | ${pct(p.overallSparsity, 1)} | ${ref} | ${delta} | ${p.seconds.toFixed(0)} |`;
  }),
];
writeFileSync(join(values.out, 'table.md'), lines.join('\n') + '\n');
writeFileSync(join(values.out, 'points.json'), JSON.stringify(points, null, 2) + '\n');
process.stdout.write(lines.join('\n') + '\n');
const report = spawnSync(process.execPath, [CLI, 'report', ...points.map((p) => p.out), '--out', join(values.out, 'report.html')], { encoding: 'utf8' });
process.stderr.write(report.stderr);
