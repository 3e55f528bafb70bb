/**
 * Flag parsing for the `ec2t` command line: a typed layer over `node:util` `parseArgs` that
 * turns every unknown flag, missing value and bad value into a {@link UsageError} naming the
 * flag and the valid choices (exit code 2).
 */
import { parseArgs } from 'node:util';
import { UsageError } from '../base/errors.js';

// The recipes throw it too (a bad option is a usage mistake wherever it was written).
export { UsageError };

/** Declaration of one flag. */
export interface FlagSpec {
  /** `string` (free text), `int`, `float`, `boolean`, `list` (repeatable or space-separated values). */
  type: 'string' | 'int' | 'float' | 'boolean' | 'list';
  help: string;
  default?: string | number | boolean;
  choices?: readonly string[];
  required?: boolean;
  /** Lower bound for numbers (inclusive unless `exclusiveMin`). */
  min?: number;
  exclusiveMin?: boolean;
  max?: number;
  /** Value placeholder in help, e.g. `N`. */
  metavar?: string;
  short?: string;
}

/** A command: its name, one-line summary, flags and positional arguments. */
export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  flags: Record<string, FlagSpec>;
  /** Positional arguments allowed (name shown in usage); extra positionals are an error. */
  positionals?: { name: string; min: number; max: number };
  examples?: string[];
}

export type FlagValue = string | number | boolean | string[] | undefined;

/** Parsed flags keyed by flag name (kebab-case as typed), plus positionals. */
export interface Parsed {
  flags: Record<string, FlagValue>;
  /** Flags written on the command line (the others hold their defaults); absent when built in code. */
  given?: ReadonlySet<string>;
  positionals: string[];
  help: boolean;
}

/** Renders `--help` for a command. */
export function formatHelp(cmd: CommandSpec): string {
  const lines = [`ec2t ${cmd.name} — ${cmd.summary}`, '', `Usage: ${cmd.usage}`, '', 'Options:'];
  const names = Object.keys(cmd.flags).sort();
  for (const name of names) {
    const f = cmd.flags[name];
    const meta = f.type === 'boolean' ? '' : ` ${f.metavar ?? (f.choices ? f.choices.join('|') : f.type.toUpperCase())}`;
    const dflt = f.default !== undefined && f.type !== 'boolean' ? ` (default: ${f.default})` : '';
    const req = f.required ? ' (required)' : '';
    lines.push(`  --${name}${meta}`.padEnd(34) + ` ${f.help}${req}${dflt}`);
  }
  lines.push('  --help'.padEnd(34) + ' show this help');
  if (cmd.examples?.length) lines.push('', 'Examples:', ...cmd.examples.map((e) => `  ${e}`));
  return lines.join('\n');
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

/** "Did you mean" suggestion among `options`, or ''. */
export function suggest(given: string, options: readonly string[]): string {
  let best = '';
  let bestD = Infinity;
  for (const o of options) {
    const dd = levenshtein(given, o);
    if (dd < bestD) {
      bestD = dd;
      best = o;
    }
  }
  return bestD <= Math.max(2, Math.floor(given.length / 3)) ? ` Did you mean ${best}?` : '';
}

/**
 * Parses `argv` against `cmd`, validating types, choices and ranges, applying defaults.
 * @example parseCommand(trainSpec, ['--model', 'lenet5', '--epochs', '2'])
 */
export function parseCommand(cmd: CommandSpec, argv: readonly string[]): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, f] of Object.entries(cmd.flags)) {
    options[name] = { type: f.type === 'boolean' ? 'boolean' : 'string', ...(f.type === 'list' ? { multiple: true } : {}), ...(f.short ? { short: f.short } : {}) };
  }
  // Allow space-separated list values: `--grid 1,1.4 1.2,1.3` becomes repeated --grid values.
  const expanded: string[] = [];
  let currentList: string | null = null;
  for (const a of argv) {
    if (a.startsWith('-')) {
      const name = a.replace(/^--?/, '').split('=')[0];
      currentList = cmd.flags[name]?.type === 'list' && !a.includes('=') ? name : null;
      expanded.push(a);
      continue;
    }
    if (currentList !== null && expanded[expanded.length - 1] !== `--${currentList}`) expanded.push(`--${currentList}`);
    expanded.push(a);
  }
  let raw: { values: Record<string, unknown>; positionals: string[] };
  try {
    raw = parseArgs({ args: expanded, options, allowPositionals: true, strict: true }) as typeof raw;
  } catch (e) {
    const msg = (e as Error).message;
    const m = /Unknown option '(-{1,2}[^']+)'/.exec(msg);
    if (m) {
      const given = m[1].replace(/^-+/, '');
      throw new UsageError(`ec2t ${cmd.name}: unknown flag ${m[1]}.${suggest(given, Object.keys(cmd.flags)).replace(/Did you mean (\S+)\?/, 'Did you mean --$1?')} Valid flags: ${Object.keys(cmd.flags).map((k) => `--${k}`).join(', ')}`);
    }
    const m2 = /Option '(-{1,2}[^ ']+)[^']*' argument missing/.exec(msg);
    if (m2) throw new UsageError(`ec2t ${cmd.name}: flag ${m2[1]} needs a value`);
    throw new UsageError(`ec2t ${cmd.name}: ${msg}`);
  }
  const help = raw.values.help === true;
  const flags: Record<string, FlagValue> = {};
  for (const [name, f] of Object.entries(cmd.flags)) {
    const v = raw.values[name];
    if (v === undefined) {
      if (f.required && !help) throw new UsageError(`ec2t ${cmd.name}: missing required flag --${name} (${f.help}). See ec2t ${cmd.name} --help`);
      flags[name] = f.default;
      continue;
    }
    flags[name] = convert(cmd.name, name, f, v);
  }
  const pos = raw.positionals;
  const pspec = cmd.positionals ?? { name: '', min: 0, max: 0 };
  if (!help && (pos.length < pspec.min || pos.length > pspec.max)) {
    if (pspec.max === 0) throw new UsageError(`ec2t ${cmd.name}: unexpected argument ${JSON.stringify(pos[0])}; flags start with --. See ec2t ${cmd.name} --help`);
    throw new UsageError(`ec2t ${cmd.name}: expected ${pspec.min === pspec.max ? pspec.min : `${pspec.min}–${pspec.max}`} ${pspec.name} argument(s), got ${pos.length}`);
  }
  return { flags, positionals: pos, help, given: new Set(Object.keys(cmd.flags).filter((name) => raw.values[name] !== undefined)) };
}

function convert(cmdName: string, name: string, f: FlagSpec, v: unknown): FlagValue {
  if (f.type === 'boolean') return v as boolean;
  if (f.type === 'list') return (v as string[]).flatMap((s) => s.split(/\s+/)).filter((s) => s.length > 0);
  const s = v as string;
  if (f.choices && !f.choices.includes(s)) {
    throw new UsageError(`ec2t ${cmdName}: --${name} ${JSON.stringify(s)} is not valid; choose one of: ${f.choices.join(', ')}.${suggest(s, f.choices)}`);
  }
  if (f.type === 'string') return s;
  const n = Number(s);
  const kind = f.type === 'int' ? 'an integer' : 'a number';
  if (s.trim() === '' || !Number.isFinite(n) || (f.type === 'int' && !Number.isInteger(n))) {
    throw new UsageError(`ec2t ${cmdName}: --${name} expects ${kind}, got ${JSON.stringify(s)}`);
  }
  const range = rangeProblem(f, n);
  if (range !== null) throw new UsageError(`ec2t ${cmdName}: --${name} ${range}, got ${s}`);
  return n;
}

function rangeProblem(f: FlagSpec, n: number): string | null {
  if (f.min !== undefined && (f.exclusiveMin ? n <= f.min : n < f.min)) return `must be ${f.exclusiveMin ? '>' : '>='} ${f.min}`;
  if (f.max !== undefined && n > f.max) return `must be <= ${f.max}`;
  return null;
}

/**
 * Checks an already-typed flag value (from a saved config.json) as strictly as the command line
 * would: its type, choices and range. Returns what is wrong, or null.
 * @example flagValueProblem(trainSpec.flags.seed, { a: 1 }) // 'expects an integer, got {"a":1}'
 */
export function flagValueProblem(f: FlagSpec, v: unknown): string | null {
  const shown = JSON.stringify(v) ?? String(v);
  if (v === undefined || v === null) return f.required ? 'is required' : null;
  if (f.type === 'boolean') return typeof v === 'boolean' ? null : `expects true or false, got ${shown}`;
  if (f.type === 'list') return Array.isArray(v) && v.every((x) => typeof x === 'string') ? null : `expects a list of strings, got ${shown}`;
  if (f.type === 'string') {
    if (typeof v !== 'string') return `expects a string, got ${shown}`;
    return f.choices && !f.choices.includes(v) ? `${shown} is not one of: ${f.choices.join(', ')}` : null;
  }
  const kind = f.type === 'int' ? 'an integer' : 'a number';
  if (typeof v !== 'number' || !Number.isFinite(v) || (f.type === 'int' && !Number.isInteger(v))) return `expects ${kind}, got ${shown}`;
  const range = rangeProblem(f, v);
  return range === null ? null : `${range}, got ${shown}`;
}
