/**
 * The inference program of a packed ternary model (`ec2t.packed/1`, docs/FORMAT.md "Packed model"):
 * a JSON list of ops over named registers, so a runtime needs no training code. Pure data and a
 * shape walk; no imports beyond the error types.
 *
 * Registers hold NCHW (or `[N, F]` after `flatten`) float tensors. Every op reads `src` and writes
 * `dst` (both default `"x"`, the input and the output register).
 */
import { FormatError, ShapeError } from '../../engine/errors.js';

/** Identifier of the packed format (metadata `format`). */
export const PACKED_FORMAT = 'ec2t.packed/1';

/** Fields every op may carry. */
interface OpBase {
  /** Register read (default "x"). */
  src?: string;
  /** Register written (default "x"). */
  dst?: string;
}

/**
 * Tensors of a conv/linear layer. Dense: `weight` (+ `bias`). Ternary: `nonzero`, `sign` (U8
 * bitmasks, docs/FORMAT.md "Bitmasks"), `wp`, `wn` (F32 [1]), optional `bias` ([M], a folded BN
 * shift or the layer's own bias) and `scale` ([M], a folded BN scale: the effective centroids of
 * output m are `scale[m]·w_p` and `scale[m]·w_n`).
 */
export interface LayerTensors {
  weight?: string;
  nonzero?: string;
  sign?: string;
  wp?: string;
  wn?: string;
  bias?: string;
  scale?: string;
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

function isIntArray(v: unknown, n: number, min: number): v is number[] {
  return Array.isArray(v) && v.length === n && v.every((d) => Number.isSafeInteger(d) && d >= min);
}

/**
 * Parses and validates the program JSON of a packed file (structure only; tensors are checked by
 * the loader). Any fault is a {@link FormatError} naming `file`.
 * @example parseProgram(metadata.program, 'model.ec2t.safetensors').ops.length
 */
export function parseProgram(text: string | undefined, file: string): Program {
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
  const inp = prog.input as Program['input'] | undefined;
  if (!inp || !isIntArray([inp.channels, inp.height, inp.width], 3, 1)) bad('input must be { channels, height, width } positive integers');
  if (!Number.isSafeInteger(prog.outputs) || prog.outputs < 1) bad('outputs must be a positive integer');
  if (!Array.isArray(prog.ops) || prog.ops.length === 0) bad('ops must be a non-empty array');
  prog.ops.forEach((op, i) => {
    const where = `op ${i}`;
    if (op === null || typeof op !== 'object' || !OPS.has((op as ProgramOp).op)) bad(`${where}: unknown op ${JSON.stringify((op as ProgramOp)?.op)}; known: ${[...OPS].join(', ')}`);
    for (const k of ['src', 'dst'] as const) if (op[k] !== undefined && typeof op[k] !== 'string') bad(`${where}: ${k} must be a string`);
    switch (op.op) {
      case 'conv':
        if (!isIntArray(op.shape, 4, 1) || !isIntArray(op.stride, 2, 1) || !isIntArray(op.padding, 2, 0) || !isIntArray(op.dilation, 2, 1) || !Number.isSafeInteger(op.groups) || op.groups < 1) {
          bad(`${where} (conv ${op.name}): shape/stride/padding/dilation/groups malformed`);
        }
        break;
      case 'linear':
        if (!isIntArray(op.shape, 2, 1)) bad(`${where} (linear ${op.name}): shape must be [out, in]`);
        break;
      case 'maxpool':
      case 'avgpool':
        if (!isIntArray(op.kernel, 2, 1) || !isIntArray(op.stride, 2, 1) || !isIntArray(op.padding, 2, 0)) bad(`${where}: kernel/stride/padding malformed`);
        break;
      case 'affine':
        if (!Number.isSafeInteger(op.channels) || typeof op.scale !== 'string' || typeof op.shift !== 'string') bad(`${where}: affine needs channels, scale, shift`);
        break;
      case 'add':
      case 'mul':
        if (typeof op.other !== 'string') bad(`${where}: ${op.op} needs "other"`);
        break;
      case 'pad':
        if (!isIntArray(op.pads, 4, 0)) bad(`${where}: pad needs pads [top, bottom, left, right] non-negative integers`);
        break;
      case 'shortcutA':
        if (!Number.isSafeInteger(op.stride) || op.stride < 1 || !Number.isSafeInteger(op.padBefore) || op.padBefore < 0 || !Number.isSafeInteger(op.padAfter) || op.padAfter < 0) bad(`${where}: shortcutA needs stride, padBefore, padAfter`);
        break;
      default:
        break;
    }
    if ((op.op === 'conv' || op.op === 'linear') && op.kind !== 'dense' && op.kind !== 'ternary') bad(`${where}: kind must be dense or ternary`);
  });
  return prog;
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
    after.push(o);
    regs.set(opDst(op), o);
  });
  return { before, after };
}
