/**
 * EfficientNet-B0/B1 (Tan & Le 2019) as the EC2T authors build it for ImageNet: their `model/`
 * code follows EfficientNet-PyTorch (Luke Melas-Kyriazi), so the state-dict keys are that
 * package's: `_conv_stem`, `_bn0`, `_blocks.N.{_expand_conv, _bn0, _depthwise_conv, _bn1,
 * _se_reduce, _se_expand, _project_conv, _bn2}`, `_conv_head`, `_bn1`, `_fc`.
 *
 * - Every conv pads TensorFlow-"same" for the network's image size (224 for B0, 240 for B1):
 *   static padding computed from that one size for every layer, as the authors' version of
 *   EfficientNet-PyTorch does ({@link Conv2dSame}). At 240 this differs from per-layer TF padding
 *   in one place: the 5×5/2 conv on the 15×15 map pads (1, 2) and gives 7×7 (TF: 8×8).
 * - MBConv block: [1×1 expand → BN → swish] → k×k depthwise → BN → swish → squeeze-and-excitation
 *   (reduce to max(1, ⌊in·0.25⌋) channels, swish, expand, sigmoid gate) → 1×1 project → BN, plus
 *   the identity with drop-connect when stride 1 and in = out. No activation after the sum.
 * - Batch norms: ε = 1e-3, momentum 0.01 (TensorFlow's 0.99 decay).
 * - Drop-connect rate of block i: `dropConnect · i / blocks` (training only, per sample, seeded).
 * - Head: 1×1 conv to round(1280·w) → BN → swish → global average pool → dropout → `_fc`.
 * - Channels: `round_filters` (nearest multiple of 8, +8 when that loses > 10%); repeats ⌈d·r⌉.
 * - Init: PyTorch's defaults (the authors' code does not re-initialise).
 */
import { ValueError, add, dropConnect, flatten, globalAvgPool2d, squeezeExcitation, swish } from '../../engine/index.js';
import type { Rng } from '../../base/rng.js';
import type { Tensor } from '../../engine/tensor.js';
import { BatchNorm2d, Conv2dSame, Dropout, Linear, Sequential } from '../layers.js';
import { Module } from '../module.js';
import { roundFilters, roundRepeats } from './micronet.js';

/** One stage of the B0 baseline: kernel, repeats, in/out channels, expansion, stride (SE ratio 0.25 everywhere). */
export interface EfficientNetStage {
  kernel: number;
  repeats: number;
  inChannels: number;
  outChannels: number;
  expand: number;
  stride: number;
}

/** The seven stages of EfficientNet-B0 (the TensorFlow block strings `r1_k3_s11_e1_i32_o16_se0.25` …). */
export const EFFICIENTNET_STAGES: readonly EfficientNetStage[] = [
  { kernel: 3, repeats: 1, inChannels: 32, outChannels: 16, expand: 1, stride: 1 },
  { kernel: 3, repeats: 2, inChannels: 16, outChannels: 24, expand: 6, stride: 2 },
  { kernel: 5, repeats: 2, inChannels: 24, outChannels: 40, expand: 6, stride: 2 },
  { kernel: 3, repeats: 3, inChannels: 40, outChannels: 80, expand: 6, stride: 2 },
  { kernel: 5, repeats: 3, inChannels: 80, outChannels: 112, expand: 6, stride: 1 },
  { kernel: 5, repeats: 4, inChannels: 112, outChannels: 192, expand: 6, stride: 2 },
  { kernel: 3, repeats: 1, inChannels: 192, outChannels: 320, expand: 6, stride: 1 },
];

/** Compound coefficients of the variants (EfficientNet-PyTorch's `efficientnet_params`): width, depth, resolution, dropout. */
export const EFFICIENTNET_VARIANTS = {
  'efficientnet-b0': { width: 1.0, depth: 1.0, imageSize: 224, dropout: 0.2 },
  'efficientnet-b1': { width: 1.0, depth: 1.1, imageSize: 240, dropout: 0.2 },
} as const;

/** BatchNorm settings of the TensorFlow original. */
const BN = { eps: 1e-3, momentum: 0.01 };

/** SE ratio of every block. */
const SE_RATIO = 0.25;

/** Geometry of one MBConv block. */
export interface MBConvConfig {
  inChannels: number;
  outChannels: number;
  expand: number;
  kernel: number;
  stride: number;
  imageSize: number;
  /** Drop-connect probability of this block's residual branch (0: none). */
  dropConnect: number;
}

/** Mobile inverted bottleneck with squeeze-and-excitation (EfficientNet-PyTorch's `MBConvBlock`). */
export class MBConvBlock extends Module {
  readonly _expand_conv: Conv2dSame | null;
  readonly _bn0: BatchNorm2d | null;
  readonly _depthwise_conv: Conv2dSame;
  readonly _bn1: BatchNorm2d;
  readonly _se_reduce: Conv2dSame;
  readonly _se_expand: Conv2dSame;
  readonly _project_conv: Conv2dSame;
  readonly _bn2: BatchNorm2d;
  readonly config: MBConvConfig;
  /** Identity shortcut (stride 1, in = out). */
  readonly hasSkip: boolean;
  private readonly rng: Rng;

  constructor(config: MBConvConfig, rng: Rng) {
    super();
    const { inChannels: inp, outChannels: oup, expand, kernel, stride, imageSize } = config;
    const hidden = inp * expand;
    const same = { rng, imageSize, bias: false };
    this._expand_conv = expand !== 1 ? new Conv2dSame(inp, hidden, 1, same) : null;
    this._bn0 = expand !== 1 ? new BatchNorm2d(hidden, BN) : null;
    this._depthwise_conv = new Conv2dSame(hidden, hidden, kernel, { ...same, stride, groups: hidden });
    this._bn1 = new BatchNorm2d(hidden, BN);
    const squeezed = Math.max(1, Math.floor(inp * SE_RATIO));
    this._se_reduce = new Conv2dSame(hidden, squeezed, 1, { rng, imageSize });
    this._se_expand = new Conv2dSame(squeezed, hidden, 1, { rng, imageSize });
    this._project_conv = new Conv2dSame(hidden, oup, 1, same);
    this._bn2 = new BatchNorm2d(oup, BN);
    this.config = { ...config };
    this.hasSkip = stride === 1 && inp === oup;
    this.rng = rng.fork();
  }

  forward(x: Tensor): Tensor {
    let y = x;
    if (this._expand_conv !== null) y = swish((this._bn0 as BatchNorm2d).forward(this._expand_conv.forward(y)));
    y = swish(this._bn1.forward(this._depthwise_conv.forward(y)));
    y = squeezeExcitation(y, {
      reduceWeight: this._se_reduce.effectiveWeight(), reduceBias: this._se_reduce.bias,
      expandWeight: this._se_expand.effectiveWeight(), expandBias: this._se_expand.bias,
    });
    y = this._bn2.forward(this._project_conv.forward(y));
    if (!this.hasSkip) return y;
    return add(dropConnect(y, this.config.dropConnect, this.training, this.rng), x);
  }
}

/** Options of {@link EfficientNet}. */
export interface EfficientNetOptions {
  rng: Rng;
  numClasses?: number;
  inChannels?: number;
  /** Width coefficient (default 1: B0 and B1). */
  width?: number;
  /** Depth coefficient (default 1; B1: 1.1). */
  depth?: number;
  /** Square image side the "same" padding is computed for (default 224; B1: 240). */
  imageSize?: number;
  /** Dropout before `_fc` (default 0.2). */
  dropout?: number;
  /** Drop-connect rate of the last block (default 0.2; block i gets rate·i/blocks). */
  dropConnect?: number;
}

/**
 * EfficientNet (B0: 5,288,548 parameters at 1000 classes; B1: 7,794,184).
 * @example const net = new EfficientNet({ rng, ...EFFICIENTNET_VARIANTS['efficientnet-b1'], numClasses: 1000 });
 */
export class EfficientNet extends Module {
  readonly _conv_stem: Conv2dSame;
  readonly _bn0: BatchNorm2d;
  readonly _blocks: Sequential;
  readonly _conv_head: Conv2dSame;
  readonly _bn1: BatchNorm2d;
  readonly dropout: Dropout;
  readonly _fc: Linear;
  readonly imageSize: number;
  readonly width: number;
  readonly depth: number;

  constructor(options: EfficientNetOptions) {
    super();
    const { rng, numClasses = 1000, inChannels = 3, width = 1, depth = 1, imageSize = 224, dropout = 0.2, dropConnect: dc = 0.2 } = options;
    if (!(width > 0) || !(depth > 0)) throw new ValueError('EfficientNet', `width and depth coefficients must be > 0, got width ${width}, depth ${depth}`);
    if (!(dc >= 0 && dc < 1)) throw new ValueError('EfficientNet', `dropConnect must be in [0, 1), got ${dc}`);
    this.imageSize = imageSize;
    this.width = width;
    this.depth = depth;
    const stem = roundFilters(32, width);
    this._conv_stem = new Conv2dSame(inChannels, stem, 3, { rng, stride: 2, bias: false, imageSize });
    this._bn0 = new BatchNorm2d(stem, BN);
    const configs: Omit<MBConvConfig, 'dropConnect'>[] = [];
    for (const s of EFFICIENTNET_STAGES) {
      const inC = roundFilters(s.inChannels, width);
      const outC = roundFilters(s.outChannels, width);
      const n = roundRepeats(s.repeats, depth);
      for (let i = 0; i < n; i++) configs.push({ inChannels: i === 0 ? inC : outC, outChannels: outC, expand: s.expand, kernel: s.kernel, stride: i === 0 ? s.stride : 1, imageSize });
    }
    this._blocks = new Sequential(...configs.map((c, i) => new MBConvBlock({ ...c, dropConnect: (dc * i) / configs.length }, rng)));
    const last = configs[configs.length - 1].outChannels;
    const head = roundFilters(1280, width);
    this._conv_head = new Conv2dSame(last, head, 1, { rng, bias: false, imageSize });
    this._bn1 = new BatchNorm2d(head, BN);
    this.dropout = new Dropout(dropout, rng.fork());
    this._fc = new Linear(head, numClasses, { rng });
  }

  forward(x: Tensor): Tensor {
    let y = swish(this._bn0.forward(this._conv_stem.forward(x)));
    y = this._blocks.forward(y);
    y = swish(this._bn1.forward(this._conv_head.forward(y)));
    return this._fc.forward(this.dropout.forward(flatten(globalAvgPool2d(y), 1)));
  }
}
