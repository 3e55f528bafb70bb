/**
 * Sweep specs: a base job (`train`, `ternarize`, `scale`) with options under the CLI's own flag
 * names, and axes (lists of values for any of those flags); the sweep is their cross product.
 * Everything is checked against the command's flag declarations before anything runs or is
 * queued, and every error names the cell and the field.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { FormatError } from '../base/errors.js';
import { UsageError, flagValueProblem, suggest, type CommandSpec, type FlagValue } from '../cli/args.js';
import { scaleSpec, ternarizeSpec, trainSpec } from '../cli/commands.js';

/** The jobs a sweep can run, with the command each one maps to. */
export const SWEEP_JOBS: Readonly<Record<string, CommandSpec>> = { train: trainSpec, ternarize: ternarizeSpec, scale: scaleSpec };

/** Flags the sweep itself decides for every cell (the cell's folder, resuming, output). */
const SWEEP_OWNED = new Set(['out', 'force', 'resume', 'json', 'help']);

/** Flags that name files or folders: made absolute when the spec is read, so any worker finds them. */
const PATH_FLAGS = new Set(['weights', 'data', 'from']);

/** Most cells one sweep may have: a typo in an axis should not enqueue a million jobs. */
export const MAX_CELLS = 10_000;

/** A parsed, validated sweep spec. */
export interface SweepSpec {
  job: 'train' | 'ternarize' | 'scale';
  /** Options shared by every cell (flag name → value, as typed in the spec; paths made absolute). */
  options: Record<string, FlagValue>;
  /** Axis name → its values, in the spec's order. */
  axes: Array<{ flag: string; values: FlagValue[] }>;
}

/** One cell of a sweep: its folder name, its axis values and its complete flags. */
export interface SweepCell {
  /** Folder name under the sweep folder, from the axis values (`gain-0.15_seed-2`). */
  name: string;
  /** Axis values of this cell. */
  point: Record<string, FlagValue>;
  /** Every flag of the job (defaults applied), without `out`; the runner adds the cell folder. */
  flags: Record<string, FlagValue>;
}

/**
 * Parses a sweep spec from JSON text. `source` names the file in errors; relative paths in path
 * flags (`weights`, `data`, `from`) resolve against `baseDir` (the directory the sweep is started
 * from, as the CLI would).
 * @example parseSweepSpec('{"job":"ternarize","options":{"model":"lenet5","weights":"w.safetensors"},"axes":{"gain":[0,0.1]}}', 'spec.json', process.cwd())
 */
export function parseSweepSpec(text: string, source: string, baseDir: string): SweepSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new FormatError(source, `not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UsageError(`sweep spec ${source}: expected an object {"job", "options", "axes"}`);
  const obj = raw as Record<string, unknown>;
  for (const k of Object.keys(obj)) {
    if (!['job', 'options', 'axes'].includes(k)) throw new UsageError(`sweep spec ${source}: unknown field "${k}"; a spec has "job", "options" and "axes"`);
  }
  const job = obj.job;
  if (typeof job !== 'string' || !(job in SWEEP_JOBS)) {
    throw new UsageError(`sweep spec ${source}: field "job" ${JSON.stringify(job) ?? 'is missing'}${typeof job === 'string' ? ' is not a job' : ''}; choose one of: ${Object.keys(SWEEP_JOBS).join(', ')}.${typeof job === 'string' ? suggest(job, Object.keys(SWEEP_JOBS)) : ''}`);
  }
  const cmd = SWEEP_JOBS[job];
  const options = objectField(obj, 'options', source);
  const axesRaw = objectField(obj, 'axes', source);
  const checkFlag = (name: string, where: string): void => {
    if (SWEEP_OWNED.has(name)) throw new UsageError(`sweep spec ${source}: ${where} "${name}": the sweep sets --${name} for every cell; remove it`);
    if (cmd.flags[name] === undefined) {
      throw new UsageError(`sweep spec ${source}: ${where} "${name}": ec2t ${job} has no --${name}.${suggest(name, Object.keys(cmd.flags)).replace(/Did you mean (\S+)\?/, 'Did you mean "$1"?')} See ec2t ${job} --help`);
    }
  };
  const opts: Record<string, FlagValue> = {};
  for (const [name, v] of Object.entries(options)) {
    checkFlag(name, 'option');
    opts[name] = absolutePath(name, v as FlagValue, baseDir);
  }
  const axes: SweepSpec['axes'] = [];
  let cells = 1;
  for (const [name, v] of Object.entries(axesRaw)) {
    checkFlag(name, 'axis');
    if (name in opts) throw new UsageError(`sweep spec ${source}: "${name}" is both an option and an axis; keep one`);
    if (!Array.isArray(v) || v.length === 0) throw new UsageError(`sweep spec ${source}: axis "${name}" must be a non-empty list of values, got ${JSON.stringify(v)}`);
    const seen = new Set<string>();
    for (const x of v) {
      const key = JSON.stringify(x);
      if (seen.has(key)) throw new UsageError(`sweep spec ${source}: axis "${name}" lists ${key} twice`);
      seen.add(key);
    }
    cells *= v.length;
    if (cells > MAX_CELLS) throw new UsageError(`sweep spec ${source}: more than ${MAX_CELLS} cells; split the sweep`);
    axes.push({ flag: name, values: v.map((x) => absolutePath(name, x as FlagValue, baseDir)) });
  }
  return { job: job as SweepSpec['job'], options: opts, axes };
}

function objectField(obj: Record<string, unknown>, field: string, source: string): Record<string, unknown> {
  const v = obj[field] ?? {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UsageError(`sweep spec ${source}: field "${field}" must be an object (flag name → value), got ${JSON.stringify(v)}`);
  return v as Record<string, unknown>;
}

function absolutePath(flag: string, v: FlagValue, baseDir: string): FlagValue {
  return PATH_FLAGS.has(flag) && typeof v === 'string' && !isAbsolute(v) ? resolve(baseDir, v) : v;
}

/** Reads and parses a sweep spec file ({@link parseSweepSpec}); relative paths resolve against the current directory. */
export function readSweepSpec(path: string): SweepSpec {
  if (!existsSync(path)) throw new UsageError(`ec2t sweep: ${path}: no such spec file (or sweep folder)`);
  if (statSync(path).size > 1 << 20) throw new FormatError(path, 'a sweep spec larger than 1 MiB; is this the right file?');
  return parseSweepSpec(readFileSync(path, 'utf8'), path, process.cwd());
}

/** A value as it appears in a cell folder name: only letters, digits, `.`, `+` and `-`. */
function nameValue(v: FlagValue): string {
  const s = Array.isArray(v) ? v.join('+') : typeof v === 'boolean' ? (v ? 'on' : 'off') : typeof v === 'string' ? v.replace(/^.*[\\/]/, '') : String(v);
  return s.replace(/[^A-Za-z0-9.+-]+/g, '-').slice(0, 48) || 'x';
}

/**
 * The cells of a sweep in a fixed order (the last axis varies fastest), each validated as the
 * command line would validate its flags: a bad value is a UsageError naming the cell and field.
 * @example expandCells(spec).map((c) => c.name) // ['gain-0_seed-1', 'gain-0_seed-2', ...]
 */
export function expandCells(spec: SweepSpec): SweepCell[] {
  const cmd = SWEEP_JOBS[spec.job];
  let points: Array<Record<string, FlagValue>> = [{}];
  for (const axis of spec.axes) points = points.flatMap((p) => axis.values.map((v) => ({ ...p, [axis.flag]: v })));
  const cells: SweepCell[] = [];
  const names = new Map<string, string>();
  for (const point of points) {
    const name = spec.axes.length === 0 ? 'cell' : spec.axes.map((a) => `${a.flag}-${nameValue(point[a.flag])}`).join('_');
    const values = { ...spec.options, ...point };
    const flags: Record<string, FlagValue> = {};
    for (const [flag, f] of Object.entries(cmd.flags)) {
      if (SWEEP_OWNED.has(flag)) continue;
      const v = values[flag];
      const problem = flagValueProblem(f, v);
      const field = flag in point ? `axis "${flag}"` : `option "${flag}"`;
      if (problem !== null) throw new UsageError(`sweep cell ${name}: ${v === undefined ? `--${flag} ${problem}; give it in "options" or "axes"` : `${field} ${problem}`}`);
      flags[flag] = v === undefined ? f.default : v;
    }
    for (const [flag, what] of requiredFlags(spec.job)) {
      if (flags[flag] === undefined) throw new UsageError(`sweep cell ${name}: ec2t ${spec.job} needs --${flag} (${what}); give it in "options" or "axes"`);
    }
    for (const flag of PATH_FLAGS) {
      const p = flags[flag];
      if (typeof p === 'string' && !existsSync(p)) throw new UsageError(`sweep cell ${name}: ${flag in point ? 'axis' : 'option'} "${flag}": ${p} does not exist (paths must be visible to every worker)`);
    }
    const clash = names.get(name);
    if (clash !== undefined) throw new UsageError(`sweep cell ${name}: two cells get this folder name (${clash} and ${JSON.stringify(point)}); make the axis values differ in letters or digits`);
    names.set(name, JSON.stringify(point));
    cells.push({ name, point, flags });
  }
  return cells;
}

/** Flags a job cannot run without (those that are required only "unless --resume" on the command line). */
function requiredFlags(job: SweepSpec['job']): Array<[string, string]> {
  if (job === 'train') return [['model', 'architecture']];
  if (job === 'ternarize') return [['model', 'architecture'], ['weights', 'pretrained float weights']];
  return [];
}
