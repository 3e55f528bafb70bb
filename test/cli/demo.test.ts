/**
 * The main job in its quick form: train → ternarize → pack completes and prints the table, and
 * the packed model predicts what the trainer's own evaluation predicts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataLoader, loadMnist } from '../../datasets/index.js';
import { Rng } from '../../base/rng.js';
import { saveSafetensors, loadSafetensors, entryToFloat32 } from '../../nn/safetensors.js';
import { assertMatchesNn } from '../ec2t/ternary-fixture.js';

const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

/** One quick demo run shared by the tests of this file (it takes most of their time). */
let demoRun: { out: string; status: number | null; stdout: string; stderr: string } | null = null;
function quickDemo(): { out: string; status: number | null; stdout: string; stderr: string } {
  if (demoRun === null) {
    const out = mkdtempSync(join(tmpdir(), 'ec2t-demo-'));
    const r = spawnSync(process.execPath, [CLI, 'demo', '--quick', '--out', out, '--json'], { encoding: 'utf8', timeout: 300_000 });
    demoRun = { out, status: r.status, stdout: r.stdout, stderr: r.stderr };
  }
  return demoRun;
}

test('ec2t demo --quick trains, ternarizes, packs and prints the before/after table', () => {
  const r = quickDemo();
  const out = r.out;
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /\| LeNet-5 float32 \| \d+\.\d\d% \| 0\.00% \|/);
  assert.match(r.stderr, /\| LeNet-5 EC2T ternary \| \d+\.\d\d% \| \d+\.\d\d% \|/);
  const summary = JSON.parse(r.stdout) as { rows: Array<{ accuracy: number; sparsity: number; bytes: number }> };
  assert.equal(summary.rows.length, 2);
  const [fp, tern] = summary.rows;
  assert.ok(fp.accuracy > 0.5, `float accuracy ${fp.accuracy} is far above chance after the quick run`);
  assert.ok(tern.sparsity > 0 && tern.sparsity < 1);
  assert.ok(tern.bytes * 10 < fp.bytes, `packed ${tern.bytes} B is >10× smaller than float ${fp.bytes} B`);
  for (const f of ['lenet5-float/report.html', 'lenet5-ec2t/report.html', 'lenet5-ec2t/ternary.safetensors', 'lenet5.ec2t.safetensors']) {
    assert.ok(existsSync(join(out, f)), `${f} written`);
  }
  const metrics = readFileSync(join(out, 'lenet5-ec2t/metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { phase: string; layers: unknown[] });
  assert.deepEqual(metrics.map((m) => m.phase), ['ec2t', 'frozen']);
  assert.equal(metrics[0].layers.length, 4, 'conv1, conv2, fc1, fc2 are ternarized');
});

function argmaxRows(data: Float32Array, cols: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < data.length / cols; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (data[r * cols + c] > data[r * cols + best]) best = c;
    out.push(best);
  }
  return out;
}

test('train → ternarize → export → predict: the packed model predicts what the trained ternary model predicts', () => {
  const demo = quickDemo();
  const out = demo.out;
  assert.equal(demo.status, 0, demo.stderr);
  // 500 MNIST test images, normalised exactly as the trainer's evaluation does.
  const loader = new DataLoader(loadMnist({ split: 'test' }), { batchSize: 500, shuffle: false, rng: new Rng(0), copy: true });
  const batch = loader[Symbol.iterator]().next().value!;
  const input = join(out, 'input.safetensors');
  saveSafetensors(input, { input: batch.x });
  const viaRuntime = join(out, 'packed-out.safetensors');
  const viaNn = join(out, 'nn-out.safetensors');
  const a = spawnSync(process.execPath, [CLI, 'predict', '--model', join(out, 'lenet5.ec2t.safetensors'), '--input', input, '--output', viaRuntime], { encoding: 'utf8' });
  assert.equal(a.status, 0, a.stderr);
  const b = spawnSync(process.execPath, [CLI, 'predict', '--model', 'lenet5', '--weights', join(out, 'lenet5-ec2t/ternary.safetensors'), '--input', input, '--output', viaNn], { encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
  const ya = entryToFloat32(loadSafetensors(viaRuntime).tensors.get('output')!);
  const yb = entryToFloat32(loadSafetensors(viaNn).tensors.get('output')!);
  assert.equal(ya.length, 500 * 10);
  assert.deepEqual(argmaxRows(ya, 10), argmaxRows(yb, 10));
  assertMatchesNn(ya, yb, 'runtime vs nn logits of the trained demo model');
  const correct = argmaxRows(ya, 10).filter((p, i) => p === batch.labels[i]).length;
  const summary = JSON.parse(readFileSync(join(out, 'lenet5-ec2t/summary.json'), 'utf8')) as { accuracy: number };
  assert.ok(Math.abs(correct / 500 - summary.accuracy) < 0.05, `accuracy on 500 images ${correct / 500} is close to the trainer's test accuracy ${summary.accuracy}`);
});
