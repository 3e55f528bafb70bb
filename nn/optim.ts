/**
 * Optimizers with PyTorch's update math (torch.optim SGD, Adam, AdamW, single-tensor path),
 * reproduced in float32 operation by operation, including where PyTorch's CPU kernels fuse a
 * multiply-add (`add(x, alpha)`, the last step of `addcmul`): those use {@link fma32}, a correctly
 * rounded float32 fused multiply-add. Parameters are updated in place on `param.data` from
 * `param.grad.data`; parameters without a gradient are skipped (their state is untouched).
 *
 * State (step counts, momentum buffers, exp_avg/exp_avg_sq) is keyed by the parameter's index in
 * group order, as in PyTorch's `state_dict()`, and converts to safetensors tensors + JSON.
 */
import { ValueError } from '../base/errors.js';
import type { Tensor } from '../engine/tensor.js';
import type { SafetensorEntry } from './safetensors.js';

const fround = Math.fround;

/**
 * float32 fused multiply-add `round32(a·b + c)` for float32 inputs, correctly rounded.
 * a·b is exact in float64; the float64 sum is rounded once more to float32, and the rare
 * double-rounding tie is repaired with the sum's exact error term (TwoSum).
 * @example fma32(Math.fround(0.1), 3, 1)
 */
export function fma32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const f = fround(s);
  const d = s - f;
  if (d === 0) return f;
  const bb = s - p;
  const err = p - (s - bb) + (c - bb);
  if (err === 0) return f;
  const other = f + 2 * d;
  // s sits exactly halfway between two float32s: the exact value is on the side of err.
  if (fround(other) === other && (err > 0) === (d > 0)) return other;
  return f;
}

/** Per-parameter optimizer state: update count and named float32 buffers. */
export interface ParamState {
  step: number;
  buffers: Record<string, Float32Array>;
}

/** Hyper-parameter values a group can hold (all JSON-serialisable). */
export type HyperValue = number | boolean | number[];

/** The serialisable state of an optimizer (PyTorch's `state_dict()` layout). */
export interface OptimizerStateDict {
  type: string;
  /** Per group: hyper-parameters plus `params`, the global indices of its parameters. */
  groups: Array<{ params: number[]; hyper: Record<string, HyperValue> }>;
  /** Keyed by global parameter index; absent for parameters never updated. */
  state: Map<number, ParamState>;
}

/** Base group shape: every group has params and a learning rate (what schedules change). */
export interface ParamGroupBase {
  params: Tensor[];
  lr: number;
}

/** Shared machinery: groups, per-parameter state, zeroGrad and state (de)serialisation. */
export abstract class Optimizer<G extends ParamGroupBase> {
  /** Parameter groups in order; `group.lr` and other hyper-parameters may be changed between steps. */
  readonly groups: G[];
  /** Per-parameter state, created lazily on a parameter's first update. */
  protected readonly state = new Map<Tensor, ParamState>();
  /** Name used in errors and state dicts (`SGD`, `Adam`, `AdamW`). */
  abstract readonly type: string;

  protected constructor(groups: G[]) {
    const seen = new Set<Tensor>();
    for (const g of groups) {
      for (const p of g.params) {
        if (seen.has(p)) throw new ValueError('optimizer', 'a parameter appears in more than one group (or twice in one); each parameter must belong to exactly one group');
        seen.add(p);
      }
    }
    this.groups = groups;
  }

  /** All parameters in group order (their index is the key of their state). */
  params(): Tensor[] {
    return this.groups.flatMap((g) => g.params);
  }

  /** Clears every parameter's gradient (sets `.grad` to null, PyTorch's `set_to_none=True`). */
  zeroGrad(): void {
    for (const g of this.groups) for (const p of g.params) p.grad = null;
  }

  /** One update of every parameter that has a gradient. */
  step(): void {
    for (const g of this.groups) {
      for (const p of g.params) {
        if (p.grad === null) continue;
        let st = this.state.get(p);
        if (st === undefined) {
          st = { step: 0, buffers: {} };
          this.state.set(p, st);
        }
        this.update(g, p, p.grad.data, st);
      }
    }
  }

  /** The update rule for one parameter. */
  protected abstract update(group: G, param: Tensor, grad: Float32Array, state: ParamState): void;
  /** The group's hyper-parameters (everything but `params`) as JSON values. */
  protected abstract hyperOf(group: G): Record<string, HyperValue>;
  /** Validates and applies hyper-parameters read from a state dict. */
  protected abstract setHyper(group: G, hyper: Record<string, HyperValue>): void;

  /**
   * A deep copy of the optimizer's state: hyper-parameters per group and per-parameter buffers.
   * @example const sd = opt.stateDict(); other.loadStateDict(sd);
   */
  stateDict(): OptimizerStateDict {
    const groups: OptimizerStateDict['groups'] = [];
    const state = new Map<number, ParamState>();
    let index = 0;
    for (const g of this.groups) {
      const params: number[] = [];
      for (const p of g.params) {
        const st = this.state.get(p);
        if (st !== undefined) {
          const buffers: Record<string, Float32Array> = {};
          for (const [k, b] of Object.entries(st.buffers)) buffers[k] = b.slice();
          state.set(index, { step: st.step, buffers });
        }
        params.push(index++);
      }
      groups.push({ params, hyper: structuredClone(this.hyperOf(g)) });
    }
    return { type: this.type, groups, state };
  }

  /**
   * Restores a {@link stateDict} taken from an optimizer of the same type over parameters of
   * the same shapes in the same group layout. Validates everything before changing anything.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const op = `${this.type}.loadStateDict`;
    if (sd.type !== this.type) throw new ValueError(op, `state dict is for ${sd.type}, this optimizer is ${this.type}`);
    if (sd.groups.length !== this.groups.length) throw new ValueError(op, `state dict has ${sd.groups.length} parameter groups, this optimizer has ${this.groups.length}`);
    const params = this.params();
    let index = 0;
    for (let gi = 0; gi < this.groups.length; gi++) {
      const want = this.groups[gi].params.length;
      const got = sd.groups[gi].params;
      if (got.length !== want) throw new ValueError(op, `group ${gi} has ${got.length} parameters in the state dict, ${want} here`);
      for (const i of got) if (i !== index++) throw new ValueError(op, `group ${gi} parameter indices ${JSON.stringify(got)} are not consecutive in group order`);
    }
    const next = new Map<Tensor, ParamState>();
    for (const [i, st] of sd.state) {
      if (!Number.isInteger(i) || i < 0 || i >= params.length) throw new ValueError(op, `state for parameter index ${i}, but there are ${params.length} parameters`);
      if (!Number.isInteger(st.step) || st.step < 0) throw new ValueError(op, `parameter ${i}: step ${st.step} must be an integer >= 0`);
      const buffers: Record<string, Float32Array> = {};
      for (const [k, b] of Object.entries(st.buffers)) {
        if (!(b instanceof Float32Array) || b.length !== params[i].size) throw new ValueError(op, `parameter ${i}: buffer "${k}" has ${b.length} elements, the parameter has ${params[i].size}`);
        buffers[k] = b.slice();
      }
      this.checkBuffers(op, i, buffers);
      next.set(params[i], { step: st.step, buffers });
    }
    // Hyper-parameters are validated on a scratch copy first so a bad dict leaves us unchanged.
    for (let gi = 0; gi < this.groups.length; gi++) this.setHyper({ ...this.groups[gi] }, sd.groups[gi].hyper);
    for (let gi = 0; gi < this.groups.length; gi++) this.setHyper(this.groups[gi], structuredClone(sd.groups[gi].hyper));
    this.state.clear();
    for (const [p, st] of next) this.state.set(p, st);
  }

  /** Subclasses reject buffers they do not know. */
  protected abstract checkBuffers(op: string, index: number, buffers: Record<string, Float32Array>): void;
}

function num(op: string, name: string, v: HyperValue | undefined, ok: (x: number) => boolean, rule: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new ValueError(op, `${name} = ${JSON.stringify(v)}; it must be ${rule}`);
  return v;
}

// ---------------------------------------------------------------- SGD

/** SGD hyper-parameters (PyTorch names in camelCase). */
export interface SGDHyper {
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
}

/** An SGD parameter group. */
export type SGDGroup = ParamGroupBase & SGDHyper;

/** A group as given by the user: params plus any hyper-parameters overriding the defaults. */
export type GroupInput<H> = { params: Tensor[] } & Partial<H>;

/** SGD options: `params` (one group) or `groups`, and the defaults for every group. */
export type SGDOptions = { params?: Tensor[]; groups?: GroupInput<SGDHyper>[] } & Pick<SGDHyper, 'lr'> & Partial<SGDHyper>;

function makeGroups<H extends object>(op: string, opts: { params?: Tensor[]; groups?: GroupInput<H>[] }, defaults: H): Array<ParamGroupBase & H> {
  if ((opts.params === undefined) === (opts.groups === undefined)) throw new ValueError(op, 'give exactly one of `params` (a list of tensors) or `groups` (a list of { params, ...hyper-parameters })');
  const inputs: GroupInput<H>[] = opts.groups ?? [{ params: opts.params! } as GroupInput<H>];
  return inputs.map((g) => {
    const out = { ...defaults } as ParamGroupBase & H;
    for (const [k, v] of Object.entries(g)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
    out.params = [...g.params];
    return out;
  });
}

function checkSGD(op: string, h: Record<string, HyperValue | undefined>): SGDHyper {
  const lr = num(op, 'lr', h.lr, (x) => x >= 0, 'a number >= 0');
  const momentum = num(op, 'momentum', h.momentum, (x) => x >= 0, 'a number >= 0');
  const dampening = num(op, 'dampening', h.dampening, () => true, 'a finite number');
  const weightDecay = num(op, 'weightDecay', h.weightDecay, (x) => x >= 0, 'a number >= 0');
  if (typeof h.nesterov !== 'boolean') throw new ValueError(op, `nesterov = ${JSON.stringify(h.nesterov)}; it must be a boolean`);
  if (h.nesterov && (momentum <= 0 || dampening !== 0)) throw new ValueError(op, `Nesterov momentum needs momentum > 0 and dampening = 0, got momentum ${momentum}, dampening ${dampening}`);
  return { lr, momentum, dampening, nesterov: h.nesterov, weightDecay };
}

/**
 * Stochastic gradient descent with momentum, dampening, Nesterov and (coupled) weight decay,
 * exactly `torch.optim.SGD`: `d = g + wd·p; buf = d` on the first step, else
 * `buf = momentum·buf + (1−dampening)·d`; `d = nesterov ? d + momentum·buf : buf`; `p −= lr·d`.
 * @example const opt = new SGD({ params: model.parameters(), lr: 0.1, momentum: 0.9, weightDecay: 5e-4 });
 */
export class SGD extends Optimizer<SGDGroup> {
  readonly type = 'SGD';

  constructor(opts: SGDOptions) {
    const defaults: SGDHyper = { lr: opts.lr, momentum: opts.momentum ?? 0, dampening: opts.dampening ?? 0, nesterov: opts.nesterov ?? false, weightDecay: opts.weightDecay ?? 0 };
    const groups = makeGroups<SGDHyper>('SGD', opts, defaults);
    for (const g of groups) checkSGD('SGD', g as unknown as Record<string, HyperValue>);
    super(groups);
  }

  protected update(g: SGDGroup, param: Tensor, grad: Float32Array, st: ParamState): void {
    const p = param.data;
    const n = p.length;
    const wd = fround(g.weightDecay);
    const m = fround(g.momentum);
    const keep = fround(1 - g.dampening);
    const negLr = fround(-g.lr);
    st.step++;
    if (g.momentum === 0) {
      for (let i = 0; i < n; i++) {
        const d = g.weightDecay !== 0 ? fma32(p[i], wd, grad[i]) : grad[i];
        p[i] = fma32(d, negLr, p[i]);
      }
      return;
    }
    let buf = st.buffers.momentum_buffer;
    const first = buf === undefined;
    if (first) buf = st.buffers.momentum_buffer = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const d = g.weightDecay !== 0 ? fma32(p[i], wd, grad[i]) : grad[i];
      const b = first ? d : fma32(d, keep, fround(buf[i] * m));
      buf[i] = b;
      const step = g.nesterov ? fma32(b, m, d) : b;
      p[i] = fma32(step, negLr, p[i]);
    }
  }

  protected hyperOf(g: SGDGroup): Record<string, HyperValue> {
    return { lr: g.lr, momentum: g.momentum, dampening: g.dampening, nesterov: g.nesterov, weightDecay: g.weightDecay };
  }

  protected setHyper(g: SGDGroup, hyper: Record<string, HyperValue>): void {
    Object.assign(g, checkSGD('SGD.loadStateDict', hyper));
  }

  protected checkBuffers(op: string, index: number, buffers: Record<string, Float32Array>): void {
    for (const k of Object.keys(buffers)) if (k !== 'momentum_buffer') throw new ValueError(op, `parameter ${index}: unknown SGD buffer "${k}" (expected momentum_buffer)`);
  }
}

// ---------------------------------------------------------------- Adam / AdamW

/** Adam/AdamW hyper-parameters. */
export interface AdamHyper {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
}

/** An Adam/AdamW parameter group. */
export type AdamGroup = ParamGroupBase & AdamHyper;

/** Adam/AdamW options: `params` or `groups`, plus defaults for every group. */
export type AdamOptions = { params?: Tensor[]; groups?: GroupInput<AdamHyper>[] } & Partial<AdamHyper>;

function checkAdam(op: string, h: Record<string, HyperValue | undefined>): AdamHyper {
  const lr = num(op, 'lr', h.lr, (x) => x >= 0, 'a number >= 0');
  const b = h.betas;
  if (!Array.isArray(b) || b.length !== 2 || !b.every((x) => typeof x === 'number' && x >= 0 && x < 1)) throw new ValueError(op, `betas = ${JSON.stringify(b)}; it must be [beta1, beta2] with each in [0, 1)`);
  const eps = num(op, 'eps', h.eps, (x) => x >= 0, 'a number >= 0');
  const weightDecay = num(op, 'weightDecay', h.weightDecay, (x) => x >= 0, 'a number >= 0');
  return { lr, betas: [b[0], b[1]], eps, weightDecay };
}

/** Shared Adam core; `decoupled` selects AdamW's weight decay. */
abstract class AdamBase extends Optimizer<AdamGroup> {
  protected abstract readonly decoupled: boolean;

  protected constructor(op: string, opts: AdamOptions, defaultWeightDecay: number) {
    const defaults: AdamHyper = { lr: opts.lr ?? 1e-3, betas: opts.betas ?? [0.9, 0.999], eps: opts.eps ?? 1e-8, weightDecay: opts.weightDecay ?? defaultWeightDecay };
    const groups = makeGroups<AdamHyper>(op, opts, defaults);
    for (const g of groups) Object.assign(g, checkAdam(op, g as unknown as Record<string, HyperValue>));
    super(groups);
  }

  protected update(g: AdamGroup, param: Tensor, grad: Float32Array, st: ParamState): void {
    const p = param.data;
    const n = p.length;
    let m = st.buffers.exp_avg;
    let v = st.buffers.exp_avg_sq;
    if (m === undefined || v === undefined) {
      m = st.buffers.exp_avg = new Float32Array(n);
      v = st.buffers.exp_avg_sq = new Float32Array(n);
    }
    st.step++;
    const [beta1, beta2] = g.betas;
    // Scalars are computed in float64 as in Python, then cast to float32 where a kernel takes them.
    const biasCorrection1 = 1 - beta1 ** st.step;
    const biasCorrection2 = 1 - beta2 ** st.step;
    const negStepSize = fround(-(g.lr / biasCorrection1));
    const bc2Sqrt = fround(Math.sqrt(biasCorrection2));
    const b1 = fround(beta1);
    const oneMinusB1 = fround(1 - beta1);
    const b2 = fround(beta2);
    const oneMinusB2 = fround(1 - beta2);
    const eps = fround(g.eps);
    const wd = fround(g.weightDecay);
    const coupled = !this.decoupled && g.weightDecay !== 0;
    if (this.decoupled && g.weightDecay !== 0) {
      const shrink = fround(1 - g.lr * g.weightDecay);
      for (let i = 0; i < n; i++) p[i] = fround(p[i] * shrink);
    }
    for (let i = 0; i < n; i++) {
      const gi = coupled ? fma32(p[i], wd, grad[i]) : grad[i];
      const mi = fma32(gi, oneMinusB1, fround(m[i] * b1));
      const vi = fma32(fround(oneMinusB2 * gi), gi, fround(v[i] * b2));
      m[i] = mi;
      v[i] = vi;
      const denom = fround(fround(fround(Math.sqrt(vi)) / bc2Sqrt) + eps);
      p[i] = fround(p[i] + fround(fround(negStepSize * mi) / denom));
    }
  }

  protected hyperOf(g: AdamGroup): Record<string, HyperValue> {
    return { lr: g.lr, betas: [...g.betas], eps: g.eps, weightDecay: g.weightDecay };
  }

  protected setHyper(g: AdamGroup, hyper: Record<string, HyperValue>): void {
    Object.assign(g, checkAdam(`${this.type}.loadStateDict`, hyper));
  }

  protected checkBuffers(op: string, index: number, buffers: Record<string, Float32Array>): void {
    const keys = Object.keys(buffers).sort().join(',');
    if (keys !== 'exp_avg,exp_avg_sq') throw new ValueError(op, `parameter ${index}: ${this.type} state needs buffers exp_avg and exp_avg_sq, got [${keys}]`);
  }
}

/**
 * Adam with coupled L2 weight decay (`g += wd·p`), bias correction, exactly `torch.optim.Adam`.
 * @example const opt = new Adam({ params: model.parameters(), lr: 1e-3 });
 */
export class Adam extends AdamBase {
  readonly type = 'Adam';
  protected readonly decoupled = false;

  constructor(opts: AdamOptions) {
    super('Adam', opts, 0);
  }
}

/**
 * AdamW: decoupled weight decay `p −= lr·wd·p` before the Adam step, exactly `torch.optim.AdamW`
 * (default weightDecay 0.01 as in PyTorch).
 * @example const opt = new AdamW({ params: model.parameters(), lr: 1e-3, weightDecay: 0.05 });
 */
export class AdamW extends AdamBase {
  readonly type = 'AdamW';
  protected readonly decoupled = true;

  constructor(opts: AdamOptions) {
    super('AdamW', opts, 1e-2);
  }
}

// ---------------------------------------------------------------- safetensors form

/**
 * Splits an optimizer state dict into safetensors entries (`<prefix>state.<index>.<buffer>`, F32)
 * and one JSON string (type, groups, per-parameter step counts) for the metadata.
 * @example const { tensors, json } = optimizerStateToSafetensors(opt.stateDict(), 'optim.');
 */
export function optimizerStateToSafetensors(sd: OptimizerStateDict, prefix = 'optim.'): { tensors: Map<string, SafetensorEntry>; json: string } {
  const tensors = new Map<string, SafetensorEntry>();
  const steps: Record<string, number> = {};
  const buffers: Record<string, string[]> = {};
  for (const [i, st] of sd.state) {
    steps[i] = st.step;
    buffers[i] = Object.keys(st.buffers);
    for (const [k, b] of Object.entries(st.buffers)) tensors.set(`${prefix}state.${i}.${k}`, { dtype: 'F32', shape: [b.length], data: b });
  }
  return { tensors, json: JSON.stringify({ type: sd.type, groups: sd.groups, steps, buffers }) };
}

/**
 * Inverse of {@link optimizerStateToSafetensors}: rebuilds the state dict from the metadata JSON
 * and the tensors read back (other keys in `tensors` are ignored).
 */
export function optimizerStateFromSafetensors(tensors: Map<string, SafetensorEntry>, json: string, prefix = 'optim.'): OptimizerStateDict {
  const op = 'optimizerStateFromSafetensors';
  let meta: { type?: unknown; groups?: unknown; steps?: unknown; buffers?: unknown };
  try {
    meta = JSON.parse(json) as typeof meta;
  } catch (e) {
    throw new ValueError(op, `optimizer metadata is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof meta !== 'object' || meta === null || typeof meta.type !== 'string' || !Array.isArray(meta.groups) || typeof meta.steps !== 'object' || meta.steps === null || typeof meta.buffers !== 'object' || meta.buffers === null) {
    throw new ValueError(op, 'optimizer metadata must be { type, groups, steps, buffers }');
  }
  const groups = (meta.groups as unknown[]).map((g, gi) => {
    const gg = g as { params?: unknown; hyper?: unknown };
    if (!Array.isArray(gg.params) || typeof gg.hyper !== 'object' || gg.hyper === null) throw new ValueError(op, `group ${gi} must be { params: number[], hyper: {...} }`);
    return { params: gg.params as number[], hyper: gg.hyper as Record<string, HyperValue> };
  });
  const state = new Map<number, ParamState>();
  for (const [key, step] of Object.entries(meta.steps as Record<string, unknown>)) {
    const i = Number(key);
    const names = (meta.buffers as Record<string, unknown>)[key];
    if (typeof step !== 'number' || !Array.isArray(names)) throw new ValueError(op, `parameter ${key}: bad step/buffer list in metadata`);
    const buffers: Record<string, Float32Array> = {};
    for (const name of names as unknown[]) {
      const e = tensors.get(`${prefix}state.${key}.${String(name)}`);
      if (e === undefined || !(e.data instanceof Float32Array)) throw new ValueError(op, `missing float tensor ${prefix}state.${key}.${String(name)}`);
      buffers[String(name)] = e.data;
    }
    state.set(i, { step, buffers });
  }
  return { type: meta.type, groups, state };
}
