/** Per-layer and network statistics (§8). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  assignmentCounts,
  deadInputChannels,
  deadOutputChannels,
  entropyBits,
  layerStats,
  networkSparsity,
  removableInputChannels,
} from '../../ec2t/stats.js';
import { ValueError } from '../../base/errors.js';

describe('layer statistics', () => {
  // shape [3, 2, 2] (3 output filters of 2×2): filter 1 all zero.
  const assignment = Int8Array.from([1, 0, -1, 0, /**/ 0, 0, 0, 0, /**/ 1, 1, 0, -1]);
  const s = layerStats({ name: 'conv.weight', shape: [3, 2, 2], assignment, wp: 0.5, wn: 0.25, lambda: 0.1, lambdaMax: 0.4 });

  test('record fields are exactly the metrics.jsonl format', () => {
    assert.deepEqual(Object.keys(s), ['name', 'shape', 'numel', 'n', 'zero', 'p', 'wn', 'wp', 'entropy', 'lambda', 'lambdaMax', 'sparsity', 'deadChannels']);
    assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
  });
  test('counts, sparsity, entropy over the actual fractions, dead channels', () => {
    assert.deepEqual([s.numel, s.n, s.zero, s.p], [12, 2, 7, 3]);
    assert.equal(s.sparsity, 7 / 12);
    const h = -((2 / 12) * Math.log2(2 / 12) + (7 / 12) * Math.log2(7 / 12) + (3 / 12) * Math.log2(3 / 12));
    assert.ok(Math.abs(s.entropy - h) < 1e-12);
    assert.equal(s.deadChannels, 1);
    assert.deepEqual([s.wn, s.wp, s.lambda, s.lambdaMax], [0.25, 0.5, 0.1, 0.4]);
  });
  test('entropyBits', () => {
    assert.equal(entropyBits([1, 2, 1]), 1.5);
    assert.ok(Object.is(entropyBits([0, 5, 0]), 0));
    assert.ok(Math.abs(entropyBits([1, 1, 1]) - Math.log2(3)) < 1e-12);
    assert.equal(entropyBits([0, 0, 0]), 0);
  });
  test('invalid codes and shapes throw ValueError', () => {
    assert.throws(() => assignmentCounts(Int8Array.of(2)), ValueError);
    assert.throws(() => layerStats({ name: 'x', shape: [5], assignment, wp: 1, wn: 1, lambda: 0, lambdaMax: 0 }), ValueError);
  });
});

describe('dead channels', () => {
  test('output filters all zero and input channels zero for every output', () => {
    // [out=2, in=3]: input 1 is zero in both rows; output 1 is all zero.
    const a = Int8Array.from([1, 0, -1, 0, 0, 0]);
    assert.deepEqual(deadOutputChannels(a, [2, 3]), [1]);
    assert.deepEqual(deadInputChannels(a, [2, 3]), [1]);
  });
  test('a dead output channel maps to the next layer inputs (conv→conv and conv→flatten→linear)', () => {
    assert.deepEqual(removableInputChannels([0, 2], [4, 3, 3, 3]), [0, 2]);
    assert.deepEqual(removableInputChannels([1], [10, 8], 4), [4, 5, 6, 7]);
    assert.throws(() => removableInputChannels([2], [10, 8], 4), ValueError);
  });
});

describe('network sparsity', () => {
  test('overall counts zeros among all parameters; quantized among ternary layers only', () => {
    const r = networkSparsity(
      [
        { numel: 4, zero: 3 },
        { numel: 6, zero: 1 },
      ],
      [Float32Array.of(0, 1), Float32Array.of(2, 0, 0)],
    );
    assert.deepEqual(r, { overall: 7 / 15, quantized: 4 / 10, totalParams: 15, totalZeros: 7, quantizedParams: 10, quantizedZeros: 4 });
    assert.deepEqual(networkSparsity([], []).overall, 0);
  });
});
