/**
 * What the commands refuse to write over: a finished or unfinished run folder, any other folder
 * that holds files, and (even with --force) any of their own inputs. Usage errors (exit 2) that
 * say what exists and how to proceed.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { isTempName } from '../base/io.js';
import { UsageError } from './args.js';
import { log } from './progress.js';

/** Every file `ec2t train` / `ec2t ternarize` may write into its run folder. */
export const RUN_FILES: readonly string[] = [
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
    const sa = statSync(a);
    const sb = statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return resolve(a) === resolve(b);
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
  if (!existsSync(outPath)) return;
  if (statSync(outPath).isDirectory()) throw new UsageError(`ec2t ${cmd}: ${outFlag} ${outPath} is a folder; give a file name`);
  if (!force) throw new UsageError(`ec2t ${cmd}: ${outFlag} ${outPath} exists; nothing was written. Choose another ${outFlag}, or give --force to replace it`);
}

function describeFolder(dir: string, entries: readonly string[]): { what: string; hint: string } {
  let command: string | undefined;
  try {
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { command?: unknown };
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
 * unless `force`; with `force` the files a run writes ({@link RUN_FILES}) are removed first so the
 * new run never mixes with the old one, and other files are left alone. Inputs inside the folder
 * that the run would write over (`--weights DIR/best.safetensors`) are refused even with `force`.
 * @example prepareRunFolder('train', 'runs/lenet5', false, [{ flag: '--weights', path: w }])
 */
export function prepareRunFolder(cmd: string, dir: string, force: boolean, inputs: readonly NamedInput[]): void {
  for (const name of RUN_FILES) refuseInputAsOutput(cmd, '--out', join(dir, name), inputs);
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw new UsageError(`ec2t ${cmd}: --out ${dir} exists and is not a folder; choose another --out`);
  const entries = readdirSync(dir).filter((n) => !isTempName(n)).sort();
  if (entries.length === 0) return;
  const { what, hint } = describeFolder(dir, entries);
  if (!force) {
    throw new UsageError(`ec2t ${cmd}: --out ${dir} ${what}; nothing was written. Choose a new folder${hint}, or give --force to replace it`);
  }
  const replaced = entries.filter((n) => RUN_FILES.includes(n));
  for (const n of replaced) rmSync(join(dir, n), { force: true });
  log(`note: --force: --out ${dir} ${what}; removed ${replaced.length ? replaced.join(', ') : 'nothing (no run files)'}${replaced.length < entries.length ? '; other files are left as they are' : ''}`);
}

/**
 * `report --out FILE`: refuses a file inside one of the run folders it reads (other than their own
 * report.html), and an existing file that is not an HTML report unless `force`.
 * @example checkReportOut('report.html', ['runs/a'], false)
 */
export function checkReportOut(out: string, runDirs: readonly string[], force: boolean): void {
  for (const dir of runDirs) {
    if (basename(out) === 'report.html') continue;
    const inside = existsSync(dir) && readdirSync(dir).some((n) => sameFile(join(dir, n), out));
    if (inside) throw new UsageError(`ec2t report: --out ${out} is a file of the run folder ${dir}, which the report reads; ec2t never writes over its input: choose another --out (e.g. ${join(dir, 'report.html')})`);
  }
  if (!existsSync(out)) return;
  if (statSync(out).isDirectory()) throw new UsageError(`ec2t report: --out ${out} is a folder; give a file name such as ${join(out, 'report.html')}`);
  const buf = Buffer.alloc(64);
  const fd = openSync(out, 'r');
  let got: number;
  try {
    got = readSync(fd, buf, 0, buf.length, 0);
  } finally {
    closeSync(fd);
  }
  const head = buf.subarray(0, got).toString('latin1').trimStart().toLowerCase();
  if (!head.startsWith('<!doctype html') && !force) {
    throw new UsageError(`ec2t report: --out ${out} exists and is not an HTML report; nothing was written. Choose another --out, or give --force to replace it`);
  }
}
