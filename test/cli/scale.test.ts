/**
 * `ec2t scale --phi P --from DIR`: the φ-scaled MicroNet starts from a smaller run folder grown into
 * it (nn/models/grow.ts), end to end on the embedded MNIST; a bad --from fails with a clear message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ec2t } from '../helpers/cli.js';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../base/rng.js';
import { MicroNet } from '../../nn/models/index.js';
import { stateDictForSave } from '../../nn/module.js';
import { loadSafetensors, saveSafetensors } from '../../nn/safetensors.js';

/**
 * A run folder as `ec2t scale --grid 0.14,0.5` writes it (config.json + best.safetensors), without
 * spending the time to train it: 1 block per stage, channels 8/16/32, MNIST geometry.
 */
function smallRun(root: string): { dir: string; net: MicroNet } {
  const dir = join(root, 'small');
  mkdirSync(dir, { recursive: true });
  const net = new MicroNet({ rng: new Rng(3), numClasses: 10, inChannels: 1, depth: 0.14, width: 0.5 });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ command: 'train', flags: { model: 'micronet', dataset: 'mnist' }, modelOptions: { depth: 0.14, width: 0.5 } }));
  saveSafetensors(join(dir, 'best.safetensors'), stateDictForSave(net), { format: 'pt', model: 'micronet' });
  return { dir, net };
}

const tiny = ['--dataset', 'mnist', '--limit-train', '128', '--val-size', '64', '--epochs', '1', '--batch-size', '64', '--seed', '5'];

test('scale --phi --from: grows the scaled network from a smaller run, then trains it', () => {
  const root = mkdtempSync(join(tmpdir(), 'ec2t-scale-'));
  const { dir, net } = smallRun(root);
  const out = join(root, 'phi');
  // d = 0.28 → 2 blocks per stage, w = 0.5 → the same channels: a pure depth growth, cheap to train.
  const r = ec2t(['scale', '--phi', '1', '--base', '0.28,0.5', '--from', dir, ...tiny, '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /grown from .*best\.safetensors \(1 blocks\/stage .* → 2 .*71 tensors copied, 0 widened, 3 new identity blocks/);
  const grown = loadSafetensors(join(out, 'grown.safetensors')).tensors;
  // The mapped weights are the small run's, the new blocks' last BN is zero.
  assert.deepEqual([...grown.get('layer2.0.conv1.weight')!.data as Float32Array], [...net.stateDict().get('layer2.0.conv1.weight')!.data]);
  assert.ok((grown.get('layer3.1.bn3.weight')!.data as Float32Array).every((v) => v === 0));
  const cfg = JSON.parse(readFileSync(join(out, 'phi1', 'config.json'), 'utf8')) as { flags: Record<string, unknown> };
  assert.equal(cfg.flags.weights, join(out, 'grown.safetensors'), 'the training run records where it started');
  assert.ok(existsSync(join(out, 'phi1', 'summary.json')));
  const table = JSON.parse(r.stdout) as { rows: Array<{ depth: number; width: number }> };
  assert.equal(table.rows.length, 1);
});

test('scale --from: a bad folder, a missing --phi or a network that does not map fail with a clear message', () => {
  const root = mkdtempSync(join(tmpdir(), 'ec2t-scale-'));
  const { dir } = smallRun(root);
  const none = ec2t(['scale', '--phi', '1', '--base', '0.28,0.5', '--from', join(root, 'nope'), ...tiny, '--out', join(root, 'a')]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--from .*nope: not a run folder \(no config\.json\)/);
  const noPhi = ec2t(['scale', '--from', dir, ...tiny, '--out', join(root, 'b')]);
  assert.equal(noPhi.code, 2);
  assert.match(noPhi.stderr, /--from DIR grows the --phi network/);
  const smaller = ec2t(['scale', '--phi', '1', '--base', '0.14,0.25', '--from', dir, ...tiny, '--out', join(root, 'c')]);
  assert.equal(smaller.code, 1);
  assert.match(smaller.stderr, /does not map into the big one \(small: 1 blocks\/stage, channels \[8, 16, 32\]; big: 1 blocks\/stage, channels \[8, 8, 16\]\)/);
  const other = ec2t(['scale', '--phi', '1', '--base', '0.28,0.5', '--from', dir, ...tiny, '--dataset', 'cifar10', '--data', root, '--out', join(root, 'd')]);
  assert.equal(other.code, 2);
  assert.match(other.stderr, /trained on mnist, this one uses --dataset cifar10/);
});
