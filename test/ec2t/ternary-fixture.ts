/**
 * Test fixture: a model with random ternary weights (chosen layers), random BN statistics and,
 * optionally, dead output filters, as the state dict `ec2t ternarize` writes (Wt in `weight` plus
 * `.w_p`, `.w_n`, `.assignment` siblings), together with the nn model holding the same weights.
 */
import assert from 'node:assert/strict';
import { Rng } from '../../base/rng.js';
import { BatchNorm2d, Conv2d } from '../../nn/layers.js';
import { Parameter } from '../../nn/module.js';
import { createModel, ternaryLayerNames } from '../../nn/models/index.js';
import type { Module } from '../../nn/module.js';
import type { SafetensorEntry } from '../../nn/safetensors.js';
import { Tensor } from '../../engine/tensor.js';

export interface TernaryFixture {
  model: Module;
  stateDict: Map<string, SafetensorEntry>;
  ternary: string[];
}

/** Options of {@link ternaryFixture}. */
export interface TernaryFixtureOptions {
  seed?: number;
  sparsity?: number;
  /** Fraction of each ternary layer's output filters that are all zero. */
  deadFraction?: number;
  modelOptions?: Record<string, unknown>;
  /** Other ternary layers than the default set (e.g. MobileNetV2's depthwise convs too). */
  layers?: (model: Module) => string[];
  /**
   * Batch norms as a trained network can have them, to expose sign and ε errors in BN folding:
   * γ of either sign (|γ| in 0.5–1.5), and on a quarter of the channels a running variance of
   * 1e-4–1e-2 with γ scaled by √var (so γ/√(var+ε) stays of order 1 while ε changes it by up to
   * 5%). Default: γ and var in 0.5–1.5, where a dropped ε moves the result by only ~1e-5.
   */
  hardBatchNorm?: boolean;
  /** Give every conv without a bias one (0.2·N(0,1)), so folding a BN into a layer with a bias is exercised. */
  convBias?: boolean;
}

/** Builds the fixture; `deadFraction` of each ternary layer's output filters are all zero. */
export function ternaryFixture(modelName: string, opts: TernaryFixtureOptions = {}): TernaryFixture {
  const rng = new Rng(opts.seed ?? 1);
  const model = createModel(modelName, { ...(opts.modelOptions ?? {}), rng: rng.fork() });
  if (opts.convBias) {
    for (const [, m] of model.namedModules()) {
      if (m instanceof Conv2d && m.bias === null) m.bias = new Parameter(Float32Array.from({ length: m.outChannels }, () => 0.2 * rng.normal()), [m.outChannels]);
    }
  }
  // `layers` picks other ternary layers than the default set (e.g. MobileNetV2's depthwise convs too).
  const ternary = opts.layers ? opts.layers(model) : ternaryLayerNames(model, modelName);
  const sparsity = opts.sparsity ?? 0.65;
  const sd = new Map<string, SafetensorEntry>();
  const base = model.stateDict();
  // MobileNetV2's batch norms have numeric names (`features.3.conv.1.1`): find them by type there
  // (the name patterns below keep the other models' random streams as they were).
  const bnNames = modelName === 'mobilenetv2' ? new Set(model.namedModules().filter(([, m]) => m instanceof BatchNorm2d).map(([n]) => n)) : new Set<string>();
  const isBn = (k: string, leaf: string): boolean => k.endsWith(`.${leaf}`) && bnNames.has(k.slice(0, -leaf.length - 1));
  for (const [k, t] of base) {
    const data = Float32Array.from(t.data);
    if (isBn(k, 'weight')) for (let i = 0; i < data.length; i++) data[i] = rng.uniformRange(0.5, 1.5);
    else if (isBn(k, 'bias')) for (let i = 0; i < data.length; i++) data[i] = 0.2 * rng.normal();
    if (k.endsWith('running_mean')) for (let i = 0; i < data.length; i++) data[i] = 0.2 * rng.normal();
    else if (k.endsWith('running_var')) for (let i = 0; i < data.length; i++) data[i] = rng.uniformRange(0.5, 1.5);
    else if (/bn\d?\.weight$|shortcut\.1\.weight$|downsample\.1\.weight$/.test(k)) for (let i = 0; i < data.length; i++) data[i] = rng.uniformRange(0.5, 1.5);
    else if (/bn\d?\.bias$|shortcut\.1\.bias$|downsample\.1\.bias$/.test(k)) for (let i = 0; i < data.length; i++) data[i] = 0.2 * rng.normal();
    sd.set(k, { dtype: 'F32', shape: [...t.shape], data });
  }
  if (opts.hardBatchNorm) {
    for (const [name, m] of model.namedModules()) {
      if (!(m instanceof BatchNorm2d)) continue;
      const g = sd.get(`${name}.weight`)!.data as Float32Array;
      const v = sd.get(`${name}.running_var`)!.data as Float32Array;
      for (let c = 0; c < g.length; c++) {
        const sign = rng.uniform() < 0.5 ? -1 : 1;
        g[c] = sign * rng.uniformRange(0.5, 1.5);
        if (rng.uniform() < 0.25) {
          v[c] = 10 ** rng.uniformRange(-4, -2);
          g[c] *= Math.sqrt(v[c]);
        }
      }
    }
  }
  for (const name of ternary) {
    const w = sd.get(`${name}.weight`) as SafetensorEntry;
    const M = w.shape[0];
    const per = w.data.length / M;
    const a = new Int8Array(w.data.length);
    for (let k = 0; k < a.length; k++) a[k] = rng.uniform() < sparsity ? 0 : rng.uniform() < 0.5 ? 1 : -1;
    const dead = Math.floor((opts.deadFraction ?? 0) * M);
    for (let q = 0; q < dead; q++) {
      const m = rng.int(M);
      a.fill(0, m * per, (m + 1) * per);
    }
    const wp = Math.fround(0.05 + 0.1 * rng.uniform());
    const wn = Math.fround(0.05 + 0.1 * rng.uniform());
    const wt = new Float32Array(a.length);
    for (let k = 0; k < a.length; k++) wt[k] = a[k] === 1 ? wp : a[k] === -1 ? -wn : 0;
    sd.set(`${name}.weight`, { dtype: 'F32', shape: w.shape, data: wt });
    sd.set(`${name}.w_p`, { dtype: 'F32', shape: [1], data: Float32Array.of(wp) });
    sd.set(`${name}.w_n`, { dtype: 'F32', shape: [1], data: Float32Array.of(wn) });
    sd.set(`${name}.assignment`, { dtype: 'I8', shape: w.shape, data: a });
  }
  const load = new Map<string, Tensor>();
  for (const [k, t] of base) {
    const e = sd.get(k) as SafetensorEntry;
    load.set(k, new Tensor(Float32Array.from(e.data as Float32Array), e.shape));
  }
  model.loadStateDict(load, { strict: true });
  model.eval();
  return { model, stateDict: sd, ternary };
}

// NOTE: the runtime and the nn forward both compute in float32 but sum in different orders (the
// runtime folds BN into the layer, adds ternary weights as ±w·Σx, removes dead channels), so they
// differ by a few float32 roundings (2^-24 ≈ 6e-8) per layer, compounded over up to ~20 layers.
// Measured max|Δ|/max|ref|: 0 (LeNet-5) to 5.8e-7 (MicroNet) on these fixtures. 2e-6 leaves a 3×
// margin and still catches a BN ε dropped from the fold (it moves the logits by 3.8e-6–2e-4 on the
// default fixtures, 3.9e-3–4.8e-2 on the hardBatchNorm ones).
export const RUNTIME_RTOL = 2e-6;
// float16 tensors round every stored value by up to 2^-11 ≈ 4.9e-4; measured 2.4e-4–7.6e-4.
export const FLOAT16_RTOL = 3e-3;

/** The runtime's logits equal the nn forward's within float32 rounding (relative to the largest logit). */
export function assertMatchesNn(got: ArrayLike<number>, want: ArrayLike<number>, what = 'runtime vs nn', rtol = RUNTIME_RTOL): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let scale = 0;
  let d = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]));
    d = Math.max(d, Math.abs(got[i] - want[i]));
  }
  const e = d / scale;
  assert.ok(e <= rtol, `${what}: max|Δ|/max|ref| = ${e.toExponential(2)} > ${rtol}`);
}
