import assert from 'node:assert/strict';
import { test } from 'node:test';
import '../../kernels/index.js';
import { ValueError } from '../../base/errors.js';
import { Rng } from '../../base/rng.js';
import { Tensor, ones, randn } from '../../engine/tensor.js';
import { dropout } from '../../engine/ops/dropout.js';

test('dropout is the identity in evaluation and for p = 0', () => {
  const x = randn([4, 5], new Rng(1));
  assert.equal(dropout(x, 0.5, false, new Rng(2)), x);
  assert.equal(dropout(x, 0, true, new Rng(2)), x);
});

test('inverted dropout: zeros with probability p, survivors scaled by 1/(1-p), mask from the rng', () => {
  const x = ones([100, 100]);
  const y = dropout(x, 0.25, true, new Rng(7));
  let zerosCount = 0;
  for (const v of y.data) {
    if (v === 0) zerosCount++;
    else assert.ok(Math.abs(v - 1 / 0.75) < 1e-6);
  }
  assert.ok(Math.abs(zerosCount / 10000 - 0.25) < 0.02, `dropped fraction ${zerosCount / 10000}`);
  // The mask is exactly one uniform draw per element, in order.
  const rng = new Rng(7);
  for (let i = 0; i < 50; i++) assert.equal(y.data[i] === 0, rng.uniform() < 0.25);
  // Same seed, same mask; different seed, different mask.
  assert.deepEqual(dropout(x, 0.25, true, new Rng(7)).data, y.data);
  assert.notDeepEqual(dropout(x, 0.25, true, new Rng(8)).data, y.data);
  assert.ok(dropout(x, 1, true, new Rng(1)).data.every((v) => v === 0));
});

test('dropout backward multiplies by the same mask', () => {
  const x = new Tensor(Float32Array.from({ length: 64 }, (_, i) => i - 30), [8, 8], true);
  const y = dropout(x, 0.5, true, new Rng(3));
  const g = Float32Array.from({ length: 64 }, (_, i) => i % 5);
  y.backward(g);
  // x has no zero except at i = 30, so the mask there is read back as y/x.
  for (let i = 0; i < 64; i++) {
    if (x.data[i] === 0) continue;
    assert.equal(x.grad!.data[i], g[i] * (y.data[i] / x.data[i]));
  }
});

test('dropout rejects p outside [0, 1]', () => {
  assert.throws(() => dropout(ones([2]), 1.5, true, new Rng(1)), ValueError);
  assert.throws(() => dropout(ones([2]), -0.1, true, new Rng(1)), ValueError);
  assert.throws(() => dropout(ones([2]), NaN, true, new Rng(1)), ValueError);
});
