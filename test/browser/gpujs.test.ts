/**
 * The gpu.js conv2d and matmul kernels in real Chromium (headless, software GPU: SwiftShader),
 * against the float64 reference computed here in Node: WebGL2 (gpu.js's GPU path in a browser),
 * WebGPU through the asynchronous kernels where the browser offers an adapter, and WebAssembly.
 * fast-check draws the geometries here (its seed is printed on failure) and the page runs them.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import type { Browser, Page } from 'playwright-core';
import { Rng } from '../../base/rng.js';
import type { Conv2dGeometry, MatmulGeometry } from '../../kernels/types.js';
import { type TestServer, bundlePage, callPage, launchChromium, openPage, pageHtml, startTestServer } from '../helpers/browser.js';
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

const SEED = 20261203;
/** Property runs per op and mode: each run is a new geometry, so a new shader compile (SwiftShader compiles are the slow part). */
const RUNS: Record<string, number> = { webgl2: 12, webgpu: 12, webasm: 25 };

interface ModeInfo {
  mode: string;
  available: boolean;
  reason: string;
}

let browser: Browser;
let server: TestServer;
let page: Page;
let modes: ModeInfo[];

before(async () => {
  browser = await launchChromium();
  server = await startTestServer({ 'gpujs.js': { body: await bundlePage('gpujs.page.js'), type: 'text/javascript' }, 'gpujs.html': pageHtml('gpujs.js') });
  page = await openPage(browser, `${server.origin}/plain/gpujs.html`);
  modes = await callPage<ModeInfo[]>(page, 'modes');
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function checkConv(mode: string, g: Conv2dGeometry, bias: boolean, rng: Rng, what: string): Promise<void> {
  const c = makeConvCase(g, bias, rng);
  const got = await callPage<{ y: number[]; gradX: number[]; gradW: number[] }>(page, 'conv', [
    mode,
    { g, x: Array.from(c.x), w: Array.from(c.w), bias: c.bias && Array.from(c.bias), gradOut: Array.from(c.gradOut) },
  ]);
  expectConvMatches(`chromium ${mode}`, c, got, what);
}

async function checkMatmul(mode: string, g: MatmulGeometry, rng: Rng): Promise<void> {
  const c = makeMatmulCase(g, rng);
  const got = await callPage<number[]>(page, 'matmul', [mode, g, Array.from(c.a), Array.from(c.b)]);
  expectMatmulMatches(`chromium ${mode}`, c, got);
}

test('Chromium offers gpu.js webgl2 and webasm; every mode says why when it cannot run', () => {
  for (const m of modes) console.log(`# chromium gpujs ${m.mode}: ${m.available ? 'available' : 'unavailable'} (${m.reason})`);
  assert.deepEqual(modes.map((m) => m.mode).sort(), ['cpu', 'headlessgl', 'webasm', 'webgl2', 'webgpu']);
  for (const want of ['webgl2', 'webasm', 'cpu']) {
    const m = modes.find((i) => i.mode === want);
    assert.ok(m?.available, `gpu.js ${want} must run in Chromium: ${m?.reason}`);
  }
  assert.equal(modes.find((m) => m.mode === 'headlessgl')?.available, false, 'headless-gl is Node-only');
});

for (const mode of ['webgl2', 'webgpu', 'webasm']) {
  const info = (): ModeInfo => modes.find((m) => m.mode === mode) as ModeInfo;

  test(`chromium gpujs ${mode}: conv2d forward and both gradients match the reference over random geometries`, async (t) => {
    if (!info().available) return t.skip(info().reason);
    const rng = new Rng(SEED);
    await fc.assert(
      fc.asyncProperty(convCaseArb, ({ g, bias }) => checkConv(mode, g, bias, rng, JSON.stringify(g))),
      { seed: SEED, numRuns: RUNS[mode] },
    );
    await callPage(page, 'clear', [mode]);
  });

  test(`chromium gpujs ${mode}: batched matmul (transposes, batch broadcast, k = 0) matches the reference`, async (t) => {
    if (!info().available) return t.skip(info().reason);
    const rng = new Rng(SEED + 1);
    await fc.assert(fc.asyncProperty(matmulCaseArb, (g) => checkMatmul(mode, g, rng)), { seed: SEED + 1, numRuns: RUNS[mode] });
    await callPage(page, 'clear', [mode]);
  });

  test(`chromium gpujs ${mode}: larger fixed cases (long loops, depthwise stride 2, bench-like shapes)`, async (t) => {
    if (!info().available) return t.skip(info().reason);
    const rng = new Rng(SEED + 2);
    for (const c of fixedConvCases) await checkConv(mode, c.g, c.bias, rng, c.what);
    for (const g of fixedMatmulCases) await checkMatmul(mode, g, rng);
    await callPage(page, 'clear', [mode]);
  });
}
