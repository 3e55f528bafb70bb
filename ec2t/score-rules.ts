/**
 * Counting rules of `ec2t score --rules` (docs/METHOD.md "Scoring rules"): `plain` is the exact
 * count of ec2t/score.ts; `micronet` is the MicroNet-challenge count the EC2T paper's tables use,
 * quirks of the authors' scoring script included; `micronet-corrected` is the same count with those
 * quirks fixed. All three score the same layer list ({@link ScoreLayer}) and return the same
 * fields, plus the challenge's normalised `score`.
 *
 * MicroNet rules, as the authors' script applies them to a ternary network (16-bit storage, 16-bit
 * multiplication inputs, 32-bit accumulators; a 32-bit value is one parameter):
 * - a ternary layer is stored in the cheapest of five formats (16-bit values plus a bitmask, CSR,
 *   CER, two bitmasks, a non-zero bitmask plus a sign bit per non-zero), each with its two 16-bit
 *   centroids and rounded up to whole 32-bit words; the first conv and the final linear layer are
 *   16-bit values (½ parameter each, plus a 1/32 bitmask when they have zeros);
 * - a batch norm after a conv or linear layer folds into one 16-bit bias per output channel and
 *   one addition per output element;
 * - multiplications count ½ (16-bit inputs): a ternary layer has 2 per output element (the
 *   inputs under each sign are summed first), a 16-bit layer one per non-zero weight and output;
 * - a ternary layer's additions run through an adder tree whose operands start at 16 bits and grow
 *   by one bit per level (at most 32); an addition of width b counts b/32; other additions count 1;
 * - ReLU counts one multiplication per output element of the conv before it;
 * - all-zero filters are removed together with the matching input channel of the next layer.
 */
import { ValueError } from '../base/errors.js';
import { scoreNetwork, type LayerScore, type NetworkScore, type ScoreLayer } from './score.js';

/** The rule sets of `ec2t score --rules`. */
export const SCORE_RULES = ['plain', 'micronet', 'micronet-corrected'] as const;
/** One rule set. */
export type ScoreRules = (typeof SCORE_RULES)[number];

/** The MicroNet challenge's CIFAR reference (WideResNet-28-10): 36.5M parameters, 10.49G FLOPs. */
export const MICRONET_REFERENCE = { params: 36.5e6, flops: 10.49e9 } as const;

/** A network score under a rule set, with the normalised challenge score. */
export interface RuledScore extends NetworkScore {
  rules: ScoreRules;
  /** params / 36.5M + flops / 10.49G. */
  score: number;
}

/**
 * The MicroNet challenge's normalised score of a CIFAR network.
 * @example microNetScore(269_722, 81.3e6) // ≈ 0.0151
 */
export function microNetScore(params: number, flops: number): number {
  return params / MICRONET_REFERENCE.params + flops / MICRONET_REFERENCE.flops;
}

// NOTE: the challenge's storage and arithmetic widths: 16-bit values and multiplication inputs,
// 32-bit accumulators, 32 bits per parameter.
const VALUE_BITS = 16;
const WORD_BITS = 32;
const MULT_WEIGHT = VALUE_BITS / WORD_BITS;

/**
 * Additions of an adder tree over `operands` values, each weighted by its width / 32: the
 * operands start at 16 bits and each level's sums are one bit wider (at most 32). `operands` may
 * be fractional (the authors feed it an average fan-in); each level adds ⌊n/2⌋ sums and leaves
 * ⌈n/2⌉ values, until one is left.
 * @example adderTreeWeight(4) // (2·16 + 1·17) / 32 = 1.53125
 */
export function adderTreeWeight(operands: number): number {
  let n = operands;
  let width = VALUE_BITS;
  let bits = 0;
  while (n > 1) {
    bits += Math.floor(n / 2) * width;
    n = Math.ceil(n / 2);
    width = Math.min(width + 1, WORD_BITS);
  }
  return bits / WORD_BITS;
}

/**
 * Scoring parameters of a ternary layer: the cheapest of the five storage formats the authors'
 * script compares, each rounded up to whole 32-bit words. `weights`: stored weights (dead channels
 * removed), `nonzeros` of them non-zero, `rows` live output channels.
 * @example ternaryStorageParams(1000, 550, 10) // 50: ⌈(1000 + 550 + 32)/32⌉, bitmask + sign bits
 */
export function ternaryStorageParams(weights: number, nonzeros: number, rows: number): number {
  const values = nonzeros * VALUE_BITS / WORD_BITS + (nonzeros < weights ? weights / WORD_BITS : 0);
  const csr = Math.ceil((nonzeros * (VALUE_BITS + 1) + (rows + 1) * VALUE_BITS + 2 * VALUE_BITS) / WORD_BITS);
  const cer = Math.ceil((nonzeros * VALUE_BITS + 2 * (rows + 1) * VALUE_BITS + 2 * VALUE_BITS) / WORD_BITS);
  const twoMasks = Math.ceil((2 * weights + 2 * VALUE_BITS) / WORD_BITS);
  const maskAndSigns = Math.ceil((weights + nonzeros + 2 * VALUE_BITS) / WORD_BITS);
  return Math.min(values, csr, cer, twoMasks, maskAndSigns);
}

interface Counted {
  params: number;
  additions: number;
  multiplications: number;
  effectiveIn: number;
  effectiveOut: number;
}

function kernelArea(l: ScoreLayer): number {
  if (l.kind === 'linear') return 1;
  const k = l.kernel ?? 1;
  return typeof k === 'number' ? k * k : k[0] * k[1];
}

/** Output rows of a ternary layer the rule set removes as dead. */
function deadRowsOf(l: ScoreLayer, quirks: boolean): number[] {
  const t = l.ternary;
  const a = t?.assignment;
  if (a === undefined) return [];
  const per = a.length / l.outChannels;
  const dead: number[] = [];
  for (let m = 0; m < l.outChannels; m++) {
    let np = 0;
    let nn = 0;
    for (let k = m * per; k < (m + 1) * per; k++) {
      if (a[k] === 1) np++;
      else if (a[k] === -1) nn++;
    }
    // The authors' script calls a filter dead when its weights sum to 0 (quirk), not when all are 0.
    const isDead = quirks && t?.wp !== undefined && t.wn !== undefined ? np * t.wp - nn * t.wn === 0 : np + nn === 0;
    if (isDead) dead.push(m);
  }
  return dead;
}

/** A ternary conv/linear under the MicroNet rules; `deadIn`: removed input channels. */
function ternaryLayer(l: ScoreLayer, deadOut: readonly number[], deadIn: readonly number[], quirks: boolean): Counted {
  const a = l.ternary?.assignment as Int8Array;
  const g = l.groups ?? 1;
  const area = kernelArea(l);
  const inPerGroup = l.inChannels / g;
  const hw = (l.outH ?? 1) * (l.outW ?? 1);
  const outDead = new Set(deadOut);
  // Grouped layers keep their inputs (a group's input channel is not the previous layer's row).
  const inDead = new Set(g === 1 ? deadIn : []);
  const rows = l.outChannels - outDead.size;
  const inputs = inPerGroup - inDead.size;
  const stored = rows * inputs * area;
  const per = inPerGroup * area;
  const nzPerRow: number[] = [];
  for (let m = 0; m < l.outChannels; m++) {
    if (outDead.has(m)) continue;
    let nz = 0;
    for (let c = 0; c < inPerGroup; c++) {
      if (inDead.has(c)) continue;
      for (let k = m * per + c * area; k < m * per + (c + 1) * area; k++) if (a[k] !== 0) nz++;
    }
    nzPerRow.push(nz);
  }
  const nonzeros = nzPerRow.reduce((x, y) => x + y, 0);
  // The authors feed every filter's tree the layer's average fan-in minus one (quirk: the number
  // of additions, not of operands); corrected: each filter's own non-zeros as operands.
  const treeWeight = quirks
    ? rows * adderTreeWeight(rows === 0 ? 0 : nonzeros / rows - 1)
    : nzPerRow.reduce((s, nz) => s + adderTreeWeight(nz), 0);
  return {
    params: rows === 0 ? 0 : ternaryStorageParams(stored, nonzeros, rows) + (l.bias ? rows * MULT_WEIGHT : 0),
    multiplications: 2 * hw * rows * MULT_WEIGHT,
    additions: treeWeight * hw + (l.bias ? hw * rows : 0),
    effectiveIn: inputs * g,
    effectiveOut: rows,
  };
}

/** A 16-bit (not ternary) conv/linear under the MicroNet rules. */
function halfPrecisionLayer(l: ScoreLayer): Counted {
  const g = l.groups ?? 1;
  const area = kernelArea(l);
  const hw = l.kind === 'linear' ? 1 : (l.outH ?? 1) * (l.outW ?? 1);
  const weights = l.outChannels * (l.inChannels / g) * area;
  const nonzeros = l.pruned?.nonzeros ?? weights;
  const fanIn = nonzeros / l.outChannels;
  const M = l.outChannels;
  return {
    params: nonzeros * MULT_WEIGHT + (nonzeros < weights ? weights / WORD_BITS : 0) + (l.bias ? M * MULT_WEIGHT : 0),
    multiplications: fanIn * hw * M * MULT_WEIGHT,
    additions: (fanIn - 1) * hw * M + (l.bias ? hw * M : 0),
    effectiveIn: l.inChannels,
    effectiveOut: M,
  };
}

/**
 * Scores `layers` under a rule set. `plain` is {@link scoreNetwork}; the MicroNet rule sets follow
 * the module notes, `micronet` with the authors' quirks (docs/METHOD.md lists them), and
 * `micronet-corrected` without. Per-layer entries keep the plain count's descriptive fields
 * (weights, non-zeros, sparsity, bytes, dense) and replace params and operations.
 * @example scoreWithRules(describeForScore('resnet20', {}, sd), 'micronet').params // ≈ 13.4e3 for the authors' 45% checkpoint
 */
export function scoreWithRules(layers: readonly ScoreLayer[], rules: ScoreRules): RuledScore {
  if (!(SCORE_RULES as readonly string[]).includes(rules)) throw new ValueError('score', `unknown rules '${String(rules)}'; expected ${SCORE_RULES.join(', ')}`);
  const plain = scoreNetwork(layers);
  if (rules === 'plain') return { ...plain, rules, score: microNetScore(plain.params, plain.flops) };
  const quirks = rules === 'micronet';
  const scored: LayerScore[] = plain.layers.map((s) => ({ ...s, dense: { ...s.dense } }));
  // The last conv/linear seen: its live outputs are what a following bn, ReLU or residual add counts.
  let lastOut = 0;
  let lastTernaryDeadOut: number[] = [];
  // Its channel count: the quirk only applies where those rows can be this layer's input channels.
  let lastTernaryOut = -1;
  let lastAdd = -1;
  // Parameter groups the authors' script truncates to integers one by one (quirk).
  const groupOf: Array<'float' | 'ternary' | 'linear' | null> = [];
  let group: 'float' | 'ternary' | 'linear' | null = null;
  layers.forEach((l, i) => {
    const s = scored[i];
    const hw = l.kind === 'linear' ? 1 : (l.outH ?? 1) * (l.outW ?? 1);
    let c: Counted = { params: 0, additions: 0, multiplications: 0, effectiveIn: s.effectiveIn, effectiveOut: s.effectiveOut };
    const prev = i > 0 ? layers[i - 1] : undefined;
    switch (l.kind) {
      case 'conv':
      case 'linear': {
        if (l.ternary?.assignment !== undefined) {
          const deadOut = deadRowsOf(l, quirks);
          // The authors remove, as dead inputs, the dead outputs of the previous ternary layer in
          // the list whatever the graph says (quirk: across residual joins); corrected: only the
          // dead channels that really feed this layer.
          const deadIn = quirks ? (lastTernaryOut === l.inChannels ? lastTernaryDeadOut : []) : (l.ternary.deadInChannels ?? []);
          c = ternaryLayer(l, deadOut, deadIn, quirks);
          lastTernaryDeadOut = deadOut;
          lastTernaryOut = l.outChannels;
          group = 'ternary';
        } else if (l.ternary !== undefined) {
          throw new ValueError('score', `layer ${l.name}: the MicroNet rules need a ternary layer's assignment, not only its sparsity`);
        } else {
          c = halfPrecisionLayer(l);
          group = l.kind === 'linear' ? 'linear' : 'float';
        }
        lastOut = c.effectiveOut;
        break;
      }
      case 'bn': {
        const folded = prev !== undefined && (prev.kind === 'conv' || prev.kind === 'linear');
        if (folded) {
          c = { params: lastOut * MULT_WEIGHT, additions: lastOut * hw, multiplications: 0, effectiveIn: lastOut, effectiveOut: lastOut };
        } else {
          // Not after a layer: a 16-bit scale and shift per channel.
          const C = l.outChannels;
          c = { params: C, additions: C * hw, multiplications: C * hw * MULT_WEIGHT, effectiveIn: C, effectiveOut: C };
          group = 'float';
        }
        break;
      }
      case 'relu': {
        // Authors: per output element of the conv before it; corrected: per element of the tensor
        // the ReLU reads (all channels after a residual add, whose dead branch channels are not constant there).
        const afterAdd = prev?.kind === 'add';
        const C = quirks || !afterAdd ? lastOut : l.outChannels;
        c = { ...c, multiplications: C * hw * MULT_WEIGHT };
        break;
      }
      case 'add': {
        lastAdd = i;
        c = { ...c, additions: (quirks ? lastOut : l.outChannels) * hw };
        break;
      }
      case 'avgpool': {
        // The authors' ResNet count has no pooling (quirk); corrected: the window's sums and one
        // (16-bit) multiplication per output.
        if (!quirks) c = { ...c, additions: l.outChannels * hw * (kernelArea(l) - 1), multiplications: l.outChannels * hw * MULT_WEIGHT };
        break;
      }
      case 'swish':
      case 'sigmoid':
      case 'mul':
        c = { ...c, additions: s.additions, multiplications: s.multiplications * MULT_WEIGHT };
        break;
      case 'maxpool':
        break;
      default:
        throw new ValueError('score', `layer ${l.name}: unknown kind ${String((l as ScoreLayer).kind)}`);
    }
    groupOf.push(group);
    Object.assign(s, { params: c.params, additions: c.additions, multiplications: c.multiplications, flops: c.additions + c.multiplications, effectiveIn: c.effectiveIn, effectiveOut: c.effectiveOut });
  });
  // The authors' script keeps only the last residual addition (an `=` where `+=` was meant).
  if (quirks) {
    scored.forEach((s, i) => {
      if (s.kind === 'add' && i !== lastAdd) Object.assign(s, { additions: 0, flops: s.multiplications });
    });
  }
  const sum = (f: (s: LayerScore) => number): number => scored.reduce((a, s) => a + f(s), 0);
  let params = sum((s) => s.params);
  if (quirks) {
    // The script prints int() of each counting call's parameters: first conv (with its bias),
    // ternary layers (with theirs), final linear.
    const byGroup = new Map<string, number>();
    scored.forEach((s, i) => {
      const gname = groupOf[i] ?? 'float';
      byGroup.set(gname, (byGroup.get(gname) ?? 0) + s.params);
    });
    params = [...byGroup.values()].reduce((a, v) => a + Math.floor(v), 0);
  }
  const additions = sum((s) => s.additions);
  const multiplications = sum((s) => s.multiplications);
  const flops = additions + multiplications;
  return { ...plain, params, additions, multiplications, flops, layers: scored, rules, score: microNetScore(params, flops) };
}
