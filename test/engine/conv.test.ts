import assert from 'node:assert/strict';
import { test } from 'node:test';
import '../../kernels/index.js';
import { ShapeError, ValueError } from '../../base/errors.js';
import { conv2d } from '../../engine/ops/conv.js';
import { zeros } from '../../engine/tensor.js';
import { conv2dForwardReference } from '../../kernels/reference/conv.js';
import { type Conv2dOptions, conv2dGeometry } from '../../kernels/types.js';
import { checkOp } from '../helpers/check.js';

function convCase(name: string, x: number[], w: number[], opts: Conv2dOptions, withBias = true): void {
  const g = conv2dGeometry(x, w, opts);
  const outLen = g.batch * g.outChannels * g.outHeight * g.outWidth;
  checkOp({
    name,
    shapes: withBias ? [x, w, [w[0]]] : [x, w],
    forward: (xt, wt, bt) => conv2d(xt, wt, bt ?? null, opts),
    reference: (xv, wv, bv) => {
      const out = new Float64Array(outLen);
      conv2dForwardReference(xv, wv, bv ?? null, out, g);
      return out;
    },
  });
}

test('conv2d 3x3 pad 1 with bias', () => convCase('conv 3x3 p1', [2, 3, 5, 5], [4, 3, 3, 3], { padding: 1 }));
test('conv2d stride 2, no bias', () => convCase('conv s2', [1, 2, 7, 6], [3, 2, 3, 3], { stride: 2, padding: 1 }, false));
test('conv2d asymmetric stride/padding, rectangular kernel', () => convCase('conv rect', [2, 2, 6, 7], [2, 2, 2, 3], { stride: [2, 1], padding: [0, 1] }));
test('conv2d dilation 2', () => convCase('conv dil', [1, 2, 7, 7], [2, 2, 3, 3], { dilation: 2, padding: 2 }));
test('conv2d groups 2', () => convCase('conv groups', [2, 4, 5, 5], [6, 2, 3, 3], { groups: 2, padding: 1 }));
test('conv2d depthwise (groups = channels), stride 2', () => convCase('conv dw', [2, 3, 6, 6], [3, 1, 3, 3], { groups: 3, padding: 1, stride: 2 }));
test('conv2d depthwise with multiplier 2', () => convCase('conv dw x2', [1, 2, 5, 5], [4, 1, 3, 3], { groups: 2, padding: 1 }));
test('conv2d 1x1', () => convCase('conv 1x1', [2, 4, 3, 3], [5, 4, 1, 1], {}));
test('conv2d 1x1 stride 2', () => convCase('conv 1x1 s2', [2, 3, 5, 4], [2, 3, 1, 1], { stride: 2 }, false));

test('conv2d validation errors name the op', () => {
  const is = (cls: typeof ShapeError | typeof ValueError, re: RegExp) => (e: unknown) => e instanceof cls && /^conv2d: /.test((e as Error).message) && re.test((e as Error).message);
  assert.throws(() => conv2d(zeros([1, 3, 5]), zeros([2, 3, 3, 3])), is(ShapeError, /4-D/));
  assert.throws(() => conv2d(zeros([1, 3, 5, 5]), zeros([2, 3, 3])), is(ShapeError, /weight must be 4-D/));
  assert.throws(() => conv2d(zeros([1, 3, 5, 5]), zeros([2, 1, 3, 3]), null, { groups: 2 }), is(ShapeError, /not divisible by groups/));
  assert.throws(() => conv2d(zeros([1, 4, 5, 5]), zeros([3, 2, 3, 3]), null, { groups: 2 }), is(ShapeError, /output channels 3/));
  assert.throws(() => conv2d(zeros([1, 4, 5, 5]), zeros([2, 3, 3, 3])), is(ShapeError, /input channels per group/));
  assert.throws(() => conv2d(zeros([1, 3, 2, 2]), zeros([2, 3, 5, 5])), is(ShapeError, /bigger than the padded input/));
  assert.throws(() => conv2d(zeros([1, 3, 5, 5]), zeros([2, 3, 3, 3]), null, { stride: 0 }), is(ValueError, /stride/));
  assert.throws(() => conv2d(zeros([1, 3, 5, 5]), zeros([2, 3, 3, 3]), null, { padding: -1 }), is(ValueError, /padding/));
  assert.throws(() => conv2d(zeros([1, 3, 5, 5]), zeros([2, 3, 3, 3]), null, { groups: 0 }), is(ValueError, /groups/));
  assert.throws(() => conv2d(zeros([1, 3, 5, 5]), zeros([2, 3, 3, 3]), zeros([3])), is(ShapeError, /bias must have shape \[2\]/));
});

test('conv2d output shape follows PyTorch formula', () => {
  assert.deepEqual(conv2d(zeros([2, 3, 32, 32]), zeros([8, 3, 3, 3]), null, { stride: 2, padding: 1 }).shape, [2, 8, 16, 16]);
  assert.deepEqual(conv2d(zeros([1, 1, 10, 9]), zeros([1, 1, 3, 2]), null, { dilation: [2, 3] }).shape, [1, 1, 6, 6]);
});
