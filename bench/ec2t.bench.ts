/**
 * Cost of the EC2T quantizer's extra work per training step on ResNet-20 (18 ternary convs,
 * 268K ternary weights): `TernaryQuantizer.step()` (centroid + background gradients, three Adam
 * optimizers, floor, entropy-constrained re-assignment, Wt rebuild) against a plain training step
 * (forward + cross-entropy + backward + Adam over all parameters) at the same batch, same run.
 * Also the plain `Adam.step()` alone, so the quantizer's increment over an ordinary optimizer shows.
 * Target: quantizer step ≤ 10 % of the plain training step.
 *
 *   npx tsc -p . && node dist/bench/ec2t.bench.js [--batch 128] [--quick]
 */
import '../kernels/index.js';
import { Rng } from '../base/rng.js';
import { crossEntropy } from '../engine/ops/loss.js';
import { randn } from '../engine/tensor.js';
import { createModel, ternaryLayerNames } from '../nn/models/index.js';
import { Adam } from '../nn/optim.js';
import { DEFAULT_QUANTIZER_CONFIG, TernaryQuantizer } from '../ec2t/quantizer.js';
import { markdownTable, seconds } from './util.js';

const quick = process.argv.includes('--quick');
const bi = process.argv.indexOf('--batch');
const batchSize = bi >= 0 ? Number(process.argv[bi + 1]) : 128;

/** Mean ms per call over a fixed number of calls after one warm-up call (these steps are slow). */
async function ms(name: string, fn: () => void, iterations: number): Promise<number> {
  return 1000 * (await seconds(name, fn, { timeMs: 0, iterations, warmupMs: 0, warmupIterations: 1 }));
}

const rng = new Rng(5);
const x = randn([batchSize, 3, 32, 32], rng);
const y = Int32Array.from({ length: batchSize }, () => rng.int(10));

// Plain float training step.
const plain = createModel('resnet20', { seed: 1 });
const adam = new Adam({ params: plain.parameters(), lr: 1e-4 });
const plainStep = (): void => {
  adam.zeroGrad();
  crossEntropy(plain.forward(x), y).backward();
  adam.step();
};
const tPlain = await ms('plain step', plainStep, quick ? 2 : 4);
const tAdam = await ms('Adam.step() alone', () => adam.step(), quick ? 5 : 20);

// EC2T: one real step for G, then the quantizer's step on its own (it recomputes everything
// from the layers' G and the parameters' grads, so repeating it is the same work).
const model = createModel('resnet20', { seed: 1 });
const q = new TernaryQuantizer(model, ternaryLayerNames(model, 'resnet20'), { ...DEFAULT_QUANTIZER_CONFIG, gain: 0.2 });
const ec2tStep = (): void => {
  q.zeroGrad();
  crossEntropy(model.forward(x), y).backward();
  q.step();
};
const tEc2t = await ms('ec2t full step', ec2tStep, quick ? 2 : 4);
const tQ = await ms('TernaryQuantizer.step() alone', () => q.step(), quick ? 5 : 20);

const pct = (a: number, b: number): string => ((100 * a) / b).toFixed(1) + ' %';
console.log(`ResNet-20, batch ${batchSize}, ${q.layers.length} ternary layers, ${q.layers.reduce((a, l) => a + l.background.size, 0)} ternary weights`);
console.log(markdownTable(['measurement', 'ms', 'share of plain step'], [
  ['plain step (fwd + bwd + Adam)', tPlain.toFixed(1), '100 %'],
  ['Adam.step() alone (plain)', tAdam.toFixed(2), pct(tAdam, tPlain)],
  ['TernaryQuantizer.step() alone', tQ.toFixed(2), pct(tQ, tPlain)],
  ['quantizer increment over Adam.step()', (tQ - tAdam).toFixed(2), pct(tQ - tAdam, tPlain)],
  ['EC2T full step', tEc2t.toFixed(1), pct(tEc2t, tPlain)],
]));
