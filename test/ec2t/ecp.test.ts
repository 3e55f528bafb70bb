/**
 * ECP runs keep full-precision weights where the assignment is non-zero (pruning, not
 * ternarization), though their ternary.safetensors carries `.assignment`/`.w_p`/`.w_n` like an EC2T
 * run's. Export must not pack them as ternary (that silently replaced the weights by two
 * centroids) and score must count them as pruned float layers, not ternary ones.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import '../../kernels/index.js';
import { FormatError } from '../../base/errors.js';
import { Rng } from '../../base/rng.js';
import { describeForScore, packModel, prunedFloatLayersOf } from '../../ec2t/export.js';
import { scoreNetwork } from '../../ec2t/score.js';
import type { SafetensorEntry } from '../../nn/safetensors.js';
import { ternaryFixture } from './ternary-fixture.js';

/** The fixture as an ECP run writes it: `weight` = W·|A| with W the float weights (not ±centroids). */
function ecpFixture(): { sd: Map<string, SafetensorEntry>; ternary: string[]; ec2t: Map<string, SafetensorEntry> } {
  const f = ternaryFixture('lenet5', { seed: 4 });
  const rng = new Rng(5);
  const sd = new Map(f.stateDict);
  for (const name of f.ternary) {
    const a = sd.get(`${name}.assignment`)!.data as Int8Array;
    // Background weights with the assignment's signs, as ECP's W·|A| keeps them.
    const w = new Float32Array(a.length);
    for (let i = 0; i < w.length; i++) w[i] = a[i] * (0.02 + 0.2 * rng.uniform());
    sd.set(`${name}.weight`, { dtype: 'F32', shape: sd.get(`${name}.weight`)!.shape, data: w });
  }
  return { sd, ternary: f.ternary, ec2t: f.stateDict };
}

test('prunedFloatLayersOf tells ECP layers (float weights) from EC2T layers (±centroids)', () => {
  const { sd, ternary, ec2t } = ecpFixture();
  assert.deepEqual(prunedFloatLayersOf(ec2t), []);
  assert.deepEqual(prunedFloatLayersOf(sd).sort(), [...ternary].sort());
  // One changed weight is enough to make a layer pruned float.
  const one = new Map(ec2t);
  const name = ternary[0];
  const w = Float32Array.from(one.get(`${name}.weight`)!.data as Float32Array);
  const k = (one.get(`${name}.assignment`)!.data as Int8Array).findIndex((v) => v !== 0);
  w[k] = w[k] * 1.5;
  one.set(`${name}.weight`, { dtype: 'F32', shape: one.get(`${name}.weight`)!.shape, data: w });
  assert.deepEqual(prunedFloatLayersOf(one), [name]);
});

test('export refuses an ECP state dict instead of packing its layers as ternary', () => {
  const { sd, ternary } = ecpFixture();
  assert.throws(() => packModel('lenet5', {}, sd, { source: 'runs/ecp/ternary.safetensors' }), (e: unknown) =>
    e instanceof FormatError && e.message.startsWith('runs/ecp/ternary.safetensors: layer(s) ') && e.message.includes(ternary[0]) &&
    /an ECP run: pruning, not ternarization.*nothing was written\. Run it with: ec2t predict --model lenet5 --weights runs\/ecp\/ternary\.safetensors/.test(e.message));
});

test('score counts ECP layers as pruned float: non-zeros at 32 bits plus a 1-bit mask, non-zero products only', () => {
  const { sd, ternary, ec2t } = ecpFixture();
  const s = scoreNetwork(describeForScore('lenet5', {}, sd, 28));
  const t = scoreNetwork(describeForScore('lenet5', {}, ec2t, 28));
  for (const name of ternary) {
    const l = s.layers.find((x) => x.name === name)!;
    const a = sd.get(`${name}.assignment`)!.data as Int8Array;
    const nz = a.reduce((n, v) => n + (v !== 0 ? 1 : 0), 0);
    assert.equal(l.ternary, false, `${name} is not ternary`);
    assert.equal(l.nonzeros, nz);
    const bias = sd.has(`${name}.bias`) ? sd.get(`${name}.bias`)!.data.length : 0;
    assert.equal(l.params, nz + a.length / 32 + bias);
    const hw = l.multiplications / nz;
    assert.ok(Number.isInteger(hw) && hw >= 1, `multiplications are non-zeros × output positions (${hw})`);
    assert.ok(l.params > t.layers.find((x) => x.name === name)!.params, 'more than the ternary count of the same layer');
  }
  assert.ok(s.params > t.params);
});
