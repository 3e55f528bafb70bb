/**
 * Packing a ternary model into the deployable `ec2t.packed/3` safetensors file (docs/FORMAT.md
 * "Packed model"): per ternary layer two bitmasks and two centroids (ec2t/pack.ts), other tensors
 * float32 or float16, batch norms folded into the preceding conv/linear, dead output channels
 * removed where the graph allows, and the architecture as a small inference program that
 * ec2t/runtime interprets without training code.
 */
import { f16ToF32, f32BitsToF16 } from '../base/float16.js';
import { crc32Hex } from '../base/crc32.js';
import { FormatError, ValueError } from '../base/errors.js';
import { Rng } from '../base/rng.js';
import { BatchNorm2d, Conv2d, Conv2dSame, Linear, MaxPool2d, ReLU6, Sequential } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import {
  CifarResNet, EFFICIENTNET_STAGES, EFFICIENTNET_VARIANTS, EfficientNet, IMAGENET_MICRONET_STAGES, ImageNetMicroNet, InvertedResidual, LeNet5, MBConvBlock, MicroNet, MobileNetV2, ResNet,
  createModel, isModelName, makeDivisible, roundFilters, roundRepeats, ternaryLayerNames, MODEL_NAMES,
} from '../nn/models/index.js';
import { stripDataParallelPrefix } from '../nn/module.js';
import { entryToFloat32, serializeSafetensors, type SafetensorEntry } from '../nn/safetensors.js';
import { packAssignment, unpackAssignment } from './pack.js';
import { recognizeTernaryLayers, type RecognizedWeights } from './recognize.js';
import { PACKED_FORMAT, PACKED_FORMAT_V1, PACKED_FORMAT_V2, compactProgramJson, inferShapes, parseProgram, type ConvOp, type LinearOp, type Program, type ProgramOp } from './runtime/program.js';
import type { ScoreLayer } from './score.js';

/** Architectures `packModel` can build a program for. */
export const EXPORT_MODELS = ['lenet5', 'resnet20', 'resnet32', 'resnet44', 'resnet56', 'resnet18', 'micronet', 'mobilenetv2', 'efficientnet-b0', 'efficientnet-b1', 'micronet-imagenet'] as const;

/** Options of {@link packModel}. */
export interface PackOptions {
  /** Store the non-ternary float tensors (dense weights, biases, scales) as float16 (default false). */
  float16?: boolean;
  /** Remove dead output channels where the graph allows (default true). */
  pruneDead?: boolean;
  /** Names the source in errors. */
  source?: string;
}

/** A packed model in memory. */
export interface PackedModel {
  bytes: Uint8Array;
  program: Program;
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorEntry>;
  /** Dead output channels removed per layer, and dead ones kept because removal was unsafe. */
  dead: Array<{ layer: string; removed: number[]; kept: number[]; reason?: string }>;
  /** Layers read as ternary from their values ({@link recognizeTernaryValued}). */
  recognized: string[];
}

// ------------------------------------------------------------------ intermediate representation

interface IRLayer {
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

type IROp =
  | { t: 'layer'; L: IRLayer; src: string; dst: string }
  | { t: 'bn'; name: string; eps: number; src: string; dst: string }
  | { t: 'plain'; op: ProgramOp };

const SIBLINGS = ['w_p', 'w_n', 'assignment'];

function isSibling(key: string, ternary: Set<string>): boolean {
  const dot = key.lastIndexOf('.');
  return ternary.has(key.slice(0, dot)) && SIBLINGS.includes(key.slice(dot + 1));
}

/**
 * Layers that carry ternary siblings (`.assignment`, `.w_p`, `.w_n`) but whose `weight` is not the
 * ternary weight those siblings describe (w_p where A = +1, −w_n where A = −1, 0 where A = 0): ECP
 * runs keep their full-precision weights where A ≠ 0 (pruning, not ternarization). Packing or
 * scoring them as ternary would silently replace the weights by two centroids.
 * @example prunedFloatLayersOf(loadSafetensors('runs/ecp/ternary.safetensors').tensors) // ['conv2', 'fc1', ...]
 */
export function prunedFloatLayersOf(sd: Map<string, SafetensorEntry>): string[] {
  const out: string[] = [];
  for (const name of ternaryLayersOf(sd)) {
    const a = sd.get(`${name}.assignment`)?.data;
    const w = sd.get(`${name}.weight`)?.data;
    const wp = sd.get(`${name}.w_p`)?.data;
    const wn = sd.get(`${name}.w_n`)?.data;
    // Malformed siblings are the reader's to report; only well-formed layers are judged here.
    if (!(a instanceof Int8Array) || !(w instanceof Float32Array) || a.length !== w.length || !(wp instanceof Float32Array) || !(wn instanceof Float32Array) || wp.length !== 1 || wn.length !== 1) continue;
    const pos = wp[0];
    const neg = Math.fround(-wn[0]);
    for (let i = 0; i < a.length; i++) {
      const want = a[i] === 1 ? pos : a[i] === -1 ? neg : 0;
      if (w[i] !== want) {
        out.push(name);
        break;
      }
    }
  }
  return out;
}

/** `sd` without the ternary siblings of `layers` (they then read as plain float layers). */
export function withoutTernarySiblings(sd: Map<string, SafetensorEntry>, layers: readonly string[]): Map<string, SafetensorEntry> {
  if (layers.length === 0) return sd;
  const drop = new Set(layers.flatMap((n) => SIBLINGS.map((s) => `${n}.${s}`)));
  return new Map([...sd].filter(([k]) => !drop.has(k)));
}

/** Layer names that a state dict marks ternary (those with a `.assignment` sibling). */
export function ternaryLayersOf(sd: Map<string, SafetensorEntry>): Set<string> {
  return new Set([...sd.keys()].filter((k) => k.endsWith('.assignment')).map((k) => k.slice(0, -'.assignment'.length)));
}

class Reader {
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
function samePadRest(m: Conv2dSame): [number, number, number, number] {
  const [t, b, l, r] = m.pads;
  const h = Math.min(t, b);
  const w = Math.min(l, r);
  return [t - h, b - h, l - w, r - w];
}

function layerIR(r: Reader, name: string, m: Module): IRLayer {
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

/** The architecture as IR ops, from the model's modules (names = PyTorch state-dict prefixes). */
function buildIR(modelName: string, model: Module, r: Reader): IROp[] {
  const mods = new Map(model.namedModules());
  const ops: IROp[] = [];
  const layer = (name: string, src = 'x', dst = src): void => {
    ops.push({ t: 'layer', L: layerIR(r, name, mods.get(name) as Module), src, dst });
  };
  const bn = (name: string, src = 'x', dst = src): void => {
    const m = mods.get(name);
    if (!(m instanceof BatchNorm2d)) throw new ValueError('packModel', `module ${name} is not a BatchNorm2d`);
    ops.push({ t: 'bn', name, eps: m.eps, src, dst });
  };
  const plain = (op: ProgramOp): void => {
    ops.push({ t: 'plain', op });
  };
  const pool = (m: MaxPool2d): void => plain({ op: 'maxpool', kernel: [m.kernelSize, m.kernelSize], stride: [m.stride, m.stride], padding: [m.padding, m.padding] });
  const regs = (src: string, dst: string): { src?: string; dst?: string } => ({ ...(src !== 'x' ? { src } : {}), ...(dst !== 'x' ? { dst } : {}) });
  /** A Conv2dSame: its asymmetric padding as a `pad` op, then the conv with the symmetric part. */
  const sameLayer = (name: string, src = 'x', dst = src): void => {
    const m = mods.get(name);
    if (!(m instanceof Conv2dSame)) throw new ValueError('packModel', `module ${name} is not a Conv2dSame`);
    const rest = samePadRest(m);
    if (rest.some((v) => v > 0)) {
      plain({ op: 'pad', pads: rest, ...regs(src, dst) });
      src = dst;
    }
    layer(name, src, dst);
  };
  /** MicroNet's pre-activation blocks (CIFAR and ImageNet): BN → conv → BN → ReLU → conv → BN, plus the shortcut. */
  const microNetStages = (stages: readonly string[]): void => {
    for (const s of stages) {
      for (const [name, m] of model.namedModules()) {
        if (!name.startsWith(`${s}.`) || name.split('.').length !== 2) continue;
        const b = m as unknown as { shortcut: unknown };
        plain({ op: 'save', dst: 'id' });
        bn(`${name}.bn1`);
        layer(`${name}.conv1`);
        bn(`${name}.bn2`);
        plain({ op: 'relu' });
        // Dropout is the identity in eval mode.
        layer(`${name}.conv2`);
        bn(`${name}.bn3`);
        if (b.shortcut) {
          layer(`${name}.shortcut.0`, 'id');
          bn(`${name}.shortcut.1`, 'id');
        }
        plain({ op: 'add', other: 'id' });
      }
    }
  };
  if (model instanceof LeNet5) {
    layer('conv1');
    plain({ op: 'relu' });
    pool(model.max_pool_1);
    layer('conv2');
    plain({ op: 'relu' });
    pool(model.max_pool_2);
    plain({ op: 'flatten' });
    layer('fc1');
    plain({ op: 'relu' });
    layer('fc2');
    plain({ op: 'relu' });
    layer('fc3');
  } else if (model instanceof CifarResNet || model instanceof ResNet) {
    const tv = model instanceof ResNet;
    layer('conv1');
    bn('bn1');
    plain({ op: 'relu' });
    if (tv) pool((model as ResNet).maxpool);
    const stages = tv ? ['layer1', 'layer2', 'layer3', 'layer4'] : ['layer1', 'layer2', 'layer3'];
    for (const s of stages) {
      for (const [name, m] of model.namedModules()) {
        if (!name.startsWith(`${s}.`) || name.split('.').length !== 2) continue;
        const b = m as unknown as { shortcut?: { channelPad: number } | null; downsample?: unknown; conv1: Conv2d };
        plain({ op: 'save', dst: 'id' });
        layer(`${name}.conv1`);
        bn(`${name}.bn1`);
        plain({ op: 'relu' });
        layer(`${name}.conv2`);
        bn(`${name}.bn2`);
        if (tv && b.downsample) {
          layer(`${name}.downsample.0`, 'id');
          bn(`${name}.downsample.1`, 'id');
        } else if (!tv && b.shortcut) {
          plain({ op: 'shortcutA', src: 'id', dst: 'id', stride: b.conv1.stride, padBefore: b.shortcut.channelPad, padAfter: b.shortcut.channelPad });
        }
        plain({ op: 'add', other: 'id' });
        plain({ op: 'relu' });
      }
    }
    plain({ op: 'globalavgpool' });
    plain({ op: 'flatten' });
    layer(tv ? 'fc' : 'linear');
  } else if (model instanceof MicroNet || model instanceof ImageNetMicroNet) {
    const imagenet = model instanceof ImageNetMicroNet;
    layer('conv1');
    bn('bn1');
    plain({ op: 'relu' });
    microNetStages(imagenet ? IMAGENET_MICRONET_STAGES.map((_, i) => `layer${i + 1}`) : ['layer1', 'layer2', 'layer3']);
    if (imagenet) {
      // The ImageNet head conv; the CIFAR network goes straight to the ReLU.
      layer('conv2');
      bn('bn2');
    }
    plain({ op: 'relu' });
    plain({ op: 'globalavgpool' });
    plain({ op: 'flatten' });
    // dropout: the identity in eval mode.
    layer('linear');
  } else if (model instanceof EfficientNet) {
    sameLayer('_conv_stem');
    bn('_bn0');
    plain({ op: 'swish' });
    for (let i = 0; i < model._blocks.length; i++) {
      const blk = model._blocks.at(i);
      if (!(blk instanceof MBConvBlock)) throw new ValueError('packModel', `module _blocks.${i}: unexpected ${blk.constructor.name}`);
      const p = `_blocks.${i}`;
      if (blk.hasSkip) plain({ op: 'save', dst: 'id' });
      if (blk._expand_conv !== null) {
        sameLayer(`${p}._expand_conv`);
        bn(`${p}._bn0`);
        plain({ op: 'swish' });
      }
      sameLayer(`${p}._depthwise_conv`);
      bn(`${p}._bn1`);
      plain({ op: 'swish' });
      // Squeeze-and-excitation: channel means → reduce → swish → expand → sigmoid → per-channel gate.
      plain({ op: 'globalavgpool', dst: 'se' });
      sameLayer(`${p}._se_reduce`, 'se');
      plain({ op: 'swish', src: 'se', dst: 'se' });
      sameLayer(`${p}._se_expand`, 'se');
      plain({ op: 'sigmoid', src: 'se', dst: 'se' });
      plain({ op: 'mul', other: 'se' });
      sameLayer(`${p}._project_conv`);
      bn(`${p}._bn2`);
      // Drop-connect is the identity in eval mode.
      if (blk.hasSkip) plain({ op: 'add', other: 'id' });
    }
    sameLayer('_conv_head');
    bn('_bn1');
    plain({ op: 'swish' });
    plain({ op: 'globalavgpool' });
    plain({ op: 'flatten' });
    // dropout: the identity in eval mode.
    layer('_fc');
  } else if (model instanceof MobileNetV2) {
    // torchvision layout: Conv-BN-ReLU6 triples (`N.0`, `N.1`), inverted residual blocks whose
    // `conv` Sequential mixes such triples with a bare 1×1 projection conv and its batch norm.
    const convBnReLU6 = (prefix: string, seq: Sequential): void => {
      if (seq.length !== 3 || !(seq.at(2) instanceof ReLU6)) throw new ValueError('packModel', `module ${prefix} is not a Conv-BN-ReLU6 block`);
      layer(`${prefix}.0`);
      bn(`${prefix}.1`);
      plain({ op: 'relu6' });
    };
    const f = model.features;
    for (let i = 0; i < f.length; i++) {
      const m = f.at(i);
      const name = `features.${i}`;
      if (m instanceof InvertedResidual) {
        if (m.useResConnect) plain({ op: 'save', dst: 'id' });
        for (let j = 0; j < m.conv.length; j++) {
          const c = m.conv.at(j);
          const n = `${name}.conv.${j}`;
          if (c instanceof Sequential) convBnReLU6(n, c);
          else if (c instanceof Conv2d) layer(n);
          else if (c instanceof BatchNorm2d) bn(n);
          else throw new ValueError('packModel', `module ${n}: unexpected ${c.constructor.name} in an inverted residual block`);
        }
        if (m.useResConnect) plain({ op: 'add', other: 'id' });
      } else if (m instanceof Sequential) {
        convBnReLU6(name, m);
      } else {
        throw new ValueError('packModel', `module ${name}: unexpected ${m.constructor.name} in MobileNetV2.features`);
      }
    }
    plain({ op: 'globalavgpool' });
    plain({ op: 'flatten' });
    // classifier.0 is Dropout: the identity in eval mode.
    layer('classifier.1');
  } else {
    throw new ValueError('packModel', `export supports: ${EXPORT_MODELS.join(', ')}; got ${modelName}`);
  }
  return ops;
}

/** BN eval as per-channel scale s = γ/√(var+ε) and shift t = β − mean·s, in float64. */
function bnAffine(r: Reader, name: string, eps: number, C: number): { s: Float64Array; t: Float64Array } {
  const g = r.f32(`${name}.weight`, [C]);
  const b = r.f32(`${name}.bias`, [C]);
  const mean = r.f32(`${name}.running_mean`, [C]);
  const v = r.f32(`${name}.running_var`, [C]);
  const s = new Float64Array(C);
  const t = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    s[c] = g[c] / Math.sqrt(v[c] + eps);
    t[c] = b[c] - mean[c] * s[c];
  }
  return { s, t };
}

function channelsOf(ops: IROp[], upTo: number, reg: string, inputChannels: number): number {
  // Channels of `reg` just before op `upTo`: walk the writers (only layer outputs and shortcutA change it).
  let c = inputChannels;
  const regs = new Map<string, number>([['x', inputChannels]]);
  for (let i = 0; i < upTo; i++) {
    const o = ops[i];
    if (o.t === 'layer') regs.set(o.dst, o.L.shape[0]);
    else if (o.t === 'bn') regs.set(o.dst, regs.get(o.src) ?? c);
    else {
      const p = o.op;
      const v = regs.get(p.src ?? 'x') ?? c;
      regs.set(p.dst ?? 'x', p.op === 'shortcutA' ? v + p.padBefore + p.padAfter : v);
    }
  }
  c = regs.get(reg) ?? c;
  return c;
}

/** Folds every batch norm that directly follows a conv/linear writing its input; others become affine ops. */
function foldBatchNorms(ops: IROp[], r: Reader, inputChannels: number): IROp[] {
  const out: IROp[] = [];
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i];
    if (o.t !== 'bn') {
      out.push(o);
      continue;
    }
    const prev = out[out.length - 1];
    if (prev !== undefined && prev.t === 'layer' && prev.dst === o.src && o.src === o.dst) {
      const L = prev.L;
      const M = L.shape[0];
      const { s, t } = bnAffine(r, o.name, o.eps, M);
      const bias = new Float64Array(M);
      for (let m = 0; m < M; m++) bias[m] = (L.bias ? L.bias[m] : 0) * s[m] + t[m];
      L.bias = bias;
      if (L.ternary) {
        const sc = new Float64Array(M);
        for (let m = 0; m < M; m++) sc[m] = (L.scale ? L.scale[m] : 1) * s[m];
        L.scale = sc;
      } else {
        const w = L.w as Float32Array;
        const per = w.length / M;
        for (let m = 0; m < M; m++) for (let k = m * per; k < (m + 1) * per; k++) w[k] = Math.fround(w[k] * s[m]);
      }
      continue;
    }
    const C = channelsOf(ops, i, o.src, inputChannels);
    const { s, t } = bnAffine(r, o.name, o.eps, C);
    // Stash the affine parameters on a pseudo-layer-free op; emitted by emit().
    affineParams.set(o.name, { s, t });
    out.push({ t: 'plain', op: { op: 'affine', name: o.name, channels: C, scale: `${o.name}.scale`, shift: `${o.name}.shift`, ...(o.src !== 'x' ? { src: o.src } : {}), ...(o.dst !== 'x' ? { dst: o.dst } : {}) } });
  }
  return out;
}

// Parameters of unfolded batch norms between foldBatchNorms and emit (one packModel call at a time).
const affineParams = new Map<string, { s: Float64Array; t: Float64Array }>();

function emitOp(o: IROp): ProgramOp {
  if (o.t === 'plain') return o.op;
  if (o.t === 'bn') {
    const C = 0;
    return { op: 'affine', name: o.name, channels: C, scale: `${o.name}.scale`, shift: `${o.name}.shift` };
  }
  const L = o.L;
  const reg = { ...(o.src !== 'x' ? { src: o.src } : {}), ...(o.dst !== 'x' ? { dst: o.dst } : {}) };
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

function provisionalProgram(modelName: string, ops: IROp[], input: Program['input'], outputs: number): Program {
  return { version: 1, model: modelName, input, outputs, ops: ops.map(emitOp) };
}

/** Row m of a layer's current weights is all zero. */
function deadRows(L: IRLayer): number[] {
  const M = L.shape[0];
  const data = L.ternary ? (L.assign as Int8Array) : (L.w as Float32Array);
  const per = data.length / M;
  const dead: number[] = [];
  for (let m = 0; m < M; m++) {
    let nz = false;
    for (let k = m * per; k < (m + 1) * per && !nz; k++) nz = data[k] !== 0;
    if (!nz) dead.push(m);
  }
  return dead;
}

function readsReg(op: IROp, reg: string): boolean {
  if (op.t === 'layer' || op.t === 'bn') return op.src === reg;
  return (op.op.src ?? 'x') === reg || ((op.op.op === 'add' || op.op.op === 'mul') && op.op.other === reg);
}

function writesReg(op: IROp, reg: string): boolean {
  if (op.t === 'layer' || op.t === 'bn') return op.dst === reg;
  return (op.op.dst ?? 'x') === reg;
}

/** The consumer a ternary layer's output flows into through channel-wise ops only, or why not. */
interface Chain {
  consumer: number;
  /** Channel-wise ops between (relu/relu6/pool/flatten), applied to a constant channel value. */
  between: ProgramOp[];
  /** Features per channel at the consumer (spatial size at a flatten, 1 for a conv). */
  perChannel: number;
}

function findChain(ops: IROp[], i: number, before: number[][]): Chain | string {
  const P = ops[i] as Extract<IROp, { t: 'layer' }>;
  const r = P.dst;
  const between: ProgramOp[] = [];
  let perChannel = 1;
  for (let j = i + 1; j < ops.length; j++) {
    const o = ops[j];
    if (o.t === 'layer') {
      if (o.src !== r) return 'output not consumed by the next layer';
      if (o.L.groups !== 1 && !isDepthwise(o.L)) return 'grouped (not depthwise) consumer';
      // The register must not be read again before it is rewritten.
      if (o.dst !== r) {
        for (let k = j + 1; k < ops.length; k++) {
          if (readsReg(ops[k], r)) return 'output also used elsewhere';
          if (writesReg(ops[k], r)) break;
        }
      }
      return { consumer: j, between, perChannel };
    }
    if (o.t === 'bn') return 'followed by an unfolded batch norm';
    const p = o.op;
    if ((p.op === 'save' || p.op === 'add') && ((p.src ?? 'x') === r || (p.op === 'add' && p.other === r))) return 'output feeds a residual connection';
    if ((p.src ?? 'x') !== r || (p.dst ?? 'x') !== r) return `output flows into a ${p.op} on another register`;
    if (p.op === 'relu' || p.op === 'relu6' || p.op === 'globalavgpool' || p.op === 'maxpool' || (p.op === 'avgpool' && p.padding[0] === 0 && p.padding[1] === 0)) {
      between.push(p);
      continue;
    }
    if (p.op === 'flatten') {
      const s = before[j];
      perChannel = s.slice(2).reduce((a, b) => a * b, 1);
      between.push(p);
      continue;
    }
    return p.op === 'add' || p.op === 'save' ? 'output feeds a residual connection' : `output flows into ${p.op}`;
  }
  return 'network output';
}

function constantThrough(v: number, between: ProgramOp[]): number {
  for (const p of between) {
    if (p.op === 'relu') v = v > 0 ? v : 0;
    else if (p.op === 'relu6') v = v > 0 ? (v < 6 ? v : 6) : 0;
  }
  return v;
}

/** A depthwise conv: one input and one output channel per group. */
function isDepthwise(L: IRLayer): boolean {
  return L.op === 'conv' && L.groups > 1 && L.shape[1] === 1 && L.shape[0] === L.groups;
}

function isPadded(L: IRLayer): boolean {
  return L.op === 'conv' && (L.padding[0] > 0 || L.padding[1] > 0);
}

/** Σ of row `j`'s effective weights over flat indices `[base, base + len)` (ternary: centroids × folded scale). */
function sliceSum(L: IRLayer, j: number, base: number, len: number): number {
  if (L.ternary) {
    const a = L.assign as Int8Array;
    let np = 0;
    let nn = 0;
    for (let k = base; k < base + len; k++) {
      if (a[k] === 1) np++;
      else if (a[k] === -1) nn++;
    }
    return (L.wp * np - L.wn * nn) * (L.scale ? L.scale[j] : 1);
  }
  const w = L.w as Float32Array;
  let acc = 0;
  for (let k = base; k < base + len; k++) acc += w[k];
  return acc;
}

/** Adds the contribution of constant input channels `{m: value}` to consumer `C`'s bias (`S` features per channel for a linear after a flatten). */
function foldConstantInputs(C: IRLayer, constants: ReadonlyArray<{ m: number; v: number }>, S: number): void {
  const Mc = C.shape[0];
  const perC = C.shape.slice(1).reduce((a, b) => a * b, 1);
  const sliceLen = C.op === 'conv' ? C.shape[2] * C.shape[3] : S;
  for (const { m, v } of constants) {
    if (v === 0) continue;
    if (C.bias === null) C.bias = new Float64Array(Mc);
    for (let j = 0; j < Mc; j++) C.bias[j] += v * sliceSum(C, j, j * perC + m * sliceLen, sliceLen);
  }
}

/** Drops output rows `rm` of a layer (weights, bias, scale, kept indices); a depthwise conv loses those groups. */
function dropRows(L: IRLayer, rm: ReadonlySet<number>): void {
  const depthwise = isDepthwise(L);
  const keepRows = Array.from({ length: L.shape[0] }, (_, m) => m).filter((m) => !rm.has(m));
  const src = (L.ternary ? L.assign : L.w) as Int8Array | Float32Array;
  const per = src.length / L.shape[0];
  const dst = L.ternary ? new Int8Array(keepRows.length * per) : new Float32Array(keepRows.length * per);
  keepRows.forEach((m, q) => dst.set(src.subarray(m * per, (m + 1) * per) as never, q * per));
  if (L.ternary) L.assign = dst as Int8Array;
  else L.w = dst as Float32Array;
  if (L.bias) L.bias = Float64Array.from(keepRows, (m) => (L.bias as Float64Array)[m]);
  if (L.scale) L.scale = Float64Array.from(keepRows, (m) => (L.scale as Float64Array)[m]);
  L.keptOut = keepRows.map((m) => L.keptOut[m]);
  L.shape[0] = keepRows.length;
  if (depthwise) L.groups = keepRows.length;
}

/** Drops input channels `rm` of a (groups = 1) consumer: channel m ↔ dim-1 entries m·S … m·S+S−1 for a linear after a flatten. */
function dropInputs(C: IRLayer, rm: ReadonlySet<number>, S: number): void {
  const Mc = C.shape[0];
  const inPer = C.op === 'conv' ? 1 : S;
  const keepIn: number[] = [];
  for (let c = 0; c < C.shape[1] / inPer; c++) if (!rm.has(c)) for (let k = 0; k < inPer; k++) keepIn.push(c * inPer + k);
  const tail = C.op === 'conv' ? C.shape[2] * C.shape[3] : 1;
  const src = (C.ternary ? C.assign : C.w) as Int8Array | Float32Array;
  const dst = C.ternary ? new Int8Array(Mc * keepIn.length * tail) : new Float32Array(Mc * keepIn.length * tail);
  for (let j = 0; j < Mc; j++) {
    keepIn.forEach((c, q) => dst.set(src.subarray((j * C.shape[1] + c) * tail, (j * C.shape[1] + c + 1) * tail) as never, (j * keepIn.length + q) * tail));
  }
  if (C.ternary) C.assign = dst as Int8Array;
  else C.w = dst as Float32Array;
  C.keptIn = keepIn.map((c) => C.keptIn[c]);
  C.shape[1] = keepIn.length;
}

/** Removes dead output channels of ternary layers where exact (see docs/FORMAT.md). */
function pruneDeadChannels(ops: IROp[], before: number[][], float16: boolean): PackedModel['dead'] {
  const report: PackedModel['dead'] = [];
  const round = float16 ? roundF16 : Math.fround;
  const layerAt = (j: number): IRLayer => (ops[j] as Extract<IROp, { t: 'layer' }>).L;
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i];
    if (o.t !== 'layer' || !o.L.ternary) continue;
    const P = o.L;
    const dead = deadRows(P);
    if (dead.length === 0) continue;
    // A depthwise layer's output m is tied to its input m, which the layer before still produces.
    const chain = isDepthwise(P) ? 'depthwise layer (group m reads input channel m, still produced upstream)' : findChain(ops, i, before);
    if (typeof chain === 'string') {
      report.push({ layer: P.name, removed: [], kept: dead.map((m) => P.keptOut[m]), reason: chain });
      continue;
    }
    const C = layerAt(chain.consumer);
    // A depthwise consumer's group m reads channel m only: a constant channel m makes its output m
    // constant too (its bias when the constant is 0, or any constant when unpadded). Then the
    // channel goes through C — P's row, C's group — and the constant folds into the layer D after C.
    let next: { chain: Chain; D: IRLayer } | null = null;
    if (isDepthwise(C)) {
      const c2 = findChain(ops, chain.consumer, before);
      const why = typeof c2 === 'string' ? c2 : isDepthwise(layerAt(c2.consumer)) ? 'feeds another depthwise conv' : null;
      if (typeof c2 === 'string' || why !== null) {
        report.push({ layer: P.name, removed: [], kept: dead.map((m) => P.keptOut[m]), reason: `depthwise consumer ${C.name}: ${why}` });
        continue;
      }
      next = { chain: c2, D: layerAt(c2.consumer) };
    }
    const remove: number[] = [];
    const keepDead: number[] = [];
    const folds: Array<{ m: number; v: number }> = [];
    let reason = 'constant non-zero channel into a zero-padded conv';
    for (const m of dead) {
      // A dead filter outputs its (folded) bias: a constant channel.
      const v = constantThrough(P.bias ? round(P.bias[m]) : 0, chain.between);
      if (v !== 0 && isPadded(C)) {
        keepDead.push(m);
        continue;
      }
      if (next === null) {
        folds.push({ m, v });
        remove.push(m);
        continue;
      }
      const k2 = C.shape[2] * C.shape[3];
      const cb = C.bias ? round(C.bias[m]) : 0;
      const u = constantThrough(v === 0 ? cb : round(v * sliceSum(C, m, m * k2, k2) + cb), next.chain.between);
      if (u !== 0 && isPadded(next.D)) {
        keepDead.push(m);
        reason = `constant non-zero channel after depthwise ${C.name} into a zero-padded conv`;
        continue;
      }
      folds.push({ m, v: u });
      remove.push(m);
    }
    if (remove.length === P.shape[0]) {
      // A layer keeps at least one output (a register needs ≥ 1 channel); keeping is always exact.
      keepDead.push(remove.pop() as number);
      folds.pop();
    }
    const origRemoved = remove.map((m) => P.keptOut[m]);
    const origKept = keepDead.map((m) => P.keptOut[m]);
    if (remove.length > 0) {
      const rm = new Set(remove);
      if (next === null) {
        foldConstantInputs(C, folds, chain.perChannel);
        dropRows(P, rm);
        dropInputs(C, rm, chain.perChannel);
      } else {
        foldConstantInputs(next.D, folds, next.chain.perChannel);
        const cRemoved = remove.map((m) => C.keptOut[m]);
        dropRows(P, rm);
        dropRows(C, rm);
        dropInputs(next.D, rm, next.chain.perChannel);
        report.push({ layer: C.name, removed: cRemoved, kept: [], reason: `depthwise groups whose input (a dead channel of ${P.name}) was removed` });
      }
    }
    report.push({ layer: P.name, removed: origRemoved, kept: origKept, ...(keepDead.length ? { reason } : {}) });
  }
  return report;
}

const f16scratch = new Float32Array(1);
const f16bits = new Uint32Array(f16scratch.buffer);
/** Rounds to the nearest float16 value (as the file will store it). */
function roundF16(x: number): number {
  // Round through the writer's conversion so the folded constant matches the stored bias.
  f16scratch[0] = x;
  return f16ToF32(f32BitsToF16(f16bits[0]));
}


// ------------------------------------------------------------------ model options from a state dict

/**
 * Model options read off a state dict's shapes, so a weights file alone rebuilds its architecture
 * at any scale: `numClasses`, `inChannels`; lenet5 `inputSize`; micronet `stageChannels` and
 * `blocksPerStage` (the counts themselves: the channel rounding is many-to-one, so no single width
 * multiplier can be read back for every triple); mobilenetv2 `widthMult` (the simplest α that
 * reproduces every channel count) and `cifar: true`. A CIFAR ResNet whose block count does not
 * match its name is refused here, naming the right one.
 * @example inferModelOptions('resnet20', sd) // { numClasses: 10, inChannels: 3 }
 */
export function inferModelOptions(modelName: string, sd: Map<string, SafetensorEntry>, source = 'state dict'): Record<string, unknown> {
  const shape = (k: string): number[] => {
    const e = sd.get(k);
    if (e === undefined) throw new FormatError(source, `tensor "${k}" is missing: not a ${modelName} state dict`);
    // A zero-size tensor costs no bytes, so its other dims are unbacked claims (a [5000000, 0]
    // classifier made predict build a 1.7 GB model): every weight of these models is non-empty.
    if (e.shape.length === 0 || e.shape.some((d) => d < 1)) throw new FormatError(source, `tensor "${k}" has shape [${e.shape.join(', ')}]; a ${modelName} weight has no zero-size dimension`);
    return e.shape;
  };
  if (modelName === 'efficientnet-b0' || modelName === 'efficientnet-b1') return efficientNetOptions(modelName, sd, shape, source);
  const head = modelName === 'lenet5' ? 'fc3' : modelName === 'resnet18' ? 'fc' : modelName === 'mobilenetv2' ? 'classifier.1' : 'linear';
  const opts: Record<string, unknown> = { numClasses: shape(`${head}.weight`)[0] };
  opts.inChannels = shape(modelName === 'mobilenetv2' ? 'features.0.0.weight' : 'conv1.weight')[1];
  if (modelName === 'micronet-imagenet') Object.assign(opts, imageNetMicroNetOptions(sd, shape, source));
  if (modelName === 'mobilenetv2') Object.assign(opts, mobileNetV2Options(sd, shape, source));
  if (modelName === 'lenet5') {
    // fc1 reads 16·s² features with s = ⌊(⌊H/2⌋ − 4)/2⌋; every H in [4s + 8, 4s + 11] builds the same net.
    const features = shape('fc1.weight')[1];
    const side = Math.round(Math.sqrt(features / 16));
    if (side < 1 || 16 * side * side !== features) throw new FormatError(source, `lenet5: fc1 reads ${features} features, not 16·s² for any side s`);
    opts.inputSize = 4 * side + 8;
  }
  if (/^resnet(20|32|44|56)$/.test(modelName)) {
    const blocks = blocksPerStage(sd, 3, source, modelName);
    if (6 * blocks + 2 !== Number(modelName.slice(6))) {
      throw new FormatError(source, `has ${blocks} blocks per stage: a resnet${6 * blocks + 2} state dict, not ${modelName}`);
    }
  }
  if (modelName === 'micronet') {
    const blocks = blocksPerStage(sd, 3, source, modelName);
    // Each block counted must hold its conv weights, so the depth is backed by bytes in the file.
    for (let b = 0; b < blocks; b++) shape(`layer1.${b}.conv1.weight`);
    opts.blocksPerStage = blocks;
    opts.stageChannels = [shape('conv1.weight')[0], shape('layer2.0.conv1.weight')[0], shape('layer3.0.conv1.weight')[0]];
  }
  return opts;
}

/** Blocks per stage of a `layer{1..stages}.{i}` state dict; every stage must have the same count. */
function blocksPerStage(sd: Map<string, SafetensorEntry>, stages: number, source: string, modelName: string): number {
  const counts: number[] = [];
  for (let s = 1; s <= stages; s++) {
    const ids = new Set([...sd.keys()].filter((k) => k.startsWith(`layer${s}.`)).map((k) => k.split('.')[1]));
    let n = 0;
    while (ids.has(String(n))) n++;
    if (n === 0 || n !== ids.size) throw new FormatError(source, `${modelName}: layer${s} blocks are not numbered 0..n-1 (found ${[...ids].sort().join(', ') || 'none'})`);
    counts.push(n);
  }
  if (counts.some((c) => c !== counts[0])) throw new FormatError(source, `${modelName}: stages have ${counts.join('/')} blocks; every stage has the same count`);
  return counts[0];
}

/**
 * The multipliers `m` with `round(base·m) === target` for a nondecreasing rounding, as `[lo, hi)`
 * (empty when `lo >= hi`), found by bisection on `v = base·m`.
 */
function multiplierRange(round: (v: number) => number, base: number, target: number): [number, number] {
  // inf { v : round(v) >= t } for t = target and target + 1; round(v) ≤ v + divisor, so 2·target + 64 bounds it.
  const firstAtLeast = (t: number): number => {
    let lo = 0;
    let hi = 2 * t + 64;
    for (let i = 0; i < 80; i++) {
      const mid = (lo + hi) / 2;
      if (round(mid) >= t) hi = mid;
      else lo = mid;
    }
    return hi;
  };
  return [firstAtLeast(target) / base, firstAtLeast(target + 1) / base];
}

/** The fraction with the smallest denominator strictly inside `(lo, hi)` (Stern–Brocot descent). */
function simplestBetween(lo: number, hi: number): number {
  let [a, b, c, d] = [0, 1, 1, 0]; // left a/b, right c/d
  for (let i = 0; i < 10_000; i++) {
    const p = a + c;
    const q = b + d;
    const m = p / q;
    if (m <= lo) [a, b] = [p, q];
    else if (m >= hi) [c, d] = [p, q];
    else return m;
  }
  return (lo + hi) / 2;
}

/**
 * MobileNetV2's width multiplier from the channel counts of a state dict, and `cifar: true`.
 * NOTE: the architecture depends on α only through the channel counts checked here (hidden widths
 * follow from them), so the simplest α inside the intersection of every count's α-range builds the
 * same network — at any α the rounding can produce. The CIFAR strides cannot be read off the
 * weights; `cifar: true` is what training builds for inputs ≤ 64 px (see `mobileNetV2UsesCifarStrides`);
 * pass `{ cifar: false }` for ImageNet-stride weights.
 */
function mobileNetV2Options(sd: Map<string, SafetensorEntry>, shape: (k: string) => number[], source: string): Record<string, unknown> {
  const stageOut = [16, 24, 24, 32, 32, 32, 64, 64, 64, 64, 96, 96, 96, 160, 160, 160, 320];
  const actual = [shape('features.0.0.weight')[0], ...stageOut.map((_, b) => {
    const i = b + 1;
    // The projection conv is conv.1 in the first block (no expansion), conv.2 in the others.
    const k = sd.has(`features.${i}.conv.2.weight`) && shape(`features.${i}.conv.2.weight`).length === 4 ? `features.${i}.conv.2.weight` : `features.${i}.conv.1.weight`;
    return shape(k)[0];
  }), shape('features.18.0.weight')[0]];
  let lo = 0;
  let hi = Infinity;
  [32, ...stageOut].forEach((base, i) => {
    const [a, b] = multiplierRange((v) => makeDivisible(v), base, actual[i]);
    lo = Math.max(lo, a);
    hi = Math.min(hi, b);
  });
  // The last conv has 1280·max(1, α) channels: at 1280 it only bounds α from above.
  const [a, b] = multiplierRange((v) => makeDivisible(v), 1280, actual[actual.length - 1]);
  if (a > 1) lo = Math.max(lo, a);
  hi = Math.min(hi, b);
  const expected = (m: number): number[] => [makeDivisible(32 * m), ...stageOut.map((c) => makeDivisible(c * m)), makeDivisible(1280 * Math.max(1, m))];
  if (lo < hi) {
    const widthMult = simplestBetween(lo, hi);
    if (expected(widthMult).every((c, i) => c === actual[i])) return { widthMult, cifar: true };
  }
  throw new FormatError(source, `mobilenetv2: channels ${actual.join('/')} match no width multiplier`);
}

/**
 * A width multiplier w with `roundFilters(base, w) = observed` for every pair, or undefined.
 * `roundFilters(base, ·)` is non-decreasing, so each pair allows an interval of w (found by
 * bisection); any w in their intersection rebuilds the same channels.
 */
function widthFor(pairs: ReadonlyArray<readonly [number, number]>): number | undefined {
  let lo = 0;
  let hi = Infinity;
  for (const [base, n] of pairs) {
    // Smallest w reaching n, and the largest w not passing it.
    const bound = (pass: (w: number) => boolean): number => {
      let a = 1e-6;
      let b = 1e3;
      for (let k = 0; k < 100; k++) {
        const m = (a + b) / 2;
        if (pass(m)) b = m;
        else a = m;
      }
      return b;
    };
    lo = Math.max(lo, bound((w) => roundFilters(base, w) >= n));
    hi = Math.min(hi, bound((w) => roundFilters(base, w) > n));
  }
  if (!(lo < hi)) return undefined;
  const w = (lo + hi) / 2;
  return pairs.every(([base, n]) => roundFilters(base, w) === n) ? w : undefined;
}

/** Distinct `prefix.N` block indices of a state dict, counted. */
function blockCount(sd: Map<string, SafetensorEntry>, prefix: string): number {
  return new Set([...sd.keys()].filter((k) => k.startsWith(`${prefix}.`)).map((k) => k.split('.')[prefix.split('.').length])).size;
}

/** The ImageNet MicroNet's `depth`/`width` from its stage channels and block counts (exact: any d, w the rounding can produce). */
function imageNetMicroNetOptions(sd: Map<string, SafetensorEntry>, shape: (k: string) => number[], source: string): Record<string, unknown> {
  const counts = IMAGENET_MICRONET_STAGES.map((_, i) => blockCount(sd, `layer${i + 1}`));
  if (counts.some((c) => c === 0)) throw new FormatError(source, `micronet-imagenet: stage blocks ${counts.join('/')}; every stage needs at least one`);
  const pairs: Array<[number, number]> = [[32, shape('conv1.weight')[0]], ...IMAGENET_MICRONET_STAGES.map((st, i): [number, number] => [st.channels, shape(`layer${i + 1}.0.conv1.weight`)[0]]), [1280, shape('conv2.weight')[0]]];
  const width = widthFor(pairs);
  if (width === undefined) throw new FormatError(source, `micronet-imagenet: channels ${pairs.map((p) => p[1]).join('/')} match no width multiplier`);
  // ⌈d·r⌉ = n ⇔ (n − 1)/r < d ≤ n/r: the smallest upper bound is the answer when it passes every lower one.
  const depth = Math.min(...counts.map((n, i) => n / IMAGENET_MICRONET_STAGES[i].repeats));
  if (!counts.every((n, i) => roundRepeats(IMAGENET_MICRONET_STAGES[i].repeats, depth) === n)) throw new FormatError(source, `micronet-imagenet: stage blocks ${counts.join('/')} match no depth multiplier`);
  return { depth, width };
}

/**
 * EfficientNet's options from a state dict: classes, input channels, and the width/depth
 * coefficients only when the weights are not the variant's (a reduced network). The image size the
 * "same" padding is computed for is not in the weights: the variant's unless given.
 */
function efficientNetOptions(name: 'efficientnet-b0' | 'efficientnet-b1', sd: Map<string, SafetensorEntry>, shape: (k: string) => number[], source: string): Record<string, unknown> {
  const opts: Record<string, unknown> = { numClasses: shape('_fc.weight')[0], inChannels: shape('_conv_stem.weight')[1] };
  const n = blockCount(sd, '_blocks');
  // Per block: output channels and depthwise kernel, the layout a (width, depth) pair must rebuild.
  const actual = Array.from({ length: n }, (_, i) => `${shape(`_blocks.${i}._project_conv.weight`)[0]}/${shape(`_blocks.${i}._depthwise_conv.weight`)[2]}`).join(',');
  const layout = (w: number, d: number): string =>
    EFFICIENTNET_STAGES.flatMap((st) => Array.from({ length: roundRepeats(st.repeats, d) }, () => `${roundFilters(st.outChannels, w)}/${st.kernel}`)).join(',');
  const v = EFFICIENTNET_VARIANTS[name];
  const width = widthFor([[32, shape('_conv_stem.weight')[0]], ...EFFICIENTNET_STAGES.map((st): [number, number] => [st.outChannels, shape(`_blocks.${n - 1}._project_conv.weight`)[0]]).slice(-1), [1280, shape('_conv_head.weight')[0]]]);
  const widths = [v.width, ...(width === undefined ? [] : [width])];
  // Depths where some stage's ⌈d·r⌉ reaches n: d = n/r, the variant's first.
  const depths = [v.depth, ...Array.from({ length: n }, (_, k) => [1, 2, 3, 4].map((r) => (k + 1) / r)).flat()];
  for (const w of widths) {
    for (const d of depths) {
      if (layout(w, d) !== actual) continue;
      if (w !== v.width) opts.width = w;
      if (d !== v.depth) opts.depth = d;
      return opts;
    }
  }
  throw new FormatError(source, `${name}: ${n} blocks with output channels/kernels ${actual} match no width and depth coefficients`);
}

/**
 * The options `packModel` builds with: those read off the state dict, overridden by the given ones
 * (e.g. `{ cifar: false }` for ImageNet-stride MobileNetV2 weights). When reading fails and options
 * were given, they are used as they are (the model build then reports what does not fit).
 */
function completeModelOptions(modelName: string, given: Record<string, unknown>, sd: Map<string, SafetensorEntry>, source: string): Record<string, unknown> {
  if (Object.keys(given).length === 0) return inferModelOptions(modelName, sd, source);
  try {
    return { ...inferModelOptions(modelName, sd, source), ...given };
  } catch {
    return given;
  }
}

/**
 * Reads a checkpoint's ternary-valued layers as ternary (ec2t/recognize.ts): the layers the
 * model's policy would ternarize ({@link ternaryLayerNames}) whose weights hold at most
 * {−a, 0, +b} get `.assignment`, `.w_p` and `.w_n` siblings. A DataParallel `module.` prefix is
 * stripped first. `packModel` and `describeForScore` call it, so every command that takes weights
 * reads such a file alike; call it to learn which layers were recognised.
 * @example recognizeTernaryValued('resnet20', loadSafetensors('authors.safetensors').tensors).recognized.length // 18
 */
export function recognizeTernaryValued(modelName: string, weights: Map<string, SafetensorEntry>, modelOptions: Record<string, unknown> = {}, source = 'state dict'): RecognizedWeights {
  const sd = new Map(stripDataParallelPrefix([...weights]));
  const model = makeModel(modelName, completeModelOptions(modelName, modelOptions, sd, source));
  return recognizeTernaryLayers(sd, ternaryLayerNames(model, modelName));
}

/** Builds the nn model of `modelName` with `modelOptions` (deterministic init; weights come from the state dict). */
function makeModel(modelName: string, modelOptions: Record<string, unknown>): Module {
  if (!isModelName(modelName)) throw new ValueError('packModel', `unknown model '${modelName}'; models: ${MODEL_NAMES.join(', ')}`);
  if (!(EXPORT_MODELS as readonly string[]).includes(modelName)) throw new ValueError('packModel', `export supports: ${EXPORT_MODELS.join(', ')}; ${modelName} is not supported yet`);
  const { rng: _r, seed: _s, ...rest } = modelOptions;
  return createModel(modelName, { ...rest, rng: new Rng(0) });
}

function inputOf(modelName: string, model: Module, opts: Record<string, unknown>): Program['input'] {
  if (model instanceof EfficientNet) return { channels: model._conv_stem.inChannels, height: model.imageSize, width: model.imageSize };
  const conv1 = model instanceof MobileNetV2 ? (model.features.at(0) as Sequential).at(0) as Conv2d : (model as unknown as { conv1: Conv2d }).conv1;
  const side = modelName === 'lenet5' ? ((opts.inputSize as number | undefined) ?? 28) : modelName === 'resnet18' || modelName === 'micronet-imagenet' || (modelName === 'mobilenetv2' && opts.cifar !== true) ? 224 : 32;
  return { channels: conv1.inChannels, height: side, width: side };
}

// ------------------------------------------------------------------ packing

/**
 * Packs a ternary state dict (ternary.safetensors: PyTorch names, `weight` = Wt plus `.w_p`,
 * `.w_n`, `.assignment` siblings per ternary layer) into the `ec2t.packed/3` format.
 * @example const p = packModel('lenet5', {}, loadSafetensors('ternary.safetensors').tensors); writeFileAtomic(out, p.bytes)
 */
export function packModel(modelName: string, modelOptions: Record<string, unknown>, weights: Map<string, SafetensorEntry>, options: PackOptions = {}): PackedModel {
  const source = options.source ?? 'state dict';
  const { stateDict, recognized } = recognizeTernaryValued(modelName, weights, modelOptions, source);
  const pruned = prunedFloatLayersOf(stateDict);
  if (pruned.length > 0) {
    throw new FormatError(source, `layer(s) ${pruned.slice(0, 4).join(', ')}${pruned.length > 4 ? `, … (${pruned.length})` : ''} keep full-precision weights where their assignment is non-zero (an ECP run: pruning, not ternarization); the packed format stores ternary layers as two centroids and would change the model, so nothing was written. Run it with: ec2t predict --model ${modelName} --weights ${source}`);
  }
  const mo = completeModelOptions(modelName, modelOptions, stateDict, source);
  const model = makeModel(modelName, mo);
  const r = new Reader(stateDict, source);
  const input = inputOf(modelName, model, mo);
  affineParams.clear();
  const ir = foldBatchNorms(buildIR(modelName, model, r), r, input.channels);
  const last = ir[ir.length - 1] as Extract<IROp, { t: 'layer' }>;
  const outputs = last.L.shape[0];
  const float16 = options.float16 === true;
  let dead: PackedModel['dead'] = [];
  if (options.pruneDead !== false) {
    const { before } = inferShapes(provisionalProgram(modelName, ir, input, outputs), [1, input.channels, input.height, input.width]);
    dead = pruneDeadChannels(ir, before, float16);
  }
  const program = provisionalProgram(modelName, ir, input, outputs);
  inferShapes(program, [1, input.channels, input.height, input.width]);
  const fdt = float16 ? 'F16' : 'F32';
  const tensors = new Map<string, SafetensorEntry>();
  const put = (name: string, e: SafetensorEntry): void => {
    if (tensors.has(name)) throw new ValueError('packModel', `duplicate tensor name ${name}`);
    tensors.set(name, e);
  };
  const vec = (v: Float64Array): Float32Array => Float32Array.from(v);
  for (const o of ir) {
    if (o.t === 'layer') {
      const L = o.L;
      if (L.ternary) {
        const masks = packAssignment(L.assign as Int8Array);
        put(`${L.name}.nonzero_mask`, { dtype: 'U8', shape: [masks.nonzeroMask.length], data: masks.nonzeroMask });
        put(`${L.name}.sign_mask`, { dtype: 'U8', shape: [masks.signMask.length], data: masks.signMask });
        // Centroids stay float32 whatever the option: the ternary weights must unpack exactly.
        put(`${L.name}.centroids`, { dtype: 'F32', shape: [2], data: Float32Array.of(L.wp, L.wn) });
      } else {
        put(`${L.name}.weight`, { dtype: fdt, shape: [...L.shape], data: L.w as Float32Array });
      }
      if (L.bias) put(`${L.name}.bias`, { dtype: fdt, shape: [L.shape[0]], data: vec(L.bias) });
      if (L.scale) put(`${L.name}.scale`, { dtype: fdt, shape: [L.shape[0]], data: vec(L.scale) });
    } else if (o.t === 'plain' && o.op.op === 'affine') {
      const a = affineParams.get(o.op.name) as { s: Float64Array; t: Float64Array };
      put(`${o.op.name}.scale`, { dtype: fdt, shape: [a.s.length], data: vec(a.s) });
      put(`${o.op.name}.shift`, { dtype: fdt, shape: [a.t.length], data: vec(a.t) });
    }
  }
  affineParams.clear();
  // The tensors' own dtypes say float16 or not; the program leaves out what the reader derives.
  const metadata: Record<string, string> = {
    format: PACKED_FORMAT,
    model: modelName,
    modelOptions: JSON.stringify(mo),
    program: compactProgramJson(program),
  };
  const bytes = serializePacked(tensors, metadata);
  return { bytes, program, metadata, tensors, dead, recognized };
}

/**
 * The bytes of a packed file: `tensors` and `metadata` as safetensors, with `dataCrc32` (the CRC-32
 * of the data section, docs/FORMAT.md) added to `metadata` (which is updated in place).
 * @example const bytes = serializePacked(tensors, { format: PACKED_FORMAT, program: JSON.stringify(p) });
 */
export function serializePacked(tensors: Map<string, SafetensorEntry>, metadata: Record<string, string>): Uint8Array {
  // The data section does not depend on the metadata: lay the file out once to checksum it.
  const draft = serializeSafetensors(tensors, metadata);
  const headerLength = Number(new DataView(draft.buffer, draft.byteOffset, 8).getBigUint64(0, true));
  metadata.dataCrc32 = crc32Hex(draft.subarray(8 + headerLength));
  return serializeSafetensors(tensors, metadata);
}

/** One ternary layer recovered from a packed file. */
export interface UnpackedLayer {
  /** Assignment in the original (full) weight shape; removed dead rows are 0. */
  assignment: Int8Array;
  shape: number[];
  wp: number;
  wn: number;
  /** Input slices removed as inputs from dead channels (their weights are not stored). */
  removedIn: number[];
  /**
   * Depthwise layers: groups removed because their one input channel was a removed dead channel
   * (their weights are not stored; they come back as 0). A depthwise layer's own dead rows are
   * never removed, so every missing row of one is listed here.
   */
  removedGroups: number[];
}

/**
 * Recovers the ternary layers of a packed file (tensors as read by any safetensors reader):
 * lossless for everything stored. Input slices of a layer fed by removed dead channels are not
 * stored (their constant contribution lives in the bias) and come back as 0, listed in `removedIn`
 * (depthwise layers: whole groups, in `removedGroups`).
 * @example unpackModel(loadSafetensors(p)).get('conv1').assignment
 */
export function unpackModel(file: { tensors: Map<string, { data: unknown }>; metadata: Record<string, string> }): Map<string, UnpackedLayer> {
  const format = file.metadata.format;
  if (format !== PACKED_FORMAT && format !== PACKED_FORMAT_V2 && format !== PACKED_FORMAT_V1) throw new FormatError('<packed>', `not an ${PACKED_FORMAT} (or ${PACKED_FORMAT_V2}, ${PACKED_FORMAT_V1}) file`);
  const program = parseProgram(file.metadata.program, '<packed>', format);
  const out = new Map<string, UnpackedLayer>();
  for (const op of program.ops) {
    if ((op.op !== 'conv' && op.op !== 'linear') || op.kind !== 'ternary') continue;
    const get = (n: string | undefined): ArrayLike<number> => {
      const t = n === undefined ? undefined : file.tensors.get(n);
      if (t === undefined) throw new FormatError('<packed>', `${op.name}: tensor ${String(n)} missing`);
      return t.data as ArrayLike<number>;
    };
    const count = op.shape.reduce((a: number, b: number) => a * b, 1);
    const a = unpackAssignment({ nonzeroMask: Uint8Array.from(get(op.nonzero)), signMask: Uint8Array.from(get(op.sign)), count });
    const full = op.kept?.fullShape ?? [...op.shape];
    const keptOut = op.kept?.keptOut ?? Array.from({ length: full[0] }, (_, i) => i);
    const keptIn = op.kept?.keptIn ?? Array.from({ length: full[1] }, (_, i) => i);
    const tail = full.slice(2).reduce((x, y) => x * y, 1);
    const fa = new Int8Array(full.reduce((x, y) => x * y, 1));
    const inCur = keptIn.length;
    keptOut.forEach((m, q) => {
      keptIn.forEach((c, p) => fa.set(a.subarray((q * inCur + p) * tail, (q * inCur + p + 1) * tail), (m * full[1] + c) * tail));
    });
    const kin = new Set(keptIn);
    const kout = new Set(keptOut);
    const depthwise = op.op === 'conv' && full[1] === 1 && op.groups === op.shape[0] && op.groups > 1;
    out.set(op.name, {
      assignment: fa, shape: full, wp: op.centroids !== undefined ? get(op.centroids)[0] : get(op.wp)[0], wn: op.centroids !== undefined ? get(op.centroids)[1] : get(op.wn)[0],
      removedIn: Array.from({ length: full[1] }, (_, c) => c).filter((c) => !kin.has(c)),
      removedGroups: depthwise ? Array.from({ length: full[0] }, (_, m) => m).filter((m) => !kout.has(m)) : [],
    });
  }
  return out;
}

/**
 * Bytes `saveSafetensors` would write for the float32 model: the state dict without the ternary
 * siblings (`.w_p`, `.w_n`, `.assignment`), every float tensor as float32.
 * @example floatStateDictBytes(sd) // 1,0xx,xxx for ResNet-20
 */
export function floatStateDictBytes(sd: Map<string, SafetensorEntry>): number {
  const tern = ternaryLayersOf(sd);
  const m = new Map<string, SafetensorEntry>();
  for (const [k, e] of sd) {
    if (isSibling(k, tern)) continue;
    const isFloat = e.dtype === 'F16' || e.dtype === 'BF16' || e.dtype === 'F64' || e.dtype === 'F32';
    m.set(k, isFloat ? { dtype: 'F32', shape: e.shape, data: entryToFloat32(e) } : e);
  }
  return serializeSafetensors(m).length;
}

// ------------------------------------------------------------------ scoring description

/**
 * The layer list ec2t/score.ts scores, built from the model (and a state dict: ternary layers
 * detected by `.assignment` siblings, dead channels from the assignments) at `inputSize`.
 * Depthwise groups that `packModel` (float32) removes with a dead input channel are given as
 * `removedGroups` (and `removedChannels` on their batch norm), so they count nothing.
 * @example scoreNetwork(describeForScore('resnet20', {}, sd, 32))
 */
export function describeForScore(modelName: string, modelOptions: Record<string, unknown>, weights: Map<string, SafetensorEntry> | null, inputSize?: number): ScoreLayer[] {
  const model = makeModel(modelName, modelOptions);
  let stateDict = weights === null ? null : recognizeTernaryValued(modelName, weights, modelOptions).stateDict;
  // ECP layers are pruned float layers: scored as such (non-zeros at 32 bits plus a bitmask).
  const prunedLayers = stateDict === null ? [] : prunedFloatLayersOf(stateDict);
  if (stateDict !== null) stateDict = withoutTernarySiblings(stateDict, prunedLayers);
  let sd = stateDict;
  if (sd === null) {
    sd = new Map();
    for (const [k, t] of model.stateDict()) sd.set(k, { dtype: 'F32', shape: [...t.shape], data: t.data });
  }
  const r = new Reader(sd, 'weights');
  const ir = buildIR(modelName, model, r);
  const base = inputOf(modelName, model, modelOptions);
  const side = inputSize ?? base.height;
  const input = { channels: base.channels, height: side, width: side };
  // Shapes with every batch norm as a (channel-preserving) affine op.
  const shapeOps: IROp[] = ir.map((o) => (o.t === 'bn' ? { t: 'plain', op: { op: 'relu', ...(o.src !== 'x' ? { src: o.src } : {}), ...(o.dst !== 'x' ? { dst: o.dst } : {}) } } : o));
  const last = ir[ir.length - 1] as Extract<IROp, { t: 'layer' }>;
  const { before, after } = inferShapes(provisionalProgram(modelName, shapeOps, input, last.L.shape[0]), [1, input.channels, side, side]);
  const layers: ScoreLayer[] = [];
  // Depthwise groups packModel removes with their input (a dead channel whose constant it folds
  // onward), read off its own report so the score counts what the packed file computes; dead
  // channels it keeps (a non-zero constant into a padded depthwise conv) leave their group counted.
  const removedBy = new Map<string, number[]>();
  const isLayer = (o: IROp): o is Extract<IROp, { t: 'layer' }> => o.t === 'layer';
  if (stateDict !== null && ir.some((o) => isLayer(o) && isDepthwise(o.L)) && ir.some((o) => isLayer(o) && o.L.ternary && deadRows(o.L).length > 0)) {
    const depthwise = new Set(ir.filter((o) => isLayer(o) && isDepthwise(o.L)).map((o) => (o as Extract<IROp, { t: 'layer' }>).L.name));
    for (const d of packModel(modelName, modelOptions, stateDict, { source: 'weights' }).dead) if (depthwise.has(d.layer) && d.removed.length > 0) removedBy.set(d.layer, d.removed);
  }
  // Dead outputs of the ternary layer feeding each register (reset by residual joins); `removed`:
  // how many of them are removed depthwise groups.
  const deadOf = new Map<string, { dead: number; perChannel: number; removed?: number; channels?: number[] }>();
  ir.forEach((o, i) => {
    const s = before[i];
    const a = after[i];
    if (o.t === 'layer') {
      const L = o.L;
      const feed = deadOf.get(o.src);
      const dw = isDepthwise(L);
      const removedGroups = dw ? (removedBy.get(L.name) ?? []) : [];
      const gone = new Set(removedGroups);
      // A depthwise conv's dead inputs are whole groups: removed ones in removedGroups, kept ones computed.
      const deadIn = feed && !dw ? feed.dead * (L.op === 'linear' ? feed.perChannel : 1) : 0;
      const dOut = L.ternary ? deadRows(L).filter((m) => !gone.has(m)).length : 0;
      const prunedNz = prunedLayers.includes(L.name) ? { pruned: { nonzeros: (sd.get(`${L.name}.weight`)?.data as Float32Array).reduce((n, v) => n + (v !== 0 ? 1 : 0), 0) } } : {};
      // Which inputs are dead (a linear after a flatten: every feature of a dead channel).
      const deadInChannels = feed?.channels !== undefined && !dw ? feed.channels.flatMap((m) => Array.from({ length: L.op === 'linear' ? feed.perChannel : 1 }, (_, k) => m * (L.op === 'linear' ? feed.perChannel : 1) + k)) : undefined;
      const ternary = { assignment: L.assign as Int8Array, deadIn, wp: L.wp, wn: L.wn, ...(deadInChannels !== undefined ? { deadInChannels } : {}) };
      const common = { name: L.name, inChannels: L.shape[1] * L.groups, outChannels: L.shape[0], bias: L.bias !== null, ...prunedNz, ...(L.ternary ? { ternary } : {}) };
      if (L.op === 'conv') layers.push({ ...common, kind: 'conv', kernel: [L.shape[2], L.shape[3]], groups: L.groups, outH: a[2], outW: a[3], ...(removedGroups.length > 0 ? { removedGroups } : {}) });
      else layers.push({ ...common, kind: 'linear' });
      if (dw && removedGroups.length + dOut > 0) deadOf.set(o.dst, { dead: removedGroups.length + dOut, perChannel: 1, removed: removedGroups.length });
      else if (!dw && L.ternary && dOut > 0) deadOf.set(o.dst, { dead: dOut, perChannel: 1, channels: deadRows(L) });
      else deadOf.delete(o.dst);
    } else if (o.t === 'bn') {
      const prev = ir[i - 1];
      const folded = prev !== undefined && prev.t === 'layer' && prev.L.ternary && prev.dst === o.src;
      const feed = deadOf.get(o.src);
      // The batch norm right after a depthwise conv loses its removed groups' channels with them.
      const removedChannels = prev !== undefined && prev.t === 'layer' && prev.dst === o.src ? (feed?.removed ?? 0) : 0;
      layers.push({
        name: o.name, kind: 'bn', inChannels: s[1], outChannels: s[1], outH: s[2], outW: s[3],
        ...(folded ? { foldedIntoTernary: true, deadChannels: (feed?.dead ?? 0) - removedChannels } : {}),
        ...(removedChannels > 0 ? { removedChannels } : {}),
      });
    } else {
      const p = o.op;
      const src = p.src ?? 'x';
      const dst = p.dst ?? 'x';
      if (p.op === 'relu' || p.op === 'relu6') layers.push({ name: `relu${i}`, kind: 'relu', inChannels: s[1], outChannels: s[1], outH: s[2] ?? 1, outW: s[3] ?? 1 });
      else if (p.op === 'swish' || p.op === 'sigmoid') layers.push({ name: `${p.op}${i}`, kind: p.op, inChannels: s[1], outChannels: s[1], outH: s[2] ?? 1, outW: s[3] ?? 1 });
      else if (p.op === 'mul') layers.push({ name: `mul${i}`, kind: 'mul', inChannels: s[1], outChannels: s[1], outH: s[2], outW: s[3] });
      else if (p.op === 'maxpool') layers.push({ name: `maxpool${i}`, kind: 'maxpool', inChannels: s[1], outChannels: s[1], kernel: p.kernel, outH: a[2], outW: a[3] });
      else if (p.op === 'avgpool') layers.push({ name: `avgpool${i}`, kind: 'avgpool', inChannels: s[1], outChannels: s[1], kernel: p.kernel, outH: a[2], outW: a[3] });
      else if (p.op === 'globalavgpool') layers.push({ name: `avgpool${i}`, kind: 'avgpool', inChannels: s[1], outChannels: s[1], kernel: [s[2], s[3]], outH: 1, outW: 1 });
      else if (p.op === 'add') layers.push({ name: `add${i}`, kind: 'add', inChannels: s[1], outChannels: s[1], outH: s[2], outW: s[3] });
      if (p.op === 'flatten') {
        const f = deadOf.get(src);
        if (f) deadOf.set(dst, { dead: f.dead, perChannel: s.slice(2).reduce((x, y) => x * y, 1), ...(f.channels !== undefined ? { channels: f.channels } : {}) });
      } else if (p.op === 'relu' || p.op === 'relu6' || p.op === 'maxpool' || p.op === 'avgpool' || p.op === 'globalavgpool') {
        // channel-wise: dead channels stay dead
      } else if (p.op === 'save') {
        deadOf.delete(dst);
      } else deadOf.delete(dst);
    }
  });
  return layers;
}

export { makeModel as buildExportModel };
