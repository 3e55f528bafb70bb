/**
 * Integer-activation ternary kernels (kernels/ternary/int.ts, int-simd.ts) against plain reference
 * maths: quantize with the documented rule, sum the `+` and `−` taps of the dense ±1 masks in float64
 * (exact for these integers), then the documented float32 output expression. Bit-exact: the sums are
 * integers, so any order (the wasm SIMD kernels, any thread count, the reference loops) gives the same
 * float32 outputs. Odd shapes, strides, padding, dilation, groups, negative centroids, empty output
 * rows (all-zero weights), inputs beyond the clamp (saturation), and the accumulator bound at its edge.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { Rng } from '../../base/rng.js';
import { ValueError } from '../../base/errors.js';
import { type IntActivationMode, intQmax, intTapLimit, maxTapsPerSign, quantizeActivations, ternaryConv2dIntReference, ternaryLinearInt } from '../../kernels/ternary/int.js';
import { ternaryConv2dInt } from '../../kernels/ternary/int-simd.js';
import { ternaryLayerFromAssignment } from '../../kernels/ternary/layer.js';
import { poisonTernaryScratch, setTernaryThreads, shutdownTernaryThreads, ternarySimdAvailable } from '../../kernels/ternary/simd.js';
import { setTernarySimd } from '../../kernels/ternary/cpu.js';
import { type Conv2dGeometry, conv2dGeometry, withChannelCentroids } from '../../kernels/types.js';
import { randomAssignment, referenceConv, referenceLinear } from './ternary-fixtures.js';

const SEED = 17_2026;
const fr = Math.fround;

/** Round to nearest, ties to even (written differently from the kernel's: via the floor). */
function nearestEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
}

/** The documented quantizer, written out again: clamp(nearest(f32(x·f32(1/scale))), ±qmax). */
function plainQuantize(x: Float32Array, scale: number, mode: IntActivationMode): Float64Array {
  const qmax = intQmax(mode);
  return Float64Array.from(x, (v) => Math.min(qmax, Math.max(-qmax, nearestEven(fr(v * fr(1 / scale))))));
}

/** The ±1 assignment split into its `+` mask and its `−` mask (1 where the weight has that sign). */
function signMasks(a: Int8Array): [Float64Array, Float64Array] {
  return [Float64Array.from(a, (v) => (v === 1 ? 1 : 0)), Float64Array.from(a, (v) => (v === -1 ? 1 : 0))];
}

function expectedOutputs(P: Float64Array, N: Float64Array, coef: (m: number) => [number, number], bias: Float32Array | null, M: number, per: number): Float32Array {
  const out = new Float32Array(P.length);
  for (let i = 0; i < P.length; i++) {
    const m = Math.floor(i / per) % M;
    const [a, c] = coef(m);
    out[i] = fr(fr(fr(a * fr(P[i])) - fr(c * fr(N[i]))) + (bias === null ? 0 : bias[m]));
  }
  return out;
}

interface Case {
  batch: number; groups: number; cpg: number; opg: number; h: number; w: number; kh: number; kw: number;
  stride: [number, number]; pad: [number, number]; dil: [number, number]; sparsity: number; bias: boolean;
  mode: IntActivationMode; wp: number; wn: number; scale: number; range: number; channelScale: boolean;
}

const intCase: fc.Arbitrary<Case> = fc
  .record({
    batch: fc.integer({ min: 1, max: 3 }),
    groups: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 3 })),
    cpg: fc.integer({ min: 1, max: 5 }),
    opg: fc.integer({ min: 1, max: 6 }),
    h: fc.integer({ min: 1, max: 11 }),
    w: fc.integer({ min: 1, max: 19 }),
    kh: fc.integer({ min: 1, max: 3 }),
    kw: fc.integer({ min: 1, max: 3 }),
    stride: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    pad: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
    dil: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
    sparsity: fc.constantFrom(0, 0.4, 0.8, 1),
    bias: fc.boolean(),
    mode: fc.constantFrom<IntActivationMode>('int8', 'int16'),
    // Negative centroids too (a folded negative batch-norm scale); float32 values.
    wp: fc.float({ min: Math.fround(-2), max: Math.fround(2), noNaN: true }),
    wn: fc.float({ min: Math.fround(-2), max: Math.fround(2), noNaN: true }),
    scale: fc.constantFrom(Math.fround(1 / 127), Math.fround(0.013), Math.fround(1e-4), 0.125, 3),
    // Input range as a multiple of the clamp point: > 1 saturates.
    range: fc.constantFrom(0.5, 1, 3),
    channelScale: fc.boolean(),
  })
  .filter((c) => c.h + 2 * c.pad[0] >= c.dil[0] * (c.kh - 1) + 1 && c.w + 2 * c.pad[1] >= c.dil[1] * (c.kw - 1) + 1);

function geometryOf(c: Case): Conv2dGeometry {
  return conv2dGeometry([c.batch, c.groups * c.cpg, c.h, c.w], [c.groups * c.opg, c.cpg, c.kh, c.kw], { stride: c.stride, padding: c.pad, dilation: c.dil, groups: c.groups });
}

/** Runs one case through `run` and checks it against the plain maths, bit for bit. */
function checkCase(c: Case, seed: number, run: (x: Float32Array, layer: ReturnType<typeof ternaryLayerFromAssignment>, bias: Float32Array | null, out: Float32Array, g: Conv2dGeometry) => void): void {
  const rng = new Rng(seed);
  const g = geometryOf(c);
  const M = g.outChannels;
  const per = c.cpg * c.kh * c.kw;
  const assign = randomAssignment(M * per, c.sparsity, rng);
  // One output channel with no weights at all (an empty tap list on both signs).
  assign.fill(0, 0, per);
  const plain = ternaryLayerFromAssignment(assign, [M, c.cpg, c.kh, c.kw], c.wp, c.wn);
  // Per-channel centroids f32(σ_m·w_p), f32(σ_m·w_n) (a folded batch norm), negative σ too.
  const sigma = Array.from({ length: M }, () => (rng.uniform() < 0.3 ? -1 : 1) * rng.uniformRange(0.25, 4));
  const layer = c.channelScale ? withChannelCentroids(plain, sigma) : plain;
  const x = new Float32Array(g.batch * g.inChannels * g.inHeight * g.inWidth);
  const lim = c.range * intQmax(c.mode) * c.scale;
  // Every third value an exact tie (k + ½ steps, scale a power of two below) to pin the rounding.
  for (let i = 0; i < x.length; i++) x[i] = i % 3 === 2 && c.scale === 0.125 ? (rng.int(41) - 20.5) * 0.125 : rng.uniformRange(-lim, lim);
  const bias = c.bias ? Float32Array.from({ length: M }, () => rng.uniformRange(-1, 1)) : null;
  const q = plainQuantize(x, c.scale, c.mode);
  const [pos, neg] = signMasks(assign);
  const P = referenceConv(q, pos, null, g);
  const N = referenceConv(q, neg, null, g);
  // Output m: a = f32(scale·f32(σ_m·w_p)), c likewise (docs: the coefficients round once from the
  // layer's float32 centroids).
  const coef = (m: number): [number, number] => (c.channelScale ? [fr(c.scale * fr(sigma[m] * c.wp)), fr(c.scale * fr(sigma[m] * c.wn))] : [fr(c.scale * c.wp), fr(c.scale * c.wn)]);
  const want = expectedOutputs(P, N, coef, bias, M, g.outHeight * g.outWidth);
  const got = new Float32Array(want.length).fill(Number.NaN);
  run(x, layer, bias, got, g);
  assert.deepEqual(new Uint32Array(got.buffer), new Uint32Array(want.buffer), `case ${JSON.stringify(c)} seed ${seed}`);
}

describe('integer-activation ternary conv', () => {
  after(async () => {
    setTernaryThreads(undefined);
    setTernarySimd(true);
    await shutdownTernaryThreads();
  });

  test('quantizer: ties to even, clamp at ±qmax, NaN to 0', () => {
    const q = quantizeActivations(Float32Array.of(0.5, -0.5, 1.49, 300, -300, Number.NaN, 2.5, -3.5, 1.5), 1, 'int8', new Int16Array(9));
    assert.deepEqual([...q], [0, 0, 1, 127, -127, 0, 2, -4, 2]);
    assert.deepEqual([...quantizeActivations(Float32Array.of(1e9, -1e9), 1, 'int16', new Int16Array(2))], [32767, -32767]);
  });

  test('reference loops = plain maths, bit for bit (property)', (t) => {
    t.diagnostic(`fast-check seed ${SEED}`);
    fc.assert(fc.property(intCase, fc.integer(), (c, s) => checkCase(c, s, (x, layer, bias, out, g) => ternaryConv2dIntReference(x, layer, { mode: c.mode, scale: c.scale }, bias, out, g))), { seed: SEED, numRuns: 120 });
  });

  test('wasm SIMD kernels = plain maths, bit for bit, 1 and 3 threads (property)', (t) => {
    if (!ternarySimdAvailable() || !setTernarySimd(true)) return t.skip('no WebAssembly SIMD / shared memory here');
    t.diagnostic(`fast-check seed ${SEED + 1}`);
    fc.assert(fc.property(intCase, fc.integer(), fc.constantFrom(1, 3), (c, s, threads) => {
      setTernaryThreads(threads);
      poisonTernaryScratch();
      checkCase(c, s, (x, layer, bias, out, g) => ternaryConv2dInt(x, layer, { mode: c.mode, scale: c.scale }, bias, out, g));
    }), { seed: SEED + 1, numRuns: 150 });
  });

  test('ResNet-sized layers (wide rows, several channel blocks, stride 2) on both paths agree bit for bit', (t) => {
    if (!ternarySimdAvailable() || !setTernarySimd(true)) return t.skip('no WebAssembly SIMD / shared memory here');
    for (const [c, stride, hw] of [[16, 1, 32], [32, 2, 32], [64, 1, 8]] as const) {
      const g = conv2dGeometry([4, c, hw, hw], [c, c, 3, 3], { padding: 1, stride });
      const rng = new Rng(c + stride);
      const layer = ternaryLayerFromAssignment(randomAssignment(c * c * 9, 0.64, rng), [c, c, 3, 3], 0.7, 0.55);
      const x = Float32Array.from({ length: 4 * c * hw * hw }, () => Math.max(0, rng.normal()));
      for (const mode of ['int8', 'int16'] as const) {
        const act = { mode, scale: 4 / intQmax(mode) };
        const want = new Float32Array(4 * c * g.outHeight * g.outWidth);
        ternaryConv2dIntReference(x, layer, act, null, want, g);
        const got = new Float32Array(want.length).fill(Number.NaN);
        ternaryConv2dInt(x, layer, act, null, got, g);
        assert.deepEqual(new Uint32Array(got.buffer), new Uint32Array(want.buffer), `${c}→${c} @${hw} /${stride} ${mode}`);
      }
    }
  });

  test('int8 at the accumulator bound: 258 taps of +127 sum to 32766 exactly; 259 taps are refused', () => {
    for (const simd of [false, true]) {
      setTernarySimd(simd);
      const limit = intTapLimit('int8');
      assert.equal(limit, 258);
      const layer = ternaryLayerFromAssignment(new Int8Array(limit).fill(1), [1, limit, 1, 1], 1, 1);
      const g = conv2dGeometry([1, limit, 1, 1], [1, limit, 1, 1]);
      const x = new Float32Array(limit).fill(1000); // saturates to +127
      const out = new Float32Array(1);
      ternaryConv2dInt(x, layer, { mode: 'int8', scale: 1 }, null, out, g);
      assert.equal(out[0], 258 * 127);
      const over = ternaryLayerFromAssignment(new Int8Array(limit + 1).fill(-1), [1, limit + 1, 1, 1], 1, 1);
      assert.equal(maxTapsPerSign(over), limit + 1);
      const g2 = conv2dGeometry([1, limit + 1, 1, 1], [1, limit + 1, 1, 1]);
      assert.throws(() => ternaryConv2dInt(new Float32Array(limit + 1), over, { mode: 'int8', scale: 1 }, null, new Float32Array(1), g2), (e: unknown) => e instanceof ValueError && /259 weights of one sign.*at most 258/.test(e.message));
      // int16 holds it (32-bit accumulators).
      ternaryConv2dInt(new Float32Array(limit + 1).fill(-1e9), over, { mode: 'int16', scale: 1 }, null, out, g2);
      assert.equal(out[0], (limit + 1) * 32767); // −w_n·N with N = 259·(−32767)
    }
  });

  test('a bad scale is refused', () => {
    const layer = ternaryLayerFromAssignment(Int8Array.of(1, -1), [1, 2, 1, 1], 1, 1);
    const g = conv2dGeometry([1, 2, 1, 1], [1, 2, 1, 1]);
    for (const scale of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => ternaryConv2dInt(new Float32Array(2), layer, { mode: 'int8', scale }, null, new Float32Array(1), g), ValueError);
    }
  });
});

describe('integer-activation ternary linear', () => {
  test('= plain maths, bit for bit (property)', (t) => {
    t.diagnostic(`fast-check seed ${SEED + 2}`);
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 12 }), fc.constantFrom<IntActivationMode>('int8', 'int16'), fc.integer(),
      (batch, inF, outF, mode, seed) => {
        const rng = new Rng(seed);
        const assign = randomAssignment(outF * inF, 0.5, rng);
        const wp = rng.uniformRange(-1, 1), wn = rng.uniformRange(-1, 1), scale = Math.fround(0.02);
        const layer = ternaryLayerFromAssignment(assign, [outF, inF], wp, wn);
        const x = Float32Array.from({ length: batch * inF }, () => rng.uniformRange(-4, 4));
        const bias = Float32Array.from({ length: outF }, () => rng.uniformRange(-1, 1));
        const q = plainQuantize(x, scale, mode);
        const [pos, neg] = signMasks(assign);
        const want = expectedOutputs(referenceLinear(q, pos, null, batch, inF, outF), referenceLinear(q, neg, null, batch, inF, outF), () => [fr(scale * layer.wp), fr(scale * layer.wn)], bias, outF, 1);
        const got = new Float32Array(batch * outF).fill(Number.NaN);
        ternaryLinearInt(x, layer, { mode, scale }, bias, got);
        assert.deepEqual(new Uint32Array(got.buffer), new Uint32Array(want.buffer));
      },
    ), { seed: SEED + 2, numRuns: 100 });
  });
});
