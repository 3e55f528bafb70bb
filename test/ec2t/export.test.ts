/**
 * Packed format: lossless pack → unpack of the ternary weights, size targets, float16 option, and
 * runtime predictions equal to the nn eval-mode forward (with and without dead channels), MobileNetV2
 * (depthwise convs, ReLU6, inverted residuals, dead channels through depthwise groups).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import '../../kernels/index.js';
import { Rng } from '../../base/rng.js';
import { Tensor, noGrad } from '../../engine/tensor.js';
import { FormatError, ValueError } from '../../base/errors.js';
import { floatStateDictBytes, inferModelOptions, packModel, unpackModel } from '../../ec2t/export.js';
import { Conv2d } from '../../nn/layers.js';
import { loadTernaryModelBytes } from '../../ec2t/runtime/index.js';
import { parseSafetensors, type SafetensorEntry } from '../../nn/safetensors.js';
import { assertMatchesNn, FLOAT16_RTOL, ternaryFixture } from './ternary-fixture.js';

function randomInput(shape: number[], seed: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  return x;
}

function argmaxRows(y: Float32Array, classes: number): number[] {
  const out: number[] = [];
  for (let n = 0; n < y.length / classes; n++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (y[n * classes + c] > y[n * classes + best]) best = c;
    out.push(best);
  }
  return out;
}

/** Every stored ternary weight of `p` unpacks to the fixture's; input slices removed with dead channels excepted. */
function assertStoredWeightsUnpack(f: ReturnType<typeof ternaryFixture>, p: ReturnType<typeof packModel>): void {
  const back = unpackModel(parseSafetensors(p.bytes));
  assert.deepEqual([...back.keys()].sort(), [...f.ternary].sort());
  for (const l of f.ternary) {
    const u = back.get(l)!;
    const orig = f.stateDict.get(`${l}.assignment`)!;
    assert.deepEqual(u.shape, orig.shape);
    const tail = orig.shape.slice(2).reduce((a, b) => a * b, 1);
    const removed = new Set(u.removedIn);
    const groups = new Set(u.removedGroups);
    for (let k = 0; k < orig.data.length; k++) {
      const c = Math.floor(k / tail) % orig.shape[1];
      const m = Math.floor(k / (tail * orig.shape[1]));
      if (!removed.has(c) && !groups.has(m)) assert.equal(u.assignment[k], orig.data[k], `${l}[${k}]`);
    }
  }
}

const CASES: Array<[string, number[]]> = [
  ['lenet5', [3, 1, 28, 28]],
  ['resnet20', [2, 3, 32, 32]],
];

describe('packModel', () => {
  for (const [name, shape] of CASES) {
    for (const dead of [0, 0.3]) {
      test(`${name}: runtime equals the nn eval forward (dead fraction ${dead})`, () => {
        const f = ternaryFixture(name, { seed: 7, deadFraction: dead });
        const p = packModel(name, {}, f.stateDict);
        if (dead > 0) assert.ok(p.dead.some((d) => d.removed.length > 0), 'some dead channels removed');
        const rt = loadTernaryModelBytes(p.bytes, 'mem');
        const x = randomInput(shape, 3);
        const y = rt.predict(x, shape as [number, number, number, number]);
        const ref = noGrad(() => f.model.forward(new Tensor(Float32Array.from(x), shape)));
        assert.deepEqual(y.shape, [...ref.shape]);
        assertMatchesNn(y.data, ref.data);
      });
    }
  }

  test('micronet: runtime equals the nn eval forward (dead channels, 1x1 conv shortcuts, unfolded BN)', () => {
    const f = ternaryFixture('micronet', { seed: 2, deadFraction: 0.2, modelOptions: { numClasses: 10 } });
    const rt = loadTernaryModelBytes(packModel('micronet', {}, f.stateDict).bytes, 'mem');
    const shape = [1, 3, 32, 32];
    const x = randomInput(shape, 5);
    const ref = noGrad(() => f.model.forward(new Tensor(Float32Array.from(x), shape)));
    assertMatchesNn(rt.predict(x, [1, 3, 32, 32]).data, ref.data);
  });

  // MobileNetV2 (CIFAR strides, α = 0.5 to stay fast): depthwise convs, ReLU6, inverted residuals.
  const MB = { cifar: true, widthMult: 0.5 };
  for (const dead of [0, 0.3]) {
    test(`mobilenetv2: runtime equals the nn eval forward, same argmax (dead fraction ${dead})`, () => {
      const f = ternaryFixture('mobilenetv2', { seed: 3, deadFraction: dead, modelOptions: MB });
      const p = packModel('mobilenetv2', {}, f.stateDict);
      assert.deepEqual(p.program.input, { channels: 3, height: 32, width: 32 });
      const ops = new Set(p.program.ops.map((o) => o.op));
      for (const op of ['relu6', 'save', 'add', 'conv', 'linear', 'globalavgpool']) assert.ok(ops.has(op as never), op);
      assert.ok(p.program.ops.some((o) => o.op === 'conv' && o.groups > 1), 'depthwise convs in the program');
      if (dead > 0) {
        // Dead expand outputs go with their depthwise group (and the projection conv's input slice).
        assert.ok(p.dead.some((d) => d.removed.length > 0 && /depthwise groups/.test(d.reason ?? '')), 'depthwise groups removed');
        assert.ok(p.dead.some((d) => d.kept.length > 0), 'constant non-zero channels into padded depthwise convs kept');
      }
      const rt = loadTernaryModelBytes(p.bytes, 'mem');
      const shape: [number, number, number, number] = [3, 3, 32, 32];
      const x = randomInput(shape, 4);
      const y = rt.predict(x, shape);
      const ref = noGrad(() => f.model.forward(new Tensor(Float32Array.from(x), shape)));
      assert.deepEqual(y.shape, [3, 10]);
      assertMatchesNn(y.data, ref.data);
      assert.deepEqual(argmaxRows(y.data, 10), argmaxRows(ref.data, 10));
      if (dead > 0) {
        // float16 tensors: the folded constants are rounded as stored, so removal stays consistent.
        const y16 = loadTernaryModelBytes(packModel('mobilenetv2', {}, f.stateDict, { float16: true }).bytes, 'f16').predict(x, shape);
        assertMatchesNn(y16.data, ref.data, 'float16 runtime vs nn', FLOAT16_RTOL);
      }
    });
  }

  test('mobilenetv2: ternary depthwise convs too (grouped ternary conv in the runtime, dead groups)', () => {
    const f = ternaryFixture('mobilenetv2', {
      seed: 8, deadFraction: 0.2, modelOptions: MB,
      layers: (m) => m.namedModules().filter(([n, l]) => l instanceof Conv2d && n.includes('.conv')).map(([n]) => n),
    });
    assert.ok(f.ternary.some((n) => /conv\.1\.0$/.test(n)), 'a depthwise conv is ternary');
    const p = packModel('mobilenetv2', {}, f.stateDict);
    assert.ok(p.program.ops.some((o) => o.op === 'conv' && o.kind === 'ternary' && o.groups > 1));
    const shape: [number, number, number, number] = [2, 3, 32, 32];
    const x = randomInput(shape, 6);
    const y = loadTernaryModelBytes(p.bytes, 'mem').predict(x, shape);
    const ref = noGrad(() => f.model.forward(new Tensor(Float32Array.from(x), shape)));
    assertMatchesNn(y.data, ref.data);
    assertStoredWeightsUnpack(f, p);
    assert.ok([...unpackModel(parseSafetensors(p.bytes)).values()].some((u) => u.removedGroups.length > 0), 'some depthwise groups removed');
  });

  // Negative and ε-sensitive BN scales (hardBatchNorm) folded into ternary and float layers that
  // carry a bias (convBias), with dead channels whose constants pass through the folded BN.
  const HARD: Array<[string, [number, number, number, number], Record<string, unknown>]> = [
    ['resnet20', [2, 3, 32, 32], {}],
    ['micronet', [1, 3, 32, 32], { numClasses: 10 }],
    ['mobilenetv2', [2, 3, 32, 32], MB],
  ];
  for (const [name, shape, modelOptions] of HARD) {
    test(`${name}: runtime equals the nn eval forward with negative, ε-sensitive BN scales and conv biases`, () => {
      const f = ternaryFixture(name, { seed: 12, deadFraction: 0.2, modelOptions, hardBatchNorm: true, convBias: true });
      const p = packModel(name, {}, f.stateDict);
      const x = randomInput(shape, 13);
      const ref = noGrad(() => f.model.forward(new Tensor(Float32Array.from(x), shape)));
      assertMatchesNn(loadTernaryModelBytes(p.bytes, 'hard').predict(x, shape).data, ref.data);
    });
  }

  test('mobilenetv2: options (width multiplier, CIFAR strides) come from the state dict; given ones override', () => {
    for (const widthMult of [0.5, 0.75]) {
      const f = ternaryFixture('mobilenetv2', { seed: 1, modelOptions: { cifar: true, widthMult } });
      const o = inferModelOptions('mobilenetv2', f.stateDict);
      assert.deepEqual(o, { numClasses: 10, inChannels: 3, widthMult, cifar: true });
    }
    // ImageNet strides cannot be read off the weights: given options override (224×224 program).
    const f = ternaryFixture('mobilenetv2', { seed: 2, modelOptions: { cifar: false, widthMult: 0.25 } });
    const p = packModel('mobilenetv2', { cifar: false }, f.stateDict);
    assert.deepEqual(p.program.input, { channels: 3, height: 224, width: 224 });
    assert.equal(JSON.parse(p.metadata.modelOptions).widthMult, 0.25);
    const shape: [number, number, number, number] = [1, 3, 224, 224];
    const x = randomInput(shape, 2);
    const ref = noGrad(() => f.model.forward(new Tensor(Float32Array.from(x), shape)));
    assertMatchesNn(loadTernaryModelBytes(p.bytes, 'in').predict(x, shape).data, ref.data);
  });

  test('lossless: unpacking gives back exactly the ternary assignments and centroids', () => {
    for (const name of ['lenet5', 'resnet20', 'mobilenetv2']) {
      const f = ternaryFixture(name, { seed: 11, ...(name === 'mobilenetv2' ? { modelOptions: MB } : {}) });
      const p = packModel(name, {}, f.stateDict, { pruneDead: false });
      const back = unpackModel(parseSafetensors(p.bytes));
      assert.deepEqual([...back.keys()].sort(), [...f.ternary].sort());
      for (const l of f.ternary) {
        const u = back.get(l)!;
        assert.deepEqual(u.assignment, f.stateDict.get(`${l}.assignment`)!.data);
        assert.equal(u.wp, (f.stateDict.get(`${l}.w_p`)!.data as Float32Array)[0]);
        assert.equal(u.wn, (f.stateDict.get(`${l}.w_n`)!.data as Float32Array)[0]);
      }
    }
  });

  test('with dead-channel removal, every stored weight unpacks exactly; removed rows were zero', () => {
    const f = ternaryFixture('lenet5', { seed: 4, deadFraction: 0.3 });
    assertStoredWeightsUnpack(f, packModel('lenet5', {}, f.stateDict));
    const g = ternaryFixture('mobilenetv2', { seed: 4, deadFraction: 0.3, modelOptions: MB });
    assertStoredWeightsUnpack(g, packModel('mobilenetv2', {}, g.stateDict));
  });

  test('sizes: ResNet-20 at 65% sparsity packs to ≤ 1/14 of the float32 file; float16 is smaller still and close', () => {
    const f = ternaryFixture('resnet20', { seed: 1, sparsity: 0.65 });
    const p32 = packModel('resnet20', {}, f.stateDict);
    const p16 = packModel('resnet20', {}, f.stateDict, { float16: true });
    const fb = floatStateDictBytes(f.stateDict);
    assert.ok(p32.bytes.length * 14 <= fb, `packed ${p32.bytes.length} vs float ${fb}`);
    assert.ok(p16.bytes.length < p32.bytes.length);
    assert.equal(parseSafetensors(p16.bytes).tensors.get('linear.weight')!.dtype, 'F16');
    const shape = [2, 3, 32, 32];
    const x = randomInput(shape, 9);
    const a = loadTernaryModelBytes(p32.bytes, 'a').predict(x, [2, 3, 32, 32]).data;
    const b = loadTernaryModelBytes(p16.bytes, 'b').predict(x, [2, 3, 32, 32]).data;
    assertMatchesNn(b, a, 'float16 vs float32 file', FLOAT16_RTOL);
  });

  test('unknown architectures and incomplete state dicts are typed errors', () => {
    assert.throws(() => packModel('mobilenetv3', { numClasses: 10 }, new Map<string, SafetensorEntry>()), (e: unknown) => e instanceof ValueError && /unknown model 'mobilenetv3'.*mobilenetv2/.test(e.message));
    assert.throws(() => packModel('mobilenetv2', {}, new Map<string, SafetensorEntry>()), (e: unknown) => e instanceof FormatError && /classifier\.1\.weight.*missing/.test(e.message));
    const m = ternaryFixture('mobilenetv2', { seed: 2, modelOptions: MB });
    const msd = new Map(m.stateDict);
    msd.delete('features.5.conv.1.1.running_var');
    assert.throws(() => packModel('mobilenetv2', {}, msd), (e: unknown) => e instanceof FormatError && /features\.5\.conv\.1\.1\.running_var.*missing/.test(e.message));
    // A ResNet-20 state dict is not a MobileNetV2 one.
    assert.throws(() => packModel('mobilenetv2', {}, ternaryFixture('resnet20', { seed: 1 }).stateDict), FormatError);
    const f = ternaryFixture('lenet5', { seed: 1 });
    const sd = new Map(f.stateDict);
    sd.delete('conv2.w_p');
    assert.throws(() => packModel('lenet5', {}, sd), /conv2\.w_p.*missing/);
  });
});
