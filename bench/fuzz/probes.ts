/**
 * The hostile files of issue 18, rebuilt small: each is written into a folder and names the reader
 * that must refuse it with a typed error, in time and within memory. The regression tests
 * (test/fuzz/hostile.test.ts) and the long fuzz run (bench/fuzz-formats.ts) both use them.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { packModel, serializePacked } from '../../ec2t/export.js';
import { PACKED_FORMAT, PACKED_FORMAT_V1, PACKED_FORMAT_V2, parseProgram } from '../../ec2t/runtime/program.js';
import { parseSafetensors, serializeSafetensors, type SafetensorEntry } from '../../nn/safetensors.js';
import { createModel } from '../../nn/models/index.js';
import { Rng } from '../../base/rng.js';
import { ternaryFixture } from '../../test/ec2t/ternary-fixture.js';

/** A hostile file: where to write it and which reader must refuse it. */
export interface Probe {
  name: string;
  reader: string;
  /** What the typed error must say (the right reason, not a later symptom). */
  expect: RegExp;
  /** Writes the file (or folder) under `dir` and returns the path to give the reader. */
  write(dir: string): string;
}

let lenet: Uint8Array | null = null;
let resnet: Uint8Array | null = null;
/** A real packed LeNet-5 (random ternary weights). */
export function packedLenet(): Uint8Array {
  lenet ??= packModel('lenet5', {}, ternaryFixture('lenet5', { seed: 3, deadFraction: 0.1 }).stateDict).bytes;
  return lenet;
}
/** A real packed ResNet-20 (shortcutA, save, add). */
export function packedResnet20(): Uint8Array {
  resnet ??= packModel('resnet20', {}, ternaryFixture('resnet20', { seed: 4 }).stateDict).bytes;
  return resnet;
}

/**
 * Rewrites a packed file's program, as format 1 (no checksum: a hostile file need not carry one,
 * and the runtime before issue 18 reads it). `edit` sees the full program (the compact encoding of
 * format 3 expanded).
 */
export function editProgram(bytes: Uint8Array, edit: (p: { input: Record<string, unknown>; outputs: unknown; ops: Array<Record<string, unknown>> }) => void): Uint8Array {
  const f = parseSafetensors(bytes);
  const prog = parseProgram(f.metadata.program, 'probe', f.metadata.format) as unknown as Parameters<typeof edit>[0];
  edit(prog);
  const { dataCrc32: _c, ...metadata } = f.metadata;
  return serializeSafetensors(f.tensors, { ...metadata, format: PACKED_FORMAT_V1, program: JSON.stringify(prog) });
}

/**
 * A format-3 packed file rewritten in an older layout, as the exporter of that version wrote it: the
 * full program, each ternary layer's centroids as two tensors `L.w_p`, `L.w_n`, `floatDtype` in the
 * metadata; format 2 sealed with its checksum, format 1 without.
 */
export function asOlderFormat(bytes: Uint8Array, format: typeof PACKED_FORMAT_V1 | typeof PACKED_FORMAT_V2): Uint8Array {
  const f = parseSafetensors(bytes);
  const prog = parseProgram(f.metadata.program, 'probe', f.metadata.format);
  const tensors = new Map<string, SafetensorEntry>();
  for (const [k, e] of f.tensors) {
    if (!k.endsWith('.centroids')) {
      tensors.set(k, e);
      continue;
    }
    const base = k.slice(0, -'.centroids'.length);
    const c = e.data as Float32Array;
    tensors.set(`${base}.w_p`, { dtype: 'F32', shape: [1], data: Float32Array.of(c[0]) });
    tensors.set(`${base}.w_n`, { dtype: 'F32', shape: [1], data: Float32Array.of(c[1]) });
  }
  for (const op of prog.ops) {
    if ((op.op === 'conv' || op.op === 'linear') && op.centroids !== undefined) {
      const base = op.centroids.slice(0, -'.centroids'.length);
      delete op.centroids;
      Object.assign(op, { wp: `${base}.w_p`, wn: `${base}.w_n` });
    }
  }
  const { dataCrc32: _c, ...m } = f.metadata;
  const floatDtype = [...f.tensors.values()].some((e) => e.dtype === 'F16') ? 'F16' : 'F32';
  const metadata = { ...m, format, program: JSON.stringify(prog), floatDtype };
  return format === PACKED_FORMAT_V1 ? serializeSafetensors(tensors, metadata) : serializePacked(tensors, metadata);
}

function file(name: string, reader: string, expect: RegExp, bytes: () => Uint8Array, ext = '.ec2t.safetensors'): Probe {
  return {
    name,
    reader,
    expect,
    write: (dir) => {
      const p = join(dir, `${name}${ext}`);
      writeFileSync(p, bytes());
      return p;
    },
  };
}

/** A hand-written packed file: `program` over `tensors`, sealed as format 2 or (default) left as format 1. */
export function packedFile(program: unknown, tensors: Map<string, SafetensorEntry>, v1 = true): Uint8Array {
  const metadata = { format: PACKED_FORMAT_V1, model: 'probe', program: JSON.stringify(program), floatDtype: 'F32' };
  return v1 ? serializeSafetensors(tensors, metadata) : serializePacked(tensors, { ...metadata, format: PACKED_FORMAT });
}

const f32 = (...v: number[]): SafetensorEntry => ({ dtype: 'F32', shape: [v.length], data: Float32Array.from(v) });
const u8 = (n: number): SafetensorEntry => ({ dtype: 'U8', shape: [n], data: new Uint8Array(n) });

/** The probes, by issue bullet. */
export const PROBES: Probe[] = [
  // A ternary linear of 2^40 × 1 weights with empty masks: (2^40 + 7) >> 3 wraps to 0 bytes, and
  // the decoder then loops 2^40 times (format 1, which the old runtime read without a checksum).
  file('mask-wrap', 'packed', /outputs must be an integer in 1\.\.|above the/, () => {
    const m = 2 ** 40;
    const tensors = new Map([['fc.nonzero_mask', u8(0)], ['fc.sign_mask', u8(0)], ['fc.w_p', f32(0.5)], ['fc.w_n', f32(0.5)]]);
    const program = {
      version: 1, model: 'probe', input: { channels: 1, height: 1, width: 1 }, outputs: m,
      ops: [{ op: 'flatten' }, { op: 'linear', kind: 'ternary', name: 'fc', shape: [m, 1], nonzero: 'fc.nonzero_mask', sign: 'fc.sign_mask', wp: 'fc.w_p', wn: 'fc.w_n' }],
    };
    return packedFile(program, tensors);
  }),
  // Max pooling padded far past its window (PyTorch refuses padding > kernel / 2).
  file('maxpool-padding', 'packed', /maxpool padding 1000 exceeds half its 2 window/, () => {
    const tensors = new Map<string, SafetensorEntry>([
      ['c.weight', { dtype: 'F32', shape: [4, 1, 3, 3], data: new Float32Array(36).fill(0.1) }],
      ['fc.weight', { dtype: 'F32', shape: [2, 4], data: new Float32Array(8).fill(0.1) }],
    ]);
    const program = {
      version: 1, model: 'probe', input: { channels: 1, height: 28, width: 28 }, outputs: 2,
      ops: [
        { op: 'conv', kind: 'dense', name: 'c', shape: [4, 1, 3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1, weight: 'c.weight' },
        { op: 'maxpool', kernel: [2, 2], stride: [2, 2], padding: [1000, 1000] },
        { op: 'globalavgpool' }, { op: 'flatten' },
        { op: 'linear', kind: 'dense', name: 'fc', shape: [2, 4], weight: 'fc.weight' },
      ],
    };
    return packedFile(program, tensors);
  }),
  // 150 entries aliasing one 1 MB F16 tensor: decoding before the overlap check costs 300 MB.
  file('aliased-entries', 'runtime-safetensors', /overlap/, () => {
    const n = 512 * 1024;
    const header: Record<string, unknown> = {};
    for (let i = 0; i < 150; i++) header[`t${i}`] = { dtype: 'F16', shape: [n], data_offsets: [0, 2 * n] };
    const json = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + json.length + 2 * n);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    return out;
  }, '.safetensors'),
  // An option-A shortcut padding 2^40 channels, pooled into the output: the old loader reached a
  // typed-array allocation of 2^40 floats (a RangeError with a stack trace).
  file('shortcut-padding', 'packed', /shortcutA needs stride in 1\.\.\d+, padBefore/, () => {
    const pad = 2 ** 40;
    const program = { version: 1, model: 'probe', input: { channels: 1, height: 2, width: 2 }, outputs: 1, ops: [{ op: 'shortcutA', stride: 1, padBefore: pad, padAfter: 0 }, { op: 'globalavgpool' }, { op: 'flatten' }] };
    return packedFile(program, new Map());
  }),
  // One 9 KB ternary 3×3 conv (64 → 64 channels, every weight non-zero) applied 16 times at 128×128:
  // within every size limit, but 9.7 G multiply-adds per image (minutes of predict).
  file('repeated-conv-compute', 'packed', /multiply-adds per image/, () => {
    const n = 64 * 64 * 9;
    const tensors = new Map<string, SafetensorEntry>([
      ['c.nonzero_mask', { dtype: 'U8', shape: [n / 8], data: new Uint8Array(n / 8).fill(0xff) }],
      ['c.sign_mask', { dtype: 'U8', shape: [n / 8], data: new Uint8Array(n / 8).fill(0x55) }],
      ['c.w_p', f32(0.01)], ['c.w_n', f32(0.01)],
    ]);
    const conv = { op: 'conv', kind: 'ternary', name: 'c', shape: [64, 64, 3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1, nonzero: 'c.nonzero_mask', sign: 'c.sign_mask', wp: 'c.w_p', wn: 'c.w_n' };
    const program = { version: 1, model: 'probe', input: { channels: 64, height: 128, width: 128 }, outputs: 64, ops: [...new Array(16).fill(conv), { op: 'globalavgpool' }, { op: 'flatten' }] };
    return packedFile(program, tensors);
  }),
  // A ternary 3×3 conv dilated by 2^20 and padded by 2^20 on a 1×1 input: a 1×1 output, but a
  // padded input of (2^21 + 1)^2 values for the kernel to allocate.
  file('dilated-conv-padding', 'packed', /values of scratch per image/, () => {
    const tensors = new Map<string, SafetensorEntry>([['c.nonzero_mask', u8(2)], ['c.sign_mask', u8(0)], ['c.w_p', f32(0.5)], ['c.w_n', f32(0.5)]]);
    const d = 2 ** 20;
    const program = {
      version: 1, model: 'probe', input: { channels: 1, height: 1, width: 1 }, outputs: 1,
      ops: [{ op: 'conv', kind: 'ternary', name: 'c', shape: [1, 1, 3, 3], stride: [1, 1], padding: [d, d], dilation: [d, d], groups: 1, nonzero: 'c.nonzero_mask', sign: 'c.sign_mask', wp: 'c.w_p', wn: 'c.w_n' }, { op: 'flatten' }],
    };
    return packedFile(program, tensors);
  }),
  // A LeNet-5 declaring an 8200 × 8200 input: 268 MB per image before anything is checked.
  file('huge-input', 'packed', /working memory per image/, () => {
    const tensors = new Map([['fc.weight', { dtype: 'F32', shape: [2, 1], data: new Float32Array(2).fill(1) } as SafetensorEntry]]);
    const program = { version: 1, model: 'probe', input: { channels: 1, height: 8200, width: 8200 }, outputs: 2, ops: [{ op: 'globalavgpool' }, { op: 'flatten' }, { op: 'linear', kind: 'dense', name: 'fc', shape: [2, 1], weight: 'fc.weight' }] };
    return packedFile(program, tensors);
  }),
  // A LeNet-5 whose last op writes register "y": the output would be x's data under y's shape.
  file('last-op-register', 'packed', /last op \(\d+, linear\) writes register "y"/, () => editProgram(packedLenet(), (p) => {
    const last = p.ops[p.ops.length - 1];
    last.dst = 'y';
  })),
  // ResNet-20 float weights whose classifier claims 500 000 classes in a zero-size tensor.
  file('zero-dim-classes', 'weights-resnet20', /"linear\.weight" has shape \[500000, 0\]/, () => {
    const sd = new Map<string, SafetensorEntry>();
    for (const [k, t] of createModel('resnet20', { rng: new Rng(0) }).stateDict()) sd.set(k, { dtype: 'F32', shape: [...t.shape], data: t.data });
    sd.set('linear.weight', { dtype: 'F32', shape: [500_000, 0], data: new Float32Array(0) });
    sd.delete('linear.bias');
    return serializeSafetensors(sd);
  }, '.safetensors'),
  // MNIST images whose gzip stream expands to 78 MB while the labels count 10 images.
  {
    name: 'gzip-bomb-idx',
    reader: 'mnist',
    expect: /label count does not match the images: expected 100000 labels/,
    write: (dir) => {
      const d = join(dir, 'gzip-bomb-idx');
      mkdirSync(d, { recursive: true });
      const n = 100_000;
      const img = new Uint8Array(16 + n * 784);
      new DataView(img.buffer).setUint32(0, 0x803);
      new DataView(img.buffer).setUint32(4, n);
      new DataView(img.buffer).setUint32(8, 28);
      new DataView(img.buffer).setUint32(12, 28);
      writeFileSync(join(d, 't10k-images-idx3-ubyte.gz'), gzipSync(img, { level: 1 }));
      const lab = new Uint8Array(8 + 10);
      new DataView(lab.buffer).setUint32(0, 0x801);
      new DataView(lab.buffer).setUint32(4, 10);
      writeFileSync(join(d, 't10k-labels-idx1-ubyte'), lab);
      return d;
    },
  },
  // A CIFAR-10 batch whose gzip trailer declares one record while the stream holds 25 000 (77 MB).
  {
    name: 'gzip-bomb-cifar',
    reader: 'cifar10',
    expect: /expands past the 3073 bytes its gzip trailer declares/,
    write: (dir) => {
      const d = join(dir, 'gzip-bomb-cifar');
      mkdirSync(d, { recursive: true });
      const gz = gzipSync(new Uint8Array(25_000 * 3073), { level: 1 });
      new DataView(gz.buffer, gz.byteOffset).setUint32(gz.length - 4, 3073, true);
      writeFileSync(join(d, 'test_batch.bin.gz'), gz);
      return d;
    },
  },
];
