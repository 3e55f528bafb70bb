/**
 * ONNX export (docs/ONNX.md): a zoo model, float or ternary, as an ONNX opset-13 model with one
 * input `input` [N, C, H, W] (N dynamic) and one output `output` [N, classes]. The graph is lowered
 * from the same inference program the packed export builds (ec2t/export/ → ec2t/runtime/program.ts),
 * so there is one walk over each architecture's forward. Batch norms are folded as in the packed
 * file: into the weights and bias of a float layer, and after a ternary layer into a per-channel
 * `Mul` + `Add`, so a ternary layer's weight tensor holds exactly its three values {−w_n, 0, +w_p}.
 * The protobuf is written by base/protobuf.ts.
 */
import { FormatError, ShapeError, ValueError } from '../base/errors.js';
import { ProtoWriter } from '../base/protobuf.js';
import { entryToFloat32, type SafetensorEntry } from '../nn/safetensors.js';
import { packModel, prunedFloatLayersOf, withoutTernarySiblings } from './export.js';
import { masksToDense } from './pack.js';
import { inferShapes, type ConvOp, type LinearOp, type Program } from './runtime/program.js';

/** The ONNX operator set the exporter targets (default domain). */
export const ONNX_OPSET = 13;

/** The ONNX IR version written: 7, the version that came with opset 13 (ONNX 1.8). */
export const ONNX_IR_VERSION = 7;

/** Name of the graph input ([N, C, H, W], float32, N dynamic). */
export const ONNX_INPUT = 'input';

/** Name of the graph output ([N, classes], float32). */
export const ONNX_OUTPUT = 'output';

/** Protobuf messages are limited to 2 GiB; ONNX files beyond that need external data, which we do not write. */
const MAX_ONNX_BYTES = 2 ** 31 - 1;

/** Options of {@link exportOnnx} and {@link programToOnnx}. */
export interface OnnxExportOptions {
  /**
   * Input side H = W declared in the graph (default: the side the program was built for). For
   * EfficientNet it is also the side the "same" padding is computed for, unless the model options
   * give `imageSize`.
   */
  inputSize?: number;
  /** Names the source in errors. */
  source?: string;
}

/** An ONNX model in memory. */
export interface OnnxModel {
  bytes: Uint8Array;
  /** Input channels and side (the batch dimension is dynamic). */
  input: { channels: number; height: number; width: number };
  /** Output features (classes). */
  outputs: number;
  /** Layers whose weight tensor holds ternary values. */
  ternaryLayers: string[];
  /** ONNX nodes per op type. */
  opTypes: Record<string, number>;
}

/**
 * Exports a zoo model's state dict (float, or ternary as `ec2t ternarize` writes it) as ONNX.
 * Layers an ECP run left at full precision (siblings, but the weight is not their ternary weight)
 * are exported as the float layers they are.
 * @example writeFileAtomic('resnet20.onnx', exportOnnx('resnet20', {}, loadSafetensors(w).tensors).bytes)
 */
export function exportOnnx(modelName: string, modelOptions: Record<string, unknown>, stateDict: Map<string, SafetensorEntry>, options: OnnxExportOptions = {}): OnnxModel {
  const source = options.source ?? 'state dict';
  const sd = withoutTernarySiblings(stateDict, prunedFloatLayersOf(stateDict));
  const mo = { ...modelOptions };
  const effnet = modelName === 'efficientnet-b0' || modelName === 'efficientnet-b1';
  if (effnet && options.inputSize !== undefined && mo.imageSize === undefined) mo.imageSize = options.inputSize;
  // Dead channels stay: every layer keeps its shape, and a ternary weight tensor its three values.
  const packed = packModel(modelName, mo, sd, { pruneDead: false, source });
  return programToOnnx(packed.program, packed.tensors, options);
}

type Attr = { i: number } | { ints: readonly number[] };

const FLOAT = 1;
const INT64 = 7;

/** Builds the GraphProto: nodes, initializers, unique value names. */
class GraphBuilder {
  readonly nodes: ProtoWriter[] = [];
  readonly nodeOutputs: string[][] = [];
  readonly nodeInputs: string[][] = [];
  readonly nodeMeta: Array<{ opType: string; name: string; attrs: Record<string, Attr> }> = [];
  readonly initializers: ProtoWriter[] = [];
  readonly opTypes: Record<string, number> = {};
  private readonly used = new Set<string>([ONNX_INPUT, ONNX_OUTPUT]);

  constructor(private readonly source: string) {}

  /** A value name not used yet, from `base`. */
  fresh(base: string): string {
    let name = base;
    for (let k = 1; this.used.has(name); k++) name = `${base}_${k}`;
    this.used.add(name);
    return name;
  }

  /** A float32 initializer; returns its name. */
  floats(base: string, dims: readonly number[], data: Float32Array): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new ShapeError('onnx', `${base}: ${data.length} values for dims [${dims.join(', ')}]`);
    const raw = new Uint8Array(4 * data.length);
    const dv = new DataView(raw.buffer);
    // NOTE: ONNX raw_data is little-endian whatever the host; DataView makes that explicit.
    for (let k = 0; k < data.length; k++) {
      // A NaN or ±Inf weight would make every output NaN in whatever runs the file: refuse it here.
      if (!Number.isFinite(data[k])) throw new FormatError(this.source, `tensor ${base}[${k}] is ${data[k]}; a model to export needs finite weights`);
      dv.setFloat32(4 * k, data[k], true);
    }
    return this.tensor(base, dims, FLOAT, raw);
  }

  /** An int64 initializer; returns its name. */
  int64s(base: string, values: ReadonlyArray<number | bigint>): string {
    const raw = new Uint8Array(8 * values.length);
    const dv = new DataView(raw.buffer);
    values.forEach((v, k) => dv.setBigInt64(8 * k, BigInt(v), true));
    return this.tensor(base, [values.length], INT64, raw);
  }

  private tensor(base: string, dims: readonly number[], dataType: number, raw: Uint8Array): string {
    const name = this.fresh(base);
    const t = new ProtoWriter();
    for (const d of dims) t.varint(1, d);
    t.varint(2, dataType);
    t.string(8, name);
    t.bytes(9, raw);
    this.initializers.push(t);
    return name;
  }

  /** Adds a node with one output; returns the output's name. */
  node(opType: string, name: string, inputs: readonly string[], attrs: Record<string, Attr> = {}): string {
    const out = this.fresh(name);
    this.nodeInputs.push([...inputs]);
    this.nodeOutputs.push([out]);
    this.nodeMeta.push({ opType, name: out, attrs });
    this.opTypes[opType] = (this.opTypes[opType] ?? 0) + 1;
    return out;
  }

  /** Serialises node `k` (after output renaming). */
  encodeNode(k: number): ProtoWriter {
    const { opType, name, attrs } = this.nodeMeta[k];
    const n = new ProtoWriter();
    for (const i of this.nodeInputs[k]) n.string(1, i);
    for (const o of this.nodeOutputs[k]) n.string(2, o);
    n.string(3, name);
    n.string(4, opType);
    for (const [key, v] of Object.entries(attrs)) {
      const a = new ProtoWriter();
      a.string(1, key);
      // AttributeProto: i = 3 with type INT (2); ints = 8 with type INTS (7).
      if ('i' in v) a.varint(3, v.i).varint(20, 2);
      else {
        for (const x of v.ints) a.varint(8, x);
        a.varint(20, 7);
      }
      n.message(5, a);
    }
    return n;
  }
}

/** A float tensor type `[dims]`: numbers are fixed sizes, strings symbolic (dynamic) dimensions. */
function valueInfo(name: string, dims: ReadonlyArray<number | string>): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims) {
    const dim = new ProtoWriter();
    if (typeof d === 'number') dim.varint(1, d);
    else dim.string(2, d);
    shape.message(1, dim);
  }
  const tensorType = new ProtoWriter().varint(1, FLOAT).message(2, shape);
  const type = new ProtoWriter().message(1, tensorType);
  return new ProtoWriter().string(1, name).message(2, type);
}

/**
 * Lowers an inference program (ec2t/runtime/program.ts) and its tensors (as `packModel` returns
 * them, or as read from a packed file) to an ONNX model. Ternary layers become float weight
 * tensors holding their ternary values; a per-channel `scale` (a folded batch norm) becomes a
 * `Mul` after the layer and its bias an `Add`.
 * @example programToOnnx(packed.program, packed.tensors).bytes
 */
export function programToOnnx(program: Program, tensors: Map<string, SafetensorEntry>, options: OnnxExportOptions = {}): OnnxModel {
  const source = options.source ?? 'program';
  const C = program.input.channels;
  const H = options.inputSize ?? program.input.height;
  const W = options.inputSize ?? program.input.width;
  const { before, after } = inferShapes(program, [1, C, H, W]);
  const last = after.at(-1);
  if (last === undefined || last.length !== 2 || last[1] !== program.outputs) {
    throw new ShapeError('onnx', `${source}: the program ends in [${(last ?? []).join(', ')}], expected [N, ${program.outputs}]`);
  }
  const g = new GraphBuilder(source);
  const ternaryLayers: string[] = [];
  const floatsOf = (name: string | undefined, what: string, count: number): Float32Array => {
    const e = name === undefined ? undefined : tensors.get(name);
    if (e === undefined) throw new ValueError('onnx', `${source}: ${what}: tensor ${String(name)} is missing`);
    const v = entryToFloat32(e);
    if (v.length !== count) throw new ShapeError('onnx', `${source}: ${what}: tensor ${String(name)} has ${v.length} values, expected ${count}`);
    return v;
  };
  const weightOf = (op: ConvOp | LinearOp): Float32Array => {
    const count = op.shape.reduce((a: number, b: number) => a * b, 1);
    if (op.kind === 'dense') return floatsOf(op.weight, op.name, count);
    const bytesOf = (n: string | undefined, what: string): Uint8Array => {
      const e = n === undefined ? undefined : tensors.get(n);
      if (e === undefined || !(e.data instanceof Uint8Array)) throw new ValueError('onnx', `${source}: ${op.name}: ${what} ${String(n)} is missing or not U8`);
      return e.data;
    };
    // Format 3 stores both centroids as one [w_p, w_n] tensor; formats 1–2 as two.
    const [wp, wn] = op.centroids !== undefined ? floatsOf(op.centroids, op.name, 2) : [floatsOf(op.wp, op.name, 1)[0], floatsOf(op.wn, op.name, 1)[0]];
    ternaryLayers.push(op.name);
    return masksToDense({ nonzeroMask: bytesOf(op.nonzero, 'nonzero mask'), signMask: bytesOf(op.sign, 'sign mask'), count }, wp, wn);
  };
  /** `y·scale[m] + bias[m]` after a layer, per output channel (`tail` = the broadcast dims after the channel). */
  const scaleAndBias = (op: ConvOp | LinearOp, y: string, tail: number[]): string => {
    const M = op.shape[0];
    if (op.scale !== undefined) y = g.node('Mul', `${op.name}.scale`, [y, g.floats(`${op.name}.scale`, [M, ...tail], floatsOf(op.scale, op.name, M))]);
    if (op.bias !== undefined) y = g.node('Add', `${op.name}.bias`, [y, g.floats(`${op.name}.bias`, [M, ...tail], floatsOf(op.bias, op.name, M))]);
    return y;
  };
  let clip: [string, string] | null = null;
  const regs = new Map<string, string>([['x', ONNX_INPUT]]);
  program.ops.forEach((op, i) => {
    const srcReg = op.src ?? 'x';
    const src = regs.get(srcReg);
    if (src === undefined) throw new ShapeError('onnx', `${source}: op ${i} reads register "${srcReg}" before anything wrote it`);
    const other = (reg: string): string => {
      const v = regs.get(reg);
      if (v === undefined) throw new ShapeError('onnx', `${source}: op ${i} reads register "${reg}" before anything wrote it`);
      return v;
    };
    let y: string;
    switch (op.op) {
      case 'conv': {
        const [M, , kh, kw] = op.shape;
        const w = g.floats(`${op.name}.weight`, op.shape, weightOf(op));
        // With a separate scale the bias must follow it: only an unscaled layer takes its bias in the Conv.
        const inputs = [src, w];
        if (op.bias !== undefined && op.scale === undefined) inputs.push(g.floats(`${op.name}.bias`, [M], floatsOf(op.bias, op.name, M)));
        y = g.node('Conv', op.name, inputs, {
          kernel_shape: { ints: [kh, kw] }, strides: { ints: op.stride }, dilations: { ints: op.dilation }, group: { i: op.groups },
          pads: { ints: [op.padding[0], op.padding[1], op.padding[0], op.padding[1]] },
        });
        if (op.scale !== undefined) y = scaleAndBias(op, y, [1, 1]);
        break;
      }
      case 'linear': {
        const M = op.shape[0];
        const w = g.floats(`${op.name}.weight`, op.shape, weightOf(op));
        const inputs = [src, w];
        if (op.bias !== undefined && op.scale === undefined) inputs.push(g.floats(`${op.name}.bias`, [M], floatsOf(op.bias, op.name, M)));
        y = g.node('Gemm', op.name, inputs, { transB: { i: 1 } });
        if (op.scale !== undefined) y = scaleAndBias(op, y, []);
        break;
      }
      case 'affine': {
        const tail = before[i].length === 4 ? [1, 1] : [];
        y = g.node('Mul', `${op.name}.scale`, [src, g.floats(`${op.name}.scale`, [op.channels, ...tail], floatsOf(op.scale, op.name, op.channels))]);
        y = g.node('Add', `${op.name}.shift`, [y, g.floats(`${op.name}.shift`, [op.channels, ...tail], floatsOf(op.shift, op.name, op.channels))]);
        break;
      }
      case 'relu':
        y = g.node('Relu', `relu${i}`, [src]);
        break;
      case 'relu6':
        clip ??= [g.floats('relu6.min', [], Float32Array.of(0)), g.floats('relu6.max', [], Float32Array.of(6))];
        y = g.node('Clip', `relu6_${i}`, [src, ...clip]);
        break;
      case 'sigmoid':
        y = g.node('Sigmoid', `sigmoid${i}`, [src]);
        break;
      case 'swish':
        // x·σ(x): opset 13 has no Swish/SiLU operator.
        y = g.node('Mul', `swish${i}`, [src, g.node('Sigmoid', `swish${i}.sigmoid`, [src])]);
        break;
      case 'globalavgpool':
        y = g.node('GlobalAveragePool', `globalavgpool${i}`, [src]);
        break;
      case 'flatten':
        y = g.node('Flatten', `flatten${i}`, [src], { axis: { i: 1 } });
        break;
      case 'maxpool':
      case 'avgpool': {
        const attrs: Record<string, Attr> = { kernel_shape: { ints: op.kernel }, strides: { ints: op.stride }, pads: { ints: [op.padding[0], op.padding[1], op.padding[0], op.padding[1]] } };
        if (op.op === 'avgpool') attrs.count_include_pad = { i: (op.countIncludePad ?? true) ? 1 : 0 };
        y = g.node(op.op === 'maxpool' ? 'MaxPool' : 'AveragePool', `${op.op}${i}`, [src], attrs);
        break;
      }
      case 'add':
        y = g.node('Add', `add${i}`, [src, other(op.other)]);
        break;
      case 'mul':
        // A [N, C, 1, 1] gate broadcasts over the map (ONNX multidirectional broadcasting).
        y = g.node('Mul', `mul${i}`, [src, other(op.other)]);
        break;
      case 'save':
        // Registers are names: keeping a tensor needs no node.
        y = src;
        break;
      case 'shortcutA': {
        // x[:, :, ::s, ::s], then zero channels before and after.
        y = src;
        if (op.stride !== 1) {
          const end = 2n ** 63n - 1n;
          y = g.node('Slice', `shortcutA${i}.subsample`, [y, g.int64s(`shortcutA${i}.starts`, [0, 0]), g.int64s(`shortcutA${i}.ends`, [end, end]), g.int64s(`shortcutA${i}.axes`, [2, 3]), g.int64s(`shortcutA${i}.steps`, [op.stride, op.stride])]);
        }
        if (op.padBefore > 0 || op.padAfter > 0) y = g.node('Pad', `shortcutA${i}`, [y, g.int64s(`shortcutA${i}.pads`, [0, op.padBefore, 0, 0, 0, op.padAfter, 0, 0])]);
        break;
      }
      case 'pad': {
        // Program pads are [top, bottom, left, right]; ONNX wants all begins, then all ends.
        const [top, bottom, left, right] = op.pads;
        y = g.node('Pad', `pad${i}`, [src, g.int64s(`pad${i}.pads`, [0, 0, top, left, 0, 0, bottom, right])]);
        break;
      }
    }
    regs.set(op.dst ?? 'x', y);
  });
  const result = regs.get('x') as string;
  const producer = g.nodeOutputs.findIndex((outs) => outs.includes(result));
  if (producer < 0) throw new ValueError('onnx', `${source}: the program's output is its input; nothing to export`);
  // The last value takes the contract name `output`.
  for (const list of [...g.nodeInputs, ...g.nodeOutputs]) list.forEach((v, k) => (list[k] = v === result ? ONNX_OUTPUT : v));

  const graph = new ProtoWriter();
  g.nodeMeta.forEach((_, k) => graph.message(1, g.encodeNode(k)));
  graph.string(2, program.model);
  for (const t of g.initializers) graph.message(5, t);
  graph.message(11, valueInfo(ONNX_INPUT, ['N', C, H, W]));
  graph.message(12, valueInfo(ONNX_OUTPUT, ['N', program.outputs]));
  const model = new ProtoWriter();
  model.varint(1, ONNX_IR_VERSION);
  model.string(2, 'ec2t');
  model.message(7, graph);
  model.message(8, new ProtoWriter().string(1, '').varint(2, ONNX_OPSET));
  const meta = (key: string, value: string): ProtoWriter => new ProtoWriter().string(1, key).string(2, value);
  model.message(14, meta('ec2t.model', program.model));
  model.message(14, meta('ec2t.ternary_layers', JSON.stringify(ternaryLayers)));
  if (model.length > MAX_ONNX_BYTES) throw new ValueError('onnx', `${source}: the model needs ${model.length} bytes; an ONNX file without external data holds at most 2 GiB`);
  return { bytes: model.finish(), input: { channels: C, height: H, width: W }, outputs: program.outputs, ternaryLayers, opTypes: { ...g.opTypes } };
}
