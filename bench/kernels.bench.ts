/**
 * Kernel benchmark (cpu vs the float64 reference, measured in the same run): GEMM GFLOP/s and
 * conv2d forward / forward+backward GFLOP/s. The reference runs at a smaller size (its GFLOP/s
 * hardly depends on size); the ratio compares rates. Prints a markdown table.
 *
 *   npx tsc -p . && node dist/bench/kernels.bench.js
 */
import { Bench } from 'tinybench';
import '../kernels/index.js';
import { Rng } from '../engine/rng.js';
import { gemm } from '../kernels/cpu/gemm.js';
import { kernelFor } from '../kernels/registry.js';
import { type Conv2dGeometry, conv2dGeometry } from '../kernels/types.js';

const rng = new Rng(7);
const rand = (n: number): Float32Array => {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.uniformRange(-1, 1);
  return v;
};

/** Mean seconds per call of `fn`, with warm-up, through tinybench. */
async function seconds(name: string, fn: () => void, timeMs: number, iterations: number): Promise<number> {
  const bench = new Bench({ time: timeMs, iterations, warmupTime: Math.min(300, timeMs / 2), warmupIterations: 2 });
  bench.add(name, fn);
  await bench.run();
  const r = bench.tasks[0].result;
  if (r.state !== 'completed') throw new Error(`benchmark ${name} did not complete: ${r.state}`);
  return r.latency.mean / 1000;
}

interface Row { what: string; shape: string; cpu: number; ref: number; refShape: string }
const rows: Row[] = [];

async function gemmRow(size: number, refSize: number): Promise<void> {
  const a = rand(size * size), b = rand(size * size), c = new Float32Array(size * size);
  const flops = 2 * size ** 3;
  const t = await seconds(`gemm ${size}`, () => gemm(false, false, size, size, size, a, 0, size, b, 0, size, c, 0, size, false), 2000, 3);
  const ra = rand(refSize * refSize), rb = rand(refSize * refSize), rc = new Float32Array(refSize * refSize);
  const ref = kernelFor('matmul', 'reference');
  const g = { batch: 1, m: refSize, k: refSize, n: refSize, transA: false, transB: false, batchA: 1, batchB: 1 };
  const tr = await seconds(`ref matmul ${refSize}`, () => ref(ra, rb, rc, g), 1000, 2);
  rows.push({ what: 'GEMM', shape: `${size}³`, cpu: flops / t / 1e9, ref: (2 * refSize ** 3) / tr / 1e9, refShape: `${refSize}³` });
}

type Backend = 'cpu' | 'reference';
function convFns(g: Conv2dGeometry, backend: Backend): { fwd: () => void; fwdBwd: () => void } {
  const x = rand(g.batch * g.inChannels * g.inHeight * g.inWidth);
  const w = rand(g.outChannels * (g.inChannels / g.groups) * g.kernelHeight * g.kernelWidth);
  const bias = rand(g.outChannels);
  const out = new Float32Array(g.batch * g.outChannels * g.outHeight * g.outWidth);
  const dy = rand(out.length);
  const dx = new Float32Array(x.length);
  const dw = new Float32Array(w.length);
  const f = kernelFor('conv2dForward', backend);
  const bi = kernelFor('conv2dBackwardInput', backend);
  const bw = kernelFor('conv2dBackwardWeight', backend);
  return {
    fwd: () => f(x, w, bias, out, g),
    fwdBwd: () => {
      f(x, w, bias, out, g);
      bi(dy, w, dx, g);
      bw(x, dy, dw, g);
    },
  };
}

async function convRows(n: number, c: number, hw: number, refN: number): Promise<void> {
  const g = conv2dGeometry([n, c, hw, hw], [c, c, 3, 3], { padding: 1 });
  const gr = conv2dGeometry([refN, c, hw, hw], [c, c, 3, 3], { padding: 1 });
  const flops = (geo: Conv2dGeometry): number => 2 * geo.batch * geo.outChannels * geo.outHeight * geo.outWidth * geo.inChannels * 9;
  const cpu = convFns(g, 'cpu');
  const ref = convFns(gr, 'reference');
  const shape = `N=${n} ${c}→${c} ${hw}×${hw} 3×3 p1`;
  const refShape = `N=${refN}`;
  const tf = await seconds(`conv fwd ${shape}`, cpu.fwd, 1500, 5);
  const trf = await seconds(`ref conv fwd ${shape}`, ref.fwd, 800, 2);
  rows.push({ what: 'conv2d forward', shape, cpu: flops(g) / tf / 1e9, ref: flops(gr) / trf / 1e9, refShape });
  const tb = await seconds(`conv fwd+bwd ${shape}`, cpu.fwdBwd, 1500, 5);
  const trb = await seconds(`ref conv fwd+bwd ${shape}`, ref.fwdBwd, 800, 2);
  rows.push({ what: 'conv2d fwd+bwd', shape, cpu: (3 * flops(g)) / tb / 1e9, ref: (3 * flops(gr)) / trb / 1e9, refShape });
}

await gemmRow(512, 128);
await gemmRow(1024, 128);
await convRows(32, 16, 32, 2);
await convRows(32, 64, 8, 2);

const fmt = (v: number): string => v.toFixed(2);
console.log(`node ${process.version}, ${process.platform}/${process.arch}, single thread\n`);
console.log('| kernel | shape | cpu GFLOP/s | reference GFLOP/s (shape) | cpu / reference |');
console.log('|---|---|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.what} | ${r.shape} | ${fmt(r.cpu)} | ${fmt(r.ref)} (${r.refShape}) | ${(r.cpu / r.ref).toFixed(1)}× |`);
