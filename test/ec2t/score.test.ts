/**
 * Scoring: the dense ResNet-20 (layer list written out by hand) gives the paper's 269,722
 * parameters and 40.6M additions + 40.7M multiplications = 81.3M FLOPs; a ternary layer's counts
 * match docs/METHOD.md §9 by hand; dead channels and folded batch norms; MobileNetV2's depthwise groups
 * removed with dead expand channels count nothing, as in the packed file.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type ScoreLayer, scoreLayer, scoreNetwork } from '../../ec2t/score.js';
import { describeForScore, packModel } from '../../ec2t/export.js';
import { ValueError } from '../../base/errors.js';
import type { SafetensorEntry } from '../../nn/safetensors.js';
import { ternaryFixture } from './ternary-fixture.js';

/** ResNet-20 (CIFAR, option-A shortcuts: no parameters), every block conv optionally ternary at `sparsity`. */
function resnet20(sparsity?: number): ScoreLayer[] {
  const L: ScoreLayer[] = [];
  const conv = (name: string, cin: number, cout: number, hw: number, ternary: boolean): void => {
    L.push({ name, kind: 'conv', inChannels: cin, outChannels: cout, kernel: 3, outH: hw, outW: hw, ...(ternary && sparsity !== undefined ? { ternary: { sparsity } } : {}) });
    L.push({ name: name.replace('conv', 'bn'), kind: 'bn', inChannels: cout, outChannels: cout, outH: hw, outW: hw, foldedIntoTernary: ternary && sparsity !== undefined });
    L.push({ name: `${name}.relu`, kind: 'relu', inChannels: cout, outChannels: cout, outH: hw, outW: hw });
  };
  conv('conv1', 3, 16, 32, false);
  let cin = 16;
  for (const [stage, width, hw] of [[1, 16, 32], [2, 32, 16], [3, 64, 8]] as const) {
    for (let b = 0; b < 3; b++) {
      conv(`layer${stage}.${b}.conv1`, cin, width, hw, true);
      conv(`layer${stage}.${b}.conv2`, width, width, hw, true);
      L.push({ name: `layer${stage}.${b}.add`, kind: 'add', inChannels: width, outChannels: width, outH: hw, outW: hw });
      cin = width;
    }
  }
  L.push({ name: 'avgpool', kind: 'avgpool', inChannels: 64, outChannels: 64, kernel: 8, outH: 1, outW: 1 });
  L.push({ name: 'fc', kind: 'linear', inChannels: 64, outChannels: 10, bias: true });
  return L;
}

describe('scoring', () => {
  test('dense ResNet-20: 269,722 params, 40.6M adds + 40.7M mults = 81.3M FLOPs (within 0.5 %)', () => {
    const s = scoreNetwork(resnet20());
    assert.equal(s.params, 269_722);
    // By hand: conv MACs 40,550,400, fc 640; 188,416 conv outputs = BN elements.
    assert.equal(s.multiplications, 40_550_400 + 640 + 188_416);
    assert.equal(s.additions, 40_550_400 - 188_416 + 188_416 + 630 + 10);
    const within = (got: number, want: number): void => assert.ok(Math.abs(got / want - 1) < 0.005, `${got} vs ${want}`);
    within(s.additions, 40.6e6);
    within(s.multiplications, 40.7e6);
    within(s.flops, 81.3e6);
    assert.equal(Math.round(s.flops / 1e5) / 10, 81.3);
    assert.deepEqual(s.dense, { params: s.params, additions: s.additions, multiplications: s.multiplications, flops: s.flops });
    assert.equal(s.sparsity, 0);
    // Counting residual adds and the pool moves the total to 81.4M: that is why they are off by default.
    const e = scoreNetwork(resnet20(), { countElementwise: true });
    assert.equal(e.additions - s.additions, 86_016 + 64 * 63);
    assert.equal(Math.round(e.flops / 1e5) / 10, 81.4);
  });

  test('a ternary conv matches §9 by hand', () => {
    // N = 16, M = 32, K = 3, H×W = 8×8, assignment: filter m has m+1 non-zeros (m = 31 all but 111).
    const N = 16, M = 32, K = 3, per = N * K * K;
    const a = new Int8Array(M * per);
    let nz = 0;
    for (let m = 0; m < M; m++) for (let t = 0; t <= m; t++, nz++) a[m * per + t] = t % 3 === 0 ? -1 : 1;
    const s = scoreLayer({ name: 'c', kind: 'conv', inChannels: N, outChannels: M, kernel: K, outH: 8, outW: 8, ternary: { assignment: a } });
    const sigma = nz / (M * per);
    assert.equal(s.nonzeros, nz);
    assert.equal(s.sparsity, 1 - sigma);
    assert.equal(s.params, (N * K * K * M) / 32 + (sigma * N * K * K * M) / 32 + 1);
    assert.equal(s.multiplications, 2 * 64 * M);
    assert.ok(Math.abs(s.additions - 64 * (sigma * N * K * K - 1) * M) < 1e-6);
    assert.equal(s.additions, 64 * (nz - M)); // the same thing, exactly: per output, non-zeros − 1 adds
    assert.ok(Math.abs(s.flops - 64 * (sigma * N * K * K + 1) * M) < 1e-6);
    assert.equal(s.dense.flops, 64 * (2 * N * K * K - 1) * M);
    assert.equal(s.bytes, (N * K * K * M + nz) / 8 + 4);
  });

  test('dead channels: all-zero filters are found from the assignment and excluded', () => {
    const a = new Int8Array(4 * 2 * 9);
    a[0] = 1; // filter 0: 1 non-zero
    a[18] = -1; a[19] = 1; // filter 1: 2 non-zeros; filters 2, 3 dead
    const s = scoreLayer({ name: 'c', kind: 'conv', inChannels: 2, outChannels: 4, kernel: 3, outH: 5, outW: 5, ternary: { assignment: a, deadIn: 1 } });
    assert.equal(s.effectiveOut, 2);
    assert.equal(s.effectiveIn, 1);
    assert.equal(s.multiplications, 2 * 25 * 2);
    // Live density 3 / (2·18); effective fan-in 1·9: adds = 25·(3/36·9 − 1)·2 clamped at 0.
    assert.equal(s.additions, 0);
    assert.equal(s.params, (2 * 9) / 32 + ((3 / 36) * 18) / 32 + 1);
    const bn = scoreLayer({ name: 'bn', kind: 'bn', inChannels: 4, outChannels: 4, outH: 5, outW: 5, foldedIntoTernary: true, deadChannels: 2 });
    assert.deepEqual([bn.params, bn.additions, bn.multiplications], [1, 50, 0]);
    const allZero = scoreLayer({ name: 'z', kind: 'conv', inChannels: 2, outChannels: 4, kernel: 3, outH: 5, outW: 5, ternary: { assignment: new Int8Array(72) } });
    assert.deepEqual([allZero.params, allZero.flops, allZero.effectiveOut, allZero.sparsity], [0, 0, 0, 1]);
  });

  test('ternary ResNet-20 at 45.17 % sparsity (paper, γ = 0): our counts next to the paper’s 13.4K / 11.1M', () => {
    const s = scoreNetwork(resnet20(0.4517));
    // Float: stem conv 432 + its BN 32 + fc 650; ternary: masks 267,264 bits + signs over the
    // non-zeros, 18 centroid pairs, 672 folded 16-bit BN biases (336).
    const want = 432 + 32 + 650 + 267_264 / 32 + ((1 - 0.4517) * 267_264) / 32 + 18 + 672 / 2;
    assert.ok(Math.abs(s.params - want) < 1e-6, `${s.params} vs ${want}`);
    assert.ok(Math.abs(s.ternarySparsity - 0.4517) < 1e-12);
    // Documented, not asserted against the paper: see the report (the paper's FLOPs are about half of §9's count).
    assert.ok(s.params > 13e3 && s.params < 15e3, `params ${s.params}`);
    assert.ok(s.flops < s.dense.flops / 3);
  });

  test('removed groups (depthwise): float and ternary count only the kept groups; their batch norm too', () => {
    // Depthwise 3×3 over C = 8 channels at 16×16, groups 1, 4, 6 removed: 5 groups remain.
    const C = 8, HW = 256, kept = 5;
    const dw: ScoreLayer = { name: 'dw', kind: 'conv', inChannels: C, outChannels: C, groups: C, kernel: 3, outH: 16, outW: 16, removedGroups: [1, 4, 6] };
    const f = scoreLayer(dw);
    assert.deepEqual([f.params, f.multiplications, f.additions, f.effectiveIn, f.effectiveOut], [kept * 9, kept * 9 * HW, kept * 8 * HW, kept, kept]);
    assert.deepEqual([f.weights, f.nonzeros, f.bytes], [C * 9, C * 9, 4 * kept * 9]);
    assert.deepEqual(f.dense, scoreLayer({ ...dw, removedGroups: [] }).dense, 'the dense counterpart keeps every group');
    assert.equal(f.dense.params, C * 9);
    // Ternary: row m has m + 1 non-zeros, row 0 and row 4 all zero (row 4 is also a removed group).
    const a = new Int8Array(C * 9);
    for (let m = 1; m < C; m++) if (m !== 4) for (let k = 0; k <= m && k < 9; k++) a[m * 9 + k] = k % 2 ? -1 : 1;
    const t = scoreLayer({ ...dw, ternary: { assignment: a } });
    // Live rows: 2, 3, 5, 7 (row 0 dead, 1/4/6 removed) with 3 + 4 + 6 + 8 = 21 non-zeros.
    assert.deepEqual([t.effectiveIn, t.effectiveOut], [kept, 4]);
    assert.equal(t.multiplications, 2 * HW * 4);
    assert.equal(t.additions, HW * (21 - 4));
    assert.equal(t.params, (4 * 9 + 21) / 32 + 1);
    assert.equal(t.nonzeros, 2 + 3 + 4 + 6 + 7 + 8, 'non-zeros / sparsity describe the whole assignment');
    // Its batch norm: removed channels go in both the folded and the float case.
    const bn = (extra: Partial<ScoreLayer>): number[] => {
      const s = scoreLayer({ name: 'bn', kind: 'bn', inChannels: C, outChannels: C, outH: 16, outW: 16, removedChannels: 3, ...extra });
      return [s.params, s.multiplications, s.additions, s.effectiveOut];
    };
    assert.deepEqual(bn({}), [2 * kept, kept * HW, kept * HW, kept]);
    assert.deepEqual(bn({ foldedIntoTernary: true, deadChannels: 1 }), [4 / 2, 0, 4 * HW, 4]);
    // Grouped (not depthwise): a removed group takes its in/out channels; 4 groups of 2 → 4, 1 removed.
    const g = scoreLayer({ name: 'g', kind: 'conv', inChannels: 8, outChannels: 8, groups: 4, kernel: 1, outH: 2, outW: 2, bias: true, removedGroups: [2] });
    assert.deepEqual([g.params, g.multiplications, g.additions, g.effectiveIn, g.effectiveOut], [6 * 2 + 6, 6 * 2 * 4, 6 * (2 - 1) * 4 + 6 * 4, 6, 6]);
    const all = scoreLayer({ ...dw, removedGroups: [0, 1, 2, 3, 4, 5, 6, 7] });
    assert.deepEqual([all.params, all.flops, all.effectiveOut], [0, 0, 0]);
    assert.throws(() => scoreLayer({ ...dw, removedGroups: [8] }), (e: unknown) => e instanceof ValueError && /layer dw: removed group 8 must be an integer in \[0, 8\)/.test(e.message));
    assert.throws(() => scoreLayer({ ...dw, removedGroups: [1, 1] }), /lists a group twice/);
  });

  test('rejects inconsistent descriptions with the layer name', () => {
    assert.throws(() => scoreLayer({ name: 'x', kind: 'conv', inChannels: 3, outChannels: 4, groups: 2 }), (e: unknown) => e instanceof ValueError && /layer x: groups 2/.test(e.message));
    assert.throws(() => scoreLayer({ name: 'y', kind: 'conv', inChannels: 3, outChannels: 4, ternary: {} }), /needs an assignment or a sparsity/);
    assert.throws(() => scoreLayer({ name: 'z', kind: 'conv', inChannels: 3, outChannels: 4, kernel: 3, ternary: { assignment: new Int8Array(5) } }), /assignment has 5 entries/);
  });
});

/** Shallow copy of a state dict with fresh data arrays for the tensors `edit` changes. */
function cloneStateDict(sd: Map<string, SafetensorEntry>): Map<string, SafetensorEntry> {
  const out = new Map<string, SafetensorEntry>();
  for (const [k, e] of sd) out.set(k, { ...e, shape: [...e.shape], data: (e.data as Float32Array).slice() as never });
  return out;
}

describe('scoring MobileNetV2 (depthwise groups removed with dead expand channels)', () => {
  // α = 0.5, CIFAR strides, 32×32: block features.3 is 16 → 96 (expand 1×1) → 96 (depthwise 3×3, 32×32) → 16.
  const MB = { cifar: true, widthMult: 0.5 };
  // Sparsity 0.3: no all-zero filter by chance (checked below), so only the channels killed here are dead.
  const base = ternaryFixture('mobilenetv2', { seed: 3, sparsity: 0.3, modelOptions: MB });
  const hasDeadRow = (sd: Map<string, SafetensorEntry>): boolean =>
    [...sd].some(([k, e]) => k.endsWith('.assignment') && Array.from({ length: e.shape[0] }, (_, m) => m).some((m) => {
      const per = e.data.length / e.shape[0];
      for (let i = m * per; i < (m + 1) * per; i++) if (e.data[i] !== 0) return false;
      return true;
    }));

  test('no dead channels: no removed groups, and the score of before this change', () => {
    assert.ok(!hasDeadRow(base.stateDict), 'fixture without dead filters');
    const layers = describeForScore('mobilenetv2', MB, base.stateDict, 32);
    assert.ok(layers.every((l) => l.removedGroups === undefined && l.removedChannels === undefined));
    const s = scoreNetwork(layers);
    // Totals computed by the scorer before depthwise groups could be removed (commit cc3c7fe).
    const before = { params: 285_540.09375, additions: 21_691_328, multiplications: 8_390_656, flops: 30_081_984 };
    assert.deepEqual({ params: s.params, additions: s.additions, multiplications: s.multiplications, flops: s.flops }, before);
    const dw = s.layers.find((l) => l.name === 'features.3.conv.1.0');
    assert.deepEqual([dw?.params, dw?.effectiveIn, dw?.effectiveOut], [96 * 9, 96, 96]);
  });

  test('dead expand channels: the depthwise groups (and BN) the packed file drops count zero; kept ones count', () => {
    const sd = cloneStateDict(base.stateDict);
    const exp = 'features.3.conv.0.0';
    const bn = 'features.3.conv.0.1';
    const C = sd.get(`${exp}.assignment`)?.shape[0] as number;
    const per = (sd.get(`${exp}.assignment`)?.data.length as number) / C;
    assert.equal(C, 96);
    // Dead filters: BN output −1 → ReLU6 → 0 (removed with their depthwise group), or +1 (a non-zero
    // constant into the zero-padded depthwise conv: kept, so its group still computes).
    const removed = [2, 5, 7, 40];
    const keptDead = [10, 11];
    for (const m of [...removed, ...keptDead]) {
      (sd.get(`${exp}.assignment`)?.data as Int8Array).fill(0, m * per, (m + 1) * per);
      (sd.get(`${exp}.weight`)?.data as Float32Array).fill(0, m * per, (m + 1) * per);
      (sd.get(`${bn}.running_mean`)?.data as Float32Array)[m] = 0;
      (sd.get(`${bn}.bias`)?.data as Float32Array)[m] = removed.includes(m) ? -1 : 1;
    }
    // The packed file: the depthwise conv keeps 96 − 4 groups.
    const p = packModel('mobilenetv2', MB, sd);
    const op = p.program.ops.find((o) => 'name' in o && o.name === 'features.3.conv.1.0') as { shape: number[] } | undefined;
    assert.equal(op?.shape[0], 96 - removed.length);

    const s = scoreNetwork(describeForScore('mobilenetv2', MB, sd, 32));
    const ref = scoreNetwork(describeForScore('mobilenetv2', MB, base.stateDict, 32));
    const at = (name: string) => s.layers.find((l) => l.name === name) as (typeof s.layers)[number];
    // Expected from the shapes: a float 3×3 depthwise conv (no bias) at 32×32 over the kept groups, its float BN.
    const live = 96 - removed.length;
    const HW = 32 * 32;
    const dw = at('features.3.conv.1.0');
    assert.deepEqual(
      [dw.params, dw.multiplications, dw.additions, dw.flops, dw.effectiveIn, dw.effectiveOut],
      [live * 9, live * 9 * HW, live * 8 * HW, live * 17 * HW, live, live],
    );
    assert.deepEqual(dw.dense, ref.layers.find((l) => l.name === dw.name)?.dense, 'dense counterpart unchanged');
    const dwBn = at('features.3.conv.1.1');
    assert.deepEqual([dwBn.params, dwBn.multiplications, dwBn.additions, dwBn.effectiveOut], [2 * live, live * HW, live * HW, live]);
    // The expand conv loses all 6 dead outputs (§9); the projection conv only the 4 removed inputs.
    assert.equal(at(exp).effectiveOut, 96 - removed.length - keptDead.length);
    assert.equal(at('features.3.conv.2').effectiveIn, live);
    // Every other layer scores as without dead channels.
    const touched = new Set([exp, bn, 'features.3.conv.1.0', 'features.3.conv.1.1', 'features.3.conv.2']);
    s.layers.forEach((l, i) => {
      if (!touched.has(l.name)) assert.deepEqual(l, ref.layers[i], l.name);
    });
    assert.ok(s.flops < ref.flops && s.params < ref.params);
  });

  test('LeNet-5, ResNet-20, MicroNet with dead channels: the same scores as before this change', () => {
    // [params, additions, multiplications, flops, bytes], computed before this change (commit cc3c7fe).
    const before: Record<string, [number, number[]]> = {
      lenet5: [28, [2399.0208333333335, 92949.66666666666, 11386, 104335.66666666667, 9596.083333333334]],
      resnet20: [32, [8660.28662109375, 9896219, 727040, 10623259, 34641.146484375]],
      micronet: [32, [23804.4111328125, 23146250, 1552640, 24698890, 95217.64453125]],
    };
    for (const [name, [size, want]] of Object.entries(before)) {
      const f = ternaryFixture(name, { seed: 5, deadFraction: 0.3 });
      const layers = describeForScore(name, {}, f.stateDict, size);
      assert.ok(layers.every((l) => l.removedGroups === undefined && l.removedChannels === undefined), name);
      const s = scoreNetwork(layers);
      assert.deepEqual([s.params, s.additions, s.multiplications, s.flops, s.bytes], want, name);
    }
    const dense = scoreNetwork(describeForScore('resnet20', {}, null, 32));
    assert.equal(dense.params, 269_722);
    assert.equal(dense.flops, 81_290_496);
  });
});
