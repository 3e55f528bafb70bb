/**
 * ONNX export of every zoo model, float and ternary: the file runs in onnxruntime-node and its
 * logits match our nn forward; ternary layers hold exactly their three values; the graph has the
 * contract's input, output and opset; and the lowering of each program op (pads, shortcuts, pools)
 * matches the packed runtime.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import '../../kernels/index.js';
import { Rng } from '../../base/rng.js';
import { Tensor, noGrad } from '../../engine/tensor.js';
import { FormatError, ShapeError } from '../../base/errors.js';
import { packModel } from '../../ec2t/export.js';
import { ONNX_INPUT, ONNX_OPSET, ONNX_OUTPUT, exportOnnx, programToOnnx, type OnnxModel } from '../../ec2t/onnx.js';
import { loadTernaryModelBytes } from '../../ec2t/runtime/index.js';
import { parseProgram, type Program } from '../../ec2t/runtime/program.js';
import { BatchNorm2d } from '../../nn/layers.js';
import { MODEL_NAMES, ternaryLayerNames } from '../../nn/models/index.js';
import type { Module } from '../../nn/module.js';
import { parseSafetensors, type SafetensorEntry } from '../../nn/safetensors.js';
import { maxRelativeError } from '../helpers/check.js';
import { asInt64, decodeMessage, fieldsOf, stringOf, type ProtoField } from '../helpers/protobuf-read.js';
import { ternaryFixture } from './ternary-fixture.js';

/** Runs ONNX bytes in onnxruntime on one thread (the test machine is shared). */
async function runOnnx(bytes: Uint8Array, x: Float32Array, shape: readonly number[]): Promise<{ data: Float32Array; dims: readonly number[] }> {
  // Default graph optimisations (fusions included), as a user's session runs the file.
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const out = (await session.run({ [ONNX_INPUT]: new ort.Tensor('float32', x, [...shape]) }))[ONNX_OUTPUT];
    return { data: out.data as Float32Array, dims: out.dims };
  } finally {
    await session.release();
  }
}

/**
 * A state dict with random weights whose batch-norm running statistics are those of a random batch
 * (momentum 1): random statistics let a deep net shrink its signal to nothing, and a comparison
 * whose logits do not depend on the input proves little.
 */
function calibrated(name: string, modelOptions: Record<string, unknown>, side: number, ternary: boolean, seed: number): { model: Module; sd: Map<string, SafetensorEntry>; ternary: string[] } {
  const f = ternaryFixture(name, { seed, modelOptions, deadFraction: ternary ? 0.2 : 0, ...(ternary ? {} : { layers: () => [] }) });
  const channels = name === 'lenet5' ? 1 : 3;
  const cal = new Rng(seed + 100);
  for (const m of f.model.modules()) if (m instanceof BatchNorm2d) (m as unknown as { momentum: number }).momentum = 1;
  f.model.train();
  noGrad(() => f.model.forward(new Tensor(Float32Array.from({ length: 8 * channels * side * side }, () => cal.normal()), [8, channels, side, side])));
  for (const [k, t] of f.model.stateDict()) if (/running_(mean|var)$/.test(k)) f.stateDict.set(k, { dtype: 'F32', shape: [...t.shape], data: Float32Array.from(t.data) });
  f.model.eval();
  return { model: f.model, sd: f.stateDict, ternary: f.ternary };
}

/** Every zoo model at a size that keeps the suite fast; EfficientNet at its real depth, reduced width, small even inputs (TF "same" padding is asymmetric on even sides). */
const ZOO: ReadonlyArray<{ name: string; options: Record<string, unknown>; side: number }> = [
  { name: 'lenet5', options: {}, side: 28 },
  { name: 'resnet20', options: {}, side: 16 },
  { name: 'resnet32', options: {}, side: 16 },
  { name: 'resnet44', options: {}, side: 12 },
  { name: 'resnet56', options: {}, side: 12 },
  { name: 'resnet18', options: { numClasses: 7 }, side: 32 },
  { name: 'mobilenetv2', options: { widthMult: 0.35, cifar: true }, side: 32 },
  { name: 'micronet', options: { width: 0.5, depth: 0.5 }, side: 16 },
  { name: 'micronet-imagenet', options: { width: 0.1, depth: 0.3 }, side: 32 },
  { name: 'efficientnet-b0', options: { width: 0.25, imageSize: 32 }, side: 32 },
  { name: 'efficientnet-b1', options: { width: 0.25, imageSize: 34 }, side: 34 },
];

/**
 * What the weights do not say, as the CLI passes it: MobileNetV2's CIFAR strides (EfficientNet's
 * padding side comes from `inputSize`); every other option is read off the state dict.
 */
function exportOptions(name: string): Record<string, unknown> {
  return name === 'mobilenetv2' ? { cifar: true } : {};
}

/**
 * NOTE: float32 logits through up to ~80 layers, computed by two engines that sum in different
 * orders (and apply batch norms differently: folded here, separate in nn); each layer adds a few
 * ulps (2^-24 ≈ 6e-8) of its output scale, more for long reductions and where large activations
 * cancel. Measured, relative to the largest logit: 1.9e-7 (lenet5) to 8.2e-6 (resnet18) and
 * 1.7e-5 (efficientnet-b1 at 34 px; there our own packed runtime is 1.3e-5 from nn too, and
 * onnxruntime is 2.7e-6 from nn on the float64-accumulating reference backend: the cpu kernels'
 * float32 sums are most of it). 5e-5 keeps a margin for another CPU's kernels; a wrong op (a pad on
 * the wrong side, a lost BN scale) moves the logits by 0.6 or more.
 */
const TOLERANCE = 5e-5;

async function compare(name: string, model: Module, onnx: OnnxModel, side: number, seed: number): Promise<number> {
  const C = onnx.input.channels;
  const rng = new Rng(seed);
  const x = Float32Array.from({ length: 2 * C * side * side }, () => rng.normal());
  const want = noGrad(() => model.forward(new Tensor(x, [2, C, side, side]))).data;
  const got = await runOnnx(onnx.bytes, x, [2, C, side, side]);
  assert.deepEqual(got.dims, [2, onnx.outputs], name);
  const K = onnx.outputs;
  // The two samples' logits differ: the comparison sees the input, not just the biases.
  assert.ok(maxRelativeError(want.subarray(0, K), want.subarray(K)) > 1e-3, `${name}: logits do not depend on the input`);
  const err = maxRelativeError(got.data, want);
  assert.ok(err <= TOLERANCE, `${name}: onnxruntime vs nn forward: max relative error ${err}`);
  return err;
}

test('the zoo list covers every model name', () => {
  assert.deepEqual([...ZOO.map((z) => z.name)].sort(), [...MODEL_NAMES].sort());
});

for (const z of ZOO) {
  test(`${z.name} (float): onnxruntime reproduces the nn forward`, async () => {
    const { model, sd } = calibrated(z.name, z.options, z.side, false, 5);
    const onnx = exportOnnx(z.name, exportOptions(z.name), sd, { inputSize: z.side });
    assert.deepEqual(onnx.ternaryLayers, []);
    const err = await compare(z.name, model, onnx, z.side, 6);
    console.log(`# ${z.name} float: max relative error ${err.toExponential(2)}, ${onnx.bytes.length} bytes`);
  });
}

/** The float32 values of initializer `name` of an ONNX model. */
function initializerValues(bytes: Uint8Array, name: string): Float32Array {
  const graph = decodeMessage(fieldsOf(decodeMessage(bytes), 7)[0].bytes as Uint8Array);
  for (const f of fieldsOf(graph, 5)) {
    const t = decodeMessage(f.bytes as Uint8Array);
    if (stringOf(t, 8) !== name) continue;
    const raw = fieldsOf(t, 9)[0].bytes as Uint8Array;
    const copy = Uint8Array.from(raw);
    return new Float32Array(copy.buffer);
  }
  throw new Error(`no initializer ${name}`);
}

for (const [name, options, side] of [
  ['resnet20', {}, 16],
  ['mobilenetv2', { widthMult: 0.35, cifar: true }, 32],
  ['efficientnet-b0', { width: 0.25, imageSize: 36 }, 36],
] as const) {
  test(`${name} (ternary, dead filters): onnxruntime reproduces the nn forward; each ternary weight holds {−w_n, 0, +w_p}`, async () => {
    const { model, sd, ternary } = calibrated(name, options, side, true, 7);
    const onnx = exportOnnx(name, exportOptions(name), sd, { inputSize: side });
    assert.deepEqual([...onnx.ternaryLayers].sort(), [...ternary].sort());
    assert.deepEqual([...ternary].sort(), [...ternaryLayerNames(model, name)].sort());
    for (const l of ternary) {
      const wp = (sd.get(`${l}.w_p`)!.data as Float32Array)[0];
      const wn = (sd.get(`${l}.w_n`)!.data as Float32Array)[0];
      const a = sd.get(`${l}.assignment`)!.data as Int8Array;
      const w = initializerValues(onnx.bytes, `${l}.weight`);
      assert.equal(w.length, a.length, l);
      for (let k = 0; k < a.length; k++) assert.equal(w[k], a[k] === 1 ? wp : a[k] === -1 ? Math.fround(-wn) : 0, `${l}[${k}]`);
    }
    const err = await compare(name, model, onnx, side, 8);
    console.log(`# ${name} ternary: max relative error ${err.toExponential(2)}, ${onnx.bytes.length} bytes`);
  });
}

test('graph contract: opset 13, input "input" [N, C, H, W] with a symbolic batch, output "output" [N, classes], initializers not inputs', () => {
  const { sd } = calibrated('resnet20', {}, 16, true, 9);
  const onnx = exportOnnx('resnet20', {}, sd);
  const model = decodeMessage(onnx.bytes);
  assert.equal(fieldsOf(model, 1)[0].varint, 7n);
  const opset = decodeMessage(fieldsOf(model, 8)[0].bytes as Uint8Array);
  assert.equal(stringOf(opset, 1), '');
  assert.equal(fieldsOf(opset, 2)[0].varint, BigInt(ONNX_OPSET));
  const graph = decodeMessage(fieldsOf(model, 7)[0].bytes as Uint8Array);
  const dims = (vi: ProtoField): Array<string | bigint> => {
    const v = decodeMessage(vi.bytes as Uint8Array);
    const type = decodeMessage(fieldsOf(v, 2)[0].bytes as Uint8Array);
    const tensor = decodeMessage(fieldsOf(type, 1)[0].bytes as Uint8Array);
    assert.equal(fieldsOf(tensor, 1)[0].varint, 1n, 'float32');
    const shape = decodeMessage(fieldsOf(tensor, 2)[0].bytes as Uint8Array);
    return fieldsOf(shape, 1).map((d) => {
      const dim = decodeMessage(d.bytes as Uint8Array);
      return stringOf(dim, 2) ?? (fieldsOf(dim, 1)[0].varint as bigint);
    });
  };
  const inputs = fieldsOf(graph, 11);
  const outputs = fieldsOf(graph, 12);
  assert.equal(inputs.length, 1);
  assert.equal(outputs.length, 1);
  assert.equal(stringOf(decodeMessage(inputs[0].bytes as Uint8Array), 1), 'input');
  assert.deepEqual(dims(inputs[0]), ['N', 3n, 32n, 32n]);
  assert.equal(stringOf(decodeMessage(outputs[0].bytes as Uint8Array), 1), 'output');
  assert.deepEqual(dims(outputs[0]), ['N', 10n]);
  assert.deepEqual(onnx.input, { channels: 3, height: 32, width: 32 });
  // Batch norms are folded: no BatchNormalization node; the ternary layers' BN scale is a Mul.
  assert.equal(onnx.opTypes.BatchNormalization, undefined);
  assert.equal(onnx.opTypes.Conv, 19);
  assert.equal(onnx.opTypes.Mul, 18);
  assert.equal(onnx.opTypes.Gemm, 1);
  // Two option-A shortcuts: a strided Slice and a channel Pad each.
  assert.equal(onnx.opTypes.Slice, 2);
  assert.equal(onnx.opTypes.Pad, 2);
  const nodes = fieldsOf(graph, 1).map((n) => decodeMessage(n.bytes as Uint8Array));
  const last = nodes.at(-1)!;
  assert.equal(stringOf(last, 4), 'Gemm');
  assert.deepEqual(fieldsOf(last, 2).map((f) => new TextDecoder().decode(f.bytes)), ['output']);
  const meta = fieldsOf(model, 14).map((f) => decodeMessage(f.bytes as Uint8Array)).map((e) => [stringOf(e, 1), stringOf(e, 2)]);
  assert.deepEqual(meta[0], ['ec2t.model', 'resnet20']);
  assert.equal(JSON.parse(meta[1][1] as string).length, 18);
  // The option-A pads: channels only, before and after.
  const padNode = nodes.find((n) => stringOf(n, 4) === 'Pad')!;
  const padName = new TextDecoder().decode(fieldsOf(padNode, 1)[1].bytes);
  const padInit = fieldsOf(graph, 5).map((f) => decodeMessage(f.bytes as Uint8Array)).find((t) => stringOf(t, 8) === padName)!;
  const raw = Uint8Array.from(fieldsOf(padInit, 9)[0].bytes as Uint8Array);
  assert.deepEqual([...new BigInt64Array(raw.buffer)].map(Number), [0, 8, 0, 0, 0, 8, 0, 0]);
  assert.equal(asInt64(fieldsOf(padInit, 2)[0].varint as bigint), 7n);
});

test('lowering of single ops against the packed runtime: asymmetric pad, max/avg pooling (with and without counted padding), affine, relu6, shortcutA', async () => {
  const C = 3;
  const side = 7;
  const rng = new Rng(21);
  const tensors = new Map<string, SafetensorEntry>();
  const put = (name: string, shape: number[]): void => {
    const n = shape.reduce((a, b) => a * b, 1);
    tensors.set(name, { dtype: 'F32', shape, data: Float32Array.from({ length: n }, () => rng.normal()) });
  };
  put('a.scale', [C]);
  put('a.shift', [C]);
  put('fc.weight', [5, 54]);
  put('fc.bias', [5]);
  put('b.scale', [5]);
  put('b.shift', [5]);
  // Shapes per sample: pad → [3, 9, 8]; pools → [3, 5, 4]; avgpool k2 s1 p1 → [3, 6, 5]; shortcutA → [6, 3, 3]; flatten → 54.
  const program: Program = {
    version: 1, model: 'ops', input: { channels: C, height: side, width: side }, outputs: 5,
    ops: [
      { op: 'pad', pads: [0, 2, 1, 0] },
      { op: 'affine', name: 'a', channels: C, scale: 'a.scale', shift: 'a.shift' },
      { op: 'relu6' },
      { op: 'save', dst: 'id' },
      { op: 'maxpool', kernel: [3, 3], stride: [2, 2], padding: [1, 1] },
      { op: 'avgpool', src: 'id', dst: 'id', kernel: [3, 3], stride: [2, 2], padding: [1, 1], countIncludePad: false },
      { op: 'add', other: 'id' },
      { op: 'avgpool', kernel: [2, 2], stride: [1, 1], padding: [1, 1] },
      { op: 'shortcutA', stride: 2, padBefore: 1, padAfter: 2 },
      { op: 'flatten' },
      { op: 'linear', kind: 'dense', name: 'fc', shape: [5, 54], weight: 'fc.weight', bias: 'fc.bias' },
      { op: 'affine', name: 'b', channels: 5, scale: 'b.scale', shift: 'b.shift' },
    ],
  };
  const wrong: Program = { ...program, ops: program.ops.map((o) => (o.op === 'linear' ? { ...o, shape: [5, 96] } : o)) };
  assert.throws(() => programToOnnx(wrong, tensors), ShapeError);
  const fixed = program;
  const onnx = programToOnnx(fixed, tensors);
  const meta = { format: 'ec2t.packed/1', program: JSON.stringify(fixed) };
  const { serializeSafetensors } = await import('../../nn/safetensors.js');
  const runtime = loadTernaryModelBytes(serializeSafetensors(tensors, meta), 'ops');
  const x = Float32Array.from({ length: 2 * C * side * side }, () => 3 * rng.normal());
  const want = runtime.predict(x, [2, C, side, side]).data;
  const got = await runOnnx(onnx.bytes, x, [2, C, side, side]);
  // A handful of float32 ops: a few ulps of the largest output.
  assert.ok(maxRelativeError(got.data, want) <= 1e-6, `ops: ${maxRelativeError(got.data, want)}`);
});

test('ECP layers (siblings, but full-precision weights where the assignment is non-zero) export as the float layers they are', async () => {
  const { model, sd, ternary } = calibrated('resnet20', {}, 16, true, 11);
  // Make one ternary layer an ECP layer: weights scaled off the centroids, the model updated to match.
  const layer = ternary[0];
  const w = sd.get(`${layer}.weight`)!.data as Float32Array;
  for (let k = 0; k < w.length; k++) w[k] = Math.fround(w[k] * (1 + 0.01 * (k % 7)));
  model.loadStateDict(new Map([[`${layer}.weight`, new Tensor(Float32Array.from(w), [...sd.get(`${layer}.weight`)!.shape])]]), { strict: false });
  assert.throws(() => packModel('resnet20', {}, sd), /ECP/);
  const onnx = exportOnnx('resnet20', {}, sd, { inputSize: 16 });
  assert.ok(!onnx.ternaryLayers.includes(layer));
  assert.equal(onnx.ternaryLayers.length, ternary.length - 1);
  await compare('resnet20-ecp', model, onnx, 16, 12);
});

test('a packed file (float16, dead channels removed) lowers too: onnxruntime reproduces the packed runtime', async () => {
  const { sd } = calibrated('resnet20', {}, 16, true, 13);
  const packed = packModel('resnet20', {}, sd, { float16: true });
  assert.ok(packed.dead.some((d) => d.removed.length > 0), 'the fixture has removable dead channels');
  const file = parseSafetensors(packed.bytes);
  const onnx = programToOnnx(parseProgram(file.metadata.program, 'packed'), file.tensors, { inputSize: 16 });
  const rng = new Rng(14);
  const x = Float32Array.from({ length: 2 * 3 * 16 * 16 }, () => rng.normal());
  const want = loadTernaryModelBytes(packed.bytes, 'packed').predict(x, [2, 3, 16, 16]).data;
  const got = await runOnnx(onnx.bytes, x, [2, 3, 16, 16]);
  // Same weights, same folding: only the summation order differs (measured 6.4e-7).
  console.log(`# packed resnet20 → onnx: max relative error ${maxRelativeError(got.data, want).toExponential(2)}`);
  assert.ok(maxRelativeError(got.data, want) <= 2e-6, `packed → onnx: ${maxRelativeError(got.data, want)}`);
});

test('non-finite weights are refused with an error naming the file; a wrong shape names the tensor', () => {
  const { sd } = calibrated('lenet5', {}, 28, false, 15);
  const w = sd.get('conv2.weight')!;
  const bad = new Map(sd);
  const data = Float32Array.from(w.data as Float32Array);
  data[7] = NaN;
  bad.set('conv2.weight', { ...w, data });
  assert.throws(() => exportOnnx('lenet5', {}, bad, { source: 'bad.safetensors' }), (e: unknown) => e instanceof FormatError && /bad\.safetensors.*conv2\.weight\[7\] is NaN/.test(e.message));
  const inf = new Map(sd);
  inf.set('fc3.bias', { ...sd.get('fc3.bias')!, data: Float32Array.of(...(sd.get('fc3.bias')!.data as Float32Array).slice(0, 9), -Infinity) });
  assert.throws(() => exportOnnx('lenet5', {}, inf, { source: 'inf.safetensors' }), (e: unknown) => e instanceof FormatError && /inf\.safetensors.*fc3\.bias\[9\] is -Infinity/.test(e.message));
  const shape = new Map(sd);
  shape.set('fc2.weight', { dtype: 'F32', shape: [84, 119], data: new Float32Array(84 * 119) });
  assert.throws(() => exportOnnx('lenet5', {}, shape, { source: 's.safetensors' }), (e: unknown) => e instanceof FormatError && /s\.safetensors.*fc2\.weight/.test(e.message));
});
