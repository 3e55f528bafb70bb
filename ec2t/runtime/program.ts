/**
 * The inference program of a packed ternary model (`ec2t.packed/3`, docs/FORMAT.md "Packed model"):
 * a JSON list of ops over named registers, so a runtime needs no training code. Pure data and a
 * shape walk; no imports beyond the error types.
 *
 * Registers hold NCHW (or `[N, F]` after `flatten`) float tensors. Every op reads `src` and writes
 * `dst` (both default `"x"`, the input and the output register).
 */
import { FormatError, ShapeError } from '../../base/errors.js';

/**
 * Identifier of the packed format written today (metadata `format`). Version 3 writes the program
 * compactly (conventional tensor names and default sizes left out, docs/FORMAT.md "Compact
 * program") and stores a ternary layer's two centroids as one tensor; version 2 added `dataCrc32`,
 * a CRC-32 of the data section, to version 1.
 */
export const PACKED_FORMAT = 'ec2t.packed/3';

/**
 * The packed format of a model with integer activations: version 3 plus an `activations` field on
 * ternary layers (docs/FORMAT.md "Integer activations"). `ec2t export --activations int8|int16`
 * writes it; a model without integer activations is still written as {@link PACKED_FORMAT}.
 */
export const PACKED_FORMAT_V4 = 'ec2t.packed/4';

/** The second packed format (full program, centroids `w_p`/`w_n` as two tensors); still read. */
export const PACKED_FORMAT_V2 = 'ec2t.packed/2';

/** The first packed format (no checksum); still read, with a note. */
export const PACKED_FORMAT_V1 = 'ec2t.packed/1';

/** Fields every op may carry. */
interface OpBase {
  /** Register read (default "x"). */
  src?: string;
  /** Register written (default "x"). */
  dst?: string;
}

/**
 * Tensors of a conv/linear layer. Dense: `weight` (+ `bias`). Ternary: `nonzero`, `sign` (U8
 * bitmasks, docs/FORMAT.md "Bitmasks"), the centroids as `centroids` (F32 [2] = [w_p, w_n],
 * version 3) or `wp`, `wn` (F32 [1] each, versions 1–2), optional `bias` ([M], a folded BN shift
 * or the layer's own bias) and `scale` ([M], a folded BN scale: the effective centroids of output
 * m are `scale[m]·w_p` and `scale[m]·w_n`).
 */
export interface LayerTensors {
  weight?: string;
  nonzero?: string;
  sign?: string;
  centroids?: string;
  wp?: string;
  wn?: string;
  bias?: string;
  scale?: string;
  /** Ternary layers of an `ec2t.packed/4` file: integer activations (absent: float). */
  activations?: LayerActivations;
}

/** A ternary layer's integer activations: the input is quantized to `mode` with step `scale` (kernels/ternary/int.ts). */
export interface LayerActivations {
  mode: 'int8' | 'int16';
  /** Positive, finite float32: one quantization step of the layer's input. */
  scale: number;
}

/** Channels kept after dead-channel removal (indices into the original layer); absent = all kept. */
export interface KeptChannels {
  /** Original weight shape before removal. */
  fullShape: number[];
  keptOut?: number[];
  keptIn?: number[];
}

/** 2-D convolution (OIHW weights), dense or ternary. */
export interface ConvOp extends OpBase, LayerTensors {
  op: 'conv';
  kind: 'dense' | 'ternary';
  /** Layer name (the PyTorch module name). */
  name: string;
  /** Stored weight shape `[out, in/groups, kH, kW]` (after dead-channel removal). */
  shape: [number, number, number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
  kept?: KeptChannels;
}

/** Fully connected layer (weights `[out, in]`), dense or ternary. */
export interface LinearOp extends OpBase, LayerTensors {
  op: 'linear';
  kind: 'dense' | 'ternary';
  name: string;
  shape: [number, number];
  kept?: KeptChannels;
}

/** Per-channel `y = x·scale[c] + shift[c]` (a batch norm that could not be folded). */
export interface AffineOp extends OpBase {
  op: 'affine';
  name: string;
  channels: number;
  scale: string;
  shift: string;
}

/** Elementwise activations (`swish` is x·σ(x)), global average pooling, flatten to `[N, C·H·W]`. */
export interface SimpleOp extends OpBase {
  op: 'relu' | 'relu6' | 'swish' | 'sigmoid' | 'globalavgpool' | 'flatten';
}

/** Zero padding of the map, per side `[top, bottom, left, right]` (TensorFlow "same" padding's asymmetric part). */
export interface PadOp extends OpBase {
  op: 'pad';
  pads: [number, number, number, number];
}

/**
 * `dst = src · other` elementwise, `other` of the same shape or `[N, C, 1, 1]` (one factor per
 * channel, broadcast over the map: the squeeze-and-excitation gate).
 */
export interface MulOp extends OpBase {
  op: 'mul';
  other: string;
}

/** Max / average pooling (PyTorch semantics; max pooling pads with −∞). */
export interface PoolOp extends OpBase {
  op: 'maxpool' | 'avgpool';
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  countIncludePad?: boolean;
}

/** `dst = src + other` (residual connection; same shape). */
export interface AddOp extends OpBase {
  op: 'add';
  other: string;
}

/** `dst = src` (keep a tensor for a residual connection). */
export interface SaveOp extends OpBase {
  op: 'save';
}

/** Option-A shortcut: `pad(x[:, :, ::stride, ::stride], channels padBefore/padAfter zeros)`. */
export interface ShortcutAOp extends OpBase {
  op: 'shortcutA';
  stride: number;
  padBefore: number;
  padAfter: number;
}

/** One op of the program. */
export type ProgramOp = ConvOp | LinearOp | AffineOp | SimpleOp | PoolOp | AddOp | SaveOp | ShortcutAOp | PadOp | MulOp;

/** The whole program. */
export interface Program {
  version: 1;
  /** Architecture the program was built from (informative). */
  model: string;
  /** Input channels, and the input side the model was exported for (other sides work when the graph allows). */
  input: { channels: number; height: number; width: number };
  /** Number of outputs (classes). */
  outputs: number;
  ops: ProgramOp[];
}

const OPS = new Set(['conv', 'linear', 'affine', 'relu', 'relu6', 'swish', 'sigmoid', 'globalavgpool', 'flatten', 'maxpool', 'avgpool', 'add', 'mul', 'save', 'shortcutA', 'pad']);

/** Register read by an op. */
export function opSrc(op: ProgramOp): string {
  return op.src ?? 'x';
}

/** Register written by an op. */
export function opDst(op: ProgramOp): string {
  return op.dst ?? 'x';
}

/**
 * Largest value a program may give any size, channel count, kernel, stride, padding, dilation or
 * pad (2^24): far above any real network, and small enough that products of a few of them stay exact.
 */
export const MAX_PROGRAM_DIM = 2 ** 24;

/** Most weights one conv/linear layer may have (its taps are indexed with int32). */
export const MAX_LAYER_WEIGHTS = 2 ** 31 - 1;

/**
 * Most floats one image may need across the runtime's planned buffers (input included): 2^26
 * (256 MiB). EfficientNet-B1 at 240 px needs under 2^23; a file that declares more is refused before
 * anything is allocated.
 */
export const MAX_WORK_PER_IMAGE = 2 ** 26;

/**
 * Most multiply-adds (or comparisons, for pooling) one image may cost at a program's own input size:
 * 2^33, about 5× ResNet-18 at 224 px. A tiny file can otherwise declare a dilated, padded conv that
 * keeps predict busy for hours.
 */
export const MAX_OPS_PER_IMAGE = 2 ** 33;

/** Multiply-adds (comparisons for pooling, adds for the rest) of the ops whose output shapes are `after`, per image of the batch. */
export function opsPerImage(program: Program, before: readonly (readonly number[])[], after: readonly (readonly number[])[]): number {
  let total = 0;
  program.ops.forEach((op, i) => {
    const o = after[i];
    const out = o.reduce((a, b) => a * b, 1) / o[0];
    if (op.op === 'conv') total += out * op.shape[1] * op.shape[2] * op.shape[3];
    else if (op.op === 'linear') total += out * op.shape[1];
    else if (op.op === 'maxpool' || op.op === 'avgpool') total += out * op.kernel[0] * op.kernel[1];
    else if (op.op === 'globalavgpool') total += before[i].reduce((a, b) => a * b, 1) / before[i][0];
    else total += out;
  });
  return total;
}

function isIntArray(v: unknown, n: number, min: number): v is number[] {
  return Array.isArray(v) && v.length === n && v.every((d) => Number.isSafeInteger(d) && d >= min && d <= MAX_PROGRAM_DIM);
}

function isDim(v: unknown, min: number): v is number {
  return Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= MAX_PROGRAM_DIM;
}

function isIndexList(v: unknown, below: number): v is number[] {
  return Array.isArray(v) && v.every((d) => Number.isSafeInteger(d) && d >= 0 && d < below) && new Set(v).size === v.length;
}

/**
 * Parses and validates the program JSON of a packed file (structure only; tensors are checked by
 * the loader). Any fault is a {@link FormatError} naming `file`.
 * @example parseProgram(metadata.program, 'model.ec2t.safetensors').ops.length
 */
export function parseProgram(text: string | undefined, file: string, format: string = PACKED_FORMAT): Program {
  if (text === undefined) throw new FormatError(file, 'no "program" in the metadata: not a packed ec2t model (write one with `ec2t export`)');
  let p: unknown;
  try {
    p = JSON.parse(text);
  } catch (e) {
    throw new FormatError(file, `metadata "program" is not valid JSON: ${(e as Error).message}`);
  }
  const bad = (detail: string): never => {
    throw new FormatError(file, `program: ${detail}`);
  };
  if (p === null || typeof p !== 'object' || Array.isArray(p)) bad('must be a JSON object');
  const prog = p as Program;
  if (prog.version !== 1) bad(`unsupported version ${JSON.stringify(prog.version)}; this runtime reads version 1`);
  if ((format === PACKED_FORMAT || format === PACKED_FORMAT_V4) && Array.isArray(prog.ops)) prog.ops = prog.ops.map(expandCompactOp);
  const inp = prog.input as Program['input'] | undefined;
  if (!inp || typeof inp !== 'object' || !isIntArray([inp.channels, inp.height, inp.width], 3, 1)) bad(`input must be { channels, height, width }, integers in 1..${MAX_PROGRAM_DIM}`);
  if (!isDim(prog.outputs, 1)) bad(`outputs must be an integer in 1..${MAX_PROGRAM_DIM}`);
  if (!Array.isArray(prog.ops) || prog.ops.length === 0) bad('ops must be a non-empty array');
  prog.ops.forEach((op, i) => {
    const where = `op ${i}`;
    if (op === null || typeof op !== 'object' || Array.isArray(op)) bad(`${where}: expected an op object, got ${String(JSON.stringify(op)).slice(0, 60)}`);
    if (!OPS.has(op.op)) bad(`${where}: unknown op ${JSON.stringify(op.op)}; known: ${[...OPS].join(', ')}`);
    for (const k of ['src', 'dst'] as const) if (op[k] !== undefined && typeof op[k] !== 'string') bad(`${where}: ${k} must be a string`);
    switch (op.op) {
      case 'conv': {
        if (typeof op.name !== 'string') bad(`${where}: conv needs a string "name"`);
        const what = `${where} (conv ${op.name})`;
        if (!isIntArray(op.shape, 4, 1) || !isIntArray(op.stride, 2, 1) || !isIntArray(op.padding, 2, 0) || !isIntArray(op.dilation, 2, 1) || !isDim(op.groups, 1)) {
          bad(`${what}: shape/stride/padding/dilation/groups malformed (integers, sizes in 1..${MAX_PROGRAM_DIM})`);
        }
        if (op.shape[0] % op.groups !== 0) bad(`${what}: ${op.shape[0]} output channels do not split into ${op.groups} groups`);
        // Padding beyond the kernel's reach only adds zero borders: PyTorch's "full" padding is the most a real conv uses.
        for (const k of [0, 1]) {
          if (op.padding[k] > op.dilation[k] * (op.shape[2 + k] - 1)) bad(`${what}: padding ${op.padding[k]} exceeds the kernel's reach ${op.dilation[k] * (op.shape[2 + k] - 1)} (dilation × (kernel − 1))`);
        }
        checkLayer(op, what, bad, format);
        break;
      }
      case 'linear':
        if (typeof op.name !== 'string') bad(`${where}: linear needs a string "name"`);
        if (!isIntArray(op.shape, 2, 1)) bad(`${where} (linear ${op.name}): shape must be [out, in], integers in 1..${MAX_PROGRAM_DIM}`);
        checkLayer(op, `${where} (linear ${op.name})`, bad, format);
        break;
      case 'maxpool':
      case 'avgpool':
        if (!isIntArray(op.kernel, 2, 1) || !isIntArray(op.stride, 2, 1) || !isIntArray(op.padding, 2, 0)) bad(`${where}: ${op.op} kernel/stride/padding malformed (integer pairs, sizes in 1..${MAX_PROGRAM_DIM})`);
        // PyTorch's own rule: a window may hang over the border by at most half its size.
        for (const k of [0, 1]) if (2 * op.padding[k] > op.kernel[k]) bad(`${where}: ${op.op} padding ${op.padding[k]} exceeds half its ${op.kernel[k]} window (PyTorch's limit)`);
        if (op.countIncludePad !== undefined && typeof op.countIncludePad !== 'boolean') bad(`${where}: countIncludePad must be true or false`);
        break;
      case 'affine':
        if (typeof op.name !== 'string' || !isDim(op.channels, 1) || typeof op.scale !== 'string' || typeof op.shift !== 'string') bad(`${where}: affine needs a string name, channels in 1..${MAX_PROGRAM_DIM} and tensor names scale, shift`);
        break;
      case 'add':
      case 'mul':
        if (typeof op.other !== 'string') bad(`${where}: ${op.op} needs "other"`);
        break;
      case 'pad':
        if (!isIntArray(op.pads, 4, 0)) bad(`${where}: pad needs pads [top, bottom, left, right] non-negative integers`);
        break;
      case 'shortcutA':
        if (!isDim(op.stride, 1) || !isDim(op.padBefore, 0) || !isDim(op.padAfter, 0)) bad(`${where}: shortcutA needs stride in 1..${MAX_PROGRAM_DIM}, padBefore and padAfter in 0..${MAX_PROGRAM_DIM}`);
        break;
      default:
        break;
    }
  });
  // Register x holds the output at the end: a trailing op that writes elsewhere would leave the
  // output and its shape to different ops.
  const last = prog.ops[prog.ops.length - 1];
  if (opDst(last) !== 'x') bad(`the last op (${prog.ops.length - 1}, ${last.op}) writes register "${opDst(last)}"; the program's output is register "x"`);
  return prog;
}

/**
 * A version-3 op with what the compact encoding leaves out put back (docs/FORMAT.md "Compact
 * program"): conv `stride`/`dilation` [1, 1], `padding` [0, 0], `groups` 1; a layer's required
 * tensor names `NAME.weight`, or `NAME.nonzero_mask`, `NAME.sign_mask` and `NAME.centroids`; an
 * optional tensor given as `true` (`bias`, `scale`) `NAME.bias` / `NAME.scale`; an affine op's
 * `NAME.scale`, `NAME.shift`. Anything malformed is left for the validation to name.
 */
function expandCompactOp(op: ProgramOp): ProgramOp {
  if (op === null || typeof op !== 'object' || Array.isArray(op)) return op;
  const o = op as unknown as Record<string, unknown>;
  const name = o.name;
  if (typeof name !== 'string') return op;
  const out: Record<string, unknown> = { ...o };
  // Only absent fields take defaults: a null or malformed one stays for the validation to name.
  const dflt = (k: string, v: unknown): void => {
    if (!(k in o)) out[k] = v;
  };
  if (o.op === 'conv') {
    dflt('stride', [1, 1]);
    dflt('padding', [0, 0]);
    dflt('dilation', [1, 1]);
    dflt('groups', 1);
  }
  if (o.op === 'conv' || o.op === 'linear') {
    if (o.kind === 'dense') dflt('weight', `${name}.weight`);
    if (o.kind === 'ternary') {
      dflt('nonzero', `${name}.nonzero_mask`);
      dflt('sign', `${name}.sign_mask`);
      if (!('wp' in o) && !('wn' in o)) dflt('centroids', `${name}.centroids`);
    }
    for (const k of ['bias', 'scale']) if (o[k] === true) out[k] = `${name}.${k}`;
  }
  if (o.op === 'affine') {
    dflt('scale', `${name}.scale`);
    dflt('shift', `${name}.shift`);
  }
  return out as unknown as ProgramOp;
}

/**
 * The version-3 JSON of a program: the inverse of the reader's expansion, leaving out every tensor
 * name that follows the convention and every default size.
 * @example compactProgramJson(packModel('resnet20', {}, sd).program).length // ≈ 3.6 kB instead of 8.5 kB
 */
export function compactProgramJson(program: Program): string {
  const ops = program.ops.map((op) => {
    const o: Record<string, unknown> = { ...(op as unknown as Record<string, unknown>) };
    const name = o.name as string;
    const same = (a: unknown, b: readonly number[]): boolean => Array.isArray(a) && a.length === b.length && a.every((v, i) => v === b[i]);
    if (o.op === 'conv') {
      if (same(o.stride, [1, 1])) delete o.stride;
      if (same(o.padding, [0, 0])) delete o.padding;
      if (same(o.dilation, [1, 1])) delete o.dilation;
      if (o.groups === 1) delete o.groups;
    }
    const conventional: Record<string, string> = o.op === 'affine'
      ? { scale: 'scale', shift: 'shift' }
      : o.op === 'conv' || o.op === 'linear'
        ? { weight: 'weight', nonzero: 'nonzero_mask', sign: 'sign_mask', centroids: 'centroids' }
        : {};
    for (const [k, suffix] of Object.entries(conventional)) if (o[k] === `${name}.${suffix}`) delete o[k];
    if (o.op === 'conv' || o.op === 'linear') for (const k of ['bias', 'scale']) if (o[k] === `${name}.${k}`) o[k] = true;
    return o;
  });
  return JSON.stringify({ ...program, ops });
}

/** Checks the fields a conv/linear op adds: kind, tensor names, weight count, kept channels. */
function checkLayer(op: ConvOp | LinearOp, what: string, bad: (d: string) => never, format: string): void {
  if (op.kind !== 'dense' && op.kind !== 'ternary') bad(`${what}: kind must be dense or ternary`);
  const act = op.activations as unknown;
  if (act !== undefined) {
    if (format !== PACKED_FORMAT_V4) bad(`${what}: "activations" needs format ${PACKED_FORMAT_V4}, the file says ${format}`);
    if (op.kind !== 'ternary') bad(`${what}: only a ternary layer takes integer activations`);
    const a = act as LayerActivations;
    if (act === null || typeof act !== 'object' || (a.mode !== 'int8' && a.mode !== 'int16')) bad(`${what}: activations must be { mode: "int8" | "int16", scale }`);
    // Float32-representable (the kernels round it once) and a usable quantization step.
    if (typeof a.scale !== 'number' || !Number.isFinite(a.scale) || a.scale <= 0 || Math.fround(a.scale) !== a.scale || !Number.isFinite(Math.fround(1 / a.scale))) {
      bad(`${what}: activations.scale must be a positive finite float32, got ${JSON.stringify(a.scale)}`);
    }
  }
  for (const k of ['weight', 'nonzero', 'sign', 'centroids', 'wp', 'wn', 'bias', 'scale'] as const) if (op[k] !== undefined && typeof op[k] !== 'string') bad(`${what}: tensor name "${k}" must be a string`);
  const weights = op.shape.reduce((a, b) => a * b, 1);
  if (weights > MAX_LAYER_WEIGHTS) bad(`${what}: shape [${op.shape.join(', ')}] has ${weights} weights, above the ${MAX_LAYER_WEIGHTS} a layer may have`);
  const kept = op.kept as unknown;
  if (kept === undefined) return;
  const k = kept as KeptChannels;
  if (kept === null || typeof kept !== 'object' || !isIntArray(k.fullShape, op.shape.length, 1)) bad(`${what}: kept.fullShape must be the layer's original shape (${op.shape.length} sizes)`);
  if (k.keptOut !== undefined && (!isIndexList(k.keptOut, k.fullShape[0]) || k.keptOut.length !== op.shape[0])) bad(`${what}: kept.keptOut must list ${op.shape[0]} distinct output channels below ${k.fullShape[0]}`);
  if (k.keptIn !== undefined && (!isIndexList(k.keptIn, k.fullShape[1]) || k.keptIn.length !== op.shape[1])) bad(`${what}: kept.keptIn must list ${op.shape[1]} distinct input channels below ${k.fullShape[1]}`);
}

/** Output side of a conv/pool dim (PyTorch's formula). */
export function outSize(inSize: number, kernel: number, stride: number, pad: number, dilation = 1): number {
  return Math.floor((inSize + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1;
}

/**
 * Walks the program over shapes only: the shape of the register each op writes (`after[i]`) and
 * the shape it reads (`before[i]`). Throws a {@link ShapeError} when the input does not fit.
 * @example inferShapes(program, [1, 3, 32, 32]).after.at(-1) // [1, 10]
 */
export function inferShapes(program: Program, inputShape: readonly number[]): { before: number[][]; after: number[][] } {
  const regs = new Map<string, number[]>([['x', [...inputShape]]]);
  const before: number[][] = [];
  const after: number[][] = [];
  const get = (name: string, i: number): number[] => {
    const s = regs.get(name);
    if (s === undefined) throw new ShapeError('program', `op ${i} reads register "${name}" before anything wrote it`);
    return s;
  };
  program.ops.forEach((op, i) => {
    const s = get(opSrc(op), i);
    before.push(s);
    let o: number[];
    const need4 = (what: string): void => {
      if (s.length !== 4) throw new ShapeError(what, `op ${i} needs an NCHW input, got [${s.join(', ')}]`);
    };
    switch (op.op) {
      case 'conv': {
        need4(`conv ${op.name}`);
        const [out, inPer, kh, kw] = op.shape;
        if (s[1] !== inPer * op.groups) throw new ShapeError(`conv ${op.name}`, `expects ${inPer * op.groups} input channels, got ${s[1]} (input [${s.join(', ')}])`);
        const oh = outSize(s[2], kh, op.stride[0], op.padding[0], op.dilation[0]);
        const ow = outSize(s[3], kw, op.stride[1], op.padding[1], op.dilation[1]);
        if (oh < 1 || ow < 1) throw new ShapeError(`conv ${op.name}`, `input ${s[2]}×${s[3]} is too small for a ${kh}×${kw} kernel`);
        // The kernels' own buffers per image: the padded input, and the column matrix of a dense conv.
        const padded = s[1] * (s[2] + 2 * op.padding[0]) * (s[3] + 2 * op.padding[1]);
        const columns = inPer * kh * kw * oh * ow;
        if (padded > MAX_WORK_PER_IMAGE || columns > MAX_WORK_PER_IMAGE) {
          throw new ShapeError(`conv ${op.name}`, `op ${i} needs ${Math.max(padded, columns)} values of scratch per image (padded input ${padded}, columns ${columns}), above the limit of ${MAX_WORK_PER_IMAGE}`);
        }
        o = [s[0], out, oh, ow];
        break;
      }
      case 'linear':
        if (s.length !== 2 || s[1] !== op.shape[1]) throw new ShapeError(`linear ${op.name}`, `expects [N, ${op.shape[1]}] features, got [${s.join(', ')}] (is the input image size the one the model was built for?)`);
        o = [s[0], op.shape[0]];
        break;
      case 'affine':
        if (s[1] !== op.channels) throw new ShapeError(`affine ${op.name}`, `expects ${op.channels} channels, got ${s[1]}`);
        o = s;
        break;
      case 'relu':
      case 'relu6':
      case 'swish':
      case 'sigmoid':
      case 'save':
        o = s;
        break;
      case 'pad':
        need4('pad');
        o = [s[0], s[1], s[2] + op.pads[0] + op.pads[1], s[3] + op.pads[2] + op.pads[3]];
        break;
      case 'mul': {
        const t = get(op.other, i);
        const same = t.length === s.length && t.every((d, k) => d === s[k]);
        const gate = s.length === 4 && t.length === 4 && t[0] === s[0] && t[1] === s[1] && t[2] === 1 && t[3] === 1;
        if (!same && !gate) throw new ShapeError('mul', `op ${i}: [${t.join(', ')}] is neither [${s.join(', ')}] nor [${s[0]}, ${s[1]}, 1, 1]`);
        o = s;
        break;
      }
      case 'flatten':
        o = [s[0], s.slice(1).reduce((a, b) => a * b, 1)];
        break;
      case 'globalavgpool':
        need4('globalavgpool');
        o = [s[0], s[1], 1, 1];
        break;
      case 'maxpool':
      case 'avgpool': {
        need4(op.op);
        const oh = outSize(s[2], op.kernel[0], op.stride[0], op.padding[0]);
        const ow = outSize(s[3], op.kernel[1], op.stride[1], op.padding[1]);
        if (oh < 1 || ow < 1) throw new ShapeError(op.op, `input ${s[2]}×${s[3]} is too small for a ${op.kernel[0]}×${op.kernel[1]} window`);
        o = [s[0], s[1], oh, ow];
        break;
      }
      case 'add': {
        const t = get(op.other, i);
        if (t.length !== s.length || t.some((d, k) => d !== s[k])) throw new ShapeError('add', `op ${i}: shapes [${s.join(', ')}] and [${t.join(', ')}] differ`);
        o = s;
        break;
      }
      case 'shortcutA':
        need4('shortcutA');
        o = [s[0], s[1] + op.padBefore + op.padAfter, Math.ceil(s[2] / op.stride), Math.ceil(s[3] / op.stride)];
        break;
    }
    const perImage = o.slice(1).reduce((a, b) => a * b, 1);
    if (perImage > MAX_WORK_PER_IMAGE) throw new ShapeError('program', `op ${i} (${op.op}) makes a [${o.join(', ')}] tensor, ${perImage} values per image, above the limit of ${MAX_WORK_PER_IMAGE}`);
    after.push(o);
    regs.set(opDst(op), o);
  });
  return { before, after };
}
