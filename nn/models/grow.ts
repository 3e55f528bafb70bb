/**
 * Warm start of a compound-scaled MicroNet from a trained smaller one (beyond the paper, docs/METHOD.md §1):
 * copy every weight that maps, make everything new start as a no-op, so the grown network first
 * computes exactly what the small one computed and training continues from there.
 *
 * What "maps" means, key by key over the big network's state dict (PyTorch names):
 * - **same key, same shape** → copied as is (convs, BN weight/bias/running stats,
 *   `num_batches_tracked`, the linear layer);
 * - **same key, same rank, every dimension at least as large** (the big network is wider) → the
 *   small values go into the leading slice: conv `[out, in, k, k]` into `[0:out, 0:in]`, BN vectors
 *   into `[0:C]`, linear `[classes, C3]` into `[:, 0:C3]`. Kernel sizes, input channels of the stem
 *   and the number of classes must be equal. The rest of the tensor keeps the big network's own
 *   initialisation, except that every BatchNorm's **new channels get γ = β = 0** (running mean 0,
 *   running var 1): a BN with γ = β = 0 outputs exactly 0 whatever its input, so every new channel
 *   of the residual stream and inside each block is exactly 0, and the new weights that read from
 *   new channels multiply zeros. The leading channels therefore compute what the small network
 *   computed, and the output equals the small network's (eval mode; also train mode's batch
 *   statistics on the leading channels). At the first steps only the new γ, β receive gradient (the
 *   new convs see zero inputs or feed a zero γ); once γ moves the new channels learn — their random
 *   weights break the symmetry;
 * - **a key the small network does not have** must belong to a **new block** `layerS.I` with `I ≥`
 *   the small network's blocks per stage: the block keeps its own initialisation except its last BN
 *   (`bn3`), whose γ and β are set to 0, so the residual branch outputs 0 and the block (stride 1,
 *   identity shortcut — always the case past block 0) is the identity;
 * - anything else — a key of the small network missing in the big one (it is deeper or wider than
 *   the big one), a dimension that shrinks, different kernel sizes, classes or input channels —
 *   is an error listing every problem.
 */
import { ValueError } from '../../base/errors.js';
import type { Tensor } from '../../engine/tensor.js';
import { Module, type StateDictInput, type TensorLike } from '../module.js';
import { MicroNet } from './micronet.js';

/** What {@link growMicroNet} did, key by key. */
export interface GrowReport {
  /** Keys copied whole (same shape). */
  readonly copied: string[];
  /** Keys whose small values went into the leading slice of a larger tensor. */
  readonly widened: string[];
  /** New blocks (`layer2.3`) made identities through their `bn3` γ = β = 0. */
  readonly newBlocks: string[];
}

const BLOCK_KEY = /^(layer[123]\.(\d+))\./;

function entriesOf(dict: StateDictInput): Map<string, TensorLike> {
  return dict instanceof Map ? new Map(dict) : new Map(Object.entries(dict as Record<string, TensorLike>));
}

/** Copies `src` (shape `s`) into the leading box of `dst` (shape `b`, same rank, `b[i] ≥ s[i]`). */
function copyLeading(dst: Float32Array, b: readonly number[], src: TensorLike['data'], s: readonly number[]): void {
  const rank = s.length;
  const srcArr = src as ArrayLike<number | bigint>;
  const total = s.reduce((a, x) => a * x, 1);
  const idx = new Array<number>(rank).fill(0);
  for (let n = 0; n < total; n++) {
    let off = 0;
    for (let d = 0; d < rank; d++) off = off * b[d] + idx[d];
    dst[off] = Number(srcArr[n]);
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d] < s[d]) break;
      idx[d] = 0;
    }
  }
}

function isBatchNormVector(key: string): 'weight' | 'bias' | 'running_mean' | 'running_var' | null {
  // BN entries in MicroNet: bn1, bnN inside blocks, and shortcut.1; all are 1-D per-channel vectors.
  const m = /(?:^|\.)(?:bn\d|shortcut\.1)\.(weight|bias|running_mean|running_var)$/.exec(key);
  return m === null ? null : (m[1] as 'weight' | 'bias' | 'running_mean' | 'running_var');
}

/**
 * Grows `big` in place from a smaller MicroNet (a module or its state dict): copies every weight
 * that maps, gives every BN's new channels γ = β = 0 and makes every new block the identity (see
 * the file comment for the exact rules). Afterwards `big` computes what `small` computed.
 * @throws ValueError listing every key that does not map
 * @example
 * const big = new MicroNet({ rng, numClasses: 10, depth: 0.28, width: 0.75 });
 * growMicroNet(trainedSmall, big); // big(x) == trainedSmall(x) in eval mode
 */
export function growMicroNet(small: MicroNet | StateDictInput, big: MicroNet): GrowReport {
  const src = small instanceof Module ? small.stateDict() : entriesOf(small);
  const dst = big.stateDict();
  const blocksOf = (keys: Iterable<string>): Set<string> => {
    const out = new Set<string>();
    for (const k of keys) {
      const m = BLOCK_KEY.exec(k);
      if (m !== null) out.add(m[1]);
    }
    return out;
  };
  const smallBlocks = blocksOf(src.keys());
  if (!src.has('conv1.weight') || !src.has('linear.weight') || smallBlocks.size === 0) {
    throw new ValueError('growMicroNet', `the small network is not a MicroNet state dict (expected conv1.weight, layer1.0.*, linear.weight; got ${[...src.keys()].slice(0, 5).join(', ')}${src.size > 5 ? ', ...' : ''})`);
  }
  const problems: string[] = [];
  const missing = [...src.keys()].filter((k) => !dst.has(k));
  if (missing.length > 0) {
    problems.push(`the big network has no ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` (and ${missing.length - 3} more)` : ''} (is the small one deeper?)`);
  }
  const copied: string[] = [];
  const widened: string[] = [];
  const newBlocks = new Set<string>();
  const plan: Array<() => void> = [];
  for (const [key, t] of dst) {
    const s = src.get(key);
    if (s === undefined) {
      const m = BLOCK_KEY.exec(key);
      if (m !== null && !smallBlocks.has(m[1])) {
        newBlocks.add(m[1]);
        continue;
      }
      // num_batches_tracked is optional in checkpoints (loadStateDict treats it the same way).
      if (key.endsWith('.num_batches_tracked')) continue;
      problems.push(`${key}: absent from the small network but not part of a new block`);
      continue;
    }
    const bs = t.shape;
    const ss = s.shape.length === 1 && s.shape[0] === 1 && bs.length === 0 ? [] : s.shape;
    if (ss.length !== bs.length) {
      problems.push(`${key}: rank ${ss.length} in the small network, ${bs.length} in the big one`);
      continue;
    }
    if (ss.every((x, i) => x === bs[i])) {
      plan.push(() => copyLeading(t.data, bs, s.data, ss));
      copied.push(key);
      continue;
    }
    // Dimensions that are not channel counts must agree: kernel sizes, stem input, classes.
    const fixed: number[] = bs.length === 4 ? [2, 3] : [];
    if (key === 'conv1.weight') fixed.push(1);
    if (key === 'linear.weight' || key === 'linear.bias') fixed.push(0);
    const bad = ss.some((x, i) => x > bs[i] || (fixed.includes(i) && x !== bs[i]));
    if (bad) {
      problems.push(`${key}: shape [${ss.join(', ')}] in the small network does not fit in [${bs.join(', ')}]`);
      continue;
    }
    const bn = isBatchNormVector(key);
    plan.push(() => {
      if (bn === 'weight' || bn === 'bias' || bn === 'running_mean') t.data.fill(0);
      else if (bn === 'running_var') t.data.fill(1);
      copyLeading(t.data, bs, s.data, ss);
    });
    widened.push(key);
  }
  if (problems.length > 0) {
    const layout = (m: MicroNet): string => `${m.blocksPerStage} blocks/stage, channels [${m.stageChannels.join(', ')}]`;
    const shapes = small instanceof MicroNet ? ` (small: ${layout(small)}; big: ${layout(big)})` : ` (big: ${layout(big)})`;
    const shown = problems.slice(0, 4).join('; ') + (problems.length > 4 ? `; and ${problems.length - 4} more` : '');
    throw new ValueError('growMicroNet', `the small network does not map into the big one${shapes}: ${shown}. The big network must be at least as deep and as wide, with the same input channels and classes`);
  }
  for (const apply of plan) apply();
  for (const b of newBlocks) {
    const bn3 = big.getSubmodule(`${b}.bn3`) as unknown as { weight: Tensor; bias: Tensor };
    const block = big.getSubmodule(b) as unknown as { shortcut: unknown };
    if (block.shortcut !== null) throw new ValueError('growMicroNet', `new block ${b} has a projection shortcut; it cannot be made the identity`);
    bn3.weight.data.fill(0);
    bn3.bias.data.fill(0);
  }
  return { copied, widened, newBlocks: [...newBlocks] };
}

