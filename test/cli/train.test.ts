/**
 * The `ec2t` command line end to end: train → interrupt → resume equals an uninterrupted run bit
 * for bit; eval's JSON contract; usage errors and exit codes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ec2t, interruptAfterFirstEpoch, metricsWithoutTimes, metricsLineCount } from '../helpers/cli.js';
import { mkdtempSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const small = ['train', '--model', 'lenet5', '--dataset', 'mnist', '--limit-train', '384', '--val-size', '256', '--batch-size', '64', '--epochs', '2', '--seed', '7', '--optimizer', 'sgd', '--lr', '0.02'];

test('train: an interrupted run resumed with --resume ends bit-identical to an uninterrupted one', () => {
  const root = mkdtempSync(join(tmpdir(), 'ec2t-cli-'));
  const full = join(root, 'full');
  const cut = join(root, 'cut');
  const a = ec2t([...small, '--out', full, '--json']);
  assert.equal(a.code, 0, a.stderr);
  const summary = JSON.parse(a.stdout) as { epochs: number; testAccuracy: number };
  assert.equal(summary.epochs, 2);
  // 384 images / 64 = 6 steps per epoch: stop in the middle of epoch 2.
  const b = ec2t([...small, '--out', cut], { EC2T_INTERRUPT_AFTER_STEPS: '8' });
  assert.equal(b.code, 130, b.stderr);
  assert.match(b.stderr, /resume with: ec2t train --resume/);
  assert.equal(metricsWithoutTimes(cut).length, 1, 'one epoch completed before the interrupt');
  const c = ec2t(['train', '--resume', cut]);
  assert.equal(c.code, 0, c.stderr);
  assert.deepEqual(readFileSync(join(cut, 'last.safetensors')), readFileSync(join(full, 'last.safetensors')));
  assert.deepEqual(metricsWithoutTimes(cut), metricsWithoutTimes(full));
  for (const f of ['config.json', 'manifest.json', 'metrics.jsonl', 'best.safetensors', 'checkpoint.safetensors', 'summary.json']) {
    assert.ok(existsSync(join(full, f)), `${f} written`);
  }
  const manifest = JSON.parse(readFileSync(join(full, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  for (const k of ['seed', 'packageVersion', 'node', 'backend', 'dataset']) assert.ok(k in manifest, `manifest has ${k}`);

  const e = ec2t(['eval', '--model', 'lenet5', '--weights', join(full, 'last.safetensors'), '--dataset', 'mnist', '--split', 'val', '--val-size', '256', '--seed', '7', '--json']);
  assert.equal(e.code, 0, e.stderr);
  const ev = JSON.parse(e.stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(ev), ['model', 'dataset', 'split', 'samples', 'loss', 'accuracy']);
  assert.equal(ev.samples, 256);
  const last = metricsWithoutTimes(full).at(-1) as { valAccuracy: number };
  assert.equal(ev.accuracy, last.valAccuracy, 'eval --split val reproduces the validation accuracy of training');
});

test('usage errors exit with 2 and name the flag and the valid choices', () => {
  const unknown = ec2t(['train', '--model', 'lenet5', '--epochz', '3']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown flag --epochz.*Did you mean --epochs\?/);
  const badChoice = ec2t(['train', '--model', 'lenet6']);
  assert.equal(badChoice.code, 2);
  assert.match(badChoice.stderr, /--model "lenet6" is not valid; choose one of: lenet5, resnet20/);
  const badNumber = ec2t(['train', '--model', 'lenet5', '--epochs', 'three']);
  assert.equal(badNumber.code, 2);
  assert.match(badNumber.stderr, /--epochs expects an integer, got "three"/);
  const missing = ec2t(['eval', '--model', 'lenet5']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /missing required flag --weights/);
  const cmd = ec2t(['trian']);
  assert.equal(cmd.code, 2);
  assert.match(cmd.stderr, /unknown command "trian". Did you mean train\?/);
  const nesterovAdam = ec2t(['train', '--model', 'lenet5', '--optimizer', 'adam', '--nesterov']);
  assert.equal(nesterovAdam.code, 2);
  assert.match(nesterovAdam.stderr, /--nesterov needs --optimizer sgd with --momentum > 0/);
  const ternRun = mkdtempSync(join(tmpdir(), 'ec2t-train-resume-'));
  writeFileSync(join(ternRun, 'config.json'), JSON.stringify({ command: 'ternarize', flags: { model: 'lenet5' } }));
  const wrongRun = ec2t(['train', '--resume', ternRun]);
  assert.equal(wrongRun.code, 2);
  assert.match(wrongRun.stderr, /not a train run folder \(config.json is from ec2t ternarize\); resume it with: ec2t ternarize --resume/);
  const cifar = ec2t(['train', '--model', 'resnet20', '--dataset', 'cifar10']);
  assert.equal(cifar.code, 2);
  assert.match(cifar.stderr, /needs --data DIR/);
});

test('--help works for every command', () => {
  for (const c of ['demo', 'train', 'eval', 'predict', 'ternarize', 'export', 'score', 'bench', 'report', 'scale']) {
    const r = ec2t([c, '--help']);
    assert.equal(r.code, 0, `${c} --help`);
    assert.match(r.stdout, new RegExp(`^ec2t ${c} — `));
  }
  const top = ec2t(['--help']);
  assert.equal(top.code, 0);
  assert.match(top.stdout, /Commands:/);
});

test('a missing weights file is a clear failure (exit 1), not a crash', () => {
  const r = ec2t(['eval', '--model', 'lenet5', '--weights', '/nonexistent/w.safetensors', '--dataset', 'mnist']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\/nonexistent\/w.safetensors: weights file not found/);
});

test('train: a real SIGINT checkpoints after the current batch, exits 130 with the resume hint, and --resume finishes', async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'ec2t-train-sigint-')), 'run');
  // 1024 images / 32 = 32 batches per epoch: the signal lands early in epoch 2.
  const { code, stderr } = await interruptAfterFirstEpoch(['train', '--model', 'lenet5', '--dataset', 'mnist', '--limit-train', '1024', '--val-size', '128', '--epochs', '2', '--batch-size', '32', '--out', out, '--json'], out);
  assert.equal(code, 130, stderr);
  assert.match(stderr, /resume with: ec2t train --resume /);
  assert.ok(existsSync(join(out, 'checkpoint.safetensors')));
  const r = ec2t(['train', '--resume', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { epochs: number }).epochs, 2);
  assert.equal(metricsLineCount(out), 2);
});
