/**
 * The WASM SIMD GEMM and its threaded form against a float64 spec GEMM over random geometries
 * (sizes off the 4×8 tile, transposes, offsets, leading dims, accumulate, cache-block edges), with
 * outputs poisoned by NaN and storage outside C's window checked untouched; and threaded results
 * bit-identical to one thread for several thread counts.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { Rng } from '../../base/rng.js';
import { KC, MC_STRIPS, MR, NC_STRIPS, NR, wasmGemm, wasmSimdAvailable } from '../../kernels/wasm/gemm.js';
import { partition, shutdownThreads, threadedGemm } from '../../kernels/wasm/threaded-gemm.js';
import { expectClose } from '../helpers/check.js';

const SEED = 20240613;
const avail = wasmSimdAvailable();
const skip = avail.available ? false : `WASM SIMD unavailable: ${avail.reason}`;
after(() => shutdownThreads());

const f32 = (n: number, rng: Rng): Float32Array => {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.uniformRange(-1, 1);
  return v;
};

type Gemm = (tA: boolean, tB: boolean, m: number, n: number, k: number, a: Float32Array, aOff: number, lda: number, b: Float32Array, bOff: number, ldb: number, c: Float32Array, cOff: number, ldc: number, acc: boolean) => void;

/** Naive float64 GEMM over strided storage: the spec of the contract. */
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

/** Runs `impl` on one case against the spec; returns C (whole storage) for identity checks. */
function runCase(impl: Gemm, gc: GemmCase, rng: Rng): Float32Array {
  const { tA, tB, m, n, k, acc } = gc;
  const lda = (tA ? m : k) + gc.padA;
  const ldb = (tB ? k : n) + gc.padB;
  const ldc = n + gc.padC;
  const a = f32(gc.aOff + (tA ? k : m) * lda, rng);
  const b = f32(gc.bOff + (tB ? n : k) * ldb, rng);
  const c = f32(gc.cOff + m * ldc + 3, rng);
  if (!acc) for (let i = 0; i < m; i++) c.fill(NaN, gc.cOff + i * ldc, gc.cOff + i * ldc + n);
  const want = Float64Array.from(c);
  gemmSpec(tA, tB, m, n, k, a, gc.aOff, lda, b, gc.bOff, ldb, want, gc.cOff, ldc, acc);
  impl(tA, tB, m, n, k, a, gc.aOff, lda, b, gc.bOff, ldb, c, gc.cOff, ldc, acc);
  const tag = JSON.stringify(gc);
  expectClose(c, want, 1e-10, `wasm gemm ${tag}`);
  for (let i = 0; i < c.length; i++) {
    const r = Math.floor((i - gc.cOff) / ldc);
    const col = i - gc.cOff - r * ldc;
    if (!(i >= gc.cOff && r < m && col < n)) assert.equal(c[i], Math.fround(want[i]), `wrote outside C's window at ${i} (${tag})`);
  }
  return c;
}

const caseArb = (maxM: number, maxN: number, maxK: number): fc.Arbitrary<GemmCase> => fc.record({
  tA: fc.boolean(), tB: fc.boolean(),
  m: fc.integer({ min: 1, max: maxM }), n: fc.integer({ min: 1, max: maxN }), k: fc.integer({ min: 1, max: maxK }),
  padA: fc.integer({ min: 0, max: 3 }), padB: fc.integer({ min: 0, max: 3 }), padC: fc.integer({ min: 0, max: 3 }),
  aOff: fc.integer({ min: 0, max: 5 }), bOff: fc.integer({ min: 0, max: 5 }), cOff: fc.integer({ min: 0, max: 5 }), acc: fc.boolean(),
});

test('wasmSimdAvailable reports a boolean and, when false, why', () => {
  assert.equal(typeof avail.available, 'boolean');
  if (!avail.available) assert.ok(avail.reason !== undefined && avail.reason.length > 0);
});

test('wasmGemm matches the float64 spec: small and odd sizes, transposes, offsets, leading dims, accumulate', { skip }, () => {
  const rng = new Rng(SEED);
  fc.assert(fc.property(caseArb(3 * MR + 3, 3 * NR + 5, 40), (gc) => { runCase(wasmGemm, gc, rng); }), { seed: SEED, numRuns: 300 });
});

test('wasmGemm at medium random sizes', { skip }, () => {
  const rng = new Rng(SEED + 1);
  fc.assert(fc.property(caseArb(70, 90, 300), (gc) => { runCase(wasmGemm, gc, rng); }), { seed: SEED + 1, numRuns: 40 });
});

test('wasmGemm across cache-block edges (k > KC, m > MC, n > NC), k = 0 and empty shapes', { skip }, () => {
  const rng = new Rng(SEED + 2);
  const base = { padA: 1, padB: 2, padC: 1, aOff: 3, bOff: 1, cOff: 2 };
  const mc = MC_STRIPS * MR;
  const nc = NC_STRIPS * NR;
  runCase(wasmGemm, { ...base, tA: false, tB: false, m: mc + 5, n: 37, k: KC + 44, acc: false }, rng);
  runCase(wasmGemm, { ...base, tA: true, tB: true, m: mc + 2, n: 9, k: 2 * KC + 1, acc: true }, rng);
  runCase(wasmGemm, { ...base, tA: false, tB: true, m: 3, n: nc + 7, k: 5, acc: false }, rng);
  runCase(wasmGemm, { ...base, tA: true, tB: false, m: 5, n: nc + 6, k: KC, acc: true }, rng);
  const c = new Float32Array(6).fill(NaN);
  wasmGemm(false, false, 2, 3, 0, new Float32Array(0), 0, 0, new Float32Array(0), 0, 3, c, 0, 3, false);
  assert.deepEqual([...c], [0, 0, 0, 0, 0, 0]);
  const d = new Float32Array([1, 2]);
  wasmGemm(false, false, 1, 2, 0, new Float32Array(0), 0, 0, new Float32Array(0), 0, 2, d, 0, 2, true);
  assert.deepEqual([...d], [1, 2]);
  wasmGemm(false, false, 0, 2, 3, new Float32Array(0), 0, 3, new Float32Array(6), 0, 2, d, 0, 2, false);
  assert.deepEqual([...d], [1, 2]);
});

test('partition covers the tile grid exactly once, in contiguous blocks', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 17 }), (ms, ns, t) => {
    const seen = new Uint8Array(ms * ns);
    for (const [i0, i1, j0, j1] of partition(ms, ns, t)) {
      for (let i = i0; i < i1; i++) for (let j = j0; j < j1; j++) seen[i * ns + j]++;
    }
    assert.ok(seen.every((v) => v === 1));
  }), { seed: SEED, numRuns: 300 });
});

test('threadedGemm matches the spec and is bit-identical to wasmGemm for 1, 2, 3 and 5 threads', { skip }, () => {
  fc.assert(fc.property(caseArb(90, 90, 100), fc.nat(), (gc, seed) => {
    const outs: Float32Array[] = [];
    for (const threads of [1, 2, 3, 5]) {
      const r = new Rng(seed); // same inputs for every thread count
      outs.push(runCase((...args) => threadedGemm(...args, threads), gc, r));
    }
    outs.push(runCase(wasmGemm, gc, new Rng(seed)));
    for (const o of outs.slice(1)) assert.ok(o.every((v, i) => Object.is(v, outs[0][i])), `threads differ on ${JSON.stringify(gc)}`);
  }), { seed: SEED + 3, numRuns: 25 });
});

test('threadedGemm run to run identical at a size split by rows and one split by columns', { skip }, () => {
  const rng = new Rng(SEED + 4);
  for (const [m, n, k] of [[200, 150, 300], [6, 700, 40]]) {
    const a = f32(m * k, rng);
    const b = f32(k * n, rng);
    const c1 = new Float32Array(m * n).fill(NaN);
    const c2 = new Float32Array(m * n).fill(NaN);
    const c3 = new Float32Array(m * n).fill(NaN);
    threadedGemm(false, false, m, n, k, a, 0, k, b, 0, n, c1, 0, n, false, 2);
    threadedGemm(false, false, m, n, k, a, 0, k, b, 0, n, c2, 0, n, false, 2);
    threadedGemm(false, false, m, n, k, a, 0, k, b, 0, n, c3, 0, n, false, 4);
    assert.ok(c1.every((v, i) => Object.is(v, c2[i]) && Object.is(v, c3[i])));
    const want = new Float64Array(m * n);
    gemmSpec(false, false, m, n, k, a, 0, k, b, 0, n, want, 0, n, false);
    expectClose(c1, want, 1e-10, `threaded ${m}x${n}x${k}`);
  }
  assert.throws(() => threadedGemm(false, false, 1, 1, 1, new Float32Array(1), 0, 1, new Float32Array(1), 0, 1, new Float32Array(1), 0, 1, false, 0), /thread count/);
});
