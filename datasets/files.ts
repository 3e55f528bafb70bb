/**
 * File lookup and reading shared by the MNIST and CIFAR loaders: a file may be stored raw or
 * gzip-compressed (`NAME` or `NAME.gz`); gzip is recognised by its magic bytes, not the name.
 * Nothing here ever downloads.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DatasetError } from './dataset.js';

/**
 * The first existing path among `dirs × names × ('', '.gz')`, or null.
 * @example findFile(['/data', '/data/MNIST/raw'], ['train-images-idx3-ubyte'])
 */
export function findFile(dirs: readonly string[], names: readonly string[]): string | null {
  for (const dir of dirs) {
    for (const name of names) {
      for (const ext of ['', '.gz']) {
        const p = join(dir, name + ext);
        if (existsSync(p) && statSync(p).isFile()) return p;
      }
    }
  }
  return null;
}

/**
 * The bytes of `path`, gunzipped when they start with the gzip magic `1f 8b` (so `x.gz` and a
 * renamed `x` both work). A damaged gzip stream is a {@link DatasetError}.
 */
export function readMaybeGzip(path: string): Uint8Array {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (e) {
    throw new DatasetError(path, `cannot read the file (${(e as Error).message})`);
  }
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      raw = gunzipSync(raw);
    } catch (e) {
      throw new DatasetError(path, `expected a valid gzip stream, found a damaged one (${(e as Error).message})`, 'Re-copy or re-compress the file, or store it uncompressed');
    }
  }
  return new Uint8Array(raw.buffer, raw.byteOffset, raw.length);
}
