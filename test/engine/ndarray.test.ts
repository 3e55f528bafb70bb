import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import ndarray from 'ndarray';
import { fromNdarray, toNdarray } from '../../engine/ndarray.js';
import { Tensor, arange } from '../../engine/tensor.js';

test('toNdarray is a row-major view sharing storage', () => {
  const t = new Tensor(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
  const a = toNdarray(t);
  assert.deepEqual(a.shape, [2, 3]);
  assert.equal(a.get(1, 0), 4);
  a.set(0, 2, 9);
  assert.equal(t.data[2], 9);
  assert.deepEqual(fromNdarray(a).toArray(), t.toArray());
});

test('fromNdarray copies transposed, stepped, sliced and offset views', () => {
  const base = ndarray(new Float64Array([0, 1, 2, 3, 4, 5]), [2, 3]);
  assert.deepEqual(fromNdarray(base.transpose(1, 0)).toArray(), [[0, 3], [1, 4], [2, 5]]);
  assert.deepEqual(fromNdarray(base.step(1, -1)).toArray(), [[2, 1, 0], [5, 4, 3]]);
  assert.deepEqual(fromNdarray(base.hi(2, 2).lo(0, 1)).toArray(), [[1], [4]]);
  const viaTensor = fromNdarray(toNdarray(new Tensor(arange(24).data, [2, 3, 4])).transpose(2, 0, 1));
  assert.deepEqual(viaTensor.shape, [4, 2, 3]);
  assert.equal(viaTensor.data[1], 4);
  assert.deepEqual(fromNdarray(ndarray(new Int32Array([7, 8]), [2])).toArray(), [7, 8]);
  assert.deepEqual(fromNdarray(ndarray(new Float32Array(0), [0, 3])).shape, [0, 3]);
});

test('fromNdarray agrees with get() for any strides (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }),
      fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
      fc.integer({ min: 0, max: 1000 }),
      (shape, flips, seed) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const data = Float64Array.from({ length: n }, (_, i) => (i * 7 + seed) % 101);
        let view = ndarray(data, shape);
        const perm = shape.map((_, i) => (i + seed) % shape.length);
        view = view.transpose(...perm);
        view = view.step(...view.shape.map((_, i) => (flips[i] ? -1 : 1)));
        const t = fromNdarray(view);
        assert.deepEqual(t.shape, view.shape);
        const idx = view.shape.map(() => 0);
        for (let k = 0; k < n; k++) {
          assert.equal(t.data[k], view.get(...idx));
          for (let d = idx.length - 1; d >= 0; d--) {
            if (++idx[d] < view.shape[d]) break;
            idx[d] = 0;
          }
        }
      },
    ),
    { seed: 77, numRuns: 100 },
  );
});
