/**
 * Pieces the commands share: the library's run setup with its notes on stderr, the flag record of a
 * `--resume`, and what a `--model` value names.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Rng } from '../base/rng.js';
import { isModelName } from '../nn/models/index.js';
import type { Module } from '../nn/module.js';
import * as setup from '../ec2t/recipes/setup.js';
import type { RunConfigFile as LibraryRunConfigFile } from '../ec2t/recipes/run.js';
import type { CommandSpec, FlagValue } from './args.js';
import { UsageError, flagValueProblem } from './args.js';
import { log } from './progress.js';

export { architectureOfWeights, defaultRunDir, defaultValSize, loadWeightsInto, readWeights, requireFile, seedStreams } from '../ec2t/recipes/setup.js';
export type { DataSplits, SeedStreams } from '../ec2t/recipes/setup.js';

/**
 * {@link setup.mobileNetV2Cifar} with its note on stderr.
 * @example mobileNetV2Cifar(undefined, 32) // true, and a note on stderr
 */
export function mobileNetV2Cifar(inputSize: number | undefined, seen: number): boolean {
  return setup.mobileNetV2Cifar(inputSize, seen, log);
}

/** {@link setup.buildModel} with its notes on stderr. */
export function buildModel(name: string, data: { classes: number; channels: number; height: number }, rng: Rng, extra: Record<string, unknown> = {}, inputSize?: number): Module {
  return setup.buildModel(name, data, rng, extra, inputSize, log);
}

/**
 * Whether a `--model` value names a packed ternary model file rather than an architecture: a
 * `.safetensors` name, or an existing file whose name is not a model name (so a stray file called
 * `lenet5` in the working folder does not hide the architecture). `predict` and `bench` both ask here.
 * @example isPackedModelPath('lenet5.ec2t.safetensors') // true
 */
export function isPackedModelPath(model: string): boolean {
  return model.endsWith('.safetensors') || (existsSync(model) && !isModelName(model));
}

/** Flags that `--resume` takes from the command line; every other one comes from the saved config.json. */
const RESUME_OWN_FLAGS = new Set(['resume', 'json', 'backend', 'threads']);

/** What `train` / `ternarize` write to a run folder's `config.json` (and `--resume` reads back). */
export interface RunConfigFile extends LibraryRunConfigFile {
  flags: Record<string, FlagValue>;
}

/**
 * The flags of `ec2t <cmd> --resume DIR`: the saved config's, with `resume` and `json` from the
 * command line. Usage errors when DIR is not a run folder of this command or has no checkpoint;
 * other flags given with `--resume` that differ from their defaults are named in a note as
 * ignored (the saved config wins).
 * @example const { flags, saved } = resumedFlags(trainSpec, 'runs/lenet5', p.flags);
 */
export function resumedFlags(cmd: CommandSpec, dir: string, given: Record<string, FlagValue>): { flags: Record<string, FlagValue>; saved: RunConfigFile } {
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new UsageError(`--resume ${dir}: not a run folder (no config.json); give the --out folder of an earlier ec2t ${cmd.name} run`);
  let saved: Partial<RunConfigFile>;
  try {
    saved = JSON.parse(readFileSync(configPath, 'utf8')) as Partial<RunConfigFile>;
  } catch (e) {
    throw new UsageError(`--resume ${dir}: config.json is not valid JSON (${(e as Error).message})`);
  }
  if (saved.command !== cmd.name || typeof saved.flags !== 'object' || saved.flags === null) {
    const hint = saved.command === 'train' || saved.command === 'ternarize' ? `; resume it with: ec2t ${saved.command} --resume ${dir}` : '';
    throw new UsageError(`--resume ${dir}: not a ${cmd.name} run folder (config.json is from ${typeof saved.command === 'string' ? `ec2t ${saved.command}` : 'an unknown command'})${hint}`);
  }
  for (const [name, v] of Object.entries(saved.flags)) {
    const spec = cmd.flags[name];
    if (spec === undefined) throw new UsageError(`--resume ${dir}: config.json has an unknown flag "${name}" (edited by hand?); ec2t ${cmd.name} has no --${name}`);
    const problem = flagValueProblem(spec, v);
    if (problem !== null) throw new UsageError(`--resume ${dir}: config.json flag "${name}" ${problem} (edited by hand? ec2t ${cmd.name} --help lists the valid values)`);
  }
  if (!existsSync(join(dir, 'checkpoint.safetensors'))) {
    throw new UsageError(`--resume ${dir}: no checkpoint.safetensors to resume from (the run stopped before its first checkpoint); start it again without --resume`);
  }
  const ignored: string[] = [];
  for (const [name, v] of Object.entries(given)) {
    if (RESUME_OWN_FLAGS.has(name) || v === undefined) continue;
    const dflt = cmd.flags[name]?.default;
    if (v !== dflt) ignored.push(`--${name}${typeof v === 'boolean' ? '' : ` ${Array.isArray(v) ? v.join(' ') : String(v)}`}`);
  }
  if (ignored.length > 0) log(`note: --resume continues with the saved config (${configPath}); ignoring ${ignored.join(', ')}`);
  return { flags: { ...saved.flags, resume: dir, json: given.json, out: dir }, saved: saved as RunConfigFile };
}
