/**
 * Layers: modules that own parameters/buffers and compose engine ops. Attribute names are
 * PyTorch's (`weight`, `bias`, `running_mean`, `running_var`, `num_batches_tracked`), so state-dict
 * keys match torch.nn; default initialisation is PyTorch's, drawn from an explicit {@link Rng}.
 */
import {
  ShapeError, ValueError, fmtShape,
  avgPool2d, batchNorm, conv2d, conv2dPadded, dropout, samePadding, flatten, globalAvgPool2d, linear, maxPool2d, relu, relu6, reshape, sigmoid, silu,
} from '../engine/index.js';
import type { Rng } from '../base/rng.js';
import type { Tensor } from '../engine/tensor.js';
import * as init from './init.js';
import { BufferTensor, Module, Parameter } from './module.js';

function checkPositiveInt(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new ValueError(op, `${name} must be a positive integer, got ${v}`);
}

function checkNonNegativeInt(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0) throw new ValueError(op, `${name} must be an integer >= 0, got ${v}`);
}

/** PyTorch's default weight/bias init for Conv2d and Linear: weight `kaiming_uniform(a=√5)` = U(±1/√fanIn), bias U(±1/√fanIn). */
function resetLinearLike(weight: Parameter, bias: Parameter | null, rng: Rng): void {
  init.kaimingUniform(weight, rng, { a: Math.sqrt(5) });
  if (bias !== null) {
    const { fanIn } = init.fans(weight.shape);
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    init.uniform(bias, -bound, bound, rng);
  }
}

// ---------------------------------------------------------------------------- Conv2d

/** Options of {@link Conv2d}. */
export interface Conv2dLayerOptions {
  /** Draws PyTorch's default initialisation. */
  rng: Rng;
  stride?: number;
  padding?: number;
  dilation?: number;
  groups?: number;
  /** Learnable bias (default true). */
  bias?: boolean;
}

/**
 * 2-D convolution over NCHW input; weight `[outC, inC/groups, k, k]` (OIHW).
 * `weightFn`, when set, supplies the weight the forward computes with instead of `weight`: EC2T
 * plugs its ternary weights in this way while `weight` stays the full-precision background copy.
 * @example const conv = new Conv2d(3, 16, 3, { rng, padding: 1, bias: false });
 */
export class Conv2d extends Module {
  weight: Parameter;
  bias: Parameter | null;
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number;
  readonly stride: number;
  readonly padding: number;
  readonly dilation: number;
  readonly groups: number;
  /** Replacement weight for the forward (ternary `Wt`); null = use `weight`. */
  weightFn: (() => Tensor) | null = null;

  constructor(inChannels: number, outChannels: number, kernelSize: number, options: Conv2dLayerOptions) {
    super();
    const { stride = 1, padding = 0, dilation = 1, groups = 1, bias = true, rng } = options;
    checkPositiveInt('Conv2d', 'inChannels', inChannels);
    checkPositiveInt('Conv2d', 'outChannels', outChannels);
    checkPositiveInt('Conv2d', 'kernelSize', kernelSize);
    checkPositiveInt('Conv2d', 'stride', stride);
    checkNonNegativeInt('Conv2d', 'padding', padding);
    checkPositiveInt('Conv2d', 'dilation', dilation);
    checkPositiveInt('Conv2d', 'groups', groups);
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new ValueError('Conv2d', `inChannels (${inChannels}) and outChannels (${outChannels}) must both be divisible by groups (${groups})`);
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = kernelSize;
    this.stride = stride;
    this.padding = padding;
    this.dilation = dilation;
    this.groups = groups;
    const shape = [outChannels, inChannels / groups, kernelSize, kernelSize];
    this.weight = new Parameter(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
    this.bias = bias ? new Parameter(new Float32Array(outChannels), [outChannels]) : null;
    resetLinearLike(this.weight, this.bias, rng);
  }

  /** The weight the forward uses: `weightFn()` when set, else `weight`. */
  effectiveWeight(): Tensor {
    return this.weightFn !== null ? this.weightFn() : this.weight;
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.effectiveWeight(), this.bias, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
    });
  }
}

/** Options of {@link Conv2dSame}: a {@link Conv2d}'s, with the image size the padding is computed for instead of a padding. */
export interface Conv2dSameOptions extends Omit<Conv2dLayerOptions, 'padding'> {
  /** Square side the "same" padding is computed for (EfficientNet: the network's input size, for every conv). */
  imageSize: number;
}

/**
 * A {@link Conv2d} with TensorFlow "same" padding computed once for a fixed image size, as
 * EfficientNet-PyTorch's `Conv2dStaticSamePadding` (the EfficientNet code the EC2T authors use):
 * the pads come from `imageSize`, not from the tensor the conv sees, and are applied per side
 * (`[top, bottom, left, right]`, the odd one after). Same parameters and state-dict keys as Conv2d.
 * @example new Conv2dSame(3, 32, 3, { rng, stride: 2, bias: false, imageSize: 224 }).pads // [0, 1, 0, 1]
 */
export class Conv2dSame extends Conv2d {
  /** Zero padding `[top, bottom, left, right]`. */
  readonly pads: readonly [number, number, number, number];
  readonly imageSize: number;

  constructor(inChannels: number, outChannels: number, kernelSize: number, options: Conv2dSameOptions) {
    super(inChannels, outChannels, kernelSize, { ...options, padding: 0 });
    checkPositiveInt('Conv2dSame', 'imageSize', options.imageSize);
    this.imageSize = options.imageSize;
    const [before, after] = samePadding(options.imageSize, kernelSize, this.stride, this.dilation);
    this.pads = [before, after, before, after];
  }

  override forward(x: Tensor): Tensor {
    const span = this.dilation * (this.kernelSize - 1) + 1;
    if (x.ndim === 4 && (x.shape[2] + this.pads[0] + this.pads[1] < span || x.shape[3] + this.pads[2] + this.pads[3] < span)) {
      // Static padding is fixed for imageSize, so small inputs can run out of map before the deep strided convs.
      throw new ShapeError('Conv2dSame', `a ${x.shape[2]}×${x.shape[3]} map padded by [${this.pads.join(', ')}] (fixed for image size ${this.imageSize}) is smaller than the ${this.kernelSize}×${this.kernelSize} kernel; the input image is too small for this network (EfficientNet: use 32 px or more)`);
    }
    return conv2dPadded(x, this.effectiveWeight(), this.bias, { stride: this.stride, dilation: this.dilation, groups: this.groups, pads: this.pads });
  }
}

// ---------------------------------------------------------------------------- Linear

/** Options of {@link Linear}. */
export interface LinearOptions {
  rng: Rng;
  /** Learnable bias (default true). */
  bias?: boolean;
}

/**
 * Fully connected layer `y = x·Wᵀ + b` on `[N, in]`; weight `[out, in]`. `weightFn` as in {@link Conv2d}.
 * @example const fc = new Linear(64, 10, { rng });
 */
export class Linear extends Module {
  weight: Parameter;
  bias: Parameter | null;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Replacement weight for the forward (ternary `Wt`); null = use `weight`. */
  weightFn: (() => Tensor) | null = null;

  constructor(inFeatures: number, outFeatures: number, options: LinearOptions) {
    super();
    checkPositiveInt('Linear', 'inFeatures', inFeatures);
    checkPositiveInt('Linear', 'outFeatures', outFeatures);
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.weight = new Parameter(new Float32Array(outFeatures * inFeatures), [outFeatures, inFeatures]);
    this.bias = (options.bias ?? true) ? new Parameter(new Float32Array(outFeatures), [outFeatures]) : null;
    resetLinearLike(this.weight, this.bias, options.rng);
  }

  /** The weight the forward uses: `weightFn()` when set, else `weight`. */
  effectiveWeight(): Tensor {
    return this.weightFn !== null ? this.weightFn() : this.weight;
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.effectiveWeight(), this.bias);
  }
}

// ---------------------------------------------------------------------------- BatchNorm

/** Options of the BatchNorm layers (PyTorch's defaults). */
export interface BatchNormLayerOptions {
  eps?: number;
  /** Running-stat update factor: `running = (1 − momentum)·running + momentum·batch` (default 0.1). */
  momentum?: number;
  /** Learnable `weight` (γ, init 1) and `bias` (β, init 0) (default true). */
  affine?: boolean;
  /** Keep `running_mean`, `running_var`, `num_batches_tracked` buffers (default true). */
  trackRunningStats?: boolean;
}

/** Shared BatchNorm state and forward; `instanceof BatchNormBase` matches BatchNorm1d and BatchNorm2d. */
export abstract class BatchNormBase extends Module {
  weight: Parameter | null;
  bias: Parameter | null;
  running_mean: BufferTensor | null;
  running_var: BufferTensor | null;
  /** Count of training batches seen; checkpoint dtype int64 as in PyTorch. */
  num_batches_tracked: BufferTensor | null;
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number;

  constructor(numFeatures: number, options: BatchNormLayerOptions, op: string) {
    super();
    checkPositiveInt(op, 'numFeatures', numFeatures);
    const { eps = 1e-5, momentum = 0.1, affine = true, trackRunningStats = true } = options;
    if (!(eps > 0)) throw new ValueError(op, `eps must be > 0, got ${eps}`);
    if (!(momentum >= 0 && momentum <= 1)) throw new ValueError(op, `momentum must be in [0, 1], got ${momentum}`);
    this.numFeatures = numFeatures;
    this.eps = eps;
    this.momentum = momentum;
    this.weight = affine ? new Parameter(new Float32Array(numFeatures).fill(1), [numFeatures]) : null;
    this.bias = affine ? new Parameter(new Float32Array(numFeatures), [numFeatures]) : null;
    this.running_mean = trackRunningStats ? new BufferTensor(new Float32Array(numFeatures), [numFeatures]) : null;
    this.running_var = trackRunningStats ? new BufferTensor(new Float32Array(numFeatures).fill(1), [numFeatures]) : null;
    this.num_batches_tracked = trackRunningStats ? new BufferTensor(new Float32Array(1), [], 'int64') : null;
  }

  protected normalize(x: Tensor): Tensor {
    // NOTE: without running stats PyTorch normalises with batch statistics in eval mode too.
    const useBatchStats = this.training || this.running_mean === null;
    const y = batchNorm(x, {
      weight: this.weight,
      bias: this.bias,
      runningMean: this.running_mean?.data ?? null,
      runningVar: this.running_var?.data ?? null,
      training: useBatchStats,
      momentum: this.momentum,
      eps: this.eps,
    });
    if (this.training && this.num_batches_tracked !== null) this.num_batches_tracked.data[0] += 1;
    return y;
  }
}

/**
 * Batch normalisation over `[N, C, H, W]` per channel.
 * @example const bn = new BatchNorm2d(16);
 */
export class BatchNorm2d extends BatchNormBase {
  constructor(numFeatures: number, options: BatchNormLayerOptions = {}) {
    super(numFeatures, options, 'BatchNorm2d');
  }

  forward(x: Tensor): Tensor {
    if (x.ndim !== 4 || x.shape[1] !== this.numFeatures) {
      throw new ShapeError('BatchNorm2d', `expected input [N, ${this.numFeatures}, H, W], got ${fmtShape(x.shape)}`);
    }
    return this.normalize(x);
  }
}

/**
 * Batch normalisation over `[N, C]` or `[N, C, L]` per channel.
 * @example const bn = new BatchNorm1d(120);
 */
export class BatchNorm1d extends BatchNormBase {
  constructor(numFeatures: number, options: BatchNormLayerOptions = {}) {
    super(numFeatures, options, 'BatchNorm1d');
  }

  forward(x: Tensor): Tensor {
    if ((x.ndim !== 2 && x.ndim !== 3) || x.shape[1] !== this.numFeatures) {
      throw new ShapeError('BatchNorm1d', `expected input [N, ${this.numFeatures}] or [N, ${this.numFeatures}, L], got ${fmtShape(x.shape)}`);
    }
    if (x.ndim === 2) return this.normalize(x);
    // [N, C, L] is [N, C, L, 1] for the 4-D op: same per-channel statistics.
    const [n, c, l] = x.shape;
    return reshape(this.normalize(reshape(x, [n, c, l, 1])), [n, c, l]);
  }
}

// ---------------------------------------------------------------------------- activations

/** `max(0, x)`. */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** `min(max(0, x), 6)` (MobileNetV2). */
export class ReLU6 extends Module {
  forward(x: Tensor): Tensor {
    return relu6(x);
  }
}

/** `x·sigmoid(x)` (SiLU, also called Swish). */
export class SiLU extends Module {
  forward(x: Tensor): Tensor {
    return silu(x);
  }
}

/** Alias of {@link SiLU}. */
export const Swish = SiLU;

/** `1 / (1 + e^−x)`. */
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

// ---------------------------------------------------------------------------- pooling and shape

/** Options of the pooling layers. */
export interface PoolOptions {
  /** Default: the kernel size. */
  stride?: number;
  padding?: number;
}

/** Max pooling over NCHW. @example new MaxPool2d(3, { stride: 2, padding: 1 }) */
export class MaxPool2d extends Module {
  readonly kernelSize: number;
  readonly stride: number;
  readonly padding: number;

  constructor(kernelSize: number, options: PoolOptions = {}) {
    super();
    checkPositiveInt('MaxPool2d', 'kernelSize', kernelSize);
    this.kernelSize = kernelSize;
    this.stride = options.stride ?? kernelSize;
    this.padding = options.padding ?? 0;
    checkPositiveInt('MaxPool2d', 'stride', this.stride);
    checkNonNegativeInt('MaxPool2d', 'padding', this.padding);
  }

  forward(x: Tensor): Tensor {
    return maxPool2d(x, { kernelSize: this.kernelSize, stride: this.stride, padding: this.padding });
  }
}

/** Average pooling over NCHW (padding counted in the divisor by default, as PyTorch). */
export class AvgPool2d extends Module {
  readonly kernelSize: number;
  readonly stride: number;
  readonly padding: number;
  readonly countIncludePad: boolean;

  constructor(kernelSize: number, options: PoolOptions & { countIncludePad?: boolean } = {}) {
    super();
    checkPositiveInt('AvgPool2d', 'kernelSize', kernelSize);
    this.kernelSize = kernelSize;
    this.stride = options.stride ?? kernelSize;
    this.padding = options.padding ?? 0;
    this.countIncludePad = options.countIncludePad ?? true;
    checkPositiveInt('AvgPool2d', 'stride', this.stride);
    checkNonNegativeInt('AvgPool2d', 'padding', this.padding);
  }

  forward(x: Tensor): Tensor {
    return avgPool2d(x, { kernelSize: this.kernelSize, stride: this.stride, padding: this.padding, countIncludePad: this.countIncludePad });
  }
}

/** Adaptive average pooling; only output size 1 (global average pooling, `[N, C, 1, 1]`) is supported. */
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: number = 1) {
    super();
    if (outputSize !== 1) throw new ValueError('AdaptiveAvgPool2d', `only outputSize 1 (global average pooling) is supported, got ${outputSize}`);
  }

  forward(x: Tensor): Tensor {
    return globalAvgPool2d(x);
  }
}

/** Flattens dims `startDim..` into one (default 1: `[N, C, H, W]` → `[N, C·H·W]`). */
export class Flatten extends Module {
  constructor(readonly startDim = 1) {
    super();
  }

  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim);
  }
}

/** Returns its input (a placeholder with no parameters). */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/**
 * Inverted dropout: in training zeroes each element with probability `p` and scales the rest by
 * `1/(1−p)`; the identity in eval mode.
 * @example new Dropout(0.2, rng.fork())
 */
export class Dropout extends Module {
  constructor(
    readonly p: number,
    readonly rng: Rng,
  ) {
    super();
    if (!(p >= 0 && p < 1)) throw new ValueError('Dropout', `p must be in [0, 1), got ${p}`);
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training, this.rng);
  }
}

// ---------------------------------------------------------------------------- containers

/**
 * Runs its children in order; children are named `'0'`, `'1'`, ... as in PyTorch, so keys read
 * `features.3.conv.1.0.weight`.
 * @example const block = new Sequential(new Conv2d(3, 8, 3, { rng }), new BatchNorm2d(8), new ReLU());
 */
export class Sequential extends Module {
  constructor(...modules: Module[]) {
    super();
    for (const m of modules) this.append(m);
  }

  /** Number of children. */
  get length(): number {
    return this.children().length;
  }

  /** The child at index `i` (negative counts from the end). */
  at(i: number): Module {
    const n = this.length;
    const k = i < 0 ? n + i : i;
    const m = (this as unknown as Record<string, unknown>)[String(k)];
    if (!(m instanceof Module)) throw new ValueError('Sequential.at', `index ${i} out of range for ${n} modules`);
    return m;
  }

  /** Adds a module at the end (named by its index). */
  append(m: Module): this {
    (this as unknown as Record<string, Module>)[String(this.length)] = m;
    return this;
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.children()) y = m.forward(y);
    return y;
  }
}
