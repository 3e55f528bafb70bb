/**
 * Every zoo model is rebuilt from the shapes of its saved weights at any scale the scaling rules
 * produce: the weights are saved, read back through the path `predict`, `eval`, `ternarize` and
 * `train --weights` use (`architectureOfWeights`, i.e. `inferModelOptions`, then `buildModel`) and
 * must give the very same outputs. MicroNet: every stage-channel triple the rounding produces for a
 * width in [0.3, 6) (76 triples, 30 of which no single width multiplier c/16, c/32, c/64 recovers)
 * and the depths of the thesis grid and of the φ-scaled networks; MobileNetV2: widths off the
 * usual grid; LeNet-5: input sizes; CIFAR ResNets: block counts checked against the name.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import '../../kernels/index.js';
import { Rng } from '../../base/rng.js';
import { Tensor, noGrad } from '../../engine/tensor.js';
import { FormatError } from '../../base/errors.js';
import { createModel, roundFilters, type MicroNet } from '../../nn/models/index.js';
import { BatchNorm2d } from '../../nn/layers.js';
import { stateDictForSave, type Module } from '../../nn/module.js';
import { parseSafetensors, serializeSafetensors, type SafetensorEntry } from '../../nn/safetensors.js';
import { architectureOfWeights, buildModel, loadWeightsInto } from '../../cli/common.js';
import { THESIS_GRID } from '../../cli/run-scale.js';

/** Every width at which some channel count of `roundFilters(c, ·)` changes, for c = 16, 32, 64. */
function microNetWidthBreakpoints(lo: number, hi: number): number[] {
  const out = new Set<number>([lo]);
  for (const c of [16, 32, 64]) {
    for (let k = 1; k <= 8 * hi * c; k++) {
      // floor((c·w + 4)/8) steps at c·w = 8k − 4; the +8 bump starts at c·w = 8k/0.9.
      for (const w of [(8 * k - 4) / c, (8 * k) / (0.9 * c)]) if (w > lo && w < hi) out.add(w);
    }
  }
  return [...out].sort((a, b) => a - b);
}

/** One width inside each interval between breakpoints: every triple the rounding produces. */
function everyMicroNetTriple(): Map<string, number> {
  const b = microNetWidthBreakpoints(0.3, 6);
  const triples = new Map<string, number>();
  for (let i = 0; i < b.length; i++) {
    const w = i + 1 < b.length ? (b[i] + b[i + 1]) / 2 : (b[i] + 6) / 2;
    const t = [16, 32, 64].map((c) => roundFilters(c, w)).join('/');
    if (!triples.has(t)) triples.set(t, w);
  }
  return triples;
}

/**
 * Weights drawn from a cheap xorshift instead of Box–Muller: the test builds ~100 M parameters
 * (the widest triples reach 384 channels), and only their layout matters, not their distribution.
 */
class CheapRng extends Rng {
  private s = 0x9e3779b9;
  private next(): number {
    this.s ^= this.s << 13;
    this.s ^= this.s >>> 17;
    this.s ^= this.s << 5;
    return (this.s >>> 0) / 4294967296;
  }
  override uniform(): number {
    return this.next();
  }
  override uniformRange(low: number, high: number): number {
    return low + (high - low) * this.next();
  }
  override normal(): number {
    return 2 * this.next() - 1;
  }
}

/** Non-trivial BN statistics, so a BN loaded into the wrong place would show in the output. */
function perturbBatchNorms(model: Module, rng: Rng): void {
  for (const m of model.modules()) {
    if (!(m instanceof BatchNorm2d)) continue;
    for (let i = 0; i < m.numFeatures; i++) {
      m.running_mean!.data[i] = 0.1 * rng.normal();
      m.running_var!.data[i] = 0.5 + rng.uniform();
      m.weight!.data[i] = 1 + 0.2 * rng.normal();
      m.bias!.data[i] = 0.1 * rng.normal();
    }
  }
}

/**
 * Saves `original`'s weights, rebuilds the model from the bytes alone and checks the outputs are
 * identical. Exact equality: the same weights through the same layers run the same float ops.
 */
function roundTrip(name: string, original: Module, input: { channels: number; side: number; classes: number }, inputSize?: number): Module {
  perturbBatchNorms(original, new Rng(7));
  const sd = parseSafetensors(serializeSafetensors(stateDictForSave(original), { format: 'pt' }), `${name}.safetensors`).tensors;
  const arch = architectureOfWeights(name, sd, `${name}.safetensors`, { channels: input.channels, classes: input.classes });
  const rebuilt = buildModel(name, { classes: input.classes, channels: input.channels, height: input.side }, new CheapRng(99), arch.options, inputSize);
  loadWeightsInto(rebuilt, `${name}.safetensors`, sd);
  const rng = new Rng(3);
  const n = 2 * input.channels * input.side * input.side;
  const x = new Tensor(Float32Array.from({ length: n }, () => rng.normal()), [2, input.channels, input.side, input.side]);
  original.eval();
  rebuilt.eval();
  const y0 = noGrad(() => original.forward(x)).data;
  const y1 = noGrad(() => rebuilt.forward(x)).data;
  assert.deepEqual(Array.from(y1), Array.from(y0), `${name}: outputs after the round trip`);
  return rebuilt;
}

test('micronet: the reader recovers every stage-channel triple of a width in [0.3, 6)', () => {
  const triples = everyMicroNetTriple();
  // The rounding's triples, counted independently of the code under test.
  assert.equal(triples.size, 76);
  // Shapes of each triple's network without building it (up to 384 channels, 78 M parameters in
  // all): the 16/32/64 network's shapes with every channel count replaced; kernel sides (1, 3),
  // input channels (3) and classes (5) never collide with 16, 32, 64.
  const base = createModel('micronet', { numClasses: 5, depth: 0.1, width: 1, rng: new CheapRng(1) }).stateDict();
  for (const t of triples.keys()) {
    const [c1, c2, c3] = t.split('/').map(Number);
    const swap = new Map([[16, c1], [32, c2], [64, c3]]);
    const sd = new Map<string, SafetensorEntry>();
    for (const [k, v] of base) sd.set(k, { dtype: 'F32', shape: v.shape.map((d) => swap.get(d) ?? d), data: new Float32Array(0) });
    const arch = architectureOfWeights('micronet', sd, 'm.safetensors', { channels: 3, classes: 5 });
    assert.deepEqual(arch.options, { blocksPerStage: 1, stageChannels: [c1, c2, c3] }, `triple ${t}`);
  }
});

test('micronet: narrow triples (up to the φ = 4 network\'s 32/64/136) rebuild and give the same outputs', () => {
  let n = 0;
  for (const [t, w] of everyMicroNetTriple()) {
    if (roundFilters(64, w) > 136) continue;
    const original = createModel('micronet', { numClasses: 3, depth: 0.1, width: w, dropout: 0, rng: new CheapRng(1) }) as MicroNet;
    const rebuilt = roundTrip('micronet', original, { channels: 3, side: 4, classes: 3 }) as MicroNet;
    assert.equal(rebuilt.stageChannels.join('/'), t, `triple ${t} (w = ${w})`);
    assert.equal(rebuilt.blocksPerStage, 1);
    n++;
  }
  assert.equal(n, 22);
});

test('micronet: the thesis grid and the φ-scaled depths rebuild and give the same outputs', () => {
  // The grid pairs as trained; φ = 1.5 as scaled; the φ = 3.5 and 4 depths (23 and 27 blocks) at the narrowest width.
  const pairs: Array<[number, number]> = [...THESIS_GRID.map(([d, w]) => [d, w] as [number, number]), [1.4 ** 1.5, 1.2 ** 1.5], [1.4 ** 3.5, 0.3], [1.4 ** 4, 0.3]];
  for (const [depth, width] of pairs) {
    const original = createModel('micronet', { numClasses: 4, inChannels: 1, depth, width, dropout: 0, rng: new CheapRng(2) }) as MicroNet;
    const rebuilt = roundTrip('micronet', original, { channels: 1, side: 4, classes: 4 }) as MicroNet;
    assert.equal(rebuilt.blocksPerStage, Math.ceil(7 * depth), `(d, w) = (${depth}, ${width})`);
    assert.deepEqual(rebuilt.stageChannels, original.stageChannels);
  }
});

test('mobilenetv2: widths off the usual grid rebuild from their weights', () => {
  for (const widthMult of [0.35, 0.37, 0.6, 0.9, 1.3]) {
    const original = createModel('mobilenetv2', { numClasses: 5, widthMult, cifar: true, dropout: 0, rng: new CheapRng(3) });
    roundTrip('mobilenetv2', original, { channels: 3, side: 8, classes: 5 }, 32);
  }
});

test('lenet5 at several input sizes and the CIFAR resnets rebuild from their weights', () => {
  for (const side of [28, 32, 41]) {
    roundTrip('lenet5', createModel('lenet5', { inputSize: side, seed: 4 }), { channels: 1, side, classes: 10 });
  }
  roundTrip('resnet32', createModel('resnet32', { numClasses: 2, seed: 5 }), { channels: 3, side: 8, classes: 2 });
});

test('a CIFAR resnet read under the wrong name is refused with the right one', () => {
  const sd = parseSafetensors(serializeSafetensors(stateDictForSave(createModel('resnet20', { seed: 6 })), { format: 'pt' })).tensors;
  assert.throws(() => architectureOfWeights('resnet32', sd, 'r20.safetensors', { channels: 3 }), (e: unknown) => e instanceof FormatError && /3 blocks per stage: a resnet20 state dict, not resnet32/.test((e as Error).message));
});
