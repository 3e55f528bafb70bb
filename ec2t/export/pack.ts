/**
 * Packing a ternary model into the deployable `ec2t.packed/3` safetensors file (docs/FORMAT.md
 * "Packed model"): per ternary layer two bitmasks and two centroids (ec2t/pack.ts), other tensors
 * float32 or float16, batch norms folded into the preceding conv/linear, dead output channels
 * removed where the graph allows, and the architecture as a small inference program that
 * ec2t/runtime interprets without training code. Unpacking recovers the ternary layers.
 */
import { crc32Hex } from '../../base/crc32.js';
import { FormatError, ValueError } from '../../base/errors.js';
import { entryToFloat32, serializeSafetensors, type SafetensorEntry } from '../../nn/safetensors.js';
import { packAssignment, unpackAssignment } from '../pack.js';
import { PACKED_FORMAT, PACKED_FORMAT_V1, PACKED_FORMAT_V2, compactProgramJson, inferShapes, parseProgram, type Program } from '../runtime/program.js';
import { pruneDeadChannels, type DeadChannelReport } from './dead.js';
import { foldBatchNorms } from './fold.js';
import { Reader, provisionalProgram, type IROp } from './ir.js';
import { lowerModel } from './lower.js';
import { inputOf, makeModel, recognizeTernaryValued } from './model.js';
import { completeModelOptions } from './options.js';
import { isSibling, prunedFloatLayersOf, ternaryLayersOf } from './siblings.js';

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
  dead: DeadChannelReport[];
  /** Layers read as ternary from their values ({@link recognizeTernaryValued}). */
  recognized: string[];
}

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
  const { ops: ir, affine } = foldBatchNorms(lowerModel(modelName, model, r), r, input.channels);
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
      const a = affine.get(o.op.name) as { s: Float64Array; t: Float64Array };
      put(`${o.op.name}.scale`, { dtype: fdt, shape: [a.s.length], data: vec(a.s) });
      put(`${o.op.name}.shift`, { dtype: fdt, shape: [a.t.length], data: vec(a.t) });
    }
  }
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
