/**
 * File output that is never left half-written: write to a temp file beside the target, fsync,
 * then rename over it (atomic on POSIX file systems). On any error the temp file is removed.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync, mkdirSync } from 'node:fs';
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
