/**
 * Reads the golden-forward fixtures that scripts/golden/ writes with PyTorch: one safetensors file
 * per network holding its state_dict under PyTorch's names and, under `golden.`, an input batch,
 * the eval-mode and train-mode logits and the BatchNorm running statistics after one train-mode
 * forward. Tests read only these committed files (CI has no PyTorch).
 *
 * Big networks keep their conv and linear weights out of the file: metadata `formula_weights` lists
 * them (key, shape, shift) and {@link formulaWeights} recomputes them exactly as the script did.
 */
import { fileURLToPath } from 'node:url';
import { loadSafetensors, entryToFloat32, entryToTensor, type SafetensorEntry } from '../../nn/safetensors.js';
import { Tensor } from '../../engine/tensor.js';
import { nmse } from './check.js';

/** One golden forward (see scripts/golden/common.py, write_forward_golden). */
export interface ForwardGolden {
  /** The file's state_dict (every tensor not under `golden.`), as loadStateDict takes it. */
  stateDict: Map<string, Tensor>;
  /** PyTorch's `state_dict().keys()` in order (metadata `state_dict_keys`). */
  stateDictKeys: string[];
  input: Tensor;
  /** Eval-mode logits and their shape. */
  logits: Float32Array;
  logitsShape: number[];
  /** Train-mode logits of the same input (batch statistics). */
  trainLogits: Float32Array;
  /**
   * The same network's eval and train logits in float64 (`golden.logits_f64`, `golden.train_logits_f64`;
   * rounded to float32 on reading, which moves an NMSE by ~1e-15), when the fixture has them.
   */
  exact?: { logits: Float32Array; trainLogits: Float32Array };
  /** BN `running_mean`/`running_var` after that train-mode forward, by state-dict key. */
  afterTrain: Map<string, Float32Array>;
  /** Eval logits of PyTorch's deliberately wrong variants (`golden.wrong.<name>`), by name. */
  wrong: Map<string, Float32Array>;
  /** Keys of the state dict recomputed by {@link formulaWeights} rather than read from the file. */
  formulaKeys: string[];
  metadata: Record<string, string>;
}

const U32 = 2 ** 32;
const MUL = 1664525;
const INC = 1013904223;
const SPREAD = 2047;

/**
 * The fixture scripts' weight formula (scripts/golden/common.py, formula_weights): element i of
 * formula tensor `index` is v / 2^shift, v = h mod 2047 − 1023, where h = (index·1000003 + i) mod
 * 2^32 passes twice through h = (h·1664525 + 1013904223) mod 2^32 and h ^= h >>> 16 (then 13).
 * @example formulaWeights(0, 432, 10) // conv1 of a CIFAR ResNet, as PyTorch computed it
 */
export function formulaWeights(index: number, numel: number, shift: number): Float32Array {
  const out = new Float32Array(numel);
  const scale = 2 ** -shift;
  for (let i = 0; i < numel; i++) {
    // NOTE: every product stays below 2^53 (h < 2^32, MUL < 2^21), so doubles are exact here.
    let h = (index * 1000003 + i) % U32;
    h = (h * MUL + INC) % U32;
    h = (h ^ (h >>> 16)) >>> 0;
    h = (h * MUL + INC) % U32;
    h = (h ^ (h >>> 13)) >>> 0;
    out[i] = ((h % SPREAD) - (SPREAD - 1) / 2) * scale;
  }
  return out;
}

function parseFormulaList(relPath: string, text: string | undefined): Array<[string, number[], number]> {
  if (text === undefined) return [];
  const list = JSON.parse(text) as unknown;
  const ok = (e: unknown): e is [string, number[], number] =>
    Array.isArray(e) && e.length === 3 && typeof e[0] === 'string' && Array.isArray(e[1]) &&
    (e[1] as unknown[]).every((d) => Number.isInteger(d) && (d as number) >= 1) && Number.isInteger(e[2]) && (e[2] as number) >= 0 && (e[2] as number) <= 24;
  if (!Array.isArray(list) || !list.every(ok)) throw new Error(`${relPath}: metadata formula_weights is not a list of [key, shape, shift]`);
  return list;
}

const PREFIX = 'golden.';

/**
 * NMSE (Σ(a−b)²/Σb², test/helpers/check.ts) allowed between ec2t and a golden forward.
 * @example expectClose(y.data, g.logits, GOLDEN_NMSE_BOUND, 'eval logits');
 */
// NOTE: both sides compute in float32 from the same float16-exact values but sum in different
// orders (PyTorch's oneDNN/im2col kernels vs ours), so results differ by accumulated float32
// rounding (2^-24 ≈ 6e-8 per operation). Measured NMSE (Σ(a−b)²/Σb²): eval logits 4.4e-14
// (LeNet-5, max|Δ|/max|ref| 2.6e-7) and 6.2e-14 (ResNet-20, 2.5e-7), train-mode logits 1.5e-13,
// running statistics ≤ 5.5e-15. 1e-12 keeps a margin of ≥ 6.7 and fails on a BN ε left out of the
// eval forward (ResNet-20 NMSE 1.4e-9) or a biased running variance.
export const GOLDEN_NMSE_BOUND = 1e-12;

/**
 * How many times further from the float64 logits than PyTorch's own float32 logits ec2t may be.
 * @example expectClose(y.data, g.exact!.logits, goldenBound(g, 'eval'), 'eval logits');
 */
// NOTE: deep or wide networks with BatchNorm amplify float32 rounding beyond GOLDEN_NMSE_BOUND in
// PyTorch itself: its float32 logits are NMSE 4.5e-11 from float64 for MobileNetV2 at 64 px (eval)
// and 1.5e-9 in train mode (batch statistics of 2×2 maps at batch 2). Measured ec2t/PyTorch ratios of
// those distances from float64: at most 2.5 (ResNet-18 eval: 6.3e-12 vs 2.5e-12); 8 keeps a margin of
// 3 while the wrong variants of every fixture sit at NMSE ≥ 0.42.
export const FLOAT32_ERROR_FACTOR = 8;

/**
 * NMSE allowed between ec2t's logits and the fixture's float64 logits: {@link GOLDEN_NMSE_BOUND},
 * or {@link FLOAT32_ERROR_FACTOR} times PyTorch's own float32 distance from them when that is larger.
 * Throws when the fixture has no float64 logits.
 * @example goldenBound(loadForwardGolden('nn/fixtures/resnet56-golden.safetensors'), 'train')
 */
export function goldenBound(g: ForwardGolden, mode: 'eval' | 'train'): number {
  if (g.exact === undefined) throw new Error(`fixture ${g.metadata.model ?? '?'} has no float64 logits`);
  const float32 = mode === 'eval' ? nmse(g.logits, g.exact.logits) : nmse(g.trainLogits, g.exact.trainLogits);
  return Math.max(GOLDEN_NMSE_BOUND, FLOAT32_ERROR_FACTOR * float32);
}

/**
 * Loads `test/<relPath>` (relative to the repository's test folder) as a {@link ForwardGolden}.
 * @example const g = loadForwardGolden('nn/fixtures/resnet20-golden.safetensors');
 */
export function loadForwardGolden(relPath: string): ForwardGolden {
  const file = loadSafetensors(fileURLToPath(new URL(`../../../test/${relPath}`, import.meta.url)));
  const stateDict = new Map<string, Tensor>();
  const afterTrain = new Map<string, Float32Array>();
  const wrong = new Map<string, Float32Array>();
  for (const [k, e] of file.tensors) {
    if (!k.startsWith(PREFIX)) stateDict.set(k, entryToTensor(e));
    else if (k.startsWith(`${PREFIX}after_train.`)) afterTrain.set(k.slice(`${PREFIX}after_train.`.length), entryToFloat32(e));
    else if (k.startsWith(`${PREFIX}wrong.`)) wrong.set(k.slice(`${PREFIX}wrong.`.length), entryToFloat32(e));
  }
  const formula = parseFormulaList(relPath, file.metadata.formula_weights);
  formula.forEach(([key, shape, shift], index) => {
    if (stateDict.has(key)) throw new Error(`${relPath}: ${key} is both stored and a formula weight`);
    const numel = shape.reduce((a, b) => a * b, 1);
    // A bound far above any zoo layer (ResNet-18's largest conv has 2.4M weights) before allocating.
    if (numel > 1 << 26) throw new Error(`${relPath}: formula weight ${key} has ${numel} elements (at most ${1 << 26})`);
    stateDict.set(key, new Tensor(formulaWeights(index, numel, shift), shape));
  });
  const get = (name: string): SafetensorEntry => {
    const e = file.tensors.get(PREFIX + name);
    if (e === undefined) throw new Error(`${relPath}: no tensor ${PREFIX}${name}`);
    return e;
  };
  const logits = get('logits');
  return {
    stateDict,
    stateDictKeys: JSON.parse(file.metadata.state_dict_keys ?? '[]') as string[],
    input: entryToTensor(get('input')),
    logits: entryToFloat32(logits),
    logitsShape: [...logits.shape],
    trainLogits: entryToFloat32(get('train_logits')),
    exact: file.tensors.has(`${PREFIX}logits_f64`) ? { logits: entryToFloat32(get('logits_f64')), trainLogits: entryToFloat32(get('train_logits_f64')) } : undefined,
    afterTrain,
    wrong,
    formulaKeys: formula.map(([key]) => key),
    metadata: file.metadata,
  };
}
