/**
 * Running the built `ec2t` command line from tests: one spawn helper and the run-folder readers the
 * CLI tests share.
 */
import { spawn, spawnSync } from 'node:child_process';
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
  // A guard against hangs, not a speed check: `scale --phi --from` trains and needed over 120 s
  // on a 2-core machine under load (CI runs two test files at once).
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000 });
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

/**
 * Starts `ec2t ARGS` (which writes the run folder `out`), sends a real SIGINT once its first epoch
 * is recorded in metrics.jsonl, and resolves with the exit code and what it printed.
 * @example const r = await interruptAfterFirstEpoch(['train', ...flags, '--out', out], out);
 */
export async function interruptAfterFirstEpoch(args: string[], out: string): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while (metricsLineCount(out) < 1 && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 10));
  child.kill('SIGINT');
  const code = await exited;
  return { code: code ?? -1, stdout, stderr };
}
