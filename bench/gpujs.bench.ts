/**
 * gpu.js kernel benchmark, per available gpu.js mode (headlessgl only under an X display, e.g.
 * `xvfb-run -a`): conv2d forward (and forward+backward) and GEMM 512³ in GFLOP/s, beside the cpu
 * backend's kernel measured in the same run, with gpu.js compile time and first-run time reported
 * apart from steady-state run time. `EC2T_GPUJS_MODE=webasm` limits the run to one mode.
 * Prints markdown tables.
 *
 *   npx tsc -p . && xvfb-run -a node dist/bench/gpujs.bench.js
 */
import os from 'node:os';
import { Bench } from 'tinybench';
import '../kernels/index.js';
import { Rng } from '../engine/rng.js';
import { clearGpujsCache, gpujsKernelStats, gpujsKernels, listGpujsModes } from '../kernels/gpujs/index.js';
import type { GpujsKernels } from '../kernels/gpujs/index.js';
import { hasKernel, kernelFor } from '../kernels/registry.js';
import type { Backend, Conv2dBackwardInputKernel, Conv2dBackwardWeightKernel, Conv2dForwardKernel, Conv2dGeometry, MatmulGeometry, MatmulKernel } from '../kernels/types.js';
import { conv2dGeometry } from '../kernels/types.js';

const rng = new Rng(7);
const rand = (n: number): Float32Array => {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.uniformRange(-1, 1);
  return v;
};

/** Mean seconds per call of `fn`, with warm-up, through tinybench. */
async function seconds(name: string, fn: () => void, timeMs: number, iterations: number): Promise<number> {
  const bench = new Bench({ time: timeMs, iterations, warmupTime: Math.min(300, timeMs / 2), warmupIterations: 1 });
  bench.add(name, fn);
  await bench.run();
  const r = bench.tasks[0].result;
  if (r.state !== 'completed') throw new Error(`benchmark ${name} did not complete: ${r.state}`);
  return r.latency.mean / 1000;
}

interface ConvKernels {
  conv2dForward: Conv2dForwardKernel;
  conv2dBackwardInput: Conv2dBackwardInputKernel;
  conv2dBackwardWeight: Conv2dBackwardWeightKernel;
}

function convWork(g: Conv2dGeometry, k: ConvKernels): { fwd: () => void; fwdBwd: () => void } {
  const x = rand(g.batch * g.inChannels * g.inHeight * g.inWidth);
  const w = rand(g.outChannels * (g.inChannels / g.groups) * g.kernelHeight * g.kernelWidth);
  const bias = rand(g.outChannels);
  const out = new Float32Array(g.batch * g.outChannels * g.outHeight * g.outWidth);
  const dy = rand(out.length);
  const dx = new Float32Array(x.length);
  const dw = new Float32Array(w.length);
  return {
    fwd: () => k.conv2dForward(x, w, bias, out, g),
    fwdBwd: () => {
      k.conv2dForward(x, w, bias, out, g);
      k.conv2dBackwardInput(dy, w, dx, g);
      k.conv2dBackwardWeight(x, dy, dw, g);
    },
  };
}

function matmulWork(g: MatmulGeometry, mm: MatmulKernel): () => void {
  const a = rand(g.batchA * g.m * g.k);
  const b = rand(g.batchB * g.k * g.n);
  const c = new Float32Array(g.batch * g.m * g.n);
  return () => mm(a, b, c, g);
}

const baseline: Backend = hasKernel('conv2dForward', 'cpu') && hasKernel('matmul', 'cpu') ? 'cpu' : 'reference';
const base: ConvKernels & { matmul: MatmulKernel } = {
  conv2dForward: kernelFor('conv2dForward', baseline),
  conv2dBackwardInput: kernelFor('conv2dBackwardInput', baseline),
  conv2dBackwardWeight: kernelFor('conv2dBackwardWeight', baseline),
  matmul: kernelFor('matmul', baseline),
};

interface Case {
  what: string;
  shape: string;
  flops: number;
  /** Work for a kernel set. */
  work: (k: ConvKernels & { matmul: MatmulKernel }) => () => void;
}

const convA = conv2dGeometry([32, 16, 32, 32], [16, 16, 3, 3], { padding: 1 });
const convB = conv2dGeometry([32, 64, 8, 8], [64, 64, 3, 3], { padding: 1 });
const convFlops = (g: Conv2dGeometry): number =>
  2 * g.batch * g.outChannels * g.outHeight * g.outWidth * (g.inChannels / g.groups) * g.kernelHeight * g.kernelWidth;
const gemm: MatmulGeometry = { batch: 1, m: 512, k: 512, n: 512, transA: false, transB: false, batchA: 1, batchB: 1 };

const cases: Case[] = [
  { what: 'conv2d forward', shape: 'N=32 16→16 32×32 3×3 p1', flops: convFlops(convA), work: (k) => convWork(convA, k).fwd },
  { what: 'conv2d fwd+bwd', shape: 'N=32 16→16 32×32 3×3 p1', flops: 3 * convFlops(convA), work: (k) => convWork(convA, k).fwdBwd },
  { what: 'conv2d forward', shape: 'N=32 64→64 8×8 3×3 p1', flops: convFlops(convB), work: (k) => convWork(convB, k).fwd },
  { what: 'conv2d fwd+bwd', shape: 'N=32 64→64 8×8 3×3 p1', flops: 3 * convFlops(convB), work: (k) => convWork(convB, k).fwdBwd },
  { what: 'GEMM', shape: '512³', flops: 2 * 512 ** 3, work: (k) => matmulWork(gemm, k.matmul) },
];

interface Row { mode: string; what: string; shape: string; gflops: number; baseGflops: number; compileMs: number; firstRunMs: number }

async function main(): Promise<void> {
  const only = process.env.EC2T_GPUJS_MODE;
  const modes = listGpujsModes();
  for (const m of modes.filter((i) => !i.available)) console.log(`gpujs mode ${m.mode} unavailable: ${m.reason}`);
  const run = modes.filter((m) => m.available && (only === undefined || only === '' || only === m.mode));

  const baseRate = new Map<Case, number>();
  for (const c of cases) {
    const t = await seconds(`${baseline} ${c.what} ${c.shape}`, c.work(base), 1500, 3);
    baseRate.set(c, c.flops / t / 1e9);
  }

  const rows: Row[] = [];
  for (const info of run) {
    const k: GpujsKernels = gpujsKernels(info.mode);
    for (const c of cases) {
      clearGpujsCache();
      const fn = c.work(k);
      // first call: compile (gpu.js build) + first run (GL drivers finish compiling at the first draw)
      fn();
      const st = gpujsKernelStats();
      const t = await seconds(`${info.mode} ${c.what} ${c.shape}`, fn, 1500, 3);
      rows.push({
        mode: info.mode, what: c.what, shape: c.shape, gflops: c.flops / t / 1e9, baseGflops: baseRate.get(c) ?? NaN,
        compileMs: st.totalCompileMs, firstRunMs: st.totalFirstRunMs,
      });
      console.error(`done ${info.mode} ${c.what} ${c.shape}: ${(c.flops / t / 1e9).toFixed(2)} GFLOP/s`);
    }
    clearGpujsCache();
  }

  const load = os.loadavg()[0].toFixed(1);
  console.log(`\nnode ${process.version}, ${process.platform}/${process.arch}, ${os.cpus().length} cores, load average ${load}; baseline: ${baseline} backend kernels\n`);
  console.log(`| mode | kernel | shape | gpu.js GFLOP/s | ${baseline} GFLOP/s | gpu.js / ${baseline} | compile ms | first run ms |`);
  console.log('|---|---|---|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.mode} | ${r.what} | ${r.shape} | ${r.gflops.toFixed(2)} | ${r.baseGflops.toFixed(2)} | ${(r.gflops / r.baseGflops).toFixed(2)}× | ${r.compileMs.toFixed(0)} | ${r.firstRunMs.toFixed(0)} |`,
    );
  }
}

await main();
