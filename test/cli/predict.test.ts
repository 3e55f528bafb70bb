/**
 * `ec2t export`, `ec2t predict` (float model through nn, packed model through the runtime) and
 * `ec2t score`, spawned as the real CLI on tiny files in a temp folder.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Rng } from '../../base/rng.js';
import { Tensor } from '../../engine/tensor.js';
import { loadSafetensors, saveSafetensors } from '../../nn/safetensors.js';
import { assertMatchesNn, ternaryFixture } from '../ec2t/ternary-fixture.js';
import { ec2t } from '../helpers/cli.js';
import { loadTernaryModel } from '../../ec2t/runtime/index.js';


/** The `output` tensors of two predict files: shape [2, 10] and equal within float32 rounding (see RUNTIME_RTOL). */
function assertSameLogits(fileA: string, fileB: string): void {
  const ya = loadSafetensors(fileA).tensors.get('output')!;
  const yb = loadSafetensors(fileB).tensors.get('output')!;
  assert.deepEqual(ya.shape, [2, 10]);
  assertMatchesNn(ya.data as Float32Array, yb.data as Float32Array, 'predict through the runtime vs through nn');
}

describe('ec2t export / predict / score', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-predict-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const f = ternaryFixture('lenet5', { seed: 5, deadFraction: 0.2 });
  const weights = join(dir, 'ternary.safetensors');
  saveSafetensors(weights, f.stateDict, { format: 'pt', model: 'lenet5' });
  const rng = new Rng(1);
  const x = new Float32Array(2 * 28 * 28).map(() => rng.normal());
  const input = join(dir, 'in.safetensors');
  saveSafetensors(input, { input: new Tensor(x, [2, 1, 28, 28]) });
  const packed = join(dir, 'lenet5.ec2t.safetensors');

  test('export --run prints packed vs float32 bytes', () => {
    const r = ec2t(['export', '--run', dir, '--out', packed, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.bytes, statSync(packed).size);
    assert.ok(j.floatBytes > 5 * j.bytes, JSON.stringify(j));
  });

  test('predict: packed model through the runtime equals the float model through nn', () => {
    const a = ec2t(['predict', '--model', packed, '--input', input, '--output', join(dir, 'a.safetensors')]);
    assert.equal(a.code, 0, a.stderr);
    const b = ec2t(['predict', '--model', 'lenet5', '--weights', weights, '--input', input, '--output', join(dir, 'b.safetensors')]);
    assert.equal(b.code, 0, b.stderr);
    assertSameLogits(join(dir, 'a.safetensors'), join(dir, 'b.safetensors'));
  });

  test('mobilenetv2 (α = 0.5): export, then the packed model through the runtime equals the float model through nn', () => {
    const m = ternaryFixture('mobilenetv2', { seed: 6, deadFraction: 0.2, modelOptions: { cifar: true, widthMult: 0.5 } });
    const w = join(dir, 'mb.safetensors');
    saveSafetensors(w, m.stateDict, { format: 'pt', model: 'mobilenetv2' });
    const xin = join(dir, 'mb-in.safetensors');
    saveSafetensors(xin, { input: new Tensor(new Float32Array(2 * 3 * 32 * 32).map(() => rng.normal()), [2, 3, 32, 32]) });
    const out = join(dir, 'mb.ec2t.safetensors');
    const e = ec2t(['export', '--model', 'mobilenetv2', '--weights', w, '--out', out, '--json']);
    assert.equal(e.code, 0, e.stderr);
    assert.ok(JSON.parse(e.stdout).removedChannels > 0);
    assert.equal(loadTernaryModel(out).program.input.height, 32, 'CIFAR strides by default');
    const big = join(dir, 'mb224.ec2t.safetensors');
    const e224 = ec2t(['export', '--model', 'mobilenetv2', '--weights', w, '--out', big, '--input-size', '224']);
    assert.equal(e224.code, 0, e224.stderr);
    assert.equal(loadTernaryModel(big).program.input.height, 224, '--input-size 224 selects the ImageNet strides');
    const a = ec2t(['predict', '--model', out, '--input', xin, '--output', join(dir, 'mb-a.safetensors')]);
    assert.equal(a.code, 0, a.stderr);
    const b = ec2t(['predict', '--model', 'mobilenetv2', '--weights', w, '--input', xin, '--output', join(dir, 'mb-b.safetensors')]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stderr, /note: mobilenetv2 uses CIFAR strides .* for 32 px inputs/, 'predict says which strides it chose');
    assertSameLogits(join(dir, 'mb-a.safetensors'), join(dir, 'mb-b.safetensors'));
    // --input-size 224 keeps the ImageNet strides on a 32 px input (the last stage at 1×1): other logits, no note.
    const c = ec2t(['predict', '--model', 'mobilenetv2', '--weights', w, '--input', xin, '--output', join(dir, 'mb-c.safetensors'), '--input-size', '224']);
    assert.equal(c.code, 0, c.stderr);
    assert.doesNotMatch(c.stderr, /note: mobilenetv2/);
    const yc = loadSafetensors(join(dir, 'mb-c.safetensors')).tensors.get('output')!;
    const yb = loadSafetensors(join(dir, 'mb-b.safetensors')).tensors.get('output')!;
    assert.deepEqual(yc.shape, [2, 10]);
    assert.notDeepEqual(Array.from(yc.data as Float32Array), Array.from(yb.data as Float32Array));
    assert.match(e.stderr, /note: mobilenetv2 uses CIFAR strides/, 'export says which strides it chose');
    const bn = ec2t(['bench', '--model', 'mobilenetv2', '--mode', 'infer', '--batch-size', '1', '--steps', '1', '--input-size', '96']);
    assert.equal(bn.code, 0, bn.stderr);
    assert.doesNotMatch(bn.stderr, /note: mobilenetv2/, 'an --input-size given is not a choice to announce');
    const s = ec2t(['score', '--model', 'mobilenetv2', '--weights', w, '--json']);
    assert.equal(s.code, 0, s.stderr);
    const j = JSON.parse(s.stdout);
    assert.equal(j.ternary, true);
    assert.equal(j.bytes, statSync(out).size);
    assert.ok(j.params < j.dense.params && j.flops < j.dense.flops, JSON.stringify({ p: j.params, f: j.flops }));
  });

  test('bench --model FILE.ec2t.safetensors --mode infer --json: the dense benchmark\'s JSON fields', () => {
    const t = ec2t(['bench', '--model', packed, '--mode', 'infer', '--batch-size', '2', '--steps', '2', '--json']);
    assert.equal(t.code, 0, t.stderr);
    const d = ec2t(['bench', '--model', 'lenet5', '--mode', 'infer', '--batch-size', '2', '--steps', '2', '--json']);
    assert.equal(d.code, 0, d.stderr);
    const jt = JSON.parse(t.stdout);
    const jd = JSON.parse(d.stdout);
    assert.deepEqual(Object.keys(jt).sort(), Object.keys(jd).sort());
    assert.equal(jt.backend, 'ternary-runtime');
    assert.equal(jt.batchSize, 2);
    assert.ok(jt.imagesPerSecond > 0 && Math.abs(jt.imagesPerSecond - 2000 / jt.msPerStep) < 1e-6 * jt.imagesPerSecond);
    assert.equal(ec2t(['bench', '--model', packed, '--mode', 'train', '--json']).code, 2);
  });

  test('bad input: corrupt file, wrong input shape, unknown model, missing flags', () => {
    const bad = join(dir, 'bad.ec2t.safetensors');
    writeFileSync(bad, 'not a safetensors file at all');
    const r1 = ec2t(['predict', '--model', bad, '--input', input, '--output', join(dir, 'c.safetensors')]);
    assert.equal(r1.code, 1);
    assert.match(r1.stderr, /bad\.ec2t\.safetensors/);
    const wrong = join(dir, 'wrong.safetensors');
    saveSafetensors(wrong, { input: new Tensor(new Float32Array(3 * 28 * 28), [1, 3, 28, 28]) });
    const r2 = ec2t(['predict', '--model', packed, '--input', wrong, '--output', join(dir, 'c.safetensors')]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /input channel/);
    const r3 = ec2t(['score', '--model', 'nosuchnet']);
    assert.equal(r3.code, 2);
    const r4 = ec2t(['export', '--out', join(dir, 'x.safetensors')]);
    assert.equal(r4.code, 2);
    const r5 = ec2t(['predict', '--model', 'lenet5', '--input', input, '--output', join(dir, 'c.safetensors')]);
    assert.equal(r5.code, 2);
  });

  test('score --json: dense ResNet-20 has 269,722 params and ~81.3M FLOPs', () => {
    const r = ec2t(['score', '--model', 'resnet20', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.params, 269722);
    assert.equal(Math.round(j.flops / 1e5) / 10, 81.3);
    assert.equal(j.dense.params, 269722);
    for (const k of ['additions', 'multiplications', 'sparsity', 'bytes', 'layers']) assert.ok(k in j, k);
  });

  test('score of ternary weights: fewer params, bytes = the packed file', () => {
    const r = ec2t(['score', '--model', 'lenet5', '--weights', weights, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.ternary, true);
    assert.ok(j.params < j.dense.params / 5);
    assert.equal(j.bytes, statSync(packed).size);
  });
});
