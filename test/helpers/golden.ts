/**
 * Reads the golden-forward fixtures that scripts/golden/ writes with PyTorch: one safetensors file
 * per network holding its state_dict under PyTorch's names and, under `golden.`, an input batch,
 * the eval-mode and train-mode logits and the BatchNorm running statistics after one train-mode
 * forward. Tests read only these committed files (CI has no PyTorch).
 */
import { fileURLToPath } from 'node:url';
import { loadSafetensors, entryToFloat32, entryToTensor, type SafetensorEntry } from '../../nn/safetensors.js';
import type { Tensor } from '../../engine/tensor.js';

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
  /** BN `running_mean`/`running_var` after that train-mode forward, by state-dict key. */
  afterTrain: Map<string, Float32Array>;
  metadata: Record<string, string>;
}

const PREFIX = 'golden.';

/**
 * Loads `test/<relPath>` (relative to the repository's test folder) as a {@link ForwardGolden}.
 * @example const g = loadForwardGolden('nn/fixtures/resnet20-golden.safetensors');
 */
export function loadForwardGolden(relPath: string): ForwardGolden {
  const file = loadSafetensors(fileURLToPath(new URL(`../../../test/${relPath}`, import.meta.url)));
  const stateDict = new Map<string, Tensor>();
  const afterTrain = new Map<string, Float32Array>();
  for (const [k, e] of file.tensors) {
    if (!k.startsWith(PREFIX)) stateDict.set(k, entryToTensor(e));
    else if (k.startsWith(`${PREFIX}after_train.`)) afterTrain.set(k.slice(`${PREFIX}after_train.`.length), entryToFloat32(e));
  }
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
    afterTrain,
    metadata: file.metadata,
  };
}
