/**
 * The gpu.js kernel checks shared by the Node test (test/kernels/gpujs.test.ts) and the Chromium
 * test (test/browser/gpujs.test.ts): random geometries (fast-check arbitraries), seeded inputs with
 * their float64 reference outputs, and the comparison. Where the kernel runs (Node, a page) is the
 * caller's business; outputs must be poisoned (NaN) before the kernel runs, so an unwritten element
 * fails.
 */
import fc from 'fast-check';
import '../../kernels/reference/index.js';
import { Rng } from '../../base/rng.js';
import { kernelFor } from '../../kernels/registry.js';
import { type Conv2dGeometry, type MatmulGeometry, conv2dGeometry } from '../../kernels/types.js';
import { expectClose } from './check.js';

/** float32 accumulation against float64: NMSE is ~1e-14 on these sizes; 1e-9 leaves ample room without hiding a wrong index. */
export const GPUJS_BOUND = 1e-9;

/** Uniform values in [-1, 1), float32. */
export function uniformF32(n: number, rng: Rng): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.uniformRange(-1, 1);
  return v;
}

/** Reference kernels compute and store in float64; the KernelMap types their buffers as Float32Array. */
const asRef = (v: Float64Array): Float32Array => v as unknown as Float32Array;

/** A conv2d case: inputs and the reference forward, input gradient and weight gradient. */
export interface ConvCase {
  readonly g: Conv2dGeometry;
  readonly x: Float32Array;
  readonly w: Float32Array;
  readonly bias: Float32Array | null;
  readonly gradOut: Float32Array;
  readonly want: { readonly y: Float64Array; readonly gradX: Float64Array; readonly gradW: Float64Array };
}

/** Seeded inputs for `g` and the float64 reference results of the three conv kernels. */
export function makeConvCase(g: Conv2dGeometry, withBias: boolean, rng: Rng): ConvCase {
  const cpg = g.inChannels / g.groups;
  const x = uniformF32(g.batch * g.inChannels * g.inHeight * g.inWidth, rng);
  const w = uniformF32(g.outChannels * cpg * g.kernelHeight * g.kernelWidth, rng);
  const bias = withBias ? uniformF32(g.outChannels, rng) : null;
  const outLen = g.batch * g.outChannels * g.outHeight * g.outWidth;
  const gradOut = uniformF32(outLen, rng);
  const y = new Float64Array(outLen);
  kernelFor('conv2dForward', 'reference')(x, w, bias, asRef(y), g);
  const gradX = new Float64Array(x.length);
  kernelFor('conv2dBackwardInput', 'reference')(gradOut, w, asRef(gradX), g);
  const gradW = new Float64Array(w.length);
  kernelFor('conv2dBackwardWeight', 'reference')(x, gradOut, asRef(gradW), g);
  return { g, x, w, bias, gradOut, want: { y, gradX, gradW } };
}

/** Asserts the three conv outputs of `mode` match the reference of `c`. */
export function expectConvMatches(mode: string, c: ConvCase, got: { y: ArrayLike<number>; gradX: ArrayLike<number>; gradW: ArrayLike<number> }, what: string): void {
  expectClose(got.y, c.want.y, GPUJS_BOUND, `${mode} conv2dForward ${what}`);
  expectClose(got.gradX, c.want.gradX, GPUJS_BOUND, `${mode} conv2dBackwardInput ${what}`);
  expectClose(got.gradW, c.want.gradW, GPUJS_BOUND, `${mode} conv2dBackwardWeight ${what}`);
}

/** A matmul case: inputs and the reference product. */
export interface MatmulCase {
  readonly g: MatmulGeometry;
  readonly a: Float32Array;
  readonly b: Float32Array;
  readonly want: Float64Array;
}

/** Seeded inputs for `g` and their float64 reference product. */
export function makeMatmulCase(g: MatmulGeometry, rng: Rng): MatmulCase {
  const a = uniformF32(g.batchA * g.m * g.k, rng);
  const b = uniformF32(g.batchB * g.k * g.n, rng);
  const want = new Float64Array(g.batch * g.m * g.n);
  kernelFor('matmul', 'reference')(a, b, asRef(want), g);
  return { g, a, b, want };
}

/** Asserts a matmul output of `mode` matches the reference of `c`. */
export function expectMatmulMatches(mode: string, c: MatmulCase, got: ArrayLike<number>): void {
  expectClose(got, c.want, GPUJS_BOUND, `${mode} matmul ${JSON.stringify(c.g)}`);
}

/** Random conv geometry: stride, padding, dilation, groups (depthwise when cpg = 1), non-square everything. */
export const convCaseArb = fc
  .record({
    batch: fc.integer({ min: 1, max: 3 }),
    groups: fc.integer({ min: 1, max: 3 }),
    cpg: fc.integer({ min: 1, max: 3 }),
    opg: fc.integer({ min: 1, max: 3 }),
    kH: fc.integer({ min: 1, max: 3 }),
    kW: fc.integer({ min: 1, max: 3 }),
    sH: fc.integer({ min: 1, max: 3 }),
    sW: fc.integer({ min: 1, max: 3 }),
    pH: fc.integer({ min: 0, max: 2 }),
    pW: fc.integer({ min: 0, max: 2 }),
    dH: fc.integer({ min: 1, max: 2 }),
    dW: fc.integer({ min: 1, max: 2 }),
    extraH: fc.integer({ min: 0, max: 6 }),
    extraW: fc.integer({ min: 0, max: 6 }),
    bias: fc.boolean(),
  })
  .map((c) => {
    // smallest input that still yields one output row/column, plus some
    const inH = Math.max(1, c.dH * (c.kH - 1) + 1 - 2 * c.pH) + c.extraH;
    const inW = Math.max(1, c.dW * (c.kW - 1) + 1 - 2 * c.pW) + c.extraW;
    const g = conv2dGeometry([c.batch, c.groups * c.cpg, inH, inW], [c.groups * c.opg, c.cpg, c.kH, c.kW], {
      stride: [c.sH, c.sW],
      padding: [c.pH, c.pW],
      dilation: [c.dH, c.dW],
      groups: c.groups,
    });
    return { g, bias: c.bias };
  });

/** Random batched matmul: transposes, batch broadcast on either side, k = 0. */
export const matmulCaseArb = fc
  .record({
    batch: fc.integer({ min: 1, max: 3 }),
    m: fc.integer({ min: 1, max: 9 }),
    k: fc.integer({ min: 0, max: 12 }),
    n: fc.integer({ min: 1, max: 9 }),
    transA: fc.boolean(),
    transB: fc.boolean(),
    broadcastA: fc.boolean(),
    broadcastB: fc.boolean(),
  })
  .map((c): MatmulGeometry => ({
    batch: c.batch, m: c.m, k: c.k, n: c.n, transA: c.transA, transB: c.transB,
    batchA: c.broadcastA ? 1 : c.batch, batchB: c.broadcastB ? 1 : c.batch,
  }));

/** Fixed larger cases: long loops, depthwise stride 2, bench-like shapes, k beyond gpu.js's default loop cap (1000). */
export const fixedConvCases: readonly { g: Conv2dGeometry; bias: boolean; what: string }[] = [
  { g: conv2dGeometry([2, 16, 16, 16], [16, 16, 3, 3], { padding: 1 }), bias: true, what: 'resnet-like 16→16 3×3' },
  { g: conv2dGeometry([2, 8, 15, 13], [8, 1, 3, 3], { stride: 2, padding: 1, groups: 8 }), bias: false, what: 'depthwise stride 2' },
  { g: conv2dGeometry([3, 6, 9, 9], [4, 6, 1, 1], {}), bias: true, what: 'pointwise 1×1' },
];
/** See {@link fixedConvCases}. */
export const fixedMatmulCases: readonly MatmulGeometry[] = [
  { batch: 1, m: 3, k: 1100, n: 5, transA: false, transB: true, batchA: 1, batchB: 1 },
  { batch: 2, m: 33, k: 40, n: 47, transA: true, transB: false, batchA: 2, batchB: 1 },
];
