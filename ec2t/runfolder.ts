/**
 * A run folder: everything a training run leaves behind, so it can be audited, reported on and
 * resumed. `config.json` (all resolved options), `manifest.json` (seed, package and Node versions,
 * backend, dataset fingerprint), `metrics.jsonl` (one JSON line per epoch), weights and the
 * resume checkpoint. Every file is written atomically. Node only (a folder on disk; platform layer):
 * in a browser, runs write to a `MemoryRunStore`.
 */
import { FormatError, UsageError } from '../base/errors.js';
import { nodeServices, platform } from '../base/platform.js';
import { cleanStaleTemps, isTempName, readFileBytes, writeFileAtomic } from '../base/io.js';
import { jsonFileText, metricsFileText, parseMetrics, type EpochMetrics, type RunStore } from './runstore.js';

export { parseMetrics, type EpochMetrics };

/** Root of the installed package (where package.json is). */
export function packageRoot(): string {
  // dist/ec2t/runfolder.js → package root two levels up from dist/ec2t
  const { path, url } = nodeServices('the package folder');
  return path.join(path.dirname(url.fileURLToPath(import.meta.url)), '..', '..');
}

/** The package version from package.json. */
export function packageVersion(): string {
  try {
    const file = nodeServices('package.json').path.join(packageRoot(), 'package.json');
    return (JSON.parse(new TextDecoder().decode(nodeServices(file).fs.readFileSync(file))) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * Facts about the environment recorded in every manifest. Nothing here runs another program: a
 * `git` call would run in whatever repository surrounds the installed package and execute its
 * configured hooks (core.fsmonitor); the package version identifies the code instead.
 */
export function environmentFacts(): Record<string, unknown> {
  const h = platform().hostFacts();
  return { packageVersion: packageVersion(), node: h.runtime, platform: h.os, cpus: h.cores, cpuModel: h.cpuModel };
}

/** Handle on a run folder: the {@link RunStore} of a run on disk. */
export class RunFolder implements RunStore {
  readonly dir: string;

  /** Opens (and creates) the folder, removing temp files that a killed earlier run left in it. */
  constructor(dir: string) {
    this.dir = dir;
    const { fs } = nodeServices(dir);
    if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new FormatError(dir, 'run folder path exists and is not a folder; choose another --out');
    fs.mkdirSync(dir, { recursive: true });
    cleanStaleTemps(dir);
  }

  /** Path of a file inside the run folder. */
  path(name: string): string {
    return nodeServices(this.dir).path.join(this.dir, name);
  }

  get lastWeights(): string {
    return this.path('last.safetensors');
  }
  get bestWeights(): string {
    return this.path('best.safetensors');
  }
  get checkpoint(): string {
    return this.path('checkpoint.safetensors');
  }

  /** Writes `name` as pretty JSON, atomically. */
  writeJson(name: string, value: unknown): void {
    writeFileAtomic(this.path(name), jsonFileText(value));
  }

  /** Reads a JSON file of the run, with a clear error when missing or malformed. */
  readJson<T>(name: string): T {
    const p = this.path(name);
    if (!nodeServices(p).fs.existsSync(p)) throw new FormatError(p, `missing; is ${this.dir} a run folder written by ec2t train/ternarize?`);
    try {
      return JSON.parse(new TextDecoder().decode(nodeServices(p).fs.readFileSync(p))) as T;
    } catch (e) {
      throw new FormatError(p, `not valid JSON: ${(e as Error).message}`);
    }
  }

  /**
   * Replaces `metrics.jsonl` with `lines`. The whole file is rewritten atomically each epoch, so a
   * crash never leaves a torn line and a resumed run can drop epochs past its checkpoint.
   */
  writeMetrics(lines: readonly EpochMetrics[]): void {
    writeFileAtomic(this.path('metrics.jsonl'), metricsFileText(lines));
  }

  /** The folder path (what messages name). */
  get location(): string {
    return this.dir;
  }

  /** Writes a file of the run atomically. */
  writeBytes(name: string, bytes: Uint8Array): void {
    writeFileAtomic(this.path(name), bytes, { createParents: false });
  }

  /** Reads a file of the run (size-capped), with a clear error when missing. */
  readBytes(name: string): Uint8Array {
    const p = this.path(name);
    if (!nodeServices(p).fs.existsSync(p)) throw new FormatError(p, `missing; is ${this.dir} a run folder written by ec2t train/ternarize?`);
    return readFileBytes(p);
  }

  /** Whether the folder holds `name`. */
  has(name: string): boolean {
    return nodeServices(this.dir).fs.existsSync(this.path(name));
  }

  /** Parses `metrics.jsonl` (empty when absent). Malformed lines are an error naming the line. */
  readMetrics(): EpochMetrics[] {
    const p = this.path('metrics.jsonl');
    if (!nodeServices(p).fs.existsSync(p)) return [];
    return parseMetrics(new TextDecoder().decode(nodeServices(p).fs.readFileSync(p)), p);
  }
}

/** Every file `ec2t train` / `ec2t ternarize` may write into its run folder. */
export const RUN_FOLDER_FILES: readonly string[] = [
  'config.json', 'manifest.json', 'metrics.jsonl', 'summary.json', 'histograms.json', 'report.html',
  'best.safetensors', 'last.safetensors', 'checkpoint.safetensors', 'best-ec2t.safetensors', 'ternary.safetensors',
];

/**
 * Whether `a` and `b` name the same file: the same device and inode when both exist (hard links,
 * symbolic links, `./x` against `x`), else the same absolute path.
 * @example sameFile('runs/a/best.safetensors', './runs/a/../a/best.safetensors') // true
 */
export function sameFile(a: string, b: string): boolean {
  try {
    const { fs } = nodeServices(a);
    const sa = fs.statSync(a);
    const sb = fs.statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    const { path } = nodeServices(a);
    return path.resolve(a) === path.resolve(b);
  }
}

/** An input file of a command: the flag that named it and its path. */
export interface NamedInput {
  flag: string;
  path: string | undefined;
}

/**
 * Throws a usage error when the output `outPath` (named by `outFlag`) is one of `inputs`: ec2t
 * never writes over a file it reads, with or without --force.
 * @example refuseInputAsOutput('predict', '--output', out, [{ flag: '--input', path: inPath }])
 */
export function refuseInputAsOutput(cmd: string, outFlag: string, outPath: string, inputs: readonly NamedInput[]): void {
  for (const i of inputs) {
    if (i.path === undefined || !sameFile(i.path, outPath)) continue;
    throw new UsageError(`ec2t ${cmd}: ${outFlag} ${outPath} is the same file as ${i.flag} ${i.path}; ec2t never writes over its input: choose another ${outFlag}`);
  }
}

/**
 * Throws a usage error when the output file `outPath` (named by `outFlag`) already exists and
 * `force` is not given; a folder is refused either way. Call it after {@link refuseInputAsOutput}.
 * @example refuseExistingOutput('export', '--out', 'resnet20.onnx', flags.force === true)
 */
export function refuseExistingOutput(cmd: string, outFlag: string, outPath: string, force: boolean): void {
  const { fs } = nodeServices(outPath);
  if (!fs.existsSync(outPath)) return;
  if (fs.statSync(outPath).isDirectory()) throw new UsageError(`ec2t ${cmd}: ${outFlag} ${outPath} is a folder; give a file name`);
  if (!force) throw new UsageError(`ec2t ${cmd}: ${outFlag} ${outPath} exists; nothing was written. Choose another ${outFlag}, or give --force to replace it`);
}

function describeFolder(dir: string, entries: readonly string[]): { what: string; hint: string } {
  let command: string | undefined;
  try {
    const { fs, path } = nodeServices(dir);
    const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { command?: unknown };
    if (typeof cfg.command === 'string') command = cfg.command;
  } catch {
    // not a run folder, or a damaged one: described by its entries
  }
  if (command !== undefined && entries.includes('summary.json')) return { what: `holds a finished ec2t ${command} run`, hint: '' };
  if (command !== undefined) {
    const resumable = (command === 'train' || command === 'ternarize') && entries.includes('checkpoint.safetensors');
    return { what: `holds an unfinished ec2t ${command} run`, hint: resumable ? `, continue it with: ec2t ${command} --resume ${dir}` : '' };
  }
  const shown = entries.slice(0, 4).join(', ') + (entries.length > 4 ? `, … (${entries.length} entries)` : '');
  return { what: `exists and is not empty (${shown})`, hint: '' };
}

/**
 * Checks the `--out` folder of a new run before anything is written. A missing or empty folder is
 * fine. A folder with files (a finished run, an unfinished one, anything else) is a usage error
 * unless `force`; with `force` the files a run writes ({@link RUN_FOLDER_FILES}) are removed first so the
 * new run never mixes with the old one, and other files are left alone. Inputs inside the folder
 * that the run would write over (`--weights DIR/best.safetensors`) are refused even with `force`.
 * @example prepareRunFolder('train', 'runs/lenet5', false, [{ flag: '--weights', path: w }])
 */
export function prepareRunFolder(cmd: string, dir: string, force: boolean, inputs: readonly NamedInput[], note: (line: string) => void = () => {}): void {
  const { fs, path } = nodeServices(dir);
  for (const name of RUN_FOLDER_FILES) refuseInputAsOutput(cmd, '--out', path.join(dir, name), inputs);
  if (!fs.existsSync(dir)) return;
  if (!fs.statSync(dir).isDirectory()) throw new UsageError(`ec2t ${cmd}: --out ${dir} exists and is not a folder; choose another --out`);
  const entries = fs.readdirSync(dir).filter((n) => !isTempName(n)).sort();
  if (entries.length === 0) return;
  const { what, hint } = describeFolder(dir, entries);
  if (!force) {
    throw new UsageError(`ec2t ${cmd}: --out ${dir} ${what}; nothing was written. Choose a new folder${hint}, or give --force to replace it`);
  }
  const replaced = entries.filter((n) => RUN_FOLDER_FILES.includes(n));
  for (const n of replaced) fs.rmSync(path.join(dir, n), { force: true });
  note(`note: --force: --out ${dir} ${what}; removed ${replaced.length ? replaced.join(', ') : 'nothing (no run files)'}${replaced.length < entries.length ? '; other files are left as they are' : ''}`);
}
