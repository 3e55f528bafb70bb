/**
 * Backend settings: every knob that chooses how a kernel runs, in one typed place.
 *
 * The registry picks a backend (`backend`); inside the cpu backend each family then picks between
 * plain TypeScript, WebAssembly SIMD and threaded WebAssembly from these same settings, and
 * `traceKernels` records what actually ran (registry.ts `kernelTrace`).
 *
 * Precedence, per setting: **API call > CLI flag > environment > default.**
 * - API: {@link setBackendSettings} (and the per-family setters that call it, e.g. `setGemmThreads`).
 * - CLI flag: {@link setBackendFlags} (`--backend`, `--threads`; cli/backend.ts).
 * - Environment: the `EC2T_*` variables in {@link ENV_VARS} (through the platform layer: a browser
 *   has none), read once on first use
 *   ({@link reloadBackendEnv} reads them again). A malformed value is a {@link ValueError} naming
 *   the variable, thrown when the settings are first read.
 * Setting a key to `undefined` at a level removes it there, so the next level shows through.
 */
import { ValueError } from '../base/errors.js';
import { platform } from '../base/platform.js';
import type { BackendChoice } from './types.js';

/** Most threads any kernel uses (and the most the worker pool starts). */
export const MAX_THREADS = 64;

/**
 * When a ternary layer gets generated WebAssembly: `lazy` on its third call with an input geometry
 * (one-off calls never pay code generation), `eager` on its first call, `off` never. Speed only:
 * results are bit-identical in every mode.
 */
export type TernaryJitMode = 'lazy' | 'eager' | 'off';

/** How the WASM GEMM lays out a non-transposed B: `auto` (copy rows up to 64 rows of C, else pack), `pack` always, `copy` always. */
export type PackBMode = 'auto' | 'pack' | 'copy';

/** Every backend knob. `undefined` where the default is decided at run time (thread count, gpu.js mode). */
export interface BackendSettings {
  /** Registry backend for every op, or `auto` (per op and size). Env `EC2T_BACKEND`, flag `--backend`. */
  readonly backend: BackendChoice;
  /** Threads of the WASM GEMM, convs and ternary convs, 1..64; undefined: available cores. Env `EC2T_THREADS`, flag `--threads`. */
  readonly threads: number | undefined;
  /** Threads of the WASM dense conv only (undefined: {@link threads}). API only. */
  readonly convThreads: number | undefined;
  /** Threads of the WASM ternary conv only (undefined: {@link threads}). API only. */
  readonly ternaryThreads: number | undefined;
  /** WebAssembly SIMD kernels in the cpu backend (false: plain TypeScript everywhere). Env `EC2T_WASM`. */
  readonly wasm: boolean;
  /** WASM dense/depthwise conv (with {@link wasm}). API only. */
  readonly wasmConv: boolean;
  /** WASM elementwise and batch-norm loops (with {@link wasm}). Env `EC2T_WASM_ELEMENTWISE`. */
  readonly wasmElementwise: boolean;
  /** WASM SIMD ternary conv (false: the TypeScript ternary loops). Env `EC2T_TERNARY_WASM`. */
  readonly ternaryWasm: boolean;
  /** Relaxed-SIMD fused multiply-add in generated kernels, where the runtime validates it. Env `EC2T_WASM_FMA`. */
  readonly fma: boolean;
  /** Layout of B in the WASM GEMM. Env `EC2T_WASM_PACK_B` (`1`: pack, `0`: copy). */
  readonly packB: PackBMode;
  /** Code generation of the ternary conv. API only. */
  readonly ternaryJit: TernaryJitMode;
  /** gpu.js mode (`auto`, `headlessgl`, `webasm`, `cpu`, `webgpu`; validated where gpu.js loads); undefined: auto. Env `EC2T_GPUJS_MODE`. */
  readonly gpujsMode: string | undefined;
  /** Under `auto`, measure every backend (or reuse the cache) and print the table. Env `EC2T_CALIBRATE`. */
  readonly calibrate: boolean;
  /** Calibration cache path; undefined: `~/.cache/ec2t/calibration.json`. Env `EC2T_CALIBRATION_FILE`. */
  readonly calibrationFile: string | undefined;
  /** Record which implementation ran for each op. Env `EC2T_TRACE_KERNELS`. */
  readonly traceKernels: boolean;
}

/** Where a setting's current value came from. */
export type SettingSource = 'api' | 'flag' | 'env' | 'default';

/** One level of settings (API, flag or environment): only the keys set there. */
type Layer = { -readonly [K in keyof BackendSettings]?: BackendSettings[K] };

const DEFAULTS: BackendSettings = {
  backend: 'auto', threads: undefined, convThreads: undefined, ternaryThreads: undefined,
  wasm: true, wasmConv: true, wasmElementwise: true, ternaryWasm: true, fma: true, packB: 'auto',
  ternaryJit: 'lazy', gpujsMode: undefined, calibrate: false, calibrationFile: undefined, traceKernels: false,
};

/** The environment variable of each setting that has one. */
export const ENV_VARS = {
  backend: 'EC2T_BACKEND', threads: 'EC2T_THREADS', wasm: 'EC2T_WASM', wasmElementwise: 'EC2T_WASM_ELEMENTWISE',
  ternaryWasm: 'EC2T_TERNARY_WASM', fma: 'EC2T_WASM_FMA', packB: 'EC2T_WASM_PACK_B', gpujsMode: 'EC2T_GPUJS_MODE',
  calibrate: 'EC2T_CALIBRATE', calibrationFile: 'EC2T_CALIBRATION_FILE', traceKernels: 'EC2T_TRACE_KERNELS',
} as const satisfies { [K in keyof BackendSettings]?: string };

const BACKENDS: readonly BackendChoice[] = ['auto', 'cpu', 'gpujs', 'reference'];
const JIT_MODES: readonly TernaryJitMode[] = ['lazy', 'eager', 'off'];

let envLayer: Layer | undefined;
let flagLayer: Layer = {};
let apiLayer: Layer = {};
let resolved: BackendSettings | undefined;

function flag01(name: string, v: string): boolean {
  if (v === '1') return true;
  if (v === '0') return false;
  throw new ValueError(name, `expected 0 or 1, got '${v}'; unset it or set e.g. ${name}=0`);
}

/** Parses the `EC2T_*` variables of `env`; throws a {@link ValueError} naming the first malformed one. */
export function parseBackendEnv(env: Readonly<Record<string, string | undefined>>): Partial<BackendSettings> {
  const out: Layer = {};
  const get = (k: keyof typeof ENV_VARS): string | undefined => {
    const v = env[ENV_VARS[k]];
    return v === undefined || v === '' ? undefined : v;
  };
  const backend = get('backend');
  if (backend !== undefined) {
    if (!(BACKENDS as readonly string[]).includes(backend)) throw new ValueError('EC2T_BACKEND', `'${backend}' is not a backend; valid: ${BACKENDS.join(', ')}`);
    out.backend = backend as BackendChoice;
  }
  const threads = get('threads');
  if (threads !== undefined) {
    const t = Number(threads);
    if (!Number.isInteger(t) || t < 1 || t > MAX_THREADS) throw new ValueError('EC2T_THREADS', `expected an integer thread count in 1..${MAX_THREADS}, got '${threads}'; unset it or set e.g. EC2T_THREADS=2`);
    out.threads = t;
  }
  for (const k of ['wasm', 'wasmElementwise', 'ternaryWasm', 'fma', 'calibrate', 'traceKernels'] as const) {
    const v = get(k);
    if (v !== undefined) out[k] = flag01(ENV_VARS[k], v);
  }
  const packB = get('packB');
  if (packB !== undefined) out.packB = flag01('EC2T_WASM_PACK_B', packB) ? 'pack' : 'copy';
  const gpujsMode = get('gpujsMode');
  if (gpujsMode !== undefined) out.gpujsMode = gpujsMode;
  const file = get('calibrationFile');
  if (file !== undefined) out.calibrationFile = file;
  return out;
}

function check(level: string, s: Layer): void {
  if (s.backend !== undefined && !BACKENDS.includes(s.backend)) throw new ValueError(`${level} backend`, `'${s.backend}' is not a backend; valid: ${BACKENDS.join(', ')}`);
  for (const k of ['threads', 'convThreads', 'ternaryThreads'] as const) {
    const t = s[k];
    if (t !== undefined && (!Number.isInteger(t) || t < 1 || t > MAX_THREADS)) throw new ValueError(`${level} ${k}`, `expected an integer thread count in 1..${MAX_THREADS} (or undefined for the default), got ${t}`);
  }
  if (s.ternaryJit !== undefined && !JIT_MODES.includes(s.ternaryJit)) throw new ValueError(`${level} ternaryJit`, `'${s.ternaryJit}' is not a mode; valid: ${JIT_MODES.join(', ')}`);
}

function merge(layer: Layer, patch: Partial<BackendSettings>): Layer {
  const next: Layer = { ...layer };
  for (const [k, v] of Object.entries(patch) as [keyof BackendSettings, unknown][]) {
    if (v === undefined) delete next[k];
    else (next as Record<string, unknown>)[k] = v;
  }
  return next;
}

/** The `EC2T_*` variables the platform has (none in a browser). */
function platformEnv(): Record<string, string | undefined> {
  const p = platform();
  return Object.fromEntries(Object.values(ENV_VARS).map((name) => [name, p.env(name)]));
}

/**
 * The settings in force (API > flag > environment > default). Cheap: cached until a level changes.
 * @example backendSettings().threads ?? defaultThreads()
 */
export function backendSettings(): BackendSettings {
  if (resolved === undefined) {
    envLayer ??= parseBackendEnv(platformEnv());
    resolved = { ...DEFAULTS, ...envLayer, ...flagLayer, ...apiLayer };
  }
  return resolved;
}

/** Which level the current value of `key` came from. */
export function settingSource(key: keyof BackendSettings): SettingSource {
  backendSettings();
  if (key in apiLayer) return 'api';
  if (key in flagLayer) return 'flag';
  if (envLayer !== undefined && key in envLayer) return 'env';
  return 'default';
}

/**
 * Sets settings from code (the highest level); `undefined` clears a key back to flag/env/default.
 * @example setBackendSettings({ threads: 2, wasm: false })
 */
export function setBackendSettings(patch: Partial<BackendSettings>): void {
  check('setBackendSettings', patch);
  apiLayer = merge(apiLayer, patch);
  resolved = undefined;
}

/**
 * Sets settings from command-line flags (below the API, above the environment).
 * @example setBackendFlags({ backend: 'cpu', threads: 2 })
 */
export function setBackendFlags(patch: Partial<BackendSettings>): void {
  check('flag', patch);
  flagLayer = merge(flagLayer, patch);
  resolved = undefined;
}

/** Reads the `EC2T_*` environment variables again at the next read of the settings (they are otherwise read once, on first use). */
export function reloadBackendEnv(): void {
  envLayer = undefined;
  resolved = undefined;
}

/** Clears the API and flag levels and re-reads the environment (tests). */
export function resetBackendSettings(): void {
  apiLayer = {};
  flagLayer = {};
  reloadBackendEnv();
}

/**
 * Threads a kernel uses when nothing narrower is set: the `threads` setting, else the available
 * cores (at most {@link MAX_THREADS}).
 * @example defaultThreads() // 2 on a 2-core machine with no setting
 */
export function defaultThreads(): number {
  return backendSettings().threads ?? Math.min(MAX_THREADS, Math.max(1, platform().cores()));
}
