import assert from 'node:assert/strict';
import { test } from 'node:test';
import '../../kernels/index.js';
import { ShapeError, ValueError } from '../../base/errors.js';
import { batchNorm } from '../../engine/ops/norm.js';
import { Tensor, tensor, zeros } from '../../engine/tensor.js';
import { batchNormForwardEvalReference, batchNormForwardTrainReference } from '../../kernels/reference/norm.js';
import { checkOp, expectAllClose } from '../helpers/check.js';

function trainRef(x: Float64Array, w: Float64Array | null, b: Float64Array | null, n: number, c: number, s: number): Float64Array {
  const out = new Float64Array(x.length);
  batchNormForwardTrainReference(x, w, b, 1e-5, out, new Float64Array(c), new Float64Array(c), { batch: n, channels: c, spatial: s });
  return out;
}

test('batchNorm training [N,C,H,W] with affine: forward and gradients', () => {
  checkOp({
    name: 'bn train 4d',
    shapes: [[3, 2, 2, 3], [2], [2]],
    forward: (x, w, b) => batchNorm(x, { weight: w, bias: b, runningMean: new Float32Array(2), runningVar: new Float32Array(2).fill(1), training: true }),
    reference: (x, w, b) => trainRef(x, w, b, 3, 2, 6),
    forwardBound: 1e-9,
  });
});

test('batchNorm training [N,C] without affine', () => {
  checkOp({
    name: 'bn train 2d',
    shapes: [[5, 3]],
    forward: (x) => batchNorm(x, { weight: null, bias: null, runningMean: null, runningVar: null, training: true }),
    reference: (x) => trainRef(x, null, null, 5, 3, 1),
    forwardBound: 1e-9,
  });
});

test('batchNorm eval uses running stats: forward and gradients', () => {
  const rm = Float32Array.from([0.1, -0.2]);
  const rv = Float32Array.from([0.5, 2]);
  checkOp({
    name: 'bn eval',
    shapes: [[2, 2, 3, 2], [2], [2]],
    forward: (x, w, b) => batchNorm(x, { weight: w, bias: b, runningMean: rm, runningVar: rv, training: false }),
    reference: (x, w, b) => {
      const out = new Float64Array(x.length);
      const inv = Float64Array.from(rv, (v) => 1 / Math.sqrt(v + 1e-5));
      batchNormForwardEvalReference(x, w, b, Float64Array.from(rm), inv, out, { batch: 2, channels: 2, spatial: 6 });
      return out;
    },
  });
});

test('batchNorm running stats match PyTorch (momentum 0.1, unbiased var)', () => {
  // PyTorch: bn = nn.BatchNorm2d(2); x = torch.tensor([[[[1.,2.],[3.,4.]],[[0.,0.],[0.,8.]]],
  //   [[[5.,6.],[7.,8.]],[[2.,2.],[2.,2.]]]]); bn(x)
  // ch0 values 1..8: mean 4.5, biased var 5.25, unbiased 6; ch1 {0,0,0,8,2,2,2,2}: mean 2, unbiased 48/7.
  const x = tensor([[[[1, 2], [3, 4]], [[0, 0], [0, 8]]], [[[5, 6], [7, 8]], [[2, 2], [2, 2]]]]);
  const rm = new Float32Array(2);
  const rv = new Float32Array([1, 1]);
  const y = batchNorm(x, { weight: null, bias: null, runningMean: rm, runningVar: rv, training: true });
  expectAllClose(rm, [0.45, 0.2], 1e-6, 1e-7, 'running_mean');
  expectAllClose(rv, [0.9 + 0.6, 0.9 + 0.1 * (48 / 7)], 1e-6, 1e-7, 'running_var');
  // normalised with the biased variance: (1 − 4.5)/√(5.25 + 1e-5)
  expectAllClose([y.data[0]], [(1 - 4.5) / Math.sqrt(5.25 + 1e-5)], 1e-6, 1e-7, 'y[0]');
  // second step with momentum 0.5 continues from the first
  batchNorm(x, { weight: null, bias: null, runningMean: rm, runningVar: rv, training: true, momentum: 0.5 });
  expectAllClose(rm, [0.5 * 0.45 + 0.5 * 4.5, 0.5 * 0.2 + 0.5 * 2], 1e-6, 1e-7, 'running_mean step 2');
  expectAllClose(rv, [0.5 * 1.5 + 0.5 * 6, 0.5 * (0.9 + 0.1 * (48 / 7)) + 0.5 * (48 / 7)], 1e-6, 1e-7, 'running_var step 2');
  // eval leaves running stats alone
  const before = [...rm, ...rv];
  batchNorm(x, { weight: null, bias: null, runningMean: rm, runningVar: rv, training: false });
  assert.deepEqual([...rm, ...rv], before);
});

test('batchNorm validation', () => {
  const w = zeros([3]);
  assert.throws(() => batchNorm(zeros([2, 3, 4]), { weight: null, bias: null, runningMean: null, runningVar: null, training: true }), (e: unknown) => e instanceof ShapeError && /^batchNorm:/.test(e.message));
  assert.throws(() => batchNorm(zeros([2, 2]), { weight: w, bias: null, runningMean: null, runningVar: null, training: true }), (e: unknown) => e instanceof ShapeError && /weight must have shape \[2\]/.test(e.message));
  assert.throws(() => batchNorm(zeros([2, 3]), { weight: null, bias: null, runningMean: new Float32Array(2), runningVar: new Float32Array(3), training: true }), ShapeError);
  assert.throws(() => batchNorm(zeros([2, 3]), { weight: null, bias: null, runningMean: new Float32Array(3), runningVar: null, training: true }), ValueError);
  assert.throws(() => batchNorm(zeros([1, 3]), { weight: null, bias: null, runningMean: null, runningVar: null, training: true }), (e: unknown) => e instanceof ValueError && /more than 1 value/.test(e.message));
  assert.doesNotThrow(() => batchNorm(new Tensor(new Float32Array(3), [1, 3]), { weight: null, bias: null, runningMean: new Float32Array(3), runningVar: new Float32Array(3).fill(1), training: false }));
});
