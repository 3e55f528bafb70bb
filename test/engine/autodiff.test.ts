import assert from 'node:assert/strict';
import { test } from 'node:test';
import '../../kernels/index.js';
import { GradError } from '../../base/errors.js';
import { Rng } from '../../base/rng.js';
import { Tensor, noGrad, randn, tensor } from '../../engine/tensor.js';
import { add, exp, mul, relu, sub, tanh } from '../../engine/ops/elementwise.js';
import { mean, sum } from '../../engine/ops/reduce.js';
import { reshape } from '../../engine/ops/movement.js';
import { crossEntropy } from '../../engine/ops/loss.js';

const leaf = (values: number[]) => new Tensor(Float32Array.from(values), [values.length], true);

test('gradients accumulate across two backward calls until zeroGrad', () => {
  const x = leaf([1, 2, 3]);
  sum(mul(x, x)).backward();
  sum(mul(x, 3)).backward();
  assert.deepEqual([...x.grad!.data], [5, 7, 9]);
  x.zeroGrad();
  sum(x).backward();
  assert.deepEqual([...x.grad!.data], [1, 1, 1]);
});

test('noGrad records nothing', () => {
  const x = leaf([1, 2]);
  const y = noGrad(() => sum(mul(exp(x), 2)));
  assert.equal(y.node, null);
  assert.equal(y.tracked, false);
  assert.throws(() => y.backward(), GradError);
  // Untracked inputs record nothing either.
  assert.equal(add(tensor([1]), tensor([2])).node, null);
});

test('x + x and x·x get the doubled gradient', () => {
  const x = leaf([1, -2, 3]);
  sum(add(x, x)).backward();
  assert.deepEqual([...x.grad!.data], [2, 2, 2]);
  const z = leaf([1, -2, 3]);
  sum(mul(z, z)).backward();
  assert.deepEqual([...z.grad!.data], [2, -4, 6]);
});

test('diamond graph: a shared intermediate sums both paths', () => {
  const x = leaf([0.5, -1]);
  const h = tanh(x);
  const y = sum(add(mul(h, 2), exp(h)));
  y.backward();
  for (let i = 0; i < 2; i++) {
    const t = Math.tanh(x.data[i]);
    const want = (2 + Math.exp(t)) * (1 - t * t);
    assert.ok(Math.abs(x.grad!.data[i] - want) < 1e-5);
  }
});

test('a gradient buffer handed to two inputs is never mutated by a later fan-in', () => {
  // X = Y + Z receives fan-in (X + X), so its gradient is a buffer the walk owns; add hands that
  // same buffer to Y and Z. V = exp(Y) is processed after X and adds into Y's gradient: it must
  // not add into Z's pending gradient through the shared buffer.
  const a = leaf([0.3]);
  const b = leaf([0.7]);
  const y = mul(a, 1);
  const z = mul(b, 1);
  const w = exp(z);
  const v = exp(y);
  const x = add(y, z);
  const root = sum(add(add(w, v), add(x, x)));
  root.backward();
  assert.ok(Math.abs(a.grad!.data[0] - (2 + Math.exp(0.3))) < 1e-5, `da = ${a.grad!.data[0]}`);
  assert.ok(Math.abs(b.grad!.data[0] - (2 + Math.exp(0.7))) < 1e-5, `db = ${b.grad!.data[0]}`);
});

test('recycled gradient buffers: pass-through, fan-in and relu over one length give exact gradients, walk after walk', () => {
  // h2 = relu(x) + x is handed to both sides of h2·h2 (fan-in), and add passes gradients through by
  // reference, so buffers are shared and freed at different points; every op gradient has length n,
  // so a buffer recycled too early would be handed out again while still pending.
  // dx = 2·h2 + [x > 0]·(1 + 2·h2), exact for these half-integers.
  const n = 96;
  const values = Array.from({ length: n }, (_, i) => (i % 7) - 3 + (i % 2) / 2);
  for (let walk = 0; walk < 3; walk++) {
    const x = leaf(values);
    const h1 = relu(x);
    const h2 = add(h1, x);
    const h4 = add(mul(h2, h2), h1);
    sum(h4).backward();
    const want = values.map((v) => {
      const h = Math.max(v, 0) + v;
      return 2 * h + (v > 0 ? 1 + 2 * h : 0);
    });
    assert.deepEqual([...x.grad!.data], want, `walk ${walk}`);
  }
});

test('backward on a non-scalar needs a gradient; a released graph cannot be walked twice', () => {
  const x = leaf([1, 2]);
  const y = mul(x, 2);
  assert.throws(() => y.backward(), (e: unknown) => e instanceof GradError && /needs a scalar/.test(e.message));
  assert.throws(() => y.backward(new Float32Array(3)), GradError);
  y.backward(new Float32Array([1, 1]));
  assert.throws(() => y.backward(new Float32Array([1, 1])), GradError);
});

test('the graph is released after backward (200 training-like steps)', () => {
  const rng = new Rng(5);
  const w = randn([4, 3], rng, true);
  const b = randn([3], rng, true);
  for (let step = 0; step < 200; step++) {
    const x = randn([8, 4], rng);
    const intermediates: Tensor[] = [];
    const keep = <T extends Tensor>(t: T): T => (intermediates.push(t), t);
    // A tiny "linear" from elementwise ops: sum over the input dim of x[:, :, None]·w.
    const prod = keep(mul(keep(reshape(x, [8, 4, 1])), w));
    const logits = keep(add(keep(sum(prod, 1)), b));
    const h = keep(relu(logits));
    const loss = keep(add(crossEntropy(h, Int32Array.from({ length: 8 }, (_, i) => i % 3)), mean(keep(mul(sub(w, 0), w)))));
    keep(loss);
    assert.ok(intermediates.every((t) => t.node !== null || !t.tracked));
    loss.backward();
    for (const t of intermediates) assert.equal(t.node, null, 'intermediate still holds its node after backward');
    assert.equal(w.node, null);
    assert.ok(w.grad !== null && b.grad !== null);
    w.zeroGrad();
    b.zeroGrad();
  }
});
