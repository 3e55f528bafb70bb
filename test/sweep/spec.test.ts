/**
 * Sweep specs: the cross product of the axes in a fixed order with deterministic folder names,
 * and every bad job, flag or value rejected before anything runs, naming the cell and the field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../cli/args.js';
import { expandCells, parseSweepSpec } from '../../sweep/spec.js';

const dir = mkdtempSync(join(tmpdir(), 'ec2t-spec-'));
const weights = join(dir, 'fp.safetensors');
writeFileSync(weights, 'placeholder: only its existence is checked here');

function cells(spec: unknown): ReturnType<typeof expandCells> {
  return expandCells(parseSweepSpec(JSON.stringify(spec), 'spec.json', dir));
}

test('sweep spec: cross product, last axis fastest, names from axis values, defaults applied', () => {
  const c = cells({ job: 'ternarize', options: { model: 'lenet5', weights: 'fp.safetensors', epochs: 1 }, axes: { gain: [0, 0.15], 'init-scale': [0.3], seed: [1, 2] } });
  assert.deepEqual(c.map((x) => x.name), ['gain-0_init-scale-0.3_seed-1', 'gain-0_init-scale-0.3_seed-2', 'gain-0.15_init-scale-0.3_seed-1', 'gain-0.15_init-scale-0.3_seed-2']);
  assert.equal(c[3].flags.gain, 0.15);
  assert.equal(c[3].flags.seed, 2);
  assert.equal(c[3].flags['retrain-epochs'], 15, 'unset flags take the command default');
  assert.equal(c[0].flags.weights, weights, 'relative paths resolve against the directory the sweep starts from');
  assert.equal(c[0].flags.out, undefined, 'the runner sets --out to the cell folder');
  assert.deepEqual(cells({ job: 'train', options: { model: 'lenet5' } }).map((x) => x.name), ['cell']);
});

test('sweep spec: bad jobs, flags and values are UsageErrors naming the cell and the field', () => {
  const base = { job: 'ternarize', options: { model: 'lenet5', weights: 'fp.safetensors' } };
  const cases: Array<[unknown, RegExp]> = [
    [{ ...base, job: 'ternarise' }, /field "job" "ternarise" is not a job; choose one of: train, ternarize, scale\. Did you mean ternarize\?/],
    [{ ...base, axes: { gian: [0, 1] } }, /axis "gian": ec2t ternarize has no --gian\. Did you mean "gain"\?/],
    [{ ...base, options: { ...base.options, lr: 'fast' } }, /sweep cell cell: option "lr" expects a number, got "fast"/],
    [{ ...base, axes: { gain: [0, -0.1] } }, /sweep cell gain--0\.1: axis "gain" must be >= 0, got -0\.1/],
    [{ ...base, axes: { method: ['ec2t', 'tqq'] } }, /sweep cell method-tqq: axis "method" "tqq" is not one of: ec2t, ttq, ecp/],
    [{ ...base, axes: { seed: [1, 1.5] } }, /sweep cell seed-1\.5: axis "seed" expects an integer, got 1\.5/],
    [{ ...base, options: { model: 'lenet5' } }, /sweep cell cell: ec2t ternarize needs --weights/],
    [{ ...base, options: { ...base.options, weights: 'missing.safetensors' } }, /sweep cell cell: option "weights": .*missing\.safetensors does not exist/],
    [{ ...base, options: { ...base.options, out: 'x' } }, /option "out": the sweep sets --out for every cell/],
    [{ ...base, axes: { gain: [] } }, /axis "gain" must be a non-empty list/],
    [{ ...base, axes: { gain: [0.1, 0.1] } }, /axis "gain" lists 0\.1 twice/],
    [{ ...base, axes: { model: ['lenet5'] } }, /"model" is both an option and an axis/],
    [{ ...base, axes: { layers: [['conv 1'], ['conv-1']] } }, /sweep cell layers-conv-1: two cells get this folder name/],
    [{ ...base, extra: 1 }, /unknown field "extra"/],
  ];
  for (const [spec, re] of cases) assert.throws(() => cells(spec), (e: unknown) => e instanceof UsageError && re.test((e as Error).message), `expected ${re}`);
});
