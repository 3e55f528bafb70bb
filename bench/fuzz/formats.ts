/**
 * Hostile-file generators, one per file format (safetensors, packed, IDX, CIFAR, run folder): each
 * case is a deterministic mutation of a small valid seed file, chosen from the case's own random
 * stream (`seed`, `index`), so any failure can be replayed alone. Mutations are both blind (bit
 * flips, truncation, splices, interesting integers over random bytes) and format-aware (JSON
 * header and program fields set to boundary values, tensors aliased or resized, IDX dims, gzip
 * trailers and bombs), and packed files are re-sealed with a valid checksum most of the time so the
 * mutation reaches the program checks instead of stopping at the CRC.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Rng } from '../../base/rng.js';
import { serializePacked, packModel } from '../../ec2t/export.js';
import { PACKED_FORMAT, PACKED_FORMAT_V1 } from '../../ec2t/runtime/program.js';
import { parseSafetensors, serializeSafetensors, type SafetensorEntry } from '../../nn/safetensors.js';
import { ternaryFixture } from '../../test/ec2t/ternary-fixture.js';
import { writeFixtureRun } from '../../test/ec2t/report-fixtures.js';
import { packedLenet, packedResnet20 } from './probes.js';

/** One format: its name, and how to write case `index` of stream `seed` under `dir`. */
export interface FuzzFormat {
  name: string;
  /** Writes the case and returns the reader to run and the path to give it. */
  make(seed: number, index: number, dir: string): { reader: string; path: string; what: string };
}

const INTERESTING = [0, 1, -1, 2, 3, 7, 8, 9, 255, 256, 4096, 8000, 65535, 65536, 2 ** 24, 2 ** 24 + 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40, 2 ** 53, 1e300, -(2 ** 31), 0.5, -0.5];

function caseRng(seed: number, index: number): Rng {
  return new Rng((seed * 1_000_003 + index * 7919) >>> 0);
}

function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)];
}

function interestingNumber(rng: Rng): number {
  return rng.uniform() < 0.8 ? pick(rng, INTERESTING) : rng.int(100) - 10;
}

/** A random JSON value: numbers at boundaries mostly, sometimes other types. */
function randomValue(rng: Rng): unknown {
  const r = rng.uniform();
  if (r < 0.55) return interestingNumber(rng);
  if (r < 0.65) return pick(rng, ['x', '', 'F32', 'U8', 'conv', 'ternary', 'dense', '__proto__', 'y', 'a'.repeat(1000)]);
  if (r < 0.72) return null;
  if (r < 0.8) return rng.uniform() < 0.5;
  if (r < 0.9) return Array.from({ length: rng.int(5) }, () => interestingNumber(rng));
  return {};
}

/** Blind byte mutations. */
export function mutateBytes(rng: Rng, src: Uint8Array): Uint8Array {
  let b = Uint8Array.from(src);
  const rounds = 1 + rng.int(4);
  for (let r = 0; r < rounds; r++) {
    const kind = rng.int(7);
    if (b.length === 0) b = new Uint8Array(rng.int(64));
    const at = rng.int(Math.max(1, b.length));
    if (kind === 0) b[at] ^= 1 << rng.int(8);
    else if (kind === 1) b[at] = pick(rng, [0, 0xff, 0x7f, 0x80, 0x20, 0x22, 0x7b, 0x7d, 0x2c]);
    else if (kind === 2) b = b.slice(0, rng.int(b.length + 1));
    else if (kind === 3) {
      const extra = new Uint8Array(rng.int(300));
      for (let i = 0; i < extra.length; i++) extra[i] = rng.int(256);
      const out = new Uint8Array(b.length + extra.length);
      out.set(b.subarray(0, at));
      out.set(extra, at);
      out.set(b.subarray(at), at + extra.length);
      b = out;
    } else if (kind === 4) {
      const n = rng.int(Math.min(64, b.length - at) + 1);
      b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + n)]);
    } else if (kind === 5 && b.length >= 4) {
      const v = pick(rng, [0, 1, 0xff, 0x7fffffff, 0x80000000, 0xffffffff, 0x1000000, 8000]);
      const dv = new DataView(b.buffer, b.byteOffset, b.length);
      const o = rng.int(b.length - 3);
      dv.setUint32(o, v >>> 0, rng.uniform() < 0.5);
    } else {
      // Copy a chunk over another place (aliases structure onto data).
      const n = rng.int(64);
      const from = rng.int(Math.max(1, b.length));
      b.set(b.slice(from, from + n).subarray(0, Math.max(0, b.length - at)), at);
    }
  }
  return b;
}

/** Mutates a JSON value in place at a random depth: set a field, delete it, or swap types. */
export function mutateJson(rng: Rng, root: unknown, depth = 0): unknown {
  if (root === null || typeof root !== 'object' || (depth > 0 && rng.uniform() < 0.25)) return randomValue(rng);
  if (Array.isArray(root)) {
    if (root.length === 0 || rng.uniform() < 0.1) {
      root.push(randomValue(rng));
      return root;
    }
    const i = rng.int(root.length);
    const r = rng.uniform();
    if (r < 0.1) root.splice(i, 1);
    else if (r < 0.2) root.splice(i, 0, structuredClone(root[i]));
    else if (r < 0.25) root.push(...Array.from({ length: 1 + rng.int(400) }, () => structuredClone(root[i])));
    else root[i] = mutateJson(rng, root[i], depth + 1);
    return root;
  }
  const o = root as Record<string, unknown>;
  const keys = Object.keys(o);
  const r = rng.uniform();
  if (keys.length === 0 || r < 0.08) o[pick(rng, ['src', 'dst', 'other', 'kept', 'shape', 'x', 'countIncludePad', 'groups', 'kind'])] = randomValue(rng);
  else if (r < 0.18) delete o[pick(rng, keys)];
  else {
    const k = pick(rng, keys);
    o[k] = mutateJson(rng, o[k], depth + 1);
  }
  return o;
}

/** Header-length prefix + header JSON + data. */
function assemble(header: string, data: Uint8Array, lengthFix = true): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(lengthFix ? h.length : h.length + pick(new Rng(h.length), [-1, 1, 8])), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function splitSafetensors(bytes: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), data: bytes.subarray(8 + n) };
}

/** Format-aware safetensors header mutations: entries aliased, resized, retyped, multiplied. */
function mutateHeader(rng: Rng, bytes: Uint8Array): Uint8Array {
  const { header, data } = splitSafetensors(bytes);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const r = rng.uniform();
  if (r < 0.15 && names.length > 0) {
    // Alias one entry many times (the old runtime decoded each copy before the overlap check).
    const e = header[pick(rng, names)];
    for (let i = 0; i < 1 + rng.int(400); i++) header[`alias${i}`] = e;
  } else if (r < 0.3 && names.length > 0) {
    const e = header[pick(rng, names)] as { shape: number[]; data_offsets: number[]; dtype: string };
    const f = rng.int(3);
    if (f === 0) e.shape = Array.from({ length: rng.int(4) }, () => (rng.uniform() < 0.3 ? 0 : interestingNumber(rng)));
    else if (f === 1) e.data_offsets = [interestingNumber(rng), interestingNumber(rng)];
    else e.dtype = pick(rng, ['F64', 'F32', 'F16', 'BF16', 'I64', 'U64', 'I32', 'U32', 'I16', 'U16', 'I8', 'U8', 'BOOL', 'F8_E4M3', 'Q4', '']);
  } else {
    mutateJson(rng, header);
  }
  return assemble(JSON.stringify(header), data, rng.uniform() < 0.9);
}

// ------------------------------------------------------------------ safetensors

let stSeeds: Uint8Array[] | null = null;
function safetensorsSeeds(): Uint8Array[] {
  stSeeds ??= [
    serializeSafetensors({
      w: { dtype: 'F32', shape: [2, 3], data: Float32Array.of(1, -2, 3.5, 0, 1e-8, -0) },
      h: { dtype: 'F16', shape: [4], data: Float32Array.of(1, 2, 3, 65504) },
      b: { dtype: 'BF16', shape: [2], data: Float32Array.of(1, -1) },
      d: { dtype: 'I64', shape: [3], data: BigInt64Array.of(1n, -1n, 2n ** 60n) },
      u: { dtype: 'U8', shape: [5], data: Uint8Array.of(0, 1, 2, 254, 255) },
      m: { dtype: 'BOOL', shape: [2], data: Uint8Array.of(0, 1) },
      z: { dtype: 'I8', shape: [0, 3], data: new Int8Array(0) },
      s: { dtype: 'F32', shape: [], data: Float32Array.of(7) },
    }, { note: 'seed', format: 'pt' }),
    packedLenet(),
  ];
  return stSeeds;
}

const safetensors: FuzzFormat = {
  name: 'safetensors',
  make(seed, index, dir) {
    const rng = caseRng(seed, index);
    const src = pick(rng, safetensorsSeeds());
    const bytes = rng.uniform() < 0.5 ? mutateHeader(rng, src) : mutateBytes(rng, src);
    const path = join(dir, 'case.safetensors');
    writeFileSync(path, bytes);
    return { reader: rng.uniform() < 0.5 ? 'safetensors' : 'runtime-safetensors', path, what: 'safetensors' };
  },
};

// ------------------------------------------------------------------ packed

let packedSeeds: Uint8Array[] | null = null;
function packedSeedFiles(): Uint8Array[] {
  packedSeeds ??= [
    packedLenet(),
    packedResnet20(),
    packModel('micronet', {}, ternaryFixture('micronet', { seed: 5, deadFraction: 0.1 }).stateDict).bytes,
    packModel('mobilenetv2', {}, ternaryFixture('mobilenetv2', { seed: 6, modelOptions: { cifar: true, widthMult: 0.35 } }).stateDict, { float16: true }).bytes,
  ];
  return packedSeeds;
}

/** Re-seals (format 2 with a valid checksum) or writes as format 1, so only the mutation is hostile. */
function seal(rng: Rng, tensors: Map<string, SafetensorEntry>, metadata: Record<string, string>): Uint8Array {
  const { dataCrc32: _c, ...m } = metadata;
  return rng.uniform() < 0.7 ? serializePacked(tensors, { ...m, format: PACKED_FORMAT }) : serializeSafetensors(tensors, { ...m, format: PACKED_FORMAT_V1 });
}

/** Program-level mutations: fields to boundary values, registers renamed, ops dropped, duplicated or moved. */
function mutateProgram(rng: Rng, prog: { input: Record<string, unknown>; outputs: unknown; ops: Array<Record<string, unknown>> }): void {
  const r = rng.uniform();
  const ops = prog.ops;
  if (r < 0.1) prog.input[pick(rng, ['channels', 'height', 'width'])] = interestingNumber(rng);
  else if (r < 0.15) prog.outputs = interestingNumber(rng);
  else if (r < 0.25) {
    const op = pick(rng, ops);
    op[pick(rng, ['src', 'dst', 'other'])] = pick(rng, ['x', 'y', 's0', 's1', 'nope', 'x ']);
  } else if (r < 0.3) ops.splice(rng.int(ops.length), 1);
  else if (r < 0.35) {
    const i = rng.int(ops.length);
    ops.splice(rng.int(ops.length + 1), 0, structuredClone(ops[i]));
  } else if (r < 0.4) {
    const [i, j] = [rng.int(ops.length), rng.int(ops.length)];
    [ops[i], ops[j]] = [ops[j], ops[i]];
  } else {
    // A numeric field of one op (shape, stride, padding, dilation, kernel, groups, pads, channels, kept…).
    const op = pick(rng, ops);
    const fields = Object.keys(op).filter((k) => k !== 'op' && k !== 'name');
    if (fields.length === 0) op.op = pick(rng, ['relu', 'maxpool', 'conv', 'linear', 'add', 'shortcutA', 'hardswish']);
    else {
      const k = pick(rng, fields);
      const v = op[k];
      if (Array.isArray(v) && v.length > 0 && typeof v[0] === 'number' && rng.uniform() < 0.8) v[rng.int(v.length)] = interestingNumber(rng);
      else op[k] = mutateJson(rng, v);
    }
  }
}

/** A tensor resized, retyped, emptied, or its bytes changed (masks with stray bits, NaN scales). */
function mutateTensor(rng: Rng, tensors: Map<string, SafetensorEntry>): void {
  const names = [...tensors.keys()];
  const name = pick(rng, names);
  const e = tensors.get(name) as SafetensorEntry;
  const r = rng.uniform();
  if (r < 0.3) tensors.delete(name);
  else if (r < 0.5) {
    const n = pick(rng, [0, 1, 2, e.data.length - 1, e.data.length + 1, 2 * e.data.length]);
    tensors.set(name, { dtype: 'U8', shape: [Math.max(0, n)], data: new Uint8Array(Math.max(0, n)).fill(0xff) });
  } else if (r < 0.6) tensors.set(name, { dtype: 'F32', shape: [e.data.length], data: new Float32Array(e.data.length).fill(pick(rng, [NaN, Infinity, -Infinity, 0, 1e38])) });
  else {
    const raw = new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength).slice();
    for (let k = 0; k < 1 + rng.int(8) && raw.length > 0; k++) raw[rng.int(raw.length)] = rng.int(256);
    tensors.set(name, { ...e, data: new (e.data.constructor as new (b: ArrayBuffer) => SafetensorEntry['data'])(raw.buffer) });
  }
}

const OPS = ['conv', 'linear', 'affine', 'relu', 'relu6', 'globalavgpool', 'flatten', 'maxpool', 'avgpool', 'add', 'save', 'shortcutA'];

/** A program written from scratch: random ops with random fields over a few random tensors. */
function synthPacked(rng: Rng): Uint8Array {
  const tensors = new Map<string, SafetensorEntry>();
  const dim = (): number => (rng.uniform() < 0.7 ? 1 + rng.int(6) : interestingNumber(rng));
  const ops: Array<Record<string, unknown>> = [];
  for (let i = 0; i < 1 + rng.int(6); i++) {
    const op = pick(rng, OPS);
    const o: Record<string, unknown> = { op };
    if (op === 'conv' || op === 'linear') {
      const shape = op === 'conv' ? [dim(), dim(), dim(), dim()] : [dim(), dim()];
      const n = shape.reduce((a, b) => a * b, 1);
      const name = `l${i}`;
      Object.assign(o, { name, kind: rng.uniform() < 0.5 ? 'ternary' : 'dense', shape });
      if (op === 'conv') Object.assign(o, { stride: [dim(), dim()], padding: [rng.int(3), rng.int(3)], dilation: [1, 1 + rng.int(2)], groups: rng.uniform() < 0.8 ? 1 : dim() });
      const small = Number.isSafeInteger(n) && n >= 0 && n < 4096;
      const len = (k: number): number => (small && rng.uniform() < 0.8 ? k : rng.int(64));
      if (o.kind === 'dense') {
        const w = len(n);
        tensors.set(`${name}.weight`, { dtype: 'F32', shape: [w], data: new Float32Array(w).fill(0.1) });
        o.weight = `${name}.weight`;
      }
      else {
        const nz = len(Math.ceil(n / 8));
        const mask = new Uint8Array(nz);
        for (let k = 0; k < nz; k++) mask[k] = rng.int(256);
        tensors.set(`${name}.nonzero_mask`, { dtype: 'U8', shape: [nz], data: mask });
        const sg = rng.int(nz + 2);
        tensors.set(`${name}.sign_mask`, { dtype: 'U8', shape: [sg], data: new Uint8Array(sg) });
        tensors.set(`${name}.w_p`, { dtype: 'F32', shape: [1], data: Float32Array.of(0.5) });
        tensors.set(`${name}.w_n`, { dtype: 'F32', shape: [1], data: Float32Array.of(0.25) });
        Object.assign(o, { nonzero: `${name}.nonzero_mask`, sign: `${name}.sign_mask`, wp: `${name}.w_p`, wn: `${name}.w_n` });
      }
      if (rng.uniform() < 0.5) {
        const m = Number.isSafeInteger(shape[0]) && shape[0] >= 0 && shape[0] < 4096 ? shape[0] : 3;
        tensors.set(`${name}.bias`, { dtype: 'F32', shape: [m], data: new Float32Array(m) });
        o.bias = `${name}.bias`;
      }
      if (rng.uniform() < 0.3) o.kept = { fullShape: shape.map((d) => d + rng.int(2)), keptOut: [0] };
    } else if (op === 'maxpool' || op === 'avgpool') Object.assign(o, { kernel: [dim(), dim()], stride: [dim(), dim()], padding: [rng.int(3), rng.int(3)] });
    else if (op === 'affine') {
      const c = dim();
      const n = Number.isSafeInteger(c) && c >= 0 && c < 4096 ? c : 2;
      tensors.set(`a${i}.scale`, { dtype: 'F32', shape: [n], data: new Float32Array(n).fill(1) });
      tensors.set(`a${i}.shift`, { dtype: 'F32', shape: [n], data: new Float32Array(n) });
      Object.assign(o, { name: `a${i}`, channels: c, scale: `a${i}.scale`, shift: `a${i}.shift` });
    } else if (op === 'add') o.other = pick(rng, ['x', 's', 'y']);
    else if (op === 'shortcutA') Object.assign(o, { stride: dim(), padBefore: rng.int(4), padAfter: rng.uniform() < 0.9 ? rng.int(4) : interestingNumber(rng) });
    if (rng.uniform() < 0.2) o.dst = pick(rng, ['s', 'y']);
    if (rng.uniform() < 0.2) o.src = pick(rng, ['s', 'y', 'x']);
    ops.push(o);
  }
  const program = { version: 1, model: 'synth', input: { channels: dim(), height: dim(), width: dim() }, outputs: dim(), ops };
  return seal(rng, tensors, { model: 'synth', program: JSON.stringify(program), floatDtype: 'F32' });
}

const packed: FuzzFormat = {
  name: 'packed',
  make(seed, index, dir) {
    const rng = caseRng(seed, index);
    const r = rng.uniform();
    let bytes: Uint8Array;
    let what: string;
    if (r < 0.15) {
      bytes = synthPacked(rng);
      what = 'synth';
    } else {
      const src = pick(rng, packedSeedFiles());
      if (r < 0.25) {
        bytes = mutateBytes(rng, src);
        what = 'bytes';
      } else {
        const f = parseSafetensors(src);
        const prog = JSON.parse(f.metadata.program);
        const tensorCase = rng.uniform() < 0.25;
        if (tensorCase) mutateTensor(rng, f.tensors);
        else for (let k = 0; k < 1 + rng.int(3); k++) mutateProgram(rng, prog);
        bytes = seal(rng, f.tensors, { ...f.metadata, program: JSON.stringify(prog) });
        what = tensorCase ? 'tensor' : 'program';
      }
    }
    const path = join(dir, 'case.ec2t.safetensors');
    writeFileSync(path, bytes);
    return { reader: 'packed', path, what };
  },
};

// ------------------------------------------------------------------ IDX (MNIST)

/** An empty folder `dir/name` (the previous case's files removed). */
function freshDir(dir: string, name: string): string {
  const d = join(dir, name);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  return d;
}

function idx(magic: number, dims: number[], payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, magic);
  dims.forEach((d, i) => dv.setUint32(4 + 4 * i, d));
  out.set(payload, 4 + 4 * dims.length);
  return out;
}

/** A gzip stream whose trailer or content lies: a bomb of zeros, a wrong ISIZE, a damaged body. */
function hostileGzip(rng: Rng, plain: Uint8Array): Uint8Array {
  const r = rng.uniform();
  if (r < 0.25) {
    // Bomb: the real content followed by up to 16 MB of zeros (deflate: ~1000:1).
    const zeros = pick(rng, [1, 1024, 1 << 20, 4 << 20, 16 << 20]);
    const big = new Uint8Array(plain.length + zeros);
    big.set(plain);
    return gzipSync(big, { level: 1 });
  }
  const gz = gzipSync(plain, { level: 1 });
  if (r < 0.5) new DataView(gz.buffer, gz.byteOffset).setUint32(gz.length - 4, interestingNumber(rng) >>> 0, true);
  else return mutateBytes(rng, gz);
  return gz;
}

const mnist: FuzzFormat = {
  name: 'idx',
  make(seed, index, dir) {
    const rng = caseRng(seed, index);
    const d = freshDir(dir, 'mnist');
    const n = 1 + rng.int(4);
    const pixels = new Uint8Array(n * 784);
    for (let i = 0; i < pixels.length; i++) pixels[i] = rng.int(256);
    const labels = Uint8Array.from({ length: n }, () => rng.int(10));
    const files: Array<[string, Uint8Array]> = [
      ['t10k-images-idx3-ubyte', idx(0x803, [n, 28, 28], pixels)],
      ['t10k-labels-idx1-ubyte', idx(0x801, [n], labels)],
    ];
    const victim = rng.int(2);
    let [name, bytes] = files[victim];
    const r = rng.uniform();
    if (r < 0.35) {
      // Header dims to boundary values (possibly consistent with a bomb below).
      const dv = new DataView(bytes.buffer);
      const dimsAt = victim === 0 ? [4, 8, 12] : [4];
      dv.setUint32(pick(rng, dimsAt), interestingNumber(rng) >>> 0);
      if (rng.uniform() < 0.1) dv.setUint8(3, pick(rng, [0, 1, 2, 4, 255]));
    } else if (r < 0.6) bytes = mutateBytes(rng, bytes);
    const gz = rng.uniform() < 0.5;
    for (const [k, [nm, b]] of files.entries()) {
      const content = k === victim ? bytes : b;
      const useGz = gz && (k === victim || rng.uniform() < 0.5);
      writeFileSync(join(d, useGz ? `${nm}.gz` : nm), useGz ? (k === victim && rng.uniform() < 0.6 ? hostileGzip(rng, content) : gzipSync(content, { level: 1 })) : content);
    }
    void name;
    return { reader: 'mnist', path: d, what: gz ? 'gz' : 'raw' };
  },
};

// ------------------------------------------------------------------ CIFAR

const cifar: FuzzFormat = {
  name: 'cifar',
  make(seed, index, dir) {
    const rng = caseRng(seed, index);
    const d = freshDir(dir, 'cifar');
    const hundred = rng.uniform() < 0.4;
    const labelBytes = hundred ? 2 : 1;
    const n = 1 + rng.int(3);
    let bytes: Uint8Array = new Uint8Array(n * (labelBytes + 3072));
    for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
    for (let r = 0; r < n; r++) {
      const at = r * (labelBytes + 3072);
      if (hundred) {
        bytes[at] = rng.int(20);
        bytes[at + 1] = rng.int(100);
      } else bytes[at] = rng.int(10);
    }
    if (rng.uniform() < 0.6) bytes = mutateBytes(rng, bytes);
    const gz = rng.uniform() < 0.5;
    const name = hundred ? 'test.bin' : 'test_batch.bin';
    writeFileSync(join(d, gz ? `${name}.gz` : name), gz ? hostileGzip(rng, bytes) : bytes);
    return { reader: hundred ? 'cifar100' : 'cifar10', path: d, what: gz ? 'gz' : 'raw' };
  },
};

// ------------------------------------------------------------------ run folder

const RUN_FILES = ['config.json', 'manifest.json', 'metrics.jsonl', 'summary.json', 'histograms.json'];

const runfolder: FuzzFormat = {
  name: 'runfolder',
  make(seed, index, dir) {
    const rng = caseRng(seed, index);
    const d = join(dir, 'run');
    rmSync(d, { recursive: true, force: true });
    writeFixtureRun(d, { ec2tEpochs: 1 + rng.int(3), frozenEpochs: rng.int(2), testAccuracy: 0.9, histograms: true, plain: rng.uniform() < 0.2 });
    const file = pick(rng, RUN_FILES);
    const p = join(d, file);
    let text: string;
    try {
      text = readFileSync(p, 'utf8');
    } catch {
      text = '';
    }
    const r = rng.uniform();
    if (r < 0.6 && text !== '') {
      // Structure-aware: one JSON document (or one metrics line) with a field set to an odd value.
      const lines = file === 'metrics.jsonl' ? text.trim().split('\n') : [text];
      const i = rng.int(lines.length);
      const v = JSON.parse(lines[i]);
      for (let k = 0; k < 1 + rng.int(3); k++) mutateJson(rng, v);
      lines[i] = JSON.stringify(v);
      if (file === 'metrics.jsonl' && rng.uniform() < 0.1) for (let k = 0; k < rng.int(2000); k++) lines.push(lines[i]);
      writeFileSync(p, lines.join('\n') + '\n');
    } else if (r < 0.9) writeFileSync(p, mutateBytes(rng, new TextEncoder().encode(text)));
    else rmSync(p, { force: true });
    return { reader: 'runfolder', path: d, what: file };
  },
};

/** Every format the fuzz covers, by name. */
export const FORMATS: Record<string, FuzzFormat> = { safetensors, packed, idx: mnist, cifar, runfolder };
