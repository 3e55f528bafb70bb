/**
 * torchvision's MobileNetV2 (Sandler et al. 2018): `features` = stem Conv-BN-ReLU6 (3×3/2, 32·α
 * channels), 17 inverted residual blocks, a final 1×1 Conv-BN-ReLU6 to 1280·max(1, α) channels;
 * adaptive average pool; `classifier` = Dropout(0.2) + Linear.
 *
 * State-dict keys exactly torchvision's: `features.0.{0,1}`, blocks `features.N.conv.*` where a
 * block with expansion is `conv.0.{0,1}` (1×1 expand), `conv.1.{0,1}` (3×3 depthwise), `conv.2`
 * (1×1 project), `conv.3` (BN) and the first block (no expansion) is `conv.0.{0,1}` (depthwise),
 * `conv.1`, `conv.2`; `features.18.{0,1}`; `classifier.1`. Init as torchvision: convs
 * `kaiming_normal_(fan_out)`, BN 1/0, linear N(0, 0.01²) with zero bias.
 *
 * CIFAR variant (`cifar: true`, our choice, as in the widely used kuangliu/pytorch-cifar
 * MobileNetV2): the stem conv and the first block of the second stage (24 channels) use stride 1
 * instead of 2, so a 32×32 input reaches the last stage at 4×4 instead of 1×1. Keys and parameter
 * counts are unchanged.
 */
import { add, flatten } from '../../engine/index.js';
import type { Rng } from '../../base/rng.js';
import type { Tensor } from '../../engine/tensor.js';
import * as init from '../init.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Dropout, Linear, ReLU6, Sequential } from '../layers.js';
import { Module } from '../module.js';

/**
 * torchvision's `_make_divisible`: round `v` to the nearest multiple of `divisor` (at least
 * `divisor`), going up a step when rounding down would lose more than 10%.
 * @example makeDivisible(32 * 0.75, 8) // 24
 */
export function makeDivisible(v: number, divisor = 8): number {
  let r = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (r < 0.9 * v) r += divisor;
  return r;
}

/** torchvision's Conv2dNormActivation: conv (no bias, "same" padding) → BN → ReLU6, keys `0`, `1`. */
function convBnReLU6(inC: number, outC: number, k: number, stride: number, groups: number, rng: Rng): Sequential {
  return new Sequential(
    new Conv2d(inC, outC, k, { rng, stride, padding: (k - 1) >> 1, groups, bias: false }),
    new BatchNorm2d(outC),
    new ReLU6(),
  );
}

/** Inverted residual: [1×1 expand → BN → ReLU6] → 3×3 depthwise → BN → ReLU6 → 1×1 project → BN, plus identity when shapes allow. */
export class InvertedResidual extends Module {
  readonly conv: Sequential;
  readonly useResConnect: boolean;

  constructor(inp: number, oup: number, stride: number, expandRatio: number, rng: Rng) {
    super();
    // NOTE: Python's round() is round-half-even; hidden sizes here are integers times small ratios.
    const hidden = roundHalfEven(inp * expandRatio);
    this.useResConnect = stride === 1 && inp === oup;
    const layers: Module[] = [];
    if (expandRatio !== 1) layers.push(convBnReLU6(inp, hidden, 1, 1, 1, rng));
    layers.push(convBnReLU6(hidden, hidden, 3, stride, hidden, rng));
    layers.push(new Conv2d(hidden, oup, 1, { rng, bias: false }));
    layers.push(new BatchNorm2d(oup));
    this.conv = new Sequential(...layers);
  }

  forward(x: Tensor): Tensor {
    const y = this.conv.forward(x);
    return this.useResConnect ? add(x, y) : y;
  }
}

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * The rule for MobileNetV2's strides from the input side: CIFAR strides for inputs ≤ 64 px (a 32 px
 * input then reaches the last stage at 4×4), ImageNet strides above (224 px reaches 7×7).
 * @example mobileNetV2UsesCifarStrides(32) // true
 */
export function mobileNetV2UsesCifarStrides(inputSize: number): boolean {
  return inputSize <= 64;
}

/** Options of {@link MobileNetV2}. */
export interface MobileNetV2Options {
  rng: Rng;
  numClasses?: number;
  inChannels?: number;
  /** Width multiplier α (default 1). */
  widthMult?: number;
  /** Stride-1 stem and second stage for 32×32 inputs (default false: torchvision's ImageNet strides). */
  cifar?: boolean;
  /** Dropout before the classifier (default 0.2). */
  dropout?: number;
}

/** (expansion t, channels c, repeats n, stride s) per stage, as in the paper's Table 2. */
const INVERTED_RESIDUAL_SETTING: ReadonlyArray<readonly [number, number, number, number]> = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/**
 * MobileNetV2 (3,504,872 parameters at 1000 classes, α = 1).
 * @example const net = new MobileNetV2({ rng, numClasses: 10, cifar: true });
 */
export class MobileNetV2 extends Module {
  readonly features: Sequential;
  readonly classifier: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;

  constructor(options: MobileNetV2Options) {
    super();
    const { rng, numClasses = 1000, inChannels = 3, widthMult = 1, cifar = false, dropout = 0.2 } = options;
    let input = makeDivisible(32 * widthMult);
    const last = makeDivisible(1280 * Math.max(1, widthMult));
    const features = new Sequential(convBnReLU6(inChannels, input, 3, cifar ? 1 : 2, 1, rng));
    INVERTED_RESIDUAL_SETTING.forEach(([t, c, n, s], stageIndex) => {
      const output = makeDivisible(c * widthMult);
      const stageStride = cifar && stageIndex === 1 ? 1 : s;
      for (let i = 0; i < n; i++) {
        features.append(new InvertedResidual(input, output, i === 0 ? stageStride : 1, t, rng));
        input = output;
      }
    });
    features.append(convBnReLU6(input, last, 1, 1, 1, rng));
    this.features = features;
    this.classifier = new Sequential(new Dropout(dropout, rng.fork()), new Linear(last, numClasses, { rng }));
    this.avgpool = new AdaptiveAvgPool2d(1);
    for (const m of this.modules()) {
      if (m instanceof Conv2d) {
        init.kaimingNormal(m.weight, rng, { mode: 'fan_out' });
        if (m.bias !== null) init.zeros(m.bias);
      } else if (m instanceof Linear) {
        init.normal(m.weight, 0, 0.01, rng);
        if (m.bias !== null) init.zeros(m.bias);
      }
    }
  }

  forward(x: Tensor): Tensor {
    const y = this.features.forward(x);
    return this.classifier.forward(flatten(this.avgpool.forward(y), 1));
  }
}
