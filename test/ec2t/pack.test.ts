/**
 * Bitmask encoding: the documented bit order on a hand-worked example, lossless round trips,
 * agreement with the kernels' mask decoder and with ternaryWeights, and rejection of bad masks.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ternaryWeights } from '../../ec2t/assign.js';
import { countBits, maskStats, masksToDense, packAssignment, unpackAssignment } from '../../ec2t/pack.js';
import { ShapeError, ValueError } from '../../base/errors.js';
import { ternaryLayerDense, ternaryLayerFromMasks } from '../../kernels/ternary/layer.js';

const assignments = fc.array(fc.constantFrom(-1, 0, 1, 0), { maxLength: 200 }).map((v) => Int8Array.from(v));

describe('bitmasks', () => {
  test('worked example: LSB first, signs over non-zeros only', () => {
    // weights:   k = 0  1  2  3  4  5  6  7 | 8  9
    const a = Int8Array.of(1, 0, -1, -1, 0, 0, 0, 1, 0, -1);
    const m = packAssignment(a);
    // non-zero at k = 0, 2, 3, 7 → byte 0 = 1 + 4 + 8 + 128 = 0x8d; k = 9 → byte 1 = 0b10.
    assert.deepEqual(Array.from(m.nonzeroMask), [0x8d, 0x02]);
    // non-zeros in order: +, −, −, +, − → sign bits 0,1,1,0,1 → 0b10110 = 0x16.
    assert.deepEqual(Array.from(m.signMask), [0x16]);
    assert.equal(m.count, 10);
    assert.deepEqual(maskStats(m), { nonzeros: 5, negatives: 3, positives: 2, bits: 15 });
    assert.deepEqual(Array.from(masksToDense(m, 0.5, 0.25)), [0.5, 0, -0.25, -0.25, 0, 0, 0, 0.5, 0, -0.25]);
  });

  test('empty and all-zero layers', () => {
    assert.deepEqual(packAssignment(new Int8Array(0)), { nonzeroMask: new Uint8Array(0), signMask: new Uint8Array(0), count: 0 });
    const z = packAssignment(new Int8Array(13));
    assert.deepEqual(Array.from(z.nonzeroMask), [0, 0]);
    assert.equal(z.signMask.length, 0);
    assert.deepEqual(Array.from(unpackAssignment(z)), new Array(13).fill(0));
  });

  test('round trip is lossless; sizes are ⌈n/8⌉ and ⌈nonzeros/8⌉ bytes; stray bits are zero', () => {
    fc.assert(
      fc.property(assignments, (a) => {
        const m = packAssignment(a);
        assert.deepEqual(unpackAssignment(m), a);
        const nz = a.reduce((s, v) => s + (v !== 0 ? 1 : 0), 0);
        assert.equal(m.nonzeroMask.length, Math.ceil(a.length / 8));
        assert.equal(m.signMask.length, Math.ceil(nz / 8));
        assert.equal(countBits(m.nonzeroMask, a.length), nz);
        assert.equal(countBits(m.signMask, nz), a.reduce((s, v) => s + (v < 0 ? 1 : 0), 0));
      }),
      { seed: 31, numRuns: 500 },
    );
  });

  test('dense weights agree with ternaryWeights and with the kernels’ mask decoder', () => {
    fc.assert(
      fc.property(assignments, fc.float({ min: Math.fround(0.01), max: Math.fround(4), noNaN: true }), fc.float({ min: Math.fround(0.01), max: Math.fround(4), noNaN: true }), (a, wp, wn) => {
        const m = packAssignment(a);
        const dense = masksToDense(m, wp, wn);
        assert.deepEqual(dense, ternaryWeights(a, wp, wn));
        if (a.length > 0) assert.deepEqual(ternaryLayerDense(ternaryLayerFromMasks(m.nonzeroMask, m.signMask, [1, a.length], wp, wn)), dense);
      }),
      { seed: 32, numRuns: 300 },
    );
  });

  test('rejects wrong lengths, stray bits and bad assignment values', () => {
    const m = packAssignment(Int8Array.of(1, -1, 0));
    assert.throws(() => unpackAssignment({ ...m, count: 9 }), ShapeError);
    assert.throws(() => unpackAssignment({ ...m, signMask: new Uint8Array(2) }), /sign mask has 2 bytes/);
    assert.throws(() => unpackAssignment({ ...m, nonzeroMask: Uint8Array.of(0b1011) }), /past weight 3/);
    assert.throws(() => unpackAssignment({ ...m, signMask: Uint8Array.of(0b110) }), /past non-zero 2/);
    assert.throws(() => packAssignment(Int8Array.of(0, 2)), (e: unknown) => e instanceof ValueError && /assignment\[1\] = 2/.test(e.message));
  });
});
