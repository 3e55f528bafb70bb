/**
 * Golden forwards of the ImageNet networks against PyTorch: scripts/golden/efficientnet.py builds
 * EfficientNet-B0/B1 and the ImageNet MicroNet in plain PyTorch (reduced widths and resolutions, the
 * real depths), with random weights and calibrated random batch norms, and stores state dict,
 * input and eval-mode logits. ec2t must reproduce the logits at float32 accuracy, and the logits of
 * deliberately wrong variants (ReLU for swish, BatchNorm ε 1e-5 for 1e-3, an extra ReLU) must fail
 * the same comparison — so the tolerance is tight enough to see those faults.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Tensor, noGrad } from '../../engine/index.js';
import { BatchNormBase } from '../../nn/layers.js';
import { createModel } from '../../nn/models/index.js';
import type { Module } from '../../nn/module.js';
import { entryToFloat32, entryToTensor, loadSafetensors } from '../../nn/safetensors.js';
import { maxRelativeError } from '../helpers/check.js';

/**
 * Bound on the largest |ec2t − PyTorch| over the largest |PyTorch logit|. Both compute in float32
 * with different summation orders (GEMM blocking, depthwise loops, pooling sums): each of the ~60
 * layers adds a few ulps (~1e-7) of relative error, amplified by the batch norms (γ/σ up to a few)
 * — measured worst 3.8e-7 here (B0 3.2e-7, B1 3.0e-7, MicroNet 3.8e-7). 1e-5 leaves room for other
 * CPUs' summation orders and is still four orders of magnitude below the smallest wrong-variant
 * difference (≥ 0.1).
 */
const TOLERANCE = 1e-5;

interface Golden {
  model: Module;
  input: Tensor;
  logits: Float32Array;
  wrong: Map<string, Float32Array>;
}

function loadGolden(file: string, name: string, options: Record<string, unknown>): Golden {
  const path = fileURLToPath(new URL(`../../../test/nn/fixtures/${file}`, import.meta.url));
  const { tensors } = loadSafetensors(path);
  const sd = new Map<string, Tensor>();
  const wrong = new Map<string, Float32Array>();
  for (const [k, e] of tensors) {
    if (k.startsWith('__wrong_')) wrong.set(k, entryToFloat32(e));
    else if (!k.startsWith('__')) sd.set(k, entryToTensor(e));
  }
  const model = createModel(name, { numClasses: 10, seed: 1, ...options });
  model.loadStateDict(sd, { strict: true });
  model.eval();
  return { model, input: entryToTensor(tensors.get('__input__')!), logits: entryToFloat32(tensors.get('__logits__')!), wrong };
}

const CASES = [
  { file: 'golden-efficientnet-b0-w0.1-s48.safetensors', name: 'efficientnet-b0', options: { width: 0.1, imageSize: 48 } },
  { file: 'golden-efficientnet-b1-w0.1-s60.safetensors', name: 'efficientnet-b1', options: { width: 0.1, imageSize: 60 } },
  { file: 'golden-micronet-imagenet-d0.5-w0.1-s48.safetensors', name: 'micronet-imagenet', options: { depth: 0.5, width: 0.1 } },
] as const;

for (const c of CASES) {
  test(`${c.name} (${c.file}): eval logits match PyTorch; the wrong variants' logits do not`, () => {
    const g = loadGolden(c.file, c.name, c.options);
    const y = noGrad(() => g.model.forward(g.input));
    assert.deepEqual(y.shape, [2, 10]);
    const err = maxRelativeError(y.data, g.logits);
    assert.ok(err <= TOLERANCE, `${c.name}: relative error ${err} > ${TOLERANCE}`);
    assert.ok(g.wrong.size > 0, 'fixture has wrong-variant logits');
    for (const [k, w] of g.wrong) {
      const e = maxRelativeError(y.data, w);
      assert.ok(e > 100 * TOLERANCE, `${c.name}: ${k} is within ${e} of ec2t's logits; the comparison cannot tell it apart`);
    }
  });
}

test('efficientnet-b0 built with BatchNorm ε 1e-5 instead of 1e-3 fails the golden comparison', () => {
  const g = loadGolden(CASES[0].file, CASES[0].name, CASES[0].options);
  for (const m of g.model.modules()) if (m instanceof BatchNormBase) (m as unknown as { eps: number }).eps = 1e-5;
  const err = maxRelativeError(noGrad(() => g.model.forward(g.input)).data, g.logits);
  assert.ok(err > 100 * TOLERANCE, `ε 1e-5 variant within ${err}`);
});

test('efficientnet-b1 at 60 px keeps the static padding of its image size (7×7 after the 5×5/2 conv on 15×15, not TF 8×8)', () => {
  const g = loadGolden(CASES[1].file, CASES[1].name, CASES[1].options);
  const shapes: (readonly number[])[] = [];
  const blocks = (g.model as unknown as { _blocks: { at(i: number): Module } })._blocks;
  // Stage 3's first block is block 2 + 3 = 5 (repeats ⌈1.1·(1, 2, 2, …)⌉ = 2, 3, 3, …).
  const b = blocks.at(5) as unknown as { _depthwise_conv: { pads: number[]; forward(x: Tensor): Tensor } };
  assert.deepEqual(b._depthwise_conv.pads, [1, 2, 1, 2]);
  shapes.push(noGrad(() => b._depthwise_conv.forward(new Tensor(new Float32Array(1 * 48 * 15 * 15), [1, 48, 15, 15]))).shape);
  assert.deepEqual(shapes[0], [1, 48, 7, 7]);
});
