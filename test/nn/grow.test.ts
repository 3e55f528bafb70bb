/**
 * Warm start of a scaled MicroNet (nn/models/grow.ts): the grown network computes what the small one
 * computed — exactly when only depth grows, and also when width grows (new channels are silenced by
 * BN γ = β = 0); the new parts still receive gradient; networks that do not map are rejected.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng, ValueError, crossEntropy, noGrad, randn } from '../../engine/index.js';
import { MicroNet } from '../../nn/models/index.js';
import { growMicroNet } from '../../nn/models/grow.js';
import { expectAllClose } from '../helpers/check.js';

/** A MicroNet whose every parameter and BN statistic is random, as after training (not the init's γ=1, β=0, μ=0, σ²=1). */
function trainedLike(depth: number, width: number, seed: number, dropout = 0.2): MicroNet {
  const rng = new Rng(seed);
  const net = new MicroNet({ rng, numClasses: 10, inChannels: 1, depth, width, dropout });
  for (const [k, t] of net.stateDict()) {
    if (k.endsWith('num_batches_tracked')) t.data[0] = 17;
    else if (k.endsWith('running_var')) for (let i = 0; i < t.size; i++) t.data[i] = 0.5 + rng.uniform();
    else if (k.endsWith('running_mean') || /bn\d\.|shortcut\.1\./.test(k)) for (let i = 0; i < t.size; i++) t.data[i] = 0.5 * rng.normal() + (k.endsWith('weight') ? 1 : 0);
  }
  return net;
}

function outputs(net: MicroNet, seed: number, train = false): Float32Array {
  net.train(train);
  return noGrad(() => net.forward(randn([4, 1, 12, 12], new Rng(seed)))).data;
}

test('depth only: grown net (1 → 3 blocks per stage) equals the small one in eval mode; new blocks are identities', () => {
  const small = trainedLike(0.14, 0.5, 1);
  const big = new MicroNet({ rng: new Rng(2), numClasses: 10, inChannels: 1, depth: 0.42, width: 0.5 });
  assert.equal(small.blocksPerStage, 1);
  assert.equal(big.blocksPerStage, 3);
  const report = growMicroNet(small, big);
  assert.deepEqual(report.widened, []);
  assert.deepEqual(report.newBlocks.sort(), ['layer1.1', 'layer1.2', 'layer2.1', 'layer2.2', 'layer3.1', 'layer3.2']);
  assert.equal(report.copied.length, small.stateDict().size);
  for (const b of report.newBlocks) {
    const sd = big.stateDict();
    assert.ok(sd.get(`${b}.bn3.weight`)!.data.every((v) => v === 0));
    assert.ok(sd.get(`${b}.conv1.weight`)!.data.some((v) => v !== 0), 'new block convs keep their random init');
  }
  for (const seed of [3, 4, 5]) expectAllClose(outputs(big, seed), outputs(small, seed), 1e-5, 1e-5, `eval output, input seed ${seed}`);
});

test('depth and width: grown net (8/16/32 → 16/24/48 channels, 1 → 2 blocks) equals the small one in eval mode', () => {
  const small = trainedLike(0.14, 0.5, 6);
  const big = new MicroNet({ rng: new Rng(7), numClasses: 10, inChannels: 1, depth: 0.28, width: 0.75 });
  assert.deepEqual(small.stageChannels, [8, 16, 32]);
  assert.deepEqual(big.stageChannels, [16, 24, 48]);
  const report = growMicroNet(small, big);
  assert.ok(report.widened.includes('layer2.0.conv1.weight') && report.widened.includes('linear.weight'));
  assert.ok(report.copied.includes('linear.bias') && report.copied.includes('layer1.0.bn1.num_batches_tracked'));
  const sd = big.stateDict();
  // Leading slice copied, new BN channels silenced.
  const w = sd.get('layer2.0.conv1.weight')!; // [24, 16, 3, 3] from [16, 8, 3, 3]
  const ws = small.stateDict().get('layer2.0.conv1.weight')!;
  assert.equal(w.data[((5 * 16) + 3) * 9 + 4], ws.data[((5 * 8) + 3) * 9 + 4]);
  const g = sd.get('layer2.0.bn2.weight')!.data;
  assert.ok(g.subarray(16).every((v) => v === 0) && g.subarray(0, 16).every((v, i) => v === small.stateDict().get('layer2.0.bn2.weight')!.data[i]));
  for (const seed of [8, 9]) expectAllClose(outputs(big, seed), outputs(small, seed), 1e-5, 1e-5, `eval output, input seed ${seed}`);
});

test('depth and width, train mode without dropout: batch statistics of the leading channels are the small net\'s too', () => {
  const small = trainedLike(0.14, 0.5, 10, 0);
  const big = new MicroNet({ rng: new Rng(11), numClasses: 10, inChannels: 1, depth: 0.28, width: 1, dropout: 0 });
  growMicroNet(small.stateDict(), big); // from a state dict
  expectAllClose(outputs(big, 12, true), outputs(small, 12, true), 1e-5, 1e-5, 'train-mode output');
});

test('the new parts are not stuck: new γ of BN channels and of new blocks get gradient', () => {
  const small = trainedLike(0.14, 0.5, 13);
  const big = new MicroNet({ rng: new Rng(14), numClasses: 10, inChannels: 1, depth: 0.28, width: 0.75 });
  growMicroNet(small, big);
  big.train();
  crossEntropy(big.forward(randn([4, 1, 12, 12], new Rng(15))), [1, 2, 3, 4]).backward();
  const p = new Map(big.namedParameters());
  const newBlockGamma = p.get('layer2.1.bn3.weight')!.grad!.data;
  assert.ok(newBlockGamma.some((v) => v !== 0), 'new block bn3 γ gets gradient');
  const newChannelGamma = p.get('layer2.0.bn3.weight')!.grad!.data.subarray(16);
  assert.ok(newChannelGamma.some((v) => v !== 0), 'new channels of bn3 get gradient');
});

test('networks that do not map are rejected with every problem listed', () => {
  const small = trainedLike(0.28, 0.75, 16);
  const shallower = new MicroNet({ rng: new Rng(17), numClasses: 10, inChannels: 1, depth: 0.14, width: 0.75 });
  assert.throws(() => growMicroNet(small, shallower), (e: unknown) => e instanceof ValueError && /big network has no layer1\.1/.test(e.message));
  const narrower = new MicroNet({ rng: new Rng(18), numClasses: 10, inChannels: 1, depth: 0.28, width: 0.5 });
  assert.throws(() => growMicroNet(small, narrower), (e: unknown) => e instanceof ValueError && /small: 2 blocks\/stage, channels \[16, 24, 48\]; big: 2 blocks\/stage, channels \[8, 16, 32\]\).*conv1\.weight: shape \[16, 1, 3, 3\].*does not fit/.test(e.message));
  const otherClasses = new MicroNet({ rng: new Rng(19), numClasses: 100, inChannels: 1, depth: 0.28, width: 0.75 });
  assert.throws(() => growMicroNet(small, otherClasses), (e: unknown) => e instanceof ValueError && /linear\.weight/.test(e.message));
  assert.throws(() => growMicroNet(new Map(), otherClasses), (e: unknown) => e instanceof ValueError && /not a MicroNet state dict/.test(e.message));
});
