/**
 * The intermediate representation packing works on: conv/linear layers with their weights (dense or
 * ternary), batch norms not yet folded, and plain program ops on named registers; read from a state
 * dict ({@link Reader}, {@link layerIR}) and emitted as the runtime's program ops ({@link emitOp}).
 */
import { FormatError, ValueError } from '../../base/errors.js';
import { Conv2d, Conv2dSame, Linear } from '../../nn/layers.js';
import type { Module } from '../../nn/module.js';
import { entryToFloat32, type SafetensorEntry } from '../../nn/safetensors.js';
import type { ConvOp, LinearOp, Program, ProgramOp } from '../runtime/program.js';
import { ternaryLayersOf } from './siblings.js';

/** A conv or linear layer being packed: weights in their current (possibly pruned) shape, folded bias and scale. */
export interface IRLayer {
  name: string;
  op: 'conv' | 'linear';
  ternary: boolean;
  /** Current weight shape (shrinks with dead-channel removal). */
  shape: number[];
  fullShape: number[];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
  /** Dense weights (current shape). */
  w: Float32Array | null;
  /** Ternary assignment (current shape). */
  assign: Int8Array | null;
  wp: number;
  wn: number;
  bias: Float64Array | null;
  scale: Float64Array | null;
  keptOut: number[];
  keptIn: number[];
}

/** One step of the forward pass: a layer, a batch norm not yet folded, or a weightless program op; `src`/`dst` name registers (`x` the main one). */
export type IROp =
  | { t: 'layer'; L: IRLayer; src: string; dst: string }
  | { t: 'bn'; name: string; eps: number; src: string; dst: string }
  | { t: 'plain'; op: ProgramOp };

/** Reads a state dict's tensors by PyTorch name, checking shapes; errors name `source`. */
export class Reader {
  readonly ternary: Set<string>;
  constructor(
    readonly sd: Map<string, SafetensorEntry>,
    readonly source: string,
  ) {
    this.ternary = ternaryLayersOf(sd);
  }

  get(name: string, shape?: readonly number[]): SafetensorEntry {
    const e = this.sd.get(name);
    if (e === undefined) throw new FormatError(this.source, `tensor "${name}" is missing (is this a state dict of the model?)`);
    if (shape !== undefined && (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i]))) {
      throw new FormatError(this.source, `tensor "${name}" has shape [${e.shape.join(', ')}], the model needs [${shape.join(', ')}]`);
    }
    return e;
  }

  f32(name: string, shape?: readonly number[]): Float32Array {
    return entryToFloat32(this.get(name, shape));
  }

  has(name: string): boolean {
    return this.sd.has(name);
  }
}

/** The symmetric padding a conv op carries: a {@link Conv2dSame}'s common part of its per-side pads (the rest is a `pad` op before it, {@link samePadRest}). */
function convPadding(m: Conv2d): [number, number] {
  if (m instanceof Conv2dSame) return [Math.min(m.pads[0], m.pads[1]), Math.min(m.pads[2], m.pads[3])];
  return [m.padding, m.padding];
}

/** The per-side padding of a {@link Conv2dSame} beyond its symmetric part (all zero: no `pad` op needed). */
export function samePadRest(m: Conv2dSame): [number, number, number, number] {
  const [t, b, l, r] = m.pads;
  const h = Math.min(t, b);
  const w = Math.min(l, r);
  return [t - h, b - h, l - w, r - w];
}

/** The IR of conv/linear module `name`, its weights (dense or ternary siblings, checked) read through `r`. */
export function layerIR(r: Reader, name: string, m: Module): IRLayer {
  const isConv = m instanceof Conv2d;
  if (!isConv && !(m instanceof Linear)) throw new ValueError('packModel', `module ${name} is not a Conv2d or Linear`);
  const shape = isConv ? [m.outChannels, m.inChannels / m.groups, m.kernelSize, m.kernelSize] : [(m as Linear).outFeatures, (m as Linear).inFeatures];
  const ternary = r.ternary.has(name);
  const L: IRLayer = {
    name, op: isConv ? 'conv' : 'linear', ternary, shape: [...shape], fullShape: [...shape],
    stride: isConv ? [m.stride, m.stride] : [1, 1], padding: isConv ? convPadding(m) : [0, 0],
    dilation: isConv ? [m.dilation, m.dilation] : [1, 1], groups: isConv ? m.groups : 1,
    w: null, assign: null, wp: 0, wn: 0, bias: null, scale: null,
    keptOut: Array.from({ length: shape[0] }, (_, i) => i), keptIn: Array.from({ length: shape[1] }, (_, i) => i),
  };
  if (ternary) {
    const a = r.get(`${name}.assignment`, shape);
    if (!(a.data instanceof Int8Array)) throw new FormatError(r.source, `tensor "${name}.assignment" must be I8, is ${a.dtype}`);
    for (let k = 0; k < a.data.length; k++) {
      const v = a.data[k];
      if (v !== -1 && v !== 0 && v !== 1) throw new FormatError(r.source, `tensor "${name}.assignment"[${k}] = ${v}; expected −1, 0 or +1`);
    }
    L.assign = Int8Array.from(a.data);
    L.wp = r.f32(`${name}.w_p`, [1])[0];
    L.wn = r.f32(`${name}.w_n`, [1])[0];
    if (!Number.isFinite(L.wp) || !Number.isFinite(L.wn)) throw new FormatError(r.source, `${name}: centroids must be finite, got w_p=${L.wp}, w_n=${L.wn}`);
  } else {
    L.w = Float32Array.from(r.f32(`${name}.weight`, shape));
  }
  if (r.has(`${name}.bias`)) L.bias = Float64Array.from(r.f32(`${name}.bias`, [shape[0]]));
  return L;
}

/** The register fields of an op: only those other than the main register `x` (the program leaves `x` implicit). */
export function regsOf(src: string, dst: string): { src?: string; dst?: string } {
  return { ...(src !== 'x' ? { src } : {}), ...(dst !== 'x' ? { dst } : {}) };
}

/** The runtime program op of an IR op (a layer names its tensors `<layer>.weight`, `.nonzero_mask`, ...). */
export function emitOp(o: IROp): ProgramOp {
  if (o.t === 'plain') return o.op;
  if (o.t === 'bn') {
    const C = 0;
    return { op: 'affine', name: o.name, channels: C, scale: `${o.name}.scale`, shift: `${o.name}.shift` };
  }
  const L = o.L;
  const reg = regsOf(o.src, o.dst);
  const t = L.ternary
    ? { nonzero: `${L.name}.nonzero_mask`, sign: `${L.name}.sign_mask`, centroids: `${L.name}.centroids` }
    : { weight: `${L.name}.weight` };
  const extra = { ...(L.bias ? { bias: `${L.name}.bias` } : {}), ...(L.scale ? { scale: `${L.name}.scale` } : {}) };
  const pruned = L.keptOut.length !== L.fullShape[0] || L.keptIn.length !== L.fullShape[1];
  const kept = pruned
    ? { kept: { fullShape: [...L.fullShape], ...(L.keptOut.length !== L.fullShape[0] ? { keptOut: [...L.keptOut] } : {}), ...(L.keptIn.length !== L.fullShape[1] ? { keptIn: [...L.keptIn] } : {}) } }
    : {};
  const kind = L.ternary ? ('ternary' as const) : ('dense' as const);
  if (L.op === 'conv') {
    const op: ConvOp = { op: 'conv', kind, name: L.name, ...reg, shape: L.shape as ConvOp['shape'], stride: L.stride, padding: L.padding, dilation: L.dilation, groups: L.groups, ...t, ...extra, ...kept };
    return op;
  }
  const op: LinearOp = { op: 'linear', kind, name: L.name, ...reg, shape: L.shape as LinearOp['shape'], ...t, ...extra, ...kept };
  return op;
}

/** The program of `ops` as they stand (packing emits it once to infer shapes, again after dead-channel removal). */
export function provisionalProgram(modelName: string, ops: IROp[], input: Program['input'], outputs: number): Program {
  return { version: 1, model: modelName, input, outputs, ops: ops.map(emitOp) };
}

/** A depthwise conv: one input and one output channel per group. */
export function isDepthwise(L: IRLayer): boolean {
  return L.op === 'conv' && L.groups > 1 && L.shape[1] === 1 && L.shape[0] === L.groups;
}

/** A conv with zero padding: a constant input channel is not constant at its borders. */
export function isPadded(L: IRLayer): boolean {
  return L.op === 'conv' && (L.padding[0] > 0 || L.padding[1] > 0);
}
