/**
 * gpu.js runtime: probes which of gpu.js's modes this machine can run, picks one (option, then
 * `EC2T_GPUJS_MODE`, then the fastest available), and compiles kernels once per (mode, op, geometry)
 * with compile time kept apart from run time. The same module runs in Node and in browsers: it
 * imports gpu.js as a module (a browser bundle gets gpu.js's browser build through the package's
 * `browser` field) and reaches Node's `require` only through the platform layer, to explain why
 * headless-gl cannot start.
 *
 * Modes: `headlessgl` (Node only: GLSL through the native `gl` package; needs an X display, e.g.
 * `xvfb-run -a`), `webgl2` (browser only: GLSL on the page's GPU), `webasm` (WebAssembly with
 * f32x4 SIMD, synchronous and single-threaded under our synchronous kernel contract), `cpu`
 * (transpiled JavaScript). `webgpu` is listed but never available to the synchronous kernels: its
 * kernels only return Promises. Browsers that offer a WebGPU adapter run the same kernel sources
 * through {@link gpujsWebgpuKernels}, which is asynchronous.
 */
import * as gpujsNamespace from 'gpu.js';
import { KernelError } from '../../base/errors.js';
import { platform } from '../../base/platform.js';
import { backendSettings, settingSource } from '../settings.js';

/** gpu.js modes this backend knows about, in default preference order. */
export const GPUJS_MODES = ['headlessgl', 'webgl2', 'webasm', 'cpu', 'webgpu'] as const;
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
  GPU: {
    new (settings: { mode: string }): GpujsInstance;
    isHeadlessGLSupported: boolean;
    isWebGL2Supported: boolean;
    isWebAssemblySupported: boolean;
    isWebGPUSupported: boolean;
    isWebGPUAvailable(): Promise<boolean>;
  };
}

// NOTE: gpu.js is CommonJS. Node's ESM loader hands its exports object over as `default`; esbuild's
// browser bundle resolves the package's `browser` field (a UMD whose export is the GPU class, which
// carries `GPU.GPU`). Both expose `.GPU`.
const gpujs = ((gpujsNamespace as unknown as { default?: GpujsModule }).default ?? (gpujsNamespace as unknown as GpujsModule));

/** Node's `require` from this file (gpu.js and `gl` are CommonJS), through the platform layer; undefined in a browser. */
function nodeRequire(): NodeJS.Require | undefined {
  return platform().node?.module.createRequire(import.meta.url);
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
    gpu = new gpujs.GPU({ mode });
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

/** Why headless-gl cannot run here (gpu.js only says that it cannot): undefined when it can. */
function headlessGlProblem(): string | undefined {
  if (gpujs.GPU.isHeadlessGLSupported) return undefined;
  const req = nodeRequire();
  if (req === undefined) return 'headless-gl is a native Node package; in a browser use webgl2';
  let glPath: string;
  try {
    glPath = req.resolve('gl', { paths: [req.resolve('gpu.js')] });
  } catch {
    return 'the optional native package `gl` is not installed (run .ci/install-gl.sh, which builds gl@8.1.6 from source)';
  }
  try {
    req(glPath);
  } catch (e) {
    return `the native package \`gl\` is installed but does not load (not built?): ${(e as Error).message.split('\n')[0]}`;
  }
  const display = platform().env('DISPLAY');
  return `\`gl\` loads but cannot create a GL context (no X display${display ? ` at DISPLAY=${display}` : ''}; run under \`xvfb-run -a\`)`;
}

const PROBE = { K: 5, C: 3, rows: 4 };

interface ProbeRun {
  got: Float32Array;
  ran: string;
  fallbackReason: string | null | undefined;
  a: Float32Array;
  b: Float32Array;
}

/** Compiles and runs the probe kernel once in `mode` (a Promise for webgpu, whose kernels return Promises). */
function runProbe(mode: GpujsMode): ProbeRun | Promise<ProbeRun> {
  const { K, C, rows } = PROBE;
  const k = gpuInstance(mode).createKernel(probeSource.toString(), kernelSettings([rows * C], { K, C }, K));
  const a = Float32Array.from({ length: rows * K }, (_, i) => (i % 7) - 3.5);
  const b = Float32Array.from({ length: K }, (_, i) => 0.25 * i + 1);
  const finish = (got: unknown): ProbeRun => {
    const run = { got: got as Float32Array, ran: actualMode(k), fallbackReason: k.kernel.fallbackReason, a, b };
    k.destroy();
    return run;
  };
  const got = k(a, b);
  return got instanceof Promise ? got.then(finish) : finish(got);
}

/** What is wrong with a probe run (degraded to another mode, a wrong value), or undefined. */
function checkProbe(run: ProbeRun, mode: GpujsMode): string | undefined {
  const { K, C, rows } = PROBE;
  if (run.ran !== mode) return `gpu.js degraded the probe kernel to ${run.ran}: ${run.fallbackReason ?? 'no reason given'}`;
  for (let i = 0; i < rows * C; i++) {
    const q = Math.floor(i / C);
    let want = 0;
    for (let p = 0; p < K; p++) if (p !== i % C) want += run.a[q * K + p] * run.b[p];
    if (!(Math.abs(run.got[i] - want) <= 1e-5 * (1 + Math.abs(want)))) {
      return `probe kernel computed a wrong value at [${i}]: ${run.got[i]} instead of ${want} (float precision unsupported?)`;
    }
  }
  return undefined;
}

function probeMode(mode: GpujsMode): GpujsModeInfo {
  const m = gpujs;
  if (mode === 'webgpu') {
    return {
      mode,
      available: false,
      reason: m.GPU.isWebGPUSupported
        ? 'webgpu kernels only return Promises and ec2t kernels are synchronous; this browser offers navigator.gpu: use the asynchronous gpujsWebgpuKernels()'
        : 'webgpu kernels only return Promises and ec2t kernels are synchronous (and there is no navigator.gpu here)',
    };
  }
  if (mode === 'headlessgl') {
    const problem = headlessGlProblem();
    if (problem !== undefined) return { mode, available: false, reason: problem };
  }
  if (mode === 'webgl2' && !m.GPU.isWebGL2Supported) {
    return { mode, available: false, reason: 'no WebGL2 context here (gpu.js runs webgl2 only in a browser that offers it)' };
  }
  if (mode === 'webasm' && !m.GPU.isWebAssemblySupported) return { mode, available: false, reason: 'WebAssembly is not supported by this runtime' };
  try {
    const problem = checkProbe(runProbe(mode) as ProbeRun, mode);
    if (problem !== undefined) return { mode, available: false, reason: problem };
  } catch (e) {
    return { mode, available: false, reason: `probe kernel failed: ${(e as Error).message.split('\n')[0]}` };
  }
  const what: Record<string, string> = {
    headlessgl: 'GLSL via headless-gl',
    webgl2: 'GLSL via the browser\'s WebGL2',
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
 * headlessgl → webgl2 → webasm → cpu. Throws a {@link KernelError} naming the reason when the requested
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

/** One op at one geometry: what to compile (built lazily, only on a cache miss), its cache key, and the arguments it runs on. */
export interface GpujsLaunch {
  readonly op: string;
  readonly key: string;
  readonly spec: () => KernelSpec;
  readonly args: readonly unknown[];
}

/** Compiles `launch` in `mode` (gpu.js builds its kernel on the first call's argument types), checking gpu.js did not degrade it. */
function compile(mode: GpujsMode, launch: GpujsLaunch): Entry {
  const s = launch.spec();
  const t0 = performance.now();
  const kernel = gpuInstance(mode).createKernel(s.source, kernelSettings(s.output, s.constants, s.maxLoop));
  kernel.kernel.build(...launch.args);
  const compileMs = performance.now() - t0;
  const ran = actualMode(kernel);
  if (ran !== mode) {
    const why = kernel.kernel.fallbackReason ?? 'no reason given';
    kernel.destroy();
    throw new KernelError(`gpu.js ${launch.op} asked for mode ${mode} but gpu.js degraded it to ${ran} (${why}); geometry ${launch.key}`);
  }
  const entry: Entry = { kernel, stat: { mode, op: launch.op, key: launch.key, compileMs, firstRunMs: NaN, runs: 0, runMs: 0 } };
  if (cache.size >= CACHE_LIMIT) {
    const [oldKey, old] = cache.entries().next().value as [string, Entry];
    old.kernel.destroy();
    evicted.push(old.stat);
    cache.delete(oldKey);
  }
  cache.set(`${mode}|${launch.op}|${launch.key}`, entry);
  return entry;
}

function record(stat: GpujsKernelStat, ms: number): void {
  if (Number.isNaN(stat.firstRunMs)) stat.firstRunMs = ms;
  else {
    stat.runMs += ms;
    stat.runs++;
  }
}

/**
 * Runs the cached kernel of `launch` in `mode`, compiling it on first use, and copies its 3-D result
 * `[z][y][x]` into `out` (which must hold x·y·z elements). Build time and run time are recorded
 * separately (see {@link gpujsKernelStats}).
 * @example runCached('webasm', matmulLaunch(a, b, out, g)!, out)
 */
export function runCached(mode: GpujsMode, launch: GpujsLaunch, out: Float32Array): void {
  if (mode === 'webgpu') throw new KernelError('gpu.js webgpu kernels are asynchronous: run them with runCachedAsync');
  const entry = cache.get(`${mode}|${launch.op}|${launch.key}`) ?? compile(mode, launch);
  const t0 = performance.now();
  copyOut3d(entry.kernel(...launch.args), out);
  record(entry.stat, performance.now() - t0);
}

/**
 * {@link runCached} for modes whose kernels return Promises (gpu.js's `webgpu`, where a result is read
 * back with `mapAsync`); resolves once `out` holds the result.
 * @example await runCachedAsync('webgpu', matmulLaunch(a, b, out, g)!, out)
 */
export async function runCachedAsync(mode: GpujsMode, launch: GpujsLaunch, out: Float32Array): Promise<void> {
  const entry = cache.get(`${mode}|${launch.op}|${launch.key}`) ?? compile(mode, launch);
  const t0 = performance.now();
  copyOut3d(await entry.kernel(...launch.args), out);
  record(entry.stat, performance.now() - t0);
}

/**
 * Whether gpu.js's `webgpu` mode runs here, found by asking the browser for an adapter and running the
 * probe kernel; a mode that cannot run says why (no `navigator.gpu`, no adapter, a wrong value).
 * @example if ((await probeGpujsWebgpu()).available) await runCachedAsync('webgpu', launch, out)
 */
export async function probeGpujsWebgpu(): Promise<GpujsModeInfo> {
  const mode = 'webgpu';
  if (!gpujs.GPU.isWebGPUSupported) return { mode, available: false, reason: 'there is no navigator.gpu here (a browser without WebGPU, or Node)' };
  if (!(await gpujs.GPU.isWebGPUAvailable())) {
    return { mode, available: false, reason: 'navigator.gpu exists but offers no adapter (headless Chromium needs --enable-unsafe-webgpu)' };
  }
  try {
    const problem = checkProbe(await runProbe(mode), mode);
    if (problem !== undefined) return { mode, available: false, reason: problem };
  } catch (e) {
    return { mode, available: false, reason: `probe kernel failed: ${(e as Error).message.split('\n')[0]}` };
  }
  return { mode, available: true, reason: 'WGSL compute shaders via the browser\'s WebGPU (asynchronous kernels)' };
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
