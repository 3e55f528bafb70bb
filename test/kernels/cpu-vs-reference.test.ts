/**
 * Fast cpu kernels of the matmul/conv/pool/batch-norm families against the float64 reference
 * over random geometries. Outputs are poisoned (NaN) first, so an element the cpu kernel forgets
 * to write fails; values compare with a normalised error.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import '../../kernels/index.js';
import { Rng } from '../../base/rng.js';
import { gemm } from '../../kernels/cpu/gemm.js';
import { kernelFor } from '../../kernels/registry.js';
import { type Conv2dGeometry, type Pool2dGeometry, conv2dGeometry, convOutSize } from '../../kernels/types.js';
import { expectClose, poison } from '../helpers/check.js';

const SEED = 20240611;
const f32 = (n: number, rng: Rng): Float32Array => {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.uniformRange(-1, 1);
  return v;
};
const f64 = (v: Float32Array): Float64Array => Float64Array.from(v);

/** Naive float64 GEMM over strided storage, the spec for the contract. */
function gemmSpec(tA: boolean, tB: boolean, m: number, n: number, k: number, a: Float32Array, aOff: number, lda: number, b: Float32Array, bOff: number, ldb: number, c: Float64Array, cOff: number, ldc: number, acc: boolean): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = acc ? c[cOff + i * ldc + j] : 0;
      for (let p = 0; p < k; p++) s += (tA ? a[aOff + p * lda + i] : a[aOff + i * lda + p]) * (tB ? b[bOff + j * ldb + p] : b[bOff + p * ldb + j]);
      c[cOff + i * ldc + j] = s;
    }
  }
}

interface GemmCase { tA: boolean; tB: boolean; m: number; n: number; k: number; padA: number; padB: number; padC: number; aOff: number; bOff: number; cOff: number; acc: boolean }

function runGemmCase(gc: GemmCase, rng: Rng): void {
  const { tA, tB, m, n, k, acc } = gc;
  const lda = (tA ? m : k) + gc.padA;
  const ldb = (tB ? k : n) + gc.padB;
  const ldc = n + gc.padC;
  const a = f32(gc.aOff + (tA ? k : m) * lda, rng);
  const b = f32(gc.bOff + (tB ? n : k) * ldb, rng);
  const c = f32(gc.cOff + m * ldc + 3, rng);
  // Inside the m×n window: NaN when overwriting (must be written), random when accumulating.
  if (!acc) for (let i = 0; i < m; i++) c.fill(NaN, gc.cOff + i * ldc, gc.cOff + i * ldc + n);
  const want = Float64Array.from(c);
  gemmSpec(tA, tB, m, n, k, a, gc.aOff, lda, b, gc.bOff, ldb, want, gc.cOff, ldc, acc);
  gemm(tA, tB, m, n, k, a, gc.aOff, lda, b, gc.bOff, ldb, c, gc.cOff, ldc, acc);
  expectClose(c, want, 1e-10, `gemm ${JSON.stringify(gc)}`);
  // Outside the window (padding columns, before the offset, after the end) must be untouched: exact.
  for (let i = 0; i < c.length; i++) {
    const r = Math.floor((i - gc.cOff) / ldc);
    const col = (i - gc.cOff) - r * ldc;
    const inside = i >= gc.cOff && r < m && col < n;
    if (!inside) assert.equal(c[i], Math.fround(want[i]), `gemm wrote outside C's window at ${i}`);
  }
}

test('gemm matches the float64 spec: transposes, offsets, leading dims, accumulate', () => {
  const rng = new Rng(SEED);
  fc.assert(
    fc.property(
      fc.record({
        tA: fc.boolean(), tB: fc.boolean(), m: fc.integer({ min: 1, max: 23 }), n: fc.integer({ min: 1, max: 23 }), k: fc.integer({ min: 1, max: 40 }),
        padA: fc.integer({ min: 0, max: 3 }), padB: fc.integer({ min: 0, max: 3 }), padC: fc.integer({ min: 0, max: 3 }),
        aOff: fc.integer({ min: 0, max: 5 }), bOff: fc.integer({ min: 0, max: 5 }), cOff: fc.integer({ min: 0, max: 5 }), acc: fc.boolean(),
      }),
      (gc) => runGemmCase(gc, rng),
    ),
    { seed: SEED, numRuns: 200 },
  );
});

test('gemm across cache-block boundaries (k > KC, m > MC, n > NC) and k = 0', () => {
  const rng = new Rng(SEED + 1);
  const base = { padA: 1, padB: 2, padC: 1, aOff: 3, bOff: 1, cOff: 2 };
  runGemmCase({ ...base, tA: false, tB: false, m: 133, n: 37, k: 300, acc: false }, rng);
  runGemmCase({ ...base, tA: true, tB: true, m: 130, n: 9, k: 513, acc: true }, rng);
  runGemmCase({ ...base, tA: false, tB: true, m: 3, n: 1031, k: 5, acc: false }, rng);
  runGemmCase({ ...base, tA: true, tB: false, m: 5, n: 1030, k: 7, acc: true }, rng);
  const c = new Float32Array(6).fill(NaN);
  gemm(false, false, 2, 3, 0, new Float32Array(0), 0, 0, new Float32Array(0), 0, 3, c, 0, 3, false);
  assert.deepEqual([...c], [0, 0, 0, 0, 0, 0]);
});

test('matmul cpu = reference over batches, broadcasts and transposes', () => {
  const rng = new Rng(SEED + 2);
  const cpu = kernelFor('matmul', 'cpu');
  const ref = kernelFor('matmul', 'reference');
  fc.assert(
    fc.property(
      fc.record({
        batch: fc.integer({ min: 1, max: 3 }), m: fc.integer({ min: 1, max: 13 }), n: fc.integer({ min: 1, max: 13 }), k: fc.integer({ min: 1, max: 17 }),
        transA: fc.boolean(), transB: fc.boolean(), bcastA: fc.boolean(), bcastB: fc.boolean(),
      }),
      (r) => {
        const g = { ...r, batchA: r.bcastA ? 1 : r.batch, batchB: r.bcastB ? 1 : r.batch };
        const a = f32(g.batchA * g.m * g.k, rng);
        const b = f32(g.batchB * g.k * g.n, rng);
        const want = new Float64Array(g.batch * g.m * g.n);
        ref(f64(a) as unknown as Float32Array, f64(b) as unknown as Float32Array, want as unknown as Float32Array, g);
        const got = poison(new Float32Array(want.length));
        cpu(a, b, got, g);
        expectClose(got, want, 1e-10, `matmul ${JSON.stringify(g)}`);
      },
    ),
    { seed: SEED, numRuns: 120 },
  );
});

const convArb = fc
  .record({
    batch: fc.integer({ min: 1, max: 2 }), groups: fc.integer({ min: 1, max: 3 }), cpg: fc.integer({ min: 1, max: 3 }), opg: fc.integer({ min: 1, max: 3 }),
    h: fc.integer({ min: 1, max: 9 }), w: fc.integer({ min: 1, max: 9 }), kh: fc.integer({ min: 1, max: 3 }), kw: fc.integer({ min: 1, max: 3 }),
    sh: fc.integer({ min: 1, max: 3 }), sw: fc.integer({ min: 1, max: 3 }), ph: fc.integer({ min: 0, max: 2 }), pw: fc.integer({ min: 0, max: 2 }),
    dh: fc.integer({ min: 1, max: 2 }), dw: fc.integer({ min: 1, max: 2 }), bias: fc.boolean(), depthwise: fc.boolean(),
  })
  .map((r) => {
    const cpg = r.depthwise ? 1 : r.cpg;
    const groups = r.depthwise ? r.groups + 1 : r.groups;
    return conv2dGeometry([r.batch, cpg * groups, r.h, r.w], [r.opg * groups, cpg, r.kh, r.kw], {
      stride: [r.sh, r.sw], padding: [r.ph, r.pw], dilation: [r.dh, r.dw], groups,
    });
  })
  .filter((g) => g.outHeight >= 1 && g.outWidth >= 1);

function checkConv(g: Conv2dGeometry, withBias: boolean, rng: Rng): void {
  const cpg = g.inChannels / g.groups;
  const x = f32(g.batch * g.inChannels * g.inHeight * g.inWidth, rng);
  const w = f32(g.outChannels * cpg * g.kernelHeight * g.kernelWidth, rng);
  const bias = withBias ? f32(g.outChannels, rng) : null;
  const dy = f32(g.batch * g.outChannels * g.outHeight * g.outWidth, rng);
  const tag = JSON.stringify(g);
  const R = <T>(v: T): T => v;
  const asRef = (v: Float64Array): Float32Array => v as unknown as Float32Array;

  const want = new Float64Array(dy.length);
  R(kernelFor('conv2dForward', 'reference'))(asRef(f64(x)), asRef(f64(w)), bias && asRef(f64(bias)), asRef(want), g);
  const got = poison(new Float32Array(dy.length));
  kernelFor('conv2dForward', 'cpu')(x, w, bias, got, g);
  expectClose(got, want, 1e-10, `conv2dForward ${tag}`);

  const wantDx = new Float64Array(x.length);
  kernelFor('conv2dBackwardInput', 'reference')(asRef(f64(dy)), asRef(f64(w)), asRef(wantDx), g);
  const gotDx = poison(new Float32Array(x.length));
  kernelFor('conv2dBackwardInput', 'cpu')(dy, w, gotDx, g);
  expectClose(gotDx, wantDx, 1e-10, `conv2dBackwardInput ${tag}`);

  const wantDw = new Float64Array(w.length);
  kernelFor('conv2dBackwardWeight', 'reference')(asRef(f64(x)), asRef(f64(dy)), asRef(wantDw), g);
  const gotDw = poison(new Float32Array(w.length));
  kernelFor('conv2dBackwardWeight', 'cpu')(x, dy, gotDw, g);
  expectClose(gotDw, wantDw, 1e-10, `conv2dBackwardWeight ${tag}`);
}

test('conv2d cpu = reference (forward, input and weight gradients) over random geometries', () => {
  const rng = new Rng(SEED + 3);
  fc.assert(fc.property(convArb, fc.boolean(), (g, withBias) => checkConv(g, withBias, rng)), { seed: SEED, numRuns: 150 });
});

test('conv2d cpu = reference on benchmark-like and pointwise shapes', () => {
  const rng = new Rng(SEED + 4);
  checkConv(conv2dGeometry([2, 16, 12, 12], [16, 16, 3, 3], { padding: 1 }), true, rng);
  checkConv(conv2dGeometry([2, 8, 5, 6], [12, 8, 1, 1], {}), true, rng);
  checkConv(conv2dGeometry([2, 8, 5, 6], [12, 4, 1, 1], { groups: 2 }), false, rng);
  checkConv(conv2dGeometry([1, 32, 7, 7], [32, 1, 3, 3], { groups: 32, padding: 1, stride: 2 }), true, rng);
  checkConv(conv2dGeometry([1, 300, 3, 3], [5, 300, 3, 3], { padding: 1 }), false, rng); // kdim 2700 > KC
});

const poolArb = fc
  .record({
    batch: fc.integer({ min: 1, max: 2 }), channels: fc.integer({ min: 1, max: 3 }), h: fc.integer({ min: 1, max: 9 }), w: fc.integer({ min: 1, max: 9 }),
    kh: fc.integer({ min: 1, max: 4 }), kw: fc.integer({ min: 1, max: 4 }), sh: fc.integer({ min: 1, max: 3 }), sw: fc.integer({ min: 1, max: 3 }),
    ph: fc.integer({ min: 0, max: 2 }), pw: fc.integer({ min: 0, max: 2 }), countIncludePad: fc.boolean(),
  })
  .map((r): Pool2dGeometry => {
    const padH = Math.min(r.ph, Math.floor(r.kh / 2));
    const padW = Math.min(r.pw, Math.floor(r.kw / 2));
    return {
      batch: r.batch, channels: r.channels, inHeight: r.h, inWidth: r.w, kernelHeight: r.kh, kernelWidth: r.kw, strideH: r.sh, strideW: r.sw,
      padH, padW, outHeight: convOutSize(r.h, r.kh, r.sh, padH, 1), outWidth: convOutSize(r.w, r.kw, r.sw, padW, 1), countIncludePad: r.countIncludePad,
    };
  })
  .filter((g) => g.outHeight >= 1 && g.outWidth >= 1);

test('pooling cpu = reference (max with argmax, avg both divisors, both gradients)', () => {
  const rng = new Rng(SEED + 5);
  const asRef = (v: Float64Array): Float32Array => v as unknown as Float32Array;
  fc.assert(
    fc.property(poolArb, (g) => {
      const tag = JSON.stringify(g);
      // Coarse values make ties common, so "first maximum wins" is exercised.
      const x = Float32Array.from(f32(g.batch * g.channels * g.inHeight * g.inWidth, rng), (v) => Math.round(v * 3) / 3);
      const nOut = g.batch * g.channels * g.outHeight * g.outWidth;
      const dy = f32(nOut, rng);
      const wantMax = new Float64Array(nOut);
      const wantArg = new Int32Array(nOut);
      kernelFor('maxPool2dForward', 'reference')(asRef(f64(x)), asRef(wantMax), wantArg, g);
      const gotMax = poison(new Float32Array(nOut));
      const gotArg = new Int32Array(nOut).fill(-7);
      kernelFor('maxPool2dForward', 'cpu')(x, gotMax, gotArg, g);
      expectClose(gotMax, wantMax, 0, `maxPool2dForward ${tag}`);
      assert.deepEqual(gotArg, wantArg, `maxPool2d argmax ${tag}`);
      const wantDx = new Float64Array(x.length);
      kernelFor('maxPool2dBackward', 'reference')(asRef(f64(dy)), wantArg, asRef(wantDx), g);
      const gotDx = poison(new Float32Array(x.length));
      kernelFor('maxPool2dBackward', 'cpu')(dy, gotArg, gotDx, g);
      expectClose(gotDx, wantDx, 1e-12, `maxPool2dBackward ${tag}`);

      const wantAvg = new Float64Array(nOut);
      kernelFor('avgPool2dForward', 'reference')(asRef(f64(x)), asRef(wantAvg), g);
      const gotAvg = poison(new Float32Array(nOut));
      kernelFor('avgPool2dForward', 'cpu')(x, gotAvg, g);
      expectClose(gotAvg, wantAvg, 1e-12, `avgPool2dForward ${tag}`);
      const wantADx = new Float64Array(x.length);
      kernelFor('avgPool2dBackward', 'reference')(asRef(f64(dy)), asRef(wantADx), g);
      const gotADx = poison(new Float32Array(x.length));
      kernelFor('avgPool2dBackward', 'cpu')(dy, gotADx, g);
      expectClose(gotADx, wantADx, 1e-12, `avgPool2dBackward ${tag}`);
    }),
    { seed: SEED, numRuns: 150 },
  );
});

test('batch norm cpu = reference (train/eval forward, backward with batch or fixed stats, optional affine)', () => {
  const rng = new Rng(SEED + 6);
  const asRef = (v: Float64Array): Float32Array => v as unknown as Float32Array;
  fc.assert(
    fc.property(
      fc.record({
        batch: fc.integer({ min: 1, max: 4 }), channels: fc.integer({ min: 1, max: 5 }), spatial: fc.integer({ min: 1, max: 10 }),
        affine: fc.boolean(), batchStats: fc.boolean(), wantDx: fc.boolean(), shift: fc.integer({ min: -3, max: 3 }),
      }),
      (r) => {
        const g = { batch: r.batch, channels: r.channels, spatial: r.spatial };
        const tag = JSON.stringify(r);
        const n = g.batch * g.channels * g.spatial;
        const x = Float32Array.from(f32(n, rng), (v) => v + r.shift);
        const w = r.affine ? f32(g.channels, rng) : null;
        const b = r.affine ? f32(g.channels, rng) : null;
        const wantOut = new Float64Array(n);
        const wantMean = new Float64Array(g.channels);
        const wantVar = new Float64Array(g.channels);
        kernelFor('batchNormForwardTrain', 'reference')(asRef(f64(x)), w, b, 1e-5, asRef(wantOut), asRef(wantMean), asRef(wantVar), g);
        const out = poison(new Float32Array(n));
        const mean = poison(new Float32Array(g.channels));
        const variance = poison(new Float32Array(g.channels));
        kernelFor('batchNormForwardTrain', 'cpu')(x, w, b, 1e-5, out, mean, variance, g);
        if (n / g.channels > 1) expectClose(out, wantOut, 1e-9, `bn train out ${tag}`);
        expectClose(mean, wantMean, 1e-12, `bn mean ${tag}`);
        expectClose(variance, wantVar, 1e-12, `bn var ${tag}`);

        const mu = f32(g.channels, rng);
        const inv = Float32Array.from(f32(g.channels, rng), (v) => 0.5 + Math.abs(v));
        const wantEval = new Float64Array(n);
        kernelFor('batchNormForwardEval', 'reference')(asRef(f64(x)), w, b, mu, inv, asRef(wantEval), g);
        const gotEval = poison(new Float32Array(n));
        kernelFor('batchNormForwardEval', 'cpu')(x, w, b, mu, inv, gotEval, g);
        expectClose(gotEval, wantEval, 1e-11, `bn eval ${tag}`);

        const dy = f32(n, rng);
        const wdx = r.wantDx ? new Float64Array(n) : null;
        const wdw = new Float64Array(g.channels);
        const wdb = new Float64Array(g.channels);
        kernelFor('batchNormBackward', 'reference')(asRef(f64(x)), asRef(f64(dy)), w, mu, inv, r.batchStats, wdx && asRef(wdx), asRef(wdw), asRef(wdb), g);
        const gdx = r.wantDx ? poison(new Float32Array(n)) : null;
        const gdw = poison(new Float32Array(g.channels));
        const gdb = poison(new Float32Array(g.channels));
        kernelFor('batchNormBackward', 'cpu')(x, dy, w, mu, inv, r.batchStats, gdx, gdw, gdb, g);
        if (gdx && wdx) expectClose(gdx, wdx, 1e-9, `bn dx ${tag}`);
        expectClose(gdw, wdw, 1e-10, `bn dweight ${tag}`);
        expectClose(gdb, wdb, 1e-10, `bn dbias ${tag}`);
      },
    ),
    { seed: SEED, numRuns: 150 },
  );
});
