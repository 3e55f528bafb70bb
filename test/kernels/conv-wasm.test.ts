/**
 * The WebAssembly SIMD conv path (kernels/wasm/conv.ts) and the TypeScript im2col+GEMM fallback,
 * each forced on through `setConvWasm`, against the float64 reference over random dense geometries
 * (stride, padding, dilation, batch chunking), with poisoned outputs; plus determinism.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import fc from 'fast-check';
import '../../kernels/index.js';
import { Rng } from '../../base/rng.js';
import { setConvWasm } from '../../kernels/cpu/conv.js';
import { setConvMemoryCap, setConvThreads, shutdownConvThreads, wasmConvFits } from '../../kernels/wasm/conv.js';
import { kernelFor } from '../../kernels/registry.js';
import { type Conv2dGeometry, conv2dGeometry } from '../../kernels/types.js';
import { expectClose, poison } from '../helpers/check.js';

const SEED = 20240612;
const f32 = (n: number, rng: Rng): Float32Array => {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.uniformRange(-1, 1);
  return v;
};
const asRef = (v: Float64Array): Float32Array => v as unknown as Float32Array;
const f64 = (v: Float32Array): Float64Array => Float64Array.from(v);

after(async () => {
  setConvWasm(true);
  setConvThreads(undefined);
  setConvMemoryCap(undefined);
  await shutdownConvThreads();
});

const denseArb = fc
  .record({
    batch: fc.integer({ min: 1, max: 5 }), cin: fc.integer({ min: 1, max: 6 }), cout: fc.integer({ min: 1, max: 9 }),
    h: fc.integer({ min: 1, max: 11 }), w: fc.integer({ min: 1, max: 11 }), kh: fc.integer({ min: 1, max: 5 }), kw: fc.integer({ min: 1, max: 5 }),
    sh: fc.integer({ min: 1, max: 3 }), sw: fc.integer({ min: 1, max: 3 }), ph: fc.integer({ min: 0, max: 2 }), pw: fc.integer({ min: 0, max: 2 }),
    dh: fc.integer({ min: 1, max: 2 }), dw: fc.integer({ min: 1, max: 2 }),
  })
  .map((r) => conv2dGeometry([r.batch, r.cin, r.h, r.w], [r.cout, r.cin, r.kh, r.kw], { stride: [r.sh, r.sw], padding: [r.ph, r.pw], dilation: [r.dh, r.dw] }))
  .filter((g) => g.outHeight >= 1 && g.outWidth >= 1);

function check(g: Conv2dGeometry, rng: Rng): void {
  const x = f32(g.batch * g.inChannels * g.inHeight * g.inWidth, rng);
  const w = f32(g.outChannels * (g.inChannels / g.groups) * g.kernelHeight * g.kernelWidth, rng);
  const bias = f32(g.outChannels, rng);
  const dy = f32(g.batch * g.outChannels * g.outHeight * g.outWidth, rng);
  const tag = JSON.stringify(g);
  const want = new Float64Array(dy.length);
  kernelFor('conv2dForward', 'reference')(asRef(f64(x)), asRef(f64(w)), asRef(f64(bias)), asRef(want), g);
  const got = poison(new Float32Array(dy.length));
  kernelFor('conv2dForward', 'cpu')(x, w, bias, got, g);
  expectClose(got, want, 1e-10, `forward ${tag}`);
  const wantDx = new Float64Array(x.length);
  kernelFor('conv2dBackwardInput', 'reference')(asRef(f64(dy)), asRef(f64(w)), asRef(wantDx), g);
  const gotDx = poison(new Float32Array(x.length));
  kernelFor('conv2dBackwardInput', 'cpu')(dy, w, gotDx, g);
  expectClose(gotDx, wantDx, 1e-10, `input gradient ${tag}`);
  const wantDw = new Float64Array(w.length);
  kernelFor('conv2dBackwardWeight', 'reference')(asRef(f64(x)), asRef(f64(dy)), asRef(wantDw), g);
  const gotDw = poison(new Float32Array(w.length));
  kernelFor('conv2dBackwardWeight', 'cpu')(x, dy, gotDw, g);
  expectClose(gotDw, wantDw, 1e-10, `weight gradient ${tag}`);
}

for (const [wasm, threads, cap] of [[true, 1, 0], [true, 3, 0], [true, 2, 600_000], [false, 1, 0]] as const) {
  const what = wasm ? `WASM SIMD path, ${threads} thread(s)${cap > 0 ? `, ${cap}-byte memory cap (sub-batches)` : ''}` : 'TypeScript path';
  test(`dense conv2d, ${what} = reference over random geometries`, (t) => {
    const available = setConvWasm(wasm);
    setConvThreads(threads);
    setConvMemoryCap(cap > 0 ? cap : undefined);
    if (wasm && !available) {
      t.skip('WebAssembly SIMD unavailable here');
      return;
    }
    const rng = new Rng(SEED + (wasm ? threads + cap : 7));
    fc.assert(fc.property(denseArb, (g) => check(g, rng)), { seed: SEED, numRuns: threads > 1 ? 60 : 120 });
    // Under the cap these need sub-batches (the whole batch does not fit, one sample does).
    if (cap > 0) assert.ok(wasmConvFits(conv2dGeometry([40, 6, 14, 14], [16, 6, 5, 5], {})), 'one LeNet sample fits the test cap');
    // ResNet-20 / LeNet-5 like shapes at reduced batch, incl. several chunks (batch > chunk size) and OH·OW not a multiple of 8.
    check(conv2dGeometry([3, 16, 32, 32], [16, 16, 3, 3], { padding: 1 }), rng);
    check(conv2dGeometry([2, 16, 32, 32], [32, 16, 3, 3], { padding: 1, stride: 2 }), rng);
    check(conv2dGeometry([2, 16, 32, 32], [32, 16, 1, 1], { stride: 2 }), rng);
    check(conv2dGeometry([9, 64, 8, 8], [64, 64, 3, 3], { padding: 1 }), rng);
    check(conv2dGeometry([5, 1, 28, 28], [6, 1, 5, 5], { padding: 2 }), rng);
    check(conv2dGeometry([40, 6, 14, 14], [16, 6, 5, 5], {}), rng);
    setConvMemoryCap(undefined);
  });
}

const depthwiseArb = fc
  .record({
    batch: fc.integer({ min: 1, max: 3 }), c: fc.integer({ min: 1, max: 7 }), h: fc.integer({ min: 1, max: 12 }), w: fc.integer({ min: 1, max: 12 }),
    kh: fc.integer({ min: 1, max: 5 }), kw: fc.integer({ min: 1, max: 5 }), sh: fc.integer({ min: 1, max: 3 }), sw: fc.integer({ min: 1, max: 3 }),
    ph: fc.integer({ min: 0, max: 2 }), pw: fc.integer({ min: 0, max: 2 }), dh: fc.integer({ min: 1, max: 2 }), dw: fc.integer({ min: 1, max: 2 }),
  })
  .map((r) => conv2dGeometry([r.batch, r.c, r.h, r.w], [r.c, 1, r.kh, r.kw], { stride: [r.sh, r.sw], padding: [r.ph, r.pw], dilation: [r.dh, r.dw], groups: r.c }))
  .filter((g) => g.outHeight >= 1 && g.outWidth >= 1);

for (const wasm of [true, false]) {
  test(`depthwise conv2d (multiplier 1), ${wasm ? 'WASM SIMD' : 'TypeScript'} path = reference`, (t) => {
    if (!setConvWasm(wasm) && wasm) {
      t.skip('WebAssembly SIMD unavailable here');
      return;
    }
    const rng = new Rng(SEED + (wasm ? 11 : 12));
    fc.assert(fc.property(depthwiseArb, (g) => check(g, rng)), { seed: SEED, numRuns: 120 });
    check(conv2dGeometry([4, 32, 16, 16], [32, 1, 3, 3], { padding: 1, groups: 32 }), rng);
    check(conv2dGeometry([3, 24, 15, 15], [24, 1, 3, 3], { padding: 1, stride: 2, groups: 24 }), rng);
  });
}

test('WASM conv is deterministic and bit-identical across thread counts', () => {
  setConvWasm(true);
  const rng = new Rng(SEED + 3);
  const g = conv2dGeometry([12, 8, 10, 10], [8, 8, 3, 3], { padding: 1 });
  const x = f32(g.batch * 8 * 100, rng), w = f32(8 * 8 * 9, rng), dy = f32(g.batch * 8 * 100, rng);
  const run = (threads: number): Float32Array[] => {
    setConvThreads(threads);
    const out = new Float32Array(dy.length), dx = new Float32Array(x.length), dw = new Float32Array(w.length);
    kernelFor('conv2dForward', 'cpu')(x, w, null, out, g);
    kernelFor('conv2dBackwardInput', 'cpu')(dy, w, dx, g);
    kernelFor('conv2dBackwardWeight', 'cpu')(x, dy, dw, g);
    return [out, dx, dw];
  };
  const a = run(1), b = run(1), c = run(2), d = run(2);
  for (let i = 0; i < 3; i++) assert.deepEqual(a[i], b[i]);
  for (let i = 0; i < 3; i++) assert.deepEqual(c[i], d[i]);
  for (let i = 0; i < 3; i++) assert.deepEqual(a[i], c[i], `thread counts 1 and 2 agree bit for bit (output ${i})`);
});
