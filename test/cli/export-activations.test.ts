/**
 * `ec2t export --activations int8|int16 [--calibrate FILE]` from the command line: the file it writes
 * is `ec2t.packed/4` and runs in `ec2t predict`; the flag combinations that make no sense are usage
 * errors (exit 2) that say what to give instead.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Rng } from '../../base/rng.js';
import { Tensor } from '../../engine/tensor.js';
import { parseSafetensors, saveSafetensors } from '../../nn/safetensors.js';
import { PACKED_FORMAT_V4 } from '../../ec2t/runtime/index.js';
import { ternaryFixture } from '../ec2t/ternary-fixture.js';
import { ec2t } from '../helpers/cli.js';

describe('ec2t export --activations', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-export-act-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const weights = join(dir, 'ternary.safetensors');
  saveSafetensors(weights, ternaryFixture('lenet5', { seed: 5 }).stateDict, { model: 'lenet5' });
  const rng = new Rng(1);
  const calib = join(dir, 'calib.safetensors');
  saveSafetensors(calib, { x: new Tensor(Float32Array.from({ length: 8 * 784 }, () => rng.normal()), [8, 1, 28, 28]) });
  const input = join(dir, 'in.safetensors');
  saveSafetensors(input, { input: new Tensor(new Float32Array(2 * 784).fill(0.5), [2, 1, 28, 28]) });

  test('int8 with --calibrate: an ec2t.packed/4 file listing each layer\'s step, which predict runs', () => {
    const out = join(dir, 'l8.ec2t.safetensors');
    const r = ec2t(['export', '--model', 'lenet5', '--weights', weights, '--activations', 'int8', '--calibrate', calib, '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { activations: Array<{ layer: string; mode: string; scale: number }> };
    assert.ok(j.activations.length > 0 && j.activations.every((a) => a.mode === 'int8' && a.scale > 0));
    assert.equal(parseSafetensors(new Uint8Array(readFileSync(out))).metadata.format, PACKED_FORMAT_V4);
    const p = ec2t(['predict', '--model', out, '--input', input, '--output', join(dir, 'y.safetensors')]);
    assert.equal(p.code, 0, p.stderr);
  });

  test('usage errors: int8 without calibration images, --calibrate without a mode, --activations with onnx', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--activations', 'int8'], /needs calibration images: give --calibrate FILE/],
      [['--calibrate', calib], /--calibrate applies to --activations int8\|int16/],
      [['--activations', 'int16', '--format', 'onnx'], /--activations applies to --format packed/],
      [['--activations', 'int4'], /int4/],
    ];
    for (const [flags, re] of cases) {
      const r = ec2t(['export', '--model', 'lenet5', '--weights', weights, '--out', join(dir, 'u.ec2t.safetensors'), ...flags]);
      assert.equal(r.code, 2, `${flags.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
    }
  });
});
