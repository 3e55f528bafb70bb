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
 * Throws a plain `Error` subclass from engine/errors via the callback-free check below; the
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
