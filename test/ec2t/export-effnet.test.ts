/**
 * EfficientNet and the ImageNet MicroNet through packing, the packed runtime and scoring: the
 * program's new ops (pad, swish, sigmoid, mul), runtime logits against PyTorch's (the golden
 * fixtures) and against nn for ternary weights, options read back from the weights, and the plain
 * score of swish, sigmoid and the SE gate.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import '../../kernels/index.js';
import { FormatError, ShapeError } from '../../base/errors.js';
import { Rng } from '../../base/rng.js';
import { Tensor, noGrad } from '../../engine/tensor.js';
import { describeForScore, inferModelOptions, packModel, unpackModel } from '../../ec2t/export.js';
import { loadTernaryModelBytes } from '../../ec2t/runtime/index.js';
import { inferShapes, parseProgram, type Program } from '../../ec2t/runtime/program.js';
import { scoreLayer, scoreNetwork } from '../../ec2t/score.js';
import { BatchNorm2d } from '../../nn/layers.js';
import { createModel } from '../../nn/models/index.js';
import { entryToFloat32, loadSafetensors, parseSafetensors, type SafetensorEntry } from '../../nn/safetensors.js';
import { maxRelativeError } from '../helpers/check.js';
import { ternaryFixture } from './ternary-fixture.js';

function golden(file: string): { sd: Map<string, SafetensorEntry>; input: SafetensorEntry; logits: Float32Array } {
  const { tensors } = loadSafetensors(fileURLToPath(new URL(`../../../test/nn/fixtures/${file}`, import.meta.url)));
  return {
    // The layout of scripts/golden/common.py (write_forward_golden): reference data under `golden.`.
    sd: new Map([...tensors].filter(([k]) => !k.startsWith('golden.'))),
    input: tensors.get('golden.input')!,
    logits: entryToFloat32(tensors.get('golden.logits')!),
  };
}

const GOLDEN = [
  { file: 'golden-efficientnet-b0-w0.1-s48.safetensors', name: 'efficientnet-b0', given: { imageSize: 48 }, read: { numClasses: 10, inChannels: 3, width: 0.1 } },
  { file: 'golden-efficientnet-b1-w0.1-s60.safetensors', name: 'efficientnet-b1', given: { imageSize: 60 }, read: { numClasses: 10, inChannels: 3, width: 0.1 } },
  { file: 'golden-micronet-imagenet-d0.5-w0.1-s48.safetensors', name: 'micronet-imagenet', given: {}, read: { numClasses: 10, inChannels: 3, depth: 0.5, width: 0.1 } },
] as const;

for (const g of GOLDEN) {
  test(`${g.name}: packed float model in the runtime reproduces PyTorch's logits (options read off the weights)`, () => {
    const { sd, input, logits } = golden(g.file);
    const read = inferModelOptions(g.name, sd);
    // Width is recovered as some w in the interval that rebuilds the channels.
    assert.equal(read.numClasses, g.read.numClasses);
    assert.equal(read.inChannels, g.read.inChannels);
    const rebuilt = createModel(g.name, { ...read });
    assert.deepEqual([...rebuilt.stateDict()].map(([k, t]) => `${k}:${t.shape.join('x')}`).sort(), [...sd].map(([k, e]) => `${k}:${e.shape.join('x')}`).sort());
    const p = packModel(g.name, g.given, sd);
    const rt = loadTernaryModelBytes(p.bytes, g.file);
    const y = rt.predict(entryToFloat32(input), input.shape as [number, number, number, number]);
    // Float32 with BN folded into the conv weights: a few ulps per layer (measured ≤ 4.6e-7).
    assert.ok(maxRelativeError(y.data, logits) <= 1e-5, `${g.name}: runtime vs PyTorch ${maxRelativeError(y.data, logits)}`);
  });
}

test('efficientnet program: TF-same asymmetric padding as pad ops, SE as globalavgpool → conv → swish → conv → sigmoid → mul', () => {
  const { sd } = golden(GOLDEN[0].file);
  const p = packModel('efficientnet-b0', { imageSize: 48 }, sd);
  const ops = p.program.ops;
  const count = (op: string): number => ops.filter((o) => o.op === op).length;
  assert.equal(count('mul'), 16);
  assert.equal(count('sigmoid'), 16);
  assert.equal(count('swish'), 1 + 15 + 16 + 16 + 1);
  // Stride-2 convs on even sizes pad (0, 1) or (1, 2): the stem and the four stride-2 depthwise convs.
  assert.equal(count('pad'), 5);
  const stem = ops.findIndex((o) => o.op === 'conv' && o.name === '_conv_stem');
  assert.deepEqual(ops[stem - 1], { op: 'pad', pads: [0, 1, 0, 1] });
  const dw = ops.find((o) => o.op === 'conv' && o.name === '_blocks.3._depthwise_conv');
  assert.deepEqual(dw && dw.op === 'conv' ? dw.padding : null, [1, 1]);
  const se = ops.findIndex((o) => o.op === 'conv' && o.name === '_blocks.1._se_reduce');
  assert.deepEqual(ops.slice(se - 1, se + 5).map((o) => o.op), ['globalavgpool', 'conv', 'swish', 'conv', 'sigmoid', 'mul']);
  assert.equal(p.program.input.height, 48);
});

test('ternary efficientnet-b0 and micronet-imagenet: runtime equals the nn forward; policy layers ternary, stored weights unpack', () => {
  for (const [name, modelOptions, side] of [['efficientnet-b0', { width: 0.1, imageSize: 32, numClasses: 5 }, 32], ['micronet-imagenet', { width: 0.1, depth: 0.3, numClasses: 5 }, 32]] as const) {
    const f = ternaryFixture(name, { seed: 3, modelOptions, deadFraction: 0.2 });
    // Random running statistics would let ~50 layers of small ternary weights shrink the signal to
    // nothing (the same logits for every input): calibrate them on a random batch (momentum 1, so
    // the running stats are that batch's), and write them back into the state dict.
    const cal = new Rng(4);
    for (const m of f.model.modules()) if (m instanceof BatchNorm2d) (m as unknown as { momentum: number }).momentum = 1;
    f.model.train();
    noGrad(() => f.model.forward(new Tensor(Float32Array.from({ length: 16 * 3 * side * side }, () => cal.normal()), [16, 3, side, side])));
    for (const [k, t] of f.model.stateDict()) if (/running_(mean|var)$/.test(k)) f.stateDict.set(k, { dtype: 'F32', shape: [...t.shape], data: Float32Array.from(t.data) });
    const p = packModel(name, { imageSize: name === 'efficientnet-b0' ? 32 : undefined }, f.stateDict);
    const tern = p.program.ops.filter((o) => (o.op === 'conv' || o.op === 'linear') && o.kind === 'ternary').map((o) => (o as { name: string }).name);
    assert.deepEqual(tern.sort(), [...f.ternary].sort(), name);
    const back = unpackModel(parseSafetensors(p.bytes));
    for (const l of f.ternary) {
      const u = back.get(l)!;
      const orig = f.stateDict.get(`${l}.assignment`)!.data as Int8Array;
      const removed = new Set(u.removedIn);
      const per = u.shape.slice(2).reduce((a, b) => a * b, 1);
      for (let k = 0; k < orig.length; k++) if (!removed.has(Math.floor(k / per) % u.shape[1])) assert.equal(u.assignment[k], orig[k], `${name} ${l}[${k}]`);
    }
    const rng = new Rng(9);
    const x = new Tensor(Float32Array.from({ length: 2 * 3 * side * side }, () => rng.normal()), [2, 3, side, side]);
    f.model.eval();
    const want = noGrad(() => f.model.forward(x)).data;
    const got = loadTernaryModelBytes(p.bytes, name).predict(x.data, [2, 3, side, side]).data;
    // The two samples' logits differ: the comparison sees the input, not just the biases.
    assert.ok(maxRelativeError(want.subarray(0, 5), want.subarray(5)) > 1e-3, `${name}: logits do not depend on the input`);
    assert.ok(maxRelativeError(got, want) <= 1e-5, `${name}: runtime vs nn ${maxRelativeError(got, want)}`);
  }
});

test('program validation: pad needs four pads, mul needs a same-shape or [N, C, 1, 1] other', () => {
  const base: Program = { version: 1, model: 't', input: { channels: 2, height: 4, width: 4 }, outputs: 2, ops: [] };
  const bad = { ...base, ops: [{ op: 'pad', pads: [0, 1, 0] }] };
  assert.throws(() => parseProgram(JSON.stringify(bad), 'f'), (e: unknown) => e instanceof FormatError && /pad needs pads/.test(e.message));
  const ok = parseProgram(JSON.stringify({ ...base, ops: [{ op: 'pad', pads: [0, 1, 2, 0] }, { op: 'globalavgpool', dst: 'g' }, { op: 'mul', other: 'g' }] }), 'f');
  assert.deepEqual(inferShapes(ok, [1, 2, 4, 4]).after.map((s) => s.join('x')), ['1x2x5x6', '1x2x1x1', '1x2x5x6']);
  const wrong = parseProgram(JSON.stringify({ ...base, ops: [{ op: 'globalavgpool', dst: 'g' }, { op: 'flatten', src: 'g', dst: 'g' }, { op: 'mul', other: 'g' }] }), 'f');
  assert.throws(() => inferShapes(wrong, [1, 2, 4, 4]), ShapeError);
});

test('runtime pad and mul ops compute zero padding per side and the per-channel gate', () => {
  // The runtime checks that a program ends in [N, outputs]: the gated [1, 2, 3, 4] map is flattened.
  const program: Program = { version: 1, model: 't', input: { channels: 2, height: 2, width: 2 }, outputs: 24, ops: [{ op: 'pad', pads: [1, 0, 0, 2] }, { op: 'save', dst: 'p' }, { op: 'globalavgpool', dst: 'g' }, { op: 'sigmoid', src: 'g', dst: 'g' }, { op: 'mul', other: 'g' }, { op: 'flatten' }] };
  const bytes = (() => {
    const meta = { format: 'ec2t.packed/1', program: JSON.stringify(program) };
    const header = new TextEncoder().encode(JSON.stringify({ __metadata__: meta }).padEnd(8 * Math.ceil(JSON.stringify({ __metadata__: meta }).length / 8)));
    const out = new Uint8Array(8 + header.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
    out.set(header, 8);
    return out;
  })();
  const m = loadTernaryModelBytes(bytes, 'mem');
  const x = Float32Array.of(1, 2, 3, 4, -1, -2, -3, -4);
  const y = m.predict(x, [1, 2, 2, 2]);
  assert.deepEqual(y.shape, [1, 24]);
  const padded = [[0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0], [0, 0, 0, 0, -1, -2, 0, 0, -3, -4, 0, 0]];
  const want = padded.flatMap((c) => {
    const gate = 1 / (1 + Math.exp(-c.reduce((a, b) => a + b, 0) / 12));
    return c.map((v) => Math.fround(v * Math.fround(gate)));
  });
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(y.data[i] - want[i]) <= 1e-6, `[${i}] ${y.data[i]} vs ${want[i]}`);
});

test('plain score: swish 3 mults + 1 add, sigmoid 2 + 1, SE gate 1 mult per element; dense B0 counts every parameter', () => {
  assert.deepEqual([scoreLayer({ name: 's', kind: 'swish', inChannels: 4, outChannels: 4, outH: 2, outW: 3 })].map((l) => [l.multiplications, l.additions, l.params]), [[72, 24, 0]]);
  assert.deepEqual([scoreLayer({ name: 's', kind: 'sigmoid', inChannels: 4, outChannels: 4, outH: 1, outW: 1 })].map((l) => [l.multiplications, l.additions]), [[8, 4]]);
  assert.deepEqual([scoreLayer({ name: 'm', kind: 'mul', inChannels: 4, outChannels: 4, outH: 2, outW: 2 })].map((l) => [l.multiplications, l.additions]), [[16, 0]]);
  const s = scoreNetwork(describeForScore('efficientnet-b0', { numClasses: 1000 }, null, 224));
  // Conv/linear weights and biases plus 2 per batch-norm channel: the 5,288,548 parameters.
  assert.equal(s.params, 5_288_548);
  const kinds = new Map<string, number>();
  for (const l of s.layers) kinds.set(l.kind, (kinds.get(l.kind) ?? 0) + 1);
  assert.equal(kinds.get('mul'), 16);
  assert.equal(kinds.get('sigmoid'), 16);
  assert.equal(kinds.get('swish'), 49);
  const swishMults = s.layers.filter((l) => l.kind === 'swish').reduce((a, l) => a + l.multiplications, 0);
  const stemSwish = s.layers.find((l) => l.kind === 'swish')!;
  assert.equal(stemSwish.multiplications, 3 * 32 * 112 * 112);
  assert.ok(swishMults > 0 && s.multiplications > swishMults);
});
