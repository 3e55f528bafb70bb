/**
 * gpu.js kernels against the float64 reference kernels, in every gpu.js mode this machine offers
 * (headlessgl needs `.ci/install-gl.sh` and an X display: run under `xvfb-run -a`). A mode that
 * cannot run is skipped with its reason printed. Outputs are poisoned (NaN) before each kernel
 * runs, so an unwritten element fails; values compare with a normalised error (NMSE).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import '../../kernels/index.js';
import { KernelError } from '../../base/errors.js';
import { Rng } from '../../base/rng.js';
import { clearGpujsCache, gpujsKernelStats, gpujsKernels, listGpujsModes, registerGpujsKernels, resolveGpujsMode } from '../../kernels/gpujs/index.js';
import type { GpujsKernels, GpujsModeInfo } from '../../kernels/gpujs/index.js';
import { hasKernel, kernelFor, resolveBackend, setBackend } from '../../kernels/registry.js';
import { reloadBackendEnv } from '../../kernels/settings.js';
import { type Conv2dGeometry, type MatmulGeometry, conv2dGeometry } from '../../kernels/types.js';
import { expectClose, poison } from '../helpers/check.js';

const SEED = 20260529;
/** float32 accumulation against float64: NMSE is ~1e-14 on these sizes; 1e-9 leaves ample room without hiding a wrong index. */
const BOUND = 1e-9;

const f32 = (n: number, rng: Rng): Float32Array => {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.uniformRange(-1, 1);
  return v;
};

/** Reference kernels compute and store in float64; the KernelMap types their buffers as Float32Array. */
const asRef = (v: Float64Array): Float32Array => v as unknown as Float32Array;

const modes = listGpujsModes();
/** Property runs per op: every run is a new geometry, so a new compile; GL compiles cost the most. */
const RUNS: Record<string, number> = { headlessgl: 15, webasm: 60, cpu: 60 };

function checkConv(k: GpujsKernels, g: Conv2dGeometry, withBias: boolean, rng: Rng, what: string): void {
  const cpg = g.inChannels / g.groups;
  const x = f32(g.batch * g.inChannels * g.inHeight * g.inWidth, rng);
  const w = f32(g.outChannels * cpg * g.kernelHeight * g.kernelWidth, rng);
  const bias = withBias ? f32(g.outChannels, rng) : null;
  const outLen = g.batch * g.outChannels * g.outHeight * g.outWidth;
  const gradOut = f32(outLen, rng);

  const want = new Float64Array(outLen);
  kernelFor('conv2dForward', 'reference')(x, w, bias, asRef(want), g);
  const got = poison(new Float32Array(outLen));
  k.conv2dForward(x, w, bias, got, g);
  expectClose(got, want, BOUND, `${k.mode} conv2dForward ${what}`);

  const wantGx = new Float64Array(x.length);
  kernelFor('conv2dBackwardInput', 'reference')(gradOut, w, asRef(wantGx), g);
  const gotGx = poison(new Float32Array(x.length));
  k.conv2dBackwardInput(gradOut, w, gotGx, g);
  expectClose(gotGx, wantGx, BOUND, `${k.mode} conv2dBackwardInput ${what}`);

  const wantGw = new Float64Array(w.length);
  kernelFor('conv2dBackwardWeight', 'reference')(x, gradOut, asRef(wantGw), g);
  const gotGw = poison(new Float32Array(w.length));
  k.conv2dBackwardWeight(x, gradOut, gotGw, g);
  expectClose(gotGw, wantGw, BOUND, `${k.mode} conv2dBackwardWeight ${what}`);
}

function checkMatmul(k: GpujsKernels, g: MatmulGeometry, rng: Rng): void {
  const a = f32(g.batchA * g.m * g.k, rng);
  const b = f32(g.batchB * g.k * g.n, rng);
  const want = new Float64Array(g.batch * g.m * g.n);
  kernelFor('matmul', 'reference')(a, b, asRef(want), g);
  const got = poison(new Float32Array(want.length));
  k.matmul(a, b, got, g);
  expectClose(got, want, BOUND, `${k.mode} matmul ${JSON.stringify(g)}`);
}

/** Random conv geometry: stride, padding, dilation, groups (depthwise when cpg = 1), non-square everything. */
const convCase = fc
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

const matmulCase = fc
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

test('listGpujsModes reports every mode, with a reason for each one that cannot run', () => {
  assert.deepEqual(modes.map((m) => m.mode).sort(), ['cpu', 'headlessgl', 'webasm', 'webgpu']);
  for (const m of modes) assert.ok(m.reason.length > 0, `${m.mode} has no reason`);
  for (const m of modes.filter((i) => !i.available)) console.log(`# gpujs mode ${m.mode} unavailable: ${m.reason}`);
  assert.ok(modes.find((m) => m.mode === 'cpu')?.available, 'the cpu mode of gpu.js always runs');
});

test('resolveGpujsMode: option beats EC2T_GPUJS_MODE; bad or unavailable modes throw with the reason', () => {
  const saved = process.env.EC2T_GPUJS_MODE;
  try {
    process.env.EC2T_GPUJS_MODE = 'cpu';
    reloadBackendEnv();
    assert.equal(resolveGpujsMode(), 'cpu');
    assert.equal(resolveGpujsMode('cpu'), 'cpu');
    delete process.env.EC2T_GPUJS_MODE;
    reloadBackendEnv();
    assert.equal(resolveGpujsMode(), modes.find((m) => m.available)?.mode);
    assert.throws(() => resolveGpujsMode('vulkan'), (e: unknown) => e instanceof KernelError && /not a mode; valid/.test(e.message));
    process.env.EC2T_GPUJS_MODE = 'nope';
    reloadBackendEnv();
    assert.throws(() => resolveGpujsMode(), (e: unknown) => e instanceof KernelError && /EC2T_GPUJS_MODE/.test(e.message));
    const webgpu = modes.find((m) => m.mode === 'webgpu') as GpujsModeInfo;
    assert.throws(() => resolveGpujsMode('webgpu'), (e: unknown) => e instanceof KernelError && e.message.includes(webgpu.reason));
  } finally {
    if (saved === undefined) delete process.env.EC2T_GPUJS_MODE;
    else process.env.EC2T_GPUJS_MODE = saved;
    reloadBackendEnv();
  }
});

test('registerGpujsKernels registers conv2d and matmul under backend gpujs, once per process', () => {
  assert.equal(hasKernel('matmul', 'gpujs'), false);
  const other = modes.find((m) => m.available && m.mode !== 'cpu');
  assert.equal(registerGpujsKernels('cpu'), 'cpu');
  assert.equal(registerGpujsKernels('cpu'), 'cpu', 'same mode again is a no-op');
  if (other) assert.throws(() => registerGpujsKernels(other.mode), (e: unknown) => e instanceof KernelError && /already registered in mode cpu/.test(e.message));
  for (const op of ['conv2dForward', 'conv2dBackwardInput', 'conv2dBackwardWeight', 'matmul'] as const) assert.ok(hasKernel(op, 'gpujs'), op);
  setBackend('gpujs');
  try {
    assert.equal(resolveBackend('matmul'), 'gpujs');
    const rng = new Rng(SEED + 4);
    const g: MatmulGeometry = { batch: 1, m: 3, k: 4, n: 2, transA: false, transB: false, batchA: 1, batchB: 1 };
    checkMatmul({ ...gpujsKernels('cpu'), matmul: kernelFor('matmul', 'gpujs') }, g, rng);
  } finally {
    setBackend('auto');
    clearGpujsCache();
  }
});

for (const info of modes.filter((m) => m.mode !== 'webgpu')) {
  const skip = info.available ? false : info.reason;

  test(`gpujs ${info.mode}: conv2d forward and both gradients match the reference over random geometries`, { skip }, () => {
    const k = gpujsKernels(info.mode);
    const rng = new Rng(SEED);
    fc.assert(
      fc.property(convCase, ({ g, bias }) => checkConv(k, g, bias, rng, JSON.stringify(g))),
      { seed: SEED, numRuns: RUNS[info.mode] },
    );
    clearGpujsCache(info.mode);
  });

  test(`gpujs ${info.mode}: batched matmul (transposes, batch broadcast, k = 0) matches the reference`, { skip }, () => {
    const k = gpujsKernels(info.mode);
    const rng = new Rng(SEED + 1);
    fc.assert(fc.property(matmulCase, (g) => checkMatmul(k, g, rng)), { seed: SEED + 1, numRuns: RUNS[info.mode] });
    clearGpujsCache(info.mode);
  });

  test(`gpujs ${info.mode}: larger fixed cases (long loops, depthwise stride 2, bench-like shapes)`, { skip }, () => {
    const k = gpujsKernels(info.mode);
    const rng = new Rng(SEED + 2);
    checkConv(k, conv2dGeometry([2, 16, 16, 16], [16, 16, 3, 3], { padding: 1 }), true, rng, 'resnet-like 16→16 3×3');
    checkConv(k, conv2dGeometry([2, 8, 15, 13], [8, 1, 3, 3], { stride: 2, padding: 1, groups: 8 }), false, rng, 'depthwise stride 2');
    checkConv(k, conv2dGeometry([3, 6, 9, 9], [4, 6, 1, 1], {}), true, rng, 'pointwise 1×1');
    // k beyond gpu.js's default loopMaxIterations (1000) must not be truncated
    checkMatmul(k, { batch: 1, m: 3, k: 1100, n: 5, transA: false, transB: true, batchA: 1, batchB: 1 }, rng);
    checkMatmul(k, { batch: 2, m: 33, k: 40, n: 47, transA: true, transB: false, batchA: 2, batchB: 1 }, rng);
    clearGpujsCache(info.mode);
  });

  test(`gpujs ${info.mode}: one compile per geometry, reused; every call writes every element`, { skip }, () => {
    clearGpujsCache(info.mode);
    const k = gpujsKernels(info.mode);
    const rng = new Rng(SEED + 3);
    const g: MatmulGeometry = { batch: 2, m: 4, k: 6, n: 5, transA: false, transB: false, batchA: 2, batchB: 2 };
    for (let i = 0; i < 3; i++) checkMatmul(k, g, rng);
    const stats = gpujsKernelStats().kernels.filter((s) => s.mode === info.mode);
    assert.equal(stats.length, 1, 'the same geometry compiled more than once');
    const [s] = stats;
    assert.equal(s.runs, 2, 'runs after the first');
    assert.ok(s.compileMs >= 0 && s.firstRunMs >= 0 && s.runMs >= 0, JSON.stringify(s));
    checkMatmul(k, { ...g, n: 6 }, rng);
    assert.equal(gpujsKernelStats().kernels.filter((t) => t.mode === info.mode).length, 2, 'a new geometry compiles a new kernel');
    clearGpujsCache(info.mode);
    assert.equal(gpujsKernelStats().kernels.filter((t) => t.mode === info.mode).length, 0);
  });
}
