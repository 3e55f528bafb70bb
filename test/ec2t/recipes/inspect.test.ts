/**
 * ternarizeModel's `quantizer` events (`inspectEvery`): when they come, what they hold, and that
 * watching a run does not change it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../../base/rng.js';
import { ValueError } from '../../../base/errors.js';
import { loadMnist } from '../../../datasets/mnist.js';
import { subset } from '../../../datasets/dataset.js';
import { createModel, ternaryLayerNames } from '../../../nn/models/index.js';
import { DEFAULT_QUANTIZER_CONFIG } from '../../../ec2t/quantizer.js';
import { MemoryRunStore } from '../../../ec2t/runstore.js';
import { ternarizeModel, TERNARY_FILE } from '../../../ec2t/recipes/ternarize.js';
import type { RecipeProgress } from '../../../ec2t/recipes/events.js';

const first = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const mnistTrain = loadMnist({ split: 'train' });
const data = {
  train: subset(mnistTrain, first(192)),
  val: subset(mnistTrain, first(64).map((i) => 1000 + i)),
  test: subset(loadMnist({ split: 'test' }), first(64)),
};

async function run(inspectEvery?: number): Promise<{ store: MemoryRunStore; events: RecipeProgress[] }> {
  const model = createModel('lenet5', { seed: 4 });
  const store = new MemoryRunStore('t');
  const events: RecipeProgress[] = [];
  await ternarizeModel({
    model, modelName: 'lenet5', layers: ternaryLayerNames(model, 'lenet5'), ...data,
    quantizer: { ...DEFAULT_QUANTIZER_CONFIG, gain: 0.2 }, epochs: 2, retrainEpochs: 1, batchSize: 64,
    loaderRng: new Rng(1), modelRng: new Rng(2), store, inspectEvery, inspectBins: 40, onProgress: (e) => events.push(e),
  });
  return { store, events };
}

test('quantizer events come after step 1 and every inspectEvery steps, with consistent per-layer data', async () => {
  const { store, events } = await run(2);
  const inspections = events.filter((e): e is Extract<RecipeProgress, { kind: 'quantizer' }> => e.kind === 'quantizer');
  // 192 images / 64 = 3 steps per epoch; 2 EC2T epochs + 1 frozen epoch = 9 steps.
  assert.deepEqual(inspections.map((e) => e.step), [1, 2, 4, 6, 8]);
  assert.deepEqual(inspections.map((e) => e.phase), ['ec2t', 'ec2t', 'ec2t', 'ec2t', 'frozen']);
  for (const e of inspections) {
    assert.deepEqual(e.layers.map((l) => l.stats.name), ternaryLayerNames(createModel('lenet5', { seed: 4 }), 'lenet5').map((n) => `${n}.weight`));
    let zeros = 0;
    let numel = 0;
    for (const l of e.layers) {
      assert.equal(l.histogram.bins.length, 40);
      assert.equal(l.histogram.bins.reduce((a, b) => a + b, 0), l.stats.numel, l.stats.name);
      assert.equal(l.stats.n + l.stats.zero + l.stats.p, l.stats.numel);
      assert.equal(l.histogram.name, l.stats.name);
      assert.ok(l.histogram.boundaries.negZero <= 0 && l.histogram.boundaries.zeroPos >= 0, `${l.stats.name}: boundaries around zero`);
      zeros += l.stats.zero;
      numel += l.stats.numel;
    }
    assert.equal(e.sparsity, zeros / numel);
  }
  // After the first entropy-constrained step the reference variant prices zero with P_0 ≥ 0.5
  // (the zero floor); its [quirk] reduces P_p with the already reduced P_n, so the three never sum
  // to more than 1 (1e-6: float32 log2 and exp2 roundings).
  for (const l of inspections[1].layers) {
    const [pn, p0, pp] = l.probabilities;
    assert.ok(p0 >= 0.5, `${l.stats.name}: P_0 = ${p0}`);
    assert.ok(pn > 0 && pp > 0 && pn + p0 + pp <= 1 + 1e-6, `${l.stats.name}: P = ${l.probabilities.join(', ')}`);
  }
  assert.ok(store.has(TERNARY_FILE));
});

test('watching a run with quantizer events leaves its weights bit-identical', async () => {
  const watched = await run(1);
  const plain = await run(undefined);
  assert.equal(plain.events.filter((e) => e.kind === 'quantizer').length, 0);
  assert.deepEqual(watched.store.readBytes(TERNARY_FILE), plain.store.readBytes(TERNARY_FILE));
});

test('inspectEvery must be a positive integer', async () => {
  await assert.rejects(run(0), ValueError);
  await assert.rejects(run(1.5), ValueError);
});
