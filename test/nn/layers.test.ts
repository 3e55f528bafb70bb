/**
 * Layers: PyTorch default initialisation, forwards against plain float64 math, BatchNorm
 * train/eval semantics and buffers, Dropout modes, weightFn, Sequential naming, init helpers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng, Tensor, ValueError, ShapeError, noGrad, sum } from '../../engine/index.js';
import * as init from '../../nn/init.js';
import {
  AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, Identity, Linear, MaxPool2d,
  ReLU, ReLU6, Sequential, SiLU, Sigmoid, Swish,
} from '../../nn/layers.js';
import { dtypeOf } from '../../nn/module.js';
import { expectAllClose, randomValues } from '../helpers/check.js';

function randTensor(shape: number[], rng: Rng, requiresGrad = false): Tensor {
  return new Tensor(Float32Array.from(randomValues(shape.reduce((a, b) => a * b, 1), rng)), shape, requiresGrad);
}

/** Naive NCHW/OIHW convolution in float64 (the spec). */
function convRef(x: Tensor, w: Tensor, b: Tensor | null, stride: number, pad: number, dil: number, groups: number): Float64Array {
  const [n, c, h, wd] = x.shape;
  const [o, cg, kh, kw] = w.shape;
  const oh = Math.floor((h + 2 * pad - dil * (kh - 1) - 1) / stride) + 1;
  const ow = Math.floor((wd + 2 * pad - dil * (kw - 1) - 1) / stride) + 1;
  const out = new Float64Array(n * o * oh * ow);
  const og = o / groups;
  for (let ni = 0; ni < n; ni++)
    for (let oi = 0; oi < o; oi++) {
      const g = Math.floor(oi / og);
      for (let y = 0; y < oh; y++)
        for (let xx = 0; xx < ow; xx++) {
          let s = b ? b.data[oi] : 0;
          for (let ci = 0; ci < cg; ci++)
            for (let ky = 0; ky < kh; ky++)
              for (let kx = 0; kx < kw; kx++) {
                const iy = y * stride - pad + ky * dil;
                const ix = xx * stride - pad + kx * dil;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                s += x.data[((ni * c + g * cg + ci) * h + iy) * wd + ix] * w.data[((oi * cg + ci) * kh + ky) * kw + kx];
              }
          out[((ni * o + oi) * oh + y) * ow + xx] = s;
        }
    }
  return out;
}

test('Conv2d: PyTorch default init bounds (±1/√fanIn for weight and bias), shapes, key names', () => {
  const conv = new Conv2d(6, 8, 3, { rng: new Rng(1), groups: 2 });
  assert.deepEqual(conv.weight.shape, [8, 3, 3, 3]);
  assert.deepEqual([...conv.stateDict().keys()], ['weight', 'bias']);
  const bound = 1 / Math.sqrt(3 * 9);
  for (const v of [...conv.weight.data, ...conv.bias!.data]) assert.ok(Math.abs(v) <= bound, `${v} within ±${bound}`);
  // U(−b, b) has variance b²/3.
  const big = new Conv2d(64, 64, 3, { rng: new Rng(2), bias: false });
  const d = big.weight.data;
  const variance = d.reduce((a, v) => a + v * v, 0) / d.length;
  const b2 = 1 / (64 * 9);
  assert.ok(Math.abs(variance / (b2 / 3) - 1) < 0.03, `variance ${variance}, want ${b2 / 3}`);
  assert.equal(big.bias, null);
  assert.deepEqual([...big.stateDict().keys()], ['weight']);
});

test('Conv2d forward matches float64 convolution (stride, padding, dilation, groups, bias)', () => {
  const rng = new Rng(3);
  const cases: Array<[number, number, number, { stride: number; padding: number; dilation: number; groups: number; bias: boolean }]> = [
    [3, 4, 3, { stride: 1, padding: 1, dilation: 1, groups: 1, bias: true }],
    [4, 6, 3, { stride: 2, padding: 1, dilation: 1, groups: 2, bias: false }],
    [4, 4, 3, { stride: 1, padding: 2, dilation: 2, groups: 4, bias: true }],
    [2, 3, 1, { stride: 2, padding: 0, dilation: 1, groups: 1, bias: false }],
  ];
  for (const [inC, outC, k, o] of cases) {
    const conv = new Conv2d(inC, outC, k, { rng, ...o });
    const x = randTensor([2, inC, 7, 6], rng);
    const y = conv.forward(x);
    const want = convRef(x, conv.weight, conv.bias, o.stride, o.padding, o.dilation, o.groups);
    expectAllClose(y.data, want, 1e-4, 1e-5, `conv ${JSON.stringify(o)}`);
  }
});

test('Conv2d/Linear weightFn replaces the weight in the forward and receives the gradient', () => {
  const rng = new Rng(4);
  const conv = new Conv2d(2, 2, 3, { rng, padding: 1, bias: false });
  const x = randTensor([1, 2, 4, 4], rng);
  const alt = new Tensor(new Float32Array(conv.weight.size).fill(0.5), conv.weight.shape, true);
  conv.weightFn = () => alt;
  const y = conv.forward(x);
  expectAllClose(y.data, convRef(x, alt, null, 1, 1, 1, 1), 1e-5, 1e-5, 'conv with weightFn');
  sum(y).backward();
  assert.ok(alt.grad !== null, 'gradient reaches the weightFn tensor');
  assert.equal(conv.weight.grad, null, 'background weight gets no gradient through the forward');
  conv.weightFn = null;
  expectAllClose(conv.forward(x).data, convRef(x, conv.weight, null, 1, 1, 1, 1), 1e-4, 1e-5, 'conv without weightFn');

  const fc = new Linear(3, 2, { rng });
  const w2 = new Tensor(Float32Array.from([1, 0, 0, 0, 1, 0]), [2, 3]);
  fc.weightFn = () => w2;
  const xi = new Tensor(Float32Array.from([1, 2, 3]), [1, 3]);
  expectAllClose(fc.forward(xi).data, [1 + fc.bias!.data[0], 2 + fc.bias!.data[1]], 1e-6, 1e-6, 'linear with weightFn');
  assert.equal(fc.effectiveWeight(), w2);
});

test('Linear: default init bounds and forward x·Wᵀ + b', () => {
  const rng = new Rng(5);
  const fc = new Linear(5, 3, { rng });
  assert.deepEqual(fc.weight.shape, [3, 5]);
  for (const v of [...fc.weight.data, ...fc.bias!.data]) assert.ok(Math.abs(v) <= 1 / Math.sqrt(5));
  const x = randTensor([4, 5], rng);
  const want = new Float64Array(12);
  for (let n = 0; n < 4; n++)
    for (let o = 0; o < 3; o++) {
      let s = fc.bias!.data[o];
      for (let i = 0; i < 5; i++) s += x.data[n * 5 + i] * fc.weight.data[o * 5 + i];
      want[n * 3 + o] = s;
    }
  expectAllClose(fc.forward(x).data, want, 1e-5, 1e-6, 'linear');
  assert.deepEqual([...new Linear(2, 2, { rng, bias: false }).stateDict().keys()], ['weight']);
});

test('BatchNorm2d: keys, init, training uses batch stats and updates running stats and num_batches_tracked; eval uses running stats', () => {
  const rng = new Rng(6);
  const bn = new BatchNorm2d(3);
  assert.deepEqual([...bn.stateDict().keys()], ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']);
  assert.deepEqual([...bn.weight!.data], [1, 1, 1]);
  assert.deepEqual([...bn.bias!.data], [0, 0, 0]);
  assert.equal(dtypeOf(bn.num_batches_tracked!), 'int64');
  assert.deepEqual(bn.num_batches_tracked!.shape, []);
  assert.equal(bn.numParameters(), 6);
  const x = randTensor([2, 3, 4, 5], rng);
  bn.weight!.data.set([1, 2, 0.5]);
  bn.bias!.data.set([0, 1, -1]);
  const y = bn.forward(x);
  // reference: per-channel batch mean / biased variance
  const want = new Float64Array(x.size);
  const m = 2 * 4 * 5;
  const means: number[] = [];
  const vars: number[] = [];
  for (let c = 0; c < 3; c++) {
    let s = 0;
    let s2 = 0;
    for (let n = 0; n < 2; n++) for (let i = 0; i < 20; i++) s += x.data[(n * 3 + c) * 20 + i];
    const mean = s / m;
    for (let n = 0; n < 2; n++) for (let i = 0; i < 20; i++) s2 += (x.data[(n * 3 + c) * 20 + i] - mean) ** 2;
    const v = s2 / m;
    means.push(mean);
    vars.push(v);
    for (let n = 0; n < 2; n++)
      for (let i = 0; i < 20; i++) {
        const k = (n * 3 + c) * 20 + i;
        want[k] = ((x.data[k] - mean) / Math.sqrt(v + 1e-5)) * bn.weight!.data[c] + bn.bias!.data[c];
      }
  }
  expectAllClose(y.data, want, 1e-4, 1e-5, 'bn train');
  expectAllClose(bn.running_mean!.data, means.map((mu) => 0.1 * mu), 1e-5, 1e-6, 'running_mean');
  expectAllClose(bn.running_var!.data, vars.map((v) => 0.9 + 0.1 * v * (m / (m - 1))), 1e-5, 1e-6, 'running_var (unbiased)');
  assert.equal(bn.num_batches_tracked!.data[0], 1);

  bn.eval();
  const rm = bn.running_mean!.data.slice();
  const rv = bn.running_var!.data.slice();
  const ye = bn.forward(x);
  const wantE = new Float64Array(x.size);
  for (let k = 0; k < x.size; k++) {
    const c = Math.floor(k / 20) % 3;
    wantE[k] = ((x.data[k] - rm[c]) / Math.sqrt(rv[c] + 1e-5)) * bn.weight!.data[c] + bn.bias!.data[c];
  }
  expectAllClose(ye.data, wantE, 1e-4, 1e-5, 'bn eval');
  assert.deepEqual([...bn.running_mean!.data], [...rm], 'eval leaves running stats alone');
  assert.equal(bn.num_batches_tracked!.data[0], 1, 'eval does not count batches');
  assert.throws(() => bn.forward(randTensor([2, 4, 3, 3], rng)), ShapeError);
});

test('BatchNorm without running stats / affine; BatchNorm1d on [N, C] and [N, C, L]', () => {
  const rng = new Rng(7);
  const bn = new BatchNorm2d(2, { trackRunningStats: false, affine: false });
  assert.equal(bn.stateDict().size, 0);
  bn.eval();
  const x = randTensor([3, 2, 2, 2], rng);
  const y = bn.forward(x);
  // eval without running stats normalises with the batch statistics: every channel has mean 0
  for (let c = 0; c < 2; c++) {
    let s = 0;
    for (let n = 0; n < 3; n++) for (let i = 0; i < 4; i++) s += y.data[(n * 2 + c) * 4 + i];
    assert.ok(Math.abs(s) < 1e-4);
  }
  const bn1 = new BatchNorm1d(4);
  const x2 = randTensor([5, 4], rng);
  const y2 = bn1.forward(x2);
  assert.deepEqual(y2.shape, [5, 4]);
  const x3 = randTensor([5, 4, 3], rng);
  const y3 = bn1.forward(x3);
  assert.deepEqual(y3.shape, [5, 4, 3]);
  assert.equal(bn1.num_batches_tracked!.data[0], 2);
  assert.throws(() => bn1.forward(randTensor([5, 3], rng)), ShapeError);
});

test('activations, pooling, flatten, identity match plain math', () => {
  const rng = new Rng(8);
  const x = randTensor([2, 3, 4, 4], rng);
  const xs = [...x.data].map((v) => v * 8);
  const big = new Tensor(Float32Array.from(xs), x.shape);
  expectAllClose(new ReLU().forward(big).data, xs.map((v) => Math.max(0, v)), 0, 0, 'relu');
  expectAllClose(new ReLU6().forward(big).data, xs.map((v) => Math.min(6, Math.max(0, v))), 0, 0, 'relu6');
  expectAllClose(new Sigmoid().forward(big).data, xs.map((v) => 1 / (1 + Math.exp(-v))), 1e-5, 1e-6, 'sigmoid');
  expectAllClose(new SiLU().forward(big).data, xs.map((v) => v / (1 + Math.exp(-v))), 1e-5, 1e-6, 'silu');
  assert.equal(Swish, SiLU);
  const mp = new MaxPool2d(2).forward(x);
  assert.deepEqual(mp.shape, [2, 3, 2, 2]);
  assert.equal(mp.data[0], Math.max(x.data[0], x.data[1], x.data[4], x.data[5]));
  const mp3 = new MaxPool2d(3, { stride: 2, padding: 1 }).forward(x);
  assert.deepEqual(mp3.shape, [2, 3, 2, 2]);
  assert.equal(mp3.data[0], Math.max(x.data[0], x.data[1], x.data[4], x.data[5]));
  const ap = new AvgPool2d(2).forward(x);
  assert.ok(Math.abs(ap.data[0] - (x.data[0] + x.data[1] + x.data[4] + x.data[5]) / 4) < 1e-6);
  const apPad = new AvgPool2d(3, { stride: 2, padding: 1 }).forward(x);
  assert.ok(Math.abs(apPad.data[0] - (x.data[0] + x.data[1] + x.data[4] + x.data[5]) / 9) < 1e-6, 'padding counted');
  const apNo = new AvgPool2d(3, { stride: 2, padding: 1, countIncludePad: false }).forward(x);
  assert.ok(Math.abs(apNo.data[0] - (x.data[0] + x.data[1] + x.data[4] + x.data[5]) / 4) < 1e-6, 'padding not counted');
  const gp = new AdaptiveAvgPool2d(1).forward(x);
  assert.deepEqual(gp.shape, [2, 3, 1, 1]);
  assert.ok(Math.abs(gp.data[0] - x.data.slice(0, 16).reduce((a, v) => a + v, 0) / 16) < 1e-6);
  assert.throws(() => new AdaptiveAvgPool2d(2), ValueError);
  assert.deepEqual(new Flatten().forward(x).shape, [2, 48]);
  assert.equal(new Identity().forward(x), x);
});

test('Dropout: identity in eval, inverted scaling in training, deterministic per seed', () => {
  const x = new Tensor(new Float32Array(4000).fill(1), [40, 100]);
  const d = new Dropout(0.25, new Rng(9));
  const y = d.forward(x);
  let zeros = 0;
  for (const v of y.data) {
    if (v === 0) zeros++;
    else assert.ok(Math.abs(v - 1 / 0.75) < 1e-6);
  }
  assert.ok(Math.abs(zeros / 4000 - 0.25) < 0.03, `drop rate ${zeros / 4000}`);
  const y2 = new Dropout(0.25, new Rng(9)).forward(x);
  assert.deepEqual([...y2.data], [...y.data], 'same seed, same mask');
  d.eval();
  assert.equal(d.forward(x), x);
  assert.throws(() => new Dropout(1, new Rng(1)), ValueError);
});

test('Sequential: children named 0..n-1, keys nested, forward in order, train/eval reach every child', () => {
  const rng = new Rng(10);
  const seq = new Sequential(new Conv2d(1, 2, 3, { rng, bias: false }), new BatchNorm2d(2), new ReLU());
  assert.deepEqual([...seq.stateDict().keys()], ['0.weight', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked']);
  assert.equal(seq.length, 3);
  assert.ok(seq.at(-1) instanceof ReLU);
  assert.throws(() => seq.at(3), ValueError);
  const x = randTensor([2, 1, 5, 5], rng);
  seq.eval();
  assert.equal(seq.at(1).training, false);
  const y = seq.forward(x);
  const manual = noGrad(() => seq.at(2).forward(seq.at(1).forward(seq.at(0).forward(x))));
  assert.deepEqual([...y.data], [...manual.data]);
  const big = new Sequential(...Array.from({ length: 11 }, () => new ReLU()));
  assert.deepEqual(big.namedChildren().map(([k]) => k).slice(9), ['9', '10']);
});

test('layer constructors reject invalid sizes with typed errors', () => {
  const rng = new Rng(11);
  assert.throws(() => new Conv2d(3, 4, 3, { rng, groups: 2 }), /divisible by groups/);
  assert.throws(() => new Conv2d(0, 4, 3, { rng }), ValueError);
  assert.throws(() => new Conv2d(3, 4, 3, { rng, padding: -1 }), ValueError);
  assert.throws(() => new Linear(3, 0, { rng }), ValueError);
  assert.throws(() => new BatchNorm2d(0), ValueError);
  assert.throws(() => new BatchNorm2d(2, { momentum: 2 }), ValueError);
});

test('init: gains, fans, Kaiming normal/uniform statistics, constants; deterministic per seed', () => {
  assert.equal(init.calculateGain('relu'), Math.SQRT2);
  assert.equal(init.calculateGain('leaky_relu', Math.sqrt(5)), Math.sqrt(1 / 3));
  assert.equal(init.calculateGain('tanh'), 5 / 3);
  assert.deepEqual(init.fans([16, 3, 3, 3]), { fanIn: 27, fanOut: 144 });
  assert.deepEqual(init.fans([10, 4]), { fanIn: 4, fanOut: 10 });
  assert.throws(() => init.fans([3]), ValueError);
  const t = new Tensor(new Float32Array(128 * 64 * 9), [128, 64, 3, 3]);
  const stdOf = (d: Float32Array): number => Math.sqrt(d.reduce((a, v) => a + v * v, 0) / d.length);
  init.kaimingNormal(t, new Rng(1));
  assert.ok(Math.abs(stdOf(t.data) / Math.sqrt(2 / 576) - 1) < 0.02, 'fan_in, gain √2');
  init.kaimingNormal(t, new Rng(1), { mode: 'fan_out', nonlinearity: 'relu' });
  assert.ok(Math.abs(stdOf(t.data) / Math.sqrt(2 / 1152) - 1) < 0.02, 'fan_out');
  init.kaimingUniform(t, new Rng(2));
  const bound = Math.sqrt(2) * Math.sqrt(3 / 576);
  assert.ok(t.data.every((v) => Math.abs(v) <= bound));
  assert.ok(Math.abs(stdOf(t.data) / (bound / Math.sqrt(3)) - 1) < 0.02);
  const a = init.normal(new Tensor(new Float32Array(10), [10]), 1, 2, new Rng(3));
  const b = init.normal(new Tensor(new Float32Array(10), [10]), 1, 2, new Rng(3));
  assert.deepEqual([...a.data], [...b.data]);
  assert.deepEqual([...init.ones(a).data], new Array(10).fill(1));
  assert.deepEqual([...init.zeros(a).data], new Array(10).fill(0));
  assert.deepEqual([...init.constant(a, 3).data], new Array(10).fill(3));
  const u = init.uniform(new Tensor(new Float32Array(1000), [1000]), -0.5, 0.25, new Rng(4));
  assert.ok(u.data.every((v) => v >= -0.5 && v < 0.25));
});
