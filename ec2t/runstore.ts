/**
 * Where a recipe keeps a run: JSON records, `metrics.jsonl`, weights and the resume checkpoint, by
 * file name. {@link RunFolder} (ec2t/runfolder.ts) is the folder on disk that the CLI writes;
 * {@link MemoryRunStore} keeps the same files in memory (tests, and pages without a file system).
 * Both hold the same bytes for the same run.
 */
import { FormatError } from '../base/errors.js';
import type { LayerStats } from './stats.js';
import { parseSafetensors, serializeSafetensors, type SafetensorInput, type SafetensorsFile } from '../nn/safetensors.js';

/** One line of `metrics.jsonl`. Optional fields appear when the run has them (EC2T statistics). */
export interface EpochMetrics {
  epoch: number;
  /** `train` (float training), `ec2t` (main ternarization phase), `frozen` (frozen-assignment retraining). */
  phase: 'train' | 'ec2t' | 'frozen';
  lr: number;
  trainLoss: number;
  trainAccuracy: number;
  valLoss: number | null;
  valAccuracy: number | null;
  imagesPerSecond: number;
  seconds: number;
  /** Zeros among all parameters / all parameters. */
  overallSparsity?: number;
  /** Zeros among the ternarized layers' weights / their weights. */
  sparsity?: number;
  /** Mean entropy (bits) over ternarized layers, weighted by size. */
  entropy?: number;
  /** Per ternarized layer: assignment counts, w_p, w_n, entropy (EC2T phases). */
  layers?: LayerStats[];
  [extra: string]: unknown;
}

/** Parses metrics.jsonl text; errors name the file and line. */
export function parseMetrics(text: string, file: string): EpochMetrics[] {
  const out: EpochMetrics[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new FormatError(file, `line ${i + 1} is not valid JSON (${(e as Error).message})`);
    }
    if (typeof v !== 'object' || v === null || typeof (v as EpochMetrics).epoch !== 'number') {
      throw new FormatError(file, `line ${i + 1} is not an epoch record (needs a numeric "epoch")`);
    }
    out.push(v as EpochMetrics);
  }
  return out;
}

/** Storage of one run, by file name (`config.json`, `best.safetensors`, `checkpoint.safetensors`, …). */
export interface RunStore {
  /** Where the run lives, for messages (a folder path, or `memory:NAME`). */
  readonly location: string;
  /** How messages and errors name file `name` of the run. */
  path(name: string): string;
  /** Writes `name` as pretty JSON, replacing it whole. */
  writeJson(name: string, value: unknown): void;
  /** Reads a JSON file of the run; missing or malformed is a {@link FormatError} naming it. */
  readJson<T>(name: string): T;
  /** Replaces `metrics.jsonl` with `lines` (one JSON line per epoch). */
  writeMetrics(lines: readonly EpochMetrics[]): void;
  /** Parses `metrics.jsonl` (empty when absent). */
  readMetrics(): EpochMetrics[];
  /** Writes a binary file of the run, replacing it whole (never torn). */
  writeBytes(name: string, bytes: Uint8Array): void;
  /** Reads a binary file of the run; missing is a {@link FormatError} naming it. */
  readBytes(name: string): Uint8Array;
  /** Whether the run holds `name`. */
  has(name: string): boolean;
}

/** File names a run store holds, shared by the recipes, the CLI and the report. */
export const RUN_FILES = {
  checkpoint: 'checkpoint.safetensors',
  best: 'best.safetensors',
  last: 'last.safetensors',
} as const;

/** The text every store writes for a JSON record (pretty, newline-terminated). */
export function jsonFileText(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/** The text every store writes for `metrics.jsonl`. */
export function metricsFileText(lines: readonly EpochMetrics[]): string {
  return lines.map((l) => JSON.stringify(l)).join('\n') + (lines.length ? '\n' : '');
}

/**
 * Writes tensors as a safetensors file of the run.
 * @example writeSafetensors(store, 'best.safetensors', stateDictForSave(net), { format: 'pt' });
 */
export function writeSafetensors(store: RunStore, name: string, tensors: Map<string, SafetensorInput>, metadata?: Record<string, string>): void {
  store.writeBytes(name, serializeSafetensors(tensors, metadata));
}

/**
 * Reads a safetensors file of the run (header and sizes checked against the bytes present).
 * @example const { tensors } = readSafetensors(store, 'best.safetensors');
 */
export function readSafetensors(store: RunStore, name: string): SafetensorsFile {
  return parseSafetensors(store.readBytes(name), store.path(name));
}

/**
 * A run kept in memory: what a folder store would write, file by file, as bytes.
 * @example const store = new MemoryRunStore('lenet5'); await ternarizeModel({ ..., store }); store.readJson('summary.json');
 */
export class MemoryRunStore implements RunStore {
  readonly location: string;
  /** The run's files by name. */
  readonly files = new Map<string, Uint8Array>();

  constructor(name = 'run') {
    this.location = `memory:${name}`;
  }

  path(name: string): string {
    return `${this.location}/${name}`;
  }

  writeJson(name: string, value: unknown): void {
    this.files.set(name, new TextEncoder().encode(jsonFileText(value)));
  }

  readJson<T>(name: string): T {
    const text = new TextDecoder().decode(this.readBytes(name));
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw new FormatError(this.path(name), `not valid JSON: ${(e as Error).message}`);
    }
  }

  writeMetrics(lines: readonly EpochMetrics[]): void {
    this.files.set('metrics.jsonl', new TextEncoder().encode(metricsFileText(lines)));
  }

  readMetrics(): EpochMetrics[] {
    const bytes = this.files.get('metrics.jsonl');
    return bytes === undefined ? [] : parseMetrics(new TextDecoder().decode(bytes), this.path('metrics.jsonl'));
  }

  writeBytes(name: string, bytes: Uint8Array): void {
    // A copy: the caller may reuse its buffer, and a stored file must not change under the run.
    this.files.set(name, bytes.slice());
  }

  readBytes(name: string): Uint8Array {
    const bytes = this.files.get(name);
    if (bytes === undefined) throw new FormatError(this.path(name), 'missing from the run store');
    return bytes;
  }

  has(name: string): boolean {
    return this.files.has(name);
  }
}
