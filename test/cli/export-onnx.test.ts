/**
 * `ec2t export --format onnx`, spawned as the real CLI: what it prints, that the file is the
 * library's (and runs in onnxruntime), `--run` with its default output, and the output rules
 * (no overwrite without --force, never over an input, no float16).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { exportOnnx } from '../../ec2t/onnx.js';
import { saveSafetensors } from '../../nn/safetensors.js';
import { ternaryFixture } from '../ec2t/ternary-fixture.js';
import { ec2t } from '../helpers/cli.js';

describe('ec2t export --format onnx', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-onnx-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const float = ternaryFixture('lenet5', { seed: 3, layers: () => [] });
  const floatWeights = join(dir, 'float.safetensors');
  saveSafetensors(floatWeights, float.stateDict);
  const run = join(dir, 'run');
  mkdirSync(run);
  const tern = ternaryFixture('lenet5', { seed: 4, deadFraction: 0.2 });
  saveSafetensors(join(run, 'ternary.safetensors'), tern.stateDict, { format: 'pt', model: 'lenet5' });
  const out = join(dir, 'lenet5.onnx');

  test('--model --weights --format onnx writes the library\'s bytes and says what it wrote; onnxruntime runs it', async () => {
    const r = ec2t(['export', '--model', 'lenet5', '--weights', floatWeights, '--format', 'onnx', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const bytes = readFileSync(out);
    assert.equal(r.stdout, `${out}: ONNX opset 13, ${bytes.length} bytes; input [N, 1, 28, 28], output [N, 10]; float32, no ternary layers\n`);
    assert.deepEqual(new Uint8Array(bytes), exportOnnx('lenet5', {}, float.stateDict).bytes);
    const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
    const y = (await session.run({ input: new ort.Tensor('float32', new Float32Array(3 * 28 * 28), [3, 1, 28, 28]) })).output;
    assert.deepEqual(y.dims, [3, 10]);
    await session.release();
  });

  test('an existing --out needs --force; nothing is written without it', () => {
    const before = readFileSync(out);
    writeFileSync(out, 'not a model');
    const r = ec2t(['export', '--model', 'lenet5', '--weights', floatWeights, '--format', 'onnx', '--out', out]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--out .*lenet5\.onnx exists; nothing was written\. Choose another --out, or give --force to replace it/);
    assert.equal(readFileSync(out, 'utf8'), 'not a model');
    const f = ec2t(['export', '--model', 'lenet5', '--weights', floatWeights, '--format', 'onnx', '--out', out, '--force']);
    assert.equal(f.code, 0, f.stderr);
    assert.deepEqual(readFileSync(out), before);
    // The packed format follows the same rule.
    const packed = join(dir, 'p.ec2t.safetensors');
    assert.equal(ec2t(['export', '--run', run, '--out', packed]).code, 0);
    const p = ec2t(['export', '--run', run, '--out', packed]);
    assert.equal(p.code, 2, p.stderr);
    assert.match(p.stderr, /exists; nothing was written/);
  });

  test('never over an input (even with --force), not into a folder, no --float16', () => {
    const before = readFileSync(floatWeights);
    const r = ec2t(['export', '--model', 'lenet5', '--weights', floatWeights, '--format', 'onnx', '--out', floatWeights, '--force']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /is the same file as --weights/);
    assert.deepEqual(readFileSync(floatWeights), before);
    const d = ec2t(['export', '--model', 'lenet5', '--weights', floatWeights, '--format', 'onnx', '--out', dir, '--force']);
    assert.equal(d.code, 2, d.stderr);
    assert.match(d.stderr, /is a folder; give a file name/);
    const h = ec2t(['export', '--model', 'lenet5', '--weights', floatWeights, '--format', 'onnx', '--out', join(dir, 'h.onnx'), '--float16']);
    assert.equal(h.code, 2, h.stderr);
    assert.match(h.stderr, /--float16 applies to --format packed/);
    const bad = ec2t(['export', '--model', 'lenet5', '--weights', floatWeights, '--format', 'tflite', '--out', join(dir, 'h.onnx')]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /packed, onnx|packed\|onnx/);
  });

  test('--run DIR --format onnx writes DIR/model.onnx with the ternary layers listed (--json)', () => {
    const r = ec2t(['export', '--run', run, '--format', 'onnx', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { format: string; path: string; bytes: number; opset: number; input: unknown[]; output: unknown[]; ternaryLayers: string[] };
    assert.equal(j.format, 'onnx');
    assert.equal(j.path, join(run, 'model.onnx'));
    assert.equal(j.bytes, statSync(j.path).size);
    assert.equal(j.opset, 13);
    assert.deepEqual(j.input, ['N', 1, 28, 28]);
    assert.deepEqual(j.output, ['N', 10]);
    assert.deepEqual([...j.ternaryLayers].sort(), [...tern.ternary].sort());
  });
});
