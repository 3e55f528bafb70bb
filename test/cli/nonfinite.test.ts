/**
 * Non-finite numbers never pass silently: training from NaN weights, or steps that turn the weights
 * non-finite while the loss is still finite, stop with a clear error before anything is saved over
 * the last checkpoint; eval refuses to report an accuracy for NaN weights.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ec2t } from '../helpers/cli.js';
import { Rng } from '../../base/rng.js';
import { createModel } from '../../nn/models/index.js';
import { stateDictForSave } from '../../nn/module.js';
import { saveSafetensors } from '../../nn/safetensors.js';
import { firstNonFinite } from '../../ec2t/train.js';

const tiny = ['--model', 'lenet5', '--dataset', 'mnist', '--limit-train', '128', '--val-size', '64', '--batch-size', '64', '--epochs', '1'];
const root = mkdtempSync(join(tmpdir(), 'ec2t-nonfinite-'));

function nanWeights(): string {
  const net = createModel('lenet5', { numClasses: 10, inChannels: 1, inputSize: 28, rng: new Rng(1) });
  net.namedParameters().find(([n]) => n === 'conv1.weight')![1].data[3] = NaN;
  const path = join(root, 'nan.safetensors');
  saveSafetensors(path, stateDictForSave(net), { format: 'pt', model: 'lenet5' });
  return path;
}

test('training from NaN weights stops with an error naming the parameter, before any checkpoint', () => {
  const out = join(root, 'from-nan');
  const r = ec2t(['train', ...tiny, '--weights', nanWeights(), '--out', out]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /the weights hold non-finite values before epoch 1, batch 1 \(conv1\.weight \(NaN\)\)/);
  assert.equal(existsSync(join(out, 'checkpoint.safetensors')), false);
  assert.equal(existsSync(join(out, 'best.safetensors')), false);
});

test('a step that makes the weights non-finite while the loss is finite stops the run', () => {
  // Adam's step is about lr per weight: lr 1e39 is beyond float32, so the first step writes -Inf/NaN.
  const out = join(root, 'blown');
  const r = ec2t(['train', ...tiny, '--optimizer', 'adam', '--lr', '1e39', '--out', out]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /the weights became non-finite at epoch 1, batch 1 \(\S+ \((NaN|Inf)\); loss was \d\.\d+\): the gradients held NaN or Inf/);
  assert.equal(existsSync(join(out, 'checkpoint.safetensors')), false);
});

test('eval on NaN weights says so instead of reporting an accuracy', () => {
  const r = ec2t(['eval', '--model', 'lenet5', '--weights', nanWeights(), '--json']);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /the weights hold non-finite values \(conv1\.weight \(NaN\)\); there is no accuracy to report/);
});

test('firstNonFinite finds NaN and ±Inf, including +Inf and −Inf that sum to NaN', () => {
  const net = createModel('lenet5', { numClasses: 10, inChannels: 1, inputSize: 28, rng: new Rng(2) });
  assert.equal(firstNonFinite(net), null);
  const w = net.namedParameters().find(([n]) => n === 'fc2.weight')![1].data;
  w[0] = Infinity;
  assert.equal(firstNonFinite(net), 'fc2.weight (Inf)');
  w[1] = -Infinity;
  assert.equal(firstNonFinite(net), 'fc2.weight (Inf)');
  w[2] = NaN;
  assert.equal(firstNonFinite(net), 'fc2.weight (NaN)');
});
