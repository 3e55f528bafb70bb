/**
 * The one safetensors reader (https://github.com/huggingface/safetensors), shared by nn/safetensors.ts
 * (which adds the writer and Tensor conversions) and the inference runtime (ec2t/runtime), so the
 * runtime's import graph holds no tensor/autodiff code and both read files by the same rules:
 *
 * ```
 * [8 bytes: N, u64 little-endian][N bytes: UTF-8 JSON header][data]
 * header = { "__metadata__"?: { string: string }, name: { dtype, shape, data_offsets: [begin, end] }, ... }
 * ```
 * Every malformed input becomes a {@link FormatError} naming the file and the fault. The whole
 * header is validated (dtypes, shapes, offsets, and that the tensors tile the data buffer exactly:
 * no gaps, no overlaps, nothing past the end) before any tensor is decoded, so a file can never make
 * the reader allocate more than twice its own size (F16/BF16 widen to float32), and aliased entries
 * are refused before they are copied.
 */
import { FormatError } from './errors.js';
import { nodeServices } from './platform.js';
import { f16BitsToF32 } from './float16.js';

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
  /** Byte offset of the data buffer in the file (8 + header length); absent on hand-built objects. */
  dataOffset?: number;
}

/** Reader options. */
export interface ReadOptions {
  /** dtypes the caller accepts; a file holding another is refused before anything is decoded. Default: all. */
  dtypes?: readonly SafetensorDtype[];
}

/** Header length above which a file is rejected as corrupt (the reference uses the same bound). */
export const MAX_HEADER_BYTES = 100_000_000;

/** Bytes per element of each dtype. */
export const ITEM_BYTES: Readonly<Record<SafetensorDtype, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, U64: 8, I32: 4, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1,
};

/** True on little-endian hosts (all supported ones); the file is little-endian. */
export const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isDtype(s: unknown): s is SafetensorDtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(ITEM_BYTES, s);
}

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
function parseHeader(headerBytes: Uint8Array, dataBytes: number, file: string, opts: ReadOptions): ParsedHeader {
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
    const e = parseEntry(name, value, file);
    if (opts.dtypes !== undefined && !opts.dtypes.includes(e.dtype)) fail(file, `tensor "${name}": dtype ${e.dtype} is not one this reader accepts (${opts.dtypes.join(', ')})`);
    entries.push(e);
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

function buildFile(header: ParsedHeader, data: Uint8Array, dataOffset: number, file: string): SafetensorsFile {
  const tensors = new Map<string, SafetensorEntry>();
  // The header tiles the buffer exactly (parseHeader), so the decoded total is at most twice the
  // data: an allocation failure here means the machine lacks that memory, not a hostile header.
  const decode = (e: HeaderEntry): SafetensorData => {
    try {
      return decodeData(e.dtype, data.subarray(e.begin, e.end));
    } catch (err) {
      if (err instanceof RangeError) fail(file, `tensor "${e.name}" (${e.end - e.begin} bytes) cannot be allocated: ${err.message}`);
      throw err;
    }
  };
  for (const e of header.entries) tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: decode(e) });
  return { tensors, metadata: header.metadata, dataOffset };
}

/**
 * Parses a whole safetensors file held in memory; `nameForErrors` names it in {@link FormatError}s.
 * @example const { tensors, metadata } = parseSafetensors(bytes, 'model.safetensors');
 */
export function parseSafetensors(bytes: Uint8Array, nameForErrors = '<memory>', opts: ReadOptions = {}): SafetensorsFile {
  if (!(bytes instanceof Uint8Array)) throw new FormatError(nameForErrors, `expected the file's bytes as a Uint8Array, got ${bytes === null ? 'null' : typeof bytes}`);
  const n = readHeaderLength(bytes.subarray(0, 8), bytes.length, nameForErrors);
  const header = parseHeader(bytes.subarray(8, 8 + n), bytes.length - 8 - n, nameForErrors, opts);
  return buildFile(header, bytes.subarray(8 + n), 8 + n, nameForErrors);
}

function readExactly(fd: number, buf: Uint8Array, position: number, file: string): void {
  const { readSync } = nodeServices(file).fs;
  let done = 0;
  while (done < buf.length) {
    const got = readSync(fd, buf, done, buf.length - done, position + done);
    if (got === 0) fail(file, `unexpected end of file at byte ${position + done} (file changed while reading?)`);
    done += got;
  }
}

/**
 * Reads a safetensors file (Node; in a browser use {@link parseSafetensors} on fetched bytes). The
 * header is validated against the file size before the data is read, so a corrupt header cannot
 * trigger a large allocation.
 * @example const { tensors } = loadSafetensors('weights.safetensors'); tensors.get('fc.weight')
 */
export function loadSafetensors(path: string, opts: ReadOptions = {}): SafetensorsFile {
  const { closeSync, fstatSync, openSync } = nodeServices(path).fs;
  const fd = openSync(path, 'r');
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) fail(path, 'is a folder, not a safetensors file');
    const size = st.size;
    const prefix = new Uint8Array(8);
    if (size >= 8) readExactly(fd, prefix, 0, path);
    const n = readHeaderLength(prefix, size, path);
    const headerBytes = new Uint8Array(n);
    readExactly(fd, headerBytes, 8, path);
    const header = parseHeader(headerBytes, size - 8 - n, path, opts);
    let data: Uint8Array;
    try {
      data = new Uint8Array(header.dataBytes);
    } catch (err) {
      if (err instanceof RangeError) fail(path, `the ${header.dataBytes}-byte data buffer cannot be allocated: ${err.message}`);
      throw err;
    }
    readExactly(fd, data, 8 + n, path);
    return buildFile(header, data, 8 + n, path);
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

