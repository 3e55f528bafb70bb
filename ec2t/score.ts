/**
 * MicroNet-challenge style scoring of a network (docs/METHOD.md §9, thesis §4.3): parameters, additions,
 * multiplications and FLOPs per layer and in total, for the ternary network and its dense float
 * counterpart. Pure: takes a plain description of the layers, returns JSON-ready numbers.
 *
 * Conventions (chosen so a dense float ResNet-20 at 32×32 gives the paper's 269,722 parameters and
 * 40.6M additions + 40.7M multiplications = 81.3M FLOPs):
 * - Parameters: a 32-bit value = 1, a bit = 1/32, a 16-bit value = 1/2.
 * - Dense conv/linear: `M·(N/g)·K²·H·W` multiplications and `M·((N/g)·K² − 1)·H·W` additions (a dot
 *   product of n terms needs n − 1 additions), plus `M·H·W` additions for a bias. Linear: K = H = W = 1.
 * - Dense batch norm (eval, folded to a per-channel scale and shift): 2 parameters per channel
 *   (running mean/var are not counted: they fold into scale and shift), 1 multiplication and 1
 *   addition per output element.
 * - Ternary conv/linear (§9): non-zero bitmask `(N/g)·K²·M` bits, sign bitmask over the non-zeros,
 *   the two 16-bit centroids = 1 parameter; `2·H·W·M` multiplications and `H·W·(σ·(N/g)·K² − 1)·M`
 *   additions. N and M are the effective channel counts (dead channels excluded).
 * - A batch norm folded into a ternary layer (`foldedIntoTernary`): one 16-bit bias per effective
 *   output channel (M/2 parameters), 1 addition per output element, no multiplication (its scale
 *   is absorbed by the layer's two multiplications, as the thesis counts it).
 * - Removed groups (`removedGroups`, MobileNetV2's depthwise convs): a group whose input channels
 *   were dead channels removed by the packed exporter only transforms a constant, which the
 *   exporter removes with the group (its batch norm too, `removedChannels`) and folds into the next
 *   layer's bias. Such a group counts nothing — no parameters, no operations, float or ternary — and
 *   its channels leave the effective channel counts. The dense counterpart (`dense`) keeps them.
 * - Swish, sigmoid and the squeeze-and-excitation gate (EfficientNet), counted per output element
 *   as the EC2T authors' scoring counts them: swish x/(1 + e^−x) 3 multiplications + 1 addition,
 *   sigmoid 2 multiplications + 1 addition, the gate (a per-channel factor times the map) 1
 *   multiplication. Unlike ReLU they are arithmetic, so they count under these rules too.
 * - Not counted (0 parameters, 0 operations): ReLU, pooling, residual additions — the paper's
 *   81.3M total only comes out without them (with residual adds it would be 81.4M); pass
 *   `{ countElementwise: true }` to count residual additions (1 add per element) and average
 *   pooling (adds + 1 multiplication per output).
 */
import { ValueError } from '../base/errors.js';

/** Kinds of layers the scorer knows. */
export type ScoreLayerKind = 'conv' | 'linear' | 'bn' | 'relu' | 'maxpool' | 'avgpool' | 'add' | 'swish' | 'sigmoid' | 'mul';

/** Ternary description of a conv/linear layer. Give `assignment` (preferred) or `sparsity`. */
export interface TernaryDescription {
  /** −1/0/+1 per weight, row-major `[out, in/groups, kH, kW]`. */
  readonly assignment?: Int8Array;
  /** Fraction of zero weights, when no assignment is given. */
  readonly sparsity?: number;
  /** Dead input channels (dead outputs of the previous layer); default 0. */
  readonly deadIn?: number;
  /** Dead output channels (all-zero filters); default: counted from the assignment, else 0. */
  readonly deadOut?: number;
  /** The centroids (the MicroNet rules' dead-filter test of the authors' script sums the weights). */
  readonly wp?: number;
  readonly wn?: number;
  /** Which input channels are dead (`deadIn` of them), when known: the MicroNet rules remove exactly these. */
  readonly deadInChannels?: readonly number[];
}

/** One layer as the scorer sees it (the lead builds this list from a model). */
export interface ScoreLayer {
  readonly name: string;
  readonly kind: ScoreLayerKind;
  /** Input channels (features for linear). For bn/relu/pool/add: the channels of the tensor. */
  readonly inChannels: number;
  readonly outChannels: number;
  /** Kernel size, square or [kH, kW] (conv; 1 for linear). */
  readonly kernel?: number | readonly [number, number];
  readonly groups?: number;
  /** Output map size (1×1 for linear). For avgpool: the output map; `kernel` is the window. */
  readonly outH?: number;
  readonly outW?: number;
  /** The conv/linear has a bias vector. */
  readonly bias?: boolean;
  /** Conv/linear: present when the layer is ternary. */
  readonly ternary?: TernaryDescription;
  /**
   * Conv/linear, not ternary: a pruned float layer (ECP) with this many non-zero weights, stored
   * as a non-zero bitmask (1 bit per weight) plus the non-zeros at 32 bits; each output sums only
   * its non-zero products.
   */
  readonly pruned?: { readonly nonzeros: number };
  /** bn only: the batch norm follows a ternary layer and is folded into it (16-bit biases). */
  readonly foldedIntoTernary?: boolean;
  /** bn only (folded): dead outputs of the preceding ternary layer besides `removedChannels`. */
  readonly deadChannels?: number;
  /**
   * Conv only: groups (indices in `[0, groups)`) removed together with their input channels — a
   * depthwise group that reads a removed dead channel. They count 0 parameters and 0 operations.
   */
  readonly removedGroups?: readonly number[];
  /** bn only: channels removed with the layer before (its `removedGroups`), folded or not. */
  readonly removedChannels?: number;
}

/** Scores of one layer. Parameters may be fractional (bits are 1/32). */
export interface LayerScore {
  name: string;
  kind: ScoreLayerKind;
  ternary: boolean;
  params: number;
  additions: number;
  multiplications: number;
  flops: number;
  /** Weights of a conv/linear (full layer, dead channels included); 0 otherwise. */
  weights: number;
  /** Non-zero weights (all of them for a float layer). */
  nonzeros: number;
  /** zeros / weights of a conv/linear; 0 for other kinds. */
  sparsity: number;
  effectiveIn: number;
  effectiveOut: number;
  /** Storage in bytes (32-bit floats 4 B, 16-bit values 2 B, bits /8). */
  bytes: number;
  /** The same layer dense in float32. */
  dense: { params: number; additions: number; multiplications: number; flops: number };
}

/** Whole-network score. */
export interface NetworkScore {
  params: number;
  additions: number;
  multiplications: number;
  flops: number;
  /** Zero weights / all conv+linear weights. */
  sparsity: number;
  /** Zero weights / weights of the ternary layers only (0 when there are none). */
  ternarySparsity: number;
  bytes: number;
  dense: { params: number; additions: number; multiplications: number; flops: number };
  layers: LayerScore[];
}

/** Scoring options. */
export interface ScoreOptions {
  /** Count residual additions and average pooling (default false; see the module notes). */
  readonly countElementwise?: boolean;
}

function kernelArea(l: ScoreLayer): number {
  if (l.kind === 'linear') return 1;
  const k = l.kernel ?? 1;
  return typeof k === 'number' ? k * k : k[0] * k[1];
}

function positiveInt(v: number, what: string, layer: string): void {
  if (!Number.isInteger(v) || v < 0) throw new ValueError('score', `layer ${layer}: ${what} must be a non-negative integer, got ${v}`);
}

function denseLinearOps(l: ScoreLayer, hw: number): { params: number; additions: number; multiplications: number } {
  const g = l.groups ?? 1;
  const fanIn = (l.inChannels / g) * kernelArea(l);
  const M = l.outChannels;
  return {
    params: M * fanIn + (l.bias ? M : 0),
    multiplications: M * fanIn * hw,
    additions: M * (fanIn - 1) * hw + (l.bias ? M * hw : 0),
  };
}

/** The `removedGroups` of a conv as a set, checked: distinct integers in `[0, groups)`. */
function removedGroupSet(l: ScoreLayer, g: number): Set<number> {
  const rg = l.removedGroups ?? [];
  const set = new Set(rg);
  if (rg.length > 0 && l.kind !== 'conv') throw new ValueError('score', `layer ${l.name}: removedGroups is for conv layers, got a ${l.kind}; give dead inputs as ternary.deadIn`);
  for (const q of rg) {
    if (!Number.isInteger(q) || q < 0 || q >= g) throw new ValueError('score', `layer ${l.name}: removed group ${q} must be an integer in [0, ${g}) (groups ${g})`);
  }
  if (set.size !== rg.length) throw new ValueError('score', `layer ${l.name}: removedGroups lists a group twice (${rg.join(', ')}); list each removed group once`);
  return set;
}

/**
 * Scores one layer by the module's conventions.
 * @example scoreLayer({ name: 'fc', kind: 'linear', inChannels: 64, outChannels: 10, bias: true }).params // 650
 */
export function scoreLayer(l: ScoreLayer, options: ScoreOptions = {}): LayerScore {
  const outH = l.kind === 'linear' ? 1 : (l.outH ?? 1);
  const outW = l.kind === 'linear' ? 1 : (l.outW ?? 1);
  positiveInt(l.inChannels, 'inChannels', l.name);
  positiveInt(l.outChannels, 'outChannels', l.name);
  positiveInt(outH, 'outH', l.name);
  positiveInt(outW, 'outW', l.name);
  const hw = outH * outW;
  const base: LayerScore = {
    name: l.name, kind: l.kind, ternary: false, params: 0, additions: 0, multiplications: 0, flops: 0, weights: 0, nonzeros: 0,
    sparsity: 0, effectiveIn: l.inChannels, effectiveOut: l.outChannels, bytes: 0, dense: { params: 0, additions: 0, multiplications: 0, flops: 0 },
  };
  const finish = (s: LayerScore): LayerScore => {
    s.flops = s.additions + s.multiplications;
    s.dense.flops = s.dense.additions + s.dense.multiplications;
    return s;
  };
  switch (l.kind) {
    case 'conv':
    case 'linear': {
      const g = l.groups ?? 1;
      if (!Number.isInteger(g) || g < 1 || l.inChannels % g !== 0 || l.outChannels % g !== 0) {
        throw new ValueError('score', `layer ${l.name}: groups ${g} must divide in ${l.inChannels} and out ${l.outChannels}`);
      }
      const d = denseLinearOps(l, hw);
      const weights = l.outChannels * (l.inChannels / g) * kernelArea(l);
      base.dense = { ...d, flops: 0 };
      base.weights = weights;
      const removed = removedGroupSet(l, g);
      const outPerGroup = l.outChannels / g;
      // Channels and groups that remain once removed groups are gone (all of them when none are).
      const keptGroups = g - removed.size;
      const keptIn = l.inChannels - removed.size * (l.inChannels / g);
      const keptOut = l.outChannels - removed.size * outPerGroup;
      const t = l.ternary;
      if (t === undefined && l.pruned !== undefined) {
        const nz = l.pruned.nonzeros;
        positiveInt(nz, 'pruned.nonzeros', l.name);
        if (nz > weights || removed.size > 0) throw new ValueError('score', `layer ${l.name}: pruned.nonzeros ${nz} must be at most its ${weights} weights (and a pruned layer has no removed groups)`);
        const M = l.outChannels;
        const params = nz + weights / 32 + (l.bias ? M : 0);
        // Each output's sum has (its non-zeros − 1) additions; over the layer that is nz − M when
        // every filter keeps a weight, never below 0.
        Object.assign(base, {
          params, multiplications: nz * hw, additions: Math.max(0, nz - M) * hw + (l.bias ? M * hw : 0),
          nonzeros: nz, sparsity: weights === 0 ? 0 : 1 - nz / weights, bytes: 4 * nz + weights / 8 + (l.bias ? 4 * M : 0),
        });
        return finish(base);
      }
      if (t === undefined) {
        const none = { params: 0, additions: 0, multiplications: 0 };
        const live = removed.size === 0 ? d : keptGroups === 0 ? none : denseLinearOps({ ...l, inChannels: keptIn, outChannels: keptOut, groups: keptGroups }, hw);
        Object.assign(base, live, { nonzeros: weights, bytes: 4 * live.params, effectiveIn: keptIn, effectiveOut: keptOut });
        return finish(base);
      }
      let nonzeros: number;
      // Non-zeros of the rows that are not in removed groups (what the packed file stores).
      let keptNonzeros: number;
      let deadOut = t.deadOut ?? 0;
      if (t.assignment !== undefined) {
        if (t.assignment.length !== weights) {
          throw new ValueError('score', `layer ${l.name}: assignment has ${t.assignment.length} entries, the layer ${weights} weights`);
        }
        nonzeros = 0;
        keptNonzeros = 0;
        let dead = 0;
        const per = weights / l.outChannels;
        for (let m = 0; m < l.outChannels; m++) {
          let nz = 0;
          for (let k = m * per; k < (m + 1) * per; k++) if (t.assignment[k] !== 0) nz++;
          nonzeros += nz;
          if (removed.has(Math.floor(m / outPerGroup))) continue;
          keptNonzeros += nz;
          if (nz === 0) dead++;
        }
        if (t.deadOut === undefined) deadOut = dead;
      } else if (t.sparsity !== undefined) {
        if (!(t.sparsity >= 0 && t.sparsity <= 1)) throw new ValueError('score', `layer ${l.name}: sparsity must be in [0, 1], got ${t.sparsity}`);
        nonzeros = (1 - t.sparsity) * weights;
        keptNonzeros = (nonzeros * keptOut) / l.outChannels;
      } else {
        throw new ValueError('score', `layer ${l.name}: a ternary layer needs an assignment or a sparsity`);
      }
      const deadIn = t.deadIn ?? 0;
      positiveInt(deadIn, 'deadIn', l.name);
      positiveInt(deadOut, 'deadOut', l.name);
      const N = Math.max(0, keptIn - deadIn);
      const M = Math.max(0, keptOut - deadOut);
      const sigma = weights === 0 ? 0 : nonzeros / weights;
      // Density over the live filters: dead filters hold no non-zeros by definition.
      const liveDensity = keptOut - deadOut > 0 ? keptNonzeros / ((keptOut - deadOut) * (weights / l.outChannels)) : 0;
      const fanIn = keptGroups === 0 ? 0 : (N / keptGroups) * kernelArea(l);
      const maskBits = M * fanIn;
      const signBits = liveDensity * maskBits;
      const hasOutputs = M > 0;
      base.ternary = true;
      base.nonzeros = nonzeros;
      base.sparsity = 1 - sigma;
      base.effectiveIn = N;
      base.effectiveOut = M;
      base.params = (maskBits + signBits) / 32 + (hasOutputs ? 1 : 0) + (l.bias ? M / 2 : 0);
      base.multiplications = hasOutputs ? 2 * hw * M : 0;
      base.additions = Math.max(0, hw * (liveDensity * fanIn - 1) * M) + (l.bias ? hw * M : 0);
      base.bytes = (maskBits + signBits) / 8 + (hasOutputs ? 4 : 0) + (l.bias ? 2 * M : 0);
      return finish(base);
    }
    case 'bn': {
      const C = l.outChannels;
      base.dense = { params: 2 * C, multiplications: C * hw, additions: C * hw, flops: 0 };
      const removedCh = l.removedChannels ?? 0;
      positiveInt(removedCh, 'removedChannels', l.name);
      const kept = Math.max(0, C - removedCh);
      if (l.foldedIntoTernary) {
        const live = Math.max(0, kept - (l.deadChannels ?? 0));
        base.effectiveIn = base.effectiveOut = live;
        base.params = live / 2;
        base.additions = live * hw;
        base.bytes = 2 * live;
      } else {
        base.effectiveIn = base.effectiveOut = kept;
        base.params = 2 * kept;
        base.multiplications = kept * hw;
        base.additions = kept * hw;
        base.bytes = 8 * kept;
      }
      return finish(base);
    }
    case 'add': {
      if (options.countElementwise) base.additions = base.dense.additions = l.outChannels * hw;
      return finish(base);
    }
    case 'avgpool': {
      if (options.countElementwise) {
        const area = kernelArea(l);
        base.additions = base.dense.additions = l.outChannels * hw * (area - 1);
        base.multiplications = base.dense.multiplications = l.outChannels * hw;
      }
      return finish(base);
    }
    case 'swish':
    case 'sigmoid':
    case 'mul': {
      const n = l.outChannels * hw;
      const [mults, adds] = l.kind === 'swish' ? [3, 1] : l.kind === 'sigmoid' ? [2, 1] : [1, 0];
      base.multiplications = base.dense.multiplications = mults * n;
      base.additions = base.dense.additions = adds * n;
      return finish(base);
    }
    case 'relu':
    case 'maxpool':
      return finish(base);
    default:
      throw new ValueError('score', `layer ${l.name}: unknown kind ${String((l as ScoreLayer).kind)}; expected conv, linear, bn, relu, maxpool, avgpool, add, swish, sigmoid or mul`);
  }
}

/**
 * Scores a network: per layer and totals, plus the dense float counterpart.
 * @example scoreNetwork(resnet20Layers).flops // ≈ 81.3e6 for the dense ResNet-20
 */
export function scoreNetwork(layers: readonly ScoreLayer[], options: ScoreOptions = {}): NetworkScore {
  const scored = layers.map((l) => scoreLayer(l, options));
  const sum = (f: (s: LayerScore) => number): number => scored.reduce((a, s) => a + f(s), 0);
  const weights = sum((s) => s.weights);
  const nonzeros = sum((s) => s.nonzeros);
  const tw = sum((s) => (s.ternary ? s.weights : 0));
  const tnz = sum((s) => (s.ternary ? s.nonzeros : 0));
  return {
    params: sum((s) => s.params),
    additions: sum((s) => s.additions),
    multiplications: sum((s) => s.multiplications),
    flops: sum((s) => s.flops),
    sparsity: weights === 0 ? 0 : 1 - nonzeros / weights,
    ternarySparsity: tw === 0 ? 0 : 1 - tnz / tw,
    bytes: sum((s) => s.bytes),
    dense: {
      params: sum((s) => s.dense.params),
      additions: sum((s) => s.dense.additions),
      multiplications: sum((s) => s.dense.multiplications),
      flops: sum((s) => s.dense.flops),
    },
    layers: scored,
  };
}
