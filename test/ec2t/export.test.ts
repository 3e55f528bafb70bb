/**
 * Packed format: lossless pack → unpack of the ternary weights, size targets, float16 option, and
 * runtime predictions equal to the nn eval-mode forward (with and without dead channels).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import '../../kernels/index.js';
import { Rng } from '../../engine/rng.js';
import { Tensor, noGrad } from '../../engine/tensor.js';
import { floatStateDictBytes, packModel, unpackModel } from '../../ec2t/export.js';
import { loadTernaryModelBytes } from '../../ec2t/runtime/index.js';
import { parseSafetensors, type SafetensorEntry } from '../../nn/safetensors.js';
import { ternaryFixture } from './ternary-fixture.js';

function randomInput(shape: number[], seed: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  return x;
}

function maxRelErr(a: Float32Array, b: Float32Array): number {
  let scale = 0;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d / Math.max(scale, 1e-12);
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
        assert.ok(maxRelErr(y.data, ref.data) < 1e-4, `rel err ${maxRelErr(y.data, ref.data)}`);
      });
    }
  }

  test('micronet: runtime equals the nn eval forward (dead channels, 1x1 conv shortcuts, unfolded BN)', () => {
    const f = ternaryFixture('micronet', { seed: 2, deadFraction: 0.2, modelOptions: { numClasses: 10 } });
    const rt = loadTernaryModelBytes(packModel('micronet', {}, f.stateDict).bytes, 'mem');
    const shape = [1, 3, 32, 32];
    const x = randomInput(shape, 5);
    const ref = noGrad(() => f.model.forward(new Tensor(Float32Array.from(x), shape)));
    assert.ok(maxRelErr(rt.predict(x, [1, 3, 32, 32]).data, ref.data) < 1e-4);
  });

  test('lossless: unpacking gives back exactly the ternary assignments and centroids', () => {
    for (const name of ['lenet5', 'resnet20']) {
      const f = ternaryFixture(name, { seed: 11 });
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
    const p = packModel('lenet5', {}, f.stateDict);
    const back = unpackModel(parseSafetensors(p.bytes));
    for (const l of f.ternary) {
      const u = back.get(l)!;
      const orig = f.stateDict.get(`${l}.assignment`)!;
      const tail = orig.shape.slice(2).reduce((a, b) => a * b, 1);
      const removed = new Set(u.removedIn);
      for (let k = 0; k < orig.data.length; k++) {
        const c = Math.floor(k / tail) % orig.shape[1];
        if (!removed.has(c)) assert.equal(u.assignment[k], orig.data[k], `${l}[${k}]`);
      }
    }
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
    assert.ok(maxRelErr(b, a) < 2e-2, `float16 rel err ${maxRelErr(b, a)}`);
  });

  test('unsupported architecture and incomplete state dicts are clear errors', () => {
    assert.throws(() => packModel('mobilenetv2', { numClasses: 10 }, new Map<string, SafetensorEntry>()), /export supports: lenet5/);
    const f = ternaryFixture('lenet5', { seed: 1 });
    const sd = new Map(f.stateDict);
    sd.delete('conv2.w_p');
    assert.throws(() => packModel('lenet5', {}, sd), /conv2\.w_p.*missing/);
  });
});
