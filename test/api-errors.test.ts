/**
 * Library calls with wrong arguments throw the project's typed errors (base/errors.ts) with a
 * message saying what was expected, never a bare TypeError/RangeError from deep inside; and NaN or
 * Inf inputs give NaN outputs (as PyTorch), not normal-looking ones, in nn and in the runtime.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ec2tError, ValueError } from '../base/errors.js';
import { Rng, avgPool2d, maxPool2d, noGrad, randn, zeros, Tensor } from '../engine/index.js';
import { createModel } from '../nn/models/index.js';
import { packModel } from '../ec2t/export.js';
import { loadTernaryModelBytes } from '../ec2t/runtime/index.js';
import { ternaryFixture } from './ec2t/ternary-fixture.js';

const typed = (op: string, re: RegExp) => (e: unknown): boolean => e instanceof ValueError && e.message.startsWith(`${op}: `) && re.test(e.message);

test('pooling without kernelSize, loadStateDict(null), huge zeros and numClasses are ValueErrors', () => {
  const x = randn([1, 1, 4, 4], new Rng(1));
  assert.throws(() => maxPool2d(x, {} as never), typed('maxPool2d', /options must give kernelSize/));
  assert.throws(() => avgPool2d(x, undefined as never), typed('avgPool2d', /options must give kernelSize/));
  const net = createModel('lenet5');
  assert.throws(() => net.loadStateDict(null as never), typed('loadStateDict', /expected a Map or an object of tensors .*got null/));
  assert.throws(() => zeros([1e6, 1e6]), typed('zeros', /needs 1000000000000 float32 values .*more than can be allocated/));
  assert.throws(() => createModel('lenet5', { numClasses: 1e9 }), typed('createModel', /numClasses must be at most 1000000, got 1000000000/));
});

test('the runtime rejects a plain array as input with a typed error; NaN/Inf inputs give NaN outputs', () => {
  const f = ternaryFixture('lenet5', { seed: 3 });
  const m = loadTernaryModelBytes(packModel('lenet5', {}, f.stateDict).bytes, 'mem');
  const shape = [1, 1, 28, 28] as const;
  assert.throws(() => m.predict(new Array(784).fill(0) as never, shape), (e: unknown) => e instanceof Ec2tError && /input must be a Float32Array, got an Array/.test(e.message));
  for (const bad of [NaN, Infinity]) {
    const input = new Float32Array(784).map((_, i) => Math.sin(i));
    input[14 * 28 + 14] = bad;
    const y = m.predict(input, shape).data;
    assert.ok(y.some((v) => Number.isNaN(v)), `runtime: ${bad} in the input must show as NaN in the logits, got ${Array.from(y).map((v) => v.toFixed(3)).join(' ')}`);
    f.model.eval();
    const yn = noGrad(() => f.model.forward(new Tensor(input, [...shape]))).data;
    assert.ok(yn.some((v) => Number.isNaN(v)), `nn: ${bad} in the input must show as NaN in the logits`);
  }
});
