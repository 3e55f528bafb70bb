import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import '../../kernels/index.js';
import { kernelFor } from '../../kernels/registry.js';
import type { BinaryOp, UnaryOp } from '../../kernels/types.js';
import { ShapeError } from '../../base/errors.js';
import { Rng } from '../../base/rng.js';
import { Tensor, tensor } from '../../engine/tensor.js';
import {
  abs, add, div, exp, log, maximum, minimum, mul, neg, pow, relu, relu6, scale, sigmoid, silu, sqrt, sub, swish, tanh,
} from '../../engine/ops/elementwise.js';
import { broadcastShapes, broadcastStrides } from '../../engine/ops/broadcast.js';
import { checkOp, expectClose, poison, randomValues } from '../helpers/check.js';
import { refBinary, refUnary, size } from './refs.js';

const positive = (...shapes: number[][]) => (rng: Rng) => shapes.map((s) => randomValues(size(s), rng, 0.2, 2));
const wide = (lo: number, hi: number, ...shapes: number[][]) => (rng: Rng) => shapes.map((s) => randomValues(size(s), rng, lo, hi));

test('unary ops: forward vs float64 reference, backward vs finite differences', () => {
  checkOp({ name: 'neg', shapes: [[3, 4]], forward: neg, reference: refUnary('neg') });
  checkOp({ name: 'exp', shapes: [[3, 4]], forward: exp, reference: refUnary('exp') });
  checkOp({ name: 'log', shapes: [[3, 4]], forward: log, reference: refUnary('log'), inputs: positive([3, 4]) });
  checkOp({ name: 'sqrt', shapes: [[3, 4]], forward: sqrt, reference: refUnary('sqrt'), inputs: positive([3, 4]) });
  checkOp({ name: 'abs', shapes: [[5, 4]], forward: abs, reference: refUnary('abs') });
  checkOp({ name: 'relu', shapes: [[5, 4]], forward: relu, reference: refUnary('relu') });
  checkOp({ name: 'relu6', shapes: [[6, 7]], forward: relu6, reference: refUnary('relu6'), inputs: wide(-8, 8, [6, 7]) });
  checkOp({ name: 'sigmoid', shapes: [[3, 4]], forward: sigmoid, reference: refUnary('sigmoid'), inputs: wide(-5, 5, [3, 4]) });
  checkOp({ name: 'tanh', shapes: [[3, 4]], forward: tanh, reference: refUnary('tanh'), inputs: wide(-3, 3, [3, 4]) });
  checkOp({ name: 'swish', shapes: [[3, 4]], forward: swish, reference: refUnary('swish'), inputs: wide(-5, 5, [3, 4]) });
  checkOp({ name: 'silu', shapes: [[2, 3]], forward: silu, reference: refUnary('swish') });
  checkOp({ name: 'unary 0-d', shapes: [[]], forward: tanh, reference: refUnary('tanh') });
});

test('binary ops with NumPy broadcasting: forward and both gradients', () => {
  const cases: [BinaryOp, (a: Tensor, b: Tensor) => Tensor][] = [['add', add], ['sub', sub], ['mul', mul], ['div', div], ['maximum', maximum], ['minimum', minimum]];
  const shapePairs: [number[], number[]][] = [[[3, 4], [3, 4]], [[2, 3, 4], [4]], [[2, 1, 4], [3, 1]], [[4], [2, 3, 4]], [[2, 3], []], [[1, 3, 1, 2], [2, 1, 5, 1]]];
  for (const [op, f] of cases) {
    for (const [sa, sb] of shapePairs) {
      const inputs = op === 'div' ? (rng: Rng) => [randomValues(size(sa), rng), randomValues(size(sb), rng, 0.5, 2)] : undefined;
      checkOp({ name: `${op} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`, shapes: [sa, sb], forward: f, reference: refBinary(op, sa, sb), inputs });
    }
  }
  checkOp({ name: 'pow', shapes: [[3, 4], [3, 4]], forward: pow, reference: refBinary('pow', [3, 4], [3, 4]), inputs: (rng) => [randomValues(12, rng, 0.2, 2), randomValues(12, rng, -2, 2)] });
  checkOp({ name: 'pow broadcast exponent', shapes: [[3, 4], [1]], forward: pow, reference: refBinary('pow', [3, 4], [1]), inputs: positive([3, 4], [1]) });
});

test('binary ops accept a number on either side', () => {
  const x = tensor([1, 2, 4], [3], true);
  assert.deepEqual([...add(x, 1).data], [2, 3, 5]);
  assert.deepEqual([...sub(1, x).data], [0, -1, -3]);
  assert.deepEqual([...div(1, x).data], [1, 0.5, 0.25]);
  assert.deepEqual([...pow(x, 2).data], [1, 4, 16]);
  assert.deepEqual([...pow(2, x).data], [2, 4, 16]);
  assert.deepEqual([...scale(x, 3).data], [3, 6, 12]);
  checkOp({ name: 'rsub', shapes: [[3]], forward: (t) => sub(2, t), reference: (a) => a.map((v) => 2 - v) });
  checkOp({ name: 'rdiv', shapes: [[3]], forward: (t) => div(1, t), reference: (a) => a.map((v) => 1 / v), inputs: positive([3]) });
  checkOp({ name: 'scale', shapes: [[2, 3]], forward: (t) => scale(t, -1.5), reference: (a) => a.map((v) => -1.5 * v) });
  checkOp({ name: 'pow scalar exponent', shapes: [[4]], forward: (t) => pow(t, 3), reference: (a) => a.map((v) => v ** 3) });
});

test('maximum/minimum split the gradient on ties and propagate NaN', () => {
  const a = tensor([1, 2, 3], [3], true);
  const b = tensor([1, 5, 0], [3], true);
  const y = maximum(a, b);
  y.backward(new Float32Array([1, 1, 1]));
  assert.deepEqual([...a.grad!.data], [0.5, 0, 1]);
  assert.deepEqual([...b.grad!.data], [0.5, 1, 0]);
  assert.ok(Number.isNaN(maximum(tensor([NaN]), tensor([1])).data[0]));
  assert.ok(Number.isNaN(minimum(tensor([1]), tensor([NaN])).data[0]));
});

test('broadcast shapes follow NumPy and reject incompatible shapes with a ShapeError', () => {
  assert.deepEqual(broadcastShapes([4, 1, 3], [5, 1], 'add'), [4, 5, 3]);
  assert.deepEqual(broadcastShapes([], [2, 3], 'add'), [2, 3]);
  assert.deepEqual(broadcastShapes([0, 1], [1, 3], 'add'), [0, 3]);
  assert.deepEqual(broadcastStrides([3, 1], [2, 3, 4]), [0, 1, 0]);
  assert.throws(() => add(tensor([1, 2, 3]), tensor([1, 2])), (e: unknown) => e instanceof ShapeError && /add: shapes \[3\] and \[2\] do not broadcast/.test(e.message));
  assert.throws(() => mul(new Tensor(new Float32Array(6), [2, 3]), new Tensor(new Float32Array(4), [2, 2])), ShapeError);
  assert.throws(() => add(new Tensor(new Float32Array(6), [2, 3]), new Tensor(new Float32Array(2), [2])), ShapeError);
  assert.deepEqual(add(new Tensor(new Float32Array(0), [0, 3]), tensor([1, 2, 3])).shape, [0, 3]);
});

// ------------------------------------------------------------------- cpu kernels vs reference

const UNARY: UnaryOp[] = ['neg', 'exp', 'log', 'sqrt', 'abs', 'relu', 'relu6', 'sigmoid', 'tanh', 'swish'];
const BINARY: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum'];

/** A random output shape and two input shapes that broadcast to it (dims dropped or set to 1). */
const broadcastCase = fc
  .array(fc.integer({ min: 1, max: 5 }), { minLength: 0, maxLength: 4 })
  .chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      maskA: fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }),
      maskB: fc.array(fc.boolean(), { minLength: shape.length, maxLength: shape.length }),
      dropA: fc.integer({ min: 0, max: shape.length }),
      dropB: fc.integer({ min: 0, max: shape.length }),
      seed: fc.integer(),
    }),
  )
  .map(({ shape, maskA, maskB, dropA, dropB, seed }) => ({
    outShape: shape,
    sa: shape.map((d, i) => (maskA[i] ? 1 : d)).slice(dropA),
    sb: shape.map((d, i) => (maskB[i] ? 1 : d)).slice(dropB),
    seed,
  }));

function values(n: number, rng: Rng, op: BinaryOp | UnaryOp, side: 'a' | 'b'): Float32Array {
  const positiveDomain = op === 'log' || op === 'sqrt' || (op === 'pow' && side === 'a');
  const v = randomValues(n, rng, positiveDomain ? 0.1 : -3, 3);
  if (op === 'div' && side === 'b') for (let i = 0; i < n; i++) if (Math.abs(v[i]) < 0.1) v[i] = 0.5;
  // Exact ties and zeros exercise the kink conventions.
  if (n > 2 && !(op === 'div' && side === 'b')) v[0] = 0;
  return Float32Array.from(v);
}

test('cpu unary and unaryBackward match the reference', () => {
  fc.assert(
    fc.property(fc.constantFrom(...UNARY), fc.integer({ min: 0, max: 300 }), fc.integer(), (op, n, seed) => {
      const rng = new Rng(seed);
      const x = values(n, rng, op, 'a');
      if (op === 'log' || op === 'sqrt') for (let i = 0; i < n; i++) if (x[i] === 0) x[i] = 1;
      const g = Float32Array.from(randomValues(n, rng));
      const y = poison(new Float32Array(n));
      const yRef = poison(new Float32Array(n));
      kernelFor('unary', 'cpu')(op, x, y);
      kernelFor('unary', 'reference')(op, x, yRef);
      expectClose(y, yRef, 1e-10, `${op} forward`);
      const gx = poison(new Float32Array(n));
      const gxRef = poison(new Float32Array(n));
      kernelFor('unaryBackward', 'cpu')(op, x, yRef, g, gx);
      kernelFor('unaryBackward', 'reference')(op, x, yRef, g, gxRef);
      expectClose(gx, gxRef, 1e-10, `${op} backward`);
    }),
    { seed: 101, numRuns: 200 },
  );
});

test('cpu binary and binaryBackward match the reference over random broadcasts', () => {
  fc.assert(
    fc.property(fc.constantFrom(...BINARY), broadcastCase, (op, { sa, sb, seed }) => {
      const shape = broadcastShapes(sa, sb, op);
      const rng = new Rng(seed);
      const a = values(size(sa), rng, op, 'a');
      const b = values(size(sb), rng, op, 'b');
      if (op === 'pow') for (let i = 0; i < a.length; i++) if (a[i] === 0) a[i] = 0.5;
      const n = size(shape);
      const as = broadcastStrides(sa, shape);
      const bs = broadcastStrides(sb, shape);
      const y = poison(new Float32Array(n));
      const yRef = poison(new Float32Array(n));
      kernelFor('binary', 'cpu')(op, a, as, b, bs, y, shape);
      kernelFor('binary', 'reference')(op, a, as, b, bs, yRef, shape);
      expectClose(y, yRef, 1e-10, `${op} forward ${JSON.stringify([sa, sb])}`);
      const g = Float32Array.from(randomValues(n, rng));
      const [ga, gb, gaRef, gbRef] = [0, 1, 2, 3].map(() => poison(new Float32Array(n)));
      kernelFor('binaryBackward', 'cpu')(op, a, as, b, bs, yRef, g, ga, gb, shape);
      kernelFor('binaryBackward', 'reference')(op, a, as, b, bs, yRef, g, gaRef, gbRef, shape);
      expectClose(ga, gaRef, 1e-10, `${op} gradA`);
      expectClose(gb, gbRef, 1e-10, `${op} gradB`);
      // One side only (the other input needs no gradient).
      const gaOnly = poison(new Float32Array(n));
      kernelFor('binaryBackward', 'cpu')(op, a, as, b, bs, yRef, g, gaOnly, null, shape);
      expectClose(gaOnly, gaRef, 1e-10, `${op} gradA alone`);
    }),
    { seed: 202, numRuns: 300 },
  );
});

test('cpu expand matches the reference', () => {
  fc.assert(
    fc.property(broadcastCase, ({ outShape, sa, seed }) => {
      const shape = broadcastShapes(sa, outShape, 'expand');
      const x = Float32Array.from(randomValues(size(sa), new Rng(seed)));
      const st = broadcastStrides(sa, shape);
      const out = poison(new Float32Array(size(shape)));
      const ref = poison(new Float32Array(size(shape)));
      kernelFor('expand', 'cpu')(x, st, out, shape);
      kernelFor('expand', 'reference')(x, st, ref, shape);
      expectClose(out, ref, 0, 'expand');
    }),
    { seed: 303, numRuns: 200 },
  );
});

test('relu and relu6 keep NaN (as PyTorch) on every backend, in the SIMD body and the scalar tail', () => {
  // 67 elements: the wasm path (>= 64) runs 16 SIMD groups of 4 and a tail of 3; 5 stays in JS.
  for (const n of [5, 67]) {
    const x = new Float32Array(n).map((_, i) => (i % 7) - 3);
    const probes: [number, number, number][] = [[NaN, NaN, NaN], [Infinity, Infinity, 6], [-Infinity, 0, 0], [-0, 0, 0], [7, 7, 6]];
    const at = [0, 1, 2, n - 2, n - 1];
    probes.forEach(([v], k) => (x[at[k]] = v));
    for (const backend of ['reference', 'cpu'] as const) {
      for (const [op, col] of [['relu', 1], ['relu6', 2]] as const) {
        const y = new Float32Array(n);
        kernelFor('unary', backend)(op, x, y);
        probes.forEach((p, k) => assert.ok(Object.is(y[at[k]], p[col]), `${backend} ${op}(${p[0]}) at ${at[k]} of ${n} gave ${y[at[k]]}, want ${p[col]}`));
        for (let i = 3; i < n - 2; i++) assert.equal(y[i], op === 'relu' ? Math.max(0, x[i]) : Math.min(6, Math.max(0, x[i])));
      }
    }
  }
});
