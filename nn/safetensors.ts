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
 * The reader is base/safetensors-read.ts (re-exported here): every malformed input becomes a
 * FormatError naming the file and the fault, raised before any allocation larger than twice the
 * input and without reading out of bounds.
 */
import { MAX_READ_BYTES, writeFileAtomic } from '../base/io.js';
import { bytesOf, fetchBytes } from '../base/fetch.js';
import { ValueError } from '../base/errors.js';
import { Tensor } from '../engine/tensor.js';

/** Re-exported from `base/io.ts` (its one home) so existing `nn/safetensors` imports keep working. */
export { writeFileAtomic };

// The reader and its types live in base/safetensors-read.ts (shared with the inference runtime).
export { MAX_HEADER_BYTES, entryToFloat32, loadSafetensors, parseSafetensors } from '../base/safetensors-read.js';
export type { ReadOptions, SafetensorData, SafetensorDtype, SafetensorEntry, SafetensorsFile } from '../base/safetensors-read.js';
import { ITEM_BYTES, LITTLE_ENDIAN_HOST, entryToFloat32, loadSafetensors, parseSafetensors, type SafetensorData, type SafetensorDtype, type SafetensorEntry } from '../base/safetensors-read.js';

/** What the writer accepts per name: a float32 `Tensor` or an explicit entry. */
export type SafetensorInput = Tensor | SafetensorEntry;

/** Writer options. */
export interface SaveOptions {
  /** dtype used for `Tensor` inputs (explicit entries keep their own); default F32. */
  floatDtype?: 'F32' | 'F16' | 'BF16';
}

// NOTE: the reference sorts tensors by dtype (its enum order, descending) then by name, so data of
// wider types comes first and every tensor starts at a multiple of its item size.
const DTYPE_RANK: Record<SafetensorDtype, number> = {
  BOOL: 0, U8: 1, I8: 2, I16: 5, U16: 6, F16: 7, BF16: 8, I32: 9, U32: 10, F32: 11, F64: 12, I64: 13, U64: 14,
};

const WRITABLE: ReadonlySet<SafetensorDtype> = new Set<SafetensorDtype>(['F32', 'F16', 'BF16', 'I64', 'U64', 'I32', 'U32', 'I16', 'U16', 'I8', 'U8', 'BOOL']);

// Half-precision conversions live in base/float16.ts (shared with the runtime and the exporter).
export { f32BitsToF16, f16BitsToF32, f32BitsToBf16 } from '../base/float16.js';
import { f32BitsToF16, f32BitsToBf16 } from '../base/float16.js';

/** An entry as a float32 {@link Tensor} (shares the data when it is already float32). */
export function entryToTensor(entry: SafetensorEntry): Tensor {
  return new Tensor(entryToFloat32(entry), entry.shape);
}

/**
 * Every tensor of a safetensors file as a float32 {@link Tensor}, plus the metadata: from a file
 * path (Node) or from the bytes (`Uint8Array` or `ArrayBuffer`, every environment; `name` labels
 * them in errors).
 * @example const { tensors } = loadSafetensorsAsTensors('w.safetensors'); model.loadStateDict(tensors)
 * @example model.loadStateDict(loadSafetensorsAsTensors(await (await fetch(url)).arrayBuffer(), url).tensors)
 */
export function loadSafetensorsAsTensors(source: string | Uint8Array | ArrayBuffer, name?: string): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const file = typeof source === 'string' ? loadSafetensors(source) : parseSafetensors(bytesOf(source), name ?? '<bytes>');
  const tensors = new Map<string, Tensor>();
  for (const [k, e] of file.tensors) tensors.set(k, entryToTensor(e));
  return { tensors, metadata: file.metadata };
}

/**
 * Fetches a safetensors file and returns its tensors as {@link loadSafetensorsAsTensors} does (a
 * failed request is an IoError, a damaged file a FormatError, both naming the URL).
 * @example model.loadStateDict((await loadSafetensorsFromUrl('lenet5.safetensors')).tensors)
 */
export async function loadSafetensorsFromUrl(url: string | URL, init?: RequestInit): Promise<{ tensors: Map<string, Tensor>; metadata: Record<string, string> }> {
  return loadSafetensorsAsTensors(await fetchBytes(url, MAX_READ_BYTES, init), String(url));
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
