/**
 * Module system: registration order, recursive views, state dict round trips and every
 * loadStateDict error path. Uses toy modules built from Parameter/BufferTensor only, so it does
 * not depend on the engine ops.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tensor } from '../../engine/tensor.js';
import { BufferTensor, Module, Parameter, StateDictError, dtypeOf, stateDictForSave } from '../../nn/module.js';

function param(shape: number[], fill = 0): Parameter {
  return new Parameter(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill), shape);
}

/** BatchNorm-shaped toy: params weight, bias; buffers running_mean, running_var, num_batches_tracked. */
class ToyNorm extends Module {
  weight = param([2], 1);
  bias = param([2]);
  running_mean = new BufferTensor(new Float32Array(2), [2]);
  running_var = new BufferTensor(new Float32Array(2).fill(1), [2]);
  num_batches_tracked = new BufferTensor(new Float32Array(1), [], 'int64');
  forward(x: Tensor): Tensor {
    return x;
  }
}

class ToyConv extends Module {
  weight = param([2, 1, 3, 3], 0.5);
  bias: Parameter | null = null;
  weightFn: (() => Tensor) | null = null;
  forward(x: Tensor): Tensor {
    return x;
  }
}

class ToySeq extends Module {
  constructor(...ms: Module[]) {
    super();
    ms.forEach((m, i) => ((this as unknown as Record<string, Module>)[String(i)] = m));
  }
  forward(x: Tensor): Tensor {
    return x;
  }
}

class ToyNet extends Module {
  // Declared in this order: keys must come out in this order, whatever the assignment order.
  conv1 = new ToyConv();
  bn1 = new ToyNorm();
  layer1 = new ToySeq(new ToyConv(), new ToyNorm());
  scale = param([1], 2);
  forward(x: Tensor): Tensor {
    return x;
  }
}

const NET_KEYS = [
  'scale',
  'conv1.weight',
  'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked',
  'layer1.0.weight',
  'layer1.1.weight', 'layer1.1.bias', 'layer1.1.running_mean', 'layer1.1.running_var', 'layer1.1.num_batches_tracked',
];

test('stateDict: own parameters, own buffers, then children in definition order (PyTorch order)', () => {
  const net = new ToyNet();
  assert.deepEqual([...net.stateDict().keys()], NET_KEYS);
  assert.deepEqual(
    net.namedParameters().map(([k]) => k),
    ['scale', 'conv1.weight', 'bn1.weight', 'bn1.bias', 'layer1.0.weight', 'layer1.1.weight', 'layer1.1.bias'],
  );
  assert.deepEqual(
    net.namedBuffers().map(([k]) => k),
    ['bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked', 'layer1.1.running_mean', 'layer1.1.running_var', 'layer1.1.num_batches_tracked'],
  );
  assert.deepEqual(net.namedModules().map(([k]) => k), ['', 'conv1', 'bn1', 'layer1', 'layer1.0', 'layer1.1']);
  assert.deepEqual(net.namedChildren().map(([k]) => k), ['conv1', 'bn1', 'layer1']);
  assert.equal(net.children().length, 3);
  assert.equal(net.numParameters(), 1 + 18 + 4 + 18 + 4);
  assert.equal(net.parameters().every((p) => p.requiresGrad), true);
});

test('a null parameter (bias: null) is skipped; setting it later registers it in its declared place', () => {
  const c = new ToyConv();
  assert.deepEqual([...c.stateDict().keys()], ['weight']);
  c.bias = param([2]);
  assert.deepEqual([...c.stateDict().keys()], ['weight', 'bias']);
});

test('Sequential-style integer children enumerate in numeric order past 9', () => {
  const s = new ToySeq(...Array.from({ length: 12 }, () => new ToyConv()));
  assert.deepEqual(s.namedChildren().map(([k]) => k), Array.from({ length: 12 }, (_, i) => String(i)));
});

test('shared parameters and modules are listed once', () => {
  const shared = new ToyConv();
  const s = new ToySeq(shared, shared);
  assert.equal(s.parameters().length, 1);
  assert.deepEqual(s.namedModules().map(([k]) => k), ['', '0']);
});

test('stateDict tensors are live (shared storage) and dtypeOf marks num_batches_tracked int64', () => {
  const net = new ToyNet();
  const sd = net.stateDict();
  assert.equal(sd.get('conv1.weight'), net.conv1.weight);
  assert.equal(dtypeOf(sd.get('bn1.num_batches_tracked')!), 'int64');
  assert.equal(dtypeOf(sd.get('bn1.running_mean')!), 'float32');
  assert.deepEqual(sd.get('bn1.num_batches_tracked')!.shape, []);
  const save = stateDictForSave(net);
  net.bn1.num_batches_tracked.data[0] = 7;
  const save2 = stateDictForSave(net);
  const e = save2.get('bn1.num_batches_tracked') as { dtype: string; data: BigInt64Array };
  assert.equal(e.dtype, 'I64');
  assert.equal(e.data[0], 7n);
  assert.ok(save.get('conv1.weight') instanceof Tensor);
});

function snapshot(net: Module, bump = 0): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [k, t] of net.stateDict()) {
    const c = t.clone();
    for (let i = 0; i < c.data.length; i++) c.data[i] += bump + i;
    out.set(k, c);
  }
  return out;
}

test('loadStateDict copies values in place (Map and record input) and round-trips', () => {
  const a = new ToyNet();
  const wRef = a.conv1.weight;
  const sd = snapshot(a, 3);
  assert.deepEqual(a.loadStateDict(sd), { missingKeys: [], unexpectedKeys: [] });
  assert.equal(a.conv1.weight, wRef, 'same Parameter object after load');
  assert.equal(a.conv1.weight.data[1], 0.5 + 3 + 1);
  const b = new ToyNet();
  b.loadStateDict(Object.fromEntries(a.stateDict()));
  for (const [k, t] of b.stateDict()) assert.deepEqual([...t.data], [...a.stateDict().get(k)!.data], k);
});

test('loadStateDict lists every missing, unexpected and mismatched key in one error, and copies nothing', () => {
  const net = new ToyNet();
  const sd = snapshot(net, 1);
  sd.delete('bn1.weight');
  sd.delete('layer1.0.weight');
  sd.set('bn1.extra', new Tensor(new Float32Array(1), [1]));
  sd.set('fc.weight', new Tensor(new Float32Array(1), [1]));
  sd.set('bn1.bias', new Tensor(new Float32Array(3), [3]));
  const before = net.scale.data[0];
  let err: unknown;
  try {
    net.loadStateDict(sd);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof StateDictError, String(err));
  assert.deepEqual(err.missingKeys, ['bn1.weight', 'layer1.0.weight']);
  assert.deepEqual(err.unexpectedKeys, ['bn1.extra', 'fc.weight']);
  assert.deepEqual(err.shapeMismatches, [{ key: 'bn1.bias', expected: [2], given: [3] }]);
  for (const k of ['bn1.weight', 'layer1.0.weight', 'bn1.extra', 'fc.weight', 'bn1.bias', '[3]', '[2]']) assert.match(err.message, new RegExp(k.replace(/[.[\]]/g, '\\$&')));
  assert.equal(net.scale.data[0], before, 'nothing copied when the dict does not fit');
});

test('loadStateDict strict=false loads what fits and reports the rest; shape mismatches still fail', () => {
  const net = new ToyNet();
  const sd = snapshot(net, 1);
  sd.delete('bn1.weight');
  sd.set('fc.weight', new Tensor(new Float32Array(1), [1]));
  const r = net.loadStateDict(sd, { strict: false });
  assert.deepEqual(r, { missingKeys: ['bn1.weight'], unexpectedKeys: ['fc.weight'] });
  assert.equal(net.scale.data[0], 3);
  assert.equal(net.bn1.weight.data[0], 1, 'missing key keeps its value');
  sd.set('scale', new Tensor(new Float32Array(2), [2]));
  assert.throws(() => net.loadStateDict(sd, { strict: false }), StateDictError);
});

test('loadStateDict strips the DataParallel module. prefix', () => {
  const src = new ToyNet();
  const sd = new Map([...snapshot(src, 5)].map(([k, t]) => [`module.${k}`, t] as [string, Tensor]));
  const net = new ToyNet();
  net.loadStateDict(sd);
  assert.equal(net.scale.data[0], 2 + 5);
});

test('a checkpoint without num_batches_tracked loads in strict mode and keeps the current count', () => {
  const net = new ToyNet();
  net.bn1.num_batches_tracked.data[0] = 4;
  const sd = snapshot(net, 1);
  for (const k of [...sd.keys()]) if (k.endsWith('num_batches_tracked')) sd.delete(k);
  assert.deepEqual(net.loadStateDict(sd), { missingKeys: [], unexpectedKeys: [] });
  assert.equal(net.bn1.num_batches_tracked.data[0], 4);
  assert.equal(net.bn1.running_var.data[1], 1 + 1 + 1);
});

test('int64 entries (BigInt64Array) and [1]-shaped scalars load into 0-dim buffers', () => {
  const net = new ToyNet();
  const sd: Map<string, { data: Float32Array | BigInt64Array; shape: number[] }> = new Map([...snapshot(net)].map(([k, t]) => [k, { data: t.data, shape: [...t.shape] }]));
  sd.set('bn1.num_batches_tracked', { data: new BigInt64Array([123n]), shape: [] });
  sd.set('layer1.1.num_batches_tracked', { data: new BigInt64Array([9n]), shape: [1] });
  net.loadStateDict(sd);
  assert.equal(net.bn1.num_batches_tracked.data[0], 123);
  const seq = net.layer1 as unknown as Record<string, ToyNorm>;
  assert.equal(seq['1'].num_batches_tracked.data[0], 9);
});

test('train()/eval() switch every descendant; getSubmodule and apply', () => {
  const net = new ToyNet();
  assert.equal(net.training, true);
  net.eval();
  assert.ok(net.modules().every((m) => !m.training));
  net.train();
  assert.ok(net.modules().every((m) => m.training));
  assert.equal(net.train(false), net);
  assert.equal(net.getSubmodule('layer1.1'), (net.layer1 as unknown as Record<string, Module>)['1']);
  assert.throws(() => net.getSubmodule('layer1.7'), /no submodule '7'/);
  const visited: string[] = [];
  net.apply((m) => visited.push(m.constructor.name));
  assert.deepEqual(visited, ['ToyConv', 'ToyNorm', 'ToyConv', 'ToyNorm', 'ToySeq', 'ToyNet']);
});

test('zeroGrad clears every parameter gradient', () => {
  const net = new ToyNet();
  for (const p of net.parameters()) p.grad = new Tensor(new Float32Array(p.size), p.shape);
  net.zeroGrad();
  assert.ok(net.parameters().every((p) => p.grad === null));
});
