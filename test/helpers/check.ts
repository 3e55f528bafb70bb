/**
 * One helper per kind of check (in the spirit of tinygrad's helper_test_op and ggml's
 * test-backend-ops):
 * - {@link checkOp}: an engine op's forward against its float64 reference, and its backward
 *   against central finite differences of that reference (kinks detected and skipped);
 * - {@link expectClose}: a fast kernel's output against the reference with a normalised error;
 * - {@link poison}: fill outputs with NaN before a kernel runs, so an unwritten element fails.
 */
import assert from 'node:assert/strict';
import { Rng } from '../../base/rng.js';
import { Tensor } from '../../engine/tensor.js';

/** Either precision; reference kernels accept both and compute in float64. */
export type FloatArray = Float32Array | Float64Array;

/** Fills `out` with NaN (returns it) so that any element a kernel forgets to write fails the comparison. */
export function poison<T extends FloatArray>(out: T): T {
  out.fill(NaN);
  return out;
}

/**
 * Normalised mean squared error `Σ(a−b)² / Σ b²` (ggml's NMSE); NaN anywhere yields Infinity.
 * A zero reference compares absolutely.
 */
export function nmse(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Infinity;
  let num = 0;
  let den = 0;
  for (let i = 0; i < got.length; i++) {
    const a = got[i];
    const b = want[i];
    if (Number.isNaN(a) || Number.isNaN(b)) return Infinity;
    num += (a - b) * (a - b);
    den += b * b;
  }
  return den === 0 ? num : num / den;
}

/**
 * Asserts `got` matches `want` with NMSE ≤ `bound` (default 1e-9, ample for float32 against
 * float64 on well-conditioned sums) and reports the worst element on failure.
 */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, bound = 1e-9, what = 'output'): void {
  const e = nmse(got, want);
  if (e <= bound) return;
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < Math.min(got.length, want.length); i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= worst)) {
      worst = d;
      worstAt = i;
    }
  }
  assert.fail(`${what}: NMSE ${e} > ${bound} (lengths ${got.length}/${want.length}); worst at [${worstAt}]: got ${got[worstAt]}, want ${want[worstAt]}`);
}

/** Largest |got − want| over the largest |want|: the error of a network's logits relative to their scale. */
export function maxRelativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length, `lengths ${got.length} and ${want.length} differ`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff / scale;
}

/** Asserts every element is within `atol + rtol·|want|`. */
export function expectAllClose(got: ArrayLike<number>, want: ArrayLike<number>, rtol = 1e-5, atol = 1e-6, what = 'output'): void {
  assert.equal(got.length, want.length, `${what}: length ${got.length} != ${want.length}`);
  for (let i = 0; i < got.length; i++) {
    const a = got[i];
    const b = want[i];
    if (!(Math.abs(a - b) <= atol + rtol * Math.abs(b))) assert.fail(`${what}[${i}]: got ${a}, want ${b} (rtol ${rtol}, atol ${atol})`);
  }
}

/** Random float32-representable values in [-1, 1) as Float64Array (exactly representable in float32). */
export function randomValues(n: number, rng: Rng, low = -1, high = 1): Float64Array {
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = Math.fround(rng.uniformRange(low, high));
  return v;
}

/** One op-test case: shapes, the engine op, and its float64 reference. */
export interface OpCase {
  /** Shown in failure messages. */
  name: string;
  /** Shapes of the inputs. */
  shapes: readonly (readonly number[])[];
  /** The engine op under test. */
  forward: (...xs: Tensor[]) => Tensor;
  /** The spec: float64 forward from the reference kernels (or plain math). */
  reference: (...xs: Float64Array[]) => Float64Array;
  /** Which inputs get gradient checks (default: all). */
  grad?: readonly boolean[];
  /** Input generator (default: uniform [-1, 1) per input). */
  inputs?: (rng: Rng) => Float64Array[];
  /** Forward tolerance as NMSE (default 1e-10). */
  forwardBound?: number;
  /** Gradient tolerance: |analytic − numeric| ≤ atol + rtol·|numeric| (defaults 1e-4, 1e-5; see {@link checkOp}). */
  gradRtol?: number;
  gradAtol?: number;
  /** Finite-difference step (default 1e-3). */
  eps?: number;
  /** Seed for inputs and the random projection of the output. */
  seed?: number;
}

/**
 * Checks an op's forward against its reference and its backward against central finite
 * differences of the float64 reference. The output is projected on a random vector `r` (the
 * upstream gradient), so one backward checks the full vector–Jacobian product. Elements where the
 * reference has a kink (one-sided differences disagree) are skipped.
 * @example checkOp({ name: 'relu', shapes: [[3, 4]], forward: relu, reference: (x) => x.map(v => Math.max(0, v)) })
 */
export function checkOp(c: OpCase): void {
  const rng = new Rng(c.seed ?? 1234);
  const xs64 = c.inputs ? c.inputs(rng) : c.shapes.map((s) => randomValues(s.reduce((a, b) => a * b, 1), rng));
  const want = c.reference(...xs64);
  const xs = xs64.map((v, i) => new Tensor(Float32Array.from(v), c.shapes[i], c.grad ? c.grad[i] : true));
  const y = c.forward(...xs);
  expectClose(y.data, want, c.forwardBound ?? 1e-10, `${c.name} forward`);
  if (!xs.some((x) => x.requiresGrad)) return;

  const r = randomValues(want.length, rng);
  y.backward(Float32Array.from(r));
  const eps = c.eps ?? 1e-3;
  // NOTE: the analytic gradient is float32 (relative rounding ~1e-6 per element, more after long
  // sums) and the numeric one is float64 with a truncation error O(eps²·f''') ≈ 1e-6 at eps = 1e-3.
  // Measured over every checkOp case in test/engine (122 cases): worst |analytic − numeric| /
  // max(|numeric|, 1e-3) = 2.9e-5 (pow), worst absolute 1.1e-3 on a numeric of 37 (pow). Under
  // 1e-5 + 1e-4·|numeric| the worst case uses 29% of the budget, while a gradient scaled by 1.01
  // fails wherever |numeric| > 1e-3 (the old 2e-3 + 2e-2·|numeric| let a 2% error through).
  const rtol = c.gradRtol ?? 1e-4;
  const atol = c.gradAtol ?? 1e-5;
  const proj = (out: Float64Array): number => {
    let s = 0;
    for (let i = 0; i < out.length; i++) s += out[i] * r[i];
    return s;
  };
  const f0 = proj(want);
  for (let k = 0; k < xs.length; k++) {
    if (!xs[k].requiresGrad) continue;
    const analytic: Float32Array | undefined = xs[k].grad?.data;
    assert.ok(analytic, `${c.name}: input ${k} got no gradient`);
    const x = xs64[k];
    for (let j = 0; j < x.length; j++) {
      const orig = x[j];
      x[j] = orig + eps;
      const fp = proj(c.reference(...xs64));
      x[j] = orig - eps;
      const fm = proj(c.reference(...xs64));
      x[j] = orig;
      const right = (fp - f0) / eps;
      const left = (f0 - fm) / eps;
      // Kink: one-sided slopes disagree beyond what curvature explains; the derivative is not defined here.
      if (Math.abs(right - left) > 1e-2 * (1 + Math.abs(right) + Math.abs(left))) continue;
      const numeric = (fp - fm) / (2 * eps);
      const a: number = analytic[j];
      if (!(Math.abs(a - numeric) <= atol + rtol * Math.abs(numeric))) {
        assert.fail(`${c.name}: d/d input${k}[${j}]: analytic ${a}, numeric ${numeric} (shape ${JSON.stringify(c.shapes[k])})`);
      }
    }
  }
}
