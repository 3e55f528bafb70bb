/**
 * safetensors reader and writer (https://github.com/huggingface/safetensors), byte-compatible
 * with the reference implementation:
 *
 * ```
 * [8 bytes: N, u64 little-endian][N bytes: UTF-8 JSON header, space-padded to a multiple of 8][data]
 * header = { "__metadata__"?: { string: string }, name: { dtype, shape, data_offsets: [begin, end] }, ... }
 * ```
 * Offsets are relative to the start of the data buffer; tensors tile the buffer exactly (no gaps,
 * no overlaps). The writer orders tensors like the reference (larger dtypes first, then by name)
 * so every tensor is naturally aligned, and writes files atomically (temp file, fsync, rename).
 *
 * Every malformed input becomes a {@link FormatError} naming the file and the fault, raised
 * before any allocation larger than the input itself and without reading out of bounds.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { writeFileAtomic } from '../engine/io.js';
import { FormatError, ValueError } from '../engine/errors.js';
import { Tensor } from '../engine/tensor.js';

/** Re-exported from `engine/io.ts` (its one home) so existing `nn/safetensors` imports keep working. */
export { writeFileAtomic };

/** Element types of the safetensors format that this module understands. */
export type SafetensorDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'U64' | 'I32' | 'U32' | 'I16' | 'U16' | 'I8' | 'U8' | 'BOOL';

/** Element storage of a tensor in memory: floats are widened/narrowed to float32, integers keep their width. */
export type SafetensorData = Float32Array | BigInt64Array | BigUint64Array | Int32Array | Uint32Array | Int16Array | Uint16Array | Int8Array | Uint8Array;

/**
 * One tensor as stored. `dtype` is the file's dtype; `data` is a Float32Array for F64/F32/F16/BF16
 * (converted) and the matching integer array otherwise (BigInt64Array for I64, Uint8Array for BOOL).
 */
export interface SafetensorEntry {
  dtype: SafetensorDtype;
  shape: number[];
  data: SafetensorData;
}

/** A parsed file: tensors in file order, plus the string→string metadata (empty when absent). */
export interface SafetensorsFile {
  tensors: Map<string, SafetensorEntry>;
  metadata: Record<string, string>;
}

/** What the writer accepts per name: a float32 `Tensor` or an explicit entry. */
export type SafetensorInput = Tensor | SafetensorEntry;

/** Writer options. */
export interface SaveOptions {
  /** dtype used for `Tensor` inputs (explicit entries keep their own); default F32. */
  floatDtype?: 'F32' | 'F16' | 'BF16';
}

/** Header length above which a file is rejected as corrupt (the reference uses the same bound). */
export const MAX_HEADER_BYTES = 100_000_000;

const ITEM_BYTES: Record<SafetensorDtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, U64: 8, I32: 4, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1,
};

// NOTE: the reference sorts tensors by dtype (its enum order, descending) then by name, so data of
// wider types comes first and every tensor starts at a multiple of its item size.
const DTYPE_RANK: Record<SafetensorDtype, number> = {
  BOOL: 0, U8: 1, I8: 2, I16: 5, U16: 6, F16: 7, BF16: 8, I32: 9, U32: 10, F32: 11, F64: 12, I64: 13, U64: 14,
};

const WRITABLE: ReadonlySet<SafetensorDtype> = new Set<SafetensorDtype>(['F32', 'F16', 'BF16', 'I64', 'U64', 'I32', 'U32', 'I16', 'U16', 'I8', 'U8', 'BOOL']);

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isDtype(s: unknown): s is SafetensorDtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(ITEM_BYTES, s);
}

// Half-precision conversions live in engine/float16.ts (shared with the runtime and the exporter).
export { f32BitsToF16, f16BitsToF32, f32BitsToBf16 } from '../engine/float16.js';
import { f32BitsToF16, f16BitsToF32, f32BitsToBf16 } from '../engine/float16.js';

// ---------------------------------------------------------------- reading

function fail(file: string, detail: string): never {
  throw new FormatError(file, detail);
}

interface HeaderEntry {
  name: string;
  dtype: SafetensorDtype;
  shape: number[];
  begin: number;
  end: number;
}

interface ParsedHeader {
  entries: HeaderEntry[];
  metadata: Record<string, string>;
  /** Bytes of the data buffer the header describes. */
  dataBytes: number;
}

/** Validates the 8-byte prefix against the total size and returns N (the header length). */
function readHeaderLength(prefix: Uint8Array, totalBytes: number, file: string): number {
  if (totalBytes < 8) fail(file, `truncated safetensors file: ${totalBytes} bytes, the 8-byte header-length prefix alone needs 8`);
  const dv = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const n = hi * 4294967296 + lo;
  if (hi !== 0 || n > MAX_HEADER_BYTES) fail(file, `header length ${hi !== 0 ? `${hi}·2^32+${lo}` : n} bytes exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt or not a safetensors file)`);
  if (n < 2) fail(file, `header length ${n} is too small to hold a JSON object`);
  if (8 + n > totalBytes) fail(file, `header length ${n} runs past the end of the file (${totalBytes} bytes): truncated or corrupt`);
  return n;
}

/** Parses and validates the JSON header against a data buffer of `dataBytes` bytes. */
function parseHeader(headerBytes: Uint8Array, dataBytes: number, file: string): ParsedHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    fail(file, 'header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(file, `header is not valid JSON: ${(e as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) fail(file, 'header must be a JSON object of tensor entries');
  // NOTE: Object.fromEntries (not assignment) so a key named "__proto__" stays an own property.
  const metaPairs: Array<[string, string]> = [];
  const entries: HeaderEntry[] = [];
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(file, '"__metadata__" must be an object of string values');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(file, `"__metadata__"."${k}" must be a string, found ${v === null ? 'null' : typeof v}`);
        metaPairs.push([k, v]);
      }
      continue;
    }
    entries.push(parseEntry(name, value, file));
  }
  // Tensors must tile [0, dataBytes) exactly, in offset order.
  const sorted = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of sorted) {
    if (e.begin !== at) {
      fail(file, e.begin < at ? `tensor "${e.name}" data_offsets [${e.begin}, ${e.end}] overlap the previous tensor (which ends at ${at})` : `gap in the data buffer: bytes [${at}, ${e.begin}) belong to no tensor (before "${e.name}")`);
    }
    if (e.end > dataBytes) fail(file, `tensor "${e.name}" data_offsets [${e.begin}, ${e.end}] run past the data buffer (${dataBytes} bytes): truncated or corrupt`);
    at = e.end;
  }
  if (at !== dataBytes) fail(file, `tensors cover ${at} bytes but the data buffer holds ${dataBytes}: the offsets do not cover the buffer (trailing bytes or corrupt header)`);
  return { entries, metadata: Object.fromEntries(metaPairs), dataBytes };
}

function parseEntry(name: string, value: unknown, file: string): HeaderEntry {
  const where = `tensor "${name}"`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(file, `${where}: entry must be an object with dtype, shape, data_offsets`);
  const v = value as Record<string, unknown>;
  if (!isDtype(v.dtype)) fail(file, `${where}: unknown dtype ${JSON.stringify(v.dtype)}; expected one of ${Object.keys(ITEM_BYTES).join(', ')}`);
  const dtype = v.dtype;
  if (!Array.isArray(v.shape)) fail(file, `${where}: shape must be an array of non-negative integers`);
  let numel = 1;
  const shape: number[] = [];
  for (const d of v.shape as unknown[]) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) fail(file, `${where}: shape ${JSON.stringify(v.shape)} has an invalid dim ${JSON.stringify(d)}`);
    shape.push(d);
    numel *= d;
    if (!Number.isSafeInteger(numel)) fail(file, `${where}: shape ${JSON.stringify(v.shape)} has too many elements`);
  }
  const offs = v.data_offsets;
  if (!Array.isArray(offs) || offs.length !== 2) fail(file, `${where}: data_offsets must be [begin, end]`);
  const [begin, end] = offs as unknown[];
  if (typeof begin !== 'number' || typeof end !== 'number' || !Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end < begin) {
    fail(file, `${where}: data_offsets ${JSON.stringify(offs)} must be integers with 0 <= begin <= end`);
  }
  const bytes = numel * ITEM_BYTES[dtype];
  if (!Number.isSafeInteger(bytes) || end - begin !== bytes) fail(file, `${where}: shape ${JSON.stringify(shape)} of ${dtype} needs ${bytes} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
  return { name, dtype, shape, begin, end };
}

/** Copies `bytes` little-endian elements into a fresh typed array of the given kind (aligned, host order). */
function copyLE<T extends SafetensorData | Float64Array>(make: (n: number) => T, src: Uint8Array, item: number): T {
  const out = make(src.length / item);
  const raw = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  raw.set(src);
  if (!LITTLE_ENDIAN_HOST && item > 1) {
    for (let i = 0; i < raw.length; i += item) raw.subarray(i, i + item).reverse();
  }
  return out;
}

function decodeData(dtype: SafetensorDtype, src: Uint8Array): SafetensorData {
  switch (dtype) {
    case 'F32':
      return copyLE((n) => new Float32Array(n), src, 4);
    case 'F64': {
      return Float32Array.from(copyLE((n) => new Float64Array(n), src, 8));
    }
    case 'F16':
    case 'BF16': {
      const halves = copyLE((n) => new Uint16Array(n), src, 2);
      const out = new Float32Array(halves.length);
      const bits = new Uint32Array(out.buffer);
      // NOTE: convert in the bit domain so NaN payloads survive a read→write round trip.
      if (dtype === 'F16') for (let i = 0; i < halves.length; i++) bits[i] = f16BitsToF32(halves[i]);
      else for (let i = 0; i < halves.length; i++) bits[i] = halves[i] << 16;
      return out;
    }
    case 'I64':
      return copyLE((n) => new BigInt64Array(n), src, 8);
    case 'U64':
      return copyLE((n) => new BigUint64Array(n), src, 8);
    case 'I32':
      return copyLE((n) => new Int32Array(n), src, 4);
    case 'U32':
      return copyLE((n) => new Uint32Array(n), src, 4);
    case 'I16':
      return copyLE((n) => new Int16Array(n), src, 2);
    case 'U16':
      return copyLE((n) => new Uint16Array(n), src, 2);
    case 'I8':
      return copyLE((n) => new Int8Array(n), src, 1);
    case 'U8':
    case 'BOOL':
      return copyLE((n) => new Uint8Array(n), src, 1);
  }
}

function buildFile(header: ParsedHeader, data: Uint8Array): SafetensorsFile {
  const tensors = new Map<string, SafetensorEntry>();
  for (const e of header.entries) tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: decodeData(e.dtype, data.subarray(e.begin, e.end)) });
  return { tensors, metadata: header.metadata };
}

/**
 * Parses a whole safetensors file held in memory; `nameForErrors` names it in {@link FormatError}s.
 * @example const { tensors, metadata } = parseSafetensors(bytes, 'model.safetensors');
 */
export function parseSafetensors(bytes: Uint8Array, nameForErrors = '<memory>'): SafetensorsFile {
  const n = readHeaderLength(bytes.subarray(0, 8), bytes.length, nameForErrors);
  const header = parseHeader(bytes.subarray(8, 8 + n), bytes.length - 8 - n, nameForErrors);
  return buildFile(header, bytes.subarray(8 + n));
}

function readExactly(fd: number, buf: Uint8Array, position: number, file: string): void {
  let done = 0;
  while (done < buf.length) {
    const got = readSync(fd, buf, done, buf.length - done, position + done);
    if (got === 0) fail(file, `unexpected end of file at byte ${position + done} (file changed while reading?)`);
    done += got;
  }
}

/**
 * Reads a safetensors file. The header is validated against the file size before the data is read,
 * so a corrupt header cannot trigger a large allocation.
 * @example const { tensors } = loadSafetensors('weights.safetensors'); tensors.get('fc.weight')
 */
export function loadSafetensors(path: string): SafetensorsFile {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const prefix = new Uint8Array(8);
    if (size >= 8) readExactly(fd, prefix, 0, path);
    const n = readHeaderLength(prefix, size, path);
    const headerBytes = new Uint8Array(n);
    readExactly(fd, headerBytes, 8, path);
    const header = parseHeader(headerBytes, size - 8 - n, path);
    const data = new Uint8Array(header.dataBytes);
    readExactly(fd, data, 8 + n, path);
    return buildFile(header, data);
  } finally {
    closeSync(fd);
  }
}

/**
 * The elements of an entry as float32 (integers converted by value; I64 beyond 2^53 loses precision).
 * Float entries return their own array (not a copy).
 */
export function entryToFloat32(entry: SafetensorEntry): Float32Array {
  const d = entry.data;
  if (d instanceof Float32Array) return d;
  const out = new Float32Array(d.length);
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) for (let i = 0; i < d.length; i++) out[i] = Number(d[i]);
  else for (let i = 0; i < d.length; i++) out[i] = d[i];
  return out;
}

/** An entry as a float32 {@link Tensor} (shares the data when it is already float32). */
export function entryToTensor(entry: SafetensorEntry): Tensor {
  return new Tensor(entryToFloat32(entry), entry.shape);
}

/**
 * Loads a file and returns every tensor as a float32 {@link Tensor}, plus the metadata.
 * @example const { tensors } = loadSafetensorsAsTensors('w.safetensors'); model.loadStateDict(tensors)
 */
export function loadSafetensorsAsTensors(path: string): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const file = loadSafetensors(path);
  const tensors = new Map<string, Tensor>();
  for (const [k, e] of file.tensors) tensors.set(k, entryToTensor(e));
  return { tensors, metadata: file.metadata };
}

// ---------------------------------------------------------------- writing

type ArrayKind = { new (n: number): SafetensorData; name: string };

function expectedArray(dtype: SafetensorDtype): ArrayKind {
  switch (dtype) {
    case 'F32': case 'F16': case 'BF16': case 'F64': return Float32Array;
    case 'I64': return BigInt64Array;
    case 'U64': return BigUint64Array;
    case 'I32': return Int32Array;
    case 'U32': return Uint32Array;
    case 'I16': return Int16Array;
    case 'U16': return Uint16Array;
    case 'I8': return Int8Array;
    case 'U8': case 'BOOL': return Uint8Array;
  }
}

function toEntry(name: string, value: SafetensorInput, opts: SaveOptions): SafetensorEntry {
  if (value instanceof Tensor) return { dtype: opts.floatDtype ?? 'F32', shape: [...value.shape], data: value.data };
  const { dtype, shape, data } = value;
  if (!WRITABLE.has(dtype)) throw new ValueError('saveSafetensors', `tensor "${name}": cannot write dtype ${dtype}; writable dtypes are ${[...WRITABLE].join(', ')}`);
  const kind = expectedArray(dtype);
  if (!(data instanceof kind)) throw new ValueError('saveSafetensors', `tensor "${name}": dtype ${dtype} needs a ${kind.name}, got a ${(data as object)?.constructor?.name ?? typeof data}`);
  let numel = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new ValueError('saveSafetensors', `tensor "${name}": invalid dim ${d} in shape [${shape.join(', ')}]`);
    numel *= d;
  }
  if (numel !== data.length) throw new ValueError('saveSafetensors', `tensor "${name}": shape [${shape.join(', ')}] needs ${numel} elements, data has ${data.length}`);
  return { dtype, shape: [...shape], data };
}

function encodeData(e: SafetensorEntry): Uint8Array {
  const d = e.data;
  if (e.dtype === 'F16' || e.dtype === 'BF16') {
    const f = d as Float32Array;
    const bits = new Uint32Array(f.buffer, f.byteOffset, f.length);
    const out = new Uint16Array(f.length);
    if (e.dtype === 'F16') for (let i = 0; i < f.length; i++) out[i] = f32BitsToF16(bits[i]);
    else for (let i = 0; i < f.length; i++) out[i] = f32BitsToBf16(bits[i]);
    return toLEBytes(out, 2);
  }
  return toLEBytes(d, ITEM_BYTES[e.dtype]);
}

function toLEBytes(d: SafetensorData, item: number): Uint8Array {
  const raw = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  if (LITTLE_ENDIAN_HOST || item === 1) return raw;
  const out = raw.slice();
  for (let i = 0; i < out.length; i += item) out.subarray(i, i + item).reverse();
  return out;
}

/**
 * Serialises tensors (and string metadata) into safetensors bytes, in the reference's layout.
 * @example const bytes = serializeSafetensors({ w: tensor([1, 2]) }, { note: 'hi' });
 */
export function serializeSafetensors(tensors: Map<string, SafetensorInput> | Record<string, SafetensorInput>, metadata?: Record<string, string>, opts: SaveOptions = {}): Uint8Array {
  const pairs = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const entries: Array<[string, SafetensorEntry]> = [];
  const seen = new Set<string>();
  for (const [name, value] of pairs) {
    if (name === '__metadata__') throw new ValueError('saveSafetensors', 'a tensor cannot be named "__metadata__" (reserved by the format)');
    if (seen.has(name)) throw new ValueError('saveSafetensors', `duplicate tensor name "${name}"`);
    seen.add(name);
    entries.push([name, toEntry(name, value, opts)]);
  }
  entries.sort(([an, a], [bn, b]) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || (an < bn ? -1 : an > bn ? 1 : 0));
  // NOTE: header built from pairs (Object.fromEntries) so names like "__proto__" survive.
  const headerPairs: Array<[string, unknown]> = [];
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw new ValueError('saveSafetensors', `metadata "${k}" must be a string, got ${typeof v} (JSON.stringify it)`);
    headerPairs.push(['__metadata__', Object.fromEntries(Object.entries(metadata))]);
  }
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const [name, e] of entries) {
    const blob = encodeData(e);
    headerPairs.push([name, { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + blob.length] }]);
    offset += blob.length;
    blobs.push(blob);
  }
  const json = new TextEncoder().encode(JSON.stringify(Object.fromEntries(headerPairs)));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let at = 8 + padded;
  for (const b of blobs) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/**
 * Saves tensors to a safetensors file atomically.
 * @example saveSafetensors('w.safetensors', model.stateDict(), { epoch: '3' });
 */
export function saveSafetensors(path: string, tensors: Map<string, SafetensorInput> | Record<string, SafetensorInput>, metadata?: Record<string, string>, opts: SaveOptions = {}): void {
  // A missing folder stays an error here: a typo in a weights path should not create folders.
  writeFileAtomic(path, serializeSafetensors(tensors, metadata, opts), { createParents: false });
}
