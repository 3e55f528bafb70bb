/**
 * Sweeps across machines on a BullMQ queue in Redis. `ec2t sweep --queue URL` enqueues one job per
 * unfinished cell (job id = sweep id + cell name, so enqueueing twice is a no-op) and waits;
 * `ec2t worker` runs jobs from the queue in the shared store. BullMQ's locks and stalled-job
 * checks hand the cell of a worker that died to another, which resumes it from its checkpoint;
 * a job that throws is retried until it has failed {@link MAX_ATTEMPTS} times.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DelayedError, Queue, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { Ec2tError } from '../base/errors.js';
import { UsageError } from '../cli/args.js';
import { recordFailure } from './cell.js';
import { MAX_ATTEMPTS, runCellProcess } from './local.js';
import { clearFailed, readResult, readSweep, type CellResult, type SweepManifest } from './store.js';

/** A queue problem: Redis unreachable, too old, or the store and the queue disagree. */
export class QueueError extends Ec2tError {}

/** The one BullMQ queue every sweep uses; jobs name their sweep. */
export const QUEUE_NAME = 'ec2t-sweep';

/** Oldest Redis BullMQ supports. */
const MIN_REDIS: readonly [number, number] = [6, 2];

/** What a job carries: which sweep (its id and folder name) and which cell. */
export interface CellJobData {
  sweepId: string;
  sweep: string;
  cell: string;
}

/**
 * Connection options from `redis://[USER:PASSWORD@]HOST:PORT[/DB]`; anything else is a UsageError.
 * @example redisOptions('redis://127.0.0.1:6379/2') // { host: '127.0.0.1', port: 6379, db: 2, ... }
 */
export function redisOptions(url: string): RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--queue ${url}: expected redis://HOST:PORT[/DB]`);
  }
  const db = u.pathname === '' || u.pathname === '/' ? 0 : Number(u.pathname.slice(1));
  if (u.protocol !== 'redis:' || u.hostname === '' || !Number.isInteger(db) || db < 0 || db > 65535 || u.search !== '' || u.hash !== '') {
    throw new UsageError(`--queue ${url}: expected redis://HOST:PORT[/DB] (e.g. redis://127.0.0.1:6379/0)`);
  }
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port === '' ? 6379 : Number(u.port), db,
    ...(u.username !== '' ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password !== '' ? { password: decodeURIComponent(u.password) } : {}),
  };
}

/** The URL without a password, for messages. */
function shown(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

/**
 * Connects once without retrying and checks the server is Redis ≥ 6.2, so an unreachable or
 * wrong server is a one-line {@link QueueError} naming the URL within `timeoutMs`, not a hang.
 * @example await probeRedis('redis://127.0.0.1:6379')
 */
export async function probeRedis(url: string, timeoutMs = 3000): Promise<string> {
  const client = new Redis({ ...redisOptions(url), lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  // The socket's own error (ECONNREFUSED, ENOTFOUND) says more than the rejected connect ('Connection is closed').
  let socketError: Error | null = null;
  client.on('error', (e: Error) => (socketError ??= e));
  let timer: NodeJS.Timeout | undefined;
  try {
    const info = await Promise.race([
      client.connect().then(() => client.info('server')),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs + 500))),
    ]);
    const version = /redis_version:(\d+)\.(\d+)/.exec(info);
    if (version === null) throw new QueueError(`${shown(url)} did not report a Redis version; is it a Redis server?`);
    const [major, minor] = [Number(version[1]), Number(version[2])];
    if (major < MIN_REDIS[0] || (major === MIN_REDIS[0] && minor < MIN_REDIS[1])) {
      throw new QueueError(`Redis at ${shown(url)} is ${major}.${minor}; BullMQ needs Redis >= ${MIN_REDIS.join('.')}`);
    }
    return `${major}.${minor}`;
  } catch (e) {
    if (e instanceof QueueError) throw e;
    const msg = ((socketError as Error | null)?.message || (e as Error).message || String(e)).split('\n')[0];
    throw new QueueError(`cannot reach Redis at ${shown(url)} (${msg}); is redis-server running there and listening on that address?`);
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

/** Connection options BullMQ needs for long-lived clients: reconnect forever, never fail a blocked command. */
function liveConnection(url: string): ConnectionOptions {
  const { host, port, db, username, password } = redisOptions(url);
  return { host, port, db, username, password, maxRetriesPerRequest: null, retryStrategy: (times: number) => Math.min(times * 200, 2000) };
}

function jobId(manifest: SweepManifest, cell: string): string {
  return `${manifest.id}-${cell}`;
}

/**
 * Enqueues every cell of the sweep in `dir` that has not finished; a cell whose earlier job ended
 * (failed, or completed without a result in the store) is queued afresh. Returns the cells queued.
 * @example await enqueueSweep('redis://127.0.0.1:6379', 'sweeps/g', manifest)
 */
export async function enqueueSweep(url: string, dir: string, manifest: SweepManifest): Promise<string[]> {
  const queue = new Queue(QUEUE_NAME, { connection: liveConnection(url) });
  queue.on('error', () => {});
  try {
    const queued: string[] = [];
    for (const cell of manifest.cells) {
      if (readResult(dir, cell.name)?.status === 'done') continue;
      clearFailed(dir, cell.name);
      const id = jobId(manifest, cell.name);
      const old = await queue.getJob(id);
      if (old !== undefined) {
        const state = await old.getState();
        if (state !== 'completed' && state !== 'failed' && state !== 'unknown') {
          queued.push(cell.name);
          continue;
        }
        await old.remove();
      }
      await queue.add('cell', { sweepId: manifest.id, sweep: basename(dir), cell: cell.name }, { jobId: id, attempts: MAX_ATTEMPTS, removeOnComplete: false, removeOnFail: false });
      queued.push(cell.name);
    }
    return queued;
  } finally {
    await queue.close();
  }
}

/** A cell's state on the queue. */
export interface QueueCellState {
  cell: string;
  state: 'queued' | 'running' | 'done' | 'failed' | 'not queued';
  /** Attempts that failed so far (BullMQ's attemptsMade). */
  retries: number;
  error?: string;
}

/** Reads the queue state of every cell of a sweep. */
export async function queueStates(url: string, manifest: SweepManifest): Promise<QueueCellState[]> {
  const queue = new Queue(QUEUE_NAME, { connection: liveConnection(url) });
  queue.on('error', () => {});
  try {
    return await cellStates(queue, manifest, manifest.cells.map((c) => c.name));
  } finally {
    await queue.close();
  }
}

async function cellStates(queue: Queue, manifest: SweepManifest, cells: readonly string[]): Promise<QueueCellState[]> {
  const out: QueueCellState[] = [];
  for (const cell of cells) {
    const job = await queue.getJob(jobId(manifest, cell));
    if (job === undefined) {
      out.push({ cell, state: 'not queued', retries: 0 });
      continue;
    }
    const s = await job.getState();
    const state = s === 'completed' ? 'done' : s === 'failed' ? 'failed' : s === 'active' ? 'running' : s === 'unknown' ? 'not queued' : 'queued';
    out.push({ cell, state, retries: job.attemptsMade, ...(job.failedReason ? { error: job.failedReason } : {}) });
  }
  return out;
}

/** Options of {@link waitForSweep}. */
export interface WaitOptions {
  /** Called when a cell ends, with its result. */
  onEnd?: (r: CellResult) => void;
  /** Called with counts when they change. */
  onCounts?: (c: Record<QueueCellState['state'], number>) => void;
  /** Called once per Redis outage, and when it is over. */
  onConnection?: (up: boolean, error?: string) => void;
  pollMs?: number;
}

/**
 * Waits until every cell of the sweep has ended on the queue, recording failures in the store.
 * Rides out Redis restarts (polls again when it is back).
 */
export async function waitForSweep(url: string, dir: string, manifest: SweepManifest, opts: WaitOptions = {}): Promise<CellResult[]> {
  const queue = new Queue(QUEUE_NAME, { connection: liveConnection(url) });
  queue.on('error', () => {});
  const pending = new Set(manifest.cells.filter((c) => readResult(dir, c.name)?.status !== 'done').map((c) => c.name));
  let lastCounts = '';
  let down = false;
  try {
    while (pending.size > 0) {
      try {
        const states = await cellStates(queue, manifest, [...pending]);
        if (down) opts.onConnection?.(true);
        down = false;
        const counts: Record<QueueCellState['state'], number> = { queued: 0, running: 0, done: manifest.cells.length - pending.size, failed: 0, 'not queued': 0 };
        for (const s of states) {
          counts[s.state]++;
          if (s.state !== 'done' && s.state !== 'failed') continue;
          let r = readResult(dir, s.cell);
          if (s.state === 'failed' && r?.status !== 'failed') {
            const cell = manifest.cells.find((c) => c.name === s.cell);
            if (cell !== undefined) r = recordFailure(dir, manifest, cell, s.retries, s.error ?? 'failed on the queue');
          }
          if (r === null) continue; // completed on the queue, result not yet visible in this store
          pending.delete(s.cell);
          opts.onEnd?.(r);
        }
        const key = JSON.stringify(counts);
        if (key !== lastCounts) opts.onCounts?.(counts);
        lastCounts = key;
        if (states.length > 0 && states.every((s) => s.state === 'not queued')) {
          throw new QueueError(`none of the ${states.length} unfinished cells is on the queue at ${shown(url)} (was Redis emptied?); run the same ec2t sweep command again to queue them`);
        }
      } catch (e) {
        if (e instanceof QueueError) throw e;
        if (!down) opts.onConnection?.(false, (e as Error).message);
        down = true;
      }
      if (pending.size > 0) await new Promise((res) => setTimeout(res, opts.pollMs ?? 1000));
    }
  } finally {
    await queue.close();
  }
  return manifest.cells.map((c) => readResult(dir, c.name)).filter((r): r is CellResult => r !== null);
}

/** Finds the sweep folder of a job in the store (the store itself, or a folder in it), or null. */
function sweepFolderFor(store: string, data: CellJobData): string | null {
  // A job names a folder, never a path: nothing from Redis may lead a worker outside its store.
  const candidates = /^[A-Za-z0-9._+-]+$/.test(data.sweep) && data.sweep !== '..' ? [store, join(store, data.sweep)] : [store];
  for (const dir of candidates) {
    if (existsSync(join(dir, 'sweep.json')) && readSweep(dir).id === data.sweepId) return dir;
  }
  return null;
}

/** How long a job this worker's store does not hold waits before any worker takes it again. */
const NOT_MINE_DELAY_MS = 10_000;

/** Options of {@link startWorker}. */
export interface WorkerOptions {
  /** Lock time of a running cell, in ms; a worker silent for longer loses the cell to another. */
  lockMs?: number;
  /** Something a person should see (cell starts and ends, connection trouble). */
  onLog?: (line: string) => void;
}

/**
 * Default lock (BullMQ's own default). The worker process only talks to Redis while its cell runs
 * in a child, so it renews every lockMs / 2 however busy the machine is; the lock decides how soon
 * a dead worker's cell moves on (within lockMs plus one stalled check, lockMs / 2).
 */
export const DEFAULT_LOCK_MS = 30_000;

/**
 * Starts a worker that runs cells from the queue in `store` until {@link Worker.close}. A cell's
 * last failed attempt is recorded in the store as failed with its error.
 * @example const w = await startWorker('redis://127.0.0.1:6379', '/nfs/sweeps'); await w.close();
 */
export async function startWorker(url: string, store: string, opts: WorkerOptions = {}): Promise<Worker> {
  await probeRedis(url);
  const say = opts.onLog ?? (() => {});
  const lockMs = opts.lockMs ?? DEFAULT_LOCK_MS;
  const notMine = new Set<string>();
  const worker = new Worker(QUEUE_NAME, async (job: Job, token?: string) => {
    const data = job.data as CellJobData;
    const dir = sweepFolderFor(store, data);
    if (dir === null) {
      // Another worker's store may hold it: hand the job back without spending an attempt.
      if (!notMine.has(data.sweepId)) say(`sweep ${data.sweep} (id ${data.sweepId}) is not in this worker's store ${store}; leaving its cells to other workers (give --store the folder the sweep wrote to, or the folder holding it, as this machine sees it)`);
      notMine.add(data.sweepId);
      await job.moveToDelayed(Date.now() + NOT_MINE_DELAY_MS, token);
      throw new DelayedError();
    }
    const manifest = readSweep(dir);
    const cell = manifest.cells.find((c) => c.name === data.cell);
    if (cell === undefined) throw new UnrecoverableError(`no cell ${data.cell} in ${join(dir, 'sweep.json')}`);
    const attempt = job.attemptsMade + 1;
    say(`cell ${cell.name}: start (attempt ${attempt})`);
    // The cell runs in a child process: this one only talks to Redis, so its lock is renewed on
    // time even while the cell blocks its thread (a test-set evaluation on a loaded machine).
    const m = await runCellProcess(dir, cell.name, attempt, undefined);
    if (!m.ok) {
      if (attempt >= MAX_ATTEMPTS) recordFailure(dir, manifest, cell, attempt, m.error);
      say(`cell ${cell.name}: attempt ${attempt} failed: ${m.error}`);
      throw new Error(m.error);
    }
    say(`cell ${cell.name}: ${m.action}${m.resumed ? ' (resumed from its checkpoint)' : ''}`);
    return { action: m.action, resumed: m.resumed };
  }, {
    connection: liveConnection(url), concurrency: 1, lockDuration: lockMs,
    stalledInterval: Math.max(1000, Math.min(30_000, Math.floor(lockMs / 2))), maxStalledCount: 2,
  });
  // One line per distinct message: a Redis outage repeats the same error on every retry.
  let last = '';
  worker.on('error', (e: Error) => {
    const msg = e.message.split('\n')[0];
    if (msg !== last) say(`queue error (${shown(url)}): ${msg}; BullMQ retries`);
    last = msg;
  });
  worker.on('stalled', (id: string) => say(`job ${id} stalled (its worker stopped answering); it goes back on the queue`));
  return worker;
}
