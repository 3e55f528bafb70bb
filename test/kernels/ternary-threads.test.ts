/**
 * The threaded wasm SIMD ternary conv gives bit-identical results for any thread count (fixed,
 * geometry-only partition; each output summed by the same instruction sequence whoever owns it), on
 * float inputs where summation order would show, for stride 1 and strided / dilated / grouped convs.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Rng } from '../../base/rng.js';
import { setTernarySimd, ternaryConv2dCpu } from '../../kernels/ternary/cpu.js';
import { ternaryLayerFromAssignment } from '../../kernels/ternary/layer.js';
import { poisonTernaryScratch, setTernaryJit, setTernaryThreads, shutdownTernaryThreads, ternarySimdAvailable } from '../../kernels/ternary/simd.js';
import { conv2dGeometry } from '../../kernels/types.js';
import { randomAssignment } from './ternary-fixtures.js';

const CASES = [
  { n: 8, c: 16, m: 16, hw: 32, k: 3, opts: { padding: 1 } },
  { n: 5, c: 32, m: 32, hw: 16, k: 3, opts: { padding: 1 } },
  { n: 3, c: 16, m: 32, hw: 15, k: 3, opts: { padding: 1, stride: 2 } },
  // Band-gathered strided layer with several bands a sample and an odd output width (7: a partial vector per row).
  { n: 2, c: 8, m: 12, hw: 13, k: 3, opts: { padding: 1, stride: 2 } },
  { n: 2, c: 8, m: 12, hw: 11, k: 3, opts: { padding: 2, dilation: 2, groups: 4 } },
  { n: 4, c: 16, m: 8, hw: 9, k: 1, opts: { stride: 2 } },
] as const;

describe('ternaryConv2d threads', () => {
  after(async () => {
    setTernaryThreads(undefined);
    await shutdownTernaryThreads();
  });
  for (const jit of [true, false]) {
    test(`1 thread and 2, 3, 4 threads give bit-identical outputs (float inputs, several sparsities; ${jit ? 'generated per-layer kernels' : 'generic tap-table kernel'})`, (t) => {
      if (!ternarySimdAvailable() || !setTernarySimd(true)) return t.skip('no WebAssembly SIMD / shared memory here');
      setTernaryJit(jit ? 'eager' : 'off');
      t.after(() => setTernaryJit('lazy'));
      const rng = new Rng(4242);
      for (const cs of CASES) {
        const g = conv2dGeometry([cs.n, cs.c, cs.hw, cs.hw], [cs.m, cs.c / (('groups' in cs.opts) ? cs.opts.groups : 1), cs.k, cs.k], cs.opts);
        const x = new Float32Array(cs.n * cs.c * cs.hw * cs.hw);
        for (let i = 0; i < x.length; i++) x[i] = rng.uniformRange(-1, 1);
        const bias = new Float32Array(cs.m);
        for (let i = 0; i < cs.m; i++) bias[i] = rng.uniformRange(-0.5, 0.5);
        for (const s of [0, 0.5, 0.9]) {
          const per = (g.inChannels / g.groups) * cs.k * cs.k;
          const layer = ternaryLayerFromAssignment(randomAssignment(cs.m * per, s, rng), [cs.m, per / (cs.k * cs.k), cs.k, cs.k], 0.37, 0.29);
          const outLen = cs.n * cs.m * g.outHeight * g.outWidth;
          setTernaryThreads(1);
          const ref = new Float32Array(outLen).fill(Number.NaN);
          poisonTernaryScratch();
          ternaryConv2dCpu(x, layer, bias, ref, g);
          assert.ok(ref.every((v) => !Number.isNaN(v)), 'every output written');
          for (const th of [2, 3, 4]) {
            setTernaryThreads(th);
            const got = new Float32Array(outLen).fill(Number.NaN);
            poisonTernaryScratch();
            ternaryConv2dCpu(x, layer, bias, got, g);
            assert.deepEqual(new Uint32Array(got.buffer), new Uint32Array(ref.buffer), `case ${JSON.stringify(cs)} sparsity ${s}: ${th} threads differ from 1`);
          }
        }
      }
    });
  }
});
