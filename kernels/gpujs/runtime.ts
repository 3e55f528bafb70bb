/**
 * gpu.js runtime: loads gpu.js lazily, probes which of its modes this machine can run, picks one
 * (option, then `EC2T_GPUJS_MODE`, then the fastest available), and compiles kernels once per
 * (mode, op, geometry) with compile time kept apart from run time.
 *
 * Modes that matter in Node: `headlessgl` (GLSL through the native `gl` package; needs an X display,
 * e.g. `xvfb-run -a`), `webasm` (WebAssembly with f32x4 SIMD, synchronous and single-threaded under
 * our synchronous kernel contract), `cpu` (transpiled JavaScript). `webgpu` is listed but never
 * available: its kernels only return Promises and our kernel signatures are synchronous.
 */
import { KernelError } from '../../base/errors.js';
import { platform } from '../../base/platform.js';
import { backendSettings, settingSource } from '../settings.js';

/** gpu.js modes this backend knows about, in default preference order. */
export const GPUJS_MODES = ['headlessgl', 'webasm', 'cpu', 'webgpu'] as const;
/** A gpu.js mode name. */
export type GpujsMode = (typeof GPUJS_MODES)[number];

/** Whether a mode can run here and, when it cannot, why. */
export interface GpujsModeInfo {
  readonly mode: GpujsMode;
  readonly available: boolean;
  /** Why the mode is unavailable, or what it runs on when available. */
  readonly reason: string;
}

/** The subset of a compiled gpu.js kernel (its "run shortcut") this backend uses. */
export interface GpujsKernel {
  (...args: unknown[]): unknown;
  kernel: { constructor: { name: string }; fallbackReason?: string | null; built?: boolean; build(...args: unknown[]): void };
  destroy(removeCanvasReferences?: boolean): void;
}

interface GpujsInstance {
  createKernel(source: string, settings: Record<string, unknown>): GpujsKernel;
  destroy(): void;
}

interface GpujsModule {
  GPU: { new (settings: { mode: string }): GpujsInstance; isHeadlessGLSupported: boolean; isWebAssemblySupported: boolean };
}

/** Node's `require` from this file (gpu.js and `gl` are CommonJS); created on first use, Node only. */
let nodeRequire: NodeJS.Require | undefined;
function requireHere(id: string): unknown {
  nodeRequire ??= platform().node!.module.createRequire(import.meta.url);
  return nodeRequire(id);
}
requireHere.resolve = (id: string, options?: { paths?: string[] }): string => {
  nodeRequire ??= platform().node!.module.createRequire(import.meta.url);
  return nodeRequire.resolve(id, options);
};
let gpujsModule: GpujsModule | undefined;
let gpujsLoadError: string | undefined;

/** Loads gpu.js once (it costs start-up time, so only this backend pays it); undefined + reason on failure. */
function loadGpujs(): GpujsModule | undefined {
  if (gpujsModule !== undefined || gpujsLoadError !== undefined) return gpujsModule;
  try {
    if (platform().node !== null) gpujsModule = requireHere('gpu.js') as GpujsModule;
    else {
      // A browser page brings gpu.js itself: its browser build defines the global GPU.
      const GPU = (globalThis as unknown as { GPU?: GpujsModule['GPU'] }).GPU;
      if (GPU === undefined) throw new Error('gpu.js is not on this page: load its browser build (gpu-browser.min.js, which defines GPU) before using the gpujs backend');
      gpujsModule = { GPU };
    }
  } catch (e) {
    gpujsLoadError = `gpu.js failed to load: ${(e as Error).message.split('\n')[0]}`;
  }
  return gpujsModule;
}

/** gpu.js kernel class name → mode, to check that the backend asked for is the one that ran. */
const CLASS_MODE: Record<string, string> = {
  HeadlessGLKernel: 'headlessgl',
  WebAssemblyKernel: 'webasm',
  CPUKernel: 'cpu',
  WebGLKernel: 'webgl',
  WebGL2Kernel: 'webgl2',
  WebGPUKernel: 'webgpu',
};

/** The mode a compiled kernel actually runs in (gpu.js may degrade a kernel to cpu with a console warning). */
export function actualMode(k: GpujsKernel): string {
  return CLASS_MODE[k.kernel.constructor.name] ?? k.kernel.constructor.name;
}

const instances = new Map<GpujsMode, GpujsInstance>();

/** The shared `GPU` instance of a mode (created on first use). */
export function gpuInstance(mode: GpujsMode): GpujsInstance {
  let gpu = instances.get(mode);
  if (gpu === undefined) {
    const m = loadGpujs();
    if (m === undefined) throw new KernelError(gpujsLoadError ?? 'gpu.js failed to load');
    gpu = new m.GPU({ mode });
    instances.set(mode, gpu);
  }
  return gpu;
}

/** Settings every kernel gets: float32 in and out, loops bounded by the geometry not gpu.js's default 1000. */
export function kernelSettings(output: readonly number[], constants: Record<string, number>, maxLoop: number): Record<string, unknown> {
  return {
    output: [...output],
    constants,
    // NOTE: GL backends unroll a loop with a non-literal bound into `for (i < loopMaxIterations) if (!(cond)) break`,
    // so the cap must cover the longest loop; +1 keeps a zero-trip loop legal.
    loopMaxIterations: Math.max(1, maxLoop + 1),
    precision: 'single',
    tactic: 'precision',
    // NOTE: divisions in our kernels are floor((i + 0.5) / d) on small integers, robust without gpu.js's fix.
    fixIntegerDivisionAccuracy: false,
  };
}

/** Probe kernel: a strided dot product with a loop, a branch and a floor-division, enough to catch a broken mode. */
function probeSource(this: { thread: { x: number }; constants: { K: number; C: number } }, a: number[], b: number[]): number {
  const i = this.thread.x;
  const q = Math.floor((i + 0.5) / this.constants.C);
  const r = i - q * this.constants.C;
  let s = 0;
  for (let p = 0; p < this.constants.K; p++) {
    if (p !== r) s += a[q * this.constants.K + p] * b[p];
  }
  return s;
}

function probeMode(mode: GpujsMode): GpujsModeInfo {
  const m = loadGpujs();
  if (m === undefined) return { mode, available: false, reason: gpujsLoadError ?? 'gpu.js failed to load' };
  if (mode === 'webgpu') {
    return {
      mode,
      available: false,
      reason: 'webgpu kernels only return Promises (and Node has no navigator.gpu adapter here); ec2t kernels are synchronous',
    };
  }
  if (mode === 'headlessgl') {
    try {
      requireHere.resolve('gl', { paths: [requireHere.resolve('gpu.js')] });
    } catch {
      return { mode, available: false, reason: 'the optional native package `gl` is not installed (run .ci/install-gl.sh, which builds gl@8.1.6 from source)' };
    }
    try {
      requireHere(requireHere.resolve('gl', { paths: [requireHere.resolve('gpu.js')] }));
    } catch (e) {
      return { mode, available: false, reason: `the native package \`gl\` is installed but does not load (not built?): ${(e as Error).message.split('\n')[0]}` };
    }
    if (!m.GPU.isHeadlessGLSupported) {
      return {
        mode,
        available: false,
        reason: `\`gl\` loads but cannot create a GL context (no X display${platform().env('DISPLAY') ? ` at DISPLAY=${platform().env('DISPLAY')}` : ''}; run under \`xvfb-run -a\`)`,
      };
    }
  }
  if (mode === 'webasm' && !m.GPU.isWebAssemblySupported) return { mode, available: false, reason: 'WebAssembly is not supported by this runtime' };
  try {
    const K = 5;
    const C = 3;
    const rows = 4;
    const k = gpuInstance(mode).createKernel(probeSource.toString(), kernelSettings([rows * C], { K, C }, K));
    const a = Float32Array.from({ length: rows * K }, (_, i) => (i % 7) - 3.5);
    const b = Float32Array.from({ length: K }, (_, i) => 0.25 * i + 1);
    const got = k(a, b) as Float32Array;
    const ran = actualMode(k);
    if (ran !== mode) {
      k.destroy();
      return { mode, available: false, reason: `gpu.js degraded the probe kernel to ${ran}: ${k.kernel.fallbackReason ?? 'no reason given'}` };
    }
    for (let i = 0; i < rows * C; i++) {
      const q = Math.floor(i / C);
      let want = 0;
      for (let p = 0; p < K; p++) if (p !== i % C) want += a[q * K + p] * b[p];
      if (!(Math.abs(got[i] - want) <= 1e-5 * (1 + Math.abs(want)))) {
        k.destroy();
        return { mode, available: false, reason: `probe kernel computed a wrong value at [${i}]: ${got[i]} instead of ${want} (float precision unsupported?)` };
      }
    }
    k.destroy();
  } catch (e) {
    return { mode, available: false, reason: `probe kernel failed: ${(e as Error).message.split('\n')[0]}` };
  }
  const what: Record<string, string> = {
    headlessgl: 'GLSL via headless-gl',
    webasm: 'WebAssembly, f32x4 SIMD, synchronous single thread',
    cpu: 'gpu.js transpiled JavaScript',
  };
  return { mode, available: true, reason: what[mode] ?? mode };
}

const probed = new Map<GpujsMode, GpujsModeInfo>();

/**
 * Lists every gpu.js mode with whether it runs on this machine; a mode that cannot start says why.
 * Each mode is probed once (compile + run a tiny kernel) and the answer cached.
 * @example listGpujsModes().filter((m) => m.available).map((m) => m.mode) // ['webasm', 'cpu']
 */
export function listGpujsModes(): GpujsModeInfo[] {
  return GPUJS_MODES.map((mode) => {
    let info = probed.get(mode);
    if (info === undefined) {
      info = probeMode(mode);
      probed.set(mode, info);
    }
    return info;
  });
}

function isMode(v: string): v is GpujsMode {
  return (GPUJS_MODES as readonly string[]).includes(v);
}

/**
 * Picks the gpu.js mode: `requested`, else the `gpujsMode` backend setting (API, `EC2T_GPUJS_MODE`), else the first available of
 * headlessgl → webasm → cpu. Throws a {@link KernelError} naming the reason when the requested
 * mode cannot run.
 * @example resolveGpujsMode('webasm') // 'webasm'
 */
export function resolveGpujsMode(requested?: string): GpujsMode {
  const want = requested ?? backendSettings().gpujsMode;
  const modes = listGpujsModes();
  const avail = modes.filter((m) => m.available).map((m) => m.mode);
  if (want === undefined || want === 'auto') {
    if (avail.length === 0) {
      throw new KernelError(`no gpu.js mode can run here: ${modes.map((m) => `${m.mode}: ${m.reason}`).join('; ')}`);
    }
    return avail[0];
  }
  const src = requested !== undefined ? 'requested' : settingSource('gpujsMode') === 'env' ? 'EC2T_GPUJS_MODE' : 'gpujsMode setting';
  if (!isMode(want)) throw new KernelError(`${src} gpu.js mode "${want}" is not a mode; valid: auto, ${GPUJS_MODES.join(', ')}`);
  const info = modes.find((m) => m.mode === want);
  if (info === undefined || !info.available) {
    throw new KernelError(
      `${src} gpu.js mode "${want}" cannot run here: ${info?.reason ?? 'unknown'}; available: ${avail.length ? avail.join(', ') : 'none'}`,
    );
  }
  return want;
}

// ------------------------------------------------------------------------------------ compile cache

/** Timing of one compiled (mode, op, geometry) kernel. */
export interface GpujsKernelStat {
  readonly mode: GpujsMode;
  readonly op: string;
  readonly key: string;
  /** Milliseconds spent in gpu.js's build (parse, translate, compile/instantiate), once. */
  compileMs: number;
  /**
   * Milliseconds of the first run, kept apart because GL drivers finish compiling (link, JIT) at
   * the first draw; NaN until it ran.
   */
  firstRunMs: number;
  /** Runs after the first. */
  runs: number;
  /** Milliseconds of the runs after the first, argument upload and readback into `out` included. */
  runMs: number;
}

interface Entry {
  kernel: GpujsKernel;
  stat: GpujsKernelStat;
}

/** Compiled kernels kept at once; the oldest is destroyed beyond this (geometries in training are few). */
const CACHE_LIMIT = 256;
const cache = new Map<string, Entry>();
const evicted: GpujsKernelStat[] = [];

/** Description of one kernel to compile: source function, output dims `[x, y, z]`, baked constants, longest loop. */
export interface KernelSpec {
  readonly source: string;
  readonly output: readonly [number, number, number];
  readonly constants: Record<string, number>;
  readonly maxLoop: number;
}

/**
 * Runs the cached kernel for (mode, op, key), compiling it from `spec()` on first use, and copies its
 * 3-D result `[z][y][x]` into `out` (which must hold x·y·z elements). Build time and run time are
 * recorded separately (see {@link gpujsKernelStats}).
 */
export function runCached(mode: GpujsMode, op: string, key: string, spec: () => KernelSpec, args: readonly unknown[], out: Float32Array): void {
  const full = `${mode}|${op}|${key}`;
  let entry = cache.get(full);
  if (entry === undefined) {
    const s = spec();
    const t0 = performance.now();
    const kernel = gpuInstance(mode).createKernel(s.source, kernelSettings(s.output, s.constants, s.maxLoop));
    kernel.kernel.build(...args);
    const compileMs = performance.now() - t0;
    const ran = actualMode(kernel);
    if (ran !== mode) {
      const why = kernel.kernel.fallbackReason ?? 'no reason given';
      kernel.destroy();
      throw new KernelError(`gpu.js ${op} asked for mode ${mode} but gpu.js degraded it to ${ran} (${why}); geometry ${key}`);
    }
    entry = { kernel, stat: { mode, op, key, compileMs, firstRunMs: NaN, runs: 0, runMs: 0 } };
    if (cache.size >= CACHE_LIMIT) {
      const [oldKey, old] = cache.entries().next().value as [string, Entry];
      old.kernel.destroy();
      evicted.push(old.stat);
      cache.delete(oldKey);
    }
    cache.set(full, entry);
  }
  const t0 = performance.now();
  const result = entry.kernel(...args);
  copyOut3d(result, out);
  const ms = performance.now() - t0;
  if (Number.isNaN(entry.stat.firstRunMs)) entry.stat.firstRunMs = ms;
  else {
    entry.stat.runMs += ms;
    entry.stat.runs++;
  }
}

/** Copies gpu.js's 3-D result (`[z][y]` rows of Float32Array) into flat `out`, in one copy when the rows are views of one buffer. */
function copyOut3d(result: unknown, out: Float32Array): void {
  if (result instanceof Float32Array) {
    out.set(result.subarray(0, out.length));
    return;
  }
  const planes = result as Float32Array[][];
  const first = planes[0][0];
  const lastPlane = planes[planes.length - 1];
  const last = lastPlane[lastPlane.length - 1];
  // webasm erects its rows as subarrays of one contiguous copy: check the last row sits where a flat layout puts it.
  if (last.buffer === first.buffer && last.byteOffset === first.byteOffset + (out.length - last.length) * 4) {
    out.set(new Float32Array(first.buffer, first.byteOffset, out.length));
    return;
  }
  let off = 0;
  for (const plane of planes) {
    for (const row of plane) {
      out.set(row, off);
      off += row.length;
    }
  }
}

/**
 * Compile, first-run and steady run times of every gpu.js kernel compiled in this process
 * (including evicted ones), plus totals.
 * @example const { totalCompileMs, totalRunMs } = gpujsKernelStats();
 */
export function gpujsKernelStats(): {
  kernels: GpujsKernelStat[];
  compiles: number;
  totalCompileMs: number;
  totalFirstRunMs: number;
  runs: number;
  totalRunMs: number;
} {
  const kernels = [...evicted, ...[...cache.values()].map((e) => e.stat)].map((s) => ({ ...s }));
  return {
    kernels,
    compiles: kernels.length,
    totalCompileMs: kernels.reduce((a, s) => a + s.compileMs, 0),
    totalFirstRunMs: kernels.reduce((a, s) => a + (Number.isNaN(s.firstRunMs) ? 0 : s.firstRunMs), 0),
    runs: kernels.reduce((a, s) => a + s.runs, 0),
    totalRunMs: kernels.reduce((a, s) => a + s.runMs, 0),
  };
}

/** Destroys every cached kernel (all modes, or one) and forgets its stats; the next call recompiles. */
export function clearGpujsCache(mode?: GpujsMode): void {
  for (const [k, e] of [...cache.entries()]) {
    if (mode !== undefined && e.stat.mode !== mode) continue;
    e.kernel.destroy();
    cache.delete(k);
  }
  if (mode === undefined) evicted.length = 0;
  else for (let i = evicted.length - 1; i >= 0; i--) if (evicted[i].mode === mode) evicted.splice(i, 1);
}
