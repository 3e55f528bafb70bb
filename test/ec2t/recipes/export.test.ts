/**
 * The export and score recipes as library calls: they write the bytes of the pack / ONNX
 * functions they wrap, take the model from a run folder's config.json when the weights do not
 * name it, keep an existing output without `force`, and score with the counts of score-rules.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { UsageError } from '../../../base/errors.js';
import { describeForScore, packModel } from '../../../ec2t/export.js';
import { exportOnnx } from '../../../ec2t/onnx.js';
import { scoreWithRules } from '../../../ec2t/score-rules.js';
import { exportOnnxModel, exportPacked, scoreModel } from '../../../ec2t/recipes/export.js';
import { saveSafetensors } from '../../../nn/safetensors.js';
import { ternaryFixture } from '../ternary-fixture.js';

describe('export recipes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-export-recipe-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const tern = ternaryFixture('lenet5', { seed: 5, deadFraction: 0.2 });
  const run = join(dir, 'run');
  mkdirSync(run);
  const weights = join(run, 'ternary.safetensors');
  // No model in the metadata: the recipe must read it from the run's config.json.
  saveSafetensors(weights, tern.stateDict, { format: 'pt' });
  writeFileSync(join(run, 'config.json'), JSON.stringify({ command: 'ternarize', flags: { model: 'lenet5' } }));

  test('exportPacked writes packModel\'s bytes to the run folder\'s default file and reports them', () => {
    const r = exportPacked({ run });
    const expected = packModel('lenet5', {}, tern.stateDict, { source: weights });
    assert.equal(r.path, join(run, 'model.ec2t.safetensors'));
    assert.equal(r.model, 'lenet5');
    assert.deepEqual(new Uint8Array(readFileSync(r.path)), expected.bytes);
    assert.equal(r.bytes, expected.bytes.length);
    assert.equal(r.removedChannels, expected.dead.reduce((a, d) => a + d.removed.length, 0));
    assert.ok(r.removedChannels > 0, 'the fixture has dead channels');
  });

  test('an existing output is kept without force and replaced with it', () => {
    const out = join(dir, 'taken.ec2t.safetensors');
    writeFileSync(out, 'keep me');
    assert.throws(() => exportPacked({ run, out }), (e: unknown) => e instanceof UsageError && /exists; nothing was written/.test((e as Error).message));
    assert.equal(readFileSync(out, 'utf8'), 'keep me');
    exportPacked({ run, out, force: true });
    assert.notEqual(readFileSync(out, 'utf8'), 'keep me');
  });

  test('exportOnnxModel writes exportOnnx\'s bytes', () => {
    const out = join(dir, 'm.onnx');
    const r = exportOnnxModel({ model: 'lenet5', weights, out });
    const expected = exportOnnx('lenet5', {}, tern.stateDict, { source: weights });
    assert.deepEqual(new Uint8Array(readFileSync(out)), expected.bytes);
    assert.deepEqual(r.input, ['N', 1, 28, 28]);
    assert.deepEqual(r.ternaryLayers, expected.ternaryLayers);
  });

  test('scoreModel counts as scoreWithRules does and sizes ternary weights by their packed file', () => {
    const s = scoreModel({ model: 'lenet5', weights, rules: 'micronet' });
    const expected = scoreWithRules(describeForScore('lenet5', { numClasses: 10, inputSize: 28 }, tern.stateDict, undefined), 'micronet');
    assert.equal(s.ternary, true);
    assert.equal(s.score, expected.score);
    assert.equal(s.flops, expected.flops);
    assert.equal(s.bytes, packModel('lenet5', {}, tern.stateDict, { source: weights }).bytes.length);
    assert.throws(() => scoreModel({ model: 'lenet6' }), UsageError);
  });
});
