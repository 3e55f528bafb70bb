/**
 * A minimal, strict safetensors reader for the ternary runtime: F32, F16 (widened to float32), U8
 * and I8 tensors only. Separate from nn/safetensors.ts so the runtime's import graph holds no
 * tensor/autodiff code. Every fault is a {@link FormatError}; the header is bounds-checked against
 * the file size before anything else is read, and tensors must tile the data buffer exactly.
 */
import { f16ToF32 } from '../../engine/float16.js';
import { readFileSync } from 'node:fs';
import { FormatError } from '../../engine/errors.js';

/** One tensor: float data as Float32Array (F16 widened), U8 as Uint8Array, I8 as Int8Array. */
export interface RawTensor {
  dtype: 'F32' | 'F16' | 'U8' | 'I8';
  shape: number[];
  data: Float32Array | Uint8Array | Int8Array;
}

const ITEM: Record<RawTensor['dtype'], number> = { F32: 4, F16: 2, U8: 1, I8: 1 };

/**
 * Parses safetensors bytes; `file` names the source in errors.
 * @example const { tensors, metadata } = readSafetensorsBytes(bytes, 'm.ec2t.safetensors');
 */
export function readSafetensorsBytes(bytes: Uint8Array, file: string): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  const fail = (d: string): never => {
    throw new FormatError(file, d);
  };
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes, not a safetensors file`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  if (hi !== 0 || lo > 100_000_000) fail('header length is implausible (corrupt or not a safetensors file)');
  if (lo < 2 || 8 + lo > bytes.length) fail(`header length ${lo} runs past the end of the file (${bytes.length} bytes): truncated or corrupt`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + lo)));
  } catch (e) {
    fail(`header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header must be a JSON object');
  const data = bytes.subarray(8 + lo);
  const metadata: Record<string, string> = {};
  const spans: Array<{ name: string; begin: number; end: number }> = [];
  const tensors = new Map<string, RawTensor>();
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) fail('"__metadata__" must be an object');
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== 'string') fail(`metadata "${k}" must be a string`);
        Object.defineProperty(metadata, k, { value: s, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(`tensor "${name}": entry must be an object`);
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = e.dtype as RawTensor['dtype'];
    if (!Object.prototype.hasOwnProperty.call(ITEM, dtype as string)) fail(`tensor "${name}": dtype ${JSON.stringify(e.dtype)} is not one the runtime reads (F32, F16, U8, I8)`);
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor "${name}": bad shape ${JSON.stringify(shape)}`);
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isSafeInteger(d) && d >= 0) || offs[1] < offs[0]) fail(`tensor "${name}": bad data_offsets ${JSON.stringify(offs)}`);
    const [begin, end] = offs as [number, number];
    if (end - begin !== numel * ITEM[dtype]) fail(`tensor "${name}": shape ${JSON.stringify(shape)} of ${dtype} needs ${numel * ITEM[dtype]} bytes, data_offsets span ${end - begin}`);
    if (end > data.length) fail(`tensor "${name}": data_offsets [${begin}, ${end}] run past the data buffer (${data.length} bytes): truncated`);
    spans.push({ name, begin, end });
    const src = data.subarray(begin, end);
    let out: RawTensor['data'];
    if (dtype === 'F32') {
      const f = new Float32Array(numel);
      const sdv = new DataView(src.buffer, src.byteOffset, src.byteLength);
      for (let i = 0; i < numel; i++) f[i] = sdv.getFloat32(4 * i, true);
      out = f;
    } else if (dtype === 'F16') {
      const f = new Float32Array(numel);
      const sdv = new DataView(src.buffer, src.byteOffset, src.byteLength);
      for (let i = 0; i < numel; i++) f[i] = f16ToF32(sdv.getUint16(2 * i, true));
      out = f;
    } else if (dtype === 'U8') out = Uint8Array.from(src);
    else out = new Int8Array(Uint8Array.from(src).buffer);
    tensors.set(name, { dtype, shape: shape as number[], data: out });
  }
  spans.sort((a, b) => a.begin - b.begin);
  let at = 0;
  for (const s of spans) {
    if (s.begin !== at) fail(`tensor "${s.name}" starts at ${s.begin}, expected ${at}: gap or overlap in the data buffer`);
    at = s.end;
  }
  if (at !== data.length) fail(`tensors cover ${at} bytes of a ${data.length}-byte data buffer (trailing bytes or corrupt header)`);
  return { tensors, metadata };
}

/** Reads a safetensors file with {@link readSafetensorsBytes}. */
export function readSafetensorsFile(path: string): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  return readSafetensorsBytes(readFileSync(path), path);
}
