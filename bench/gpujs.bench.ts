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
import '../kernels/index.js';
import { Rng } from '../base/rng.js';
import { clearGpujsCache, gpujsKernelStats, gpujsKernels, listGpujsModes } from '../kernels/gpujs/index.js';
import type { GpujsKernels } from '../kernels/gpujs/index.js';
import { hasKernel, kernelFor } from '../kernels/registry.js';
import type { Backend, Conv2dGeometry, MatmulGeometry, MatmulKernel } from '../kernels/types.js';
import { conv2dGeometry } from '../kernels/types.js';
import { type ConvKernels, convFlops, convKernels, convWork as convWorkOn, gflops, markdownTable, randomArrays, seconds } from './util.js';

const rng = new Rng(7);
const rand = randomArrays(rng);
const convWork = (g: Conv2dGeometry, k: ConvKernels): { fwd: () => void; fwdBwd: () => void } => convWorkOn(g, k, rand, true);

function matmulWork(g: MatmulGeometry, mm: MatmulKernel): () => void {
  const a = rand(g.batchA * g.m * g.k);
  const b = rand(g.batchB * g.k * g.n);
  const c = new Float32Array(g.batch * g.m * g.n);
  return () => mm(a, b, c, g);
}

const baseline: Backend = hasKernel('conv2dForward', 'cpu') && hasKernel('matmul', 'cpu') ? 'cpu' : 'reference';
const base: ConvKernels & { matmul: MatmulKernel } = { ...convKernels(baseline), matmul: kernelFor('matmul', baseline) };

interface Case {
  what: string;
  shape: string;
  flops: number;
  /** Work for a kernel set. */
  work: (k: ConvKernels & { matmul: MatmulKernel }) => () => void;
}

const convA = conv2dGeometry([32, 16, 32, 32], [16, 16, 3, 3], { padding: 1 });
const convB = conv2dGeometry([32, 64, 8, 8], [64, 64, 3, 3], { padding: 1 });
const gemm: MatmulGeometry = { batch: 1, m: 512, k: 512, n: 512, transA: false, transB: false, batchA: 1, batchB: 1 };

const cases: Case[] = [
  { what: 'conv2d forward', shape: 'N=32 16→16 32×32 3×3 p1', flops: convFlops(convA), work: (k) => convWork(convA, k).fwd },
  { what: 'conv2d fwd+bwd', shape: 'N=32 16→16 32×32 3×3 p1', flops: 3 * convFlops(convA), work: (k) => convWork(convA, k).fwdBwd },
  { what: 'conv2d forward', shape: 'N=32 64→64 8×8 3×3 p1', flops: convFlops(convB), work: (k) => convWork(convB, k).fwd },
  { what: 'conv2d fwd+bwd', shape: 'N=32 64→64 8×8 3×3 p1', flops: 3 * convFlops(convB), work: (k) => convWork(convB, k).fwdBwd },
  { what: 'GEMM', shape: '512³', flops: 2 * 512 ** 3, work: (k) => matmulWork(gemm, k.matmul) },
];

/** One warm-up call: each gpu.js case already made its first (compiling) call outside the timing. */
const TIMING = { timeMs: 1500, iterations: 3, warmupIterations: 1 };

interface Row { mode: string; what: string; shape: string; gflops: number; baseGflops: number; compileMs: number; firstRunMs: number }

async function main(): Promise<void> {
  const only = process.env.EC2T_GPUJS_MODE;
  const modes = listGpujsModes();
  for (const m of modes.filter((i) => !i.available)) console.log(`gpujs mode ${m.mode} unavailable: ${m.reason}`);
  const run = modes.filter((m) => m.available && (only === undefined || only === '' || only === m.mode));

  const baseRate = new Map<Case, number>();
  for (const c of cases) {
    const t = await seconds(`${baseline} ${c.what} ${c.shape}`, c.work(base), TIMING);
    baseRate.set(c, gflops(c.flops, t));
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
      const t = await seconds(`${info.mode} ${c.what} ${c.shape}`, fn, TIMING);
      rows.push({
        mode: info.mode, what: c.what, shape: c.shape, gflops: gflops(c.flops, t), baseGflops: baseRate.get(c) ?? NaN,
        compileMs: st.totalCompileMs, firstRunMs: st.totalFirstRunMs,
      });
      console.error(`done ${info.mode} ${c.what} ${c.shape}: ${gflops(c.flops, t).toFixed(2)} GFLOP/s`);
    }
    clearGpujsCache();
  }

  const load = os.loadavg()[0].toFixed(1);
  console.log(`\nnode ${process.version}, ${process.platform}/${process.arch}, ${os.cpus().length} cores, load average ${load}; baseline: ${baseline} backend kernels\n`);
  console.log(markdownTable(
    ['mode', 'kernel', 'shape', 'gpu.js GFLOP/s', `${baseline} GFLOP/s`, `gpu.js / ${baseline}`, 'compile ms', 'first run ms'],
    rows.map((r) => [r.mode, r.what, r.shape, r.gflops.toFixed(2), r.baseGflops.toFixed(2), `${(r.gflops / r.baseGflops).toFixed(2)}×`, r.compileMs.toFixed(0), r.firstRunMs.toFixed(0)]),
    'lllrrrrr',
  ));
}

await main();
