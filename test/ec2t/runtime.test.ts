/**
 * The runtime: its import graph is free of autodiff/optimizer/dataset code, corrupt files are
 * FormatErrors, bad input shapes are ShapeErrors, the buffer plan never clobbers a live value.
 */
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { FormatError, ShapeError } from '../../base/errors.js';
import { packModel } from '../../ec2t/export.js';
import { loadTernaryModelBytes } from '../../ec2t/runtime/index.js';
import { planBuffers } from '../../ec2t/runtime/plan.js';
import { withIntActivations } from '../../ec2t/export/activations.js';
import { setTernaryJit, setTernaryThreads } from '../../kernels/ternary/simd.js';
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
      assert.throws(() => loadTernaryModelBytes(copy, 'fmt'), /expected "ec2t\.packed\/4", "ec2t\.packed\/3", "ec2t\.packed\/2" or "ec2t\.packed\/1"/);
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

  test('buffer plan: no step overwrites a value still to be read, few slots, input never written', () => {
    const programs = [
      packModel('lenet5', {}, f.stateDict).program,
      packModel('resnet20', {}, ternaryFixture('resnet20', { seed: 1 }).stateDict).program,
      packModel('micronet', {}, ternaryFixture('micronet', { seed: 1 }).stateDict).program,
      packModel('mobilenetv2', {}, ternaryFixture('mobilenetv2', { seed: 1, modelOptions: { cifar: true, widthMult: 0.35 } }).stateDict).program,
    ];
    for (const program of programs) {
      const plan = planBuffers(program, [2, program.input.channels, program.input.height, program.input.width]);
      // Symbolic run: each slot holds a value id; a read must find its register's value there.
      const content = new Map<number, number>([[0, 0]]);
      const reg = new Map<string, { slot: number; value: number }>([['x', { slot: 0, value: 0 }]]);
      plan.steps.forEach((st, i) => {
        const read = (name: string): void => {
          const r = reg.get(name)!;
          assert.equal(content.get(r.slot), r.value, `${program.model} op ${i} (${st.op.op}) reads "${name}" from a clobbered slot`);
        };
        read(st.op.src ?? 'x');
        if (st.op.op === 'add') read(st.op.other);
        const alias = st.op.op === 'save' || st.op.op === 'flatten';
        if (!alias) {
          assert.notEqual(st.dst, 0, 'the input slot is never written');
          content.set(st.dst, i + 1);
        }
        reg.set(st.op.dst ?? 'x', alias ? { ...reg.get(st.op.src ?? 'x')! } : { slot: st.dst, value: i + 1 });
        assert.ok(plan.capacity[st.dst] >= st.size || alias);
      });
      assert.equal(plan.outSlot, reg.get('x')!.slot);
      assert.ok(plan.capacity.length <= 6, `${program.model}: ${plan.capacity.length} slots for ${program.ops.length} ops`);
    }
  });

  test('buffers are reused across calls: repeated and interleaved batch sizes give the same logits', () => {
    const r = ternaryFixture('resnet20', { seed: 4, deadFraction: 0.1 });
    const m = loadTernaryModelBytes(packModel('resnet20', {}, r.stateDict).bytes, 'r20');
    const x2 = Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => Math.sin(i));
    const x1 = x2.slice(3 * 32 * 32);
    const a = m.predict(x2, [2, 3, 32, 32]).data;
    const b = m.predict(x1, [1, 3, 32, 32]).data;
    const c = m.predict(x2, [2, 3, 32, 32]).data;
    assert.deepEqual(c, a);
    assert.notEqual(c, a, 'each call returns its own array');
    // Sample 1 of the batch equals the batch-1 run (up to summation order inside the kernels).
    for (let k = 0; k < 10; k++) assert.ok(Math.abs(a[10 + k] - b[k]) <= 1e-5 * (1 + Math.abs(b[k])));
    assert.deepEqual(x1, x2.slice(3 * 32 * 32), 'the input is not written');
  });

  test('fused output work (affine, residual join, ReLU) gives the logits of the separate passes, bit for bit, at 1 and 2 threads', () => {
    const packed = packModel('resnet20', {}, ternaryFixture('resnet20', { seed: 6 }).stateDict);
    const x = Float32Array.from({ length: 3 * 3 * 32 * 32 }, (_, i) => Math.sin(0.37 * i) * 2);
    const calibration = { data: x, shape: [3, 3, 32, 32] as [number, number, number, number] };
    const files = [packed, withIntActivations(packed, 'int16', calibration).packed, withIntActivations(packed, 'int8', calibration).packed];
    const was = setTernaryJit('off');
    try {
      for (const file of files) {
        // Generic kernels: the post passes run separately.
        setTernaryJit('off');
        const separate = loadTernaryModelBytes(file.bytes, 'separate').predict(x, [3, 3, 32, 32]).data;
        assert.ok(new Set(separate).size > 20, 'the logits should vary');
        setTernaryJit('eager');
        for (const threads of [1, 2]) {
          setTernaryThreads(threads);
          const fused = loadTernaryModelBytes(file.bytes, 'fused').predict(x, [3, 3, 32, 32]).data;
          assert.deepEqual(fused, separate, `${file.bytes.length} bytes, ${threads} thread(s)`);
        }
      }
    } finally {
      setTernaryJit(was);
      setTernaryThreads(undefined);
    }
  });

  test('mismatched input shapes are ShapeErrors', () => {
    const m = loadTernaryModelBytes(bytes, 'ok');
    assert.throws(() => m.predict(new Float32Array(3 * 28 * 28), [1, 3, 28, 28]), ShapeError);
    assert.throws(() => m.predict(new Float32Array(32 * 32), [1, 1, 32, 32]), /linear fc1/);
    assert.throws(() => m.predict(new Float32Array(10), [1, 1, 28, 28]), ShapeError);
    assert.equal(m.layers.filter((l) => l.kind === 'ternary').length, 4);
  });
});
