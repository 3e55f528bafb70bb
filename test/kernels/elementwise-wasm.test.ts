/**
 * The WASM SIMD relu/relu6/add/batch-norm path (kernels/wasm/elementwise.ts) against the TypeScript
 * loops (forced off) and the float64 reference: relu/relu6 and same-shape add bit for bit (signed
 * zeros, NaN, ±∞, the kinks), batch norm within float64 rounding, outputs poisoned first.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import '../../kernels/index.js';
import { Rng } from '../../base/rng.js';
import { kernelFor } from '../../kernels/registry.js';
import { setElementwiseWasm, wasmUnary } from '../../kernels/wasm/elementwise.js';
import type { BatchNormGeometry, UnaryOp } from '../../kernels/types.js';
import { expectClose, poison } from '../helpers/check.js';

const SEED = 20240917;
const AVAILABLE = setElementwiseWasm(true);
const SPECIAL = [0, -0, NaN, Infinity, -Infinity, 6, -6, Math.fround(5.9999995), Math.fround(1e-40), -Math.fround(1e-40)];

function values(n: number, rng: Rng): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.uniform() < 0.1 ? SPECIAL[i % SPECIAL.length] : rng.uniformRange(-8, 8);
  return v;
}
/** Runs `fn` with the WASM path on, then off, and returns both outputs. */
function onOff(fn: () => Float32Array): [Float32Array, Float32Array] {
  setElementwiseWasm(true);
  const on = fn();
  setElementwiseWasm(false);
  const off = fn();
  setElementwiseWasm(true);
  return [on, off];
}
function sameBits(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) assert.fail(`${what}: [${i}] wasm ${a[i]} vs ts ${b[i]}`);
}

test('elementwise wasm: available here (skips the rest with the reason otherwise)', (t) => {
  if (!AVAILABLE) t.skip('WebAssembly SIMD does not validate here');
  setElementwiseWasm(false);
  assert.equal(wasmUnary('relu', new Float32Array(256), new Float32Array(256)), false, 'forced off must not run');
  setElementwiseWasm(true);
  assert.equal(wasmUnary('relu', new Float32Array(256), new Float32Array(256)), AVAILABLE);
});

test('relu/relu6 forward+backward and same-shape add: wasm = TypeScript bit for bit', () => {
  const rng = new Rng(SEED);
  const unary = kernelFor('unary', 'cpu');
  const unaryBwd = kernelFor('unaryBackward', 'cpu');
  const binary = kernelFor('binary', 'cpu');
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 400 }), fc.constantFrom<UnaryOp>('relu', 'relu6'), (n, op) => {
      const x = values(n, rng);
      const g = values(n, rng);
      const [f1, f0] = onOff(() => { const o = poison(new Float32Array(n)); unary(op, x, o); return o; });
      sameBits(f1, f0, `${op} n=${n}`);
      const [b1, b0] = onOff(() => { const o = poison(new Float32Array(n)); unaryBwd(op, x, f0, g, o); return o; });
      sameBits(b1, b0, `${op} backward n=${n}`);
      const [a1, a0] = onOff(() => { const o = poison(new Float32Array(n)); binary('add', x, [1], g, [1], o, [n]); return o; });
      sameBits(a1, a0, `add n=${n}`);
    }),
    { seed: SEED, numRuns: 120 },
  );
  // Past one chunk (65,536 elements) with a ragged tail, and a 4-D same-shape add.
  const n = (1 << 16) * 2 + 7;
  const x = values(n, rng);
  const g = values(n, rng);
  for (const op of ['relu', 'relu6'] as const) {
    const [f1, f0] = onOff(() => { const o = poison(new Float32Array(n)); unary(op, x, o); return o; });
    sameBits(f1, f0, `${op} n=${n}`);
    const [b1, b0] = onOff(() => { const o = poison(new Float32Array(n)); unaryBwd(op, x, f0, g, o); return o; });
    sameBits(b1, b0, `${op} backward n=${n}`);
  }
  const [a1, a0] = onOff(() => { const o = poison(new Float32Array(n)); binary('add', x, [n, 1], g, [n, 1], o, [1, n]); return o; });
  sameBits(a1, a0, 'add 2-D');
});

test('batch norm wasm = TypeScript (eval, fixed-stat dx bit for bit) and = float64 reference', () => {
  const rng = new Rng(SEED + 1);
  const asRef = (v: Float64Array): Float32Array => v as unknown as Float32Array;
  const uni = (n: number, lo = -1, hi = 1): Float32Array => { const v = new Float32Array(n); for (let i = 0; i < n; i++) v[i] = rng.uniformRange(lo, hi); return v; };
  fc.assert(
    fc.property(
      fc.record({
        batch: fc.integer({ min: 1, max: 6 }), channels: fc.integer({ min: 1, max: 6 }), spatial: fc.integer({ min: 1, max: 70 }),
        affine: fc.boolean(), batchStats: fc.boolean(), wantDx: fc.boolean(), shift: fc.integer({ min: -3, max: 3 }),
      }),
      (r) => {
        const g: BatchNormGeometry = { batch: r.batch, channels: r.channels, spatial: r.spatial };
        const tag = JSON.stringify(r);
        const n = g.batch * g.channels * g.spatial;
        const x = Float32Array.from(uni(n), (v) => v + r.shift);
        const w = r.affine ? uni(g.channels) : null;
        const b = r.affine ? uni(g.channels) : null;
        // train forward
        const want = new Float64Array(n), wantMean = new Float64Array(g.channels), wantVar = new Float64Array(g.channels);
        kernelFor('batchNormForwardTrain', 'reference')(asRef(Float64Array.from(x)), w, b, 1e-5, asRef(want), asRef(wantMean), asRef(wantVar), g);
        const stats: Float32Array[] = [];
        const [o1, o0] = onOff(() => {
          const out = poison(new Float32Array(n)), mean = poison(new Float32Array(g.channels)), vr = poison(new Float32Array(g.channels));
          kernelFor('batchNormForwardTrain', 'cpu')(x, w, b, 1e-5, out, mean, vr, g);
          stats.push(mean, vr);
          return out;
        });
        if (n / g.channels > 1) expectClose(o1, want, 1e-9, `bn train out ${tag}`);
        expectClose(stats[0], wantMean, 1e-12, `bn mean ${tag}`);
        expectClose(stats[1], wantVar, 1e-12, `bn var ${tag}`);
        expectClose(o1, o0, 1e-12, `bn train wasm vs ts ${tag}`);
        // eval forward: no sums, identical formulas → identical bits
        const mu = uni(g.channels);
        const inv = uni(g.channels, 0.5, 1.5);
        const [e1, e0] = onOff(() => { const out = poison(new Float32Array(n)); kernelFor('batchNormForwardEval', 'cpu')(x, w, b, mu, inv, out, g); return out; });
        sameBits(e1, e0, `bn eval ${tag}`);
        // backward
        const dy = uni(n);
        const wdx = new Float64Array(n), wdw = new Float64Array(g.channels), wdb = new Float64Array(g.channels);
        kernelFor('batchNormBackward', 'reference')(asRef(Float64Array.from(x)), asRef(Float64Array.from(dy)), w, mu, inv, r.batchStats, asRef(wdx), asRef(wdw), asRef(wdb), g);
        const grads: Float32Array[] = [];
        const [d1, d0] = onOff(() => {
          const dx = poison(new Float32Array(n)), dw = poison(new Float32Array(g.channels)), db = poison(new Float32Array(g.channels));
          kernelFor('batchNormBackward', 'cpu')(x, dy, w, mu, inv, r.batchStats, r.wantDx ? dx : null, dw, db, g);
          grads.push(dw, db);
          return r.wantDx ? dx : new Float32Array(0);
        });
        if (r.wantDx) {
          expectClose(d1, wdx, 1e-9, `bn dx ${tag}`);
          if (r.batchStats) expectClose(d1, d0, 1e-12, `bn dx wasm vs ts ${tag}`);
          else sameBits(d1, d0, `bn dx fixed stats ${tag}`);
        }
        expectClose(grads[0], wdw, 1e-10, `bn dweight ${tag}`);
        expectClose(grads[1], wdb, 1e-10, `bn dbias ${tag}`);
        expectClose(grads[0], grads[2], 1e-12, `bn dweight wasm vs ts ${tag}`);
        expectClose(grads[1], grads[3], 1e-12, `bn dbias wasm vs ts ${tag}`);
      },
    ),
    { seed: SEED, numRuns: 150 },
  );
});
