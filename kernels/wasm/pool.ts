/**
 * The one worker pool behind every threaded WebAssembly kernel (GEMM, dense conv, ternary conv).
 *
 * Each kernel family registers once: its compiled module, its shared `WebAssembly.Memory` and the
 * source of its job runner (self-contained text; workers evaluate it). The pool owns the
 * `worker_threads` and the `Atomics` hand-off: a per-worker generation word (only the workers a job
 * needs are woken), a done counter, a shared chunk counter for dynamically scheduled jobs, error
 * reporting and stop. A worker instantiates a family's module the first time a job of that family
 * reaches it (the registration travels over the worker's `MessagePort` and is read synchronously
 * with `receiveMessageOnPort`), so one set of workers serves every family and the process runs at
 * most `threads − 1` worker threads however many kernel families are in use.
 *
 * Calls are synchronous: {@link runJob} wakes the workers, runs the main thread's share (index 0)
 * and waits with `Atomics.wait`. Partitions are the families' business; they stay fixed functions
 * of the problem (or, with {@link PoolNext}, chunks whose results do not depend on who computes
 * them), so results are bit-identical for any thread count.
 */
import { availableParallelism } from 'node:os';
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads';
import { KernelError, ValueError } from '../../engine/errors.js';
import type { WasmMemory, WasmModule } from './assembler.js';

/** Most threads one job may use (the main thread plus 63 workers). */
export const MAX_POOL_THREADS = 64;
/** Most Int32 parameter words one job may pass. */
export const MAX_JOB_PARAMS = 96;

// Control words (Int32Array over a SharedArrayBuffer).
const DONE = 0; // workers that finished the current job
const ERROR = 1; // 1: a worker threw; its message is on its port
const STOP = 2; // 1: workers exit
const FAMILY = 3; // family id of the current job
const OP = 4; // the family's operation code
const NTHREADS = 5; // threads of the current job (main thread included)
const NEXT = 6; // shared chunk counter (PoolNext)
const GENS = 8; // one generation word per worker index (index 0 unused: the main thread)
const PARAMS = GENS + MAX_POOL_THREADS;
const CONTROL_WORDS = PARAMS + MAX_JOB_PARAMS;

/** Takes the next chunk index from the job's shared counter (0, 1, 2, … across all threads). */
export type PoolNext = () => number;

/**
 * A job runner as the workers call it: `params` holds the job's parameter words, `index` is the
 * thread's index in `0 .. threads−1` (0: the main thread).
 */
export type PoolRunner<E> = (exports: E, memory: WasmMemory, params: Int32Array, op: number, index: number, threads: number, next: PoolNext) => void;

/** A registered kernel family (see {@link registerPoolFamily}). */
export interface PoolFamily {
  readonly id: number;
  readonly name: string;
  readonly module: WasmModule;
  readonly memory: WasmMemory;
  /** Function body returning the runner; evaluated once per worker. */
  readonly runnerFactory: string;
}

const families: (PoolFamily | undefined)[] = [];

/**
 * Registers a kernel family with the pool. `runnerFactory` is the body of a function (no closure
 * over module scope: workers evaluate it with `new Function`) that returns a {@link PoolRunner}.
 * @example const fam = registerPoolFamily('gemm', module, memory, `${runTiles}; return (E, mem, P, op, i, t) => { … };`)
 */
export function registerPoolFamily(name: string, module: WasmModule, memory: WasmMemory, runnerFactory: string): PoolFamily {
  const fam: PoolFamily = { id: families.length, name, module, memory, runnerFactory };
  families.push(fam);
  return fam;
}

/**
 * Releases a family registered with {@link registerPoolFamily} (its module instances are dropped
 * by the workers at their next job); running a job of it afterwards throws. Generated per-layer
 * kernels call this when their layer is garbage-collected, so long runs do not accumulate modules.
 * @example releasePoolFamily(fam)
 */
export function releasePoolFamily(family: PoolFamily): void {
  if (families[family.id] !== family) return;
  families[family.id] = undefined;
  for (const s of pool?.slots ?? []) {
    if (s.sent[family.id] === true) {
      s.port.postMessage({ drop: family.id });
      s.sent[family.id] = false;
    }
  }
}

function workerSource(): string {
  return `
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const { control, index, port } = workerData;
const ctl = new Int32Array(control);
const params = ctl.subarray(${PARAMS}, ${PARAMS + MAX_JOB_PARAMS});
const next = () => Atomics.add(ctl, ${NEXT}, 1);
const fams = [];
function install(m) {
  if (m.drop !== undefined) { fams[m.drop] = undefined; return; }
  try {
    const E = new WebAssembly.Instance(m.module, { env: { memory: m.memory } }).exports;
    fams[m.id] = { E, memory: m.memory, run: new Function(m.factory)(), error: '' };
  } catch (e) {
    fams[m.id] = { error: String(e && e.stack || e) };
  }
}
const gen = ${GENS} + index;
let seen = 0;
for (;;) {
  Atomics.wait(ctl, gen, seen);
  seen = Atomics.load(ctl, gen);
  if (Atomics.load(ctl, ${STOP}) === 1) break;
  try {
    const id = ctl[${FAMILY}];
    // Registrations and releases posted since the last job, in order.
    for (let m; (m = receiveMessageOnPort(port)) !== undefined;) install(m.message);
    const f = fams[id];
    if (f === undefined) throw new Error('pool worker ' + index + ': kernel family ' + id + ' was never sent to it');
    if (f.run === undefined) throw new Error('pool worker ' + index + ' could not set up kernel family ' + id + ': ' + f.error);
    f.run(f.E, f.memory, params, ctl[${OP}], index, ctl[${NTHREADS}], next);
  } catch (e) {
    Atomics.store(ctl, ${ERROR}, 1);
    port.postMessage(String(e && e.stack || e));
  }
  Atomics.add(ctl, ${DONE}, 1);
  Atomics.notify(ctl, ${DONE});
}
`;
}

interface Slot { worker: Worker; port: MessagePort; sent: boolean[]; errors: string[] }
interface Pool { control: Int32Array; slots: Slot[] }
let pool: Pool | undefined;

function getPool(): Pool {
  pool ??= { control: new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4)), slots: [] };
  return pool;
}

/** Worker slot `index` (1-based: index 0 is the main thread), started on first use. */
function slot(p: Pool, index: number): Slot {
  while (p.slots.length < index) {
    const { port1, port2 } = new MessageChannel();
    const s: Slot = {
      worker: new Worker(workerSource(), { eval: true, workerData: { control: p.control.buffer, index: p.slots.length + 1, port: port2 }, transferList: [port2] }),
      port: port1, sent: [], errors: [],
    };
    s.worker.on('error', (e: Error) => { s.errors.push(String(e.stack ?? e)); Atomics.store(p.control, ERROR, 1); });
    // Idle workers must not keep the process alive.
    s.worker.unref();
    s.port.unref();
    p.slots.push(s);
  }
  return p.slots[index - 1];
}

/**
 * Default thread count: `EC2T_THREADS` if set, else `os.availableParallelism()`.
 * @example poolDefaultThreads() // 2 on a 2-core machine without EC2T_THREADS
 */
export function poolDefaultThreads(): number {
  const env = process.env.EC2T_THREADS;
  if (env !== undefined && env !== '') {
    const t = Number(env);
    if (!Number.isInteger(t) || t < 1) throw new ValueError('EC2T_THREADS', `expected a positive integer thread count, got '${env}'; unset it or set e.g. EC2T_THREADS=2`);
    return t;
  }
  return Math.max(1, availableParallelism());
}

/**
 * Checks a thread count given to a setter: undefined, or an integer in 1..{@link MAX_POOL_THREADS}.
 * @example checkThreadCount('setConvThreads', 2)
 */
export function checkThreadCount(op: string, threads: number | undefined): void {
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > MAX_POOL_THREADS)) {
    throw new ValueError(op, `expected an integer thread count in 1..${MAX_POOL_THREADS} (or undefined for the default), got ${threads}`);
  }
}

/**
 * Runs one job of `family` on `threads` threads: parameter words `params`, operation `op`. Workers
 * 1..threads−1 run the family's runner; the main thread runs `main` (its share, index 0) and then
 * waits for them. Synchronous; throws a {@link KernelError} (and stops the pool) if a worker failed.
 * With one thread `main` runs alone. Each job's {@link PoolNext} counter starts at 0.
 * @example runJob(fam, 0, [aPtr, bPtr], 2, (next) => work(E, 0, 2, next))
 */
export function runJob(family: PoolFamily, op: number, params: ArrayLike<number>, threads: number, main: (next: PoolNext) => void): void {
  if (params.length > MAX_JOB_PARAMS) throw new KernelError(`${family.name}: ${params.length} job parameters, more than the pool's ${MAX_JOB_PARAMS}`);
  if (families[family.id] !== family) throw new KernelError(`${family.name}: this kernel family was released; register it again to run jobs`);
  const t = Math.min(threads, MAX_POOL_THREADS);
  if (t <= 1) {
    let ci = 0;
    main(() => ci++);
    return;
  }
  const p = getPool();
  const ctl = p.control;
  for (let i = 0; i < params.length; i++) ctl[PARAMS + i] = params[i];
  ctl[FAMILY] = family.id;
  ctl[OP] = op;
  ctl[NTHREADS] = t;
  Atomics.store(ctl, NEXT, 0);
  Atomics.store(ctl, DONE, 0);
  Atomics.store(ctl, ERROR, 0);
  for (let w = 1; w < t; w++) {
    const s = slot(p, w);
    if (s.sent[family.id] !== true) {
      s.port.postMessage({ id: family.id, module: family.module, memory: family.memory, factory: family.runnerFactory });
      s.sent[family.id] = true;
    }
    Atomics.add(ctl, GENS + w, 1);
    Atomics.notify(ctl, GENS + w);
  }
  let mainError: unknown;
  try {
    main(() => Atomics.add(ctl, NEXT, 1));
  } catch (e) {
    mainError = e;
  }
  // Wait for the workers even when the main share threw: they still use the shared memory.
  for (;;) {
    const done = Atomics.load(ctl, DONE);
    if (done >= t - 1) break;
    // The timeout bounds the wait if a worker died without counting itself done.
    if (Atomics.wait(ctl, DONE, done, 10_000) === 'timed-out' && Atomics.load(ctl, ERROR) === 1) break;
  }
  if (mainError !== undefined) throw mainError;
  if (Atomics.load(ctl, ERROR) === 1) {
    const msgs: string[] = [];
    for (const s of p.slots) {
      msgs.push(...s.errors);
      for (let m; (m = receiveMessageOnPort(s.port)) !== undefined;) msgs.push(String(m.message));
    }
    void shutdownPool();
    throw new KernelError(`${family.name}: a worker thread failed: ${msgs.join('\n') || 'unknown error'}`);
  }
}

/** Number of worker threads the pool holds now (tests: one pool, not one per kernel family). */
export function poolWorkerCount(): number {
  return pool?.slots.length ?? 0;
}

/**
 * Stops and discards the worker pool (a later threaded call starts a new one; registered families
 * stay registered). Workers are `unref()`'d, so a process exits without this; tests call it to
 * release threads promptly.
 * @example await shutdownPool();
 */
export async function shutdownPool(): Promise<void> {
  const p = pool;
  pool = undefined;
  if (p === undefined) return;
  Atomics.store(p.control, STOP, 1);
  for (let w = 1; w <= p.slots.length; w++) {
    Atomics.add(p.control, GENS + w, 1);
    Atomics.notify(p.control, GENS + w);
  }
  await Promise.all(p.slots.map((s) => { s.port.close(); return s.worker.terminate(); }));
}
