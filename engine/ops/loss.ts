/**
 * Log-softmax, softmax and cross-entropy with PyTorch semantics. Cross-entropy fuses log-softmax
 * and NLL: forward keeps the softmax, backward is (softmax − target)·scale in one pass.
 */
import { kernel } from '../../kernels/registry.js';
import { ShapeError, ValueError, fmtShape } from '../../base/errors.js';
import { Tensor, makeResult, needsGrad } from '../tensor.js';
import { exp } from './elementwise.js';
import { permute } from './movement.js';

function lastAxisLogSoftmax(x: Tensor): Tensor {
  const cols = x.ndim === 0 ? 1 : x.shape[x.ndim - 1];
  const rows = cols === 0 ? 0 : x.size / cols;
  const out = new Float32Array(x.size);
  kernel('logSoftmax', x.size)(x.data, rows, cols, out);
  return makeResult('logSoftmax', out, x.shape, [x], (g) => {
    const gx = new Float32Array(g.length);
    kernel('logSoftmaxBackward', g.length)(out, g, rows, cols, gx);
    return [gx];
  });
}

/**
 * log(softmax(x)) along `axis`, computed stably (max-shifted).
 * @example logSoftmax(logits) // [N, C]
 */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const nd = x.ndim;
  if (nd === 0) return lastAxisLogSoftmax(x);
  if (!Number.isInteger(axis) || axis < -nd || axis >= nd) throw new ValueError('logSoftmax', `axis ${axis} is out of range for shape ${fmtShape(x.shape)}`);
  const a = axis < 0 ? axis + nd : axis;
  if (a === nd - 1) return lastAxisLogSoftmax(x);
  // Move the axis last, normalise, move it back (permute is its own adjoint's inverse).
  const perm = x.shape.map((_, i) => i);
  perm.splice(a, 1);
  perm.push(a);
  const inverse = new Array<number>(nd);
  perm.forEach((p, d) => (inverse[p] = d));
  return permute(lastAxisLogSoftmax(permute(x, perm)), inverse);
}

/** softmax(x) along `axis` (= exp(logSoftmax)). @example softmax(logits, 1) */
export function softmax(x: Tensor, axis = -1): Tensor {
  return exp(logSoftmax(x, axis));
}

/** Options of {@link crossEntropy}. */
export interface CrossEntropyOptions {
  /** ε in [0, 1]: the target is (1−ε)·onehot + ε/C (PyTorch's label_smoothing). */
  labelSmoothing?: number;
  /** 'mean' over the batch (default) or 'sum'. */
  reduction?: 'mean' | 'sum';
}

function checkLabels(op: string, labels: Int32Array | readonly number[], n: number, c: number): Int32Array {
  if (labels.length !== n) throw new ShapeError(op, `got ${labels.length} labels for ${n} rows of logits; pass one class index per row`);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = labels[i];
    if (!Number.isInteger(v) || v < 0 || v >= c) throw new ValueError(op, `label ${v} at index ${i} is not a class index in [0, ${c}) (logits have C = ${c} classes)`);
    out[i] = v;
  }
  return out;
}

function checkLogits(op: string, logits: Tensor): [number, number] {
  if (logits.ndim !== 2) throw new ShapeError(op, `expected logits of shape [N, C], got ${fmtShape(logits.shape)}; flatten extra dims first`);
  return [logits.shape[0], logits.shape[1]];
}

/**
 * Cross-entropy of `logits` [N, C] against integer class `labels` (PyTorch's `F.cross_entropy`,
 * including label smoothing: (1−ε)·NLL + ε·mean over classes of −log p).
 * @example const loss = crossEntropy(model(x), batch.labels); loss.backward();
 */
export function crossEntropy(logits: Tensor, labels: Int32Array | readonly number[], opts: CrossEntropyOptions = {}): Tensor {
  const op = 'crossEntropy';
  const [n, c] = checkLogits(op, logits);
  const smoothing = opts.labelSmoothing ?? 0;
  const reduction = opts.reduction ?? 'mean';
  if (!(smoothing >= 0 && smoothing <= 1)) throw new ValueError(op, `labelSmoothing must be in [0, 1], got ${smoothing}`);
  if (reduction !== 'mean' && reduction !== 'sum') throw new ValueError(op, `reduction must be 'mean' or 'sum', got '${String(reduction)}'`);
  const lab = checkLabels(op, labels, n, c);
  const losses = new Float32Array(n);
  const probs = new Float32Array(n * c);
  kernel('softmaxCrossEntropy', n * c)(logits.data, lab, n, c, smoothing, losses, probs);
  let total = 0;
  for (let i = 0; i < n; i++) total += losses[i];
  const divisor = reduction === 'mean' ? n : 1;
  const out = new Float32Array([total / divisor]);
  const saved = needsGrad(logits) ? probs : null;
  return makeResult(op, out, [], [logits], (g) => {
    const gx = new Float32Array(n * c);
    kernel('softmaxCrossEntropyBackward', n * c)(saved!, lab, n, c, smoothing, g[0] / divisor, gx);
    return [gx];
  });
}

/**
 * Number of rows whose first maximal logit is the label (not differentiable).
 * @example correct += accuracyCount(logits, labels)
 */
export function accuracyCount(logits: Tensor, labels: Int32Array | readonly number[]): number {
  const [n, c] = checkLogits('accuracyCount', logits);
  const lab = checkLabels('accuracyCount', labels, n, c);
  const d = logits.data;
  let correct = 0;
  for (let r = 0; r < n; r++) {
    let best = 0;
    for (let j = 1; j < c; j++) if (d[r * c + j] > d[r * c + best]) best = j;
    if (best === lab[r]) correct++;
  }
  return correct;
}
