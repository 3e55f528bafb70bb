/**
 * The ops EfficientNet adds to the engine: TensorFlow "same" padding with per-side pads
 * (conv2dPadded, samePadding), squeeze-and-excitation, and drop-connect. Forward against float64
 * references written out here from the reference kernels, backward against finite differences.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import '../../kernels/index.js';
import { ValueError } from '../../base/errors.js';
import { conv2dPadded, samePadding } from '../../engine/ops/conv.js';
import { dropConnect } from '../../engine/ops/dropout.js';
import { squeezeExcitation } from '../../engine/ops/excite.js';
import { Rng } from '../../base/rng.js';
import { Tensor, ones, randn } from '../../engine/tensor.js';
import { conv2dForwardReference } from '../../kernels/reference/conv.js';
import { conv2dGeometry } from '../../kernels/types.js';
import { checkOp } from '../helpers/check.js';

/** Zero-pads an NCHW float64 array per side. */
function padRef(x: Float64Array, [n, c, h, w]: readonly number[], [t, b, l, r]: readonly number[]): Float64Array {
  const H = h + t + b;
  const W = w + l + r;
  const out = new Float64Array(n * c * H * W);
  for (let p = 0; p < n * c; p++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) out[(p * H + i + t) * W + j + l] = x[(p * h + i) * w + j];
  return out;
}

function convRef(x: Float64Array, xs: readonly number[], wv: Float64Array, ws: readonly number[], b: Float64Array | null, stride: number, groups = 1): Float64Array {
  const g = conv2dGeometry(xs, ws, { stride, groups });
  const out = new Float64Array(g.batch * g.outChannels * g.outHeight * g.outWidth);
  conv2dForwardReference(x, wv, b, out, g);
  return out;
}

test('samePadding is TensorFlow SAME: output ceil(size/stride), the odd pad after', () => {
  assert.deepEqual(samePadding(224, 3, 2), [0, 1]);
  assert.deepEqual(samePadding(224, 5, 2), [1, 2]);
  assert.deepEqual(samePadding(224, 3, 1), [1, 1]);
  assert.deepEqual(samePadding(224, 5, 1), [2, 2]);
  assert.deepEqual(samePadding(15, 5, 2), [2, 2]);
  assert.deepEqual(samePadding(7, 1, 1), [0, 0]);
  assert.deepEqual(samePadding(225, 3, 2), [1, 1]);
  for (let size = 1; size < 40; size++) {
    for (const k of [1, 3, 5]) {
      for (const s of [1, 2]) {
        const [a, b] = samePadding(size, k, s);
        assert.equal(Math.floor((size + a + b - k) / s) + 1, Math.ceil(size / s), `size ${size} k ${k} s ${s}`);
        assert.ok(b - a === 0 || b - a === 1);
      }
    }
  }
  assert.throws(() => samePadding(0, 3, 1), ValueError);
});

for (const [name, xs, ws, stride, pads, groups] of [
  ['3x3/2 pads 0,1 (asymmetric)', [2, 3, 6, 6], [4, 3, 3, 3], 2, [0, 1, 0, 1], 1],
  ['5x5/2 depthwise pads 1,2 on an odd input', [1, 3, 7, 7], [3, 1, 5, 5], 2, [1, 2, 1, 2], 3],
  ['3x3/1 symmetric pads (no copy)', [1, 2, 5, 5], [2, 2, 3, 3], 1, [1, 1, 1, 1], 1],
  ['per-side pads that differ in all four', [1, 2, 5, 6], [3, 2, 3, 3], 1, [0, 2, 1, 0], 1],
] as const) {
  test(`conv2dPadded ${name} = conv of the zero-padded input`, () => {
    const padded = [xs[0], xs[1], xs[2] + pads[0] + pads[1], xs[3] + pads[2] + pads[3]];
    checkOp({
      name,
      shapes: [xs, ws, [ws[0]]],
      forward: (x, w, b) => conv2dPadded(x, w, b, { stride, groups, pads }),
      reference: (x, w, b) => convRef(padRef(x, xs, pads), padded, w, ws, b, stride, groups),
    });
  });
}

test('conv2dPadded rejects malformed pads', () => {
  const x = randn([1, 1, 4, 4], new Rng(1));
  const w = randn([1, 1, 3, 3], new Rng(2));
  assert.throws(() => conv2dPadded(x, w, null, { pads: [1, 1, 1] as never }), ValueError);
  assert.throws(() => conv2dPadded(x, w, null, { pads: [1, -1, 1, 1] }), ValueError);
});

test('squeezeExcitation = x · σ(W2·swish(W1·mean(x) + b1) + b2), gradients for x and all four weights', () => {
  const [N, C, H, W, S] = [2, 4, 3, 3, 2];
  const sig = (v: number): number => 1 / (1 + Math.exp(-v));
  checkOp({
    name: 'squeezeExcitation',
    shapes: [[N, C, H, W], [S, C, 1, 1], [S], [C, S, 1, 1], [C]],
    forward: (x, rw, rb, ew, eb) => squeezeExcitation(x, { reduceWeight: rw, reduceBias: rb, expandWeight: ew, expandBias: eb }),
    reference: (x, rw, rb, ew, eb) => {
      const out = new Float64Array(x.length);
      for (let n = 0; n < N; n++) {
        const m = Array.from({ length: C }, (_, c) => {
          let s = 0;
          for (let k = 0; k < H * W; k++) s += x[(n * C + c) * H * W + k];
          return s / (H * W);
        });
        const z = Array.from({ length: S }, (_, s) => {
          let v = rb[s];
          for (let c = 0; c < C; c++) v += rw[s * C + c] * m[c];
          return v * sig(v);
        });
        for (let c = 0; c < C; c++) {
          let v = eb[c];
          for (let s = 0; s < S; s++) v += ew[c * S + s] * z[s];
          const gate = sig(v);
          for (let k = 0; k < H * W; k++) out[(n * C + c) * H * W + k] = x[(n * C + c) * H * W + k] * gate;
        }
      }
      return out;
    },
  });
});

test('squeezeExcitation checks the weight shapes against the channels', () => {
  const x = randn([1, 4, 2, 2], new Rng(1));
  const t = (s: number[]): Tensor => randn(s, new Rng(3));
  assert.throws(() => squeezeExcitation(x, { reduceWeight: t([2, 3, 1, 1]), reduceBias: null, expandWeight: t([4, 2, 1, 1]), expandBias: null }), /do not fit 4 channels/);
});

test('dropConnect drops whole samples with probability p, scales the rest by 1/(1-p), seeded', () => {
  const x = ones([400, 2, 3, 3]);
  const y = dropConnect(x, 0.3, true, new Rng(5));
  const rng = new Rng(5);
  let dropped = 0;
  for (let n = 0; n < 400; n++) {
    const drop = rng.uniform() < 0.3;
    dropped += drop ? 1 : 0;
    for (let k = 0; k < 18; k++) assert.equal(y.data[n * 18 + k], drop ? 0 : Math.fround(1 / 0.7), `sample ${n}`);
  }
  assert.ok(Math.abs(dropped / 400 - 0.3) < 0.07, `dropped ${dropped}/400`);
  assert.deepEqual(dropConnect(x, 0.3, true, new Rng(5)).data, y.data);
  assert.notDeepEqual(dropConnect(x, 0.3, true, new Rng(6)).data, y.data);
});

test('dropConnect is the identity in evaluation and at p = 0; backward uses the same per-sample mask', () => {
  const x = randn([3, 2, 2, 2], new Rng(1));
  assert.equal(dropConnect(x, 0.5, false, new Rng(1)), x);
  assert.equal(dropConnect(x, 0, true, new Rng(1)), x);
  const xt = new Tensor(Float32Array.from({ length: 24 }, (_, i) => i + 1), [3, 2, 2, 2], true);
  const y = dropConnect(xt, 0.5, true, new Rng(11));
  y.backward(new Float32Array(24).fill(1));
  for (let i = 0; i < 24; i++) assert.equal(xt.grad!.data[i], y.data[i] / xt.data[i]);
  assert.throws(() => dropConnect(x, 1, true, new Rng(1)), ValueError);
  assert.throws(() => dropConnect(x, -0.1, true, new Rng(1)), ValueError);
});
