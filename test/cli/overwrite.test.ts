/**
 * Data that must never be lost: commands refuse (exit 2, saying what exists) to write over a
 * finished run, a non-empty folder or one of their own inputs; `--force` replaces a run folder but
 * never an input. File-system failures are one-line errors naming the user's file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { CLI, ec2t } from '../helpers/cli.js';
import { Tensor } from '../../engine/tensor.js';
import { saveSafetensors } from '../../nn/safetensors.js';

const tiny = ['train', '--model', 'lenet5', '--dataset', 'mnist', '--limit-train', '64', '--val-size', '64', '--batch-size', '64', '--epochs', '1', '--seed', '3', '--optimizer', 'sgd', '--lr', '0.01'];
const root = mkdtempSync(join(tmpdir(), 'ec2t-overwrite-'));
const run = join(root, 'float');
let trained = false;
function floatRun(): string {
  if (!trained) {
    const r = ec2t([...tiny, '--out', run]);
    assert.equal(r.code, 0, r.stderr);
    trained = true;
  }
  return run;
}

test('train --out at a finished run exits 2, says what is there and leaves it untouched; --force replaces it', () => {
  const dir = floatRun();
  const before = readFileSync(join(dir, 'best.safetensors'));
  const r = ec2t([...tiny, '--seed', '4', '--out', dir]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--out .* holds a finished ec2t train run; nothing was written.*--force/);
  assert.deepEqual(readFileSync(join(dir, 'best.safetensors')), before);
  const copy = join(root, 'replaced');
  assert.equal(ec2t([...tiny, '--out', copy]).code, 0);
  const f = ec2t([...tiny, '--seed', '4', '--out', copy, '--force']);
  assert.equal(f.code, 0, f.stderr);
  assert.match(f.stderr, /--force: .* removed .*best\.safetensors/);
  assert.notDeepEqual(readFileSync(join(copy, 'best.safetensors')), before, 'seed 4 trained a new model');
});

test('train --out at a folder holding other files exits 2 and names them; the files stay', () => {
  const dir = join(root, 'mine');
  mkdirSync(dir);
  writeFileSync(join(dir, 'thesis.tex'), 'precious');
  const r = ec2t([...tiny, '--out', dir]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /exists and is not empty \(thesis\.tex\)/);
  assert.equal(readFileSync(join(dir, 'thesis.tex'), 'utf8'), 'precious');
  assert.equal(existsSync(join(dir, 'config.json')), false);
});

test('ternarize --out at the float run whose best.safetensors is its input is refused, even with --force', () => {
  const dir = floatRun();
  const before = readFileSync(join(dir, 'best.safetensors'));
  const r = ec2t(['ternarize', '--model', 'lenet5', '--weights', join(dir, 'best.safetensors'), '--limit-train', '64', '--val-size', '64', '--epochs', '1', '--retrain-epochs', '0', '--out', dir, '--force']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--out .*best\.safetensors is the same file as --weights .*never writes over its input/);
  assert.deepEqual(readFileSync(join(dir, 'best.safetensors')), before);
});

test('train --weights inside its own --out is refused, even with --force', () => {
  const dir = floatRun();
  const r = ec2t([...tiny, '--weights', join(dir, 'last.safetensors'), '--out', dir, '--force']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /same file as --weights/);
});

test('predict and export refuse the same file as input and output', () => {
  const dir = floatRun();
  const input = join(root, 'x.safetensors');
  saveSafetensors(input, { input: new Tensor(new Float32Array(784), [1, 1, 28, 28]) });
  const before = readFileSync(input);
  const p = ec2t(['predict', '--model', 'lenet5', '--weights', join(dir, 'best.safetensors'), '--input', input, '--output', input]);
  assert.equal(p.code, 2, p.stderr);
  assert.match(p.stderr, /--output .* is the same file as --input/);
  assert.deepEqual(readFileSync(input), before);
  const w = join(dir, 'best.safetensors');
  const p2 = ec2t(['predict', '--model', 'lenet5', '--weights', w, '--input', input, '--output', `${root}/../${root.split('/').pop()}/float/best.safetensors`]);
  assert.equal(p2.code, 2, p2.stderr);
  assert.match(p2.stderr, /same file as --weights/);
  const e = ec2t(['export', '--model', 'lenet5', '--weights', w, '--out', w]);
  assert.equal(e.code, 2, e.stderr);
  assert.match(e.stderr, /--out .* is the same file as --weights/);
});

test("report --out at a run's config.json is refused; a non-HTML file needs --force", () => {
  const dir = floatRun();
  const cfg = readFileSync(join(dir, 'config.json'));
  const r = ec2t(['report', dir, '--out', join(dir, 'config.json')]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /is a file of the run folder .* never writes over its input/);
  assert.deepEqual(readFileSync(join(dir, 'config.json')), cfg);
  const notes = join(root, 'notes.txt');
  writeFileSync(notes, 'keep me');
  const n = ec2t(['report', dir, '--out', notes]);
  assert.equal(n.code, 2, n.stderr);
  assert.match(n.stderr, /exists and is not an HTML report/);
  assert.equal(readFileSync(notes, 'utf8'), 'keep me');
  assert.equal(ec2t(['report', dir, '--out', notes, '--force']).code, 0);
  assert.equal(ec2t(['report', dir, '--out', notes]).code, 0, 'an HTML report is replaced without --force');
});

test('a missing output folder, a folder as --weights and the file-size limit are one-line errors naming the user file', () => {
  const dir = floatRun();
  const input = join(root, 'x1.safetensors');
  saveSafetensors(input, { input: new Tensor(new Float32Array(784), [1, 1, 28, 28]) });
  const missing = join(root, 'no-such-folder', 'y.safetensors');
  const m = ec2t(['predict', '--model', 'lenet5', '--weights', join(dir, 'best.safetensors'), '--input', input, '--output', missing]);
  assert.equal(m.code, 1, m.stderr);
  assert.match(m.stderr, /y\.safetensors: cannot write: the folder .*no-such-folder does not exist/);
  assert.doesNotMatch(m.stderr, /ec2t-tmp|\n.+\n/);
  const d = ec2t(['eval', '--model', 'lenet5', '--weights', dir]);
  assert.equal(d.code, 1, d.stderr);
  assert.match(d.stderr, /it is a folder, not a file/);
  assert.equal(d.stderr.trim().split('\n').length, 1, d.stderr);
  // ulimit -f 1: files stop at 512 bytes; node ignores SIGXFSZ, so the write fails with EFBIG.
  const big = join(root, 'efbig');
  const cmd = `ulimit -f 1; exec '${process.execPath}' '${CLI}' ${[...tiny, '--out', big].join(' ')}`;
  const b = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(b.status, 1, b.stderr);
  assert.match(b.stderr, /\nec2t train: .*efbig\/\S+: cannot write: the file is larger than the file-size limit allows \(ulimit -f\) \(EFBIG\)\n$/);
  assert.equal(readdirSync(big).filter((n) => n.includes('ec2t-tmp')).length, 0, 'no temp file left');
});
