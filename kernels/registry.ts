/**
 * The kernel registry, keyed by (op, backend). The engine asks the registry for a kernel and
 * never imports a backend directly, so the backend can be forced (API, `EC2T_BACKEND`, CLI flag)
 * or chosen per op and size (`auto`).
 */
import { KernelError } from '../base/errors.js';
import { backendSettings, setBackendSettings } from './settings.js';
import type { Backend, BackendChoice, KernelMap, KernelName } from './types.js';

const table = new Map<KernelName, Map<Backend, KernelMap[KernelName]>>();

/**
 * Chooser used by `auto`: given the op and a size hint (e.g. FLOPs), returns the backend to use,
 * or undefined to fall back to the default order. Installed by calibration code.
 */
export type AutoChooser = (op: KernelName, sizeHint: number, available: readonly Backend[]) => Backend | undefined;

/** Default preference of `auto` when no chooser decides: fast cpu first, the spec last. */
const AUTO_ORDER: readonly Backend[] = ['cpu', 'gpujs', 'reference'];

let chooser: AutoChooser | undefined;
const trace = new Map<string, number>();

/**
 * Registers `impl` as the `backend` kernel for `op`. Registering the same pair twice throws: two
 * modules claiming one slot is a packaging bug, not something to resolve silently.
 * @example registerKernel('matmul', 'cpu', matmulCpu);
 */
export function registerKernel<K extends KernelName>(op: K, backend: Backend, impl: KernelMap[K]): void {
  let byBackend = table.get(op);
  if (byBackend === undefined) {
    byBackend = new Map();
    table.set(op, byBackend);
  }
  if (byBackend.has(backend)) throw new KernelError(`kernel ${op} is already registered for backend ${backend}`);
  byBackend.set(backend, impl);
}

/** Backends that have a kernel for `op`. */
export function kernelBackends(op: KernelName): Backend[] {
  return [...(table.get(op)?.keys() ?? [])];
}

/** True when `op` has a kernel on `backend`. */
export function hasKernel(op: KernelName, backend: Backend): boolean {
  return table.get(op)?.has(backend) ?? false;
}

/**
 * Returns the kernel for `op` on a specific backend, throwing a clear error if there is none.
 * Tests use this to compare backends; the engine uses {@link kernel}.
 */
export function kernelFor<K extends KernelName>(op: K, backend: Backend): KernelMap[K] {
  const impl = table.get(op)?.get(backend);
  if (impl === undefined) {
    const have = kernelBackends(op);
    throw new KernelError(
      `no ${backend} kernel for op ${op}; registered backends: ${have.length ? have.join(', ') : 'none'}` +
        ' (did you import the backend module, e.g. kernels/index.js?)',
    );
  }
  return impl as KernelMap[K];
}

/** Resolves which backend the current choice picks for `op` at a given size. */
export function resolveBackend(op: KernelName, sizeHint = 0): Backend {
  const available = kernelBackends(op);
  if (available.length === 0) throw new KernelError(`no kernel registered for op ${op}`);
  const choice = backendSettings().backend;
  if (choice !== 'auto') {
    if (available.includes(choice)) return choice;
    // NOTE: a forced backend that lacks an op falls back to cpu, then reference, so forcing
    // gpujs still runs ops gpu.js has no kernel for; the trace shows what actually ran.
    for (const b of ['cpu', 'reference'] as const) if (available.includes(b)) return b;
  }
  const picked = chooser?.(op, sizeHint, available);
  if (picked !== undefined && available.includes(picked)) return picked;
  for (const b of AUTO_ORDER) if (available.includes(b)) return b;
  return available[0];
}

/**
 * The kernel the engine should run for `op` now. `sizeHint` (FLOPs or elements) lets `auto`
 * pick per size. When tracing is on, records which backend ran; a backend whose families pick an
 * implementation (cpu: TypeScript or WebAssembly, threads) records that too ({@link traceImplementation}).
 */
export function kernel<K extends KernelName>(op: K, sizeHint = 0): KernelMap[K] {
  const backend = resolveBackend(op, sizeHint);
  if (backendSettings().traceKernels) {
    const key = `${op}@${backend}`;
    trace.set(key, (trace.get(key) ?? 0) + 1);
  }
  return kernelFor(op, backend);
}

/**
 * Records that `what` ran as the implementation of `op` (e.g. `traceImplementation('conv2dForward',
 * 'wasm-simd, 2 threads')`), when tracing is on. Called by the families that choose again inside
 * a backend, so the trace names the code that ran, not only the registry backend.
 */
export function traceImplementation(op: string, what: string): void {
  if (!backendSettings().traceKernels) return;
  const key = `${op}: ${what}`;
  trace.set(key, (trace.get(key) ?? 0) + 1);
}

/** Forces a backend for every op (`auto` restores per-op selection); the API level of the `backend` setting. */
export function setBackend(b: BackendChoice): void {
  setBackendSettings({ backend: b });
}

/** The current backend choice (kernels/settings.ts `backend`). */
export function getBackend(): BackendChoice {
  return backendSettings().backend;
}

/** Installs the chooser `auto` consults (from calibration or a measured table). */
export function setAutoChooser(c: AutoChooser | undefined): void {
  chooser = c;
}

/** Turns the kernel trace on or off (the API level of the `traceKernels` setting); see {@link kernelTrace}. */
export function setKernelTrace(on: boolean): void {
  setBackendSettings({ traceKernels: on });
  if (!on) trace.clear();
}

/**
 * Which kernel ran for each op since tracing started: the registry's pick as `op@backend`, and
 * the implementation a family chose inside it as `op: implementation`:
 * `{ 'conv2dForward@cpu': 12, 'conv2dForward: wasm-simd, 2 threads': 12, ... }`.
 */
export function kernelTrace(): Record<string, number> {
  return Object.fromEntries([...trace.entries()].sort());
}
