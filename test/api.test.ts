/**
 * The public API as the README shows it: the package root exports the contract names, the README's
 * library example runs as written, and the runtime subpath loads a packed model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ec2t from '../index.js';
import { createModel, crossEntropy, Adam, loadSafetensors, saveSafetensors, stateDictForSave, Rng, randn, assignTernary } from '../index.js';
import { loadTernaryModel } from '../ec2t/runtime/index.js';
import { packModel } from '../ec2t/export.js';
import { TernaryQuantizer } from '../ec2t/quantizer.js';

test('the package root exports every name the issues make public', () => {
  for (const name of ['createModel', 'loadSafetensors', 'saveSafetensors', 'crossEntropy', 'Tensor', 'SGD', 'Adam', 'AdamW', 'assignTernary', 'noGrad', 'conv2d', 'DataLoader', 'loadMnist', 'TernaryQuantizer', 'setBackend', 'setBackendSettings', 'backendSettings', 'kernelTrace', 'writeReport', 'scoreNetwork', 'packAssignment']) {
    assert.ok(name in ec2t, `ec2t exports ${name}`);
  }
});

test("the README's library example runs as written", () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-api-'));
  saveSafetensors(join(dir, 'resnet20.safetensors'), stateDictForSave(createModel('resnet20', { numClasses: 10, seed: 2 })));

  const net = createModel('resnet20', { numClasses: 10, seed: 1 });
  const { tensors } = loadSafetensors(join(dir, 'resnet20.safetensors'));
  net.loadStateDict(tensors, { strict: true });
  const opt = new Adam({ params: net.parameters(), lr: 1e-3 });
  const x = randn([8, 3, 32, 32], new Rng(0));
  const loss = crossEntropy(net.forward(x), [0, 1, 2, 3, 4, 5, 6, 7]);
  loss.backward();
  opt.step();
  saveSafetensors(join(dir, 'out.safetensors'), stateDictForSave(net));
  assert.ok(Number.isFinite(loss.item()));

  const { assignment, lambda } = assignTernary(new Float32Array([0.3, -0.01, -0.4, 0.02]), { wp: 0.3, wn: 0.35, gain: 0.2, decay: 1, variant: 'reference' });
  assert.deepEqual([...assignment], [1, 0, -1, 0]);
  assert.ok(lambda >= 0);
});

test('ec2t/runtime loads a packed model and predicts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-rt-'));
  const net = createModel('lenet5', { seed: 3 });
  const q = new TernaryQuantizer(net, ['conv1', 'conv2', 'fc1', 'fc2'], { method: 'ec2t', variant: 'reference', gain: 0.1, initScale: 0.3, initMethod: 'scaler', ttqThreshold: 0.05, lr: 1e-4, centroidLr: 1e-5, weightDecay: 5e-6 });
  const sd = new Map([...q.ternaryStateDict()].map(([k, v]) => [k, 'dtype' in v ? v : { dtype: 'F32' as const, shape: [...v.shape], data: v.data }]));
  const packed = packModel('lenet5', {}, sd);
  const path = join(dir, 'lenet5.ec2t.safetensors');
  saveSafetensors(path, packed.tensors, packed.metadata);
  const model = loadTernaryModel(path);
  const input = new Float32Array(28 * 28).fill(0.5);
  const { data, shape } = model.predict(input, [1, 1, 28, 28]);
  assert.deepEqual(shape, [1, 10]);
  assert.ok(data.every((v) => Number.isFinite(v)));
});
