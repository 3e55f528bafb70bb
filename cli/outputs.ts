/**
 * What the commands refuse to write over: a finished or unfinished run folder, any other folder
 * that holds files, and (even with --force) any of their own inputs. Usage errors (exit 2) that
 * say what exists and how to proceed.
 */
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { RUN_FOLDER_FILES, prepareRunFolder as prepareRunFolderNoting, refuseExistingOutput, refuseInputAsOutput, sameFile, type NamedInput } from '../ec2t/runfolder.js';
import { UsageError } from './args.js';
import { log } from './progress.js';

export { refuseExistingOutput, refuseInputAsOutput, sameFile, type NamedInput };
/** Every file `ec2t train` / `ec2t ternarize` may write into its run folder. */
export const RUN_FILES = RUN_FOLDER_FILES;

/**
 * {@link prepareRunFolderNoting} with its `--force` note on stderr.
 * @example prepareRunFolder('train', 'runs/lenet5', false, [{ flag: '--weights', path: w }])
 */
export function prepareRunFolder(cmd: string, dir: string, force: boolean, inputs: readonly NamedInput[]): void {
  prepareRunFolderNoting(cmd, dir, force, inputs, log);
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
