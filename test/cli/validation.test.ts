/**
 * Values the command line takes are checked wherever they come from: `--seed` within the range the
 * generator really uses, and `--resume` re-reads config.json and the checkpoint's JSON as strictly
 * as flags (one-line usage/format errors naming the field, never a silently different run).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ec2t } from '../helpers/cli.js';
import { loadSafetensors, saveSafetensors } from '../../nn/safetensors.js';

const tiny = ['train', '--model', 'lenet5', '--dataset', 'mnist', '--limit-train', '128', '--val-size', '64', '--batch-size', '64', '--epochs', '2', '--optimizer', 'sgd', '--lr', '0.01'];

test('--seed accepts 0..2^32-1 and rejects what the generator would fold onto another seed', () => {
  for (const bad of ['4294967296', '1e300', '-1', '-4294967295']) {
    const r = ec2t([...tiny, `--seed=${bad}`, '--out', join(tmpdir(), 'never-written')]);
    assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
    assert.match(r.stderr, /--seed must be (<= 4294967295|>= 0), got/);
  }
  const help = ec2t(['train', '--help']);
  assert.match(help.stdout, /--seed S .*an integer in 0\.\.4294967295/);
  const threads = ec2t([...tiny, '--threads', '1000']);
  assert.equal(threads.code, 2);
  assert.match(threads.stderr, /--threads must be <= 64, got 1000/);
});

test('--resume rejects a hand-edited config.json or checkpoint field with one line naming it', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'ec2t-resume-')), 'run');
  const cut = ec2t([...tiny, '--seed', '5', '--out', dir], { EC2T_INTERRUPT_AFTER_STEPS: '1' });
  assert.equal(cut.code, 130, cut.stderr);
  const cfgPath = join(dir, 'config.json');
  const cfg = readFileSync(cfgPath, 'utf8');
  const edit = (f: (c: { flags: Record<string, unknown> }) => void): void => {
    const c = JSON.parse(cfg) as { flags: Record<string, unknown> };
    f(c);
    writeFileSync(cfgPath, JSON.stringify(c));
  };
  const cases: [string, (c: { flags: Record<string, unknown> }) => void, RegExp][] = [
    ['val-size as text', (c) => (c.flags['val-size'] = 'abc'), /config\.json flag "val-size" expects an integer, got "abc"/],
    ['seed as an object', (c) => (c.flags.seed = { a: 1 }), /config\.json flag "seed" expects an integer, got \{"a":1\}/],
    ['seed out of range', (c) => (c.flags.seed = 2 ** 40), /config\.json flag "seed" must be <= 4294967295/],
    ['unknown optimizer', (c) => (c.flags.optimizer = 'lbfgs'), /config\.json flag "optimizer" "lbfgs" is not one of: sgd, adam/],
    ['unknown flag', (c) => (c.flags.sneaky = 1), /config\.json has an unknown flag "sneaky"/],
  ];
  for (const [what, f, re] of cases) {
    edit(f);
    const r = ec2t(['train', '--resume', dir]);
    assert.equal(r.code, 2, `${what}: ${r.stderr}`);
    assert.match(r.stderr, re, what);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line\n${r.stderr}`);
  }
  writeFileSync(cfgPath, cfg);
  const ckPath = join(dir, 'checkpoint.safetensors');
  const ck = loadSafetensors(ckPath);
  const extra = JSON.parse(ck.metadata.extra) as Record<string, unknown>;
  for (const [field, value, re] of [
    ['loader', undefined, /field "loader" must be a data-loader state object/],
    ['step', 'seven', /field "step" must be an integer >= 0, got "seven"/],
    ['modelRng', [1, 2], /field "modelRng" must be a generator state/],
  ] as const) {
    const x = { ...extra, [field]: value };
    if (value === undefined) delete x[field];
    saveSafetensors(ckPath, ck.tensors, { ...ck.metadata, extra: JSON.stringify(x) });
    const r = ec2t(['train', '--resume', dir]);
    assert.equal(r.code, 1, `${field}: ${r.stderr}`);
    assert.match(r.stderr, re, field);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${field}: one line\n${r.stderr}`);
  }
  saveSafetensors(ckPath, ck.tensors, ck.metadata);
  const ok = ec2t(['train', '--resume', dir]);
  assert.equal(ok.code, 0, ok.stderr);
});
