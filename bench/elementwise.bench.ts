/**
 * Elementwise and batch-norm kernels on the ResNet-20 activation shapes (N=32): the cpu backend
 * with the WASM SIMD path (kernels/wasm/elementwise.ts) and with the TypeScript loops
 * (`setElementwiseWasm(false)`), beside the float64 reference at N=2, all in one process.
 *
 *     npx tsc -p . && node dist/bench/elementwise.bench.js        # EC2T_BENCH_QUICK=1: shorter runs
 */
import '../kernels/index.js';
import { Rng } from '../base/rng.js';
import { kernelFor } from '../kernels/registry.js';
import type { BatchNormGeometry } from '../kernels/types.js';
import { setElementwiseWasm } from '../kernels/wasm/elementwise.js';
import { markdownTable, randomArrays, seconds } from './util.js';

const quick = process.env.EC2T_BENCH_QUICK === '1';
const timing = { timeMs: quick ? 200 : 800, iterations: 5 };
const rand = randomArrays(new Rng(11));
const available = setElementwiseWasm(true);

type Work = (g: BatchNormGeometry, backend: 'cpu' | 'reference') => () => void;

/** One op's work closure over fresh inputs of geometry g (outputs reused across calls). */
const OPS: Record<string, Work> = {
  'relu fwd': (g, be) => { const n = g.batch * g.channels * g.spatial; const x = rand(n), o = new Float32Array(n); const k = kernelFor('unary', be); return () => k('relu', x, o); },
  'relu bwd': (g, be) => { const n = g.batch * g.channels * g.spatial; const x = rand(n), dy = rand(n), o = new Float32Array(n); const k = kernelFor('unaryBackward', be); return () => k('relu', x, x, dy, o); },
  'add (same shape)': (g, be) => { const n = g.batch * g.channels * g.spatial; const a = rand(n), b = rand(n), o = new Float32Array(n); const k = kernelFor('binary', be); return () => k('add', a, [1], b, [1], o, [n]); },
  'BN train fwd': (g, be) => {
    const n = g.batch * g.channels * g.spatial; const x = rand(n), w = rand(g.channels), b = rand(g.channels), o = new Float32Array(n);
    const m = new Float32Array(g.channels), v = new Float32Array(g.channels); const k = kernelFor('batchNormForwardTrain', be);
    return () => k(x, w, b, 1e-5, o, m, v, g);
  },
  'BN eval fwd': (g, be) => {
    const n = g.batch * g.channels * g.spatial; const x = rand(n), w = rand(g.channels), b = rand(g.channels), o = new Float32Array(n);
    const m = rand(g.channels), inv = Float32Array.from(rand(g.channels), (t) => 1 + Math.abs(t)); const k = kernelFor('batchNormForwardEval', be);
    return () => k(x, w, b, m, inv, o, g);
  },
  'BN bwd': (g, be) => {
    const n = g.batch * g.channels * g.spatial; const x = rand(n), dy = rand(n), w = rand(g.channels), dx = new Float32Array(n);
    const m = rand(g.channels), inv = Float32Array.from(rand(g.channels), (t) => 1 + Math.abs(t)), dw = new Float32Array(g.channels), db = new Float32Array(g.channels);
    const k = kernelFor('batchNormBackward', be);
    return () => k(x, dy, w, m, inv, true, dx, dw, db, g);
  },
};

const SHAPES: [string, BatchNormGeometry][] = [
  ['32×16×32×32', { batch: 32, channels: 16, spatial: 1024 }],
  ['32×64×8×8', { batch: 32, channels: 64, spatial: 64 }],
];

async function main(): Promise<void> {
  console.log(`node ${process.version}, WASM SIMD elementwise available: ${available}, quick: ${quick}`);
  const rows: string[][] = [];
  for (const [label, g] of SHAPES) {
    const n = g.batch * g.channels * g.spatial;
    for (const [op, work] of Object.entries(OPS)) {
      setElementwiseWasm(true);
      const tw = await seconds(`${op} wasm ${label}`, work(g, 'cpu'), timing);
      setElementwiseWasm(false);
      const tt = await seconds(`${op} ts ${label}`, work(g, 'cpu'), timing);
      setElementwiseWasm(true);
      const small = { ...g, batch: 2 };
      const tr = (await seconds(`${op} ref ${label}`, work(small, 'reference'), { timeMs: timing.timeMs / 2, iterations: 3 })) * (g.batch / 2);
      const ns = (t: number): string => (t / n * 1e9).toFixed(2);
      rows.push([op, label, (tw * 1e3).toFixed(3), (tt * 1e3).toFixed(3), ns(tw), ns(tt), `${(tt / tw).toFixed(1)}×`, `${(tr / tw).toFixed(0)}×`]);
      console.log(rows[rows.length - 1].join('  '));
    }
  }
  console.log(markdownTable(['op', 'shape (N×C×H×W)', 'wasm ms', 'TS ms', 'wasm ns/elem', 'TS ns/elem', 'TS / wasm', 'reference / wasm'], rows, 'llrrrrrr'));
}

await main();
