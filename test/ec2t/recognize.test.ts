/**
 * Ternary-valued checkpoints (the EC2T authors' release format): float32 state dicts whose ternary
 * layers hold only {−w_n, 0, +w_p}, no siblings, sometimes with a DataParallel `module.` prefix.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import '../../kernels/index.js';
import { Rng } from '../../base/rng.js';
import { Tensor, noGrad } from '../../engine/tensor.js';
import { describeForScore, packModel, recognizeTernaryValued, ternaryLayersOf } from '../../ec2t/export.js';
import { recognizeTernaryLayers, ternaryValuesOf } from '../../ec2t/recognize.js';
import { scoreNetwork } from '../../ec2t/score.js';
import { loadTernaryModelBytes } from '../../ec2t/runtime/index.js';
import type { SafetensorEntry } from '../../nn/safetensors.js';
import { assertMatchesNn, ternaryFixture } from './ternary-fixture.js';

/** The fixture as the authors publish it: siblings dropped (weight = Wt stays), every key prefixed `module.`. */
function authorsStyle(sd: Map<string, SafetensorEntry>): Map<string, SafetensorEntry> {
  const out = new Map<string, SafetensorEntry>();
  for (const [k, e] of sd) if (!/\.(w_p|w_n|assignment)$/.test(k)) out.set(`module.${k}`, e);
  return out;
}

describe('ternaryValuesOf', () => {
  test('{−a, 0, +b} gives the assignment and both centroids', () => {
    const t = ternaryValuesOf(Float32Array.of(0.5, 0, -0.25, 0.5, -0, -0.25));
    assert.ok(t !== null);
    assert.deepEqual([...t.assignment], [1, 0, -1, 1, 0, -1]);
    assert.equal(t.wp, 0.5);
    assert.equal(t.wn, 0.25);
  });

  test('subsets: one sign only, or no zero', () => {
    assert.deepEqual(ternaryValuesOf(Float32Array.of(0, 0.5)), { assignment: Int8Array.of(0, 1), wp: 0.5, wn: 0.5 });
    assert.deepEqual(ternaryValuesOf(Float32Array.of(-0.5, 0)), { assignment: Int8Array.of(-1, 0), wp: 0.5, wn: 0.5 });
    assert.deepEqual(ternaryValuesOf(Float32Array.of(-0.5, 0.25)), { assignment: Int8Array.of(-1, 1), wp: 0.25, wn: 0.5 });
  });

  test('other three-value shapes, more values, non-finite values and all zeros stay float', () => {
    assert.equal(ternaryValuesOf(Float32Array.of(0, 1, 2)), null);
    assert.equal(ternaryValuesOf(Float32Array.of(-0.5, 0, -0.25)), null);
    assert.equal(ternaryValuesOf(Float32Array.of(-0.5, 0, 0.25, 0.3)), null);
    assert.equal(ternaryValuesOf(Float32Array.of(0, NaN, 0.25)), null);
    assert.equal(ternaryValuesOf(Float32Array.of(0, Infinity)), null);
    assert.equal(ternaryValuesOf(Float32Array.of(-Infinity, 0)), null);
    assert.equal(ternaryValuesOf(new Float32Array(4)), null);
  });
});

describe('recognizeTernaryValued', () => {
  const f = ternaryFixture('resnet20', { seed: 11, sparsity: 0.45, deadFraction: 0.1 });
  const authors = authorsStyle(f.stateDict);

  test('an authors-style ResNet-20 (module. prefix, no siblings): the 18 block convs, not the first conv or the linear layer', () => {
    const r = recognizeTernaryValued('resnet20', authors);
    assert.deepEqual(r.recognized, f.ternary);
    assert.equal(r.recognized.length, 18);
    assert.ok(!r.recognized.includes('conv1') && !r.recognized.includes('linear'));
    for (const l of f.ternary) {
      assert.deepEqual(r.stateDict.get(`${l}.assignment`)?.data, f.stateDict.get(`${l}.assignment`)?.data, l);
      assert.deepEqual(r.stateDict.get(`${l}.w_p`)?.data, f.stateDict.get(`${l}.w_p`)?.data, l);
      assert.deepEqual(r.stateDict.get(`${l}.w_n`)?.data, f.stateDict.get(`${l}.w_n`)?.data, l);
    }
    // The input map is not changed.
    assert.ok([...authors.keys()].every((k) => k.startsWith('module.')));
  });

  test('a policy layer with four values, or {0, 1, 2}, or {−a, 0, −b}, stays float; the others are recognised', () => {
    const sd = new Map(authors);
    const set = (layer: string, fill: (k: number) => number): void => {
      const e = sd.get(`module.${layer}.weight`)!;
      sd.set(`module.${layer}.weight`, { ...e, data: Float32Array.from({ length: e.data.length }, (_, k) => fill(k)) });
    };
    set('layer1.0.conv1', (k) => [0, 0.1, -0.2, 0.3][k % 4]);
    set('layer2.1.conv2', (k) => k % 3);
    set('layer3.2.conv1', (k) => [0, -0.1, -0.2][k % 3]);
    const r = recognizeTernaryValued('resnet20', sd);
    assert.deepEqual(r.recognized, f.ternary.filter((l) => !['layer1.0.conv1', 'layer2.1.conv2', 'layer3.2.conv1'].includes(l)));
    assert.ok(!r.stateDict.has('layer1.0.conv1.assignment'));
  });

  test('a ternary-valued layer outside the policy (the first conv) stays float; layers with siblings are left as they are', () => {
    const sd = new Map(f.stateDict);
    sd.set('conv1.weight', { dtype: 'F32', shape: [16, 3, 3, 3], data: Float32Array.from({ length: 16 * 27 }, (_, k) => [0, 0.5, -0.5][k % 3]) });
    assert.deepEqual(recognizeTernaryLayers(sd, f.ternary).recognized, []);
    const r = recognizeTernaryValued('resnet20', sd);
    assert.deepEqual(r.recognized, []);
    assert.deepEqual(ternaryLayersOf(r.stateDict), ternaryLayersOf(f.stateDict));
  });

  test('the packed file of an authors-style checkpoint reproduces its float forward', () => {
    const p = packModel('resnet20', {}, authors);
    assert.deepEqual(p.recognized, f.ternary);
    assert.ok(p.program.ops.filter((o) => (o.op === 'conv' || o.op === 'linear') && o.kind === 'ternary').length === 18);
    const rt = loadTernaryModelBytes(p.bytes, 'authors');
    const shape: [number, number, number, number] = [2, 3, 32, 32];
    const rng = new Rng(5);
    const x = Float32Array.from({ length: 2 * 3 * 32 * 32 }, () => rng.normal());
    // f.model holds the checkpoint's float weights: its forward is the checkpoint's own.
    const ref = noGrad(() => f.model.forward(new Tensor(Float32Array.from(x), shape)));
    assertMatchesNn(rt.predict(x, shape).data, ref.data, 'packed authors-style vs its float forward');
  });

  test('scores as the ternary.safetensors of the same weights', () => {
    const a = scoreNetwork(describeForScore('resnet20', {}, authors));
    const t = scoreNetwork(describeForScore('resnet20', {}, f.stateDict));
    assert.equal(a.params, t.params);
    assert.equal(a.flops, t.flops);
    assert.ok(a.params < 20_000, `${a.params} params: scored as ternary, not as 269,722 dense`);
  });
});
