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
 *
 * In a browser the workers are Web Workers made from a Blob URL of the same kind of source text
 * (no script file to serve), sharing the control words over a `SharedArrayBuffer`. That needs a
 * cross-origin-isolated page (`crossOriginIsolated`: COOP/COEP headers) and a calling thread that
 * may block (a Web Worker: a page's main thread may not `Atomics.wait`); otherwise every job runs on
 * the calling thread, with the same bits. A Web Worker only starts once its creator yields to the
 * event loop, so jobs run on the calling thread until the workers report ready; `await
 * preparePool()` starts them up front. Web Workers wait for jobs with `Atomics.waitAsync`, so
 * registrations (posted messages) reach them between jobs.
 */
import type { MessagePort, Worker, WorkerOptions } from 'node:worker_threads';
import { KernelError, ValueError } from '../../base/errors.js';
import { platform } from '../../base/platform.js';
import { MAX_THREADS, defaultThreads } from '../settings.js';
import type { WasmMemory, WasmModule } from './assembler.js';

/** Most threads one job may use (the main thread plus 63 workers). */
export const MAX_POOL_THREADS = MAX_THREADS;
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
const DIED = 7; // index of a worker that exited (its exit handler counts it done), 0: none
const GENS = 8; // one generation word per worker index (index 0 unused: the main thread)
const EXITS = GENS + MAX_POOL_THREADS; // per worker: 1 + its exit code once it has exited, else 0
const READY = EXITS + MAX_POOL_THREADS; // per worker: 1 once it has started and hooked its exit
const PARAMS = READY + MAX_POOL_THREADS;
/** How long a new worker may take to start before the pool gives up on threads (it normally takes ~50 ms). */
const START_TIMEOUT_MS = 20_000;
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
      (s.kind === 'node' ? s.port : s.worker).postMessage({ drop: family.id });
      s.sent[family.id] = false;
    }
  }
}

/**
 * A Node pool worker's source: the platform's prelude (base/platform-node.ts: `control`, `index`,
 * `port`, `receive()`, `onExit(fn)` from worker_threads) and the job loop.
 */
/**
 * Worker-side registry of kernel families, shared by the Node and the Web Worker source: `install(m)`
 * instantiates a family's module over its memory and evaluates its runner factory (or drops it).
 */
const INSTALL_SOURCE = `const fams = [];
function install(m) {
  if (m.drop !== undefined) { fams[m.drop] = undefined; return; }
  try {
    const E = new WebAssembly.Instance(m.module, { env: { memory: m.memory } }).exports;
    fams[m.id] = { E, memory: m.memory, run: new Function(m.factory)(), error: '' };
  } catch (e) {
    fams[m.id] = { error: String(e && e.stack || e) };
  }
}
`;

/**
 * Loads of a control word a waiting thread makes before it sleeps in `Atomics.wait` (~50 µs here).
 * NOTE: ResNet-20 at batch 32 runs ~40 jobs a call of 0.1–1 ms each; a worker that slept between
 * them woke tens of µs late each time, and the main thread slept as long on the done count.
 */
const SPIN_CHECKS = 1 << 14;

function workerSource(prelude: string): string {
  return `${prelude}
const ctl = new Int32Array(control);
const params = ctl.subarray(${PARAMS}, ${PARAMS + MAX_JOB_PARAMS});
const next = () => Atomics.add(ctl, ${NEXT}, 1);
${INSTALL_SOURCE}const gen = ${GENS} + index;
// A runner that calls process.exit (or anything that ends the thread) must not leave the main
// thread waiting for a done count that never comes: say so in shared memory first.
onExit((code) => {
  if (Atomics.load(ctl, ${STOP}) === 1) return;
  Atomics.store(ctl, ${EXITS} + index, 1 + (code | 0));
  Atomics.store(ctl, ${DIED}, index);
  Atomics.store(ctl, ${ERROR}, 1);
  Atomics.add(ctl, ${DONE}, 1);
  Atomics.notify(ctl, ${DONE});
});
Atomics.store(ctl, ${READY} + index, 1);
Atomics.notify(ctl, ${READY} + index);
let seen = 0;
for (;;) {
  // Spin a little before sleeping: a model's next layer usually follows within microseconds, and
  // waking a sleeping thread costs tens of them.
  for (let s = 0; s < ${SPIN_CHECKS} && Atomics.load(ctl, gen) === seen; s++);
  Atomics.wait(ctl, gen, seen);
  seen = Atomics.load(ctl, gen);
  if (Atomics.load(ctl, ${STOP}) === 1) break;
  try {
    const id = ctl[${FAMILY}];
    // Registrations and releases posted since the last job, in order.
    for (let m; (m = receive()) !== undefined;) install(m.message);
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

/** Bytes of the browser pool's shared error text (the first failure's message, UTF-8, truncated). */
const ERROR_TEXT_BYTES = 4096;

/**
 * The Web Worker version of {@link workerSource}: started by an `init` message, it waits for jobs
 * with `Atomics.waitAsync` so that later messages (registrations, releases) are delivered between
 * jobs, and writes a failure's text into shared memory (the blocked main thread cannot read
 * messages).
 */
function browserWorkerSource(): string {
  return `
let ctl, index, params, errText;
${INSTALL_SOURCE}function report(text) {
  const bytes = new TextEncoder().encode(text).subarray(0, ${ERROR_TEXT_BYTES - 4});
  const len = new Int32Array(errText.buffer, 0, 1);
  if (Atomics.compareExchange(len, 0, 0, -1) !== 0) return;
  errText.set(bytes, 4);
  Atomics.store(len, 0, bytes.length);
}
const tick = () => new Promise((r) => setTimeout(r, 0));
async function loop() {
  const gen = ${GENS} + index;
  const next = () => Atomics.add(ctl, ${NEXT}, 1);
  Atomics.store(ctl, ${READY} + index, 1);
  Atomics.notify(ctl, ${READY} + index);
  let seen = 0;
  for (;;) {
    const w = Atomics.waitAsync(ctl, gen, seen);
    if (w.async) await w.value;
    seen = Atomics.load(ctl, gen);
    if (Atomics.load(ctl, ${STOP}) === 1) break;
    try {
      const id = ctl[${FAMILY}];
      // The registration was posted before this wake-up, but its message event may come after.
      for (let waited = 0; fams[id] === undefined && waited < 2000; waited++) await tick();
      const f = fams[id];
      if (f === undefined) throw new Error('pool worker ' + index + ': kernel family ' + id + ' was never sent to it');
      if (f.run === undefined) throw new Error('pool worker ' + index + ' could not set up kernel family ' + id + ': ' + f.error);
      f.run(f.E, f.memory, params, ctl[${OP}], index, ctl[${NTHREADS}], next);
    } catch (e) {
      report(String(e && e.stack || e));
      Atomics.store(ctl, ${ERROR}, 1);
    }
    Atomics.add(ctl, ${DONE}, 1);
    Atomics.notify(ctl, ${DONE});
  }
  close();
}
onmessage = (ev) => {
  const m = ev.data;
  if (m.init !== undefined) {
    ctl = new Int32Array(m.init.control);
    index = m.init.index;
    errText = new Uint8Array(m.init.errors);
    params = ctl.subarray(${PARAMS}, ${PARAMS + MAX_JOB_PARAMS});
    void loop();
  } else install(m);
};
`;
}

/** What the pool needs of a browser `Worker`. */
interface WebWorkerLike {
  postMessage(message: unknown): void;
  terminate(): void;
}
interface BrowserGlobals {
  crossOriginIsolated?: boolean;
  Worker?: new (url: string) => WebWorkerLike;
  Blob?: new (parts: string[], options: { type: string }) => unknown;
  URL?: { createObjectURL(blob: unknown): string; revokeObjectURL(url: string): void };
}

/** A worker of either kind: Node's `worker_threads.Worker` with its port, or a Web Worker. */
type Slot =
  | { kind: 'node'; worker: Worker; port: MessagePort; sent: boolean[]; errors: string[] }
  | { kind: 'web'; worker: WebWorkerLike; sent: boolean[]; errors: string[] };
interface Pool { control: Int32Array; slots: Slot[]; kind: 'node' | 'web'; errorText: Uint8Array | null; workerUrl: string | null }
let pool: Pool | undefined;

let blockingAllowed: boolean | undefined;
/** Whether this thread may `Atomics.wait` (Node and Web Workers may; a page's main thread may not). */
function canBlock(): boolean {
  if (blockingAllowed === undefined) {
    try {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
      blockingAllowed = true;
    } catch {
      blockingAllowed = false;
    }
  }
  return blockingAllowed;
}

/**
 * Why this environment runs every job on the calling thread, or null when it can have workers:
 * Node always can; a browser needs cross-origin isolation, `Worker`, and a thread that may block.
 * @example poolThreadsUnavailable() // 'the page is not cross-origin isolated (…)' on a plain page
 */
export function poolThreadsUnavailable(): string | null {
  if (typeof SharedArrayBuffer !== 'function') return 'this engine has no SharedArrayBuffer (shared memory), which threads need';
  if (platform().node !== null) return null;
  const g = globalThis as BrowserGlobals;
  if (g.crossOriginIsolated !== true || typeof SharedArrayBuffer !== 'function') return 'the page is not cross-origin isolated (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp for threads)';
  if (typeof g.Worker !== 'function' || typeof g.Blob !== 'function' || g.URL === undefined) return 'this context cannot start Web Workers';
  if (!canBlock()) return "this thread may not block with Atomics.wait (a page's main thread); run the model in a Web Worker for threads";
  return null;
}

/**
 * A worker thread died (exited, was killed) during a job, or could not be started. The job's
 * results are incomplete; the pool has already switched to running every job on the calling
 * thread, so calling the kernel again completes it (see {@link withWorkerRecovery}).
 */
export class WorkerDiedError extends KernelError {}

/** Creates the pool's worker threads (Node); replaceable so tests can make creation fail. */
export type WorkerFactory = (source: string, options: WorkerOptions) => Worker;
const defaultFactory: WorkerFactory = (source, options) => new (platform().node!.workerThreads.Worker)(source, options);
let workerFactory: WorkerFactory = defaultFactory;

/**
 * Sets how the pool creates worker threads (undefined: `new Worker`). For tests and embedders that
 * need to wrap thread creation; the pool's protocol is unchanged.
 * @example setPoolWorkerFactory(() => { throw new Error('no threads here'); })
 */
export function setPoolWorkerFactory(factory: WorkerFactory | undefined): void {
  workerFactory = factory ?? defaultFactory;
}

/** Why the pool runs every job on the calling thread, or null while it uses workers. */
let serialReason: string | null = null;

/**
 * Stops using worker threads for the rest of the process: every later job runs all its thread
 * indices one after another on the calling thread (bit-identical results, one core). Warns once.
 * @example degradePool('worker 1 exited with code 3')
 */
export function degradePool(reason: string): void {
  if (serialReason !== null) return;
  serialReason = reason;
  platform().warn(`${reason}; the kernels continue on one thread (results are unchanged, only slower)`, 'EC2T_POOL_SERIAL');
}

/** Why the pool has fallen back to one thread, or null when it uses worker threads. */
export function poolDegradedReason(): string | null {
  return serialReason;
}

/**
 * Forgets a fall-back to one thread (tests; or after the cause was fixed); the next threaded job
 * starts a fresh pool.
 * @example resetPoolDegraded()
 */
export function resetPoolDegraded(): void {
  serialReason = null;
}

/**
 * Runs a kernel call `fn` (which stages its inputs, runs its pool jobs and copies its outputs
 * out) and, when a worker thread died under it, runs it once more: the pool has then fallen back
 * to one thread, so the repeat cannot meet the same fate, and a long run is not lost. `fn` must
 * be repeatable: it may only write its outputs after its jobs finish, or overwrite them whole.
 * @example withWorkerRecovery(() => forwardAll(x, w, bias, out, g))
 */
export function withWorkerRecovery<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof WorkerDiedError)) throw e;
    return fn();
  }
}

/** Main-thread instances of each family's module and runner, for running jobs without workers. */
const serialRunners = new WeakMap<PoolFamily, { E: unknown; run: PoolRunner<unknown> }>();

function serialRunner(family: PoolFamily): { E: unknown; run: PoolRunner<unknown> } {
  let r = serialRunners.get(family);
  if (r === undefined) {
    const wa = (globalThis as unknown as { WebAssembly: { Instance: new (m: unknown, i: unknown) => { exports: unknown } } }).WebAssembly;
    const E = new wa.Instance(family.module, { env: { memory: family.memory } }).exports;
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the same self-contained runner text the workers evaluate
    r = { E, run: new Function(family.runnerFactory)() as PoolRunner<unknown> };
    serialRunners.set(family, r);
  }
  return r;
}

/** A job on the calling thread alone: index 0 (`main`) and then indices 1..t−1, sharing one chunk counter. */
function runSerial(family: PoolFamily, op: number, params: ArrayLike<number>, t: number, main: (next: PoolNext) => void): void {
  let ci = 0;
  const next = (): number => ci++;
  main(next);
  if (t <= 1) return;
  const r = serialRunner(family);
  const P = new Int32Array(MAX_JOB_PARAMS);
  for (let i = 0; i < params.length; i++) P[i] = params[i];
  for (let w = 1; w < t; w++) r.run(r.E, family.memory, P, op, w, t, next);
}

function getPool(): Pool {
  if (pool === undefined) {
    const kind = platform().node !== null ? 'node' : 'web';
    let workerUrl: string | null = null;
    if (kind === 'web') {
      const g = globalThis as BrowserGlobals;
      workerUrl = g.URL!.createObjectURL(new g.Blob!([browserWorkerSource()], { type: 'text/javascript' }));
    }
    pool = { control: new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4)), slots: [], kind, errorText: kind === 'web' ? new Uint8Array(new SharedArrayBuffer(ERROR_TEXT_BYTES)) : null, workerUrl };
  }
  return pool;
}

/** Worker slot `index` (1-based: index 0 is the main thread), started on first use. */
function slot(p: Pool, index: number): Slot {
  while (p.slots.length < index) {
    const index0 = p.slots.length + 1;
    if (p.kind === 'web') {
      const g = globalThis as BrowserGlobals;
      const worker = new g.Worker!(p.workerUrl!);
      worker.postMessage({ init: { control: p.control.buffer, index: index0, errors: p.errorText!.buffer } });
      p.slots.push({ kind: 'web', worker, sent: [], errors: [] });
      continue;
    }
    const node = platform().node!;
    const { port1, port2 } = new node.workerThreads.MessageChannel();
    const s: Extract<Slot, { kind: 'node' }> = {
      kind: 'node',
      // The source is CommonJS: a parent started with --input-type=module must not pass that on.
      worker: workerFactory(workerSource(node.workerPrelude), { eval: true, execArgv: node.process.execArgv.filter((a) => !a.startsWith('--input-type')), workerData: { control: p.control.buffer, index: p.slots.length + 1, port: port2 }, transferList: [port2] }),
      port: port1, sent: [], errors: [],
    };
    s.worker.on('error', (e: Error) => { s.errors.push(String(e.stack ?? e)); Atomics.store(p.control, ERROR, 1); });
    // Seen only between jobs (the main thread is blocked during one); the worker's own exit hook covers jobs.
    s.worker.on('exit', (code: number) => { if (Atomics.load(p.control, STOP) !== 1 && Atomics.load(p.control, EXITS + index0) === 0) Atomics.store(p.control, EXITS + index0, 1 + (code | 0)); });
    // Idle workers must not keep the process alive.
    s.worker.unref();
    s.port.unref();
    p.slots.push(s);
  }
  return p.slots[index - 1];
}

/**
 * Default thread count: the `threads` backend setting (API, `--threads`, `EC2T_THREADS`), else
 * `os.availableParallelism()` (kernels/settings.ts).
 * @example poolDefaultThreads() // 2 on a 2-core machine with no setting
 */
export function poolDefaultThreads(): number {
  return defaultThreads();
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
 * Whether workers 1..t−1 are started and ready for a job; when false the job runs on this thread
 * (same bits). Node's workers start here and are waited for (a start that fails or hangs drops the
 * pool to one thread for good). A Web Worker starts only once this thread yields to its event loop,
 * so waiting for it here would never end: web workers are started and the job runs here until they
 * report ready.
 */
function workersReady(p: Pool, t: number): boolean {
  if (p.kind === 'web') {
    for (let w = 1; w < t; w++) slot(p, w);
    for (let w = 1; w < t; w++) if (Atomics.load(p.control, READY + w) !== 1) return false;
    return true;
  }
  try {
    // Start every worker the job needs before waking any, so a failed start leaves nothing running.
    for (let w = 1; w < t; w++) slot(p, w);
    // A worker that fails before its loop (a broken environment) could never count itself done.
    const until = Date.now() + START_TIMEOUT_MS;
    for (let w = 1; w < t; w++) {
      if (Atomics.wait(p.control, READY + w, 0, Math.max(0, until - Date.now())) === 'timed-out') throw new Error(`worker ${w} did not start within ${START_TIMEOUT_MS / 1000} s`);
    }
    return true;
  } catch (e) {
    void shutdownPool();
    degradePool(`ec2t: could not start a kernel worker thread (${(e as Error)?.message ?? String(e)})`);
    return false;
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
  if (t <= 1 || serialReason !== null || poolThreadsUnavailable() !== null) {
    runSerial(family, op, params, t, main);
    return;
  }
  const p = getPool();
  const ctl = p.control;
  if (!workersReady(p, t)) {
    runSerial(family, op, params, t, main);
    return;
  }
  for (let w = 1; w < t; w++) {
    const code = Atomics.load(ctl, EXITS + w);
    if (code !== 0) {
      void shutdownPool();
      degradePool(`ec2t: kernel worker thread ${w} had exited (code ${code - 1}) between jobs`);
      runSerial(family, op, params, t, main);
      return;
    }
  }
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
      (s.kind === 'node' ? s.port : s.worker).postMessage({ id: family.id, module: family.module, memory: family.memory, factory: family.runnerFactory });
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
  // Wait for the workers even when the main share threw: they still use the shared memory. A short
  // spin first: the last units usually end within microseconds of the main thread's share.
  for (let s = 0; s < SPIN_CHECKS && Atomics.load(ctl, DONE) < t - 1; s++);
  for (;;) {
    const done = Atomics.load(ctl, DONE);
    if (done >= t - 1) break;
    // The timeout bounds the wait if a worker died without counting itself done.
    if (Atomics.wait(ctl, DONE, done, 10_000) === 'timed-out' && Atomics.load(ctl, ERROR) === 1) break;
  }
  if (mainError !== undefined) throw mainError;
  const died = Atomics.load(ctl, DIED);
  if (died !== 0) {
    const code = Atomics.load(ctl, EXITS + died) - 1;
    const what = `ec2t: kernel worker thread ${died} exited (code ${code}) during a ${family.name} job`;
    void shutdownPool();
    degradePool(what);
    throw new WorkerDiedError(`${what}; its results are incomplete. The pool now runs on one thread: call the kernel again`);
  }
  if (Atomics.load(ctl, ERROR) === 1) {
    const msgs: string[] = [];
    for (const s of p.slots) {
      msgs.push(...s.errors);
      if (s.kind !== 'node') continue;
      const { receiveMessageOnPort } = platform().node!.workerThreads;
      for (let m; (m = receiveMessageOnPort(s.port)) !== undefined;) msgs.push(String(m.message));
    }
    if (p.errorText !== null) {
      const len = new Int32Array(p.errorText.buffer, 0, 1)[0];
      // NOTE: decode a copy: TextDecoder refuses views of a SharedArrayBuffer.
      if (len > 0) msgs.push(new TextDecoder().decode(p.errorText.slice(4, 4 + len)));
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
  await Promise.all(p.slots.map((s) => {
    if (s.kind === 'web') return s.worker.terminate();
    s.port.close();
    return s.worker.terminate();
  }));
  if (p.workerUrl !== null) (globalThis as BrowserGlobals).URL?.revokeObjectURL(p.workerUrl);
}

/**
 * Starts the pool's workers for `threads` threads now and resolves, once they are ready, with the
 * number of threads a job may use: `threads`, or 1 where this environment runs every job on the
 * calling thread ({@link poolThreadsUnavailable}) or a worker did not start. In a browser this is
 * how threads arrive before the first job (a Web Worker starts only after its creator yields); in
 * Node it moves the ~50 ms start out of the first kernel call. Results do not depend on it.
 * @example const threads = await preparePool(); // 4 in a cross-origin-isolated Web Worker on 4 cores
 */
export async function preparePool(threads: number = poolDefaultThreads()): Promise<number> {
  checkThreadCount('preparePool', threads);
  if (threads <= 1 || serialReason !== null || poolThreadsUnavailable() !== null) return 1;
  const p = getPool();
  const until = Date.now() + START_TIMEOUT_MS;
  try {
    for (let w = 1; w < threads; w++) slot(p, w);
    for (let w = 1; w < threads; w++) {
      while (Atomics.load(p.control, READY + w) !== 1) {
        if (Date.now() > until) throw new Error(`worker ${w} did not start within ${START_TIMEOUT_MS / 1000} s`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  } catch (e) {
    void shutdownPool();
    degradePool(`ec2t: could not start a kernel worker thread (${(e as Error)?.message ?? String(e)})`);
    return 1;
  }
  return threads;
}
