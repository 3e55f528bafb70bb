/**
 * The packed file as a whole: the data checksum of format 2 (and format 1 still read, with a note),
 * the program validated at load (sizes, registers, output), and the runtime's view of the shared
 * safetensors reader tested directly (bounds, tiling, aliasing, dtypes).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as zlib from 'node:zlib';
import { FormatError, ShapeError, ValueError } from '../../base/errors.js';
import { crc32, crc32Hex } from '../../base/crc32.js';
import { packModel, serializePacked, unpackModel } from '../../ec2t/export.js';
import { PACKED_FORMAT, PACKED_FORMAT_V1, PACKED_FORMAT_V2, compactProgramJson, loadTernaryModelBytes, parseProgram, readSafetensorsBytes } from '../../ec2t/runtime/index.js';
import { parseSafetensors, serializeSafetensors, type SafetensorEntry } from '../../nn/safetensors.js';
import { unpackAssignment } from '../../ec2t/pack.js';
import { ternaryLayerFromMasks } from '../../kernels/ternary/layer.js';
import { ternaryFixture } from './ternary-fixture.js';
import { asOlderFormat, editProgram, packedFile, packedLenet } from '../../bench/fuzz/probes.js';

const dataOffset = (b: Uint8Array): number => 8 + Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));

describe('CRC-32', () => {
  test('the standard check value, and zlib agrees on random bytes', () => {
    assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
    assert.equal(crc32(new Uint8Array(0)), 0);
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7919) & 0xff);
    assert.equal(crc32(bytes.subarray(300), crc32(bytes.subarray(0, 300))), crc32(bytes), 'continues across chunks');
    const z = (zlib as unknown as { crc32?: (b: Uint8Array) => number }).crc32;
    if (z !== undefined) assert.equal(crc32(bytes), z(bytes));
  });
});

describe('packed format 2: data checksum', () => {
  const bytes = packedLenet();
  const x = Float32Array.from({ length: 28 * 28 }, (_, i) => Math.cos(i));

  test('export writes format 2 with the CRC-32 of the data section', () => {
    const f = parseSafetensors(bytes);
    assert.equal(f.metadata.format, PACKED_FORMAT);
    assert.equal(f.metadata.dataCrc32, crc32Hex(bytes.subarray(dataOffset(bytes))));
    assert.deepEqual(loadTernaryModelBytes(bytes, 'ok').notes, []);
  });

  test('any flipped data bit is a FormatError naming the file (format 1 loaded it and changed the logits)', () => {
    const at = dataOffset(bytes);
    for (const k of [0, 1, 17, (bytes.length - at) >> 1, bytes.length - at - 1]) {
      const bad = Uint8Array.from(bytes);
      bad[at + k] ^= 1 << (k & 7);
      assert.throws(() => loadTernaryModelBytes(bad, 'flipped.ec2t.safetensors'), (e: unknown) => e instanceof FormatError && /^flipped\.ec2t\.safetensors: data checksum mismatch/.test(e.message));
    }
  });

  test('a format 2 file without a well-formed dataCrc32 is refused', () => {
    const f = parseSafetensors(bytes);
    for (const v of [undefined, '', 'DEADBEEF', '123', 'zzzzzzzz']) {
      const { dataCrc32: _c, ...m } = f.metadata;
      const bad = serializeSafetensors(f.tensors, v === undefined ? m : { ...m, dataCrc32: v });
      assert.throws(() => loadTernaryModelBytes(bad, 'nocrc'), /"dataCrc32"/);
    }
  });

  test('formats 1 (no checksum) and 2 (full program) still load, with a note, and compute the same logits', () => {
    const f = parseSafetensors(bytes);
    const { dataCrc32: _c, ...m } = f.metadata;
    const old1 = asOlderFormat(bytes, PACKED_FORMAT_V1);
    const v1 = loadTernaryModelBytes(old1, 'old.ec2t.safetensors');
    assert.equal(v1.notes.length, 1);
    assert.match(v1.notes[0], /^old\.ec2t\.safetensors: .*ec2t\.packed\/1.*no checksum/);
    const old2 = asOlderFormat(bytes, PACKED_FORMAT_V2);
    const v2 = loadTernaryModelBytes(old2, 'old2.ec2t.safetensors');
    assert.match(v2.notes.join('\n'), /^old2\.ec2t\.safetensors: .*ec2t\.packed\/2.*ec2t\.packed\/3/);
    const v3 = loadTernaryModelBytes(bytes, 'new');
    assert.deepEqual(v1.predict(x, [1, 1, 28, 28]).data, v3.predict(x, [1, 1, 28, 28]).data);
    assert.deepEqual(v2.predict(x, [1, 1, 28, 28]).data, v3.predict(x, [1, 1, 28, 28]).data);
    const u3 = unpackModel(parseSafetensors(bytes));
    assert.ok(u3.size > 0);
    assert.deepEqual(unpackModel(parseSafetensors(old1)), u3, 'unpackModel reads format 1');
    assert.deepEqual(unpackModel(parseSafetensors(old2)), u3, 'unpackModel reads format 2');
    // The format-3 program is compact: read as format 2 it misses its tensor names and sizes.
    assert.throws(() => loadTernaryModelBytes(serializePacked(f.tensors, { ...m, format: PACKED_FORMAT_V2 }), 'mislabelled'), FormatError);
    assert.throws(() => loadTernaryModelBytes(serializeSafetensors(f.tensors, { ...m, format: 'ec2t.packed/5' }), 'future'), /expected "ec2t\.packed\/4", "ec2t\.packed\/3", "ec2t\.packed\/2" or "ec2t\.packed\/1"/);
  });
});

describe('packed program validated as a whole at load', () => {
  const load = (edit: Parameters<typeof editProgram>[1]): unknown => loadTernaryModelBytes(editProgram(packedLenet(), edit), 'edited.ec2t.safetensors');
  const refused = (edit: Parameters<typeof editProgram>[1], why: RegExp): void => {
    assert.throws(() => load(edit), (e: unknown) => e instanceof FormatError && e.message.startsWith('edited.ec2t.safetensors: ') && why.test(e.message), why.source);
  };

  test('the unedited program loads (edits below are the only fault)', () => {
    assert.doesNotThrow(() => load(() => {}));
  });

  test('registers: read before written, last op writing another register, output shape', () => {
    refused((p) => {
      p.ops[1].src = 'never';
    }, /reads register "never" before anything wrote it/);
    refused((p) => {
      p.ops[p.ops.length - 1].dst = 'y';
    }, /last op \(\d+, linear\) writes register "y"/);
    refused((p) => {
      p.outputs = 11;
    }, /program output is \[1, 10\] at its input size; it declares \[1, 11\]/);
    refused((p) => {
      p.ops.push({ op: 'relu', src: 'x', dst: 'x' }, { op: 'globalavgpool' });
    }, /globalavgpool/);
  });

  test('sizes: pool padding past half the window, conv padding past the kernel, limits, groups', () => {
    const pool = (p: { ops: Array<Record<string, unknown>> }): Record<string, unknown> => p.ops.find((o) => o.op === 'maxpool') as Record<string, unknown>;
    const conv = (p: { ops: Array<Record<string, unknown>> }): Record<string, unknown> => p.ops.find((o) => o.op === 'conv') as Record<string, unknown>;
    refused((p) => {
      pool(p).padding = [2, 0];
    }, /maxpool padding 2 exceeds half its 2 window/);
    refused((p) => {
      conv(p).padding = [5, 0];
    }, /padding 5 exceeds the kernel's reach 4/);
    refused((p) => {
      conv(p).stride = [2 ** 24 + 1, 1];
    }, /malformed/);
    refused((p) => {
      conv(p).groups = 4;
    }, /do not split into 4 groups/);
    refused((p) => {
      p.input.height = 2 ** 25;
    }, /input must be/);
    refused((p) => {
      p.input.height = 9000;
      p.input.width = 9000;
    }, /per image \(padded input \d+, columns \d+\), above the limit of 67108864/);
  });

  test('malformed kept channels, countIncludePad and tensor names are FormatErrors, not TypeErrors', () => {
    const layer = (p: { ops: Array<Record<string, unknown>> }): Record<string, unknown> => p.ops.find((o) => o.op === 'conv') as Record<string, unknown>;
    refused((p) => {
      layer(p).kept = {};
    }, /kept\.fullShape/);
    refused((p) => {
      layer(p).kept = { fullShape: [6, 1, 5, 5], keptOut: [0, 0, 1, 2, 3, 4] };
    }, /kept\.keptOut/);
    refused((p) => {
      layer(p).nonzero = 7;
    }, /tensor name "nonzero" must be a string/);
    refused((p) => {
      (p.ops.find((o) => o.op === 'maxpool') as Record<string, unknown>).countIncludePad = 'yes';
    }, /countIncludePad/);
    refused((p) => {
      p.ops[0] = null as unknown as Record<string, unknown>;
    }, /op 0: expected an op object, got null/);
  });

  test('predict refuses an input whose working memory passes the per-image limit, before allocating', () => {
    const tensors = new Map<string, SafetensorEntry>([['fc.weight', { dtype: 'F32', shape: [2, 1], data: Float32Array.of(1, 2) }]]);
    const m = loadTernaryModelBytes(packedFile({ version: 1, model: 'p', input: { channels: 1, height: 4, width: 4 }, outputs: 2, ops: [{ op: 'globalavgpool' }, { op: 'flatten' }, { op: 'linear', kind: 'dense', name: 'fc', shape: [2, 1], weight: 'fc.weight' }] }, tensors), 'small');
    assert.deepEqual([...m.predict(new Float32Array(16).fill(1), [1, 1, 4, 4]).data], [1, 2]);
    // 2^26 + 1 values per image: refused from the shape alone (the input array itself is not even read).
    assert.throws(() => m.predict(new Float32Array(1), [1, 1, 1, 2 ** 26 + 1]), ShapeError);
  });

  test('errors stay one line when the parser quotes the file (JSON messages echo its lines)', () => {
    assert.throws(() => parseProgram('{\n  "version": 1,\n  "model": lenet\n}', 'p.ec2t.safetensors'), (e: unknown) => e instanceof FormatError && /not valid JSON/.test(e.message) && !/[\r\n]/.test(e.message));
  });

  test('unpackModel validates the program too', () => {
    const f = parseSafetensors(editProgram(packedLenet(), (p) => {
      (p.ops.find((o) => o.op === 'conv') as Record<string, unknown>).shape = [2 ** 24, 2 ** 24, 1, 1];
    }));
    assert.throws(() => unpackModel(f), FormatError);
  });
});

describe('ternary masks: lengths without 32-bit wrap-around', () => {
  test('2^40 weights with empty masks are refused at once (the >> 3 form wrapped to 0 bytes and looped 2^40 times)', () => {
    assert.throws(() => ternaryLayerFromMasks(new Uint8Array(0), new Uint8Array(0), [2 ** 20, 2 ** 20], 0.5, 0.5), ShapeError);
    assert.throws(() => ternaryLayerFromMasks(new Uint8Array(0), new Uint8Array(0), [2 ** 40, 1], 0.5, 0.5), ShapeError);
    assert.throws(() => unpackAssignment({ nonzeroMask: new Uint8Array(0), signMask: new Uint8Array(0), count: 2 ** 40 }), ValueError);
    // Just below 2^31, (n + 7) >> 3 is negative; Math.ceil gives the right length.
    assert.throws(() => ternaryLayerFromMasks(new Uint8Array(3), new Uint8Array(0), [2 ** 31 - 1, 1], 0.5, 0.5), /need 268435456/);
  });
});

describe("the runtime's safetensors reader (the shared reader, restricted to F32, F16, U8, I8)", () => {
  const hand = (header: Record<string, unknown>, data: number[]): Uint8Array => {
    const h = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + h.length + data.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
    out.set(h, 8);
    out.set(data, 8 + h.length);
    return out;
  };
  const bad = (bytes: Uint8Array, why: RegExp): void => {
    assert.throws(() => readSafetensorsBytes(bytes, 'r.safetensors'), (e: unknown) => e instanceof FormatError && e.message.startsWith('r.safetensors: ') && why.test(e.message), why.source);
  };

  test('reads F32, F16 (widened), U8 and I8, and says where the data starts', () => {
    const bytes = hand({ __metadata__: { k: 'v' }, a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, h: { dtype: 'F16', shape: [2], data_offsets: [4, 8] }, u: { dtype: 'U8', shape: [1], data_offsets: [8, 9] }, i: { dtype: 'I8', shape: [1], data_offsets: [9, 10] } }, [0, 0, 0xc0, 0x3f, 0x00, 0x3c, 0x00, 0xc0, 200, 0xff]);
    const r = readSafetensorsBytes(bytes, 'r.safetensors');
    assert.deepEqual([...(r.tensors.get('a')!.data as Float32Array)], [1.5]);
    assert.deepEqual([...(r.tensors.get('h')!.data as Float32Array)], [1, -2]);
    assert.deepEqual([...r.tensors.get('u')!.data], [200]);
    assert.deepEqual([...r.tensors.get('i')!.data], [-1]);
    assert.equal(r.metadata.k, 'v');
    assert.equal(r.dataOffset, bytes.length - 10);
  });

  test('bounds: offsets past the data, a header past the file', () => {
    bad(hand({ a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] } }, [1, 2]), /run past the data buffer/);
    const trunc = hand({ a: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } }, [1]);
    bad(trunc.subarray(0, 20), /runs past the end of the file/);
    bad(new Uint8Array(5), /truncated/);
  });

  test('tiling: overlapping, aliased and gapped tensors are refused before any is decoded', () => {
    bad(hand({ a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] }, b: { dtype: 'U8', shape: [2], data_offsets: [1, 3] } }, [1, 2, 3]), /overlap/);
    const alias: Record<string, unknown> = {};
    for (let i = 0; i < 50; i++) alias[`t${i}`] = { dtype: 'U8', shape: [2], data_offsets: [0, 2] };
    bad(hand(alias, [1, 2]), /overlap/);
    bad(hand({ a: { dtype: 'U8', shape: [1], data_offsets: [1, 2] } }, [1, 2]), /gap/);
    bad(hand({ a: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } }, [1, 2]), /do not cover the buffer/);
  });

  test('dtypes the runtime does not read are refused by name; shapes must match the span', () => {
    bad(hand({ a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, [0, 0, 0, 0, 0, 0, 0, 0]), /dtype I64 is not one this reader accepts \(F32, F16, U8, I8\)/);
    bad(hand({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, [0, 0, 0, 0]), /needs 8 bytes/);
    bad(hand({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, [0, 0, 0, 0]), /invalid dim/);
    assert.throws(() => readSafetensorsBytes([1, 2, 3] as unknown as Uint8Array, 'arr'), FormatError);
  });
});

describe('packed format 3: compact header', () => {
  test('the compact program reads back as the full program, for every op kind a zoo model uses', () => {
    for (const [name, opts] of [['resnet20', {}], ['micronet', { modelOptions: { numClasses: 10 } }], ['mobilenetv2', { modelOptions: { cifar: true, widthMult: 0.35 }, deadFraction: 0.3 }]] as const) {
      const p = packModel(name, {}, ternaryFixture(name, { seed: 5, ...opts }).stateDict);
      assert.deepEqual(parseProgram(p.metadata.program, name, PACKED_FORMAT), p.program, name);
      assert.deepEqual(parseProgram(compactProgramJson(p.program), name, PACKED_FORMAT), p.program, name);
    }
  });

  test('a ternary ResNet-20 at 45% sparsity packs to at most 1/14 of its float32 weights', () => {
    // 269,722 parameters × 4 B. The data section alone is ~61 kB (masks, dense first conv and
    // linear layer); the header must stay small for the whole file to fit 77,063 B.
    const p = packModel('resnet20', {}, ternaryFixture('resnet20', { seed: 6, sparsity: 0.45 }).stateDict);
    const header = Number(new DataView(p.bytes.buffer, p.bytes.byteOffset, 8).getBigUint64(0, true));
    assert.ok(p.bytes.length * 14 <= 269_722 * 4, `${p.bytes.length} B (header ${header} B)`);
    assert.ok(header < 14_000, `header ${header} B`);
    // One tensor entry per ternary layer's centroids, none for conventional names in the program.
    assert.ok(!p.metadata.program.includes('nonzero_mask') && !p.metadata.program.includes('"stride":[1,1]'));
    assert.equal([...p.tensors.keys()].filter((k) => k.endsWith('.centroids')).length, 18);
  });
});
