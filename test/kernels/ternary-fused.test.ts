/**
 * The ternary convs with their output work fused into the generated code (kernels/ternary/simd.ts
 * `ternaryConv2dFused`, int-simd.ts `ternaryConv2dIntFused`, the packed runtime's path): bit-identical
 * to the unfused kernel (layers with and without per-channel centroids) followed by the separate
 * passes, written out here in plain arithmetic — the float32 residual add (a tensor, or an
 * option-A shortcut's source read through a map: strided, channel-shifted), ReLU/ReLU6 with
 * NaN kept — for array and arena operands, 1 and 2 threads, strides 1 and 2, odd sizes and negative
 * channel scales (a swapped lane or channel shows as a wrong sign). Also small dense convs on the
 * same generated code (a network's stem), and the arena allocator itself.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { Rng } from '../../base/rng.js';
import { arenaAllocate, arenaRelease, arenaTop } from '../../kernels/ternary/arena.js';
import { ternaryConv2dCpu } from '../../kernels/ternary/cpu.js';
import { type IntActivationMode, ternaryConv2dIntReference } from '../../kernels/ternary/int.js';
import { ternaryConv2dIntFused } from '../../kernels/ternary/int-simd.js';
import { ternaryLayerFromAssignment } from '../../kernels/ternary/layer.js';
import type { JitPost, ResidualMap } from '../../kernels/ternary/simd-jit.js';
import { denseConv2dFused, denseTaps, setTernaryJit, shutdownTernaryThreads, ternaryConv2dFused, ternarySimdAvailable, ternarySimdInstance } from '../../kernels/ternary/simd.js';
import { conv2dGeometry, withChannelCentroids } from '../../kernels/types.js';
import { randomAssignment, referenceConv } from './ternary-fixtures.js';

const SEED = 3_2026;
const fr = Math.fround;

/** The separate passes of the runtime, in plain arithmetic (see JitPost). */
function applyPost(y: Float32Array, post: JitPost, res: Float32Array | null, M: number, per: number): Float32Array {
  const out = new Float32Array(y.length);
  for (let i = 0; i < y.length; i++) {
    const m = Math.floor(i / per) % M;
    let v = y[i];
    if (res !== null) v = fr(v + res[i]);
    if (post.act === 'relu6') v = v >= 6 ? 6 : v;
    if (post.act !== 'none') v = v <= 0 ? 0 : v;
    out[i] = v;
  }
  return out;
}

/**
 * An option-A shortcut's source for an output [N, M, OH, OW]: C ≤ M channels, `padBefore` zero
 * channels first, stride 1 or 2 (an odd source side too), and the full residual the runtime's
 * separate shortcut pass would make from it.
 */
function shortcutSource(N: number, M: number, OH: number, OW: number, rng: Rng): { src: Float32Array; full: Float32Array; map: ResidualMap } {
  const stride = rng.uniform() < 0.5 ? 1 : 2;
  const C = 1 + Math.floor(rng.uniform() * M);
  const padBefore = Math.floor(rng.uniform() * (M - C + 1));
  const H = stride * OH - (stride === 2 && rng.uniform() < 0.5 ? 1 : 0), W = stride * OW - (stride === 2 && rng.uniform() < 0.5 ? 1 : 0);
  const src = Float32Array.from({ length: N * C * H * W }, () => rng.normal());
  const full = new Float32Array(N * M * OH * OW);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let y = 0; y < OH; y++) for (let x = 0; x < OW; x++) {
    full[((n * M + c + padBefore) * OH + y) * OW + x] = src[((n * C + c) * H + stride * y) * W + stride * x];
  }
  return { src, full, map: { stride, padBefore, channels: C, height: H, width: W } };
}

/** Same bits, NaN matching NaN (its payload may differ between wasm and JS). */
function assertSameBits(got: Float32Array, want: Float32Array, what: string): void {
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length), w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < got.length; i++) {
    if (Number.isNaN(got[i]) && Number.isNaN(want[i])) continue;
    if (g[i] !== w[i]) assert.fail(`${what}: output ${i} is ${got[i]} (0x${g[i].toString(16)}), expected ${want[i]} (0x${w[i].toString(16)})`);
  }
}

const caseArb = fc.record({
  N: fc.integer({ min: 1, max: 3 }),
  C: fc.integer({ min: 1, max: 6 }),
  M: fc.integer({ min: 1, max: 9 }),
  H: fc.integer({ min: 3, max: 11 }),
  W: fc.integer({ min: 3, max: 21 }),
  k: fc.constantFrom(1, 3),
  stride: fc.constantFrom(1, 2),
  pad: fc.constantFrom(0, 1),
  mode: fc.constantFrom('float', 'int8', 'int16'),
  act: fc.constantFrom('none', 'relu', 'relu6'),
  residual: fc.boolean(),
  map: fc.boolean(),
  channelScale: fc.boolean(),
  bias: fc.boolean(),
  arena: fc.boolean(),
  threads: fc.constantFrom(1, 2),
  nan: fc.boolean(),
  seed: fc.integer({ min: 0, max: 1 << 30 }),
});

describe('fused ternary conv output', { skip: !ternarySimdAvailable() && 'no wasm SIMD here' }, () => {
  after(async () => {
    setTernaryJit('lazy');
    await shutdownTernaryThreads();
  });

  test('equals the kernel followed by the separate residual and activation passes, bit for bit (with per-channel centroids too)', () => {
    setTernaryJit('eager');
    fc.assert(fc.property(caseArb, (c) => {
      if (c.k > c.H + 2 * c.pad || c.k > c.W + 2 * c.pad) return;
      const rng = new Rng(c.seed);
      const g = conv2dGeometry([c.N, c.C, c.H, c.W], [c.M, c.C, c.k, c.k], { stride: c.stride, padding: c.pad });
      const per = g.outHeight * g.outWidth;
      const plainLayer = ternaryLayerFromAssignment(randomAssignment(c.M * c.C * c.k * c.k, 0.6, rng), [c.M, c.C, c.k, c.k], fr(0.1 + rng.uniform()), fr(0.1 + rng.uniform()));
      // Per-channel centroids (a folded batch norm), negative scales too: a channel mix-up flips signs.
      const layer = c.channelScale ? withChannelCentroids(plainLayer, Float32Array.from({ length: c.M }, () => (rng.uniform() < 0.3 ? -0.5 - rng.uniform() : 0.5 + rng.uniform()))) : plainLayer;
      const x = Float32Array.from({ length: c.N * c.C * c.H * c.W }, () => 2 * rng.normal());
      // NaN propagates through the sum and is kept by ReLU (float path; the integer quantizer maps it to 0).
      if (c.nan && c.mode === 'float') x[Math.floor(rng.uniform() * x.length)] = Number.NaN;
      const bias = c.bias ? Float32Array.from({ length: c.M }, () => rng.normal()) : null;
      const outN = c.N * c.M * per;
      // The residual: a tensor of the output's shape, or (map) an option-A shortcut's source.
      const map = c.residual && c.map ? shortcutSource(c.N, c.M, g.outHeight, g.outWidth, rng) : null;
      const res = !c.residual ? null : map !== null ? map.src : Float32Array.from({ length: outN }, () => 3 * rng.normal());
      const resFull = map !== null ? map.full : res;
      const spec: JitPost = { residual: res !== null, residualMap: map?.map, act: c.act as JitPost['act'] };
      const act = c.mode === 'float' ? null : { mode: c.mode as IntActivationMode, scale: fr(0.02 + 0.05 * rng.uniform()) };
      const plain = new Float32Array(outN);
      if (act === null) ternaryConv2dCpu(x, layer, bias, plain, g);
      else ternaryConv2dIntReference(x, layer, act, bias, plain, g);
      const want = applyPost(plain, spec, resFull, c.M, per);
      const I = ternarySimdInstance();
      assert.ok(I !== null);
      let got: Float32Array;
      if (c.arena) {
        const xAt = arenaAllocate(I.memory, x.length * 4 + 64) as number;
        const outAt = arenaAllocate(I.memory, outN * 4 + 64) as number;
        const resAt = res === null ? null : arenaAllocate(I.memory, res.length * 4 + 64) as number;
        try {
          new Float32Array(I.memory.buffer, xAt, x.length).set(x);
          if (res !== null) new Float32Array(I.memory.buffer, resAt as number, res.length).set(res);
          const done = act === null
            ? ternaryConv2dFused(xAt, layer, bias, outAt, g, { spec, res: resAt }, c.threads)
            : ternaryConv2dIntFused(xAt, layer, act, bias, outAt, g, { spec, res: resAt }, c.threads) ? 'fused' : 'none';
          assert.equal(done, 'fused');
          got = new Float32Array(I.memory.buffer, outAt, outN).slice();
          // The input and the residual are read, never written.
          assertSameBits(new Float32Array(I.memory.buffer, xAt, x.length), x, 'input region');
        } finally {
          arenaRelease(outAt);
          if (resAt !== null) arenaRelease(resAt);
          arenaRelease(xAt);
        }
      } else {
        got = new Float32Array(outN);
        const done = act === null
          ? ternaryConv2dFused(x, layer, bias, got, g, { spec, res }, c.threads)
          : ternaryConv2dIntFused(x, layer, act, bias, got, g, { spec, res }, c.threads) ? 'fused' : 'none';
        assert.equal(done, 'fused');
      }
      assertSameBits(got, want, `${JSON.stringify(c)}`);
    }), { seed: SEED, numRuns: 160 });
  });

  test('a layer still on the generic kernel says so and leaves the post work to the caller', () => {
    setTernaryJit('off');
    const rng = new Rng(5);
    const g = conv2dGeometry([2, 3, 6, 6], [4, 3, 3, 3], { padding: 1 });
    const layer = ternaryLayerFromAssignment(randomAssignment(4 * 3 * 9, 0.5, rng), [4, 3, 3, 3], 0.3, 0.2);
    const x = Float32Array.from({ length: 2 * 3 * 36 }, () => rng.normal());
    const got = new Float32Array(2 * 4 * 36), want = new Float32Array(2 * 4 * 36);
    assert.equal(ternaryConv2dFused(x, layer, null, got, g, { spec: { residual: false, act: 'relu' }, res: null }), 'plain');
    ternaryConv2dCpu(x, layer, null, want, g);
    assertSameBits(got, want, 'generic kernel output');
    assert.ok(got.some((v) => v < 0), 'the ReLU was not applied');
    setTernaryJit('lazy');
  });
});

/** A dense conv summed as the generated code does: per output, taps in (c, i, j) order, padding as zeros, `f32(acc + f32(x·w))`, then `+ b`. */
function plainOrderDenseConv(x: Float32Array, w: Float32Array, bias: Float32Array | null, g: ReturnType<typeof conv2dGeometry>): Float32Array {
  const { batch: N, inChannels: C, inHeight: H, inWidth: W, outChannels: M, kernelHeight: KH, kernelWidth: KW } = g;
  const out = new Float32Array(N * M * g.outHeight * g.outWidth);
  for (let n = 0; n < N; n++) for (let m = 0; m < M; m++) for (let oy = 0; oy < g.outHeight; oy++) for (let ox = 0; ox < g.outWidth; ox++) {
    let acc = 0;
    for (let c = 0; c < C; c++) for (let i = 0; i < KH; i++) for (let j = 0; j < KW; j++) {
      const yy = oy * g.strideH - g.padH + i, xx = ox * g.strideW - g.padW + j;
      const v = yy >= 0 && yy < H && xx >= 0 && xx < W ? x[((n * C + c) * H + yy) * W + xx] : 0;
      acc = fr(acc + fr(v * w[((m * C + c) * KH + i) * KW + j]));
    }
    out[((n * M + m) * g.outHeight + oy) * g.outWidth + ox] = fr(acc + (bias === null ? 0 : bias[m]));
  }
  return out;
}

describe('dense conv on generated code', { skip: !ternarySimdAvailable() && 'no wasm SIMD here' }, () => {
  after(() => shutdownTernaryThreads());

  test('sums in tap order: bit-identical to the plain-order reference, and within float32 rounding of float64', () => {
    fc.assert(fc.property(caseArb, (c) => {
      if (c.k > c.H + 2 * c.pad || c.k > c.W + 2 * c.pad) return;
      const rng = new Rng(c.seed);
      const g = conv2dGeometry([c.N, c.C, c.H, c.W], [c.M, c.C, c.k, c.k], { stride: c.stride, padding: c.pad });
      const per = g.outHeight * g.outWidth;
      // Zero weights too (they stay in the sum), and negative ones.
      const w = Float32Array.from({ length: c.M * c.C * c.k * c.k }, () => (rng.uniform() < 0.2 ? 0 : rng.normal()));
      const x = Float32Array.from({ length: c.N * c.C * c.H * c.W }, () => rng.normal());
      if (c.nan) x[Math.floor(rng.uniform() * x.length)] = Number.NaN;
      const bias = c.bias ? Float32Array.from({ length: c.M }, () => rng.normal()) : null;
      const outN = c.N * c.M * per;
      const res = c.residual ? Float32Array.from({ length: outN }, () => rng.normal()) : null;
      const spec: JitPost = { residual: res !== null, act: c.act as JitPost['act'] };
      const got = new Float32Array(outN);
      assert.ok(denseConv2dFused(x, denseTaps(w, [c.M, c.C, c.k, c.k]), bias, got, g, { spec, res }, c.threads));
      const plain = plainOrderDenseConv(x, w, bias, g);
      assertSameBits(got, applyPost(plain, spec, res, c.M, per), JSON.stringify(c));
      if (c.nan || res !== null || c.act !== 'none') return;
      // The float64 spec, within the rounding of a float32 sum of n = C·k·k products and the bias:
      // |error| ≤ (n + 1)·2⁻²³·(Σ|x·w| + |b|) (each product and addition rounds once).
      const ref = referenceConv(x, w, bias, g);
      const mag = referenceConv(x.map(Math.abs), w.map(Math.abs), bias === null ? null : bias.map(Math.abs), g);
      const n = c.C * c.k * c.k;
      for (let i = 0; i < outN; i++) assert.ok(Math.abs(got[i] - ref[i]) <= (n + 1) * 2 ** -23 * mag[i], `output ${i}: ${got[i]} vs ${ref[i]}`);
    }), { seed: SEED + 1, numRuns: 120 });
  });
});

describe('ternary memory arena', { skip: ternarySimdInstance() === null && 'no wasm SIMD here' }, () => {
  test('regions do not overlap, freed space is reused, and the scratch base drops when the top region goes', () => {
    const I = ternarySimdInstance();
    assert.ok(I !== null);
    const base = arenaTop();
    const a = arenaAllocate(I.memory, 100) as number;
    const b = arenaAllocate(I.memory, 1000) as number;
    const c = arenaAllocate(I.memory, 10) as number;
    assert.ok(a >= base && b >= a + 100 && c >= b + 1000, `regions ${a}, ${b}, ${c} overlap`);
    assert.ok(arenaTop() >= c + 10);
    assert.ok(I.memory.buffer.byteLength >= arenaTop());
    arenaRelease(b);
    // First fit: a smaller request lands in b's space.
    const d = arenaAllocate(I.memory, 500) as number;
    assert.equal(d, b);
    arenaRelease(c);
    arenaRelease(d);
    assert.equal(arenaTop(), a + 128, 'the free regions above a should be dropped');
    arenaRelease(a);
    assert.equal(arenaTop(), base);
    // Releasing twice, or an unknown offset, does nothing.
    arenaRelease(a);
    arenaRelease(12345);
    assert.equal(arenaTop(), base);
    assert.equal(arenaAllocate(I.memory, 2 ** 31), null, 'a region beyond the memory maximum must be refused');
  });
});
