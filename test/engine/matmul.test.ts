import assert from 'node:assert/strict';
import { test } from 'node:test';
import '../../kernels/index.js';
import { ShapeError } from '../../base/errors.js';
import { linear, matmul } from '../../engine/ops/matmul.js';
import { Tensor, zeros } from '../../engine/tensor.js';
import { matmulReference } from '../../kernels/reference/matmul.js';
import { checkOp } from '../helpers/check.js';

/** float64 matmul of [bA, m, k]·[bB, k, n] with bA/bB ∈ {batch, 1}. */
function ref(a: Float64Array, b: Float64Array, batch: number, m: number, k: number, n: number, bA: number, bB: number): Float64Array {
  const out = new Float64Array(batch * m * n);
  matmulReference(a, b, out, { batch, m, k, n, transA: false, transB: false, batchA: bA, batchB: bB });
  return out;
}

test('matmul 2-D forward and backward', () => {
  checkOp({ name: 'matmul 2d', shapes: [[3, 5], [5, 4]], forward: matmul, reference: (a, b) => ref(a, b, 1, 3, 5, 4, 1, 1) });
});

test('matmul batched, both sides batched', () => {
  checkOp({ name: 'matmul batched', shapes: [[2, 3, 4], [2, 4, 2]], forward: matmul, reference: (a, b) => ref(a, b, 2, 3, 4, 2, 2, 2) });
});

test('matmul batched with a broadcast 2-D right side', () => {
  checkOp({ name: 'matmul bcast B', shapes: [[3, 2, 4], [4, 5]], forward: matmul, reference: (a, b) => ref(a, b, 3, 2, 4, 5, 3, 1) });
});

test('matmul batched with a broadcast left side [1, m, k]', () => {
  checkOp({ name: 'matmul bcast A', shapes: [[1, 2, 3], [4, 3, 2]], forward: matmul, reference: (a, b) => ref(a, b, 4, 2, 3, 2, 1, 4) });
});

test('matmul general leading-dim broadcast [2,1,m,k]·[3,k,n]', () => {
  const m = 2, k = 3, n = 2;
  checkOp({
    name: 'matmul bcast both',
    shapes: [[2, 1, m, k], [3, k, n]],
    forward: matmul,
    reference: (a, b) => {
      const out = new Float64Array(6 * m * n);
      for (let i = 0; i < 2; i++) {
        for (let j = 0; j < 3; j++) {
          const part = ref(a.subarray(i * m * k, (i + 1) * m * k), b.subarray(j * k * n, (j + 1) * k * n), 1, m, k, n, 1, 1);
          out.set(part, (i * 3 + j) * m * n);
        }
      }
      return out;
    },
  });
  assert.deepEqual(matmul(zeros([2, 1, m, k]), zeros([3, k, n])).shape, [2, 3, m, n]);
});

test('linear with and without bias', () => {
  const [N, I, O] = [4, 5, 3];
  const lin = (x: Float64Array, w: Float64Array, b?: Float64Array): Float64Array => {
    const out = new Float64Array(N * O);
    matmulReference(x, w, out, { batch: 1, m: N, k: I, n: O, transA: false, transB: true, batchA: 1, batchB: 1 });
    if (b) for (let r = 0; r < N; r++) for (let j = 0; j < O; j++) out[r * O + j] += b[j];
    return out;
  };
  checkOp({ name: 'linear+bias', shapes: [[N, I], [O, I], [O]], forward: (x, w, b) => linear(x, w, b), reference: lin });
  checkOp({ name: 'linear', shapes: [[N, I], [O, I]], forward: (x, w) => linear(x, w, null), reference: (x, w) => lin(x, w) });
});

test('matmul and linear reject bad shapes with ShapeError naming the op', () => {
  assert.throws(() => matmul(zeros([2, 3]), zeros([4, 2])), (e: unknown) => e instanceof ShapeError && /matmul: inner dims/.test(e.message));
  assert.throws(() => matmul(zeros([3]), zeros([3, 2])), (e: unknown) => e instanceof ShapeError && /at least 2 dims/.test(e.message));
  assert.throws(() => matmul(zeros([2, 2, 3]), zeros([3, 3, 2])), (e: unknown) => e instanceof ShapeError && /broadcast/.test(e.message));
  assert.throws(() => linear(zeros([2, 3]), zeros([4, 5])), (e: unknown) => e instanceof ShapeError && /^linear:/.test(e.message));
  assert.throws(() => linear(zeros([2, 3]), zeros([4, 3]), zeros([5])), (e: unknown) => e instanceof ShapeError && /bias/.test(e.message));
  assert.throws(() => linear(zeros([2, 3, 1]), zeros([4, 3])), ShapeError);
});

test('matmul with k = 0 gives zeros', () => {
  const y = matmul(new Tensor(new Float32Array(0), [2, 0]), new Tensor(new Float32Array(0), [0, 3]));
  assert.deepEqual([...y.data], [0, 0, 0, 0, 0, 0]);
});
