/**
 * `--dataset imagefolder` end to end on a generated folder: train a few steps, evaluate the saved
 * weights (classes and sizes from the folder), the corrupt-image error and `--skip-bad-images`,
 * and the usage errors.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ec2t } from '../helpers/cli.js';
import { writeImageFolder } from '../datasets/imagefolder-fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'ec2t-imagefolder-'));
after(() => rmSync(root, { recursive: true, force: true }));
const data = join(root, 'images');
writeImageFolder(data);

test('train on an image folder, then eval its weights on val/; a corrupt image stops eval naming it, or is skipped', () => {
  const out = join(root, 'run');
  const t = ec2t(['train', '--model', 'resnet20', '--dataset', 'imagefolder', '--data', data, '--input-size', '24', '--epochs', '1', '--batch-size', '4', '--seed', '3', '--out', out, '--json']);
  assert.equal(t.code, 0, t.stderr);
  const s = JSON.parse(t.stdout) as { dataset: string; epochs: number; testAccuracy: number };
  assert.equal(s.dataset, 'imagefolder');
  assert.equal(s.epochs, 1);
  assert.match(t.stderr, /ignored 1 file\(s\) that are not \.jpg, \.jpeg or \.png/);
  const weights = join(out, 'last.safetensors');
  const e = ec2t(['eval', '--model', 'resnet20', '--weights', weights, '--dataset', 'imagefolder', '--data', data, '--input-size', '24', '--json']);
  assert.equal(e.code, 0, e.stderr);
  const j = JSON.parse(e.stdout) as { samples: number; accuracy: number };
  assert.equal(j.samples, 6);
  assert.equal(j.accuracy, s.testAccuracy, 'eval reproduces train\'s test evaluation');
  const bad = join(data, 'val', 'bee', 'v1.png');
  writeFileSync(bad, 'not a png');
  const e2 = ec2t(['eval', '--model', 'resnet20', '--weights', weights, '--dataset', 'imagefolder', '--data', data, '--input-size', '24']);
  assert.equal(e2.code, 1);
  assert.ok(e2.stderr.includes(bad), e2.stderr);
  const e3 = ec2t(['eval', '--model', 'resnet20', '--weights', weights, '--dataset', 'imagefolder', '--data', data, '--input-size', '24', '--skip-bad-images', '--json']);
  assert.equal(e3.code, 0, e3.stderr);
  assert.equal((JSON.parse(e3.stdout) as { samples: number }).samples, 5);
  assert.match(e3.stderr, /skipped 1 unreadable image\(s\)/);
});

test('usage errors: imagefolder without --data; --skip-bad-images elsewhere; --input-size against a fixed-size dataset', () => {
  const a = ec2t(['train', '--model', 'resnet20', '--dataset', 'imagefolder', '--epochs', '1']);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /--dataset imagefolder needs --data DIR/);
  const b = ec2t(['train', '--model', 'lenet5', '--skip-bad-images', '--epochs', '1']);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /--skip-bad-images applies to --dataset imagefolder only/);
  const c = ec2t(['train', '--model', 'lenet5', '--input-size', '32', '--epochs', '1', '--limit-train', '64']);
  assert.equal(c.code, 2);
  assert.match(c.stderr, /--input-size 32: the mnist images are 28 px/);
});
