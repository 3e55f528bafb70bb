/**
 * The CLI on packed files from outside: an `ec2t.packed/1` file runs with a note on stderr, a
 * corrupted `ec2t.packed/3` file stops with a one-line error naming it (no stack trace).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Tensor } from '../../engine/tensor.js';
import { saveSafetensors } from '../../nn/safetensors.js';
import { PACKED_FORMAT_V1 } from '../../ec2t/runtime/index.js';
import { asOlderFormat, packedLenet } from '../../bench/fuzz/probes.js';
import { ec2t } from '../helpers/cli.js';

describe('ec2t predict on old and corrupted packed files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-packed-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const input = join(dir, 'in.safetensors');
  saveSafetensors(input, { input: new Tensor(new Float32Array(28 * 28).fill(0.5), [1, 1, 28, 28]) });

  test('format 1: runs, with a note that it carries no checksum', () => {
    const old = join(dir, 'old.ec2t.safetensors');
    writeFileSync(old, asOlderFormat(packedLenet(), PACKED_FORMAT_V1));
    const r = ec2t(['predict', '--model', old, '--input', input, '--output', join(dir, 'out1.safetensors')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /note: .*old\.ec2t\.safetensors.*no checksum/);
  });

  test('format 2 with a flipped data bit: a one-line checksum error naming the file', () => {
    const bytes = Uint8Array.from(packedLenet());
    bytes[bytes.length - 5] ^= 0x10;
    const bad = join(dir, 'bad.ec2t.safetensors');
    writeFileSync(bad, bytes);
    const r = ec2t(['predict', '--model', bad, '--input', input, '--output', join(dir, 'out2.safetensors')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /bad\.ec2t\.safetensors: data checksum mismatch/);
    assert.ok(!/\n\s+at /.test(r.stderr), `no stack trace: ${r.stderr}`);
  });
});
