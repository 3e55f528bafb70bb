/**
 * Kernel benchmark (cpu vs the float64 reference, measured in the same run): GEMM GFLOP/s and
 * conv2d forward / forward+backward GFLOP/s. The reference runs at a smaller size (its GFLOP/s
 * hardly depends on size); the ratio compares rates. Prints a markdown table.
 *
 *   npx tsc -p . && node dist/bench/kernels.bench.js
 */
import '../kernels/index.js';
import { Rng } from '../base/rng.js';
import { gemm } from '../kernels/cpu/gemm.js';
import { kernelFor } from '../kernels/registry.js';
import { conv2dGeometry } from '../kernels/types.js';
import { convFlops, convKernels, convWork, gflops, markdownTable, randomArrays, seconds } from './util.js';

const rng = new Rng(7);
const rand = randomArrays(rng);

interface Row { what: string; shape: string; cpu: number; ref: number; refShape: string }
const rows: Row[] = [];

async function gemmRow(size: number, refSize: number): Promise<void> {
  const a = rand(size * size), b = rand(size * size), c = new Float32Array(size * size);
  const flops = 2 * size ** 3;
  const t = await seconds(`gemm ${size}`, () => gemm(false, false, size, size, size, a, 0, size, b, 0, size, c, 0, size, false), { timeMs: 2000, iterations: 3 });
  const ra = rand(refSize * refSize), rb = rand(refSize * refSize), rc = new Float32Array(refSize * refSize);
  const ref = kernelFor('matmul', 'reference');
  const g = { batch: 1, m: refSize, k: refSize, n: refSize, transA: false, transB: false, batchA: 1, batchB: 1 };
  const tr = await seconds(`ref matmul ${refSize}`, () => ref(ra, rb, rc, g), { timeMs: 1000, iterations: 2 });
  rows.push({ what: 'GEMM', shape: `${size}³`, cpu: gflops(flops, t), ref: gflops(2 * refSize ** 3, tr), refShape: `${refSize}³` });
}

async function convRows(n: number, c: number, hw: number, refN: number): Promise<void> {
  const g = conv2dGeometry([n, c, hw, hw], [c, c, 3, 3], { padding: 1 });
  const gr = conv2dGeometry([refN, c, hw, hw], [c, c, 3, 3], { padding: 1 });
  const cpu = convWork(g, convKernels('cpu'), rand, true);
  const ref = convWork(gr, convKernels('reference'), rand, true);
  const shape = `N=${n} ${c}→${c} ${hw}×${hw} 3×3 p1`;
  const refShape = `N=${refN}`;
  const tf = await seconds(`conv fwd ${shape}`, cpu.fwd, { timeMs: 1500, iterations: 5 });
  const trf = await seconds(`ref conv fwd ${shape}`, ref.fwd, { timeMs: 800, iterations: 2 });
  rows.push({ what: 'conv2d forward', shape, cpu: gflops(convFlops(g), tf), ref: gflops(convFlops(gr), trf), refShape });
  const tb = await seconds(`conv fwd+bwd ${shape}`, cpu.fwdBwd, { timeMs: 1500, iterations: 5 });
  const trb = await seconds(`ref conv fwd+bwd ${shape}`, ref.fwdBwd, { timeMs: 800, iterations: 2 });
  rows.push({ what: 'conv2d fwd+bwd', shape, cpu: gflops(3 * convFlops(g), tb), ref: gflops(3 * convFlops(gr), trb), refShape });
}

await gemmRow(512, 128);
await gemmRow(1024, 128);
await convRows(32, 16, 32, 2);
await convRows(32, 64, 8, 2);

const fmt = (v: number): string => v.toFixed(2);
console.log(`node ${process.version}, ${process.platform}/${process.arch}, single thread\n`);
console.log(markdownTable(
  ['kernel', 'shape', 'cpu GFLOP/s', 'reference GFLOP/s (shape)', 'cpu / reference'],
  rows.map((r) => [r.what, r.shape, fmt(r.cpu), `${fmt(r.ref)} (${r.refShape})`, `${(r.cpu / r.ref).toFixed(1)}×`]),
  'llrrr',
));
