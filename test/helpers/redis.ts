/**
 * A private redis-server for a test: a free loopback port, its own data folder (append-only file
 * on, so a restart keeps the queue, as a production Redis for BullMQ must), stopped by the test.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Whether `redis-server` can be run here (CI installs it; see .ci/run). */
export function redisAvailable(): boolean {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return r.status === 0;
}

/** A free TCP port on 127.0.0.1 (the OS picks one; it is released before returning). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, up: boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((res) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        res(true);
      });
      c.once('error', () => res(false));
    });
    if (open === up) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not ${up ? 'start' : 'stop'} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A running test Redis. */
export interface TestRedis {
  port: number;
  url: string;
  /** Stops it (SIGTERM: it writes its append-only file first) and waits until the port is closed. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data folder. */
  start(): Promise<void>;
}

/**
 * Starts `redis-server` on a free loopback port with a fresh data folder.
 * @example const redis = await startRedis(); ...; await redis.stop();
 */
export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ec2t-redis-'));
  let proc: ChildProcess | null = null;
  const start = async (): Promise<void> => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
    await waitForPort(port, true);
  };
  const stop = async (): Promise<void> => {
    const p = proc;
    if (p === null || p.exitCode !== null) return;
    const exited = new Promise((res) => p.once('exit', res));
    p.kill('SIGTERM');
    await exited;
    await waitForPort(port, false);
    proc = null;
  };
  await start();
  return { port, url: `redis://127.0.0.1:${port}`, start, stop };
}
