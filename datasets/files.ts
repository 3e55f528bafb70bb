/**
 * File lookup and reading shared by the MNIST and CIFAR loaders: a file may be stored raw or
 * gzip-compressed (`NAME` or `NAME.gz`); gzip is recognised by its magic bytes, not the name.
 * Nothing here ever downloads. Node only (platform layer): in a browser, build datasets from bytes.
 *
 * A gzip file says nothing trustworthy about what it expands to, so it is never expanded blindly:
 * the size it declares (the format's own header, read from a small expanded prefix, or else the
 * gzip trailer) is checked first, and the stream is expanded with that size as a hard limit.
 */
import { nodeServices } from '../base/platform.js';
import { DatasetError } from './dataset.js';

/**
 * Largest dataset file the loaders read, raw or expanded from gzip: 1 GiB, six times CIFAR-100's
 * train.bin (154 MB), the largest file they serve.
 */
export const MAX_DATASET_FILE_BYTES = 2 ** 30;

/**
 * The first existing path among `dirs × names × ('', '.gz')`, or null.
 * @example findFile(['/data', '/data/MNIST/raw'], ['train-images-idx3-ubyte'])
 */
export function findFile(dirs: readonly string[], names: readonly string[]): string | null {
  for (const dir of dirs) {
    const { fs, path } = nodeServices(dir);
    for (const name of names) {
      for (const ext of ['', '.gz']) {
        const p = path.join(dir, name + ext);
        if (fs.existsSync(p) && fs.statSync(p).isFile()) return p;
      }
    }
  }
  return null;
}

/** What a reader knows about the size of the file it asks for. */
export interface SizeRule {
  /** Most bytes the file may hold (default {@link MAX_DATASET_FILE_BYTES}). */
  maxBytes?: number;
  /**
   * Bytes at the start that fix the whole size (a format header), and the exact size they declare
   * (throwing a DatasetError when they are malformed). A gzip file is then expanded to at most that.
   */
  header?: { bytes: number; size: (head: Uint8Array) => number };
  /** Checks a size before anything that large is read or expanded (throws a DatasetError). */
  check?: (bytes: number) => void;
}

/** Input prefixes tried when expanding just a header (each expands to at most ~1032× itself). */
const PREFIXES = [1024, 16384, 65536];

/** Expands the start of a gzip stream until `want` bytes are out (or the stream ends); bounded by the prefix sizes. */
function gunzipHead(raw: Uint8Array, want: number, path: string): Uint8Array {
  const { zlib } = nodeServices(path);
  let out = new Uint8Array(0);
  for (const n of PREFIXES) {
    try {
      // Z_SYNC_FLUSH: a truncated input yields what it holds instead of an error.
      out = zlib.gunzipSync(raw.subarray(0, n), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    } catch (e) {
      throw damaged(path, e);
    }
    if (out.length >= want || n >= raw.length) break;
  }
  return out;
}

function damaged(path: string, e: unknown): DatasetError {
  return new DatasetError(path, `expected a valid gzip stream, found a damaged one (${(e as Error).message})`, 'Re-copy or re-compress the file, or store it uncompressed');
}

/**
 * The bytes of `path`, gunzipped when they start with the gzip magic `1f 8b` (so `x.gz` and a
 * renamed `x` both work). The size the file declares is checked against `rule` before anything that
 * large is read or expanded, and a gzip stream is expanded with that size as a hard limit. Every
 * failure is a {@link DatasetError} naming the file.
 * @example readMaybeGzip('t10k-labels-idx1-ubyte.gz', { header: { bytes: 8, size: (h) => 8 + readUInt32BE(h, 4) } })
 */
export function readMaybeGzip(path: string, rule: SizeRule = {}): Uint8Array {
  const max = rule.maxBytes ?? MAX_DATASET_FILE_BYTES;
  let raw: Uint8Array;
  try {
    const st = nodeServices(path).fs.statSync(path);
    if (st.isDirectory()) throw new DatasetError(path, 'is a folder, expected a data file');
    if (st.size > max) throw new DatasetError(path, `file is ${st.size} bytes, above the ${max}-byte limit for a dataset file`);
    raw = nodeServices(path).fs.readFileSync(path);
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(path, `cannot read the file (${(e as Error).message})`);
  }
  const gzip = raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b;
  if (!gzip) {
    rule.check?.(raw.length);
    return raw;
  }
  // Declared size: the format's header if it has one, else the gzip trailer (size mod 2^32).
  if (raw.length < 18) throw damaged(path, new Error(`${raw.length} bytes is shorter than any gzip stream`));
  let declared: number;
  let source: string;
  if (rule.header !== undefined) {
    declared = rule.header.size(gunzipHead(raw, rule.header.bytes, path));
    source = 'its header declares';
  } else {
    declared = new DataView(raw.buffer, raw.byteOffset + raw.length - 4, 4).getUint32(0, true);
    source = 'its gzip trailer declares';
  }
  if (declared > max) throw new DatasetError(path, `expands to ${declared} bytes (${source}), above the ${max}-byte limit for a dataset file`);
  rule.check?.(declared);
  let out: Uint8Array;
  try {
    out = nodeServices(path).zlib.gunzipSync(raw, { maxOutputLength: Math.max(declared, 1) });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new DatasetError(path, `expands past the ${declared} bytes ${source}: corrupt, or a decompression bomb`);
    throw damaged(path, e);
  }
  if (out.length !== declared) throw new DatasetError(path, `expands to ${out.length} bytes, ${source} ${declared}: truncated or corrupt`);
  return out;
}
