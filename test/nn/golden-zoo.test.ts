/**
 * The rest of the zoo against PyTorch: CIFAR ResNet-32/44/56, ImageNet ResNet-18, MobileNetV2 with
 * ImageNet and with CIFAR strides (two widths), and the CIFAR MicroNet at its base scale and at the
 * paper's φ = 3.5 (8,055,124 parameters). scripts/golden/make_zoo_golden.py built each at its real
 * depth and width in plain PyTorch; the conv and linear weights are formula weights both sides
 * compute (test/helpers/golden.ts, formulaWeights), everything else (BatchNorm parameters and
 * statistics, biases, input, logits) comes from the file. Loading is strict by PyTorch's names, and
 * every fixture carries PyTorch's logits of deliberately wrong variants (no downsample BN, ReLU for
 * ReLU6, the other stride set, no shortcut, no ReLU after the residual sum) that the bound must
 * reject. The logits are compared with the same network's float64 logits at goldenBound: the
 * existing 1e-12, or a small multiple of PyTorch's own float32 error where that is larger.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import '../../kernels/index.js';
import { noGrad } from '../../engine/tensor.js';
import { createModel } from '../../nn/models/index.js';
import { expectClose, nmse } from '../helpers/check.js';
import { formulaWeights, goldenBound, loadForwardGolden, type ForwardGolden } from '../helpers/golden.js';

/** A wrong variant must be this many bounds away (measured: ≥ 3e7 bounds, MobileNetV2's CIFAR strides). */
const WRONG_MARGIN = 1e3;

const FIXTURES = [
  'resnet32', 'resnet44', 'resnet56', 'resnet18-s64', 'mobilenetv2-w1-s64', 'mobilenetv2-cifar-w0.75-s32',
  'micronet-d1-w1', 'micronet-phi3.5-s16',
] as const;

function build(g: ForwardGolden, extra: Record<string, unknown> = {}) {
  const net = createModel(g.metadata.zoo_model, { ...(JSON.parse(g.metadata.zoo_options) as Record<string, unknown>), ...extra });
  net.loadStateDict(g.stateDict, { strict: true });
  return net;
}

for (const stem of FIXTURES) {
  describe(`${stem} forward equals PyTorch's`, () => {
    const g = loadForwardGolden(`nn/fixtures/${stem}-golden.safetensors`);

    test("state-dict keys are PyTorch's, in PyTorch's order; conv and linear weights come from the formula", () => {
      assert.equal(g.metadata.model, stem);
      const net = createModel(g.metadata.zoo_model, JSON.parse(g.metadata.zoo_options) as Record<string, unknown>);
      assert.deepEqual([...net.stateDict().keys()], g.stateDictKeys);
      assert.ok(g.formulaKeys.length > 0 && g.formulaKeys.every((k) => k.endsWith('.weight')));
    });

    test('eval-mode logits; the wrong variants are outside the bound', () => {
      const net = build(g);
      net.eval();
      const y = noGrad(() => net.forward(g.input));
      assert.deepEqual([...y.shape], g.logitsShape);
      const bound = goldenBound(g, 'eval');
      expectClose(y.data, g.exact!.logits, bound, `${stem} eval logits`);
      assert.ok(g.wrong.size > 0, 'the fixture holds wrong-variant logits');
      for (const [name, w] of g.wrong) {
        const e = nmse(y.data, w);
        assert.ok(e > WRONG_MARGIN * bound, `${stem}: wrong variant ${name} is within NMSE ${e} of ec2t's logits (bound ${bound})`);
      }
    });

    test('train-mode logits (batch statistics) and the running statistics after that step', () => {
      const net = build(g);
      net.train();
      const y = noGrad(() => net.forward(g.input));
      const bound = goldenBound(g, 'train');
      expectClose(y.data, g.exact!.trainLogits, bound, `${stem} train logits`);
      const sd = net.stateDict();
      assert.equal(g.afterTrain.size, [...sd.keys()].filter((k) => /running_(mean|var)$/.test(k)).length);
      // The running statistics are the batch statistics that made those logits, so no looser than
      // them (measured at most 1.6e-11 against PyTorch's float32, MobileNetV2 at 64 px).
      for (const [k, want] of g.afterTrain) expectClose(sd.get(k)!.data, want, bound, k);
    });
  });
}

test('mobilenetv2 with CIFAR strides on the ImageNet-stride weights (same keys, same shapes) fails the comparison', () => {
  const g = loadForwardGolden('nn/fixtures/mobilenetv2-w1-s64-golden.safetensors');
  const net = build(g, { cifar: true });
  net.eval();
  const e = nmse(noGrad(() => net.forward(g.input)).data, g.exact!.logits);
  assert.ok(e > WRONG_MARGIN * goldenBound(g, 'eval'), `cifar strides within NMSE ${e}`);
});

test("formulaWeights gives the integers PyTorch's formula_weights gives, over ResNet-18's largest tensor", () => {
  // Values printed by scripts/golden/common.py formula_weights(index, n, shift) with torch 1.13.
  assert.deepEqual([...formulaWeights(0, 6, 0)], [197, -984, -434, 582, 299, 13]);
  assert.deepEqual([...formulaWeights(41, 4, 0)], [-383, -988, 63, -245]);
  assert.deepEqual([...formulaWeights(7, 3, 12)], [-0.197509765625, 0.038818359375, -0.12451171875]);
  // 512·512·9 = 2,359,296 weights: the hash must stay exact (below 2^53) up to the last index.
  const w = formulaWeights(2, 2_400_000, 0);
  assert.equal(w[2_359_295], 973);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of w) {
    assert.ok(Number.isInteger(v));
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  assert.deepEqual([lo, hi], [-1023, 1023]);
});
