/**
 * File output that is never left half-written: write to a temp file beside the target, fsync,
 * then rename over it (atomic on POSIX file systems). On any error the temp file is removed; a temp
 * file that a killed process (SIGKILL, power loss) left behind is recognisable by its name and is
 * removed by the next writer in that folder once its process is gone.
 * Also whole-file input whose failures are typed one-line errors.
 *
 * Files exist only under Node: in a browser every function here throws an {@link IoError} naming
 * the path (base/platform.ts `nodeServices`); the loaders above take bytes there.
 */
import { FormatError, IoError } from './errors.js';
import { nodeServices } from './platform.js';

/** Options for {@link writeFileAtomic}. */
export interface WriteAtomicOptions {
  /** Create the parent folder (recursively) when it is missing; when false a missing folder is an error. Default true. */
  createParents?: boolean;
}

/** Marker in every temp file name: `<target>.ec2t-tmp-<pid>-<12 hex>`. */
const TEMP_MARK = '.ec2t-tmp-';
const TEMP_NAME = /^(.+)\.ec2t-tmp-(\d+)-[0-9a-f]{12}$/;
/**
 * A temp file whose writer process is gone is removed only when it has not been modified for this
 * long: a writer in another PID namespace (a container sharing the folder) looks dead from here
 * but keeps touching its file.
 */
export const STALE_TEMP_DEAD_MS = 60_000;
/** A temp file whose PID is alive (perhaps reused by an unrelated process) is stale after a day untouched. */
export const STALE_TEMP_ALIVE_MS = 24 * 3600_000;

/** The temp file name {@link writeFileAtomic} uses for `path` in this process. */
export function tempPathFor(path: string): string {
  const { process: nodeProcess, crypto } = nodeServices(path);
  return `${path}${TEMP_MARK}${nodeProcess.pid}-${crypto.randomBytes(6).toString('hex')}`;
}

function processAlive(pid: number, nodeProcess: NodeJS.Process): boolean {
  if (pid === nodeProcess.pid) return true;
  try {
    nodeProcess.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temp files of {@link writeFileAtomic} in `dir` that were left by a process that is
 * gone (untouched for {@link STALE_TEMP_DEAD_MS}) or are a day old; only files named
 * `<name>.ec2t-tmp-<pid>-<12 hex>` are considered, so nothing else in the folder is touched. With
 * `target`, only the temps of that file name. Returns the removed paths. Never throws: a folder
 * that cannot be listed has nothing to clean.
 * @example cleanStaleTemps('runs/lenet5') // ['runs/lenet5/checkpoint.safetensors.ec2t-tmp-4242-0a1b2c3d4e5f']
 */
export function cleanStaleTemps(dir: string, target?: string, now = Date.now()): string[] {
  const removed: string[] = [];
  let names: string[];
  const node = nodeServices(dir);
  const { statSync, rmSync } = node.fs;
  try {
    names = node.fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (m === null || (target !== undefined && m[1] !== target)) continue;
    const pid = Number(m[2]);
    const p = node.path.join(dir, name);
    try {
      const st = statSync(p);
      if (!st.isFile()) continue;
      const age = now - st.mtimeMs;
      if (pid === node.process.pid) continue;
      if (age < (processAlive(pid, node.process) ? STALE_TEMP_ALIVE_MS : STALE_TEMP_DEAD_MS)) continue;
      rmSync(p, { force: true });
      removed.push(p);
    } catch {
      // vanished meanwhile, or not ours to remove
    }
  }
  return removed;
}

/** Whether `name` is a temp file of {@link writeFileAtomic} (any process). */
export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

const ERRNO_WORDS: Record<string, string> = {
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is exhausted',
  EFBIG: 'the file is larger than the file-size limit allows (ulimit -f)',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  EISDIR: 'it is a folder, not a file',
  ENOTDIR: 'a part of the path is not a folder',
  ENAMETOOLONG: 'the name is too long',
  EMFILE: 'too many open files',
  EIO: 'input/output error',
};

/**
 * The one-line {@link IoError} for a failed file operation on `path` (`doing`: "cannot write",
 * "cannot read"), or null when `e` is not a file-system error.
 * @example throw ioErrorFrom(e, 'out.safetensors', 'cannot write') ?? e
 */
export function ioErrorFrom(e: unknown, path: string, doing: string): IoError | null {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (typeof code !== 'string') return null;
  if (code === 'ENOENT') {
    const { fs, path: paths } = nodeServices(path);
    const dir = paths.dirname(path);
    return new IoError(path, fs.existsSync(dir) ? `${doing}: no such file` : `${doing}: the folder ${dir} does not exist`);
  }
  const words = ERRNO_WORDS[code];
  return words === undefined ? null : new IoError(path, `${doing}: ${words} (${code})`);
}

/**
 * Writes `data` (text as UTF-8, bytes, or byte parts in order) to `path` atomically: a sibling temp
 * file is written, fsynced and renamed over `path`, so readers never see a half-written file. The
 * temp file is removed on any error, including a failed rename. File-system failures (full disk,
 * file-size limit, read-only folder, missing folder) become an {@link IoError} naming `path`, never
 * the temp file; stale temps of `path` left by killed writers are removed first.
 * @example writeFileAtomic('runs/a/config.json', JSON.stringify(cfg))
 * @example writeFileAtomic('w.safetensors', bytes, { createParents: false })
 */
export function writeFileAtomic(path: string, data: string | Uint8Array | readonly Uint8Array[], opts: WriteAtomicOptions = {}): void {
  const { fs, path: paths } = nodeServices(path);
  const { closeSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync, mkdirSync, existsSync } = fs;
  const { basename, dirname } = paths;
  try {
    if (opts.createParents ?? true) mkdirSync(dirname(path), { recursive: true });
  } catch (e) {
    throw ioErrorFrom(e, path, 'cannot create its folder') ?? e;
  }
  if (existsSync(path) && statSync(path).isDirectory()) throw new IoError(path, 'cannot write: it is a folder, not a file');
  cleanStaleTemps(dirname(path), basename(path));
  const tmp = tempPathFor(path);
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'wx');
    const parts = typeof data === 'string' ? [new TextEncoder().encode(data)] : data instanceof Uint8Array ? [data] : data;
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
    throw ioErrorFrom(e, path, 'cannot write') ?? e;
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
  const { statSync, readFileSync } = nodeServices(path).fs;
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
