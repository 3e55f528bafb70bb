/** Initial centroids (§3) and the centroid floor (§4.6). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ASSIGN_N, ASSIGN_P, nearestTernary } from '../../ec2t/assign.js';
import { applyCentroidFloor, besselStd, kmeansCentroids, scalerCentroids } from '../../ec2t/init.js';
import { ValueError } from '../../base/errors.js';

const f = Math.fround;
const SEED = 0x1417;
const weightsArb = fc
  .array(fc.float({ min: f(-1), max: f(1), noNaN: true, noDefaultInfinity: true }), { minLength: 2, maxLength: 80 })
  .map((a) => Float32Array.from(a));

describe('scalerCentroids', () => {
  test('w_p = |max W|·s, w_n = |min W|·s in float32', () => {
    assert.deepEqual(scalerCentroids(Float32Array.from([-0.8, 0.1, 0.4]), 0.5), { wp: f(0.2), wn: f(0.4) });
    const w = Float32Array.from([-0.3, 0.7]);
    assert.deepEqual(scalerCentroids(w, 0.15), { wp: f(f(0.7) * f(0.15)), wn: f(f(0.3) * f(0.15)) });
  });
  test('all-zero weights give 0, 0; all ≥ 0 weights give w_n = |min W|·s', () => {
    assert.deepEqual(scalerCentroids(new Float32Array(4), 0.3), { wp: 0, wn: 0 });
    assert.deepEqual(scalerCentroids(Float32Array.from([0.5, 1]), 0.5), { wp: 0.5, wn: 0.25 });
  });
  test('rejects a non-positive scaler or empty weights', () => {
    assert.throws(() => scalerCentroids(Float32Array.of(1), 0), ValueError);
    assert.throws(() => scalerCentroids(new Float32Array(0), 0.3), ValueError);
  });
});

describe('kmeansCentroids (zero pinned)', () => {
  test('hand example: converges to the cluster means', () => {
    // Start w_p = 1/2, w_n = 1/2: clusters n {−1, −0.9}, zero {0, 0.05}, p {0.8, 1};
    // means w_n = 0.95, w_p = 0.9; the assignment is then stable.
    const c = kmeansCentroids(Float32Array.from([-1, -0.9, 0, 0.05, 0.8, 1]));
    assert.equal(c.wp, f((f(0.8) + 1) / 2));
    assert.equal(c.wn, f((1 + f(0.9)) / 2));
  });
  test('no negative weights gives w_n = 0; all zero gives 0, 0', () => {
    assert.equal(kmeansCentroids(Float32Array.from([0, 0.5, 1])).wn, 0);
    assert.deepEqual(kmeansCentroids(new Float32Array(3)), { wp: 0, wn: 0 });
  });
  test('subnormal weights (squared distances underflow to ties) still give magnitudes ≥ 0', () => {
    const c = kmeansCentroids(Float32Array.from([2.802596928649634e-45, 0, 0]));
    assert.ok(c.wp >= 0 && c.wn >= 0);
  });
  test('property: deterministic, finite, ≥ 0, and a fixed point of Lloyd iteration once converged', () => {
    // Subnormal magnitudes are flushed to 0 here: their squared distances underflow to ties.
    const normalWeights = weightsArb.map((w) => w.map((v) => (Math.abs(v) < 1e-18 ? 0 : v)));
    fc.assert(
      fc.property(normalWeights, (w) => {
        const c = kmeansCentroids(w, { maxIterations: 100 });
        assert.deepEqual(kmeansCentroids(w, { maxIterations: 100 }), c);
        assert.ok(Number.isFinite(c.wp) && Number.isFinite(c.wn) && c.wp >= 0 && c.wn >= 0);
        const a = nearestTernary(w, c.wp, c.wn);
        let sp = 0, np = 0, sn = 0, nn = 0;
        for (let i = 0; i < w.length; i++) {
          if (a[i] === ASSIGN_P) { sp += w[i]; np++; }
          if (a[i] === ASSIGN_N) { sn -= w[i]; nn++; }
        }
        // With w_n = 0 the n centroid coincides with zero and wins its ties (lowest index), so it
        // can collect small positive weights: a negative mean, clamped to 0.
        if (np > 0) assert.equal(c.wp, f(Math.max(0, sp / np)));
        if (nn > 0) assert.equal(c.wn, f(Math.max(0, sn / nn)));
      }),
      { seed: SEED, numRuns: 200 },
    );
  });
});

describe('centroid floor', () => {
  test('besselStd uses n − 1', () => {
    assert.equal(besselStd(Float32Array.from([1, 2, 3, 4])), f(Math.sqrt(5 / 3)));
    assert.ok(Number.isNaN(besselStd(Float32Array.of(1))));
  });
  test('raises only centroids below 0.675·std', () => {
    const bg = Float32Array.from([-1, 1]); // std = √2
    const floor = f(f(Math.SQRT2) * f(0.675));
    assert.deepEqual(applyCentroidFloor(0.01, 2, bg), { wp: floor, wn: 2, floor });
    assert.deepEqual(applyCentroidFloor(2, 0, bg), { wp: 2, wn: floor, floor });
  });
  test('a single background weight (std NaN) leaves the centroids unchanged, as the code', () => {
    const r = applyCentroidFloor(0.001, 0.002, Float32Array.of(0.5));
    assert.equal(r.wp, f(0.001));
    assert.equal(r.wn, f(0.002));
  });
  test('property: the floor holds and larger centroids are untouched', () => {
    const c = fc.float({ min: f(0), max: f(2), noNaN: true, noDefaultInfinity: true });
    fc.assert(
      fc.property(weightsArb, c, c, (w, wp, wn) => {
        const r = applyCentroidFloor(wp, wn, w);
        assert.ok(r.wp >= r.floor && r.wn >= r.floor);
        if (f(wp) >= r.floor) assert.equal(r.wp, f(wp));
        if (f(wn) >= r.floor) assert.equal(r.wn, f(wn));
      }),
      { seed: SEED, numRuns: 200 },
    );
  });
  test('floor equals torch.std(W).mul(0.675) on the golden layers', () => {
    const golden = JSON.parse(readFileSync(new URL('../../../test/ec2t/fixtures/assign-golden.json', import.meta.url), 'utf8')) as {
      layers: number[][];
      cases: { layer: number; floor: number }[];
    };
    for (const c of golden.cases) {
      assert.equal(applyCentroidFloor(0, 0, Float32Array.from(golden.layers[c.layer])).floor, c.floor, `layer ${c.layer}`);
    }
  });
});
