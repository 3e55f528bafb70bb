/**
 * The EC2T quantizer + optimizer pair (`docs/METHOD.md` §2–§7): per ternarized layer it keeps
 * the full-precision background `W` (the module's own `weight` Parameter), the centroid magnitudes
 * `w_p`, `w_n` (scalar Parameters), the assignment `A` and the ternary weights `Wt` the network
 * computes with (plugged in through the layer's `weightFn` hook), and it owns the three Adam
 * optimizers of the authors' trainer.
 *
 * One step (`step()` after `loss.backward()`), as the authors' `optimization_step`
 * (d-becking/efficientCNNs, `model_quantization/quantizer.py`):
 * 1. `G = ∂L/∂Wt` arrives through the `ternaryWeight` op's backward (the background's `.grad` is
 *    not touched by autodiff);
 * 2. centroid and background gradients by the rules of `gradients.ts` are written into `.grad`;
 * 3. Adam on the non-quantized parameters (lr 1e-4, coupled L2 5e-6), on the backgrounds (lr 1e-4,
 *    no decay; skipped when frozen), on the centroids (lr 1e-5);
 * 4. centroid floor `0.675·std(W)` over the updated background;
 * 5. re-assignment (skipped when frozen) and rebuild of `Wt`.
 *
 * λ handling [code]: the authors keep a per-layer λ list that starts at 1; `quantize` takes the
 * previous step's λ and, when it is exactly 0, uses plain nearest-neighbour assignment and returns
 * λ = 0 again — so a layer whose λ once came out 0 stays nearest-neighbour for the rest of the
 * phase; otherwise the entropy-constrained assignment runs with the λ computed from the current
 * step's statistics (§5.8). `reference` reproduces that latch ({@link TernaryLayerState.ecActive});
 * `corrected` always runs the entropy-constrained assignment (with γ = 0 or a degenerate λ_max it
 * reduces to nearest neighbour anyway, but a one-off λ = 0 does not switch the constraint off for good).
 */
import { ValueError } from '../base/errors.js';
import { Tensor, makeResult } from '../engine/tensor.js';
import { Conv2d, Linear } from '../nn/layers.js';
import { Parameter, stateDictForSave, type Module } from '../nn/module.js';
import { Adam, optimizerStateFromSafetensors, optimizerStateToSafetensors } from '../nn/optim.js';
import type { SafetensorEntry } from '../nn/safetensors.js';
import type { JsonValue } from '../nn/checkpoint.js';
import {
  ASSIGN_N,
  ASSIGN_P,
  ASSIGN_ZERO,
  assignTernary,
  ecpWeights,
  layerDecay,
  nearestTernary,
  ternaryWeights,
  ttqAssign,
} from './assign.js';
import { applyCentroidFloor, kmeansCentroids, scalerCentroids } from './init.js';
import { backgroundGradient, centroidGradients, ecpBackgroundGradient } from './gradients.js';
import { entropyBits, layerStats, networkSparsity, type LayerStats } from './stats.js';

/** Configuration of {@link TernaryQuantizer}. */
export interface QuantizerConfig {
  /** `ec2t` (entropy-constrained ternary), `ttq` (threshold, Zhu et al.), `ecp` (entropy-constrained pruning). */
  method: 'ec2t' | 'ttq' | 'ecp';
  /** `reference` (the authors' code, quirks included) or `corrected`. */
  variant: 'reference' | 'corrected';
  /** γ (`lambda_max_divider`), ≥ 0; 0 = nearest-neighbour assignment. */
  gain: number;
  /** s (`ini_c_divr`), > 0; initial centroids `|max W|·s`, `|min W|·s` (initMethod `scaler`). */
  initScale: number;
  /** Initial centroids: `scaler` (§3) or 1-D `kmeans` with a centroid pinned at 0. */
  initMethod: 'scaler' | 'kmeans';
  /** TTQ threshold t on `W / max|W|` (TTQ only; 0.05 in the paper). */
  ttqThreshold: number;
  /** Adam lr of the background weights and the non-quantized parameters (default 1e-4). */
  lr: number;
  /** Adam lr of the centroids `[w_p, w_n]` (default 1e-5). */
  centroidLr: number;
  /** Coupled L2 weight decay of the non-quantized parameters only (default 5e-6). */
  weightDecay: number;
}

/** The authors' defaults (`main_trained_quantization.py`): lr 1e-4, lr2 1e-5, wd 5e-6, TTQ t = 0.05. */
export const DEFAULT_QUANTIZER_CONFIG: QuantizerConfig = {
  method: 'ec2t',
  variant: 'reference',
  gain: 0,
  initScale: 0.3,
  initMethod: 'scaler',
  ttqThreshold: 0.05,
  lr: 1e-4,
  centroidLr: 1e-5,
  weightDecay: 5e-6,
};

/** State of one ternarized layer (mutated by the quantizer only; read it, do not write it). */
export interface TernaryLayerState {
  /** Module name (`layer1.0.conv1`). */
  readonly name: string;
  readonly module: Conv2d | Linear;
  /** The module's `weight` Parameter: the full-precision background `W`. */
  readonly background: Parameter;
  /** Positive centroid magnitude, shape `[1]`. */
  readonly wp: Parameter;
  /** Negative centroid magnitude (value `−w_n`), shape `[1]`. */
  readonly wn: Parameter;
  /** −1 (n), 0 (zero), +1 (p) per weight. */
  assignment: Int8Array;
  /** Layer decay δ (§5.6). */
  readonly decay: number;
  /** λ used in the last assignment (0 for nearest neighbour, TTQ, and before the first step). */
  lambda: number;
  /** λ_max of the last entropy-constrained assignment (0 when none ran). */
  lambdaMax: number;
  /**
   * [code] latch of the reference variant: false once a step returned λ = 0; from then on the
   * layer uses nearest-neighbour assignment (the authors' `Lambda == 0` branch). Always true in
   * `corrected`.
   */
  ecActive: boolean;
  /** `[I_n, I_0, I_p]` of the last entropy-constrained assignment (as used in its costs). */
  information: [number, number, number];
  /** `G = ∂L/∂Wt` accumulated by backward since the last {@link TernaryQuantizer.zeroGrad}. */
  gradWt: Float32Array | null;
  /** The weights the network computes with. */
  wt: Float32Array;
}

/** One layer's histogram of background weights with the cost-argmin decision boundaries. */
export interface LayerHistogram {
  name: string;
  /** Counts per equal-width bin over `[lo, hi]`. */
  bins: number[];
  lo: number;
  hi: number;
  wn: number;
  wp: number;
  lambda: number;
  /** A weight w is assigned to zero when `negZero < w < zeroPos`. */
  boundaries: { negZero: number; zeroPos: number };
}

const OPT_KEYS = ['params', 'background', 'centroids'] as const;

function checkConfig(cfg: QuantizerConfig): void {
  const op = 'TernaryQuantizer';
  if (!['ec2t', 'ttq', 'ecp'].includes(cfg.method)) throw new ValueError(op, `method must be 'ec2t', 'ttq' or 'ecp', got ${String(cfg.method)}`);
  if (cfg.variant !== 'reference' && cfg.variant !== 'corrected') throw new ValueError(op, `variant must be 'reference' or 'corrected', got ${String(cfg.variant)}`);
  if (cfg.initMethod !== 'scaler' && cfg.initMethod !== 'kmeans') throw new ValueError(op, `initMethod must be 'scaler' or 'kmeans', got ${String(cfg.initMethod)}`);
  const nonneg = (k: keyof QuantizerConfig, strict = false): void => {
    const v = cfg[k] as unknown;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (strict && v === 0)) {
      throw new ValueError(op, `${k} must be a finite number ${strict ? '> 0' : '≥ 0'}, got ${String(v)}`);
    }
  };
  nonneg('gain');
  nonneg('initScale', cfg.initMethod === 'scaler' && cfg.method !== 'ttq');
  nonneg('ttqThreshold');
  nonneg('lr');
  nonneg('centroidLr');
  nonneg('weightDecay');
}

function scalarParam(v: number): Parameter {
  return new Parameter(Float32Array.of(v), [1]);
}

function gradTensor(v: number): Tensor {
  return new Tensor(Float32Array.of(v), [1]);
}

/**
 * EC2T quantizer and its three Adam optimizers over a model. Attaches `weightFn` hooks to the
 * selected Conv2d/Linear layers at construction (initial centroids and nearest-neighbour
 * assignment, or TTQ's threshold assignment with centroids 1).
 *
 * @example
 * const q = new TernaryQuantizer(model, ternaryLayerNames(model, 'resnet20'), { ...DEFAULT_QUANTIZER_CONFIG, gain: 0.2 });
 * q.zeroGrad(); const loss = crossEntropy(model.forward(x), y); loss.backward(); q.step();
 */
export class TernaryQuantizer {
  readonly layers: TernaryLayerState[];
  private frozenFlag = false;
  private readonly cfg: QuantizerConfig;
  private readonly model: Module;
  private readonly nonQuantized: Parameter[];
  private readonly optParams: Adam;
  private readonly optBackground: Adam;
  private readonly optCentroids: Adam;
  private readonly initial: ReadonlyMap<string, { wp: number; wn: number; assignment: Int8Array }>;

  /**
   * `options.initial`: layers to start from a given ternary state (a ternary-valued checkpoint's
   * assignment and centroids, ec2t/recognize.ts) instead of the initial centroids and
   * nearest-neighbour assignment of §3 (EC2T and ECP; TTQ starts from its own rule).
   */
  constructor(model: Module, layerNames: string[], cfg: QuantizerConfig, options: { initial?: ReadonlyMap<string, { wp: number; wn: number; assignment: Int8Array }> } = {}) {
    const op = 'TernaryQuantizer';
    this.initial = options.initial ?? new Map();
    checkConfig(cfg);
    if (layerNames.length === 0) throw new ValueError(op, 'expected at least one layer name to ternarize, got none (see ternaryLayerNames)');
    if (new Set(layerNames).size !== layerNames.length) throw new ValueError(op, `layer names must be unique, got ${layerNames.join(', ')}`);
    this.cfg = { ...cfg };
    this.model = model;
    const modules = new Map(model.namedModules());
    const mods: Array<[string, Conv2d | Linear]> = layerNames.map((name) => {
      const m = modules.get(name);
      if (m === undefined) throw new ValueError(op, `no module '${name}' in the model; conv/linear layers: ${[...modules].filter(([, x]) => x instanceof Conv2d || x instanceof Linear).map(([n]) => n).join(', ')}`);
      if (!(m instanceof Conv2d || m instanceof Linear)) throw new ValueError(op, `module '${name}' is a ${m.constructor.name}; only Conv2d and Linear layers can be ternarized`);
      if (m.weightFn !== null) throw new ValueError(op, `layer '${name}' already has a weightFn (another quantizer attached?); call detach() on it first`);
      return [name, m];
    });
    const sdKeys = new Set(model.stateDict().keys());
    for (const [name] of mods) {
      for (const s of ['w_p', 'w_n', 'assignment']) {
        if (sdKeys.has(`${name}.${s}`)) throw new ValueError(op, `the model already has a state-dict key '${name}.${s}'; ternary sibling keys would collide`);
      }
    }
    const largest = Math.max(...mods.map(([, m]) => m.weight.size));
    this.layers = mods.map(([name, m]) => this.initLayer(name, m, largest));
    const backgrounds = new Set<Tensor>(this.layers.map((l) => l.background));
    this.nonQuantized = model.parameters().filter((p) => !backgrounds.has(p));
    this.optParams = new Adam({ params: this.nonQuantized, lr: cfg.lr, weightDecay: cfg.weightDecay });
    this.optBackground = new Adam({ params: this.layers.map((l) => l.background), lr: cfg.lr, weightDecay: 0 });
    this.optCentroids = new Adam({ params: this.layers.flatMap((l) => [l.wp, l.wn]), lr: cfg.centroidLr, weightDecay: 0 });
    for (const l of this.layers) this.attach(l);
  }

  private initLayer(name: string, module: Conv2d | Linear, largest: number): TernaryLayerState {
    const w = module.weight.data;
    const { method, initMethod, initScale } = this.cfg;
    let c: { wp: number; wn: number };
    let assignment: Int8Array;
    if (method === 'ttq') {
      // TTQ starts both centroids at 1 and assigns by threshold.
      c = { wp: 1, wn: 1 };
      assignment = ttqAssign(w, this.cfg.ttqThreshold);
    } else if (this.initial.has(name)) {
      const given = this.initial.get(name)!;
      if (given.assignment.length !== w.length) throw new ValueError('TernaryQuantizer', `initial state of '${name}': ${given.assignment.length} assignments for ${w.length} weights`);
      c = { wp: given.wp, wn: given.wn };
      assignment = Int8Array.from(given.assignment);
    } else {
      c = initMethod === 'kmeans' ? kmeansCentroids(w) : scalerCentroids(w, initScale);
      // [code] the initial quantization is nearest neighbour (quantize with Lambda = 0), no floor.
      assignment = nearestTernary(w, c.wp, c.wn);
    }
    const layer: TernaryLayerState = {
      name,
      module,
      background: module.weight,
      wp: scalarParam(c.wp),
      wn: scalarParam(c.wn),
      assignment,
      decay: layerDecay(w.length, largest),
      lambda: 0,
      lambdaMax: 0,
      ecActive: true,
      information: [0, 0, 0],
      gradWt: null,
      wt: new Float32Array(w.length),
    };
    this.rebuild(layer);
    return layer;
  }

  private attach(layer: TernaryLayerState): void {
    const bg = layer.background;
    layer.module.weightFn = () =>
      makeResult('ternaryWeight', layer.wt, bg.shape, [bg], (g) => {
        // G = ∂L/∂Wt goes to the layer, not to background.grad: the update rule is not autodiff's.
        if (layer.gradWt === null) layer.gradWt = g.slice();
        else for (let i = 0; i < g.length; i++) layer.gradWt[i] += g[i];
        return [null];
      });
  }

  private rebuild(layer: TernaryLayerState): void {
    // A fresh buffer each time: a Wt tensor handed out before the step keeps its values.
    layer.wt =
      this.cfg.method === 'ecp'
        ? ecpWeights(layer.background.data, layer.assignment)
        : ternaryWeights(layer.assignment, layer.wp.data[0], layer.wn.data[0]);
  }

  private reassign(layer: TernaryLayerState): void {
    const w = layer.background.data;
    const wp = layer.wp.data[0];
    const wn = layer.wn.data[0];
    const { method, variant, gain } = this.cfg;
    if (method === 'ttq') {
      layer.assignment = ttqAssign(w, this.cfg.ttqThreshold, layer.assignment);
      return;
    }
    if (variant === 'reference' && !layer.ecActive) {
      // [code] `quantize` with a previous Lambda of 0: nearest neighbour, returns Lambda 0.
      layer.assignment = nearestTernary(w, wp, wn, layer.assignment);
      layer.lambda = 0;
      return;
    }
    const r = assignTernary(w, { wp, wn, gain, decay: layer.decay, variant });
    layer.assignment = r.assignment;
    layer.lambda = r.lambda;
    layer.lambdaMax = r.lambdaMax;
    layer.information =
      variant === 'corrected'
        ? [Math.max(r.information[0], r.information[1]), r.information[1], Math.max(r.information[2], r.information[1])]
        : r.information;
    if (variant === 'reference' && r.lambda === 0) layer.ecActive = false;
  }

  /** True in frozen-assignment retraining (§6). */
  get frozen(): boolean {
    return this.frozenFlag;
  }

  /** Clears the gradients of every parameter the three optimizers own and each layer's `G`. */
  zeroGrad(): void {
    this.optParams.zeroGrad();
    this.optBackground.zeroGrad();
    this.optCentroids.zeroGrad();
    for (const l of this.layers) l.gradWt = null;
  }

  /**
   * One optimizer step after `loss.backward()` (§4.2–4.7; frozen: §6). A layer that received no
   * `G` (not used in the forward) gets no centroid/background update but is still floored and
   * re-assigned.
   */
  step(): void {
    const { method, variant } = this.cfg;
    for (const l of this.layers) {
      const g = l.gradWt;
      if (g === null) continue;
      const cg = centroidGradients(g, l.assignment, variant);
      l.wp.grad = gradTensor(cg.gp);
      l.wn.grad = gradTensor(cg.gn);
      if (!this.frozenFlag) {
        const out = new Float32Array(g.length);
        if (method === 'ecp') ecpBackgroundGradient(g, l.assignment, out);
        else backgroundGradient(g, l.assignment, l.wp.data[0], l.wn.data[0], out);
        l.background.grad = new Tensor(out, l.background.shape);
      }
    }
    this.optParams.step();
    if (!this.frozenFlag) this.optBackground.step();
    this.optCentroids.step();
    for (const l of this.layers) {
      // [code] floor with the std of the (updated) background; also in TTQ/ECP runs, as the
      // authors' trainer applies it whatever the assignment rule.
      const fl = applyCentroidFloor(l.wp.data[0], l.wn.data[0], l.background.data);
      l.wp.data[0] = fl.wp;
      l.wn.data[0] = fl.wn;
      if (!this.frozenFlag) this.reassign(l);
      this.rebuild(l);
    }
  }

  /**
   * Enters frozen-assignment retraining (§6): `A` fixed, backgrounds no longer stepped, centroids
   * and non-quantized parameters keep training. [code] the authors build fresh Adam optimizers for
   * the non-quantized parameters and the centroids at this point (`define_optimizers`), so their
   * state (moments, step counts) is reset and their lrs go back to the configured values.
   * Calling it again is a no-op.
   */
  freeze(): void {
    if (this.frozenFlag) return;
    this.frozenFlag = true;
    for (const [opt, lr] of [
      [this.optParams, this.cfg.lr],
      [this.optCentroids, this.cfg.centroidLr],
    ] as const) {
      const sd = opt.stateDict();
      for (const g of sd.groups) g.hyper.lr = lr;
      opt.loadStateDict({ ...sd, state: new Map() });
    }
  }

  /** Current lr of every group: [non-quantized, background, centroids]. */
  lrs(): number[] {
    return this.optimizers().flatMap((o) => o.groups.map((g) => g.lr));
  }

  /** The three optimizers: [non-quantized params, backgrounds, centroids]. */
  optimizers(): Adam[] {
    return [this.optParams, this.optBackground, this.optCentroids];
  }

  /** §8 statistics per layer (`name` is the weight parameter name, `layer1.0.conv1.weight`). */
  layerStats(): LayerStats[] {
    return this.layers.map((l) =>
      layerStats({
        name: `${l.name}.weight`,
        shape: l.background.shape,
        assignment: l.assignment,
        wp: l.wp.data[0],
        wn: l.wn.data[0],
        lambda: l.lambda,
        lambdaMax: l.lambdaMax,
      }),
    );
  }

  /**
   * Sparsity as the authors' `calc_sparsity` (ternary zeros + exact zeros of every non-quantized
   * parameter, over all of them) and of the quantized layers; `entropy` is the numel-weighted
   * mean of the layers' assignment entropies (bits).
   */
  sparsity(): { overall: number; quantized: number; entropy: number } {
    const q: Array<{ numel: number; zero: number }> = [];
    let hSum = 0;
    let nSum = 0;
    for (const l of this.layers) {
      const c: [number, number, number] = [0, 0, 0];
      for (let i = 0; i < l.assignment.length; i++) c[l.assignment[i] + 1]++;
      q.push({ numel: l.assignment.length, zero: c[1] });
      hSum += entropyBits(c) * l.assignment.length;
      nSum += l.assignment.length;
    }
    const s = networkSparsity(q, this.nonQuantized.map((p) => p.data));
    return { overall: s.overall, quantized: s.quantized, entropy: nSum === 0 ? 0 : hSum / nSum };
  }

  /**
   * Everything besides the model's own state dict (which holds the backgrounds) needed to resume
   * exactly: per layer `<name>.w_p`, `<name>.w_n` (F32 `[1]`), `<name>.assignment` (I8, weight
   * shape); optimizer buffers under `optim.params.`, `optim.background.`, `optim.centroids.`.
   * λ state is in {@link stateJson}. Values are copies.
   */
  stateTensors(): Map<string, Tensor | SafetensorEntry> {
    const out = new Map<string, Tensor | SafetensorEntry>();
    for (const l of this.layers) {
      out.set(`${l.name}.w_p`, { dtype: 'F32', shape: [1], data: l.wp.data.slice() });
      out.set(`${l.name}.w_n`, { dtype: 'F32', shape: [1], data: l.wn.data.slice() });
      out.set(`${l.name}.assignment`, { dtype: 'I8', shape: [...l.background.shape], data: l.assignment.slice() });
    }
    this.optimizers().forEach((o, i) => {
      for (const [k, v] of optimizerStateToSafetensors(o.stateDict(), `optim.${OPT_KEYS[i]}.`).tensors) out.set(k, v);
    });
    return out;
  }

  /** The non-tensor state: method, variant, frozen flag, per-layer λ state, optimizer hyper-parameters and step counts. */
  stateJson(): JsonValue {
    const optim: Record<string, JsonValue> = {};
    this.optimizers().forEach((o, i) => {
      optim[OPT_KEYS[i]] = optimizerStateToSafetensors(o.stateDict(), `optim.${OPT_KEYS[i]}.`).json;
    });
    return {
      version: 1,
      method: this.cfg.method,
      variant: this.cfg.variant,
      frozen: this.frozenFlag,
      layers: this.layers.map((l) => ({
        name: l.name,
        lambda: l.lambda,
        lambdaMax: l.lambdaMax,
        ecActive: l.ecActive,
        information: [...l.information],
      })),
      optimizers: optim,
    };
  }

  /**
   * Restores {@link stateTensors} + {@link stateJson} (load the model's state dict, i.e. the
   * backgrounds, first: ECP's `Wt` is rebuilt from them). Validates everything before changing anything.
   */
  loadState(tensors: Map<string, SafetensorEntry>, json: JsonValue): void {
    const op = 'TernaryQuantizer.loadState';
    const j = json as {
      method?: unknown;
      frozen?: unknown;
      layers?: Array<{ name?: unknown; lambda?: unknown; lambdaMax?: unknown; ecActive?: unknown; information?: unknown }>;
      optimizers?: Record<string, unknown>;
    };
    if (typeof j !== 'object' || j === null || !Array.isArray(j.layers) || typeof j.optimizers !== 'object' || j.optimizers === null || typeof j.frozen !== 'boolean') {
      throw new ValueError(op, 'expected the JSON from stateJson() ({ frozen, layers, optimizers, ... })');
    }
    if (j.method !== this.cfg.method) throw new ValueError(op, `state is for method ${String(j.method)}, this quantizer runs ${this.cfg.method}`);
    const names = j.layers.map((l) => l.name);
    if (names.join('\n') !== this.layers.map((l) => l.name).join('\n')) {
      throw new ValueError(op, `state has layers [${names.join(', ')}], this quantizer has [${this.layers.map((l) => l.name).join(', ')}]`);
    }
    const f32 = (key: string): Float32Array => {
      const e = tensors.get(key);
      if (e === undefined || !(e.data instanceof Float32Array) || e.data.length !== 1) throw new ValueError(op, `missing F32 [1] tensor ${key}`);
      return e.data;
    };
    const staged = this.layers.map((l, i) => {
      const e = tensors.get(`${l.name}.assignment`);
      if (e === undefined || !(e.data instanceof Int8Array) || e.data.length !== l.background.size) {
        throw new ValueError(op, `missing I8 tensor ${l.name}.assignment with ${l.background.size} elements`);
      }
      for (let k = 0; k < e.data.length; k++) {
        const a = e.data[k];
        if (a !== ASSIGN_N && a !== ASSIGN_ZERO && a !== ASSIGN_P) throw new ValueError(op, `${l.name}.assignment holds ${a} at ${k}; codes are −1, 0, +1`);
      }
      const js = j.layers![i];
      const info = js.information;
      if (typeof js.lambda !== 'number' || typeof js.lambdaMax !== 'number' || typeof js.ecActive !== 'boolean' || !Array.isArray(info) || info.length !== 3 || !info.every((v) => typeof v === 'number')) {
        throw new ValueError(op, `layer ${l.name}: expected { lambda, lambdaMax, ecActive, information[3] } in the JSON`);
      }
      return {
        wp: f32(`${l.name}.w_p`)[0],
        wn: f32(`${l.name}.w_n`)[0],
        assignment: e.data.slice(),
        lambda: js.lambda,
        lambdaMax: js.lambdaMax,
        ecActive: js.ecActive,
        information: [info[0], info[1], info[2]] as [number, number, number],
      };
    });
    const optStates = this.optimizers().map((_, i) => {
      const s = j.optimizers![OPT_KEYS[i]];
      if (typeof s !== 'string') throw new ValueError(op, `missing optimizer state '${OPT_KEYS[i]}' in the JSON`);
      return optimizerStateFromSafetensors(tensors, s, `optim.${OPT_KEYS[i]}.`);
    });
    // Optimizer loads validate before changing; stage them on copies so a failure leaves us intact.
    const before = this.optimizers().map((o) => o.stateDict());
    try {
      this.optimizers().forEach((o, i) => o.loadStateDict(optStates[i]));
    } catch (e) {
      this.optimizers().forEach((o, i) => o.loadStateDict(before[i]));
      throw e;
    }
    this.layers.forEach((l, i) => {
      const s = staged[i];
      l.wp.data[0] = s.wp;
      l.wn.data[0] = s.wn;
      l.assignment = s.assignment;
      l.lambda = s.lambda;
      l.lambdaMax = s.lambdaMax;
      l.ecActive = s.ecActive;
      l.information = s.information;
      l.gradWt = null;
      this.rebuild(l);
    });
    this.frozenFlag = j.frozen;
  }

  /**
   * The trained ternary model: the model's state dict (PyTorch names and dtypes) with each
   * ternary layer's `weight` replaced by `Wt`, followed by sibling keys `<layer>.w_p`,
   * `<layer>.w_n` (F32 `[1]`) and `<layer>.assignment` (I8, weight shape). Values are copies.
   */
  ternaryStateDict(): Map<string, Tensor | SafetensorEntry> {
    const byWeight = new Map(this.layers.map((l) => [l.background, l]));
    const out = new Map<string, Tensor | SafetensorEntry>();
    for (const [k, v] of stateDictForSave(this.model)) {
      const l = v instanceof Tensor ? byWeight.get(v as Parameter) : undefined;
      if (l === undefined) {
        out.set(k, v instanceof Tensor ? v.clone() : v);
        continue;
      }
      out.set(k, new Tensor(l.wt.slice(), l.background.shape));
      out.set(`${l.name}.w_p`, { dtype: 'F32', shape: [1], data: l.wp.data.slice() });
      out.set(`${l.name}.w_n`, { dtype: 'F32', shape: [1], data: l.wn.data.slice() });
      out.set(`${l.name}.assignment`, { dtype: 'I8', shape: [...l.background.shape], data: l.assignment.slice() });
    }
    return out;
  }

  /**
   * Per layer: histogram of the background weights over `[min W, max W]` and the decision
   * boundaries of the last assignment rule. EC2T/ECP: solving `D_n + λI_n = D_0 + λI_0` gives
   * `w = −w_n/2 − λ(I_n − I_0)/(2w_n)`, and `D_p + λI_p = D_0 + λI_0` gives
   * `w = w_p/2 + λ(I_p − I_0)/(2w_p)` (λ = 0: the midpoints); TTQ: `±t·max|W|`.
   * A zero centroid magnitude gives a boundary of 0.
   */
  histograms(bins = 50): LayerHistogram[] {
    if (!Number.isInteger(bins) || bins < 1) throw new ValueError('histograms', `bins must be an integer ≥ 1, got ${bins}`);
    return this.layers.map((l) => {
      const w = l.background.data;
      let lo = Infinity;
      let hi = -Infinity;
      let maxAbs = 0;
      for (let i = 0; i < w.length; i++) {
        if (w[i] < lo) lo = w[i];
        if (w[i] > hi) hi = w[i];
        maxAbs = Math.max(maxAbs, Math.abs(w[i]));
      }
      const counts = new Array<number>(bins).fill(0);
      const width = (hi - lo) / bins;
      for (let i = 0; i < w.length; i++) {
        const b = width > 0 ? Math.min(bins - 1, Math.floor((w[i] - lo) / width)) : 0;
        counts[b]++;
      }
      const wp = l.wp.data[0];
      const wn = l.wn.data[0];
      let negZero: number;
      let zeroPos: number;
      if (this.cfg.method === 'ttq') {
        negZero = -this.cfg.ttqThreshold * maxAbs;
        zeroPos = this.cfg.ttqThreshold * maxAbs;
      } else {
        const [In, I0, Ip] = l.information;
        negZero = wn > 0 ? -wn / 2 - (l.lambda * (In - I0)) / (2 * wn) : 0;
        zeroPos = wp > 0 ? wp / 2 + (l.lambda * (Ip - I0)) / (2 * wp) : 0;
      }
      return { name: `${l.name}.weight`, bins: counts, lo, hi, wn, wp, lambda: l.lambda, boundaries: { negZero: 0 + negZero, zeroPos: 0 + zeroPos } };
    });
  }

  /** Removes the `weightFn` hooks: the model computes with its float (background) weights again. */
  detach(): void {
    for (const l of this.layers) if (l.module.weightFn !== null) l.module.weightFn = null;
  }
}

/**
 * Loads a `ternary.safetensors` dict (from {@link TernaryQuantizer.ternaryStateDict}) into a fresh
 * model: each ternary layer's `weight` becomes `Wt`; the sibling keys are checked (assignment codes,
 * shapes, zeros of `Wt` exactly where `A = 0`) and reported, not loaded.
 *
 * @example const { layerNames } = loadTernaryStateDict(createModel('resnet20'), loadSafetensors(path).tensors);
 */
export function loadTernaryStateDict(model: Module, dict: Map<string, SafetensorEntry>): { layerNames: string[] } {
  const op = 'loadTernaryStateDict';
  const layerNames: string[] = [];
  const plain = new Map<string, SafetensorEntry>();
  const sibling = /\.(w_p|w_n|assignment)$/;
  for (const [k, e] of dict) {
    if (k.endsWith('.assignment')) layerNames.push(k.slice(0, -'.assignment'.length));
    if (!sibling.test(k)) plain.set(k, e);
  }
  for (const name of layerNames) {
    const a = dict.get(`${name}.assignment`)!;
    const w = dict.get(`${name}.weight`);
    const wp = dict.get(`${name}.w_p`);
    const wn = dict.get(`${name}.w_n`);
    if (w === undefined || wp === undefined || wn === undefined) throw new ValueError(op, `ternary layer ${name}: expected ${name}.weight, ${name}.w_p and ${name}.w_n beside ${name}.assignment`);
    if (!(a.data instanceof Int8Array) || a.data.length !== w.data.length) throw new ValueError(op, `${name}.assignment must be I8 with the weight's ${w.data.length} elements, got ${a.dtype} with ${a.data.length}`);
    const wd = w.data as ArrayLike<number>;
    for (let i = 0; i < a.data.length; i++) {
      const c = a.data[i];
      if (c !== ASSIGN_N && c !== ASSIGN_ZERO && c !== ASSIGN_P) throw new ValueError(op, `${name}.assignment holds ${c} at ${i}; codes are −1, 0, +1`);
      if (c === ASSIGN_ZERO && wd[i] !== 0) throw new ValueError(op, `${name}.weight[${i}] = ${wd[i]} but its assignment is zero`);
    }
  }
  const known = new Set(model.stateDict().keys());
  for (const name of layerNames) if (!known.has(`${name}.weight`)) throw new ValueError(op, `the dict has a ternary layer ${name} that the model does not have`);
  model.loadStateDict(plain);
  return { layerNames };
}
