import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import '../../kernels/index.js';
import { kernelFor } from '../../kernels/registry.js';
import { logSoftmaxReference } from '../../kernels/reference/loss.js';
import { permuteReference } from '../../kernels/reference/movement.js';
import { ShapeError, ValueError } from '../../base/errors.js';
import { Rng } from '../../base/rng.js';
import { Tensor, tensor, zeros } from '../../engine/tensor.js';
import { accuracyCount, crossEntropy, logSoftmax, softmax } from '../../engine/ops/loss.js';
import { checkOp, expectClose, poison, randomValues } from '../helpers/check.js';

const refLogSoftmax = (rows: number, cols: number) => (x: Float64Array) => {
  const out = new Float64Array(x.length);
  logSoftmaxReference(x, rows, cols, out);
  return out;
};

/** log-softmax along axis 0 of [a, b] by transposing, normalising rows, transposing back. */
const refLogSoftmaxAxis0 = (a: number, b: number) => (x: Float64Array) => {
  const t = new Float64Array(x.length);
  permuteReference(x, [a, b], [1, 0], t);
  const l = refLogSoftmax(b, a)(t);
  const out = new Float64Array(x.length);
  permuteReference(l, [b, a], [1, 0], out);
  return out;
};

/** Composed spec of cross-entropy: logSoftmax, then (1−ε)·NLL + ε·mean(−logp), averaged or summed. */
const refCrossEntropy = (n: number, c: number, labels: number[], eps: number, reduction: 'mean' | 'sum') => (x: Float64Array) => {
  const logp = refLogSoftmax(n, c)(x);
  let total = 0;
  for (let r = 0; r < n; r++) {
    let smooth = 0;
    for (let j = 0; j < c; j++) smooth -= logp[r * c + j] / c;
    total += (1 - eps) * -logp[r * c + labels[r]] + eps * smooth;
  }
  return Float64Array.of(reduction === 'mean' ? total / n : total);
};

test('logSoftmax and softmax along any axis', () => {
  const wide = (rng: Rng) => [randomValues(12, rng, -4, 4)];
  checkOp({ name: 'logSoftmax', shapes: [[3, 4]], forward: (x) => logSoftmax(x), reference: refLogSoftmax(3, 4), inputs: wide });
  checkOp({ name: 'logSoftmax 3d', shapes: [[2, 2, 3]], forward: (x) => logSoftmax(x, 2), reference: refLogSoftmax(4, 3), inputs: wide });
  checkOp({ name: 'logSoftmax axis 0', shapes: [[3, 4]], forward: (x) => logSoftmax(x, 0), reference: refLogSoftmaxAxis0(3, 4), inputs: wide });
  checkOp({ name: 'softmax', shapes: [[3, 4]], forward: (x) => softmax(x), reference: (x) => refLogSoftmax(3, 4)(x).map(Math.exp), inputs: wide });
  checkOp({ name: 'softmax axis 0', shapes: [[3, 4]], forward: (x) => softmax(x, -2), reference: (x) => refLogSoftmaxAxis0(3, 4)(x).map(Math.exp), inputs: wide });
  // Stable for large logits.
  const big = logSoftmax(tensor([[1000, 0, -1000]]));
  assert.ok(Math.abs(big.data[0]) < 1e-6 && Math.abs(big.data[1] + 1000) < 1e-3);
  assert.throws(() => logSoftmax(tensor([[1, 2]]), 2), ValueError);
});

test('crossEntropy matches the composed logSoftmax + NLL spec (mean, sum, label smoothing)', () => {
  const labels = [2, 0, 3];
  for (const eps of [0, 0.1, 1]) {
    for (const reduction of ['mean', 'sum'] as const) {
      checkOp({
        name: `crossEntropy eps=${eps} ${reduction}`, shapes: [[3, 4]],
        forward: (x) => crossEntropy(x, labels, { labelSmoothing: eps, reduction }),
        reference: refCrossEntropy(3, 4, labels, eps, reduction), inputs: (rng) => [randomValues(12, rng, -3, 3)],
      });
    }
  }
  checkOp({ name: 'crossEntropy Int32Array labels', shapes: [[2, 5]], forward: (x) => crossEntropy(x, Int32Array.of(4, 1)), reference: refCrossEntropy(2, 5, [4, 1], 0, 'mean') });
});

test('crossEntropy known values (PyTorch)', () => {
  // Uniform logits: loss = log C regardless of smoothing.
  assert.ok(Math.abs(crossEntropy(zeros([4, 10]), [0, 1, 2, 9]).item() - Math.log(10)) < 1e-6);
  assert.ok(Math.abs(crossEntropy(zeros([4, 10]), [0, 1, 2, 9], { labelSmoothing: 0.3 }).item() - Math.log(10)) < 1e-6);
  // torch.nn.functional.cross_entropy(torch.tensor([[1., 2., 3.]]), torch.tensor([0])) = 2.4076059644
  assert.ok(Math.abs(crossEntropy(tensor([[1, 2, 3]]), [0]).item() - 2.4076059644) < 1e-6);
  // ... label_smoothing=0.1 → 0.9·2.4076059644 + 0.1·(2.4076 + 1.4076 + 0.4076)/3 = 2.3075...
  const smoothed = 0.9 * 2.4076059644 + (0.1 * (2.4076059644 + 1.4076059644 + 0.4076059644)) / 3;
  assert.ok(Math.abs(crossEntropy(tensor([[1, 2, 3]]), [0], { labelSmoothing: 0.1 }).item() - smoothed) < 1e-6);
  // Fused backward: (softmax − onehot) / N.
  const x = new Tensor(Float32Array.of(0, 0, 0, 0), [2, 2], true);
  crossEntropy(x, [0, 1]).backward();
  assert.deepEqual([...x.grad!.data], [-0.25, 0.25, 0.25, -0.25]);
});

test('crossEntropy rejects bad labels and shapes with typed errors', () => {
  const x = zeros([3, 5]);
  assert.throws(() => crossEntropy(x, [0, 5, 1]), (e: unknown) => e instanceof ValueError && /label 5 at index 1 is not a class index in \[0, 5\)/.test(e.message));
  assert.throws(() => crossEntropy(x, [0, 1, -1]), (e: unknown) => e instanceof ValueError && /label -1 at index 2/.test(e.message));
  assert.throws(() => crossEntropy(x, [0, 1.5, 1]), (e: unknown) => e instanceof ValueError && /label 1.5 at index 1/.test(e.message));
  assert.throws(() => crossEntropy(x, [0, 1]), ShapeError);
  assert.throws(() => crossEntropy(zeros([3]), [0, 1, 2]), ShapeError);
  assert.throws(() => crossEntropy(x, [0, 1, 2], { labelSmoothing: 1.5 }), ValueError);
  assert.throws(() => crossEntropy(x, [0, 1, 2], { reduction: 'none' as 'sum' }), ValueError);
});

test('accuracyCount counts first-argmax hits', () => {
  const logits = tensor([[0.1, 0.9, 0], [2, 1, 0], [1, 1, 0]]);
  assert.equal(accuracyCount(logits, [1, 0, 0]), 3);
  assert.equal(accuracyCount(logits, [1, 1, 1]), 1);
  assert.throws(() => accuracyCount(logits, [1, 0, 3]), ValueError);
});

test('cpu logSoftmax / softmaxCrossEntropy kernels match the reference', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 12 }), fc.constantFrom(0, 0.1, 0.5), fc.integer(), (rows, cols, eps, seed) => {
      const rng = new Rng(seed);
      const x = Float32Array.from(randomValues(rows * cols, rng, -6, 6));
      const labels = Int32Array.from({ length: rows }, () => rng.int(cols));
      const n = rows * cols;
      const [y, yRef, gx, gxRef, probs, probsRef] = [0, 1, 2, 3, 4, 5].map(() => poison(new Float32Array(n)));
      kernelFor('logSoftmax', 'cpu')(x, rows, cols, y);
      kernelFor('logSoftmax', 'reference')(x, rows, cols, yRef);
      expectClose(y, yRef, 1e-10, 'logSoftmax');
      const g = Float32Array.from(randomValues(n, rng));
      kernelFor('logSoftmaxBackward', 'cpu')(yRef, g, rows, cols, gx);
      kernelFor('logSoftmaxBackward', 'reference')(yRef, g, rows, cols, gxRef);
      expectClose(gx, gxRef, 1e-10, 'logSoftmaxBackward');
      const [losses, lossesRef] = [poison(new Float32Array(rows)), poison(new Float32Array(rows))];
      kernelFor('softmaxCrossEntropy', 'cpu')(x, labels, rows, cols, eps, losses, probs);
      kernelFor('softmaxCrossEntropy', 'reference')(x, labels, rows, cols, eps, lossesRef, probsRef);
      expectClose(losses, lossesRef, 1e-10, 'losses');
      expectClose(probs, probsRef, 1e-10, 'probs');
      kernelFor('softmaxCrossEntropyBackward', 'cpu')(probsRef, labels, rows, cols, eps, 0.25, gx);
      kernelFor('softmaxCrossEntropyBackward', 'reference')(probsRef, labels, rows, cols, eps, 0.25, gxRef);
      expectClose(gx, gxRef, 1e-10, 'softmaxCrossEntropyBackward');
    }),
    { seed: 606, numRuns: 200 },
  );
});
