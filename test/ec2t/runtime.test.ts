/**
 * The runtime: its import graph is free of autodiff/optimizer/dataset code, corrupt files are
 * FormatErrors, bad input shapes are ShapeErrors.
 */
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { FormatError, ShapeError } from '../../engine/errors.js';
import { packModel } from '../../ec2t/export.js';
import { loadTernaryModelBytes } from '../../ec2t/runtime/index.js';
import { parseSafetensors, serializeSafetensors } from '../../nn/safetensors.js';
import { ternaryFixture } from './ternary-fixture.js';

const DIST = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function importGraph(entry: string): Set<string> {
  const seen = new Set<string>();
  const stack = [entry];
  while (stack.length) {
    const f = stack.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    const src = readFileSync(f, 'utf8');
    for (const m of src.matchAll(/(?:import|export)\s[^'"]*?from\s*['"](\.[^'"]+)['"]|import\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g)) {
      const spec = m[1] ?? m[2] ?? m[3];
      const target = resolve(dirname(f), spec);
      if (existsSync(target)) stack.push(target);
    }
  }
  return seen;
}

describe('ternary runtime', () => {
  test('import graph holds no tensor/autodiff, nn, optimizer or dataset code', () => {
    const files = [...importGraph(join(DIST, 'ec2t/runtime/index.js'))].map((f) => f.slice(DIST.length + 1));
    assert.ok(files.includes('kernels/ternary/cpu.js'));
    const bad = files.filter((f) => f.startsWith('engine/ops') || f === 'engine/tensor.js' || f.startsWith('nn/') || f.startsWith('datasets/') || f.startsWith('cli/'));
    assert.deepEqual(bad, []);
  });

  const f = ternaryFixture('lenet5', { seed: 3 });
  const bytes = packModel('lenet5', {}, f.stateDict).bytes;

  test('corrupt files are FormatErrors', () => {
    assert.throws(() => loadTernaryModelBytes(bytes.subarray(0, bytes.length - 3), 'trunc'), FormatError);
    assert.throws(() => loadTernaryModelBytes(bytes.subarray(0, 5), 'tiny'), FormatError);
    const garbage = Uint8Array.from(bytes);
    garbage[0] = 0xff;
    garbage[5] = 0x7f;
    assert.throws(() => loadTernaryModelBytes(garbage, 'len'), FormatError);
    // Tamper with the header: drop a tensor's bytes from its offsets → tiling fails.
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    const header = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    const h = JSON.parse(header);
    h.__metadata__.format = 'something/else';
    const text = new TextEncoder().encode(JSON.stringify(h).padEnd(n, ' '));
    if (text.length === n) {
      const copy = Uint8Array.from(bytes);
      copy.set(text, 8);
      assert.throws(() => loadTernaryModelBytes(copy, 'fmt'), /expected "ec2t\.packed\/1"/);
    }
    h.__metadata__.format = 'ec2t.packed/1';
    h.__metadata__.program = '{"version":1';
    const text2 = new TextEncoder().encode(JSON.stringify(h));
    if (text2.length <= n) {
      const copy = Uint8Array.from(bytes);
      copy.set(new TextEncoder().encode(JSON.stringify(h).padEnd(n, ' ')), 8);
      assert.throws(() => loadTernaryModelBytes(copy, 'prog'), FormatError);
    }
  });

  test('an unknown op or a grouped conv that does not fit its tensors is a FormatError (MobileNetV2 file)', () => {
    const m = ternaryFixture('mobilenetv2', { seed: 2, modelOptions: { cifar: true, widthMult: 0.35 } });
    const file = parseSafetensors(packModel('mobilenetv2', {}, m.stateDict).bytes);
    const rewrite = (edit: (p: { ops: Array<Record<string, unknown>> }) => void): Uint8Array => {
      const prog = JSON.parse(file.metadata.program);
      edit(prog);
      return serializeSafetensors(file.tensors, { ...file.metadata, program: JSON.stringify(prog) });
    };
    assert.doesNotThrow(() => loadTernaryModelBytes(rewrite(() => {}), 'same'));
    const unknown = rewrite((p) => {
      const i = p.ops.findIndex((o) => o.op === 'relu6');
      p.ops[i] = { op: 'hardswish' };
    });
    assert.throws(() => loadTernaryModelBytes(unknown, 'hs'), (e: unknown) => e instanceof FormatError && /unknown op "hardswish"/.test(e.message));
    const regroup = rewrite((p) => {
      const dw = p.ops.find((o) => o.op === 'conv' && (o.groups as number) > 1) as Record<string, unknown>;
      dw.groups = 1;
    });
    assert.throws(() => loadTernaryModelBytes(regroup, 'groups'), FormatError);
    const bytes = packModel('mobilenetv2', {}, m.stateDict).bytes;
    assert.throws(() => loadTernaryModelBytes(bytes.subarray(0, bytes.length - 100), 'trunc'), FormatError);
  });

  test('mismatched input shapes are ShapeErrors', () => {
    const m = loadTernaryModelBytes(bytes, 'ok');
    assert.throws(() => m.predict(new Float32Array(3 * 28 * 28), [1, 3, 28, 28]), ShapeError);
    assert.throws(() => m.predict(new Float32Array(32 * 32), [1, 1, 32, 32]), /linear fc1/);
    assert.throws(() => m.predict(new Float32Array(10), [1, 1, 28, 28]), ShapeError);
    assert.equal(m.layers.filter((l) => l.kind === 'ternary').length, 4);
  });
});
