/**
 * Whole networks against PyTorch: LeNet-5 and ResNet-20 with the weights, inputs, logits and BN
 * running statistics that scripts/golden/make_forward_golden.py wrote with PyTorch (random weights,
 * BN statistics calibrated then perturbed, negative γ included; all float16-exact). Loading uses the
 * file's PyTorch names as they are (strict), so a renamed key, a transposed weight, a wrong
 * shortcut, pooling or activation, or a BatchNorm detail (ε, sign, the unbiased running variance)
 * shows up as a failure.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import '../../kernels/index.js';
import { noGrad } from '../../engine/tensor.js';
import { createModel } from '../../nn/models/index.js';
import { expectClose } from '../helpers/check.js';
import { GOLDEN_NMSE_BOUND, loadForwardGolden } from '../helpers/golden.js';

for (const model of ['lenet5', 'resnet20'] as const) {
  describe(`${model} forward equals PyTorch's`, () => {
    const g = loadForwardGolden(`nn/fixtures/${model}-golden.safetensors`);

    test('state-dict keys are PyTorch\'s, in PyTorch\'s order', () => {
      assert.equal(g.metadata.model, model);
      assert.deepEqual([...createModel(model).stateDict().keys()], g.stateDictKeys);
    });

    test('eval-mode logits', () => {
      const net = createModel(model);
      net.loadStateDict(g.stateDict, { strict: true });
      net.eval();
      const y = noGrad(() => net.forward(g.input));
      assert.deepEqual([...y.shape], g.logitsShape);
      expectClose(y.data, g.logits, GOLDEN_NMSE_BOUND, `${model} eval logits`);
    });

    test('train-mode logits (batch statistics) and the running statistics after that step', () => {
      const net = createModel(model);
      net.loadStateDict(g.stateDict, { strict: true });
      net.train();
      const y = noGrad(() => net.forward(g.input));
      expectClose(y.data, g.trainLogits, GOLDEN_NMSE_BOUND, `${model} train logits`);
      const sd = net.stateDict();
      assert.equal(g.afterTrain.size, [...sd.keys()].filter((k) => /running_(mean|var)$/.test(k)).length);
      for (const [k, want] of g.afterTrain) expectClose(sd.get(k)!.data, want, GOLDEN_NMSE_BOUND, k);
    });
  });
}
