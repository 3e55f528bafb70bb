/**
 * EfficientNet-B0/B1 and the ImageNet MicroNet: parameter counts (checked against the PyTorch
 * build of scripts/golden/efficientnet.py), EfficientNet-PyTorch state-dict names, the EC2T layer
 * policy, option validation, and a training step reaching every parameter (drop-connect active).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng, ValueError, crossEntropy, noGrad, randn } from '../../engine/index.js';
import { BatchNorm2d, Conv2d, Conv2dSame } from '../../nn/layers.js';
import { EfficientNet, MBConvBlock, createModel, ternaryLayerNames } from '../../nn/models/index.js';

const paramCount = (m: { namedParameters(): Array<[string, { size: number }]> }): number => m.namedParameters().reduce((a, [, p]) => a + p.size, 0);

test('parameter counts at 1000 classes equal the PyTorch builds (B0 5,288,548; B1 7,794,184; ImageNet MicroNet d = w = 1 6,833,096)', () => {
  assert.equal(paramCount(createModel('efficientnet-b0', { numClasses: 1000 })), 5_288_548);
  assert.equal(paramCount(createModel('efficientnet-b1', { numClasses: 1000 })), 7_794_184);
  assert.equal(paramCount(createModel('micronet-imagenet', { numClasses: 1000 })), 6_833_096);
});

test('efficientnet-b0 state-dict keys are EfficientNet-PyTorch\'s', () => {
  const m = createModel('efficientnet-b0', { numClasses: 1000 });
  const keys = [...m.stateDict().keys()];
  assert.deepEqual(keys.slice(0, 7), ['_conv_stem.weight', '_bn0.weight', '_bn0.bias', '_bn0.running_mean', '_bn0.running_var', '_bn0.num_batches_tracked', '_blocks.0._depthwise_conv.weight']);
  // Block 0 has no expansion; block 1 does; SE convs carry biases.
  assert.ok(!keys.some((k) => k.startsWith('_blocks.0._expand_conv')));
  for (const k of ['_blocks.1._expand_conv.weight', '_blocks.1._bn0.running_var', '_blocks.1._depthwise_conv.weight', '_blocks.1._bn1.weight', '_blocks.1._se_reduce.weight', '_blocks.1._se_reduce.bias', '_blocks.1._se_expand.weight', '_blocks.1._se_expand.bias', '_blocks.1._project_conv.weight', '_blocks.1._bn2.bias', '_blocks.15._project_conv.weight', '_conv_head.weight', '_bn1.weight', '_fc.weight', '_fc.bias']) {
    assert.ok(keys.includes(k), k);
  }
  assert.ok(!keys.some((k) => k.startsWith('_blocks.16')), 'B0 has 16 blocks');
  const shapes = new Map([...m.stateDict()].map(([k, t]) => [k, t.shape]));
  assert.deepEqual(shapes.get('_blocks.1._se_reduce.weight'), [4, 96, 1, 1]); // max(1, ⌊16·0.25⌋) from the block's input channels
  assert.deepEqual(shapes.get('_blocks.3._depthwise_conv.weight'), [144, 1, 5, 5]);
  assert.deepEqual(shapes.get('_conv_head.weight'), [1280, 320, 1, 1]);
  assert.equal((createModel('efficientnet-b1', { numClasses: 1000 }) as EfficientNet)._blocks.length, 23);
});

test('batch norms use ε 1e-3 and momentum 0.01; convs pad TF-same for the image size', () => {
  const m = createModel('efficientnet-b1') as EfficientNet;
  for (const b of m.modules().filter((x) => x instanceof BatchNorm2d) as BatchNorm2d[]) {
    assert.equal(b.eps, 1e-3);
    assert.equal(b.momentum, 0.01);
  }
  assert.deepEqual(m._conv_stem.pads, [0, 1, 0, 1]);
  const convs = m.modules().filter((x) => x instanceof Conv2d);
  assert.ok(convs.every((c) => c instanceof Conv2dSame && c.imageSize === 240));
  const blk = m._blocks.at(1) as MBConvBlock; // stage 1, second block: 3×3/1
  assert.deepEqual(blk._depthwise_conv.pads, [1, 1, 1, 1]);
  assert.equal((createModel('efficientnet-b0', { imageSize: 225 }) as EfficientNet)._conv_stem.pads.join(), '1,1,1,1');
});

test('EC2T layer policy follows the authors\' quantizer', () => {
  const b0 = ternaryLayerNames(createModel('efficientnet-b0'), 'efficientnet-b0');
  assert.equal(b0.length, 15 + 16 + 1); // expand convs (blocks 1–15), project convs, head
  assert.ok(b0.every((n) => /^_blocks\.\d+\._(expand|project)_conv$|^_conv_head$/.test(n)));
  assert.ok(b0.includes('_blocks.0._project_conv') && !b0.includes('_conv_stem'));
  const mi = ternaryLayerNames(createModel('micronet-imagenet'), 'micronet-imagenet');
  assert.equal(mi.length, 2 * 16);
  assert.ok(mi.every((n) => /^layer[1-7]\.\d+\.conv[12]$/.test(n)));
});

test('options are validated', () => {
  assert.throws(() => createModel('efficientnet-b0', { imageSize: 0 }), ValueError);
  assert.throws(() => createModel('efficientnet-b0', { dropConnect: 1 }), ValueError);
  assert.throws(() => createModel('efficientnet-b1', { phi: 1 } as never), /unknown option/);
  assert.throws(() => createModel('micronet-imagenet', { depth: 1, phi: 1 }), /not both/);
});

test('train-mode step through reduced networks reaches every parameter; drop-connect is seeded', () => {
  for (const [name, opts] of [['efficientnet-b0', { width: 0.1, imageSize: 32, dropConnect: 0.5 }], ['micronet-imagenet', { width: 0.1, depth: 0.3 }]] as const) {
    const m = createModel(name, { seed: 1, ...opts });
    const x = randn([4, 3, 32, 32], new Rng(5));
    const loss = crossEntropy(m.forward(x), [0, 3, 1, 2]);
    assert.ok(Number.isFinite(loss.item()));
    loss.backward();
    const missing = m.namedParameters().filter(([, p]) => p.grad === null).map(([k]) => k);
    assert.deepEqual(missing, [], `${name}: parameters without gradient`);
    const again = createModel(name, { seed: 1, ...opts });
    assert.equal(crossEntropy(again.forward(x), [0, 3, 1, 2]).item(), loss.item(), `${name}: same seed, same training forward`);
    m.eval();
    const a = noGrad(() => m.forward(x));
    assert.deepEqual([...noGrad(() => m.forward(x)).data], [...a.data], 'eval forward deterministic');
  }
});
