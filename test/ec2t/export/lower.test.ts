/**
 * The lowering table (ec2t/export/lower.ts): every exportable model has exactly one lowering, a
 * model without one is refused by name, and a lowering's builder calls come out as IR ops in order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValueError } from '../../../base/errors.js';
import { Rng } from '../../../base/rng.js';
import type { Tensor } from '../../../engine/tensor.js';
import { Reader } from '../../../ec2t/export/ir.js';
import { LOWERINGS, lowerModel } from '../../../ec2t/export/lower.js';
import { EXPORT_MODELS, makeModel } from '../../../ec2t/export/model.js';
import { Linear } from '../../../nn/layers.js';
import { Module } from '../../../nn/module.js';
import type { SafetensorEntry } from '../../../nn/safetensors.js';

/** Small options so the big models build quickly; the lowering only looks at the module tree. */
const SMALL: Record<string, Record<string, unknown>> = {
  'efficientnet-b0': { width: 0.25, depth: 0.34, imageSize: 32 },
  'efficientnet-b1': { width: 0.25, depth: 0.34, imageSize: 32 },
  'micronet-imagenet': { width: 0.25, depth: 0.34 },
  mobilenetv2: { widthMult: 0.25 },
};

function readerOf(model: Module): Reader {
  const sd = new Map<string, SafetensorEntry>();
  for (const [k, t] of model.stateDict()) sd.set(k, { dtype: 'F32', shape: [...t.shape], data: t.data });
  return new Reader(sd, 'test');
}

test('every exportable model matches exactly one lowering, so the table order never decides', () => {
  for (const name of EXPORT_MODELS) {
    const model = makeModel(name, SMALL[name] ?? {});
    const hits = LOWERINGS.filter((l) => l.matches(model)).length;
    assert.equal(hits, 1, `${name}: ${hits} lowerings match`);
  }
});

test('a model no lowering knows is refused with the exportable names', () => {
  class Custom extends Module {
    fc = new Linear(4, 2, { rng: new Rng(0) });
    forward(x: Tensor): Tensor {
      return this.fc.forward(x);
    }
  }
  const model = new Custom();
  assert.throws(() => lowerModel('custom', model, readerOf(model)), (e: unknown) => e instanceof ValueError && e.message.includes(`export supports: ${EXPORT_MODELS.join(', ')}; got custom`));
});

test('lenet5 lowers to its forward pass in order, with registers left at the main one', () => {
  const model = makeModel('lenet5', {});
  const ops = lowerModel('lenet5', model, readerOf(model));
  const seq = ops.map((o) => (o.t === 'layer' ? `${o.L.op}:${o.L.name}` : o.t === 'bn' ? `bn:${o.name}` : o.op.op));
  assert.deepEqual(seq, ['conv:conv1', 'relu', 'maxpool', 'conv:conv2', 'relu', 'maxpool', 'flatten', 'linear:fc1', 'relu', 'linear:fc2', 'relu', 'linear:fc3']);
  assert.ok(ops.every((o) => o.t !== 'layer' || (o.src === 'x' && o.dst === 'x')));
});

test('a residual model saves, joins and folds its shortcut on the id register', () => {
  const model = makeModel('resnet18', { numClasses: 3 });
  const ops = lowerModel('resnet18', model, readerOf(model));
  const down = ops.filter((o) => o.t !== 'plain' && o.src === 'id').map((o) => (o.t === 'layer' ? o.L.name : o.t === 'bn' ? o.name : ''));
  assert.deepEqual(down, ['layer2.0.downsample.0', 'layer2.0.downsample.1', 'layer3.0.downsample.0', 'layer3.0.downsample.1', 'layer4.0.downsample.0', 'layer4.0.downsample.1']);
  assert.equal(ops.filter((o) => o.t === 'plain' && o.op.op === 'save').length, 8);
  assert.equal(ops.filter((o) => o.t === 'plain' && o.op.op === 'add').length, 8);
});
