/**
 * Ternary cpu kernels against dense float64 reference maths (a plain-loop conv / matmul with the
 * dense ternary weights Wt): bit-exact on integer-valued inputs with power-of-two centroids (every
 * partial sum is exactly representable, so any summation order gives the same float32), and within
 * a normalised error on float inputs (both the WebAssembly SIMD and the pure-JS inner loop); sparsities 0 %, 50 %, 90 %, 99 %, 100 %; random geometries with
 * stride/padding/dilation/groups/depthwise; outputs poisoned with NaN first.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Rng } from '../../base/rng.js';
import { ShapeError } from '../../base/errors.js';
import { hasKernel, kernelFor } from '../../kernels/registry.js';
import '../../kernels/ternary/index.js';
import type { TernaryLayer } from '../../kernels/types.js';
import {
  ternaryLayerDense,
  ternaryLayerFromAssignment,
  ternaryLayerFromMasks,
} from '../../kernels/ternary/layer.js';
import { setTernarySimd, ternaryConv2dCpu, ternaryLinearCpu } from '../../kernels/ternary/cpu.js';
import { setTernaryJit } from '../../kernels/ternary/simd.js';
import { type Conv2dGeometry, conv2dGeometry, withChannelCentroids } from '../../kernels/types.js';
import { expectClose, poison } from '../helpers/check.js';
import { randomAssignment, referenceConv, referenceLinear } from './ternary-fixtures.js';

const SEED = 7_2020;
const SPARSITIES = [0, 0.5, 0.9, 0.99, 1];

function intInput(n: number, rng: Rng, range = 8): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.int(2 * range + 1) - range;
  return v;
}
function floatInput(n: number, rng: Rng): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.uniformRange(-1, 1);
  return v;
}

interface ConvCase {
  batch: number;
  groups: number;
  cpg: number;
  opg: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
  stride: [number, number];
  pad: [number, number];
  dil: [number, number];
  sparsity: number;
  bias: boolean;
  /** Per-channel centroids (a folded batch norm). */
  channelScale?: boolean;
}

const convCase: fc.Arbitrary<ConvCase> = fc
  .record({
    batch: fc.integer({ min: 1, max: 3 }),
    groups: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 4 })),
    cpg: fc.integer({ min: 1, max: 4 }),
    opg: fc.integer({ min: 1, max: 4 }),
    h: fc.integer({ min: 1, max: 9 }),
    w: fc.integer({ min: 1, max: 9 }),
    kh: fc.integer({ min: 1, max: 3 }),
    kw: fc.integer({ min: 1, max: 3 }),
    stride: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    pad: fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 })),
    dil: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
    sparsity: fc.constantFrom(...SPARSITIES),
    bias: fc.boolean(),
    channelScale: fc.boolean(),
  })
  .filter((c) => c.h + 2 * c.pad[0] >= c.dil[0] * (c.kh - 1) + 1 && c.w + 2 * c.pad[1] >= c.dil[1] * (c.kw - 1) + 1);

function geometryOf(c: ConvCase): Conv2dGeometry {
  return conv2dGeometry([c.batch, c.groups * c.cpg, c.h, c.w], [c.groups * c.opg, c.cpg, c.kh, c.kw], {
    stride: c.stride,
    padding: c.pad,
    dilation: c.dil,
    groups: c.groups,
  });
}

function runConv(c: ConvCase, seed: number, integer: boolean): void {
  const rng = new Rng(seed);
  const g = geometryOf(c);
  const shape = [g.outChannels, c.cpg, c.kh, c.kw] as const;
  const a = randomAssignment(g.outChannels * c.cpg * c.kh * c.kw, c.sparsity, rng);
  const wp = integer ? 2 ** (rng.int(4) - 1) : Math.fround(rng.uniformRange(0.1, 1));
  const wn = integer ? 2 ** (rng.int(4) - 1) : Math.fround(rng.uniformRange(0.1, 1));
  const plain = ternaryLayerFromAssignment(a, shape, wp, wn);
  // Per-channel centroids (a folded batch norm): powers of two keep the integer case exact; negative
  // ones expose a channel mix-up.
  const layer = c.channelScale ? withChannelCentroids(plain, Array.from({ length: g.outChannels }, () => (rng.uniform() < 0.3 ? -1 : 1) * 2 ** (rng.int(3) - 1))) : plain;
  const x = integer ? intInput(g.batch * g.inChannels * g.inHeight * g.inWidth, rng) : floatInput(g.batch * g.inChannels * g.inHeight * g.inWidth, rng);
  const bias = c.bias ? (integer ? intInput(g.outChannels, rng) : floatInput(g.outChannels, rng)) : null;
  const want = referenceConv(x, ternaryLayerDense(layer), bias, g);
  const out = poison(new Float32Array(want.length));
  ternaryConv2dCpu(x, layer, bias, out, g);
  const what = `conv ${JSON.stringify(c)}`;
  if (integer) {
    for (let i = 0; i < want.length; i++) if (out[i] !== want[i]) assert.fail(`${what}: out[${i}] = ${out[i]}, want exactly ${want[i]}`);
  } else {
    expectClose(out, want, 1e-10, what);
  }
}

describe('ternaryConv2d (cpu)', () => {
  // Every inner loop: the generated per-layer WebAssembly kernels, the generic WebAssembly tap-table
  // kernel (layers too big to generate code for), and pure JS.
  for (const [simd, jit] of [[true, true], [true, false], [false, false]] as const) {
    const label = simd ? (jit ? 'wasm SIMD, generated per-layer kernels' : 'wasm SIMD, generic tap-table kernel') : 'JS loops';
    test(`${label}: bit-exact on integer inputs, random geometries and sparsities`, (t) => {
      if (setTernarySimd(simd) !== simd) return t.skip('this engine has no WebAssembly SIMD');
      setTernaryJit(jit ? 'eager' : 'off');
      try {
        fc.assert(fc.property(convCase, fc.integer(), (c, s) => runConv(c, s, true)), { seed: SEED, numRuns: 300 });
      } finally {
        setTernarySimd(true);
        setTernaryJit('lazy');
      }
    });

    test(`${label}: float inputs within NMSE 1e-10 of float64`, (t) => {
      if (setTernarySimd(simd) !== simd) return t.skip('this engine has no WebAssembly SIMD');
      setTernaryJit(jit ? 'eager' : 'off');
      try {
        fc.assert(fc.property(convCase, fc.integer(), (c, s) => runConv(c, s, false)), { seed: SEED + 1, numRuns: 200 });
      } finally {
        setTernarySimd(true);
        setTernaryJit('lazy');
      }
    });

    test(`${label}: ResNet-20 shapes (N=2) at every sparsity, exact on integers`, (t) => {
      if (setTernarySimd(simd) !== simd) return t.skip('this engine has no WebAssembly SIMD');
      setTernaryJit(jit ? 'eager' : 'off');
      try {
        let seed = 100;
        for (const [ch, hw] of [[16, 32], [32, 16], [64, 8]] as const) {
          for (const sparsity of SPARSITIES) {
            const c: ConvCase = { batch: 2, groups: 1, cpg: ch, opg: ch, h: hw, w: hw, kh: 3, kw: 3, stride: [1, 1], pad: [1, 1], dil: [1, 1], sparsity, bias: sparsity < 1 };
            runConv(c, seed++, true);
          }
          // The downsampling conv of the next stage: stride 2.
          const c: ConvCase = { batch: 2, groups: 1, cpg: ch, opg: 2 * ch, h: hw, w: hw, kh: 3, kw: 3, stride: [2, 2], pad: [1, 1], dil: [1, 1], sparsity: 0.5, bias: false };
          runConv(c, seed++, true);
        }
      } finally {
        setTernarySimd(true);
        setTernaryJit('lazy');
      }
    });
  }

  test('generated and generic wasm kernels give bit-identical outputs on float inputs (same summation order)', (t) => {
    if (!setTernarySimd(true)) return t.skip('this engine has no WebAssembly SIMD');
    try {
      fc.assert(fc.property(convCase, fc.integer(), (c, seed) => {
        const rng = new Rng(seed);
        const g = geometryOf(c);
        const layer = ternaryLayerFromAssignment(randomAssignment(g.outChannels * c.cpg * c.kh * c.kw, c.sparsity, rng), [g.outChannels, c.cpg, c.kh, c.kw],
          Math.fround(rng.uniformRange(0.1, 1)), Math.fround(rng.uniformRange(0.1, 1)));
        const x = floatInput(g.batch * g.inChannels * g.inHeight * g.inWidth, rng);
        const bias = c.bias ? floatInput(g.outChannels, rng) : null;
        const outs = (['off', 'eager'] as const).map((mode) => {
          setTernaryJit(mode);
          const out = poison(new Float32Array(g.batch * g.outChannels * g.outHeight * g.outWidth));
          ternaryConv2dCpu(x, layer, bias, out, g);
          return new Uint32Array(out.buffer);
        });
        assert.deepEqual(outs[1], outs[0], `conv ${JSON.stringify(c)}`);
      }), { seed: SEED + 2, numRuns: 150 });
    } finally {
      setTernaryJit('lazy');
    }
  });

  test('lazy code generation: every call gives the same bits, before and after the layer gets its code', (t) => {
    if (!setTernarySimd(true)) return t.skip('this engine has no WebAssembly SIMD');
    const rng = new Rng(99);
    const g = conv2dGeometry([2, 8, 9, 9], [12, 8, 3, 3], { padding: 1 });
    const x = floatInput(2 * 8 * 81, rng);
    const run = (layer: TernaryLayer): Uint32Array => {
      const out = poison(new Float32Array(2 * 12 * 81));
      ternaryConv2dCpu(x, layer, null, out, g);
      return new Uint32Array(out.buffer);
    };
    const a = randomAssignment(12 * 72, 0.5, rng);
    const fresh = (): TernaryLayer => ternaryLayerFromAssignment(a, [12, 8, 3, 3], 0.37, 0.29);
    try {
      setTernaryJit('off');
      const generic = run(fresh());
      setTernaryJit('eager');
      const generated = run(fresh());
      assert.deepEqual(generated, generic, 'the two kernels sum in the same order');
      setTernaryJit('lazy');
      const layer = fresh();
      assert.deepEqual(run(layer), generic, 'call 1');
      assert.deepEqual(run(layer), generic, 'call 2');
      assert.deepEqual(run(layer), generated, 'call 3');
      assert.deepEqual(run(layer), generated, 'call 4');
    } finally {
      setTernaryJit('lazy');
    }
  });

  test('depthwise (groups = channels, multiplier 1 and 2) and every sparsity', () => {
    let seed = 1;
    for (const sparsity of SPARSITIES) {
      for (const opg of [1, 2]) {
        for (const stride of [1, 2] as const) {
          const c: ConvCase = { batch: 2, groups: 6, cpg: 1, opg, h: 7, w: 6, kh: 3, kw: 3, stride: [stride, stride], pad: [1, 1], dil: [1, 1], sparsity, bias: true };
          runConv(c, seed++, true);
          runConv(c, seed++, false);
        }
      }
    }
  });

  test('all-zero layer writes exactly the bias (or 0)', () => {
    const g = conv2dGeometry([2, 4, 5, 5], [3, 4, 3, 3], { padding: 1 });
    const layer = ternaryLayerFromAssignment(new Int8Array(3 * 4 * 9), [3, 4, 3, 3], 1, 1);
    const x = floatInput(2 * 4 * 25, new Rng(3));
    const out = poison(new Float32Array(2 * 3 * 25));
    ternaryConv2dCpu(x, layer, null, out, g);
    assert.ok(out.every((v) => Object.is(v, 0)), 'zeros');
    const bias = Float32Array.of(1.5, -2, 0.25);
    ternaryConv2dCpu(x, layer, bias, poison(out), g);
    for (let i = 0; i < out.length; i++) assert.equal(out[i], bias[Math.floor(i / 25) % 3]);
  });

  test('the same layer object serves several geometries (plan cache keyed by geometry)', () => {
    const rng = new Rng(5);
    const a = randomAssignment(4 * 2 * 9, 0.5, rng);
    const layer = ternaryLayerFromAssignment(a, [4, 2, 3, 3], 0.5, 2);
    for (const [n, h, pad] of [[1, 5, 1], [3, 8, 0], [1, 5, 1], [2, 4, 2]] as const) {
      const g = conv2dGeometry([n, 2, h, h], [4, 2, 3, 3], { padding: pad });
      const x = intInput(n * 2 * h * h, rng);
      const want = referenceConv(x, ternaryLayerDense(layer), null, g);
      const out = poison(new Float32Array(want.length));
      ternaryConv2dCpu(x, layer, null, out, g);
      assert.deepEqual(Array.from(out), Array.from(want));
    }
  });

  test('rejects a layer that does not fit the geometry, naming both', () => {
    const layer = ternaryLayerFromAssignment(new Int8Array(4 * 2 * 9), [4, 2, 3, 3], 1, 1);
    const g = conv2dGeometry([1, 3, 5, 5], [4, 3, 3, 3], {});
    assert.throws(() => ternaryConv2dCpu(new Float32Array(75), layer, null, new Float32Array(4 * 9), g), (e: unknown) => e instanceof ShapeError && /does not fit geometry/.test(e.message));
  });
});

describe('ternaryLinear (cpu)', () => {
  test('bit-exact on integers and close on floats, batch 0..40, every sparsity', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 20 }), fc.constantFrom(...SPARSITIES), fc.boolean(), fc.integer(), (batch, inF, outF, sparsity, withBias, seed) => {
        const rng = new Rng(seed);
        const a = randomAssignment(outF * inF, sparsity, rng);
        for (const integer of [true, false]) {
          const wp = integer ? 2 ** (rng.int(4) - 1) : Math.fround(rng.uniformRange(0.1, 1));
          const wn = integer ? 2 ** (rng.int(4) - 1) : Math.fround(rng.uniformRange(0.1, 1));
          const layer = ternaryLayerFromAssignment(a, [outF, inF], wp, wn);
          const x = integer ? intInput(batch * inF, rng) : floatInput(batch * inF, rng);
          const bias = withBias ? intInput(outF, rng) : null;
          const want = referenceLinear(x, ternaryLayerDense(layer), bias, batch, inF, outF);
          const out = poison(new Float32Array(batch * outF));
          ternaryLinearCpu(x, layer, bias, out);
          if (integer) assert.deepEqual(Array.from(out), Array.from(want));
          else expectClose(out, want, 1e-10, `linear ${batch}x${inF}->${outF} s=${sparsity}`);
        }
      }),
      { seed: SEED + 2, numRuns: 200 },
    );
  });
});

describe('ternary layer builders and registry', () => {
  test('masks and assignment give the same layer', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 30 }), fc.constantFrom(...SPARSITIES), fc.integer(), (o, per, sparsity, seed) => {
        const a = randomAssignment(o * per, sparsity, new Rng(seed));
        // Encode here by the documented bit order, independently of ec2t/pack.ts.
        const nz = new Uint8Array((a.length + 7) >> 3);
        const signs: number[] = [];
        a.forEach((v, k) => {
          if (v !== 0) {
            nz[k >> 3] |= 1 << (k & 7);
            signs.push(v < 0 ? 1 : 0);
          }
        });
        const sg = new Uint8Array((signs.length + 7) >> 3);
        signs.forEach((b, s) => (sg[s >> 3] |= b << (s & 7)));
        const l1: TernaryLayer = ternaryLayerFromAssignment(a, [o, per], 0.5, 0.75);
        const l2: TernaryLayer = ternaryLayerFromMasks(nz, sg, [o, per], 0.5, 0.75);
        assert.deepEqual(l2, l1);
      }),
      { seed: SEED + 3, numRuns: 200 },
    );
  });

  test('rejects bad assignments and masks', () => {
    assert.throws(() => ternaryLayerFromAssignment(Int8Array.of(2), [1, 1], 1, 1), /expected −1, 0 or \+1/);
    assert.throws(() => ternaryLayerFromAssignment(Int8Array.of(1), [1, 2], 1, 1), ShapeError);
    assert.throws(() => ternaryLayerFromMasks(new Uint8Array(2), new Uint8Array(0), [1, 8], 1, 1), /8 weights need 1/);
    assert.throws(() => ternaryLayerFromMasks(Uint8Array.of(3), new Uint8Array(0), [1, 8], 1, 1), /sign mask/);
    assert.throws(() => ternaryLayerFromAssignment(Int8Array.of(1), [1, 1], NaN, 1), /finite/);
  });

  test('registered under backend "ternary"', () => {
    assert.ok(hasKernel('ternaryConv2d', 'ternary'));
    assert.equal(kernelFor('ternaryLinear', 'ternary'), ternaryLinearCpu);
  });
});

describe('ternaryConv2d (gpu.js)', async () => {
  const { gpujsModeUnavailable, loadTernaryConvGpujs } = await import('../../kernels/ternary/gpujs.js');
  for (const mode of ['headlessgl', 'webasm', 'cpu'] as const) {
    const why = await gpujsModeUnavailable(mode);
    test(`gpu.js ${mode}: exact on integers, close on floats, vs float64`, { skip: why === null ? false : `gpu.js ${mode} unavailable: ${why}` }, async () => {
      const k = await loadTernaryConvGpujs(mode);
      try {
        fc.assert(
          fc.property(convCase, fc.integer(), fc.boolean(), (c, seed, integer) => {
            const rng = new Rng(seed);
            const g = geometryOf(c);
            const a = randomAssignment(g.outChannels * c.cpg * c.kh * c.kw, c.sparsity, rng);
            const layer = ternaryLayerFromAssignment(a, [g.outChannels, c.cpg, c.kh, c.kw], integer ? 0.5 : 0.3, integer ? 2 : 0.7);
            const n = g.batch * g.inChannels * g.inHeight * g.inWidth;
            const x = integer ? intInput(n, rng) : floatInput(n, rng);
            const bias = c.bias ? intInput(g.outChannels, rng) : null;
            const want = referenceConv(x, ternaryLayerDense(layer), bias, g);
            const out = poison(new Float32Array(want.length));
            k.conv2d(x, layer, bias, out, g);
            if (integer) assert.deepEqual(Array.from(out), Array.from(want), `${mode} ${JSON.stringify(c)}`);
            else expectClose(out, want, 1e-10, `${mode} ${JSON.stringify(c)}`);
          }),
          { seed: SEED + 4, numRuns: 25 },
        );
      } finally {
        k.destroy();
      }
    });
  }
});
