/**
 * Ternary conv on gpu.js: one thread per output element sums its positive and negative taps
 * (additions only) and applies `w_p`, `w_n` and the bias. gpu.js is imported lazily (it is heavy
 * and probes GL on load), so nothing here runs until {@link loadTernaryConvGpujs} is awaited.
 * In Node without GL the usable modes are `webasm` (WebAssembly + SIMD) and `cpu`.
 */
import { KernelError } from '../../base/errors.js';
import type { Conv2dGeometry, TernaryConv2dKernel, TernaryLayer } from '../types.js';

/** gpu.js modes this module can ask for. */
export type GpujsMode = 'gpu' | 'webgl2' | 'webgl' | 'headlessgl' | 'webasm' | 'cpu';

/** A loaded gpu.js ternary conv: the kernel (same contract as the cpu one), its mode, a disposer. */
export interface TernaryConvGpujs {
  readonly mode: GpujsMode;
  readonly conv2d: TernaryConv2dKernel;
  readonly destroy: () => void;
}

// Minimal shapes of the gpu.js API used (its bundled types are loose about this-binding).
interface GpuKernel {
  (...args: unknown[]): Float32Array | number[];
  setOutput(o: number[]): GpuKernel;
  setConstants(c: Record<string, number>): GpuKernel;
  destroy?: () => void;
}
interface GpuInstance {
  createKernel(fn: (...args: never[]) => number, settings: Record<string, unknown>): GpuKernel;
  destroy(): void;
}
interface GpuModule {
  GPU: (new (s: { mode: string }) => GpuInstance) & { isHeadlessGLSupported: boolean; isWebAssemblySupported?: boolean };
}

/** Why `mode` cannot run here, or null when it can (probed by building a 4-element kernel). */
export async function gpujsModeUnavailable(mode: GpujsMode): Promise<string | null> {
  try {
    const m = await importGpujs();
    const gpu = new m.GPU({ mode });
    const k = gpu.createKernel(function (this: { thread: { x: number } }): number {
      return this.thread.x;
    } as never, { output: [4] });
    const r = Array.from(k());
    gpu.destroy();
    return r.join(',') === '0,1,2,3' ? null : `probe kernel returned ${r.join(',')}`;
  } catch (e) {
    return (e as Error).message;
  }
}

async function importGpujs(): Promise<GpuModule> {
  const m = (await import('gpu.js')) as unknown as GpuModule & { default?: GpuModule };
  return m.GPU !== undefined ? m : (m.default as GpuModule);
}

// The per-thread body, written in the subset gpu.js transpiles (no closures, constants via this).
interface ThreadThis {
  thread: { x: number };
  constants: Record<string, number>;
}
function ternaryConvThread(
  this: ThreadThis,
  x: number[],
  posStart: number[],
  posTaps: number[],
  negStart: number[],
  negTaps: number[],
  bias: number[],
): number {
  const OW = this.constants.OW;
  const OH = this.constants.OH;
  const M = this.constants.M;
  const KW = this.constants.KW;
  const KK = this.constants.KK;
  const H = this.constants.H;
  const W = this.constants.W;
  const idx = this.thread.x;
  const ox = idx % OW;
  const oy = Math.floor(idx / OW) % OH;
  const m = Math.floor(idx / (OW * OH)) % M;
  const n = Math.floor(idx / (OW * OH * M));
  const c0 = Math.floor(m / this.constants.OPG) * this.constants.CPG;
  const y0 = oy * this.constants.SH - this.constants.PH;
  const x0 = ox * this.constants.SW - this.constants.PW;
  let sp = 0;
  for (let t = posStart[m]; t < posStart[m + 1]; t++) {
    const tap = posTaps[t];
    const c = Math.floor(tap / KK);
    const r = tap - c * KK;
    const i = Math.floor(r / KW);
    const j = r - i * KW;
    const yy = y0 + i * this.constants.DH;
    const xx = x0 + j * this.constants.DW;
    if (yy >= 0 && yy < H && xx >= 0 && xx < W) sp += x[((n * this.constants.C + c0 + c) * H + yy) * W + xx];
  }
  // NOTE: distinct names per loop: gpu.js's cpu mode hoists loop-body declarations into one scope.
  let sn = 0;
  for (let u = negStart[m]; u < negStart[m + 1]; u++) {
    const tapN = negTaps[u];
    const cN = Math.floor(tapN / KK);
    const rN = tapN - cN * KK;
    const iN = Math.floor(rN / KW);
    const jN = rN - iN * KW;
    const yN = y0 + iN * this.constants.DH;
    const xN = x0 + jN * this.constants.DW;
    if (yN >= 0 && yN < H && xN >= 0 && xN < W) sn += x[((n * this.constants.C + c0 + cN) * H + yN) * W + xN];
  }
  return this.constants.WP * sp - this.constants.WN * sn + bias[m];
}

/**
 * Loads gpu.js and builds the ternary conv for `mode` (default `webasm`). Throws a KernelError
 * naming the reason when the mode is unavailable.
 * @example const { conv2d } = await loadTernaryConvGpujs('webasm'); conv2d(x, layer, null, out, g);
 */
export async function loadTernaryConvGpujs(mode: GpujsMode = 'webasm'): Promise<TernaryConvGpujs> {
  const why = await gpujsModeUnavailable(mode);
  if (why !== null) throw new KernelError(`gpu.js mode ${mode} is not available here: ${why}`);
  const m = await importGpujs();
  const gpu = new m.GPU({ mode });
  // One compiled kernel per (geometry, layer shape); gpu.js recompiles on output/constant changes anyway.
  const kernels = new Map<string, GpuKernel>();
  const conv2d: TernaryConv2dKernel = (x: Float32Array, layer: TernaryLayer, bias: Float32Array | null, out: Float32Array, g: Conv2dGeometry) => {
    const total = g.batch * g.outChannels * g.outHeight * g.outWidth;
    if (out.length < total) throw new KernelError(`ternaryConv2d (gpu.js): out has ${out.length} elements, needs ${total}`);
    if (total === 0) return;
    if (layer.channelWp !== undefined) throw new KernelError('ternaryConv2d (gpu.js): per-channel centroids are not supported here; use the cpu kernels');
    const maxTaps = Math.max(1, layer.inPerGroup * layer.kernelHeight * layer.kernelWidth);
    const constants = {
      OW: g.outWidth, OH: g.outHeight, M: g.outChannels, C: g.inChannels, H: g.inHeight, W: g.inWidth,
      KW: layer.kernelWidth, KK: layer.kernelHeight * layer.kernelWidth, CPG: layer.inPerGroup, OPG: g.outChannels / g.groups,
      SH: g.strideH, SW: g.strideW, PH: g.padH, PW: g.padW, DH: g.dilationH, DW: g.dilationW, WP: layer.wp, WN: layer.wn,
    };
    const key = JSON.stringify(constants) + `,${total},${maxTaps}`;
    let k = kernels.get(key);
    if (k === undefined) {
      k = gpu.createKernel(ternaryConvThread as never, {
        output: [total],
        constants,
        loopMaxIterations: maxTaps,
        precision: 'single',
        tactic: 'precision',
      });
      kernels.set(key, k);
    }
    // gpu.js cannot take an empty array: pad tap lists with one unused entry.
    const arr = (a: Int32Array): Float32Array => (a.length > 0 ? Float32Array.from(a) : new Float32Array(1));
    const r = k(x, Float32Array.from(layer.posStart), arr(layer.posTaps), Float32Array.from(layer.negStart), arr(layer.negTaps), bias ?? new Float32Array(g.outChannels));
    out.set(r as ArrayLike<number>, 0);
  };
  return {
    mode,
    conv2d,
    destroy: () => {
      for (const k of kernels.values()) k.destroy?.();
      kernels.clear();
      gpu.destroy();
    },
  };
}
