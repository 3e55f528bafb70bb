/**
 * Running the built `ec2t` command line from tests: one spawn helper and the run-folder readers the
 * CLI tests share.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The compiled CLI entry (tests run from dist/test/…). */
export const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

/** Result of one CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `ec2t ARGS` in a child process (extra environment variables on top of ours).
 * @example const r = ec2t(['train', '--help']); assert.equal(r.code, 0);
 */
export function ec2t(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** metrics.jsonl of a run folder without the timing fields, which legitimately differ between runs. */
export function metricsWithoutTimes(dir: string): unknown[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => {
    const { seconds: _s, imagesPerSecond: _i, ...rest } = JSON.parse(l) as Record<string, unknown>;
    return rest;
  });
}

/** How many epochs a run folder has recorded so far (0 before metrics.jsonl exists). */
export function metricsLineCount(dir: string): number {
  const f = join(dir, 'metrics.jsonl');
  return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').filter((l) => l !== '').length : 0;
}
