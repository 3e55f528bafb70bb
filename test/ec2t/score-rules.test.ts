/**
 * `ec2t score --rules`: the MicroNet rules and the authors' quirks, counted by hand on layers small
 * enough to follow (docs/METHOD.md "Scoring rules").
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ValueError } from '../../base/errors.js';
import { adderTreeWeight, microNetScore, scoreWithRules, ternaryStorageParams } from '../../ec2t/score-rules.js';
import { scoreNetwork, type ScoreLayer } from '../../ec2t/score.js';

// Every count below is a sum of dyadic fractions (halves, 32nds) of small integers: exact in float64.

describe('adderTreeWeight', () => {
  test('operands start at 16 bits, one bit wider per level; each addition weighs width/32', () => {
    assert.equal(adderTreeWeight(0), 0);
    assert.equal(adderTreeWeight(1), 0);
    assert.equal(adderTreeWeight(2), 16 / 32);
    assert.equal(adderTreeWeight(3), (16 + 17) / 32);
    assert.equal(adderTreeWeight(4), (2 * 16 + 17) / 32);
    assert.equal(adderTreeWeight(8), (4 * 16 + 2 * 17 + 18) / 32);
    // A fractional (average) fan-in, as the authors' script feeds it: ⌊2.5/2⌋ = 1 sum, then ⌈1.25⌉ = 2 values.
    assert.equal(adderTreeWeight(2.5), (16 + 17) / 32);
  });

  test('widths stop growing at 32 bits', () => {
    // 2^18 operands: 18 levels of widths 16 … 33, the last one capped at 32.
    let want = 0;
    for (let level = 0; level < 18; level++) want += 2 ** (17 - level) * Math.min(16 + level, 32);
    assert.equal(adderTreeWeight(2 ** 18), want / 32);
  });
});

describe('ternaryStorageParams', () => {
  test('45% sparse: a non-zero bitmask plus one sign bit per non-zero and two 16-bit centroids', () => {
    // values 275 + 31.25, CSR 299, CER 287, two masks 64, mask + signs ⌈1582/32⌉ = 50
    assert.equal(ternaryStorageParams(1000, 550, 10), 50);
  });
  test('99% sparse: CSR wins', () => {
    // values 5 + 31.25, CSR ⌈378/32⌉ = 12, CER 17, two masks 64, mask + signs 33
    assert.equal(ternaryStorageParams(1000, 10, 10), 12);
  });
});

// stem (16-bit, 1 → 2) · bn · relu · t1 (ternary 2 → 3) · bn · relu · add · t2 (ternary 3 → 2) · bn ·
// add · relu · global average pool · fc (16-bit, 2 → 3, bias). Maps 2×2, 1×1 kernels.
// t1 rows: [+,−] (w_p = w_n: sums to 0, "dead" to the authors' script), [+,+], [0,0] (dead).
// t2 rows: [+,+,−], [0,+,+]; its input channel 2 is dead (t1's row 2).
function network(): ScoreLayer[] {
  const map = { outH: 2, outW: 2 };
  return [
    { name: 'stem', kind: 'conv', inChannels: 1, outChannels: 2, kernel: 1, ...map },
    { name: 'stem.bn', kind: 'bn', inChannels: 2, outChannels: 2, ...map },
    { name: 'relu0', kind: 'relu', inChannels: 2, outChannels: 2, ...map },
    { name: 't1', kind: 'conv', inChannels: 2, outChannels: 3, kernel: 1, ...map, ternary: { assignment: Int8Array.of(1, -1, 1, 1, 0, 0), wp: 0.5, wn: 0.5 } },
    { name: 't1.bn', kind: 'bn', inChannels: 3, outChannels: 3, ...map, foldedIntoTernary: true, deadChannels: 1 },
    { name: 'relu1', kind: 'relu', inChannels: 3, outChannels: 3, ...map },
    { name: 'add0', kind: 'add', inChannels: 3, outChannels: 3, ...map },
    { name: 't2', kind: 'conv', inChannels: 3, outChannels: 2, kernel: 1, ...map, ternary: { assignment: Int8Array.of(1, 1, -1, 0, 1, 1), wp: 0.5, wn: 0.25, deadIn: 1, deadInChannels: [2] } },
    { name: 't2.bn', kind: 'bn', inChannels: 2, outChannels: 2, ...map, foldedIntoTernary: true },
    { name: 'add1', kind: 'add', inChannels: 2, outChannels: 2, ...map },
    { name: 'relu2', kind: 'relu', inChannels: 2, outChannels: 2, ...map },
    { name: 'pool', kind: 'avgpool', inChannels: 2, outChannels: 2, kernel: [2, 2], outH: 1, outW: 1 },
    { name: 'fc', kind: 'linear', inChannels: 2, outChannels: 3, bias: true },
  ];
}

const pick = (s: ReturnType<typeof scoreWithRules>, name: string): [number, number, number] => {
  const l = s.layers.find((x) => x.name === name)!;
  return [l.params, l.additions, l.multiplications];
};

describe('scoreWithRules', () => {
  test('micronet: each rule and quirk on a hand-counted network', () => {
    const s = scoreWithRules(network(), 'micronet');
    // 16-bit stem: 2 weights × ½; 1 multiplication (×½) per output, a 1-term sum needs no addition.
    assert.deepEqual(pick(s, 'stem'), [1, 0, 2 * 4 * 0.5]);
    // Folded BN: a 16-bit bias per channel, one addition per output element. ReLU: ½ per element.
    assert.deepEqual(pick(s, 'stem.bn'), [1, 8, 0]);
    assert.deepEqual(pick(s, 'relu0'), [0, 0, 4]);
    // t1: rows 0 (sums to 0) and 2 removed → 1 row, 2 weights, both non-zero → 16-bit values win (1);
    // 2 multiplications × ½ per output; a tree over 2/1 − 1 = 1 operand adds nothing (the quirk).
    assert.deepEqual(pick(s, 't1'), [1, 0, 2 * 4 * 0.5]);
    assert.deepEqual(pick(s, 't1.bn'), [0.5, 4, 0]);
    assert.deepEqual(pick(s, 'relu1'), [0, 0, 2]);
    // Only the last residual addition counts (quirk).
    assert.deepEqual(pick(s, 'add0'), [0, 0, 0]);
    // t2 loses inputs 0 and 2 (t1's removed rows, the previous ternary layer in the list): 2 weights left.
    assert.deepEqual(pick(s, 't2'), [1, 0, 2 * 4 * 2 * 0.5]);
    assert.deepEqual(pick(s, 't2.bn'), [1, 8, 0]);
    assert.deepEqual(pick(s, 'add1'), [0, 8, 0]);
    assert.deepEqual(pick(s, 'relu2'), [0, 0, 4]);
    // No pooling in the authors' ResNet count (quirk).
    assert.deepEqual(pick(s, 'pool'), [0, 0, 0]);
    // 16-bit fc: 6 weights + 3 biases at ½; 6 multiplications at ½; (2 − 1)·3 + 3 additions.
    assert.deepEqual(pick(s, 'fc'), [4.5, 6, 3]);
    // Parameters truncated per counting call (quirk): ⌊1 + 1⌋ + ⌊1 + 0.5 + 1 + 1⌋ + ⌊4.5⌋.
    assert.equal(s.params, 2 + 3 + 4);
    assert.equal(s.additions, 34);
    assert.equal(s.multiplications, 29);
    assert.equal(s.flops, 63);
    assert.equal(s.score, 9 / 36.5e6 + 63 / 10.49e9);
  });

  test('micronet-corrected: all-zero filters only, dead inputs from the graph, per-filter trees, every addition, pooling', () => {
    const s = scoreWithRules(network(), 'micronet-corrected');
    // t1 keeps row 0: 4 weights, all non-zero → 2; each filter's tree over its 2 non-zeros: ½ × 2 filters × 4.
    assert.deepEqual(pick(s, 't1'), [2, 4, 2 * 4 * 2 * 0.5]);
    assert.deepEqual(pick(s, 't1.bn'), [1, 8, 0]);
    assert.deepEqual(pick(s, 'relu1'), [0, 0, 4]);
    assert.deepEqual(pick(s, 'add0'), [0, 12, 0]);
    // t2 loses input 2 only: 4 weights, 3 non-zeros → 1.5 + 4/32; trees over 2 and 1 operands.
    assert.deepEqual(pick(s, 't2'), [1.625, 2, 8]);
    assert.deepEqual(pick(s, 'pool'), [0, 2 * 3, 2 * 0.5]);
    assert.equal(s.params, 1 + 1 + 2 + 1 + 1.625 + 1 + 4.5);
    assert.equal(s.additions, 62);
    assert.equal(s.multiplications, 36);
  });

  test('plain: the exact count of scoreNetwork, with the challenge score', () => {
    const s = scoreWithRules(network(), 'plain');
    const p = scoreNetwork(network());
    assert.equal(s.params, p.params);
    assert.equal(s.flops, p.flops);
    assert.equal(s.score, microNetScore(p.params, p.flops));
    assert.throws(() => scoreWithRules(network(), 'paper' as never), ValueError);
  });

  test('the MicroNet rules need assignments, not sparsities', () => {
    const l: ScoreLayer[] = [{ name: 't', kind: 'conv', inChannels: 2, outChannels: 2, kernel: 1, ternary: { sparsity: 0.5 } }];
    assert.throws(() => scoreWithRules(l, 'micronet'), /assignment/);
  });
});
