import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import '../../kernels/index.js';
import { kernelFor } from '../../kernels/registry.js';
import { concatReference, padReference, permuteReference, sliceReference } from '../../kernels/reference/movement.js';
import { ShapeError, ValueError } from '../../base/errors.js';
import { Rng } from '../../base/rng.js';
import { Tensor, arange, tensor } from '../../engine/tensor.js';
import { concat, flatten, pad, permute, reshape, slice, transpose } from '../../engine/ops/movement.js';
import { mul } from '../../engine/ops/elementwise.js';
import { checkOp, expectClose, poison, randomValues } from '../helpers/check.js';
import { size } from './refs.js';

const refPermute = (shape: number[], perm: number[]) => (x: Float64Array) => {
  const out = new Float64Array(x.length);
  permuteReference(x, shape, perm, out);
  return out;
};
const refPad = (shape: number[], pads: [number, number][], value = 0) => (x: Float64Array) => {
  const out = new Float64Array(size(shape.map((d, i) => d + pads[i][0] + pads[i][1])));
  padReference(x, shape, pads, value, out);
  return out;
};
const refSlice = (shape: number[], starts: number[], steps: number[], outShape: number[]) => (x: Float64Array) => {
  const out = new Float64Array(size(outShape));
  sliceReference(x, shape, starts, steps, out, outShape);
  return out;
};

test('reshape/flatten share data and pass gradients through', () => {
  checkOp({ name: 'reshape', shapes: [[2, 6]], forward: (x) => reshape(x, [3, -1]), reference: (x) => x.slice() });
  checkOp({ name: 'flatten', shapes: [[2, 3, 2]], forward: (x) => flatten(x), reference: (x) => x.slice() });
  const x = arange(24);
  assert.deepEqual(reshape(x, [2, -1, 4]).shape, [2, 3, 4]);
  assert.equal(reshape(x, [4, 6]).data, x.data);
  assert.deepEqual(flatten(reshape(x, [2, 3, 4])).shape, [2, 12]);
  assert.deepEqual(flatten(reshape(x, [2, 3, 4]), 0).shape, [24]);
  assert.deepEqual(flatten(reshape(x, [2, 3, 4]), -1).shape, [2, 3, 4]);
  assert.throws(() => reshape(x, [5, -1]), ShapeError);
  assert.throws(() => reshape(x, [-1, -1]), ValueError);
  assert.throws(() => reshape(x, [5, 5]), (e: unknown) => e instanceof ShapeError && /holds 25 elements but the tensor \[24\] has 24/.test(e.message));
});

test('permute/transpose', () => {
  checkOp({ name: 'permute 3d', shapes: [[2, 3, 4]], forward: (x) => permute(x, [2, 0, 1]), reference: refPermute([2, 3, 4], [2, 0, 1]) });
  checkOp({ name: 'permute NCHW->NHWC', shapes: [[2, 3, 2, 2]], forward: (x) => permute(x, [0, 2, 3, 1]), reference: refPermute([2, 3, 2, 2], [0, 2, 3, 1]) });
  checkOp({ name: 'transpose', shapes: [[3, 5]], forward: (x) => transpose(x, 0, -1), reference: refPermute([3, 5], [1, 0]) });
  assert.deepEqual(transpose(tensor([[1, 2, 3], [4, 5, 6]]), 0, 1).toArray(), [[1, 4], [2, 5], [3, 6]]);
  assert.throws(() => permute(arange(6), [0, 0]), ValueError);
  assert.throws(() => permute(reshape(arange(6), [2, 3]), [0, 0]), ValueError);
  assert.throws(() => permute(reshape(arange(6), [2, 3]), [0, 2]), ValueError);
});

test('pad with constant value', () => {
  checkOp({ name: 'pad 2d', shapes: [[3, 4]], forward: (x) => pad(x, [[1, 2], [0, 3]]), reference: refPad([3, 4], [[1, 2], [0, 3]]) });
  checkOp({ name: 'pad NCHW spatial', shapes: [[1, 2, 3, 3]], forward: (x) => pad(x, [[0, 0], [0, 0], [2, 2], [1, 1]], -1), reference: refPad([1, 2, 3, 3], [[0, 0], [0, 0], [2, 2], [1, 1]], -1) });
  checkOp({ name: 'pad leading dims only', shapes: [[2, 3]], forward: (x) => pad(x, [[1, 1]]), reference: refPad([2, 3], [[1, 1], [0, 0]]) });
  assert.deepEqual(pad(tensor([1, 2]), [[1, 1]], 9).toArray(), [9, 1, 2, 9]);
  assert.throws(() => pad(tensor([1, 2]), [[-1, 0]]), ValueError);
  assert.throws(() => pad(tensor([1, 2]), [[0, 0], [0, 0]]), ShapeError);
});

test('slice with negative indices, clamping and steps', () => {
  checkOp({ name: 'slice', shapes: [[4, 5]], forward: (x) => slice(x, [1, 0], [3, 5]), reference: refSlice([4, 5], [1, 0], [1, 1], [2, 5]) });
  checkOp({ name: 'slice steps', shapes: [[5, 6]], forward: (x) => slice(x, [0, 1], [5, 6], [2, 3]), reference: refSlice([5, 6], [0, 1], [2, 3], [3, 2]) });
  checkOp({ name: 'slice negative', shapes: [[3, 6]], forward: (x) => slice(x, [0, -4], [3, -1]), reference: refSlice([3, 6], [0, 2], [1, 1], [3, 3]) });
  checkOp({ name: 'slice leading dim only', shapes: [[4, 3]], forward: (x) => slice(x, [1], [100]), reference: refSlice([4, 3], [1, 0], [1, 1], [3, 3]) });
  assert.deepEqual(slice(arange(10), [7], [3]).shape, [0]);
  assert.deepEqual(slice(arange(10), [1], [10], [4]).toArray(), [1, 5, 9]);
  assert.throws(() => slice(arange(10), [0], [5], [0]), ValueError);
  assert.throws(() => slice(arange(10), [0, 0], [5]), ShapeError);
});

test('concat along any axis', () => {
  checkOp({
    name: 'concat axis 1', shapes: [[2, 3], [2, 1], [2, 2]], forward: (a, b, c) => concat([a, b, c], 1),
    reference: (a, b, c) => { const out = new Float64Array(12); concatReference([a, b, c], 2, [3, 1, 2], out); return out; },
  });
  checkOp({
    name: 'concat axis 0', shapes: [[1, 3], [2, 3]], forward: (a, b) => concat([a, b], 0),
    reference: (a, b) => Float64Array.from([...a, ...b]),
  });
  checkOp({
    name: 'concat axis -1 with one untracked', shapes: [[2, 2, 2], [2, 2, 1]], grad: [true, false], forward: (a, b) => concat([a, b], -1),
    reference: (a, b) => { const out = new Float64Array(12); concatReference([a, b], 4, [2, 1], out); return out; },
  });
  assert.throws(() => concat([arange(3), reshape(arange(4), [2, 2])], 0), ShapeError);
  assert.throws(() => concat([], 0), ValueError);
  assert.throws(() => concat([arange(3)], 1), ValueError);
});

test('movement ops compose with elementwise gradients', () => {
  const x = new Tensor(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3], true);
  const y = mul(transpose(reshape(x, [3, 2]), 0, 1), 2);
  y.backward(new Float32Array(6).fill(1));
  assert.deepEqual([...x.grad!.data], [2, 2, 2, 2, 2, 2]);
});

const shapeArb = fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 });

test('cpu permute/pad/slice/sliceBackward/concat match the reference', () => {
  fc.assert(
    fc.property(shapeArb, fc.integer(), (shape, seed) => {
      const rng = new Rng(seed);
      const x = Float32Array.from(randomValues(size(shape), rng));
      const nd = shape.length;
      const perm = rng.permutation(nd);
      const outP = poison(new Float32Array(x.length));
      const refP = poison(new Float32Array(x.length));
      kernelFor('permute', 'cpu')(x, shape, [...perm], outP);
      kernelFor('permute', 'reference')(x, shape, [...perm], refP);
      expectClose(outP, refP, 0, 'permute');

      const pads = shape.map(() => [rng.int(3), rng.int(3)] as [number, number]);
      const padShape = shape.map((d, i) => d + pads[i][0] + pads[i][1]);
      const outPad = poison(new Float32Array(size(padShape)));
      const refPad = poison(new Float32Array(size(padShape)));
      kernelFor('pad', 'cpu')(x, shape, pads, 0.5, outPad);
      kernelFor('pad', 'reference')(x, shape, pads, 0.5, refPad);
      expectClose(outPad, refPad, 0, 'pad');

      const starts = shape.map((d) => rng.int(d));
      const steps = shape.map(() => 1 + rng.int(3));
      const outShape = shape.map((d, i) => Math.ceil((d - starts[i]) / steps[i]));
      const outS = poison(new Float32Array(size(outShape)));
      const refS = poison(new Float32Array(size(outShape)));
      kernelFor('slice', 'cpu')(x, shape, starts, steps, outS, outShape);
      kernelFor('slice', 'reference')(x, shape, starts, steps, refS, outShape);
      expectClose(outS, refS, 0, 'slice');
      const g = Float32Array.from(randomValues(size(outShape), rng));
      const gx = poison(new Float32Array(x.length));
      const gxRef = poison(new Float32Array(x.length));
      kernelFor('sliceBackward', 'cpu')(g, outShape, starts, steps, gx, shape);
      kernelFor('sliceBackward', 'reference')(g, outShape, starts, steps, gxRef, shape);
      expectClose(gx, gxRef, 0, 'sliceBackward');

      const outer = shape[0];
      const widths = [x.length / outer, 1 + rng.int(4), rng.int(3)];
      const parts = [x, ...widths.slice(1).map((w) => Float32Array.from(randomValues(outer * w, rng)))];
      const total = widths.reduce((a, b) => a + b, 0);
      const outC = poison(new Float32Array(outer * total));
      const refC = poison(new Float32Array(outer * total));
      kernelFor('concat', 'cpu')(parts, outer, widths, outC);
      kernelFor('concat', 'reference')(parts, outer, widths, refC);
      expectClose(outC, refC, 0, 'concat');
    }),
    { seed: 505, numRuns: 300 },
  );
});
