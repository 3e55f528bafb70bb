/**
 * The ternary inference runtime (`ec2t/runtime`): loads a packed `.ec2t.safetensors` model
 * (docs/FORMAT.md "Packed model") and runs its inference program — ternary layers with the
 * multiplication-free bitmask kernels (kernels/ternary), everything else with plain float kernels.
 *
 * Its import graph holds no autodiff, optimizer, model-zoo or dataset code (test/ec2t/runtime.test.ts
 * walks it): only kernels, the error types and a small safetensors reader.
 */
import { FormatError, ShapeError } from '../../engine/errors.js';
import { ternaryConv2dCpu, ternaryLinearCpu } from '../../kernels/ternary/cpu.js';
import { ternaryLayerFromMasks, type TernaryLayer } from '../../kernels/ternary/layer.js';
import { conv2dForwardCpu } from '../../kernels/cpu/conv.js';
import { gemm } from '../../kernels/cpu/gemm.js';
import { avgPool2dForwardCpu, maxPool2dForwardCpu } from '../../kernels/cpu/pool.js';
import type { Conv2dGeometry, Pool2dGeometry } from '../../kernels/types.js';
import { PACKED_FORMAT, inferShapes, opDst, opSrc, outSize, parseProgram, type ConvOp, type LinearOp, type Program, type ProgramOp } from './program.js';
import { readSafetensorsBytes, type RawTensor } from './safetensors-read.js';
import { readFileSync } from 'node:fs';

export { PACKED_FORMAT, parseProgram, inferShapes } from './program.js';
export type { Program, ProgramOp, ConvOp, LinearOp } from './program.js';
export { readSafetensorsBytes, readSafetensorsFile } from './safetensors-read.js';

/** What the runtime knows about one conv/linear layer. */
export interface RuntimeLayerInfo {
  name: string;
  op: 'conv' | 'linear';
  kind: 'dense' | 'ternary';
  /** Stored weight shape (dead channels removed). */
  shape: number[];
  weights: number;
  nonzeros: number;
  sparsity: number;
  /** Output channels removed as dead at export. */
  removedOut: number;
  removedIn: number;
}

/** A loaded packed model. */
export interface TernaryModel {
  metadata: Record<string, string>;
  program: Program;
  layers: RuntimeLayerInfo[];
  /**
   * Runs the model on an NCHW batch; returns the output (`[N, classes]` logits).
   * @example model.predict(x, [1, 1, 28, 28]).data
   */
  predict(input: Float32Array, shape: readonly [number, number, number, number]): { data: Float32Array; shape: number[] };
}

/** A compiled conv/linear: kernel inputs plus the per-channel post pass. */
interface Compiled {
  ternary: TernaryLayer | null;
  weight: Float32Array | null;
  /** Bias applied by the kernel (no per-channel scale). */
  kernelBias: Float32Array | null;
  /** Per-channel multiplier of the post pass (folded BN scale × w_n), or null. */
  mult: Float32Array | null;
  /** Per-channel addend of the post pass, with `mult`. */
  add: Float32Array | null;
}

function tensorOf(tensors: Map<string, RawTensor>, name: string | undefined, file: string, what: string, dtypes: readonly RawTensor['dtype'][], numel?: number): RawTensor {
  if (name === undefined) throw new FormatError(file, `${what}: the program names no tensor`);
  const t = tensors.get(name);
  if (t === undefined) throw new FormatError(file, `${what}: tensor "${name}" is missing`);
  if (!dtypes.includes(t.dtype)) throw new FormatError(file, `${what}: tensor "${name}" is ${t.dtype}, expected ${dtypes.join(' or ')}`);
  if (numel !== undefined && t.data.length !== numel) throw new FormatError(file, `${what}: tensor "${name}" has ${t.data.length} elements, expected ${numel}`);
  return t;
}

const FLOATS = ['F32', 'F16'] as const;

function compileLayer(op: ConvOp | LinearOp, tensors: Map<string, RawTensor>, file: string): { c: Compiled; info: RuntimeLayerInfo } {
  const what = `${op.op} ${op.name}`;
  const M = op.shape[0];
  const weights = op.shape.reduce((a, b) => a * b, 1);
  const vec = (name: string | undefined): Float32Array | null => (name === undefined ? null : (tensorOf(tensors, name, file, what, FLOATS, M).data as Float32Array));
  const bias = vec(op.bias);
  const scale = vec(op.scale);
  const kept = op.kept;
  const removedOut = kept?.keptOut ? kept.fullShape[0] - kept.keptOut.length : 0;
  const removedIn = kept?.keptIn ? kept.fullShape[1] - kept.keptIn.length : 0;
  if (op.kind === 'dense') {
    const w = tensorOf(tensors, op.weight, file, what, FLOATS, weights).data as Float32Array;
    if (scale !== null) throw new FormatError(file, `${what}: a dense layer carries no scale (fold it into the weights)`);
    let nz = 0;
    for (let i = 0; i < w.length; i++) if (w[i] !== 0) nz++;
    return {
      c: { ternary: null, weight: w, kernelBias: bias, mult: null, add: null },
      info: { name: op.name, op: op.op, kind: 'dense', shape: [...op.shape], weights, nonzeros: nz, sparsity: 1 - nz / weights, removedOut, removedIn },
    };
  }
  const nzMask = tensorOf(tensors, op.nonzero, file, what, ['U8'], (weights + 7) >> 3).data as Uint8Array;
  const signMask = tensorOf(tensors, op.sign, file, what, ['U8']).data as Uint8Array;
  const wp = (tensorOf(tensors, op.wp, file, what, FLOATS, 1).data as Float32Array)[0];
  const wn = (tensorOf(tensors, op.wn, file, what, FLOATS, 1).data as Float32Array)[0];
  // Bits past the last weight must be zero (a reader rejects stray bits, docs/FORMAT.md).
  if (weights & 7 && nzMask[nzMask.length - 1] >> (weights & 7)) throw new FormatError(file, `${what}: non-zero mask has bits set past weight ${weights}`);
  const kshape = op.op === 'conv' ? op.shape : ([op.shape[0], op.shape[1]] as const);
  let layer: TernaryLayer;
  let mult: Float32Array | null = null;
  try {
    if (scale !== null && wn !== 0) {
      // Per-channel centroids scale[m]·w_p, scale[m]·w_n = (scale[m]·w_n)·(w_p/w_n, 1): the kernel
      // sums with the centroid ratio, the post pass multiplies once per output — two
      // multiplications per output in all, as a plain ternary layer.
      layer = ternaryLayerFromMasks(nzMask, signMask, kshape, Math.fround(wp / wn), 1);
      mult = new Float32Array(M);
      for (let m = 0; m < M; m++) mult[m] = scale[m] * wn;
    } else {
      layer = ternaryLayerFromMasks(nzMask, signMask, kshape, wp, wn);
      if (scale !== null) mult = scale;
    }
  } catch (e) {
    if (e instanceof ShapeError || e instanceof Error) throw new FormatError(file, `${what}: corrupt bitmasks: ${e.message}`);
    throw e;
  }
  const count = layer.posTaps.length + layer.negTaps.length;
  if (signMask.length && count & 7 && signMask[signMask.length - 1] >> (count & 7)) throw new FormatError(file, `${what}: sign mask has bits set past non-zero ${count}`);
  const c: Compiled = mult === null
    ? { ternary: layer, weight: null, kernelBias: bias, mult: null, add: null }
    : { ternary: layer, weight: null, kernelBias: null, mult, add: bias ?? new Float32Array(M) };
  return { c, info: { name: op.name, op: op.op, kind: 'ternary', shape: [...op.shape], weights, nonzeros: count, sparsity: 1 - count / weights, removedOut, removedIn } };
}

function postChannel(out: Float32Array, mult: Float32Array, add: Float32Array, channels: number, spatial: number): void {
  const n = out.length / (channels * spatial);
  for (let b = 0; b < n; b++) {
    for (let m = 0; m < channels; m++) {
      const k = mult[m];
      const a = add[m];
      const base = (b * channels + m) * spatial;
      for (let i = base; i < base + spatial; i++) out[i] = out[i] * k + a;
    }
  }
}

/**
 * Loads a packed model from bytes (`file` names it in errors).
 * @example const m = loadTernaryModelBytes(readFileSync(p), p);
 */
export function loadTernaryModelBytes(bytes: Uint8Array, file: string): TernaryModel {
  const { tensors, metadata } = readSafetensorsBytes(bytes, file);
  if (metadata.format !== PACKED_FORMAT) {
    throw new FormatError(file, `metadata format is ${JSON.stringify(metadata.format)}, expected "${PACKED_FORMAT}" (a packed model written by \`ec2t export\`)`);
  }
  const program = parseProgram(metadata.program, file);
  const compiled = new Map<number, Compiled>();
  const layers: RuntimeLayerInfo[] = [];
  const affines = new Map<number, { scale: Float32Array; shift: Float32Array }>();
  program.ops.forEach((op, i) => {
    if (op.op === 'conv' || op.op === 'linear') {
      const { c, info } = compileLayer(op, tensors, file);
      compiled.set(i, c);
      layers.push(info);
    } else if (op.op === 'affine') {
      const what = `affine ${op.name}`;
      affines.set(i, {
        scale: tensorOf(tensors, op.scale, file, what, FLOATS, op.channels).data as Float32Array,
        shift: tensorOf(tensors, op.shift, file, what, FLOATS, op.channels).data as Float32Array,
      });
    }
  });
  // The program must be consistent with itself at the size it was exported for.
  try {
    inferShapes(program, [1, program.input.channels, program.input.height, program.input.width]);
  } catch (e) {
    throw new FormatError(file, `program does not fit its own input size: ${(e as Error).message}`);
  }

  function runOp(op: ProgramOp, i: number, x: Float32Array, s: number[], o: number[]): Float32Array {
    const size = o.reduce((a, b) => a * b, 1);
    switch (op.op) {
      case 'conv': {
        const c = compiled.get(i) as Compiled;
        const out = new Float32Array(size);
        const g: Conv2dGeometry = {
          batch: s[0], inChannels: s[1], inHeight: s[2], inWidth: s[3], outChannels: o[1],
          kernelHeight: op.shape[2], kernelWidth: op.shape[3], strideH: op.stride[0], strideW: op.stride[1],
          padH: op.padding[0], padW: op.padding[1], dilationH: op.dilation[0], dilationW: op.dilation[1],
          groups: op.groups, outHeight: o[2], outWidth: o[3],
        };
        if (c.ternary !== null) ternaryConv2dCpu(x, c.ternary, c.kernelBias, out, g);
        else conv2dForwardCpu(x, c.weight as Float32Array, c.kernelBias, out, g);
        if (c.mult !== null) postChannel(out, c.mult, c.add as Float32Array, o[1], o[2] * o[3]);
        return out;
      }
      case 'linear': {
        const c = compiled.get(i) as Compiled;
        const out = new Float32Array(size);
        const [N, K] = s;
        const M = o[1];
        if (c.ternary !== null) ternaryLinearCpu(x, c.ternary, c.kernelBias, out);
        else {
          gemm(false, true, N, M, K, x, 0, K, c.weight as Float32Array, 0, K, out, 0, M, false);
          const b = c.kernelBias;
          if (b !== null) for (let n = 0; n < N; n++) for (let m = 0; m < M; m++) out[n * M + m] += b[m];
        }
        if (c.mult !== null) postChannel(out, c.mult, c.add as Float32Array, M, 1);
        return out;
      }
      case 'affine': {
        const a = affines.get(i) as { scale: Float32Array; shift: Float32Array };
        const out = new Float32Array(size);
        out.set(x.subarray(0, size));
        postChannel(out, a.scale, a.shift, s[1], s.length === 4 ? s[2] * s[3] : 1);
        return out;
      }
      case 'relu': {
        const out = new Float32Array(size);
        for (let k = 0; k < size; k++) out[k] = x[k] > 0 ? x[k] : 0;
        return out;
      }
      case 'relu6': {
        const out = new Float32Array(size);
        for (let k = 0; k < size; k++) out[k] = x[k] > 0 ? (x[k] < 6 ? x[k] : 6) : 0;
        return out;
      }
      case 'flatten':
      case 'save':
        // Registers are never written in place, so sharing the buffer is safe.
        return x;
      case 'globalavgpool': {
        const out = new Float32Array(size);
        const hw = s[2] * s[3];
        for (let p = 0; p < s[0] * s[1]; p++) {
          let acc = 0;
          for (let k = p * hw; k < (p + 1) * hw; k++) acc += x[k];
          out[p] = acc / hw;
        }
        return out;
      }
      case 'maxpool':
      case 'avgpool': {
        const out = new Float32Array(size);
        const g: Pool2dGeometry = {
          batch: s[0], channels: s[1], inHeight: s[2], inWidth: s[3], kernelHeight: op.kernel[0], kernelWidth: op.kernel[1],
          strideH: op.stride[0], strideW: op.stride[1], padH: op.padding[0], padW: op.padding[1], outHeight: o[2], outWidth: o[3],
          countIncludePad: op.countIncludePad ?? true,
        };
        if (op.op === 'maxpool') maxPool2dForwardCpu(x, out, new Int32Array(size), g);
        else avgPool2dForwardCpu(x, out, g);
        return out;
      }
      case 'add': {
        const y = regs0(op.other);
        const out = new Float32Array(size);
        for (let k = 0; k < size; k++) out[k] = x[k] + y[k];
        return out;
      }
      case 'shortcutA': {
        const out = new Float32Array(size);
        const [N, C, H, W] = s;
        const [, OC, OH, OW] = o;
        for (let n = 0; n < N; n++) {
          for (let c = 0; c < C; c++) {
            const src = (n * C + c) * H * W;
            const dst = (n * OC + c + op.padBefore) * OH * OW;
            for (let y = 0; y < OH; y++) for (let xx = 0; xx < OW; xx++) out[dst + y * OW + xx] = x[src + y * op.stride * W + xx * op.stride];
          }
        }
        return out;
      }
    }
  }
  // `add` reads a second register; bound per predict call through this indirection.
  let currentRegs: Map<string, Float32Array> | null = null;
  function regs0(name: string): Float32Array {
    return (currentRegs as Map<string, Float32Array>).get(name) as Float32Array;
  }
  const predictWithRegs = (input: Float32Array, shape: readonly [number, number, number, number]): { data: Float32Array; shape: number[] } => {
    if (shape.length !== 4 || !shape.every((d) => Number.isSafeInteger(d) && d >= 1)) throw new ShapeError('predict', `shape must be [N, C, H, W] positive integers, got [${shape.join(', ')}]`);
    const numel = shape[0] * shape[1] * shape[2] * shape[3];
    if (input.length !== numel) throw new ShapeError('predict', `input has ${input.length} values, shape [${shape.join(', ')}] needs ${numel}`);
    if (shape[1] !== program.input.channels) throw new ShapeError('predict', `the model takes ${program.input.channels} input channel(s), got ${shape[1]} (input [${shape.join(', ')}])`);
    const { before, after } = inferShapes(program, shape);
    const regs = new Map<string, Float32Array>([['x', input]]);
    currentRegs = regs;
    try {
      program.ops.forEach((op, i) => {
        regs.set(opDst(op), runOp(op, i, regs.get(opSrc(op)) as Float32Array, before[i], after[i]));
      });
    } finally {
      currentRegs = null;
    }
    return { data: regs.get('x') as Float32Array, shape: after[after.length - 1] };
  };
  return { metadata, program, layers, predict: predictWithRegs };
}

/**
 * Loads a packed ternary model file written by `ec2t export`.
 * @example const m = loadTernaryModel('lenet5.ec2t.safetensors'); m.predict(x, [1, 1, 28, 28])
 */
export function loadTernaryModel(path: string): TernaryModel {
  return loadTernaryModelBytes(readFileSync(path), path);
}

export { outSize };
