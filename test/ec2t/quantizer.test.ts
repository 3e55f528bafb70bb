/**
 * The EC2T quantizer + optimizer pair (docs/METHOD.md §3–§7) on tiny models: invariants after every step
 * (three values, floor, frozen A), the gradient plumbing (G = ∂L/∂Wt reaches the layer, the rules
 * of gradients.ts are what the optimizers see), exact resume, the ternary state dict, TTQ / ECP
 * forms, and that training does something sensible (loss falls, γ > 0 prunes more).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Rng, Tensor, crossEntropy, noGrad, randn, relu, mul, sum } from '../../engine/index.js';
import { Linear } from '../../nn/layers.js';
import { Module, Parameter } from '../../nn/module.js';
import { createModel, ternaryLayerNames } from '../../nn/models/index.js';
import { parseSafetensors, serializeSafetensors, type SafetensorEntry } from '../../nn/safetensors.js';
import { DEFAULT_QUANTIZER_CONFIG, TernaryQuantizer, loadTernaryStateDict, type QuantizerConfig } from '../../ec2t/quantizer.js';
import { ecpWeights, ternaryWeights, ttqAssign } from '../../ec2t/assign.js';
import { besselStd } from '../../ec2t/init.js';
import { ValueError } from '../../base/errors.js';

const f = Math.fround;

/** 2-layer MLP: fc1 and fc2 ternarized, head float. */
class Toy extends Module {
  fc1: Linear;
  fc2: Linear;
  head: Linear;
  constructor(seed: number, inF = 8, hidden = 32, classes = 2) {
    super();
    const rng = new Rng(seed);
    this.fc1 = new Linear(inF, hidden, { rng });
    this.fc2 = new Linear(hidden, hidden, { rng });
    this.head = new Linear(hidden, classes, { rng });
  }
  forward(x: Tensor): Tensor {
    return this.head.forward(relu(this.fc2.forward(relu(this.fc1.forward(x)))));
  }
}

function cfg(over: Partial<QuantizerConfig> = {}): QuantizerConfig {
  return { ...DEFAULT_QUANTIZER_CONFIG, initScale: 0.3, lr: 1e-2, centroidLr: 1e-3, ...over };
}

/** Linearly separable 2-class data: label = [v·x > 0]. */
function batch(rng: Rng, n: number, inF = 8): { x: Tensor; y: Int32Array } {
  const x = randn([n, inF], rng);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < inF; j++) s += x.data[i * inF + j] * (j % 2 === 0 ? 1 : -0.5);
    y[i] = s > 0 ? 1 : 0;
  }
  return { x, y };
}

function trainStep(model: Module, q: TernaryQuantizer, b: { x: Tensor; y: Int32Array }): number {
  q.zeroGrad();
  const loss = crossEntropy(model.forward(b.x), b.y);
  loss.backward();
  q.step();
  return loss.item();
}

function distinct(a: Float32Array): number[] {
  return [...new Set(a)].sort((x, y) => x - y);
}

describe('TernaryQuantizer: invariants after every step', () => {
  for (const variant of ['reference', 'corrected'] as const) {
    test(`${variant}: Wt = w_p·[A=p] − w_n·[A=n] (three values), floor holds, Wt is what the forward uses`, () => {
      const model = new Toy(1);
      const q = new TernaryQuantizer(model, ['fc1', 'fc2'], cfg({ variant, gain: 0.2 }));
      const rng = new Rng(2);
      for (let s = 0; s < 8; s++) {
        trainStep(model, q, batch(rng, 16));
        for (const l of q.layers) {
          const wp = l.wp.data[0];
          const wn = l.wn.data[0];
          assert.deepEqual(l.wt, ternaryWeights(l.assignment, wp, wn), `${l.name} Wt`);
          for (const v of distinct(l.wt)) assert.ok(v === 0 || v === wp || v === f(-wn), `${l.name}: value ${v} not in {−w_n, 0, w_p}`);
          assert.ok(distinct(l.wt).length <= 3);
          const floor = f(besselStd(l.background.data) * f(0.675));
          assert.ok(wp >= floor && wn >= floor, `${l.name}: floor ${floor}, w_p ${wp}, w_n ${wn}`);
          assert.equal(l.module.effectiveWeight().data, l.wt);
        }
      }
    });
  }

  test('frozen phase never changes A, does not step the background, keeps training the centroids', () => {
    const model = new Toy(3);
    const q = new TernaryQuantizer(model, ['fc1', 'fc2'], cfg({ gain: 0.3 }));
    const rng = new Rng(4);
    for (let s = 0; s < 3; s++) trainStep(model, q, batch(rng, 16));
    q.freeze();
    assert.equal(q.frozen, true);
    const a0 = q.layers.map((l) => l.assignment.slice());
    const bg0 = q.layers.map((l) => l.background.data.slice());
    const c0 = q.layers.map((l) => [l.wp.data[0], l.wn.data[0]]);
    const head0 = model.head.weight.data.slice();
    for (let s = 0; s < 5; s++) {
      trainStep(model, q, batch(rng, 16));
      q.layers.forEach((l, i) => {
        assert.deepEqual(l.assignment, a0[i]);
        assert.deepEqual(l.background.data, bg0[i]);
        assert.deepEqual(l.wt, ternaryWeights(a0[i], l.wp.data[0], l.wn.data[0]));
        const floor = f(besselStd(l.background.data) * f(0.675));
        assert.ok(l.wp.data[0] >= floor && l.wn.data[0] >= floor);
      });
    }
    assert.ok(q.layers.some((l, i) => l.wp.data[0] !== c0[i][0] || l.wn.data[0] !== c0[i][1]), 'centroids train');
    assert.notDeepEqual(model.head.weight.data, head0, 'non-quantized params train');
  });

  test('freeze resets the non-quantized and centroid Adam states ([code]: fresh optimizers), lrs back to the config', () => {
    const model = new Toy(3);
    const q = new TernaryQuantizer(model, ['fc1', 'fc2'], cfg());
    trainStep(model, q, batch(new Rng(1), 8));
    const [p, bg, c] = q.optimizers();
    p.groups[0].lr = 5;
    q.freeze();
    assert.equal(p.stateDict().state.size, 0);
    assert.equal(c.stateDict().state.size, 0);
    assert.equal(bg.stateDict().state.size, 2);
    assert.deepEqual(q.lrs(), [1e-2, 1e-2, 1e-3]);
  });
});

describe('TernaryQuantizer: gradients', () => {
  test('G delivered to the layer is ∂L/∂Wt (autodiff through a plain layer holding Wt); background.grad untouched by backward', () => {
    const model = new Toy(5);
    const q = new TernaryQuantizer(model, ['fc1', 'fc2'], cfg({ gain: 0.1 }));
    const rng = new Rng(6);
    trainStep(model, q, batch(rng, 8));
    const b = batch(rng, 8);
    // Twin model computing with Wt as ordinary weights.
    const twin = new Toy(5);
    twin.loadStateDict(model.stateDict());
    twin.fc1.weight.data.set(q.layers[0].wt);
    twin.fc2.weight.data.set(q.layers[1].wt);
    crossEntropy(twin.forward(b.x), b.y).backward();
    q.zeroGrad();
    crossEntropy(model.forward(b.x), b.y).backward();
    assert.equal(q.layers[0].background.grad, null);
    assert.deepEqual(q.layers[0].gradWt, twin.fc1.weight.grad!.data);
    assert.deepEqual(q.layers[1].gradWt, twin.fc2.weight.grad!.data);
    assert.deepEqual(model.head.weight.grad!.data, twin.head.weight.grad!.data);
  });

  test('G equals the analytic gradient of L = Σ R ⊙ (x·Wtᵀ): G = Rᵀ·x', () => {
    const lin = new (class extends Module {
      fc = new Linear(3, 2, { rng: new Rng(7), bias: false });
      forward(x: Tensor): Tensor {
        return this.fc.forward(x);
      }
    })();
    const q = new TernaryQuantizer(lin, ['fc'], cfg());
    const rng = new Rng(8);
    const x = randn([4, 3], rng);
    const r = randn([4, 2], rng);
    sum(mul(lin.forward(x), r)).backward();
    const g = q.layers[0].gradWt!;
    for (let o = 0; o < 2; o++) {
      for (let i = 0; i < 3; i++) {
        let want = 0;
        for (let n = 0; n < 4; n++) want += r.data[n * 2 + o] * x.data[n * 3 + i];
        assert.ok(Math.abs(g[o * 3 + i] - want) < 1e-5, `G[${o},${i}] = ${g[o * 3 + i]}, want ${want}`);
      }
    }
  });

  for (const variant of ['reference', 'corrected'] as const) {
    test(`${variant}: the optimizers see background grad G·w_p / G·w_n / G and centroid grads Σ_p G, ${variant === 'reference' ? '+' : '−'}Σ_n G`, () => {
      const model = new Toy(9);
      const q = new TernaryQuantizer(model, ['fc1', 'fc2'], cfg({ variant, gain: 0.1 }));
      const rng = new Rng(10);
      trainStep(model, q, batch(rng, 8));
      const before = q.layers.map((l) => ({ a: l.assignment.slice(), wp: l.wp.data[0], wn: l.wn.data[0] }));
      q.zeroGrad();
      crossEntropy(model.forward(batch(rng, 8).x), batch(rng, 8).y).backward();
      const gs = q.layers.map((l) => l.gradWt!.slice());
      q.step();
      q.layers.forEach((l, li) => {
        const { a, wp, wn } = before[li];
        const g = gs[li];
        let sp = 0;
        let sn = 0;
        for (let i = 0; i < g.length; i++) {
          const want = a[i] === 1 ? f(g[i] * wp) : a[i] === -1 ? f(g[i] * wn) : g[i];
          assert.equal(l.background.grad!.data[i], want, `${l.name}[${i}]`);
          if (a[i] === 1) sp += g[i];
          if (a[i] === -1) sn += g[i];
        }
        assert.equal(l.wp.grad!.data[0], f(sp));
        assert.equal(l.wn.grad!.data[0], variant === 'reference' ? f(sn) : f(-sn));
        assert.ok(sn !== 0, 'the test needs a non-empty n cluster');
      });
    });
  }
});

describe('TernaryQuantizer: λ handling', () => {
  test('reference: γ = 0 gives λ = 0 on the first step and the [code] latch keeps the layer nearest-neighbour; corrected never latches', () => {
    for (const variant of ['reference', 'corrected'] as const) {
      const model = new Toy(11);
      const q = new TernaryQuantizer(model, ['fc1', 'fc2'], cfg({ variant, gain: 0 }));
      assert.ok(q.layers.every((l) => l.ecActive && l.lambda === 0));
      trainStep(model, q, batch(new Rng(1), 8));
      for (const l of q.layers) {
        assert.equal(l.lambda, 0);
        assert.equal(l.ecActive, variant === 'corrected');
      }
    }
  });
  test('γ > 0: λ = γ·δ·λ_max > 0 from the current statistics, layer decay δ from the sizes', () => {
    const model = new Toy(12);
    const q = new TernaryQuantizer(model, ['fc1', 'fc2'], cfg({ gain: 0.2 }));
    trainStep(model, q, batch(new Rng(1), 8));
    assert.equal(q.layers[1].decay, 1);
    assert.equal(q.layers[0].decay, (256 / 1024 + 0.05) / 1.05);
    for (const l of q.layers) {
      assert.ok(l.ecActive && l.lambda > 0 && l.lambdaMax > 0);
      assert.equal(l.lambda, f(f(l.lambdaMax * f(0.2)) * f(l.decay)));
    }
  });
  test('γ > 0 gives more zeros than γ = 0 after a few steps (same seed)', () => {
    const zeros = (gain: number): number => {
      const model = new Toy(13);
      const q = new TernaryQuantizer(model, ['fc1', 'fc2'], cfg({ gain }));
      const rng = new Rng(14);
      for (let s = 0; s < 5; s++) trainStep(model, q, batch(rng, 16));
      return q.layerStats().reduce((a, s) => a + s.zero, 0);
    };
    const z0 = zeros(0);
    const z1 = zeros(0.3);
    assert.ok(z1 > z0, `γ=0.3: ${z1} zeros, γ=0: ${z0}`);
  });
  test('histogram boundaries separate the assignment (weights clear of them land where the boundaries say)', () => {
    const model = new Toy(15);
    const q = new TernaryQuantizer(model, ['fc1', 'fc2'], cfg({ gain: 0.3 }));
    trainStep(model, q, batch(new Rng(1), 16));
    const hs = q.histograms(20);
    q.layers.forEach((l, li) => {
      const h = hs[li];
      assert.equal(h.name, `${l.name}.weight`);
      assert.equal(h.bins.reduce((a, b) => a + b, 0), l.background.size);
      assert.ok(h.boundaries.negZero < 0 && h.boundaries.zeroPos > 0);
      assert.ok(h.lambda > 0 && h.boundaries.zeroPos > h.wp / 2, 'λ > 0 widens the zero interval');
      const w = l.background.data;
      for (let i = 0; i < w.length; i++) {
        if (Math.abs(w[i] - h.boundaries.negZero) < 1e-6 || Math.abs(w[i] - h.boundaries.zeroPos) < 1e-6) continue;
        const want = w[i] < h.boundaries.negZero ? -1 : w[i] > h.boundaries.zeroPos ? 1 : 0;
        assert.equal(l.assignment[i], want, `${l.name}[${i}] w=${w[i]}`);
      }
    });
  });
});

describe('TernaryQuantizer: TTQ and ECP', () => {
  test('TTQ: centroids start at 1, threshold assignment on W/max|W| every step, Wt ternary', () => {
    const model = new Toy(16);
    const q = new TernaryQuantizer(model, ['fc1', 'fc2'], cfg({ method: 'ttq', ttqThreshold: 0.05 }));
    for (const l of q.layers) {
      assert.equal(l.wp.data[0], 1);
      assert.equal(l.wn.data[0], 1);
      assert.deepEqual(l.assignment, ttqAssign(l.background.data, 0.05));
    }
    const rng = new Rng(17);
    for (let s = 0; s < 3; s++) {
      trainStep(model, q, batch(rng, 8));
      for (const l of q.layers) {
        assert.deepEqual(l.assignment, ttqAssign(l.background.data, 0.05));
        assert.deepEqual(l.wt, ternaryWeights(l.assignment, l.wp.data[0], l.wn.data[0]));
        assert.equal(l.lambda, 0);
      }
    }
  });
  test('ECP: Wt = [A≠zero]·W, background gradient G, entropy-constrained assignment', () => {
    const model = new Toy(18);
    const q = new TernaryQuantizer(model, ['fc1', 'fc2'], cfg({ method: 'ecp', gain: 0.3 }));
    const rng = new Rng(19);
    for (let s = 0; s < 3; s++) {
      q.zeroGrad();
      crossEntropy(model.forward(batch(rng, 8).x), batch(rng, 8).y).backward();
      const gs = q.layers.map((l) => l.gradWt!.slice());
      q.step();
      q.layers.forEach((l, i) => {
        assert.deepEqual(l.background.grad!.data, gs[i]);
        assert.deepEqual(l.wt, ecpWeights(l.background.data, l.assignment));
        assert.ok(l.lambda > 0);
      });
    }
    assert.ok(q.sparsity().quantized > 0.3);
  });
});

describe('TernaryQuantizer: state', () => {
  function roundTrip(tensors: Map<string, Tensor | SafetensorEntry>, json: unknown): { tensors: Map<string, SafetensorEntry>; json: unknown } {
    const file = parseSafetensors(serializeSafetensors(tensors, { q: JSON.stringify(json) }), 'mem');
    return { tensors: file.tensors, json: JSON.parse(file.metadata.q) };
  }

  // γ = 0 (reference) latches every layer to nearest neighbour on the first step (ecActive false):
  // a restore that lost the latch would run the entropy-constrained assignment again and move λ_max.
  for (const [label, method, freezeAt, gain] of [
    ['ec2t', 'ec2t', -1, 0.2],
    ['ec2t frozen', 'ec2t', 1, 0.2],
    ['ec2t λ latched', 'ec2t', -1, 0],
    ['ttq', 'ttq', -1, 0.2],
    ['ecp', 'ecp', -1, 0.2],
  ] as const) {
    test(`${label}: stateTensors/loadState round trip through safetensors, then continuing is bit-identical to an uninterrupted run`, () => {
      const data = Array.from({ length: 6 }, (_, i) => batch(new Rng(100 + i), 8));
      const run = (model: Toy, q: TernaryQuantizer, from: number, to: number): number[] => {
        const losses: number[] = [];
        for (let s = from; s < to; s++) {
          if (s === freezeAt) q.freeze();
          losses.push(trainStep(model, q, data[s]));
        }
        return losses;
      };
      const c = cfg({ method, gain, variant: 'reference' });
      const a = new Toy(20);
      const qa = new TernaryQuantizer(a, ['fc1', 'fc2'], c);
      const lossA = run(a, qa, 0, 6);

      const b = new Toy(20);
      const qb = new TernaryQuantizer(b, ['fc1', 'fc2'], c);
      run(b, qb, 0, 3);
      const model = roundTrip(new Map(b.stateDict()), null).tensors;
      const st = roundTrip(qb.stateTensors(), qb.stateJson());
      // A fresh process: different init, state loaded (model first, then the quantizer).
      const b2 = new Toy(99);
      b2.loadStateDict(model);
      const qb2 = new TernaryQuantizer(b2, ['fc1', 'fc2'], c);
      qb2.loadState(st.tensors, st.json as never);
      assert.equal(qb2.frozen, freezeAt >= 0 && freezeAt < 3);
      if (method === 'ec2t') assert.deepEqual(qb2.layers.map((l) => l.ecActive), qb.layers.map(() => gain > 0));
      const lossB = run(b2, qb2, 3, 6);
      assert.deepEqual(lossB, lossA.slice(3));
      for (const [k, t] of a.stateDict()) assert.deepEqual(b2.stateDict().get(k)!.data, t.data, k);
      qa.layers.forEach((l, i) => {
        const m = qb2.layers[i];
        assert.deepEqual([m.wp.data[0], m.wn.data[0], m.lambda, m.lambdaMax], [l.wp.data[0], l.wn.data[0], l.lambda, l.lambdaMax]);
        assert.deepEqual(m.assignment, l.assignment);
        assert.deepEqual(m.wt, l.wt);
      });
      assert.deepEqual(qb2.stateJson(), qa.stateJson());
    });
  }

  test('state keys do not collide with model state-dict keys; loadState rejects a state for other layers or method', () => {
    const model = new Toy(21);
    const q = new TernaryQuantizer(model, ['fc1', 'fc2'], cfg());
    trainStep(model, q, batch(new Rng(1), 8));
    const keys = [...q.stateTensors().keys()];
    for (const k of model.stateDict().keys()) assert.ok(!keys.includes(k));
    assert.ok(keys.includes('fc1.w_p') && keys.includes('fc2.assignment') && keys.includes('optim.centroids.state.0.exp_avg'));
    const other = new TernaryQuantizer(new Toy(21), ['fc1'], cfg());
    const st = q.stateTensors() as Map<string, SafetensorEntry>;
    assert.throws(() => other.loadState(st, q.stateJson()), ValueError);
    const ttq = new TernaryQuantizer(new Toy(21), ['fc1', 'fc2'], cfg({ method: 'ttq' }));
    assert.throws(() => ttq.loadState(st, q.stateJson()), ValueError);
  });

  test('ternaryStateDict (LeNet-5): Wt in weight, siblings F32 [1] / I8; loads into a fresh model that computes the same outputs', () => {
    const model = createModel('lenet5', { seed: 3 });
    const layers = ternaryLayerNames(model, 'lenet5');
    const q = new TernaryQuantizer(model, layers, cfg({ gain: 0.2 }));
    const rng = new Rng(22);
    const x = randn([4, 1, 28, 28], rng);
    const y = Int32Array.of(0, 1, 2, 3);
    for (let s = 0; s < 2; s++) trainStep(model, q, { x, y });
    const sd = q.ternaryStateDict();
    const modelKeys = [...model.stateDict().keys()];
    assert.deepEqual([...sd.keys()].filter((k) => !/\.(w_p|w_n|assignment)$/.test(k)), modelKeys, 'model keys kept, in order');
    for (const l of q.layers) {
      assert.deepEqual((sd.get(`${l.name}.weight`) as Tensor).data, l.wt);
      const wp = sd.get(`${l.name}.w_p`) as SafetensorEntry;
      const a = sd.get(`${l.name}.assignment`) as SafetensorEntry;
      assert.equal(wp.dtype, 'F32');
      assert.deepEqual(wp.shape, [1]);
      assert.equal((sd.get(`${l.name}.w_n`) as SafetensorEntry).dtype, 'F32');
      assert.equal(a.dtype, 'I8');
      assert.deepEqual(a.shape, [...l.background.shape]);
      assert.deepEqual(a.data, l.assignment);
    }
    const file = parseSafetensors(serializeSafetensors(sd), 'ternary');
    const fresh = createModel('lenet5', { seed: 77 });
    assert.deepEqual(loadTernaryStateDict(fresh, file.tensors).layerNames, layers);
    model.eval();
    fresh.eval();
    const want = noGrad(() => model.forward(x)).data;
    const got = noGrad(() => fresh.forward(x)).data;
    assert.deepEqual(got, want);
    // detach: the model computes with its background weights again.
    q.detach();
    assert.equal(model.getSubmodule('conv1') instanceof Module, true);
    assert.notDeepEqual(noGrad(() => model.forward(x)).data, want);
  });

  test('layerStats / sparsity: counts, names, numel-weighted entropy', () => {
    const model = new Toy(23);
    const q = new TernaryQuantizer(model, ['fc1', 'fc2'], cfg({ gain: 0.2 }));
    trainStep(model, q, batch(new Rng(1), 8));
    const st = q.layerStats();
    assert.deepEqual(st.map((s) => s.name), ['fc1.weight', 'fc2.weight']);
    for (const s of st) assert.equal(s.n + s.zero + s.p, s.numel);
    const sp = q.sparsity();
    const zeros = st.reduce((a, s) => a + s.zero, 0);
    assert.equal(sp.quantized, zeros / (256 + 1024));
    assert.ok(Math.abs(sp.entropy - (st[0].entropy * 256 + st[1].entropy * 1024) / 1280) < 1e-12);
    assert.ok(sp.overall < sp.quantized && sp.overall > 0);
  });
});

describe('TernaryQuantizer: training and errors', () => {
  test('a short run on a separable synthetic problem reduces the loss', () => {
    const model = new Toy(24);
    const q = new TernaryQuantizer(model, ['fc1', 'fc2'], cfg({ gain: 0.1, lr: 5e-3, centroidLr: 1e-3 }));
    const rng = new Rng(25);
    const test = batch(new Rng(26), 256);
    const evalLoss = (): number => noGrad(() => crossEntropy(model.forward(test.x), test.y).item());
    const l0 = evalLoss();
    for (let s = 0; s < 60; s++) trainStep(model, q, batch(rng, 32));
    const l1 = evalLoss();
    assert.ok(l1 < 0.8 * l0, `loss ${l0} → ${l1}`);
  });

  test('k-means init runs and starts nearest-neighbour', () => {
    const model = new Toy(27);
    const q = new TernaryQuantizer(model, ['fc1'], cfg({ initMethod: 'kmeans' }));
    const l = q.layers[0];
    assert.ok(l.wp.data[0] > 0 && l.wn.data[0] > 0);
    assert.deepEqual(l.wt, ternaryWeights(l.assignment, l.wp.data[0], l.wn.data[0]));
  });

  test('bad layer names, non-conv modules, double attachment and bad configs throw ValueError', () => {
    const model = new Toy(28);
    assert.throws(() => new TernaryQuantizer(model, ['nope'], cfg()), ValueError);
    assert.throws(() => new TernaryQuantizer(model, [], cfg()), ValueError);
    assert.throws(() => new TernaryQuantizer(model, ['fc1'], cfg({ gain: -1 })), ValueError);
    assert.throws(() => new TernaryQuantizer(model, ['fc1'], cfg({ method: 'xx' as never })), ValueError);
    const lenet = createModel('lenet5', { seed: 0 });
    assert.throws(() => new TernaryQuantizer(lenet, ['max_pool_1'], cfg()), ValueError);
    const q = new TernaryQuantizer(model, ['fc1'], cfg());
    assert.throws(() => new TernaryQuantizer(model, ['fc1'], cfg()), ValueError);
    q.detach();
    assert.doesNotThrow(() => new TernaryQuantizer(model, ['fc1'], cfg()));
  });

  test('parameters: backgrounds and centroids are not in the non-quantized group', () => {
    const model = new Toy(29);
    const q = new TernaryQuantizer(model, ['fc1', 'fc2'], cfg());
    const [p, bg, c] = q.optimizers();
    assert.equal(p.params().length, 4); // fc1.bias, fc2.bias, head.weight, head.bias
    assert.deepEqual(bg.params(), [model.fc1.weight, model.fc2.weight]);
    assert.equal(c.params().length, 4);
    assert.ok(c.params().every((t) => t instanceof Parameter && t.size === 1));
    assert.equal(p.groups[0].weightDecay, DEFAULT_QUANTIZER_CONFIG.weightDecay);
    assert.equal(bg.groups[0].weightDecay, 0);
  });
});

describe('TernaryQuantizer: starting from a ternary-valued checkpoint', () => {
  test('a layer given an initial state keeps its assignment and centroids (not the scaler init); others are initialised as usual', () => {
    const model = new Toy(3);
    const n = model.fc1.weight.data.length;
    const assignment = Int8Array.from({ length: n }, (_, k) => [1, 0, -1, 0, 0][k % 5]);
    const wp = Math.fround(0.0625);
    const wn = Math.fround(0.125);
    // The background holds the checkpoint's own values, as a ternary-valued file loads.
    model.fc1.weight.data.set(ternaryWeights(assignment, wp, wn));
    const q = new TernaryQuantizer(model, ['fc1', 'fc2'], cfg({ initScale: 0.3 }), { initial: new Map([['fc1', { wp, wn, assignment }]]) });
    const [l1, l2] = q.layers;
    assert.deepEqual(l1.assignment, assignment);
    assert.equal(l1.wp.data[0], wp);
    assert.equal(l1.wn.data[0], wn);
    // The scaler init would have put w_p at 0.3 · max W = 0.01875.
    assert.deepEqual(distinct(l1.wt), [-wn, 0, wp]);
    // fc2: the usual scaler init, |max W|·s.
    const w2 = model.fc2.weight.data;
    assert.equal(l2.wp.data[0], Math.fround(Math.max(...w2) * 0.3));
    assert.throws(() => new TernaryQuantizer(new Toy(3), ['fc1'], cfg(), { initial: new Map([['fc1', { wp, wn, assignment: new Int8Array(3) }]]) }), /3 assignments/);
  });
});
