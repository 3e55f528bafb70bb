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
import type { Conv2dGeometry, MatmulGeometry } from '../../kernels/types.js';
import { poison } from '../helpers/check.js';
import {
  convCaseArb,
  expectConvMatches,
  expectMatmulMatches,
  fixedConvCases,
  fixedMatmulCases,
  makeConvCase,
  makeMatmulCase,
  matmulCaseArb,
} from '../helpers/gpujs-cases.js';

const SEED = 20260529;

const modes = listGpujsModes();
/** Property runs per op: every run is a new geometry, so a new compile; GL compiles cost the most. */
const RUNS: Record<string, number> = { headlessgl: 15, webasm: 60, cpu: 60 };

function checkConv(k: GpujsKernels, g: Conv2dGeometry, withBias: boolean, rng: Rng, what: string): void {
  const c = makeConvCase(g, withBias, rng);
  const y = poison(new Float32Array(c.want.y.length));
  k.conv2dForward(c.x, c.w, c.bias, y, g);
  const gradX = poison(new Float32Array(c.x.length));
  k.conv2dBackwardInput(c.gradOut, c.w, gradX, g);
  const gradW = poison(new Float32Array(c.w.length));
  k.conv2dBackwardWeight(c.x, c.gradOut, gradW, g);
  expectConvMatches(k.mode, c, { y, gradX, gradW }, what);
}

function checkMatmul(k: GpujsKernels, g: MatmulGeometry, rng: Rng): void {
  const c = makeMatmulCase(g, rng);
  const got = poison(new Float32Array(c.want.length));
  k.matmul(c.a, c.b, got, g);
  expectMatmulMatches(k.mode, c, got);
}

test('listGpujsModes reports every mode, with a reason for each one that cannot run', () => {
  assert.deepEqual(modes.map((m) => m.mode).sort(), ['cpu', 'headlessgl', 'webasm', 'webgl2', 'webgpu']);
  assert.equal(modes.find((m) => m.mode === 'webgl2')?.available, false, 'Node has no WebGL2');
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
      fc.property(convCaseArb, ({ g, bias }) => checkConv(k, g, bias, rng, JSON.stringify(g))),
      { seed: SEED, numRuns: RUNS[info.mode] },
    );
    clearGpujsCache(info.mode);
  });

  test(`gpujs ${info.mode}: batched matmul (transposes, batch broadcast, k = 0) matches the reference`, { skip }, () => {
    const k = gpujsKernels(info.mode);
    const rng = new Rng(SEED + 1);
    fc.assert(fc.property(matmulCaseArb, (g) => checkMatmul(k, g, rng)), { seed: SEED + 1, numRuns: RUNS[info.mode] });
    clearGpujsCache(info.mode);
  });

  test(`gpujs ${info.mode}: larger fixed cases (long loops, depthwise stride 2, bench-like shapes)`, { skip }, () => {
    const k = gpujsKernels(info.mode);
    const rng = new Rng(SEED + 2);
    for (const c of fixedConvCases) checkConv(k, c.g, c.bias, rng, c.what);
    for (const g of fixedMatmulCases) checkMatmul(k, g, rng);
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
