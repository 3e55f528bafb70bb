/**
 * `ec2t ternarize` end to end on a tiny MNIST subset: the run folder and JSON contract, the
 * best-model rule of docs/METHOD.md §6 (the first EC2T epoch is not a candidate when there are more), and
 * interrupt → `--resume` (in the main phase and in the frozen phase) equal to an uninterrupted run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLI, ec2t, interruptAfterFirstEpoch, metricsWithoutTimes, metricsLineCount } from '../helpers/cli.js';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, existsSync, readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel } from '../../nn/models/index.js';
import { stateDictForSave } from '../../nn/module.js';
import { saveSafetensors, loadSafetensors, serializeSafetensors } from '../../nn/safetensors.js';
import { ternaryFixture } from '../ec2t/ternary-fixture.js';

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
  assert.ok(!t.has('fc3.assignment'), 'fc3 stays float (docs/METHOD.md §2)');
  const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { phase: string });
  assert.deepEqual(lines.map((l) => l.phase), ['ec2t', 'ec2t', 'frozen']);
});

test('ternarize --resume: interrupted mid-epoch and on epoch ends, in the EC2T phase and in the frozen phase, ends byte-identical to an uninterrupted run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-tern-resume-'));
  const weights = join(dir, 'fp.safetensors');
  saveSafetensors(weights, stateDictForSave(createModel('lenet5', { seed: 3 })));
  // 256 images / 64 = 4 steps per epoch: steps 1–8 are the EC2T phase, 9–16 frozen retraining.
  const args = ['ternarize', '--model', 'lenet5', '--weights', weights, '--dataset', 'mnist', '--limit-train', '256', '--val-size', '128', '--epochs', '2', '--retrain-epochs', '2', '--gain', '0.2', '--batch-size', '64', '--seed', '4', '--lr', '0.003', '--centroid-lr', '0.0003'];
  const full = join(dir, 'full');
  const cut = join(dir, 'cut');
  const a = ec2t([...args, '--out', full, '--json']);
  assert.equal(a.code, 0, a.stderr);

  // Stop in the middle of EC2T epoch 2 (after step 6).
  const b = ec2t([...args, '--out', cut, '--json'], { EC2T_INTERRUPT_AFTER_STEPS: '6' });
  assert.equal(b.code, 130, b.stderr);
  assert.match(b.stderr, new RegExp(`resume with: ec2t ternarize --resume ${cut.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.deepEqual(JSON.parse(b.stdout), { interrupted: true, epochs: 1, seconds: (JSON.parse(b.stdout) as { seconds: number }).seconds, out: cut });
  assert.equal(metricsWithoutTimes(cut).length, 1, 'one EC2T epoch completed before the interrupt');
  assert.ok(!existsSync(join(cut, 'summary.json')), 'no summary for an interrupted run');

  // Each resume is stopped again by the hook (steps count across phases): after the last batch of
  // the EC2T phase (before its validation: the loader has already rolled over), in the middle of
  // frozen epoch 2, and after the run's very last batch.
  const phases = (): string[] => metricsWithoutTimes(cut).map((m) => (m as { phase: string }).phase);
  const c8 = ec2t(['ternarize', '--resume', cut], { EC2T_INTERRUPT_AFTER_STEPS: '8' });
  assert.equal(c8.code, 130, c8.stderr);
  assert.match(c8.stderr, /resuming .* in the EC2T phase after 1 completed epoch/);
  assert.deepEqual(phases(), ['ec2t']);
  const c14 = ec2t(['ternarize', '--resume', cut], { EC2T_INTERRUPT_AFTER_STEPS: '14' });
  assert.equal(c14.code, 130, c14.stderr);
  assert.match(c14.stderr, /EC2T phase: best validation accuracy [\d.]+% at epoch 2/);
  assert.deepEqual(phases(), ['ec2t', 'ec2t', 'frozen']);
  const c16 = ec2t(['ternarize', '--resume', cut], { EC2T_INTERRUPT_AFTER_STEPS: '16' });
  assert.equal(c16.code, 130, c16.stderr);
  assert.match(c16.stderr, /resuming .* in the frozen-assignment phase after 3 completed epoch/);
  assert.deepEqual(phases(), ['ec2t', 'ec2t', 'frozen']);

  // Flags beside --resume (other than --json) are named as ignored: the saved config wins.
  const d = ec2t(['ternarize', '--resume', cut, '--epochs', '5', '--gain', '0.9', '--json']);
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stderr, /resuming .* in the frozen-assignment phase after 3 completed epoch/);
  assert.deepEqual(phases(), ['ec2t', 'ec2t', 'frozen', 'frozen']);
  assert.match(d.stderr, /ignoring --epochs 5, --gain 0.9/);

  for (const f of ['ternary.safetensors', 'last.safetensors', 'best.safetensors', 'best-ec2t.safetensors', 'histograms.json']) {
    assert.ok(readFileSync(join(cut, f)).equals(readFileSync(join(full, f))), `${f} is byte-identical to the uninterrupted run's`);
  }
  assert.deepEqual(metricsWithoutTimes(cut), metricsWithoutTimes(full));
  const { seconds: _a, ...fullJson } = JSON.parse(a.stdout) as Record<string, number>;
  const { seconds: _d, ...cutJson } = JSON.parse(d.stdout) as Record<string, number>;
  assert.deepEqual(cutJson, fullJson);
  const manifest = JSON.parse(readFileSync(join(cut, 'manifest.json'), 'utf8')) as { resumes: Array<{ phase: string }> };
  assert.deepEqual(manifest.resumes.map((r) => r.phase), ['ec2t', 'ec2t', 'frozen', 'frozen']);
});

test('ternarize: a real SIGINT during training checkpoints, exits 130 with the resume hint, and --resume finishes the run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-tern-sigint-'));
  const weights = join(dir, 'fp.safetensors');
  saveSafetensors(weights, stateDictForSave(createModel('lenet5', { seed: 3 })));
  const out = join(dir, 'run');
  // 1024 images / 32 = 32 batches per epoch: the signal lands early in epoch 2, seconds before its end.
  const { code, stdout, stderr } = await interruptAfterFirstEpoch(['ternarize', '--model', 'lenet5', '--weights', weights, '--dataset', 'mnist', '--limit-train', '1024', '--val-size', '128', '--epochs', '2', '--retrain-epochs', '0', '--batch-size', '32', '--out', out, '--json'], out);
  assert.equal(code, 130, stderr);
  assert.match(stderr, /interrupt: saving a checkpoint/);
  assert.match(stderr, /resume with: ec2t ternarize --resume /);
  assert.deepEqual((JSON.parse(stdout) as { interrupted: boolean; epochs: number }).interrupted, true);
  assert.ok(existsSync(join(out, 'checkpoint.safetensors')));
  const r = ec2t(['ternarize', '--resume', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { epochs: number }).epochs, 2);
  assert.equal(metricsLineCount(out), 2);
});

test('ternarize --resume: clear usage errors for a folder that is not a resumable ternarize run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-tern-bad-'));
  const missing = ec2t(['ternarize', '--resume', join(dir, 'nope')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--resume .*nope: not a run folder \(no config.json\)/);
  const trainRun = join(dir, 'train-run');
  mkdirSync(trainRun);
  writeFileSync(join(trainRun, 'config.json'), JSON.stringify({ command: 'train', flags: { model: 'lenet5' } }));
  const wrong = ec2t(['ternarize', '--resume', trainRun]);
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /not a ternarize run folder \(config.json is from ec2t train\); resume it with: ec2t train --resume/);
  const noCk = join(dir, 'tern-run');
  mkdirSync(noCk);
  writeFileSync(join(noCk, 'config.json'), JSON.stringify({ command: 'ternarize', flags: { model: 'lenet5' } }));
  const none = ec2t(['ternarize', '--resume', noCk]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no checkpoint.safetensors to resume from/);
  const noModel = ec2t(['ternarize', '--weights', 'x.safetensors']);
  assert.equal(noModel.code, 2);
  assert.match(noModel.stderr, /missing required flag --model .*unless you --resume/);
});

test('ternarize --weights with a ternary-valued checkpoint (module. prefix, no siblings) starts from its assignment and centroids', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-tern-authors-'));
  const f = ternaryFixture('lenet5', { seed: 2 });
  const sd = new Map([...f.stateDict].filter(([k]) => !/\.(w_p|w_n|assignment)$/.test(k)).map(([k, e]) => [`module.${k}`, e]));
  const weights = join(dir, 'authors.safetensors');
  writeFileSync(weights, serializeSafetensors(sd));
  const out = join(dir, 'run');
  // No epoch: what is written is the starting state.
  const r = ec2t(['ternarize', '--model', 'lenet5', '--weights', weights, '--dataset', 'mnist', '--limit-train', '64', '--val-size', '32', '--epochs', '0', '--retrain-epochs', '0', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /note: 4 layer\(s\) of .*authors\.safetensors hold only \{−w_n, 0, \+w_p\}/);
  const t = loadSafetensors(join(out, 'ternary.safetensors')).tensors;
  for (const layer of f.ternary) {
    for (const k of ['assignment', 'w_p', 'w_n']) assert.deepEqual(t.get(`${layer}.${k}`)?.data, f.stateDict.get(`${layer}.${k}`)?.data, `${layer}.${k}`);
  }
});
