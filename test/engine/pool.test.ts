import assert from 'node:assert/strict';
import { test } from 'node:test';
import '../../kernels/index.js';
import { ShapeError, ValueError } from '../../base/errors.js';
import { type AvgPool2dOptions, avgPool2d, globalAvgPool2d, maxPool2d } from '../../engine/ops/pool.js';
import { Rng } from '../../base/rng.js';
import { tensor, zeros } from '../../engine/tensor.js';
import { avgPool2dForwardReference, maxPool2dForwardReference } from '../../kernels/reference/pool.js';
import { type Pool2dGeometry, convOutSize } from '../../kernels/types.js';
import { checkOp } from '../helpers/check.js';

function geom(s: number[], k: number, stride: number, pad: number, countIncludePad = true): Pool2dGeometry {
  return {
    batch: s[0], channels: s[1], inHeight: s[2], inWidth: s[3], kernelHeight: k, kernelWidth: k, strideH: stride, strideW: stride,
    padH: pad, padW: pad, outHeight: convOutSize(s[2], k, stride, pad, 1), outWidth: convOutSize(s[3], k, stride, pad, 1), countIncludePad,
  };
}
const outLen = (g: Pool2dGeometry): number => g.batch * g.channels * g.outHeight * g.outWidth;

/** Distinct values (a shuffled grid) so max pooling has no ties and finite differences stay on one side. */
function distinct(n: number, rng: Rng): Float64Array {
  const p = rng.permutation(n);
  return Float64Array.from(p, (v) => Math.fround((v - n / 2) / n));
}

function maxCase(s: number[], k: number, stride: number, pad: number): void {
  const g = geom(s, k, stride, pad);
  checkOp({
    name: `maxPool k${k} s${stride} p${pad}`,
    shapes: [s],
    inputs: (rng) => [distinct(s.reduce((a, b) => a * b, 1), rng)],
    eps: 1e-4,
    forward: (x) => maxPool2d(x, { kernelSize: k, stride, padding: pad }),
    reference: (x) => {
      const out = new Float64Array(outLen(g));
      maxPool2dForwardReference(x, out, new Int32Array(out.length), g);
      return out;
    },
  });
}

function avgCase(s: number[], o: AvgPool2dOptions & { kernelSize: number; stride: number; padding: number }): void {
  const g = geom(s, o.kernelSize, o.stride, o.padding, o.countIncludePad ?? true);
  checkOp({
    name: `avgPool ${JSON.stringify(o)}`,
    shapes: [s],
    forward: (x) => avgPool2d(x, o),
    reference: (x) => {
      const out = new Float64Array(outLen(g));
      avgPool2dForwardReference(x, out, g);
      return out;
    },
  });
}

test('maxPool2d 2x2 stride 2', () => maxCase([2, 3, 4, 6], 2, 2, 0));
test('maxPool2d 3x3 stride 2 pad 1 (ResNet stem)', () => maxCase([1, 2, 7, 7], 3, 2, 1));
test('maxPool2d overlapping 3x3 stride 1', () => maxCase([1, 2, 5, 5], 3, 1, 0));
test('avgPool2d 2x2', () => avgCase([2, 2, 4, 4], { kernelSize: 2, stride: 2, padding: 0 }));
test('avgPool2d 3x3 s1 p1 countIncludePad', () => avgCase([1, 2, 5, 4], { kernelSize: 3, stride: 1, padding: 1 }));
test('avgPool2d 3x3 s2 p1 excluding pad', () => avgCase([1, 2, 5, 5], { kernelSize: 3, stride: 2, padding: 1, countIncludePad: false }));

test('globalAvgPool2d', () => {
  checkOp({
    name: 'globalAvgPool2d',
    shapes: [[2, 3, 4, 5]],
    forward: globalAvgPool2d,
    reference: (x) => {
      const out = new Float64Array(6);
      for (let p = 0; p < 6; p++) {
        let s = 0;
        for (let i = 0; i < 20; i++) s += x[p * 20 + i];
        out[p] = s / 20;
      }
      return out;
    },
  });
});

test('maxPool2d hand example and tie goes to the first maximum', () => {
  const x = tensor([[[[1, 5, 2, 0], [3, 4, 7, 7], [0, 0, 1, 1], [0, 0, 1, 1]]]], undefined, true);
  const y = maxPool2d(x, { kernelSize: 2 });
  assert.deepEqual([...y.data], [5, 7, 0, 1]);
  y.backward(new Float32Array([1, 1, 1, 1]));
  assert.deepEqual([...x.grad!.data], [0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0]);
});

test('pool validation errors name the op', () => {
  assert.throws(() => maxPool2d(zeros([1, 2, 3]), { kernelSize: 2 }), (e: unknown) => e instanceof ShapeError && /^maxPool2d: .*4-D/.test(e.message));
  assert.throws(() => avgPool2d(zeros([1, 1, 4, 4]), { kernelSize: 2, stride: 0 }), (e: unknown) => e instanceof ValueError && /^avgPool2d: stride/.test(e.message));
  assert.throws(() => maxPool2d(zeros([1, 1, 4, 4]), { kernelSize: 2, padding: 2 }), (e: unknown) => e instanceof ValueError && /at most half/.test(e.message));
  assert.throws(() => maxPool2d(zeros([1, 1, 2, 2]), { kernelSize: 3 }), (e: unknown) => e instanceof ShapeError && /bigger than/.test(e.message));
  assert.throws(() => globalAvgPool2d(zeros([2, 3])), (e: unknown) => e instanceof ShapeError && /^globalAvgPool2d:/.test(e.message));
});
