/**
 * `ec2t ternarize` end to end on a tiny MNIST subset: the run folder and JSON contract, and the
 * best-model rule of EC2T.md §6 (the first EC2T epoch is not a candidate when there are more).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createModel } from '../../nn/models/index.js';
import { stateDictForSave } from '../../nn/module.js';
import { saveSafetensors, loadSafetensors } from '../../nn/safetensors.js';

const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

test('ternarize: run folder, --json contract, best model chosen among epochs > first, ternary siblings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-tern-'));
  const weights = join(dir, 'fp.safetensors');
  saveSafetensors(weights, stateDictForSave(createModel('lenet5', { seed: 5 })));
  const out = join(dir, 'run');
  const r = spawnSync(process.execPath, [CLI, 'ternarize', '--model', 'lenet5', '--weights', weights, '--dataset', 'mnist', '--limit-train', '256', '--val-size', '128', '--epochs', '2', '--retrain-epochs', '1', '--gain', '0.2', '--batch-size', '64', '--out', out, '--json'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout.trim()) as Record<string, number>;
  assert.deepEqual(Object.keys(j), ['accuracy', 'sparsity', 'overallSparsity', 'epochs', 'seconds']);
  assert.equal(j.epochs, 3);
  assert.match(r.stderr, /EC2T phase: best validation accuracy [\d.]+% at epoch 2/);
  for (const f of ['config.json', 'manifest.json', 'metrics.jsonl', 'ternary.safetensors', 'best.safetensors', 'last.safetensors', 'histograms.json', 'summary.json', 'report.html']) {
    assert.ok(existsSync(join(out, f)), `${f} written`);
  }
  const t = loadSafetensors(join(out, 'ternary.safetensors')).tensors;
  for (const layer of ['conv1', 'conv2', 'fc1', 'fc2']) {
    assert.equal(t.get(`${layer}.assignment`)?.dtype, 'I8');
    assert.deepEqual(t.get(`${layer}.w_p`)?.shape, [1]);
  }
  assert.ok(!t.has('fc3.assignment'), 'fc3 stays float (EC2T.md §2)');
  const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { phase: string });
  assert.deepEqual(lines.map((l) => l.phase), ['ec2t', 'ec2t', 'frozen']);
});
