/** EC2T / TTQ / ECP gradient rules (§4.2–4.4, §7), asserted directly (they are defined, not derived). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ternaryWeights } from '../../ec2t/assign.js';
import { backgroundGradient, centroidGradients, ecpBackgroundGradient } from '../../ec2t/gradients.js';
import { ValueError } from '../../base/errors.js';

const f = Math.fround;
const SEED = 0x96ad;
const caseArb = fc.integer({ min: 1, max: 50 }).chain((n) =>
  fc.record({
    g: fc.array(fc.float({ min: f(-10), max: f(10), noNaN: true, noDefaultInfinity: true }), { minLength: n, maxLength: n }).map((a) => Float32Array.from(a)),
    a: fc.array(fc.constantFrom(-1, 0, 1), { minLength: n, maxLength: n }).map((a) => Int8Array.from(a)),
    wp: fc.float({ min: f(0.001), max: f(2), noNaN: true, noDefaultInfinity: true }),
    wn: fc.float({ min: f(0.001), max: f(2), noNaN: true, noDefaultInfinity: true }),
  }),
);

describe('centroid gradients', () => {
  const g = Float32Array.from([1, 2, 3, 4, 5]);
  const a = Int8Array.from([1, -1, -1, 0, 1]);
  test('reference: g_p = Σ_{A=p} G, g_n = +Σ_{A=n} G (TTQ sign, [quirk])', () => {
    assert.deepEqual(centroidGradients(g, a, 'reference'), { gp: 6, gn: 5 });
  });
  test('corrected: g_n = −Σ_{A=n} G', () => {
    assert.deepEqual(centroidGradients(g, a, 'corrected'), { gp: 6, gn: -5 });
  });
  test('empty clusters give +0', () => {
    const r = centroidGradients(g, new Int8Array(5), 'corrected');
    assert.ok(Object.is(r.gp, 0) && Object.is(r.gn, 0));
  });
  test('corrected equals the exact derivative of a linear loss L = Σ G·Wt(w_p, w_n)', () => {
    fc.assert(
      fc.property(caseArb, ({ g, a, wp, wn }) => {
        const loss = (p: number, n: number): number => {
          const wt = Float64Array.from(ternaryWeights(a, 1, 1), (v) => (v > 0 ? p : v < 0 ? -n : 0));
          return wt.reduce((s, v, i) => s + v * g[i], 0);
        };
        // L is linear in w_p and w_n, so a unit difference is exact (in float64).
        const dp = loss(wp + 1, wn) - loss(wp, wn);
        const dn = loss(wp, wn + 1) - loss(wp, wn);
        const c = centroidGradients(g, a, 'corrected');
        const r = centroidGradients(g, a, 'reference');
        assert.ok(Math.abs(c.gp - dp) <= 1e-4 * (1 + Math.abs(dp)), `g_p ${c.gp} vs ${dp}`);
        assert.ok(Math.abs(c.gn - dn) <= 1e-4 * (1 + Math.abs(dn)), `g_n ${c.gn} vs ${dn}`);
        assert.equal(r.gp, c.gp);
        assert.equal(r.gn, 0 - c.gn);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });
  test('length mismatch throws', () => {
    assert.throws(() => centroidGradients(g, new Int8Array(2), 'reference'), ValueError);
  });
});

describe('background gradient (scaled straight-through; also TTQ)', () => {
  test('hand example', () => {
    const out = new Float32Array(3).fill(NaN);
    backgroundGradient(Float32Array.of(1, 1, 1), Int8Array.of(-1, 0, 1), 0.5, 0.25, out);
    assert.deepEqual(Array.from(out), [0.25, 1, 0.5]);
  });
  test('rule: G·w_p on p, G·w_n on n, G on zero (float32 products)', () => {
    fc.assert(
      fc.property(caseArb, ({ g, a, wp, wn }) => {
        const out = backgroundGradient(g, a, wp, wn, new Float32Array(g.length).fill(NaN));
        for (let i = 0; i < g.length; i++) {
          const want = a[i] === 1 ? f(f(wp) * g[i]) : a[i] === -1 ? f(f(wn) * g[i]) : g[i];
          assert.equal(out[i], want, `index ${i}`);
        }
      }),
      { seed: SEED, numRuns: 200 },
    );
  });
  test('ECP: every background weight receives G unchanged', () => {
    fc.assert(
      fc.property(caseArb, ({ g, a }) => {
        assert.deepEqual(ecpBackgroundGradient(g, a, new Float32Array(g.length).fill(NaN)), g);
      }),
      { seed: SEED, numRuns: 50 },
    );
  });
});
