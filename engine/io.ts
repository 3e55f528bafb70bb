/**
 * File output that is never left half-written: write to a temp file beside the target, fsync,
 * then rename over it (atomic on POSIX file systems). On any error the temp file is removed.
 * Also whole-file input whose failures are typed one-line errors.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync, mkdirSync } from 'node:fs';
import { FormatError } from './errors.js';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';

/** Options for {@link writeFileAtomic}. */
export interface WriteAtomicOptions {
  /** Create the parent folder (recursively) when it is missing; when false a missing folder is an error. Default true. */
  createParents?: boolean;
}

/**
 * Writes `data` (text as UTF-8, bytes, or byte parts in order) to `path` atomically: a sibling temp
 * file is written, fsynced and renamed over `path`, so readers never see a half-written file. The
 * temp file is removed on any error, including a failed rename, and the original error is thrown.
 * @example writeFileAtomic('runs/a/config.json', JSON.stringify(cfg))
 * @example writeFileAtomic('w.safetensors', bytes, { createParents: false })
 */
export function writeFileAtomic(path: string, data: string | Uint8Array | readonly Uint8Array[], opts: WriteAtomicOptions = {}): void {
  if (opts.createParents ?? true) mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'wx');
    const parts = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
    for (const part of parts) {
      let off = 0;
      while (off < part.length) off += writeSync(fd, part, off, part.length - off);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (e) {
    // Cleanup must not mask the original error.
    if (fd !== null) {
      try {
        closeSync(fd);
      } catch {
        // already failing
      }
    }
    try {
      rmSync(tmp, { force: true });
    } catch {
      // temp never created or already renamed
    }
    throw e;
  }
}

/** Largest file {@link readFileBytes} reads whole (Node's single-read limit, 2 GiB − 1). */
export const MAX_READ_BYTES = 2 ** 31 - 1;

/**
 * The bytes of a file, with every failure a one-line {@link FormatError} naming it: missing, a
 * folder, unreadable, or larger than `maxBytes` (checked from its size before anything is read).
 * @example const bytes = readFileBytes('model.ec2t.safetensors');
 */
export function readFileBytes(path: string, maxBytes = MAX_READ_BYTES): Uint8Array {
  let size: number;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new FormatError(path, 'is a folder, not a file');
    size = st.size;
  } catch (e) {
    if (e instanceof FormatError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new FormatError(path, code === 'ENOENT' ? 'file not found' : `cannot read the file (${(e as Error).message})`);
  }
  if (size > maxBytes) throw new FormatError(path, `file is ${size} bytes, above the ${maxBytes}-byte limit of this reader`);
  try {
    return readFileSync(path);
  } catch (e) {
    throw new FormatError(path, `cannot read the file (${(e as Error).message})`);
  }
}
