import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import '../../kernels/index.js';
import { kernelFor } from '../../kernels/registry.js';
import { ValueError } from '../../base/errors.js';
import { Rng } from '../../base/rng.js';
import { Tensor, tensor } from '../../engine/tensor.js';
import { max, mean, sum, variance } from '../../engine/ops/reduce.js';
import { checkOp, expectClose, poison, randomValues } from '../helpers/check.js';
import { refMax, refSum, size } from './refs.js';

function refVariance(shape: number[], axes: number[], unbiased: boolean): (x: Float64Array) => Float64Array {
  return (x) => {
    const n = axes.reduce((a, d) => a * shape[d], 1);
    const m = refSum(shape, axes, 1 / n)(x);
    const keptStrides: number[] = [];
    let acc = 1;
    for (let d = shape.length - 1; d >= 0; d--) {
      keptStrides[d] = axes.includes(d) ? 0 : acc;
      if (!axes.includes(d)) acc *= shape[d];
    }
    const sq = new Float64Array(x.length);
    const idx = shape.map(() => 0);
    for (let k = 0; k < x.length; k++) {
      const o = idx.reduce((s, v, d) => s + v * keptStrides[d], 0);
      sq[k] = (x[k] - m[o]) ** 2;
      for (let d = shape.length - 1; d >= 0; d--) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
    return refSum(shape, axes, 1 / (n - (unbiased ? 1 : 0)))(sq);
  };
}

test('sum/mean over any axes, keepdim, negative axes', () => {
  checkOp({ name: 'sum all', shapes: [[3, 4]], forward: (x) => sum(x), reference: refSum([3, 4], [0, 1]) });
  checkOp({ name: 'sum axis 1', shapes: [[3, 4]], forward: (x) => sum(x, 1), reference: refSum([3, 4], [1]) });
  checkOp({ name: 'sum axis -2 keepdim', shapes: [[3, 4]], forward: (x) => sum(x, -2, true), reference: refSum([3, 4], [0]) });
  checkOp({ name: 'sum NCHW over [0,2,3]', shapes: [[2, 3, 2, 2]], forward: (x) => sum(x, [0, 2, 3]), reference: refSum([2, 3, 2, 2], [0, 2, 3]) });
  checkOp({ name: 'sum middle', shapes: [[2, 3, 4]], forward: (x) => sum(x, [1]), reference: refSum([2, 3, 4], [1]) });
  checkOp({ name: 'sum no axes', shapes: [[2, 3]], forward: (x) => sum(x, []), reference: refSum([2, 3], []) });
  checkOp({ name: 'mean all', shapes: [[3, 5]], forward: (x) => mean(x), reference: refSum([3, 5], [0, 1], 1 / 15) });
  checkOp({ name: 'mean [0,2] keepdim', shapes: [[2, 3, 4]], forward: (x) => mean(x, [2, 0], true), reference: refSum([2, 3, 4], [0, 2], 1 / 8) });
  checkOp({ name: 'sum 0-d', shapes: [[]], forward: (x) => sum(x), reference: (x) => x.slice() });
});

test('max gives the gradient to the first maximum', () => {
  checkOp({ name: 'max all', shapes: [[3, 4]], forward: (x) => max(x), reference: refMax([3, 4], [0, 1]) });
  checkOp({ name: 'max axis 1', shapes: [[3, 4]], forward: (x) => max(x, 1), reference: refMax([3, 4], [1]) });
  checkOp({ name: 'max [0, 2] keepdim', shapes: [[2, 3, 4]], forward: (x) => max(x, [0, 2], true), reference: refMax([2, 3, 4], [0, 2]) });
  const x = tensor([[1, 3, 3], [2, 2, 0]], undefined, true);
  const m = max(x, 1);
  assert.deepEqual([...m.data], [3, 2]);
  m.backward(new Float32Array([1, 10]));
  assert.deepEqual([...x.grad!.data], [0, 1, 0, 10, 0, 0]);
  assert.throws(() => max(new Tensor(new Float32Array(0), [2, 0]), 1), ValueError);
});

test('variance (biased and unbiased) composes correctly with gradients', () => {
  checkOp({ name: 'variance all', shapes: [[3, 4]], forward: (x) => variance(x), reference: refVariance([3, 4], [0, 1], false) });
  checkOp({ name: 'variance axis 0 unbiased', shapes: [[5, 3]], forward: (x) => variance(x, 0, false, true), reference: refVariance([5, 3], [0], true) });
  checkOp({ name: 'variance NCHW keepdim', shapes: [[2, 3, 2, 2]], forward: (x) => variance(x, [0, 2, 3], true), reference: refVariance([2, 3, 2, 2], [0, 2, 3], false) });
  assert.ok(Math.abs(variance(tensor([1, 2, 3, 4]), 0, false, true).item() - 5 / 3) < 1e-6);
});

test('bad axes throw a ValueError naming the axis', () => {
  const x = new Tensor(new Float32Array(6), [2, 3]);
  assert.throws(() => sum(x, 2), (e: unknown) => e instanceof ValueError && /sum: axis 2 is out of range/.test(e.message));
  assert.throws(() => mean(x, -3), ValueError);
  assert.throws(() => max(x, [1, -1]), (e: unknown) => e instanceof ValueError && /given twice/.test(e.message));
  assert.throws(() => sum(x, 0.5), ValueError);
  assert.deepEqual(sum(x, 1, true).shape, [2, 1]);
  assert.deepEqual(sum(x).shape, []);
});

const reduceCase = fc
  .array(fc.integer({ min: 1, max: 5 }), { minLength: 0, maxLength: 5 })
  .chain((shape) => fc.record({ shape: fc.constant(shape), mask: fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }), seed: fc.integer() }));

test('cpu reduceSum/reduceMax/scatterAdd match the reference over random shapes and axes', () => {
  fc.assert(
    fc.property(reduceCase, ({ shape, mask, seed }) => {
      const axes = shape.map((_, d) => d).filter((d) => mask[d]);
      const rng = new Rng(seed);
      const x = Float32Array.from(randomValues(size(shape), rng));
      // Ties: copy a few values so first-max selection is exercised.
      for (let i = 1; i < x.length; i += 3) x[i] = x[i - 1];
      const n = size(shape.filter((_, d) => !mask[d]));
      const s = poison(new Float32Array(n));
      const sRef = poison(new Float32Array(n));
      kernelFor('reduceSum', 'cpu')(x, shape, axes, s);
      kernelFor('reduceSum', 'reference')(x, shape, axes, sRef);
      expectClose(s, sRef, 1e-10, 'reduceSum');
      const m = poison(new Float32Array(n));
      const mRef = poison(new Float32Array(n));
      const am = new Int32Array(n).fill(-7);
      const amRef = new Int32Array(n).fill(-7);
      kernelFor('reduceMax', 'cpu')(x, shape, axes, m, am);
      kernelFor('reduceMax', 'reference')(x, shape, axes, mRef, amRef);
      expectClose(m, mRef, 0, 'reduceMax');
      assert.deepEqual([...am], [...amRef]);
      const g = Float32Array.from(randomValues(n, rng));
      const gx = poison(new Float32Array(x.length));
      const gxRef = poison(new Float32Array(x.length));
      kernelFor('scatterAdd', 'cpu')(g, am, gx);
      kernelFor('scatterAdd', 'reference')(g, amRef, gxRef);
      expectClose(gx, gxRef, 0, 'scatterAdd');
    }),
    { seed: 404, numRuns: 300 },
  );
});
