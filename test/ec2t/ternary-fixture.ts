/**
 * Test fixture: a model with random ternary weights (chosen layers), random BN statistics and,
 * optionally, dead output filters, as the state dict `ec2t ternarize` writes (Wt in `weight` plus
 * `.w_p`, `.w_n`, `.assignment` siblings), together with the nn model holding the same weights.
 */
import { Rng } from '../../engine/rng.js';
import { BatchNorm2d } from '../../nn/layers.js';
import { createModel, ternaryLayerNames } from '../../nn/models/index.js';
import type { Module } from '../../nn/module.js';
import type { SafetensorEntry } from '../../nn/safetensors.js';
import { Tensor } from '../../engine/tensor.js';

export interface TernaryFixture {
  model: Module;
  stateDict: Map<string, SafetensorEntry>;
  ternary: string[];
}

/** Builds the fixture; `deadFraction` of each ternary layer's output filters are all zero. */
export function ternaryFixture(modelName: string, opts: { seed?: number; sparsity?: number; deadFraction?: number; modelOptions?: Record<string, unknown>; layers?: (model: Module) => string[] } = {}): TernaryFixture {
  const rng = new Rng(opts.seed ?? 1);
  const model = createModel(modelName, { ...(opts.modelOptions ?? {}), rng: rng.fork() });
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
