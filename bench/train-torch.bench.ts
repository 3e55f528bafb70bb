/**
 * ResNet-20 training against PyTorch, interleaved: each round runs one ec2t child
 * (`ec2t bench --model resnet20 --mode train`, FMA on: the default), one ec2t child with
 * `EC2T_WASM_FMA=0`, and one PyTorch child (bench/peers_torch.py), back to back at the same batch
 * and thread count, so all three see the same load. Prints the per-round images/s and ratios, the
 * medians, and the load average before and after: on a shared machine the per-round ratio (same
 * load for both sides) is the number to quote.
 *
 *   npx tsc -p . && node dist/bench/train-torch.bench.js
 *   EC2T_TRAIN_ROUNDS=3  EC2T_TRAIN_STEPS=3  EC2T_TRAIN_BATCH=128  EC2T_TRAIN_THREADS=2
 *
 * Timing: each child builds the net, runs warm-up steps (ec2t one, PyTorch two) and reports its
 * timed steps (ec2t: mean ms/step over the steps; PyTorch: the median step).
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROUNDS = Number(process.env.EC2T_TRAIN_ROUNDS ?? 3);
const STEPS = Number(process.env.EC2T_TRAIN_STEPS ?? 3);
const BATCH = Number(process.env.EC2T_TRAIN_BATCH ?? 128);
const THREADS = Number(process.env.EC2T_TRAIN_THREADS ?? 2);
const PYTHON = '/usr/bin/python3';

const here = dirname(fileURLToPath(import.meta.url));
/** dist/bench → the repo root, where bench/peers_torch.py lives (tsc does not copy it). */
const root = join(here, '..', '..');
const cli = join(here, '..', 'cli', 'main.js');

const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');

/** Images/s of one ec2t training child, or the reason it failed. */
function ec2tRate(fma: boolean): number | string {
  const r = spawnSync(process.execPath, [cli, 'bench', '--model', 'resnet20', '--mode', 'train', '--batch-size', String(BATCH), '--steps', String(STEPS), '--json'], {
    encoding: 'utf8', timeout: 1_200_000, env: { ...process.env, EC2T_THREADS: String(THREADS), EC2T_WASM_FMA: fma ? '1' : '0' },
  });
  if (r.status !== 0) return `ec2t child failed: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-2).join(' | ')}`;
  return (JSON.parse(r.stdout.trim().split('\n').pop() as string) as { imagesPerSecond: number }).imagesPerSecond;
}

/** Images/s of one PyTorch training child, or the reason it could not run. */
function torchRate(): number | string {
  const r = spawnSync(PYTHON, [join(root, 'bench', 'peers_torch.py'), '--threads', String(THREADS), '--steps', String(STEPS), '--train-batches', String(BATCH), '--infer-batch', '0'], {
    encoding: 'utf8', timeout: 1_200_000,
  });
  if (r.error !== undefined) return `${PYTHON}: ${r.error.message}`;
  if (r.status !== 0) return `PyTorch child failed: ${r.stderr.trim().split('\n').slice(-1)[0] ?? ''}`;
  const out = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { version: string; models: Record<string, number> };
  torchVersion = out.version;
  return out.models[`train${BATCH}`];
}
let torchVersion = '?';

function main(): void {
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.log(`PyTorch not available (${PYTHON} -c 'import torch' failed); nothing to compare against`);
    return;
  }
  const before = load();
  console.log(`ResNet-20 training, batch ${BATCH}, ${THREADS} threads, ${ROUNDS} rounds of ${STEPS} steps; node ${process.version}, ${cpus().length} cpus; load before: ${before}`);
  const rows: { fma: number; noFma: number; torch: number; load: string }[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const fma = ec2tRate(true);
    const noFma = ec2tRate(false);
    const torch = torchRate();
    for (const v of [fma, noFma, torch]) if (typeof v === 'string') throw new Error(v);
    rows.push({ fma: fma as number, noFma: noFma as number, torch: torch as number, load: load() });
    console.log(`round ${i + 1}: ec2t ${(fma as number).toFixed(1)}, ec2t no-FMA ${(noFma as number).toFixed(1)}, PyTorch ${(torch as number).toFixed(1)} images/s (load ${rows[i].load})`);
  }
  const f = (v: number): string => v.toFixed(1);
  const r = (v: number): string => `${v.toFixed(2)}×`;
  console.log(`\n| round | ec2t (FMA) | ec2t (EC2T_WASM_FMA=0) | PyTorch ${torchVersion} | ec2t / PyTorch | no-FMA / PyTorch | load after round |`);
  console.log('|---:|---:|---:|---:|---:|---:|---|');
  rows.forEach((x, i) => console.log(`| ${i + 1} | ${f(x.fma)} | ${f(x.noFma)} | ${f(x.torch)} | ${r(x.fma / x.torch)} | ${r(x.noFma / x.torch)} | ${x.load} |`));
  const m = (k: 'fma' | 'noFma' | 'torch'): number => median(rows.map((x) => x[k]));
  console.log(`| median | ${f(m('fma'))} | ${f(m('noFma'))} | ${f(m('torch'))} | ${r(median(rows.map((x) => x.fma / x.torch)))} | ${r(median(rows.map((x) => x.noFma / x.torch)))} | before ${before} |`);
}

main();
