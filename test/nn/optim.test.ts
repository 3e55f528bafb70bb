/**
 * Optimizer tests: hand-computed 3-step sequences of PyTorch's documented algorithms (float64,
 * compared with a float32 tolerance), bit-exact golden values produced by torch 1.13 on CPU,
 * parameter groups, skipped gradients, and state save→load→continue equal to an uninterrupted run.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValueError } from '../../base/errors.js';
import { Rng } from '../../base/rng.js';
import { Tensor, randn } from '../../engine/tensor.js';
import { Adam, AdamW, SGD, fma32, optimizerStateFromSafetensors, optimizerStateToSafetensors, type OptimizerStateDict, type ParamGroupBase, type Optimizer } from '../../nn/optim.js';
import { parseSafetensors, serializeSafetensors } from '../../nn/safetensors.js';

type AnyOptimizer = Optimizer<ParamGroupBase>;

/** Runs a scalar parameter p0 = 1 through the given gradient sequence, returning p after each step. */
function scalarRun(make: (params: Tensor[]) => AnyOptimizer, grads: number[], p0 = 1): number[] {
  const p = new Tensor(new Float32Array([p0]), [1], true);
  const opt = make([p]);
  return grads.map((g) => {
    p.grad = new Tensor(new Float32Array([g]), [1]);
    opt.step();
    return p.data[0];
  });
}

function close(got: number[], want: number[], what: string, rtol = 3e-6): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= rtol * Math.max(1, Math.abs(want[i])), `${what} step ${i + 1}: got ${got[i]}, want ${want[i]}`);
}

function bits(a: Float32Array): number[] {
  return [...new Uint32Array(a.buffer, a.byteOffset, a.length)];
}

const P0 = [-0.1467950940132141, 0.7861412763595581, 0.9468216300010681, -1.1143440008163452, 1.6907901763916016, -0.8948279023170471];
const GRADS = [[-0.3556250333786011, 1.2323857545852661, 0.13817265629768372, -1.6821985244750977, 0.317678302526474, 0.13280697166919708], [0.13732409477233887, 0.2405461221933365, 1.3954508304595947, 1.3470226526260376, 2.4382081031799316, 0.2027582824230194], [2.4505412578582764, 2.025601863861084, 1.7791550159454346, -0.9179307222366333, -0.4578188955783844, -0.7244732975959778]];
const TORCH_GOLDEN = [
  { name: 'SGD({ lr: 0.1, momentum: 0.9, weightDecay: 5e-4 })', make: (params: Tensor[]) => new SGD({ params, lr: 0.1, momentum: 0.9, weightDecay: 5e-4 }), bits: [[0xbde3ca10, 0x3f29b16a, 0x3f6ed645, 0xbf72318a, 0x3fd45813, 0xbf6876e0], [0xbdbe56ed, 0x3f071f93, 0x3f47e838, 0xbf6de4fd, 0x3fb17479, 0xbf70b162], [0xbea49fc0, 0x3e509805, 0x3eeea0b0, 0xbf5283b3, 0x3f97e7f0, 0xbf658a41]] },
  { name: 'SGD({ lr: 0.05, momentum: 0.9, weightDecay: 1e-2, nesterov: true })', make: (params: Tensor[]) => new SGD({ params, lr: 0.05, momentum: 0.9, weightDecay: 1e-2, nesterov: true }), bits: [[0xbde7290c, 0x3f2b16e0, 0x3f6ecbb4, 0xbf741709, 0x3fd45a42, 0xbf681693], [0xbde40a30, 0x3f1837c5, 0x3f4b19cb, 0xbf8187d3, 0x3fb4c48a, 0xbf6e153c], [0xbeac4f60, 0x3eb15943, 0x3f0fb244, 0xbf6a8e9f, 0x3fabe059, 0xbf5f66cb]] },
  { name: 'SGD({ lr: 0.03, momentum: 0.8, dampening: 0.3 })', make: (params: Tensor[]) => new SGD({ params, lr: 0.03, momentum: 0.8, dampening: 0.3 }), bits: [[0xbe0b64b4, 0x3f3fc996, 0x3f71533e, 0xbf882d28, 0x3fd73386, 0xbf66188d], [0xbe059b47, 0x3f36ec28, 0x3f68f96b, 0xbf86a125, 0x3fcfabe4, 0xbf68007c], [0xbe35ac6d, 0x3f24f0de, 0x3f58ba96, 0xbf82ecaf, 0x3fcae0d3, 0xbf65a1c5]] },
  { name: 'Adam({ lr: 1e-3, weightDecay: 1e-2 })', make: (params: Tensor[]) => new Adam({ params, lr: 1e-3, weightDecay: 1e-2 }), bits: [[0xbe154b4f, 0x3f48ff05, 0x3f72215e, 0xbf8e820e, 0x3fd84b0b, 0xbf6554fa], [0xbe14ec8c, 0x3f48ca61, 0x3f71ec47, 0xbf8e7fed, 0x3fd82feb, 0xbf6595b7], [0xbe1586bb, 0x3f489158, 0x3f71b1fd, 0xbf8e7621, 0x3fd81ef2, 0xbf657cbb]] },
  { name: 'AdamW({ lr: 2e-3, betas: [0.85, 0.995], eps: 1e-7, weightDecay: 0.1 })', make: (params: Tensor[]) => new AdamW({ params, lr: 2e-3, betas: [0.85, 0.995], eps: 1e-7, weightDecay: 0.1 }), bits: [[0xbe143d78, 0x3f48b32e, 0x3f71d36c, 0xbf8e59fd, 0x3fd81f33, 0xbf658ac9], [0xbe13884b, 0x3f484201, 0x3f715b13, 0xbf8e50c6, 0x3fd7dd06, 0xbf660174], [0xbe14c8ce, 0x3f47c456, 0x3f70d77f, 0xbf8e36da, 0x3fd7b170, 0xbf65c119]] },
];

describe('optimizers: hand-computed sequences (PyTorch documented algorithms, p0 = 1, grads 1, 2, 3)', () => {
  it('SGD plain: p -= lr·g', () => {
    close(scalarRun((params) => new SGD({ params, lr: 0.1 }), [1, 2, 3]), [0.9, 0.7, 0.4], 'sgd');
  });
  it('SGD momentum 0.9: first buffer = grad, then buf = 0.9·buf + g', () => {
    // buf 1, 2.9, 5.61 → p 0.9, 0.61, 0.049
    close(scalarRun((params) => new SGD({ params, lr: 0.1, momentum: 0.9 }), [1, 2, 3]), [0.9, 0.61, 0.049], 'momentum');
  });
  it('SGD Nesterov: step = g + 0.9·buf', () => {
    // buf 1, 2.9, 5.61; step 1.9, 4.61, 8.049 → p 0.81, 0.349, −0.4559
    close(scalarRun((params) => new SGD({ params, lr: 0.1, momentum: 0.9, nesterov: true }), [1, 2, 3]), [0.81, 0.349, -0.4559], 'nesterov');
  });
  it('SGD momentum + coupled weight decay 0.1 (grads all 1)', () => {
    // d 1.1, 1.089, 1.06821; buf 1.1, 2.079, 2.93931 → p 0.89, 0.6821, 0.388169
    close(scalarRun((params) => new SGD({ params, lr: 0.1, momentum: 0.9, weightDecay: 0.1 }), [1, 1, 1]), [0.89, 0.6821, 0.388169], 'sgd wd');
  });
  it('SGD dampening 0.5 (not applied on the first step)', () => {
    // buf 1, 0.9 + 1 = 1.9, 1.71 + 1.5 = 3.21 → p 0.9, 0.71, 0.389
    close(scalarRun((params) => new SGD({ params, lr: 0.1, momentum: 0.9, dampening: 0.5 }), [1, 2, 3]), [0.9, 0.71, 0.389], 'dampening');
  });
  it('Adam with bias correction: p -= lr·m̂/(√v̂ + eps)', () => {
    close(scalarRun((params) => new Adam({ params, lr: 0.1 }), [1, 2, 3]), [0.900000001, 0.8034817990281663, 0.707681677061681], 'adam');
  });
  it('Adam with coupled L2 (g += wd·p)', () => {
    close(scalarRun((params) => new Adam({ params, lr: 0.1, weightDecay: 0.1 }), [1, 2, 3]), [0.9000000009090909, 0.8029473346876735, 0.7066099948355327], 'adam wd');
  });
  it('AdamW decoupled decay (p ·= 1 − lr·wd first)', () => {
    close(scalarRun((params) => new AdamW({ params, lr: 0.1, weightDecay: 0.1 }), [1, 2, 3]), [0.890000001, 0.7845817990181663, 0.6809358590614992], 'adamw');
  });
  it('AdamW defaults match PyTorch (lr 1e-3, betas 0.9/0.999, eps 1e-8, weightDecay 1e-2)', () => {
    const g = new AdamW({ params: [new Tensor(new Float32Array(1), [1], true)] }).groups[0];
    assert.deepEqual({ lr: g.lr, betas: g.betas, eps: g.eps, weightDecay: g.weightDecay }, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2 });
    assert.equal(new Adam({ params: [new Tensor(new Float32Array(1), [1], true)] }).groups[0].weightDecay, 0);
  });
});

describe('optimizers: bit-exact against torch 1.13 (CPU, float32) for 3 steps', () => {
  for (const c of TORCH_GOLDEN) {
    it(c.name, () => {
      const p = new Tensor(Float32Array.from(P0), [P0.length], true);
      const opt = c.make([p]);
      for (let s = 0; s < 3; s++) {
        p.grad = new Tensor(Float32Array.from(GRADS[s]), [P0.length]);
        opt.step();
        assert.deepEqual(bits(p.data).map((b) => b.toString(16)), c.bits[s].map((b) => b.toString(16)), `step ${s + 1}`);
      }
    });
  }
});

describe('fma32', () => {
  it('rounds once: a·b + c where the separately rounded product would differ', () => {
    const a = Math.fround(1 + 2 ** -12);
    // a² = 1 + 2^-11 + 2^-24; minus 1 keeps the 2^-24 term only when fused.
    assert.equal(fma32(a, a, -1), 2 ** -11 + 2 ** -24);
    assert.equal(Math.fround(Math.fround(a * a) - 1), 2 ** -11);
  });
  it('repairs a double-rounding tie', () => {
    // 97 · 172961 = 2^24 + 1, exactly halfway between the float32s 2^24 and 2^24 + 2. Adding
    // ±2^-40 decides the side, but rounding the sum to float64 first loses it (tie → even, 2^24).
    assert.equal(97 * 172961, 2 ** 24 + 1);
    assert.equal(fma32(97, 172961, 2 ** -40), 2 ** 24 + 2);
    assert.equal(fma32(97, 172961, -(2 ** -40)), 2 ** 24);
    assert.equal(fma32(97, 172961, 0), 2 ** 24);
    assert.equal(fma32(-97, 172961, -(2 ** -40)), -(2 ** 24 + 2));
  });
});

describe('parameter groups and skipping', () => {
  it('each group uses its own hyper-parameters (equal to separate optimizers)', () => {
    const rng = new Rng(3);
    const a0 = randn([5], rng);
    const b0 = randn([7], rng);
    const ga = [randn([5], rng), randn([5], rng)];
    const gb = [randn([7], rng), randn([7], rng)];
    const a = new Tensor(a0.data.slice(), [5], true);
    const b = new Tensor(b0.data.slice(), [7], true);
    const opt = new SGD({ groups: [{ params: [a] }, { params: [b], lr: 0.5, weightDecay: 0.1, nesterov: true }], lr: 0.1, momentum: 0.9 });
    assert.deepEqual([opt.groups[0].lr, opt.groups[0].weightDecay, opt.groups[0].nesterov], [0.1, 0, false]);
    assert.deepEqual([opt.groups[1].lr, opt.groups[1].weightDecay, opt.groups[1].nesterov, opt.groups[1].momentum], [0.5, 0.1, true, 0.9]);
    const a2 = new Tensor(a0.data.slice(), [5], true);
    const b2 = new Tensor(b0.data.slice(), [7], true);
    const optA = new SGD({ params: [a2], lr: 0.1, momentum: 0.9 });
    const optB = new SGD({ params: [b2], lr: 0.5, momentum: 0.9, weightDecay: 0.1, nesterov: true });
    for (let s = 0; s < 2; s++) {
      a.grad = ga[s].clone();
      b.grad = gb[s].clone();
      a2.grad = ga[s].clone();
      b2.grad = gb[s].clone();
      opt.step();
      optA.step();
      optB.step();
    }
    assert.deepEqual(bits(a.data), bits(a2.data));
    assert.deepEqual(bits(b.data), bits(b2.data));
  });

  it('changing group.lr between steps takes effect (what schedules do)', () => {
    const got = scalarRun((params) => {
      const o = new SGD({ params, lr: 0.1 });
      const step = o.step.bind(o);
      let k = 0;
      o.step = () => {
        o.groups[0].lr = [0.1, 0.01, 1][k++];
        step();
      };
      return o;
    }, [1, 1, 1]);
    close(got, [0.9, 0.89, -0.11], 'lr change');
  });

  it('parameters without a gradient are skipped and get no state', () => {
    const a = new Tensor(new Float32Array([1, 2]), [2], true);
    const b = new Tensor(new Float32Array([3, 4]), [2], true);
    const opt = new Adam({ params: [a, b], lr: 0.1 });
    a.grad = new Tensor(new Float32Array([1, 1]), [2]);
    opt.step();
    assert.deepEqual([...b.data], [3, 4]);
    assert.notDeepEqual([...a.data], [1, 2]);
    const sd = opt.stateDict();
    assert.deepEqual([...sd.state.keys()], [0]);
    assert.equal(sd.state.get(0)!.step, 1);
  });

  it('zeroGrad clears every gradient', () => {
    const a = new Tensor(new Float32Array([1]), [1], true);
    a.grad = new Tensor(new Float32Array([1]), [1]);
    const opt = new SGD({ params: [a], lr: 1 });
    opt.zeroGrad();
    assert.equal(a.grad, null);
  });

  it('rejects bad hyper-parameters and shared parameters with ValueError', () => {
    const p = new Tensor(new Float32Array(1), [1], true);
    assert.throws(() => new SGD({ params: [p], lr: 0.1, nesterov: true }), ValueError);
    assert.throws(() => new SGD({ params: [p], lr: -1 }), ValueError);
    assert.throws(() => new SGD({ groups: [{ params: [p] }, { params: [p] }], lr: 0.1 }), ValueError);
    assert.throws(() => new SGD({ lr: 0.1 }), ValueError);
    assert.throws(() => new Adam({ params: [p], betas: [0.9, 1] }), ValueError);
  });
});

type Maker = (params: Tensor[]) => AnyOptimizer;
const MAKERS: Array<[string, Maker]> = [
  ['SGD nesterov + wd', (params) => new SGD({ groups: [{ params: params.slice(0, 1) }, { params: params.slice(1), lr: 0.02, weightDecay: 1e-3 }], lr: 0.1, momentum: 0.9, nesterov: true })],
  ['Adam', (params) => new Adam({ params, lr: 1e-2, weightDecay: 1e-3 })],
  ['AdamW', (params) => new AdamW({ groups: [{ params: params.slice(0, 1), weightDecay: 0 }, { params: params.slice(1) }], lr: 1e-2 })],
];

function roundTripThroughSafetensors(sd: OptimizerStateDict): OptimizerStateDict {
  const { tensors, json } = optimizerStateToSafetensors(sd, 'optim.');
  const file = parseSafetensors(serializeSafetensors(tensors, { optimizer: json }), 'mem');
  return optimizerStateFromSafetensors(file.tensors, file.metadata.optimizer, 'optim.');
}

describe('optimizer state: save → load → continue equals uninterrupted (bit-exact)', () => {
  for (const [name, make] of MAKERS) {
    it(name, () => {
      const rng = new Rng(11);
      const init = [randn([4, 3], rng), randn([6], rng)];
      const grads = Array.from({ length: 6 }, () => init.map((t) => randn([...t.shape], rng)));
      const fresh = (): Tensor[] => init.map((t) => new Tensor(t.data.slice(), t.shape, true));
      const run = (params: Tensor[], opt: AnyOptimizer, from: number, to: number): void => {
        for (let s = from; s < to; s++) {
          params.forEach((p, i) => (p.grad = grads[s][i].clone()));
          opt.step();
        }
      };
      const pa = fresh();
      const oa = make(pa);
      run(pa, oa, 0, 6);

      const pb = fresh();
      const ob = make(pb);
      run(pb, ob, 0, 3);
      ob.groups[0].lr *= 1; // hyper-parameters travel in the state dict too
      const sd = roundTripThroughSafetensors(ob.stateDict());
      const pc = pb.map((p) => new Tensor(p.data.slice(), p.shape, true));
      const oc = make(pc);
      oc.loadStateDict(sd);
      run(pc, oc, 3, 6);
      for (let i = 0; i < pa.length; i++) assert.deepEqual(bits(pc[i].data), bits(pa[i].data), `param ${i}`);
    });
  }

  it('state dict carries group hyper-parameters and is a deep copy', () => {
    const p = new Tensor(new Float32Array([1, 2]), [2], true);
    const opt = new SGD({ params: [p], lr: 0.1, momentum: 0.9 });
    p.grad = new Tensor(new Float32Array([1, 1]), [2]);
    opt.step();
    const sd = opt.stateDict();
    assert.deepEqual(sd.groups, [{ params: [0], hyper: { lr: 0.1, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 0 } }]);
    sd.state.get(0)!.buffers.momentum_buffer[0] = 99;
    assert.equal(opt.stateDict().state.get(0)!.buffers.momentum_buffer[0], 1);
    const q = new Tensor(new Float32Array([1, 2]), [2], true);
    const other = new SGD({ params: [q], lr: 0.5 });
    other.loadStateDict(opt.stateDict());
    assert.equal(other.groups[0].lr, 0.1);
    assert.equal(other.groups[0].momentum, 0.9);
  });

  it('loadStateDict rejects mismatches with ValueError and leaves the optimizer unchanged', () => {
    const p = new Tensor(new Float32Array([1, 2]), [2], true);
    const sgd = new SGD({ params: [p], lr: 0.1, momentum: 0.9 });
    p.grad = new Tensor(new Float32Array([1, 1]), [2]);
    sgd.step();
    const sd = sgd.stateDict();
    const q = new Tensor(new Float32Array([1, 2, 3]), [3], true);
    assert.throws(() => new SGD({ params: [q], lr: 0.1, momentum: 0.9 }).loadStateDict(sd), ValueError);
    assert.throws(() => new Adam({ params: [p] }).loadStateDict(sd), ValueError);
    const two = new SGD({ params: [p, q], lr: 0.1 });
    assert.throws(() => two.loadStateDict(sd), ValueError);
    const target = new SGD({ params: [new Tensor(new Float32Array(2), [2], true)], lr: 0.3 });
    const bad: OptimizerStateDict = { ...sd, groups: [{ params: [0], hyper: { ...sd.groups[0].hyper, lr: -1 } }] };
    assert.throws(() => target.loadStateDict(bad), ValueError);
    assert.equal(target.groups[0].lr, 0.3);
    assert.equal(target.stateDict().state.size, 0);
  });
});
