/**
 * Kernel signatures: pure functions over `Float32Array`s and plain geometry objects. Kernels know
 * nothing about tensors or gradients; every kernel writes every element of its output (outputs are
 * poisoned with NaN in tests, so an unwritten element fails).
 *
 * Layouts: activations NCHW, conv weights [outChannels, inChannels/groups, kernelH, kernelW],
 * matrices row-major.
 */

/** Geometry of a 2-D convolution in NCHW. `outHeight`/`outWidth` follow PyTorch's formula. */
export interface Conv2dGeometry {
  readonly batch: number;
  readonly inChannels: number;
  readonly inHeight: number;
  readonly inWidth: number;
  readonly outChannels: number;
  readonly kernelHeight: number;
  readonly kernelWidth: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly padH: number;
  readonly padW: number;
  readonly dilationH: number;
  readonly dilationW: number;
  readonly groups: number;
  readonly outHeight: number;
  readonly outWidth: number;
}

/** Options accepted by {@link conv2dGeometry}; scalars apply to both spatial dims. */
export interface Conv2dOptions {
  stride?: number | readonly [number, number];
  padding?: number | readonly [number, number];
  dilation?: number | readonly [number, number];
  groups?: number;
}

/**
 * Batched matrix product `out[b] = op(A[b]) · op(B[b])` with `op` an optional transpose.
 * `A` is `[batchA, m, k]` (or `[batchA, k, m]` when `transA`), `B` is `[batchB, k, n]`
 * (or `[batchB, n, k]` when `transB`); `batchA`/`batchB` are either `batch` or 1 (broadcast).
 */
export interface MatmulGeometry {
  readonly batch: number;
  readonly m: number;
  readonly k: number;
  readonly n: number;
  readonly transA: boolean;
  readonly transB: boolean;
  readonly batchA: number;
  readonly batchB: number;
}

/** Geometry of 2-D max/average pooling in NCHW (no dilation; `countIncludePad` as PyTorch's AvgPool2d). */
export interface Pool2dGeometry {
  readonly batch: number;
  readonly channels: number;
  readonly inHeight: number;
  readonly inWidth: number;
  readonly kernelHeight: number;
  readonly kernelWidth: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly padH: number;
  readonly padW: number;
  readonly outHeight: number;
  readonly outWidth: number;
  readonly countIncludePad: boolean;
}

/** y = conv(x, w) + bias; `bias` may be null. */
export type Conv2dForwardKernel = (
  x: Float32Array,
  weight: Float32Array,
  bias: Float32Array | null,
  out: Float32Array,
  g: Conv2dGeometry,
) => void;
/** gradX = conv_transpose(gradOut, w); overwrites gradX. */
export type Conv2dBackwardInputKernel = (gradOut: Float32Array, weight: Float32Array, gradX: Float32Array, g: Conv2dGeometry) => void;
/** gradW = correlate(x, gradOut); overwrites gradW. */
export type Conv2dBackwardWeightKernel = (x: Float32Array, gradOut: Float32Array, gradW: Float32Array, g: Conv2dGeometry) => void;
/** out = op(A)·op(B), batched; overwrites out. */
export type MatmulKernel = (a: Float32Array, b: Float32Array, out: Float32Array, g: MatmulGeometry) => void;
/** Max pooling; writes the flat input index of each maximum into `argmax` (first max wins on ties). */
export type MaxPool2dForwardKernel = (x: Float32Array, out: Float32Array, argmax: Int32Array, g: Pool2dGeometry) => void;
/** Scatters gradOut into gradX through `argmax`; overwrites gradX. */
export type MaxPool2dBackwardKernel = (gradOut: Float32Array, argmax: Int32Array, gradX: Float32Array, g: Pool2dGeometry) => void;
export type AvgPool2dForwardKernel = (x: Float32Array, out: Float32Array, g: Pool2dGeometry) => void;
export type AvgPool2dBackwardKernel = (gradOut: Float32Array, gradX: Float32Array, g: Pool2dGeometry) => void;

/** Batch norm over x viewed as `[batch, channels, spatial]` (spatial = H·W, or 1 for `[N, C]`). */
export interface BatchNormGeometry {
  readonly batch: number;
  readonly channels: number;
  readonly spatial: number;
}
/**
 * Training-mode batch norm: per channel, mean and biased variance over batch×spatial, then
 * out = (x − mean)/√(var + eps)·weight + bias (weight/bias null = 1/0). Writes `saveMean` and
 * `saveVar` (biased) per channel; overwrites out.
 */
export type BatchNormForwardTrainKernel = (
  x: Float32Array,
  weight: Float32Array | null,
  bias: Float32Array | null,
  eps: number,
  out: Float32Array,
  saveMean: Float32Array,
  saveVar: Float32Array,
  g: BatchNormGeometry,
) => void;
/** Evaluation-mode batch norm with fixed statistics: out = (x − mean)·invstd·weight + bias; overwrites out. */
export type BatchNormForwardEvalKernel = (
  x: Float32Array,
  weight: Float32Array | null,
  bias: Float32Array | null,
  mean: Float32Array,
  invstd: Float32Array,
  out: Float32Array,
  g: BatchNormGeometry,
) => void;
/**
 * Batch-norm gradients given the statistics used in forward (`invstd` = 1/√(var + eps)).
 * `batchStats` true: mean/invstd were computed from this batch (their dependence on x is
 * differentiated); false: they were constants (running stats). Any of gradX/gradWeight/gradBias
 * may be null (not wanted); each non-null one is overwritten.
 */
export type BatchNormBackwardKernel = (
  x: Float32Array,
  gradOut: Float32Array,
  weight: Float32Array | null,
  mean: Float32Array,
  invstd: Float32Array,
  batchStats: boolean,
  gradX: Float32Array | null,
  gradWeight: Float32Array | null,
  gradBias: Float32Array | null,
  g: BatchNormGeometry,
) => void;

// ---------------------------------------------------------------- elementwise, reduce, movement, loss
// Shapes are plain number arrays; "strides" are element strides of an input laid over the output
// shape (one per output dim, 0 where the input is broadcast).

/** Unary elementwise ops. `swish` is x·sigmoid(x) (a.k.a. SiLU). */
export type UnaryOp = 'neg' | 'exp' | 'log' | 'sqrt' | 'abs' | 'relu' | 'relu6' | 'sigmoid' | 'tanh' | 'swish';
/** Binary elementwise ops with broadcasting. */
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum';

/** out[i] = op(x[i]); overwrites out (same length as x). */
export type UnaryKernel = (op: UnaryOp, x: Float32Array, out: Float32Array) => void;
/** gradX[i] = gradOut[i]·op'(x[i]) given the forward output y; overwrites gradX. Kinks take the PyTorch side (relu'(0)=0). */
export type UnaryBackwardKernel = (op: UnaryOp, x: Float32Array, y: Float32Array, gradOut: Float32Array, gradX: Float32Array) => void;
/** out = op(a, b) over `outShape`, a and b read through broadcast strides; overwrites out. */
export type BinaryKernel = (
  op: BinaryOp,
  a: Float32Array,
  aStrides: readonly number[],
  b: Float32Array,
  bStrides: readonly number[],
  out: Float32Array,
  outShape: readonly number[],
) => void;
/**
 * Per-output-element gradients of a broadcast binary op: gradA[i] = gradOut[i]·∂y/∂a, gradB likewise,
 * both laid out in `outShape` (the engine sums them down to the input shapes); either may be null.
 * Ties of maximum/minimum split the gradient in halves (PyTorch).
 */
export type BinaryBackwardKernel = (
  op: BinaryOp,
  a: Float32Array,
  aStrides: readonly number[],
  b: Float32Array,
  bStrides: readonly number[],
  y: Float32Array,
  gradOut: Float32Array,
  gradA: Float32Array | null,
  gradB: Float32Array | null,
  outShape: readonly number[],
) => void;
/** out = x broadcast to `outShape` through `xStrides`; overwrites out. */
export type ExpandKernel = (x: Float32Array, xStrides: readonly number[], out: Float32Array, outShape: readonly number[]) => void;
/** out = sum of x (shape `shape`) over `axes` (sorted, unique, non-negative); out has the kept dims' size. */
export type ReduceSumKernel = (x: Float32Array, shape: readonly number[], axes: readonly number[], out: Float32Array) => void;
/** out = max over `axes`; argmax[i] = flat index into x of the first maximum. */
export type ReduceMaxKernel = (x: Float32Array, shape: readonly number[], axes: readonly number[], out: Float32Array, argmax: Int32Array) => void;
/** gradX = 0, then gradX[index[i]] += gradOut[i]. */
export type ScatterAddKernel = (gradOut: Float32Array, index: Int32Array, gradX: Float32Array) => void;
/** out = x permuted: out dim d is x dim perm[d]. */
export type PermuteKernel = (x: Float32Array, shape: readonly number[], perm: readonly number[], out: Float32Array) => void;
/** out = x padded per dim with [before, after] (non-negative) filled with `value`. */
export type PadKernel = (x: Float32Array, shape: readonly number[], pads: readonly (readonly [number, number])[], value: number, out: Float32Array) => void;
/** out[idx] = x[starts + idx·steps] per dim (steps positive). */
export type SliceKernel = (
  x: Float32Array,
  shape: readonly number[],
  starts: readonly number[],
  steps: readonly number[],
  out: Float32Array,
  outShape: readonly number[],
) => void;
/** gradX = 0, then gradX[starts + idx·steps] = gradOut[idx]: the adjoint of {@link SliceKernel}. */
export type SliceBackwardKernel = (
  gradOut: Float32Array,
  outShape: readonly number[],
  starts: readonly number[],
  steps: readonly number[],
  gradX: Float32Array,
  xShape: readonly number[],
) => void;
/** Concatenates parts viewed as [outer, widths[i]] along the second dim into out [outer, Σwidths]. */
export type ConcatKernel = (parts: readonly Float32Array[], outer: number, widths: readonly number[], out: Float32Array) => void;
/** out = log_softmax over the last dim of x viewed as [rows, cols] (max-shifted). */
export type LogSoftmaxKernel = (x: Float32Array, rows: number, cols: number, out: Float32Array) => void;
/** gradX = gradOut − exp(y)·Σ_row gradOut, with y the log-softmax output. */
export type LogSoftmaxBackwardKernel = (y: Float32Array, gradOut: Float32Array, rows: number, cols: number, gradX: Float32Array) => void;
/**
 * Fused softmax + cross-entropy against integer labels with label smoothing ε (PyTorch):
 * losses[r] = −Σ_c q_c·logp_c with q = (1−ε)·onehot + ε/C; probs = softmax(logits) (saved for backward).
 */
export type SoftmaxCrossEntropyKernel = (
  logits: Float32Array,
  labels: Int32Array,
  rows: number,
  cols: number,
  smoothing: number,
  losses: Float32Array,
  probs: Float32Array,
) => void;
/** gradX = gradScale·(probs − q) per row: the fused logSoftmax+NLL backward; overwrites gradX. */
export type SoftmaxCrossEntropyBackwardKernel = (
  probs: Float32Array,
  labels: Int32Array,
  rows: number,
  cols: number,
  smoothing: number,
  gradScale: number,
  gradX: Float32Array,
) => void;

// ---------------------------------------------------------------- ternary (kernels/ternary/)

/**
 * A ternary layer ready for the kernels (built from bitmasks or an assignment by
 * kernels/ternary/layer.ts): `W[m, tap] = w_p` for taps in P(m), `−w_n` in N(m), else 0.
 */
export interface TernaryLayer {
  readonly outChannels: number;
  /** Weight dim 1: input channels per group (conv) or input features (linear). */
  readonly inPerGroup: number;
  readonly kernelHeight: number;
  readonly kernelWidth: number;
  /** Positive centroid magnitude (`+w_p` weights). */
  readonly wp: number;
  /** Negative centroid magnitude (weights are `−w_n`). */
  readonly wn: number;
  /** Taps of output m with weight +w_p: `posTaps[posStart[m] .. posStart[m+1])`, ascending. */
  readonly posStart: Int32Array;
  readonly posTaps: Int32Array;
  /** Taps of output m with weight −w_n: `negTaps[negStart[m] .. negStart[m+1])`, ascending. */
  readonly negStart: Int32Array;
  readonly negTaps: Int32Array;
  /**
   * Per output channel centroids (a folded per-channel scale, the packed runtime's batch norm):
   * output m is `channelWp[m]·Σ_P x − channelWn[m]·Σ_N x + bias[m]`, replacing `wp`/`wn`. Only the
   * cpu/wasm ternary kernels and the integer kernels take them (see {@link withChannelCentroids}).
   */
  readonly channelWp?: Float32Array;
  readonly channelWn?: Float32Array;
}

/**
 * The layer with per-channel centroids `f32(scale[m]·wp)`, `f32(scale[m]·wn)` (same taps).
 * @example const l = withChannelCentroids(layer, bnScale);
 */
export function withChannelCentroids(layer: TernaryLayer, scale: ArrayLike<number>): TernaryLayer {
  const M = layer.outChannels;
  return {
    ...layer,
    channelWp: Float32Array.from({ length: M }, (_, m) => scale[m] * layer.wp),
    channelWn: Float32Array.from({ length: M }, (_, m) => scale[m] * layer.wn),
  };
}

/**
 * Ternary conv: out = w_p·Σ_P x − w_n·Σ_N x + bias per output (additions plus two multiplications);
 * the layer is the preprocessed form of the bitmasks ({@link TernaryLayer}). Overwrites out.
 */
export type TernaryConv2dKernel = (
  x: Float32Array,
  layer: TernaryLayer,
  bias: Float32Array | null,
  out: Float32Array,
  g: Conv2dGeometry,
) => void;
/** Ternary linear: x [batch, in] → out [batch, out], batch = x.length / in. Overwrites out. */
export type TernaryLinearKernel = (
  x: Float32Array,
  layer: TernaryLayer,
  bias: Float32Array | null,
  out: Float32Array,
) => void;

/**
 * The registry's map from op name to kernel type. Op families add their entries here; the
 * registry is typed by it so a kernel of the wrong shape cannot be registered.
 */
export interface KernelMap {
  conv2dForward: Conv2dForwardKernel;
  conv2dBackwardInput: Conv2dBackwardInputKernel;
  conv2dBackwardWeight: Conv2dBackwardWeightKernel;
  matmul: MatmulKernel;
  maxPool2dForward: MaxPool2dForwardKernel;
  maxPool2dBackward: MaxPool2dBackwardKernel;
  avgPool2dForward: AvgPool2dForwardKernel;
  avgPool2dBackward: AvgPool2dBackwardKernel;
  batchNormForwardTrain: BatchNormForwardTrainKernel;
  batchNormForwardEval: BatchNormForwardEvalKernel;
  batchNormBackward: BatchNormBackwardKernel;
  // elementwise, reduce, movement, loss (kernels/{reference,cpu}/{elementwise,reduce,movement,loss}.ts)
  unary: UnaryKernel;
  unaryBackward: UnaryBackwardKernel;
  binary: BinaryKernel;
  binaryBackward: BinaryBackwardKernel;
  expand: ExpandKernel;
  reduceSum: ReduceSumKernel;
  reduceMax: ReduceMaxKernel;
  scatterAdd: ScatterAddKernel;
  permute: PermuteKernel;
  pad: PadKernel;
  slice: SliceKernel;
  sliceBackward: SliceBackwardKernel;
  concat: ConcatKernel;
  logSoftmax: LogSoftmaxKernel;
  logSoftmaxBackward: LogSoftmaxBackwardKernel;
  softmaxCrossEntropy: SoftmaxCrossEntropyKernel;
  softmaxCrossEntropyBackward: SoftmaxCrossEntropyBackwardKernel;
  // ternary deployment (kernels/ternary/, backend 'ternary'; registered by kernels/ternary/index.ts)
  ternaryConv2d: TernaryConv2dKernel;
  ternaryLinear: TernaryLinearKernel;
}

export type KernelName = keyof KernelMap;

/** Backends a kernel can come from. `reference` is the float64 spec every other backend is tested against. */
export type Backend = 'reference' | 'cpu' | 'gpujs' | 'ternary';

/** What a user may ask for: a concrete backend or `auto` (fastest measured here). */
export type BackendChoice = 'auto' | 'reference' | 'cpu' | 'gpujs';

function pair(v: number | readonly [number, number] | undefined, dflt: number): [number, number] {
  if (v === undefined) return [dflt, dflt];
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

/** Output size of one spatial dim, PyTorch's formula. */
export function convOutSize(inSize: number, kernel: number, stride: number, pad: number, dilation: number): number {
  return Math.floor((inSize + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1;
}

/**
 * Builds a validated {@link Conv2dGeometry} from NCHW input and OIHW weight shapes.
 * Throws a plain `Error` subclass from base/errors via the callback-free check below; the
 * engine wraps it with the op name.
 * @example conv2dGeometry([32, 16, 32, 32], [16, 16, 3, 3], { padding: 1 }).outHeight // 32
 */
export function conv2dGeometry(
  xShape: readonly number[],
  wShape: readonly number[],
  opts: Conv2dOptions = {},
): Conv2dGeometry {
  const [strideH, strideW] = pair(opts.stride, 1);
  const [padH, padW] = pair(opts.padding, 0);
  const [dilationH, dilationW] = pair(opts.dilation, 1);
  const groups = opts.groups ?? 1;
  const [batch, inChannels, inHeight, inWidth] = xShape;
  const [outChannels, , kernelHeight, kernelWidth] = wShape;
  const outHeight = convOutSize(inHeight, kernelHeight, strideH, padH, dilationH);
  const outWidth = convOutSize(inWidth, kernelWidth, strideW, padW, dilationW);
  return {
    batch, inChannels, inHeight, inWidth, outChannels, kernelHeight, kernelWidth,
    strideH, strideW, padH, padW, dilationH, dilationW, groups, outHeight, outWidth,
  };
}
