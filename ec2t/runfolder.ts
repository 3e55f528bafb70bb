/**
 * A run folder: everything a training run leaves behind, so it can be audited, reported on and
 * resumed. `config.json` (all resolved options), `manifest.json` (seed, package and Node versions,
 * backend, dataset fingerprint), `metrics.jsonl` (one JSON line per epoch), weights and the
 * resume checkpoint. Every file is written atomically. Node only (a folder on disk; platform layer):
 * in a browser, runs write to a `MemoryRunStore`.
 */
import { FormatError } from '../base/errors.js';
import { nodeServices, platform } from '../base/platform.js';
import { cleanStaleTemps, readFileBytes, writeFileAtomic } from '../base/io.js';
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

