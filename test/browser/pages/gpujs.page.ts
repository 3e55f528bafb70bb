/**
 * Test page (bundled by test/helpers/browser.ts): runs the gpu.js kernels in the browser, in any of
 * gpu.js's modes (webgpu through the asynchronous kernels), on inputs sent from the Node test, which
 * holds the reference. Every output is poisoned (NaN) before its kernel runs.
 */
import { clearGpujsCache, gpujsKernels, gpujsWebgpuKernels, listGpujsModes, probeGpujsWebgpu } from '../../../kernels/gpujs/index.js';
import type { GpujsAsyncKernels, GpujsKernels, GpujsModeInfo } from '../../../kernels/gpujs/index.js';
import type { Conv2dGeometry, MatmulGeometry } from '../../../kernels/types.js';

/** What a conv request carries: the geometry and the inputs as plain number arrays. */
interface ConvRequest {
  g: Conv2dGeometry;
  x: number[];
  w: number[];
  bias: number[] | null;
  gradOut: number[];
}

let webgpu: Promise<GpujsAsyncKernels> | undefined;

async function kernelsFor(mode: string): Promise<GpujsKernels | GpujsAsyncKernels> {
  if (mode !== 'webgpu') return gpujsKernels(mode);
  webgpu ??= gpujsWebgpuKernels();
  return webgpu;
}

const nanFilled = (n: number): Float32Array => new Float32Array(n).fill(NaN);

(globalThis as unknown as { ec2tPage: unknown }).ec2tPage = {
  /** Every mode with availability and reason; webgpu from the asynchronous probe (the synchronous list always refuses it). */
  async modes(): Promise<GpujsModeInfo[]> {
    const sync = listGpujsModes().filter((m) => m.mode !== 'webgpu');
    return [...sync, await probeGpujsWebgpu()];
  },
  /** conv2d forward, input gradient and weight gradient of `mode` on the request's inputs. */
  async conv(mode: string, r: ConvRequest): Promise<{ y: number[]; gradX: number[]; gradW: number[] }> {
    const k = await kernelsFor(mode);
    const x = Float32Array.from(r.x);
    const w = Float32Array.from(r.w);
    const gradOut = Float32Array.from(r.gradOut);
    const y = nanFilled(r.g.batch * r.g.outChannels * r.g.outHeight * r.g.outWidth);
    const gradX = nanFilled(x.length);
    const gradW = nanFilled(w.length);
    await k.conv2dForward(x, w, r.bias === null ? null : Float32Array.from(r.bias), y, r.g);
    await k.conv2dBackwardInput(gradOut, w, gradX, r.g);
    await k.conv2dBackwardWeight(x, gradOut, gradW, r.g);
    return { y: Array.from(y), gradX: Array.from(gradX), gradW: Array.from(gradW) };
  },
  /** Batched matmul of `mode`. */
  async matmul(mode: string, g: MatmulGeometry, a: number[], b: number[]): Promise<number[]> {
    const k = await kernelsFor(mode);
    const out = nanFilled(g.batch * g.m * g.n);
    await k.matmul(Float32Array.from(a), Float32Array.from(b), out, g);
    return Array.from(out);
  },
  /** Destroys the compiled kernels of `mode` (GL contexts hold a few; a long property run would pile them up). */
  async clear(mode: string): Promise<void> {
    clearGpujsCache(mode as Parameters<typeof clearGpujsCache>[0]);
  },
};
