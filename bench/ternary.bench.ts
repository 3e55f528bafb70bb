/**
 * Ternary conv (additions + two multiplications per output) against the dense float32 conv on the
 * ResNet-20 shapes (N = 32; 3×3, pad 1, stride 1, plus the stride-2 16→32 downsampling conv) at
 * 50/70/90 % sparsity, same inputs, same run. The dense baseline is the registered cpu
 * `conv2dForward` run on the dense ternary weights Wt. The ternary kernel uses `EC2T_THREADS`
 * threads (default: all cores), like the dense conv: the generated per-layer wasm kernel (default),
 * the generic wasm tap-table kernel (`setTernaryJit('off')`) and the pure-JS loops. The generated
 * kernel is generated on a layer's first call here (`setTernaryJit('eager')`; by default on its third). The generated
 * kernel's first call (code generation + compile) is reported on its own and the kernel is warmed
 * up for 30 calls before timing, so the optimising compiler has replaced the baseline code.
 * Times are medians per call. Prints the 1-minute load average at the start and end, then a markdown table.
 *
 *   npx tsc -p . && node dist/bench/ternary.bench.js [--quick]
 */
import { loadavg } from 'node:os';
import '../kernels/index.js';
import '../kernels/ternary/index.js';
import { Rng } from '../base/rng.js';
import { kernelFor } from '../kernels/registry.js';
import { setTernarySimd } from '../kernels/ternary/cpu.js';
import { setTernaryJit, ternaryThreads } from '../kernels/ternary/simd.js';
import { ternaryLayerDense, ternaryLayerFromAssignment } from '../kernels/ternary/layer.js';
import { conv2dGeometry } from '../kernels/types.js';
import { Bench } from 'tinybench';
import { markdownTable, randomArrays } from './util.js';

const quick = process.argv.includes('--quick');
const rng = new Rng(11);
const rand = randomArrays(rng);

const TIMING = { timeMs: quick ? 300 : 1500, iterations: 5, warmupMs: 200 };

/**
 * Median seconds per call (tinybench, with warm-up). NOTE: the median, not the mean: on the shared
 * 2-core machine a call that loses its core for a scheduler tick is 5–10× slower, and a few of
 * those dominated the mean; every kernel in a row is timed the same way.
 */
async function seconds(name: string, fn: () => void, opts: typeof TIMING): Promise<number> {
  const bench = new Bench({ time: opts.timeMs, iterations: opts.iterations, warmupTime: opts.warmupMs, warmupIterations: 2 });
  bench.add(name, fn);
  await bench.run();
  const r = bench.tasks[0].result;
  if (r.state !== 'completed') throw new Error(`benchmark ${name} did not complete: ${r.state}`);
  return r.latency.p50 / 1000;
}

function assignment(n: number, sparsity: number): Int8Array {
  const a = new Int8Array(n);
  for (let k = 0; k < n; k++) if (rng.uniform() >= sparsity) a[k] = rng.uniform() < 0.5 ? -1 : 1;
  return a;
}

const N = 32;
// [in channels, out channels, input size, stride]: the three stage shapes, plus a downsampling conv.
const shapes = [
  [16, 16, 32, 1],
  [32, 32, 16, 1],
  [64, 64, 8, 1],
  [16, 32, 32, 2],
] as const;
const sparsities = [0.5, 0.7, 0.9];
const dense = kernelFor('conv2dForward', 'cpu');
const ternary = kernelFor('ternaryConv2d', 'ternary');

setTernaryJit('eager');
const rows: string[][] = [];
const load0 = loadavg()[0];
for (const [c, co, hw, stride] of shapes) {
  const g = conv2dGeometry([N, c, hw, hw], [co, c, 3, 3], { padding: 1, stride });
  const ohw = g.outHeight * g.outWidth;
  const x = rand(N * c * hw * hw);
  const out = new Float32Array(N * co * ohw);
  const bias = new Float32Array(co).fill(0.1);
  for (const s of sparsities) {
    const a = assignment(co * c * 9, s);
    const layer = ternaryLayerFromAssignment(a, [co, c, 3, 3], 0.3, 0.2);
    const w = ternaryLayerDense(layer);
    const td = await seconds(`dense ${c}@${hw}`, () => dense(x, w, bias, out, g), TIMING);
    const simd = setTernarySimd(true);
    const t0 = performance.now();
    ternary(x, layer, bias, out, g);
    const first = performance.now() - t0;
    for (let i = 0; i < 30; i++) ternary(x, layer, bias, out, g);
    const tt = await seconds(`ternary ${c}@${hw} s=${s}`, () => ternary(x, layer, bias, out, g), TIMING);
    setTernaryJit('off');
    const tg = await seconds(`ternary generic ${c}@${hw} s=${s}`, () => ternary(x, layer, bias, out, g), TIMING);
    setTernaryJit('eager');
    setTernarySimd(false);
    const tj = await seconds(`ternary js ${c}@${hw} s=${s}`, () => ternary(x, layer, bias, out, g), TIMING);
    setTernarySimd(true);
    const adds = (layer.posTaps.length + layer.negTaps.length) * N * ohw;
    rows.push([
      `${c}→${co} @${hw}×${hw}${stride > 1 ? ` /${stride}` : ''}`, `${Math.round(s * 100)}%`, (td * 1e3).toFixed(2), simd ? (tt * 1e3).toFixed(2) : 'n/a',
      `${(td / tt).toFixed(2)}×`, (adds / tt / 1e9).toFixed(2), simd ? first.toFixed(0) : 'n/a', simd ? `${(tg * 1e3).toFixed(2)} (${(td / tg).toFixed(2)}×)` : 'n/a',
      `${(tj * 1e3).toFixed(2)} (${(td / tj).toFixed(2)}×)`,
    ]);
  }
}
const load1 = loadavg()[0];
console.log(`node ${process.version}; 1-minute load average ${load0.toFixed(2)} (start) → ${load1.toFixed(2)} (end)\n`);
console.log('Dense baseline: registered cpu conv2dForward (WebAssembly SIMD im2col + GEMM, same threads) on the dense Wt.\n');
console.log(markdownTable(
  [`shape (N=32, 3×3, pad 1, ${ternaryThreads()} threads)`, 'sparsity', 'dense f32 ms', 'ternary ms (generated wasm)', 'speed-up', 'G-adds/s', 'first call ms', 'generic wasm ms (speed-up)', 'pure JS ms (speed-up)'],
  rows,
));
