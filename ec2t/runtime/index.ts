/**
 * The ternary inference runtime (`ec2t/runtime`): loads a packed `.ec2t.safetensors` model
 * (docs/FORMAT.md "Packed model") and runs its inference program — ternary layers with the
 * multiplication-free bitmask kernels (kernels/ternary), everything else with plain float kernels.
 *
 * Its import graph holds no autodiff, optimizer, model-zoo or dataset code (test/ec2t/runtime.test.ts
 * walks it): only kernels, the error types and a small safetensors reader.
 */
import { FormatError, ShapeError, ValueError } from '../../base/errors.js';
import { ternaryConv2dCpu, ternaryLinearCpu } from '../../kernels/ternary/cpu.js';
import { ternaryLayerFromMasks } from '../../kernels/ternary/layer.js';
import { type IntActivations, checkIntActivations, ternaryLinearInt } from '../../kernels/ternary/int.js';
import { ternaryConv2dInt, ternaryConv2dIntFused } from '../../kernels/ternary/int-simd.js';
import { type DenseTaps, type TernaryConvPost, denseConv2dFused, denseTaps, ternaryConv2dFused, ternarySimdInstance } from '../../kernels/ternary/simd.js';
import type { JitPost } from '../../kernels/ternary/simd-jit.js';
import { arenaAllocate, arenaRelease } from '../../kernels/ternary/arena.js';
import { type TernaryLayer, withChannelCentroids } from '../../kernels/types.js';
import { conv2dForwardCpu } from '../../kernels/cpu/conv.js';
import { gemm } from '../../kernels/cpu/gemm.js';
import { binaryCpu, unaryCpu } from '../../kernels/cpu/elementwise.js';
import { batchNormForwardEvalCpu } from '../../kernels/cpu/norm.js';
import { avgPool2dForwardCpu, maxPool2dForwardCpu } from '../../kernels/cpu/pool.js';
import type { Conv2dGeometry, Pool2dGeometry } from '../../kernels/types.js';
import { MAX_OPS_PER_IMAGE, MAX_WORK_PER_IMAGE, PACKED_FORMAT, PACKED_FORMAT_V1, PACKED_FORMAT_V2, PACKED_FORMAT_V4, opDst, opsPerImage, opSrc, outSize, parseProgram, type ConvOp, type LinearOp, type Program } from './program.js';
import { planBuffers, type PlannedStep } from './plan.js';
import { readSafetensorsBytes, type RawTensor } from './safetensors-read.js';
import { MAX_READ_BYTES, readFileBytes } from '../../base/io.js';
import { bytesOf, fetchBytes } from '../../base/fetch.js';
import { crc32Hex } from '../../base/crc32.js';

export { MAX_LAYER_WEIGHTS, MAX_OPS_PER_IMAGE, MAX_PROGRAM_DIM, MAX_WORK_PER_IMAGE, PACKED_FORMAT, PACKED_FORMAT_V1, PACKED_FORMAT_V2, PACKED_FORMAT_V4, compactProgramJson, parseProgram, inferShapes } from './program.js';
export type { Program, ProgramOp, ConvOp, LinearOp, LayerActivations } from './program.js';
export { readSafetensorsBytes, readSafetensorsFile } from './safetensors-read.js';
export { preparePool, poolThreadsUnavailable } from '../../kernels/wasm/worker-pool.js';

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
  /** Things the user should know about the file, e.g. that an `ec2t.packed/1` file carries no checksum. */
  notes: string[];
  program: Program;
  layers: RuntimeLayerInfo[];
  /**
   * Runs the model on an NCHW batch; returns the output (`[N, classes]` logits) in a fresh array.
   * The working buffers are planned and allocated on the first call at each input shape and reused
   * after (the last four shapes are kept), so repeated calls allocate only the returned logits.
   * `observe` (calibration, ec2t/export/activations.ts) sees each conv/linear layer's input before the layer runs.
   * @example model.predict(x, [1, 1, 28, 28]).data
   */
  predict(input: Float32Array, shape: readonly [number, number, number, number], observe?: LayerInputObserver): { data: Float32Array; shape: number[] };
}

/** Called with a conv/linear layer's name and input (a view, valid during the call) before the layer runs. */
export type LayerInputObserver = (layer: string, input: Float32Array, shape: readonly number[]) => void;

/** A compiled conv/linear: the kernel's inputs (a folded batch-norm scale is in the ternary layer's per-channel centroids). */
interface Compiled {
  ternary: TernaryLayer | null;
  weight: Float32Array | null;
  /** Bias applied by the kernel (a folded batch-norm shift included). */
  kernelBias: Float32Array | null;
  /** Integer activations of a ternary layer (null: float). */
  act: IntActivations | null;
  /** A small dense conv's weights for generated code (see {@link DENSE_GENERATED_MAX_TAPS}), else null. */
  dense: DenseTaps | null;
}

/**
 * Dense convs with at most this many taps per output (`C/groups·kH·kW`, ungrouped) run on generated
 * code in the kernels' memory when the activations live there: a CIFAR ResNet's 3→16 stem (27 taps)
 * took 13% of a 2-thread batch-32 call through im2col + GEMM (single-threaded at that size, plus
 * copies in and out and a bias pass). Larger dense convs keep the GEMM, which blocks for reuse.
 */
const DENSE_GENERATED_MAX_TAPS = 48;



function tensorOf(tensors: Map<string, RawTensor>, name: string | undefined, file: string, what: string, dtypes: readonly RawTensor['dtype'][], numel?: number): RawTensor {
  if (name === undefined) throw new FormatError(file, `${what}: the program names no tensor`);
  const t = tensors.get(name);
  if (t === undefined) throw new FormatError(file, `${what}: tensor "${name}" is missing`);
  if (!dtypes.includes(t.dtype)) throw new FormatError(file, `${what}: tensor "${name}" is ${t.dtype}, expected ${dtypes.join(' or ')}`);
  if (numel !== undefined && t.data.length !== numel) throw new FormatError(file, `${what}: tensor "${name}" has ${t.data.length} elements, expected ${numel}`);
  return t;
}

const FLOATS = ['F32', 'F16'] as const;

function numelOf(s: readonly number[]): number {
  return s.reduce((a, b) => a * b, 1);
}

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
      c: {
        ternary: null, weight: w, kernelBias: bias, act: null,
        dense: op.op === 'conv' && op.groups === 1 && op.shape[1] * op.shape[2] * op.shape[3] <= DENSE_GENERATED_MAX_TAPS ? denseTaps(w, op.shape) : null,
      },
      info: { name: op.name, op: op.op, kind: 'dense', shape: [...op.shape], weights, nonzeros: nz, sparsity: 1 - nz / weights, removedOut, removedIn },
    };
  }
  // NOTE: Math.ceil, not (weights + 7) >> 3: the shift wraps at 2^31, and a wrapped length let an
  // empty mask pass for 2^40 weights (then the decoder looped 2^40 times).
  const nzMask = tensorOf(tensors, op.nonzero, file, what, ['U8'], Math.ceil(weights / 8)).data as Uint8Array;
  const signMask = tensorOf(tensors, op.sign, file, what, ['U8']).data as Uint8Array;
  let wp: number;
  let wn: number;
  if (op.centroids !== undefined) {
    const c = tensorOf(tensors, op.centroids, file, what, ['F32'], 2).data as Float32Array;
    [wp, wn] = [c[0], c[1]];
  } else {
    wp = (tensorOf(tensors, op.wp, file, what, FLOATS, 1).data as Float32Array)[0];
    wn = (tensorOf(tensors, op.wn, file, what, FLOATS, 1).data as Float32Array)[0];
  }
  // Bits past the last weight must be zero (a reader rejects stray bits, docs/FORMAT.md).
  if (weights & 7 && nzMask[nzMask.length - 1] >> (weights & 7)) throw new FormatError(file, `${what}: non-zero mask has bits set past weight ${weights}`);
  const kshape = op.op === 'conv' ? op.shape : ([op.shape[0], op.shape[1]] as const);
  let layer: TernaryLayer;
  try {
    // A folded batch-norm scale becomes per-channel centroids f32(scale[m]·w_p), f32(scale[m]·w_n):
    // the kernels' output expression applies them (two multiplications per output, as a plain
    // ternary layer) and the shift is the bias — no separate affine pass.
    layer = ternaryLayerFromMasks(nzMask, signMask, kshape, wp, wn);
    if (scale !== null) layer = withChannelCentroids(layer, scale);
  } catch (e) {
    if (e instanceof ShapeError || e instanceof Error) throw new FormatError(file, `${what}: corrupt bitmasks: ${e.message}`);
    throw e;
  }
  const count = layer.posTaps.length + layer.negTaps.length;
  if (signMask.length && count & 7 && signMask[signMask.length - 1] >> (count & 7)) throw new FormatError(file, `${what}: sign mask has bits set past non-zero ${count}`);
  const act = op.activations ?? null;
  if (act !== null) {
    // A layer whose busiest output could overflow the mode's accumulator is refused, as export does.
    try {
      checkIntActivations(layer, act, what);
    } catch (e) {
      if (e instanceof ValueError) throw new FormatError(file, e.message);
      throw e;
    }
  }
  const c: Compiled = { ternary: layer, weight: null, kernelBias: bias, act, dense: null };
  return { c, info: { name: op.name, op: op.op, kind: 'ternary', shape: [...op.shape], weights, nonzeros: count, sparsity: 1 - count / weights, removedOut, removedIn } };
}

/** Activation a step applies after its own work (a folded-in relu/relu6 step): none, ReLU, ReLU6. */
const enum Act {
  None = 0,
  Relu = 1,
  Relu6 = 2,
}

const UNIT_STRIDE: readonly number[] = [1];

/** Per-channel vectors of zeros and ones, shared by length: the batch-norm kernel's mean and invstd when it applies a plain scale and shift. */
const neutralStats = new Map<number, { zeros: Float32Array; ones: Float32Array }>();
function statsFor(channels: number): { zeros: Float32Array; ones: Float32Array } {
  let s = neutralStats.get(channels);
  if (s === undefined) neutralStats.set(channels, (s = { zeros: new Float32Array(channels), ones: new Float32Array(channels).fill(1) }));
  return s;
}

/**
 * In place: `out = act(out + res)` (res null: no join) with the cpu kernels (same-shape add,
 * relu/relu6), whose WebAssembly SIMD paths run 1.5–3× faster than one fused JS pass (a JS
 * `v > 0 ? v : 0` mispredicts on random signs). The generated ternary convs fuse the same work.
 */
function postPass(out: Float32Array, res: Float32Array | null, act: Act): void {
  if (res !== null) addInPlace(out, res);
  if (act !== Act.None) unaryCpu(act === Act.Relu ? 'relu' : 'relu6', out, out);
}

/** Option-A shortcut `out = pad(x[:, :, ::stride, ::stride])` with `padBefore` zero channels first (and zeros after). */
function shortcutA(x: Float32Array, out: Float32Array, s: readonly number[], o: readonly number[], stride: number, padBefore: number): void {
  const [N, C, H, W] = s;
  const [, OC, OH, OW] = o;
  const plane = OH * OW;
  const rowStep = stride * W;
  for (let n = 0; n < N; n++) {
    // Padded channels are zero (the buffer is reused, so write them every call).
    out.fill(0, n * OC * plane, (n * OC + padBefore) * plane);
    out.fill(0, (n * OC + padBefore + C) * plane, (n + 1) * OC * plane);
    for (let c = 0; c < C; c++) {
      let src = (n * C + c) * H * W;
      let dst = (n * OC + c + padBefore) * plane;
      for (let y = 0; y < OH; y++, src += rowStep) {
        for (let xx = 0, i = src; xx < OW; xx++, i += stride) out[dst++] = x[i];
      }
    }
  }
}

/**
 * Whether steps k, k+1, k+2 are a conv, an option-A shortcut (stride 1 or 2) and the residual join
 * `conv output + shortcut`, the join writing over the conv's output and the shortcut's value read by
 * nothing else: then the conv can add the shortcut's source through a map (see JitPost).
 */
function shortcutJoin(steps: readonly PlannedStep[], k: number): boolean {
  const conv = steps[k], sc = steps[k + 1], join = steps[k + 2];
  if (sc === undefined || join === undefined || sc.op.op !== 'shortcutA' || join.op.op !== 'add') return false;
  if (sc.op.stride !== 1 && sc.op.stride !== 2) return false;
  if (opSrc(join.op) !== opDst(conv.op) || join.src !== conv.dst || join.dst !== conv.dst) return false;
  if (join.op.other !== opDst(sc.op) || join.other !== sc.dst || sc.src === conv.dst) return false;
  // Nothing after the join reads the shortcut's register before it is written again.
  const reg = opDst(sc.op);
  for (let i = k + 3; i < steps.length; i++) {
    const op = steps[i].op;
    if (opSrc(op) === reg || ((op.op === 'add' || op.op === 'mul') && op.other === reg)) return false;
    if (opDst(op) === reg) return true;
  }
  return reg !== 'x';
}

/** `out += y` elementwise (same length). */
function addInPlace(out: Float32Array, y: Float32Array): void {
  binaryCpu('add', out, UNIT_STRIDE, y, UNIT_STRIDE, out, [out.length]);
}

/** A planned step bound to its buffers (views remade only when the storage's memory moves). */
interface BoundStep {
  readonly step: PlannedStep;
  /** Views of the src/other/dst slots at the step's sizes; null = the caller's input. */
  x: Float32Array | null;
  y: Float32Array | null;
  out: Float32Array | null;
  readonly conv: Conv2dGeometry | null;
  readonly pool: Pool2dGeometry | null;
  /** Skip tensor of a residual join done by this conv/linear's post pass (the add step is then skipped). */
  res: Float32Array | null;
  /** Slot of `res` (−1: none). */
  readonly resSlot: number;
  /** Size of `res`. */
  readonly resSize: number;
  /**
   * An option-A shortcut between this conv and its join (conv, shortcutA, add): `res` is then the
   * shortcut's source, which the fused kernel reads through the map; other paths run the shortcut
   * into its own slot (`shortcutOut`) and add that.
   */
  readonly shortcut: PlannedStep | null;
  shortcutOut: Float32Array | null;
  /** Activation of a following in-place relu/relu6 step, applied by this conv/linear/add (that step is then skipped). */
  readonly act: Act;
  readonly skip: boolean;
  /** A ternary conv's post work for kernels that fuse it into their output (undefined: none). */
  readonly post: JitPost | undefined;
}

/**
 * Where a bound shape's slots live: plain arrays, or one region of the ternary kernels' memory
 * (kernels/ternary/arena.ts), which the ternary convs then read and write in place: no copy of the
 * activations in or out of the kernels' memory per layer.
 */
interface Storage {
  /** Byte offset of a slot in the ternary kernels' memory (region storage), else null. */
  at(slot: number): number | null;
  /** A view of a slot's first `n` floats (not slot 0, the caller's input). */
  view(slot: number, n: number): Float32Array;
  /** True when views made before may be stale (growing the memory replaced its buffer). */
  moved(): boolean;
  release(): void;
}

function plainStorage(capacity: readonly number[]): Storage {
  const buffers = capacity.map((c, k) => (k === 0 ? null : new Float32Array(c)));
  return { at: () => null, view: (slot, n) => (buffers[slot] as Float32Array).subarray(0, n), moved: () => false, release: () => undefined };
}

/** Frees the memory region of a bound shape once nothing refers to it (a model dropped without eviction). */
const regionRelease = new FinalizationRegistry<number>((at) => arenaRelease(at));

/** Slot storage in one region of the ternary kernels' memory, or null when that memory is unavailable or full. */
function regionStorage(capacity: readonly number[], owner: object): Storage | null {
  const I = ternarySimdInstance();
  if (I === null) return null;
  // +64 bytes a slot: the kernels' vector reads may run a few floats past a tensor's end.
  // NOTE: arithmetic, not `& ~63`: a large batch's slot passes 2^31 bytes, where the bit ops wrap.
  const offsets = capacity.map((c) => Math.ceil((c * 4 + 64) / 64) * 64);
  let total = 0;
  for (let k = 1; k < offsets.length; k++) { const b = offsets[k]; offsets[k] = total; total += b; }
  const base = arenaAllocate(I.memory, total);
  if (base === null) return null;
  regionRelease.register(owner, base, owner);
  let seen = I.memory.buffer;
  return {
    at: (slot) => (slot === 0 ? null : base + offsets[slot]),
    view: (slot, n) => new Float32Array(I.memory.buffer, base + offsets[slot], n),
    moved: () => {
      if (I.memory.buffer === seen) return false;
      seen = I.memory.buffer;
      return true;
    },
    release: () => {
      regionRelease.unregister(owner);
      arenaRelease(base);
    },
  };
}

/** Everything a predict call at one input shape needs, allocated once. */
interface Bound {
  readonly steps: BoundStep[];
  output: Float32Array | null;
  readonly outSlot: number;
  readonly outShape: number[];
  readonly argmax: Int32Array;
  readonly storage: Storage;
  /** What the storage's memory region is registered under: it is freed once the bound shape is unreachable. */
  readonly owner: object;
}

/** Input shapes whose buffers a loaded model keeps (least recently used dropped first). */
const BOUND_CACHE = 4;

/**
 * Loads a packed model from bytes (`file` names it in errors); {@link loadTernaryModel} takes an
 * `ArrayBuffer` too.
 * @example const m = loadTernaryModelBytes(bytes, 'lenet5.ec2t.safetensors');
 */
export function loadTernaryModelBytes(bytes: Uint8Array, file: string): TernaryModel {
  const { tensors, metadata, dataOffset } = readSafetensorsBytes(bytes, file);
  const notes: string[] = [];
  if (metadata.format === PACKED_FORMAT || metadata.format === PACKED_FORMAT_V4 || metadata.format === PACKED_FORMAT_V2) {
    const stored = metadata.dataCrc32;
    if (stored === undefined || !/^[0-9a-f]{8}$/.test(stored)) throw new FormatError(file, `metadata "dataCrc32" is ${JSON.stringify(stored)}, expected 8 lowercase hex digits (the CRC-32 of the data section)`);
    const actual = crc32Hex(bytes.subarray(dataOffset));
    if (actual !== stored) throw new FormatError(file, `data checksum mismatch: the data section's CRC-32 is ${actual}, the file says ${stored}; the file is corrupt (re-copy it or export it again)`);
    if (metadata.format === PACKED_FORMAT_V2) notes.push(`${file}: written in the older ${PACKED_FORMAT_V2} format (a larger header); it runs as it is, \`ec2t export\` writes the smaller ${PACKED_FORMAT}`);
  } else if (metadata.format === PACKED_FORMAT_V1) {
    notes.push(`${file}: written in the older ${PACKED_FORMAT_V1} format, which carries no checksum, so corruption cannot be detected; \`ec2t export\` writes ${PACKED_FORMAT} with one`);
  } else {
    throw new FormatError(file, `metadata format is ${JSON.stringify(metadata.format)}, expected "${PACKED_FORMAT_V4}", "${PACKED_FORMAT}", "${PACKED_FORMAT_V2}" or "${PACKED_FORMAT_V1}" (a packed model written by \`ec2t export\`)`);
  }
  const program = parseProgram(metadata.program, file, metadata.format);
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
  // The program must be consistent with itself at the size it was exported for: every register
  // written before it is read, the output [1, outputs], and the working memory within the limit.
  const exported = [1, program.input.channels, program.input.height, program.input.width];
  let out: readonly number[];
  try {
    const plan = planBuffers(program, exported);
    out = plan.outShape;
    const work = plan.capacity.reduce((a, b) => a + b, 0);
    if (work > MAX_WORK_PER_IMAGE) throw new ShapeError('program', `needs ${work} floats of working memory per image at its input size, above the limit of ${MAX_WORK_PER_IMAGE}`);
    const cost = opsPerImage(program, plan.steps.map((s) => s.inShape), plan.steps.map((s) => s.outShape));
    if (cost > MAX_OPS_PER_IMAGE) throw new ShapeError('program', `needs ${cost} multiply-adds per image at its input size, above the limit of ${MAX_OPS_PER_IMAGE}`);
  } catch (e) {
    if (e instanceof ShapeError) throw new FormatError(file, `program does not fit its own input size [${exported.join(', ')}]: ${e.message}`);
    throw e;
  }
  if (out.length !== 2 || out[1] !== program.outputs) throw new FormatError(file, `program output is [${out.join(', ')}] at its input size; it declares [1, ${program.outputs}] (outputs)`);

  function bind(shape: readonly number[]): Bound {
    const plan = planBuffers(program, shape);
    const work = plan.capacity.reduce((a, b) => a + b, 0);
    if (work > shape[0] * MAX_WORK_PER_IMAGE) throw new ShapeError('predict', `input [${shape.join(', ')}] needs ${work} floats of working memory, above the limit of ${MAX_WORK_PER_IMAGE} per image`);
    // Slots in the ternary kernels' memory when a ternary conv can use them in place.
    const owner = {};
    const resident = program.ops.some((op, i) => op.op === 'conv' && (compiled.get(i)?.ternary != null || compiled.get(i)?.dense != null));
    const storage = (resident ? regionStorage(plan.capacity, owner) : null) ?? plainStorage(plan.capacity);
    let argmaxSize = 0;
    const steps: BoundStep[] = [];
    const fusedNext = new Set<number>();
    plan.steps.forEach((st, k) => {
      const { op, inShape: s, outShape: o } = st;
      let conv: Conv2dGeometry | null = null;
      let pool: Pool2dGeometry | null = null;
      let act = Act.None;
      if (op.op === 'conv') {
        conv = {
          batch: s[0], inChannels: s[1], inHeight: s[2], inWidth: s[3], outChannels: o[1],
          kernelHeight: op.shape[2], kernelWidth: op.shape[3], strideH: op.stride[0], strideW: op.stride[1],
          padH: op.padding[0], padW: op.padding[1], dilationH: op.dilation[0], dilationW: op.dilation[1],
          groups: op.groups, outHeight: o[2], outWidth: o[3],
        };
      } else if (op.op === 'maxpool' || op.op === 'avgpool') {
        pool = {
          batch: s[0], channels: s[1], inHeight: s[2], inWidth: s[3], kernelHeight: op.kernel[0], kernelWidth: op.kernel[1],
          strideH: op.stride[0], strideW: op.stride[1], padH: op.padding[0], padW: op.padding[1], outHeight: o[2], outWidth: o[3],
          countIncludePad: op.countIncludePad ?? true,
        };
        if (op.op === 'maxpool') argmaxSize = Math.max(argmaxSize, st.size);
      }
      // A step that reads this step's output register and writes over its slot (it is the only reader).
      const inPlaceAfter = (from: PlannedStep, next: PlannedStep | undefined): next is PlannedStep =>
        next !== undefined && opSrc(next.op) === opDst(from.op) && next.src === from.dst && next.dst === from.dst;
      let resSlot = -1, resSize = 0;
      let shortcut: PlannedStep | null = null;
      // The step whose output a fused activation reads, and its position.
      let last = st, lastAt = k;
      if (op.op === 'conv' || op.op === 'linear') {
        // Fuse the residual join that adds a skip tensor to this output (the skip is in another slot).
        const next = plan.steps[k + 1];
        if (inPlaceAfter(st, next) && next.op.op === 'add' && next.other > 0 && next.other !== st.dst) {
          resSlot = next.other;
          resSize = next.size;
          fusedNext.add(k + 1);
          last = next;
          lastAt = k + 1;
        } else if (op.op === 'conv' && shortcutJoin(plan.steps, k)) {
          // conv, shortcutA, add: the join reads the shortcut's source through a map.
          shortcut = next;
          const join = plan.steps[k + 2];
          resSlot = next.src;
          resSize = numelOf(next.inShape);
          fusedNext.add(k + 1).add(k + 2);
          last = join;
          lastAt = k + 2;
        }
      }
      if (op.op === 'conv' || op.op === 'linear' || op.op === 'add') {
        // Fuse a ReLU/ReLU6 that reads the (joined) output in place.
        const next = plan.steps[lastAt + 1];
        if (inPlaceAfter(last, next) && (next.op.op === 'relu' || next.op.op === 'relu6')) {
          act = next.op.op === 'relu' ? Act.Relu : Act.Relu6;
          fusedNext.add(lastAt + 1);
        }
      }
      let post: JitPost | undefined;
      const c = compiled.get(st.index);
      if (op.op === 'conv' && (c?.ternary != null || c?.dense != null) && (resSlot >= 0 || act !== Act.None)) {
        const sc = shortcut?.op.op === 'shortcutA' ? shortcut.op : null;
        const residualMap = sc === null ? undefined : { stride: sc.stride as 1 | 2, padBefore: sc.padBefore, channels: (shortcut as PlannedStep).inShape[1], height: (shortcut as PlannedStep).inShape[2], width: (shortcut as PlannedStep).inShape[3] };
        post = { residual: resSlot >= 0, residualMap, act: act === Act.Relu ? 'relu' : act === Act.Relu6 ? 'relu6' : 'none' };
      }
      steps.push({ step: st, x: null, y: null, out: null, res: null, resSlot, resSize, shortcut, shortcutOut: null, conv, pool, act, skip: fusedNext.has(k), post });
    });
    const b: Bound = { steps, output: null, outSlot: plan.outSlot, outShape: [...plan.outShape], argmax: new Int32Array(argmaxSize), storage, owner };
    makeViews(b);
    return b;
  }

  /** (Re)makes a bound shape's views of its slots. */
  function makeViews(b: Bound): void {
    const { storage } = b;
    const view = (slot: number, n: number): Float32Array | null => (slot === 0 ? null : storage.view(slot, n));
    for (const bs of b.steps) {
      const st = bs.step;
      bs.x = view(st.src, numelOf(st.inShape));
      bs.y = st.other < 0 ? null : view(st.other, st.otherSize);
      bs.out = view(st.dst, st.size);
      bs.res = bs.resSlot < 0 ? null : view(bs.resSlot, bs.resSize);
      bs.shortcutOut = bs.shortcut === null ? null : view(bs.shortcut.dst, bs.shortcut.size);
    }
    b.output = view(b.outSlot, numelOf(b.outShape));
  }

  /**
   * A ternary conv straight on the slots in the kernels' memory, post work fused where the kernel
   * can; false when it cannot run there (the caller then takes the array path).
   */
  function convInPlace(b: BoundStep, c: Compiled, bound: Bound, input: Float32Array): boolean {
    const { storage } = bound;
    const st = b.step;
    const outAt = storage.at(st.dst);
    if (outAt === null) return false;
    const x = storage.at(st.src) ?? input;
    const g = b.conv as Conv2dGeometry;
    const post: TernaryConvPost | undefined = b.post === undefined ? undefined : { spec: b.post, res: b.resSlot < 0 ? null : storage.at(b.resSlot) };
    let done: 'fused' | 'plain' | 'none';
    if (c.dense !== null) done = denseConv2dFused(x, c.dense, c.kernelBias, outAt, g, post) ? 'fused' : 'none';
    else if (c.ternary === null) return false;
    else if (c.act !== null) done = ternaryConv2dIntFused(x, c.ternary, c.act, c.kernelBias, outAt, g, post) ? 'fused' : 'none';
    else done = ternaryConv2dFused(x, c.ternary, c.kernelBias, outAt, g, post);
    if (done === 'none') return false;
    if (storage.moved()) makeViews(bound);
    if (done === 'plain' && b.post !== undefined) postConv(b, c, g);
    return true;
  }

  /** The post passes of a conv whose kernel did not fuse them (an option-A shortcut run into its own slot first). */
  function postConv(b: BoundStep, c: Compiled, g: Conv2dGeometry): void {
    let res = b.res;
    if (b.shortcut !== null && b.shortcut.op.op === 'shortcutA') {
      shortcutA(b.res as Float32Array, b.shortcutOut as Float32Array, b.shortcut.inShape, b.shortcut.outShape, b.shortcut.op.stride, b.shortcut.op.padBefore);
      res = b.shortcutOut;
    }
    postPass(b.out as Float32Array, res, b.act);
  }

  function runStep(b: BoundStep, input: Float32Array, bound: Bound): void {
    const { step: st } = b;
    const op = st.op;
    const x = b.x ?? input;
    const s = st.inShape;
    const size = st.size;
    const argmax = bound.argmax;
    switch (op.op) {
      case 'conv': {
        const c = compiled.get(st.index) as Compiled;
        if ((c.ternary !== null || c.dense !== null) && convInPlace(b, c, bound, input)) return;
        const out = b.out as Float32Array;
        const g = b.conv as Conv2dGeometry;
        if (c.act !== null) ternaryConv2dInt(x, c.ternary as TernaryLayer, c.act, c.kernelBias, out, g);
        else if (c.ternary !== null) ternaryConv2dCpu(x, c.ternary, c.kernelBias, out, g);
        else conv2dForwardCpu(x, c.weight as Float32Array, c.kernelBias, out, g);
        postConv(b, c, g);
        return;
      }
      case 'linear': {
        const c = compiled.get(st.index) as Compiled;
        const out = b.out as Float32Array;
        const [N, K] = s;
        const M = st.outShape[1];
        if (c.act !== null) ternaryLinearInt(x.subarray(0, N * K), c.ternary as TernaryLayer, c.act, c.kernelBias, out);
        else if (c.ternary !== null) ternaryLinearCpu(x, c.ternary, c.kernelBias, out);
        else {
          gemm(false, true, N, M, K, x, 0, K, c.weight as Float32Array, 0, K, out, 0, M, false);
          const bias = c.kernelBias;
          if (bias !== null) for (let n = 0; n < N; n++) for (let m = 0; m < M; m++) out[n * M + m] += bias[m];
        }
        postPass(out, b.res, b.act);
        return;
      }
      case 'affine': {
        const a = affines.get(st.index) as { scale: Float32Array; shift: Float32Array };
        const { zeros, ones } = statsFor(s[1]);
        batchNormForwardEvalCpu(x, a.scale, a.shift, zeros, ones, b.out as Float32Array, { batch: s[0], channels: s[1], spatial: s.length === 4 ? s[2] * s[3] : 1 });
        return;
      }
      case 'relu':
        unaryCpu('relu', x, b.out as Float32Array);
        return;
      case 'relu6':
      case 'swish':
      case 'sigmoid':
        unaryCpu(op.op, x, b.out as Float32Array);
        return;
      case 'pad': {
        const out = b.out as Float32Array;
        const [N, C, H, W] = s;
        const [top, , left] = op.pads;
        const [, , OH, OW] = st.outShape;
        // The buffer is reused: the border is written every call.
        out.fill(0, 0, size);
        for (let p = 0; p < N * C; p++) {
          for (let y = 0; y < H; y++) out.set(x.subarray((p * H + y) * W, (p * H + y + 1) * W), (p * OH + y + top) * OW + left);
        }
        return;
      }
      case 'mul': {
        const out = b.out as Float32Array;
        const g = b.y ?? input;
        if (st.otherSize === size) {
          binaryCpu('mul', x, UNIT_STRIDE, g, UNIT_STRIDE, out, [size]);
          return;
        }
        // One factor per (sample, channel) over its map.
        const hw = s[2] * s[3];
        for (let p = 0; p < s[0] * s[1]; p++) {
          const f = g[p];
          for (let k = p * hw; k < (p + 1) * hw; k++) out[k] = x[k] * f;
        }
        return;
      }
      case 'flatten':
      case 'save':
        // The value shares its source's buffer (planBuffers).
        return;
      case 'globalavgpool': {
        const out = b.out as Float32Array;
        const hw = s[2] * s[3];
        for (let p = 0; p < s[0] * s[1]; p++) {
          let acc = 0;
          for (let k = p * hw; k < (p + 1) * hw; k++) acc += x[k];
          out[p] = acc / hw;
        }
        return;
      }
      case 'maxpool':
        maxPool2dForwardCpu(x, b.out as Float32Array, argmax.subarray(0, size), b.pool as Pool2dGeometry);
        return;
      case 'avgpool':
        avgPool2dForwardCpu(x, b.out as Float32Array, b.pool as Pool2dGeometry);
        return;
      case 'add':
        binaryCpu('add', x, UNIT_STRIDE, b.y ?? input, UNIT_STRIDE, b.out as Float32Array, [size]);
        if (b.act !== Act.None) unaryCpu(b.act === Act.Relu ? 'relu' : 'relu6', b.out as Float32Array, b.out as Float32Array);
        return;
      case 'shortcutA':
        shortcutA(x, b.out as Float32Array, s, st.outShape, op.stride, op.padBefore);
        return;
    }
  }

  // Buffers per input shape, planned on first use; predict allocates only the returned logits.
  const bound = new Map<string, Bound>();
  const predict = (input: Float32Array, shape: readonly [number, number, number, number], observe?: LayerInputObserver): { data: Float32Array; shape: number[] } => {
    if (!(input instanceof Float32Array)) throw new ValueError('predict', `input must be a Float32Array, got ${Array.isArray(input) ? 'an Array (convert it with Float32Array.from)' : input === null ? 'null' : typeof input === 'object' ? (input as object).constructor?.name ?? 'an object' : typeof input}`);
    if (!Array.isArray(shape) || shape.length !== 4 || !shape.every((d) => Number.isSafeInteger(d) && d >= 1)) throw new ShapeError('predict', `shape must be [N, C, H, W] positive integers, got [${shape.join(', ')}]`);
    const numel = shape[0] * shape[1] * shape[2] * shape[3];
    if (input.length !== numel) throw new ShapeError('predict', `input has ${input.length} values, shape [${shape.join(', ')}] needs ${numel}`);
    if (shape[1] !== program.input.channels) throw new ShapeError('predict', `the model takes ${program.input.channels} input channel(s), got ${shape[1]} (input [${shape.join(', ')}])`);
    const key = shape.join(',');
    let b = bound.get(key);
    if (b === undefined) {
      b = bind(shape);
      if (bound.size >= BOUND_CACHE) {
        const oldest = bound.keys().next().value as string;
        (bound.get(oldest) as Bound).storage.release();
        bound.delete(oldest);
      }
    } else bound.delete(key);
    bound.set(key, b);
    if (b.storage.moved()) makeViews(b);
    for (const st of b.steps) {
      if (st.skip) continue;
      const op = st.step.op;
      if (observe !== undefined && (op.op === 'conv' || op.op === 'linear')) observe(op.name, st.x ?? input, st.step.inShape);
      runStep(st, input, b);
      // A kernel may have grown the memory the slots live in (then their views are stale).
      if (b.storage.moved()) makeViews(b);
    }
    // A copy: the buffers are reused by the next call.
    return { data: Float32Array.from(b.output ?? input), shape: [...b.outShape] };
  };
  return { metadata, notes, program, layers, predict };
}

/**
 * Loads a packed ternary model written by `ec2t export`: from its bytes (a `Uint8Array` or an
 * `ArrayBuffer`, in every environment; `name` labels it in errors) or, in Node, from a file path.
 * In a browser a path is an {@link IoError}: fetch the bytes, or use {@link loadTernaryModelFromUrl}.
 * @example const m = loadTernaryModel('lenet5.ec2t.safetensors'); m.predict(x, [1, 1, 28, 28])
 * @example const m = loadTernaryModel(await (await fetch(url)).arrayBuffer(), url);
 */
export function loadTernaryModel(source: string | Uint8Array | ArrayBuffer, name?: string): TernaryModel {
  if (typeof source === 'string') return loadTernaryModelBytes(readFileBytes(source), name ?? source);
  return loadTernaryModelBytes(bytesOf(source), name ?? '<bytes>');
}

/**
 * Fetches a packed model and loads it (browsers, Web Workers, and Node 20's `fetch`); `init` is
 * passed to `fetch` (headers, an AbortSignal). A failed request or HTTP error is an IoError and a
 * damaged file a FormatError, both naming the URL.
 * @example const m = await loadTernaryModelFromUrl('models/lenet5.ec2t.safetensors');
 */
export async function loadTernaryModelFromUrl(url: string | URL, init?: RequestInit): Promise<TernaryModel> {
  return loadTernaryModelBytes(await fetchBytes(url, MAX_READ_BYTES, init), String(url));
}

export { outSize };
