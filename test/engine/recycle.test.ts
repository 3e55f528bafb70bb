/**
 * Activation recycling (engine/tensor.ts `recycleActivations`, `outputBuffer`): training steps
 * inside scopes leave the weights bit-identical to steps outside them (a buffer handed out while its
 * tensor was still needed would change them), large outputs are reused across scopes and come back
 * zero-filled, small ones and outputs outside a scope are always fresh.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import '../../kernels/index.js';
import { Rng } from '../../base/rng.js';
import { outputBuffer, randn, recycleActivations } from '../../engine/tensor.js';
import { crossEntropy } from '../../engine/ops/loss.js';
import { createModel } from '../../nn/models/index.js';
import { SGD } from '../../nn/optim.js';

/** Weights of a ResNet-20 (pads, convs, batch norms, residual adds, a shortcut) after `steps` SGD steps at batch 8, each step in a scope or not. */
function trainedWeights(scoped: boolean, steps: number): Float32Array[] {
  const rng = new Rng(5);
  const net = createModel('resnet20', { rng: rng.fork() });
  net.train();
  const opt = new SGD({ params: net.parameters(), lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  const x = randn([8, 3, 32, 32], rng);
  const labels = Int32Array.from({ length: 8 }, (_, i) => i % 10);
  const step = (): number => {
    opt.zeroGrad();
    const loss = crossEntropy(net.forward(x), labels);
    loss.backward();
    opt.step();
    return loss.item();
  };
  for (let s = 0; s < steps; s++) (scoped ? recycleActivations(step) : step());
  return net.parameters().map((p) => Float32Array.from(p.data));
}

describe('activation recycling', () => {
  test('training steps in scopes give bit-identical weights to steps outside them', () => {
    const plain = trainedWeights(false, 3);
    const scoped = trainedWeights(true, 3);
    assert.equal(scoped.length, plain.length);
    plain.forEach((w, i) => assert.deepEqual(new Uint32Array(scoped[i].buffer), new Uint32Array(w.buffer), `parameter ${i} differs`));
  });

  test('a large output is reused by the next scope, zero-filled; small ones and unscoped ones are fresh', () => {
    const n = 1 << 15;
    let first: Float32Array | undefined;
    recycleActivations(() => {
      first = outputBuffer(n);
      first.fill(7);
    });
    const again = recycleActivations(() => outputBuffer(n));
    assert.equal(again, first, 'the buffer given back should be handed out again');
    assert.ok(again.every((v) => v === 0), 'a reused buffer must come back zero-filled');
    assert.notEqual(outputBuffer(n), outputBuffer(n), 'outside a scope every output is fresh');
    const small = recycleActivations(() => outputBuffer(16));
    assert.notEqual(recycleActivations(() => outputBuffer(16)), small, 'small outputs are not pooled');
  });

  test('a nested scope joins the outer one, and a throwing step still gives its buffers back', () => {
    const n = 1 << 15;
    let inner: Float32Array | undefined;
    recycleActivations(() => {
      recycleActivations(() => { inner = outputBuffer(n); });
      // Still inside the outer scope: the inner one did not give the buffer back yet.
      assert.notEqual(outputBuffer(n), inner);
    });
    let thrown: Float32Array | undefined;
    assert.throws(() => recycleActivations(() => { thrown = outputBuffer(n + 4); throw new Error('step failed'); }), /step failed/);
    assert.equal(recycleActivations(() => outputBuffer(n + 4)), thrown);
  });
});
