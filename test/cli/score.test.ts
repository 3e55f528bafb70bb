/**
 * `ec2t score --rules` and the commands that take weights, on an authors-style checkpoint (a float
 * ResNet-20 file whose block convs hold {−w_n, 0, +w_p}, keys prefixed `module.`).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Tensor } from '../../engine/tensor.js';
import { saveSafetensors, serializeSafetensors, type SafetensorEntry } from '../../nn/safetensors.js';
import { ternaryFixture } from '../ec2t/ternary-fixture.js';
import { ec2t } from '../helpers/cli.js';

describe('ec2t score --rules / export / predict on an authors-style checkpoint', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-score-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const f = ternaryFixture('resnet20', { seed: 4, sparsity: 0.45 });
  const sd = new Map<string, SafetensorEntry>();
  for (const [k, e] of f.stateDict) if (!/\.(w_p|w_n|assignment)$/.test(k)) sd.set(`module.${k}`, e);
  const weights = join(dir, 'authors.safetensors');
  writeFileSync(weights, serializeSafetensors(sd));

  const score = (rules?: string): Record<string, unknown> => {
    const r = ec2t(['score', '--model', 'resnet20', '--weights', weights, '--json', ...(rules ? ['--rules', rules] : [])]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  };

  test('plain is the default; every rule set gives the same fields plus score = params/36.5M + flops/10.49G', () => {
    const plain = score();
    const micronet = score('micronet');
    const corrected = score('micronet-corrected');
    assert.equal(plain.rules, 'plain');
    for (const [s, rules] of [[plain, 'plain'], [micronet, 'micronet'], [corrected, 'micronet-corrected']] as const) {
      assert.equal(s.rules, rules);
      for (const k of ['params', 'flops', 'additions', 'multiplications', 'layers', 'score', 'recognized']) assert.ok(k in s, `${rules}: ${k}`);
      assert.equal(s.score, (s.params as number) / 36.5e6 + (s.flops as number) / 10.49e9);
      assert.equal((s.recognized as string[]).length, 18);
      assert.equal(s.ternary, true);
    }
    // 16-bit multiplications and narrow tree additions: the MicroNet count is well under the plain one.
    assert.ok((micronet.flops as number) < (plain.flops as number) * 0.7, `${String(micronet.flops)} vs ${String(plain.flops)}`);
    const r = ec2t(['score', '--model', 'resnet20', '--weights', weights, '--rules', 'paper']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--rules/);
  });

  test('the human output names the rules and the recognised layers', () => {
    const r = ec2t(['score', '--model', 'resnet20', '--weights', weights, '--rules', 'micronet']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /resnet20 \(ternary\), micronet rules: [\d.]+ params, .* FLOPs; score 0\.\d+/);
    assert.match(r.stdout, /read 18 ternary-valued layer\(s\) as ternary/);
  });

  test('export packs the recognised layers; predict runs the file as it is', () => {
    const out = join(dir, 'authors.ec2t.safetensors');
    const e = ec2t(['export', '--model', 'resnet20', '--weights', weights, '--out', out, '--json']);
    assert.equal(e.code, 0, e.stderr);
    const j = JSON.parse(e.stdout) as { recognized: string[]; bytes: number; floatBytes: number };
    assert.deepEqual(j.recognized, f.ternary);
    assert.ok(j.bytes * 10 < j.floatBytes, `${j.bytes} B packed vs ${j.floatBytes} B float`);
    const input = join(dir, 'in.safetensors');
    saveSafetensors(input, { input: new Tensor(new Float32Array(3 * 32 * 32).fill(0.25), [1, 3, 32, 32]) });
    const p = ec2t(['predict', '--model', 'resnet20', '--weights', weights, '--input', input, '--output', join(dir, 'out.safetensors')]);
    assert.equal(p.code, 0, p.stderr);
  });
});
