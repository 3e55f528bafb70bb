/**
 * `predict` and `bench` decide by one rule whether `--model` is a packed ternary model file or an
 * architecture name (they used to disagree on an existing file named like a model).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isPackedModelPath } from '../../cli/common.js';
import { CLI } from '../helpers/cli.js';

describe('isPackedModelPath', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-packed-path-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'lenet5'), 'a stray file named like a model');
  writeFileSync(join(dir, 'model.bin'), 'not a model name');

  test('a .safetensors name is a packed model, whether or not it exists yet', () => {
    assert.equal(isPackedModelPath(join(dir, 'missing.ec2t.safetensors')), true);
  });

  test('an existing file that is not a model name is a packed model', () => {
    assert.equal(isPackedModelPath(join(dir, 'model.bin')), true);
  });

  test('a model name stays an architecture, even with a file of that name in the working folder', () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      assert.equal(isPackedModelPath('lenet5'), false);
    } finally {
      process.chdir(cwd);
    }
    assert.equal(isPackedModelPath('resnet20'), false);
  });

  test('ec2t bench follows it: --model lenet5 next to a file called lenet5 times the architecture', () => {
    const r = spawnSync(process.execPath, [CLI, 'bench', '--model', 'lenet5', '--mode', 'infer', '--batch-size', '1', '--steps', '1', '--json'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { model: string; backend: string };
    assert.equal(out.model, 'lenet5');
    assert.notEqual(out.backend, 'ternary-runtime');
  });
});
