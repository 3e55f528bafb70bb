/**
 * Shared benchmark plumbing: timing through tinybench, random inputs, conv FLOP counts and work
 * closures, and markdown tables, so every `bench/*.bench.ts` measures and prints the same way.
 */
import { Bench } from 'tinybench';
import type { Rng } from '../base/rng.js';
import { kernelFor } from '../kernels/registry.js';
import type { Backend, Conv2dBackwardInputKernel, Conv2dBackwardWeightKernel, Conv2dForwardKernel, Conv2dGeometry } from '../kernels/types.js';

/** How long {@link seconds} runs a task. */
export interface TimingOptions {
  /** Minimum measuring time in ms (tinybench `time`). */
  timeMs: number;
  /** Minimum measured iterations. */
  iterations: number;
  /** Warm-up time in ms; default `min(300, timeMs / 2)`. */
  warmupMs?: number;
  /** Warm-up iterations; default 2. */
  warmupIterations?: number;
}

/**
 * Mean seconds per call of `fn`, with warm-up, through tinybench; throws when the task fails.
 * @example const t = await seconds('gemm 512', () => gemm(...), { timeMs: 2000, iterations: 3 });
 */
export async function seconds(name: string, fn: () => void | Promise<void>, opts: TimingOptions): Promise<number> {
  const bench = new Bench({
    time: opts.timeMs,
    iterations: opts.iterations,
    warmupTime: opts.warmupMs ?? Math.min(300, opts.timeMs / 2),
    warmupIterations: opts.warmupIterations ?? 2,
  });
  bench.add(name, fn);
  await bench.run();
  const r = bench.tasks[0].result;
  if (r.state !== 'completed') throw new Error(`benchmark ${name} did not complete: ${r.state}`);
  return r.latency.mean / 1000;
}

/**
 * A maker of random inputs: `rand(n)` is a Float32Array of `n` values uniform in [-1, 1) drawn from `rng`.
 * @example const rand = randomArrays(new Rng(7)); const x = rand(1024);
 */
export function randomArrays(rng: Rng): (n: number) => Float32Array {
  return (n) => {
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = rng.uniformRange(-1, 1);
    return v;
  };
}

/** GFLOP/s of `flops` floating-point operations done in `seconds`. @example gflops(2 * 512 ** 3, t) */
export function gflops(flops: number, seconds: number): number {
  return flops / seconds / 1e9;
}

/** Multiply-add FLOPs (2 per MAC) of one conv2d forward pass; backward is counted as 2× this. @example convFlops(conv2dGeometry(x, w, {})) */
export function convFlops(g: Conv2dGeometry): number {
  return 2 * g.batch * g.outChannels * g.outHeight * g.outWidth * (g.inChannels / g.groups) * g.kernelHeight * g.kernelWidth;
}

/** The three conv kernels of one backend. */
export interface ConvKernels {
  conv2dForward: Conv2dForwardKernel;
  conv2dBackwardInput: Conv2dBackwardInputKernel;
  conv2dBackwardWeight: Conv2dBackwardWeightKernel;
}

/** The registered conv kernels of `backend`. @example convKernels('cpu').conv2dForward */
export function convKernels(backend: Backend): ConvKernels {
  return {
    conv2dForward: kernelFor('conv2dForward', backend),
    conv2dBackwardInput: kernelFor('conv2dBackwardInput', backend),
    conv2dBackwardWeight: kernelFor('conv2dBackwardWeight', backend),
  };
}

/**
 * Conv work on fresh random buffers for geometry `g`: `fwd` runs the forward, `fwdBwd` the forward
 * and both gradients. With `bias` false the forward gets a null bias.
 * @example const { fwd, fwdBwd } = convWork(g, convKernels('cpu'), randomArrays(rng), true);
 */
export function convWork(g: Conv2dGeometry, k: ConvKernels, rand: (n: number) => Float32Array, bias: boolean): { fwd: () => void; fwdBwd: () => void } {
  const x = rand(g.batch * g.inChannels * g.inHeight * g.inWidth);
  const w = rand(g.outChannels * (g.inChannels / g.groups) * g.kernelHeight * g.kernelWidth);
  const b = bias ? rand(g.outChannels) : null;
  const out = new Float32Array(g.batch * g.outChannels * g.outHeight * g.outWidth);
  const dy = rand(out.length);
  const dx = new Float32Array(x.length);
  const dw = new Float32Array(w.length);
  return {
    fwd: () => k.conv2dForward(x, w, b, out, g),
    fwdBwd: () => {
      k.conv2dForward(x, w, b, out, g);
      k.conv2dBackwardInput(dy, w, dx, g);
      k.conv2dBackwardWeight(x, dy, dw, g);
    },
  };
}

/**
 * A markdown table: header, separator (`align` per column: 'l' → `---`, 'r' → `---:`; default all
 * 'l') and one line per row, joined with newlines.
 * @example console.log(markdownTable(['kernel', 'GFLOP/s'], [['gemm', '12.3']], 'lr'))
 */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[], align = ''): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  const sep = `|${header.map((_, i) => (align[i] === 'r' ? '---:' : '---')).join('|')}|`;
  return [line(header), sep, ...rows.map(line)].join('\n');
}
