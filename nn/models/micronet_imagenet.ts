/**
 * The ImageNet MicroNet of the EC2T authors' code (`image_micronet(d, w)`: their `MicroNet` with
 * seven stages): EfficientNet-B0's stage layout built from MicroNet's pre-activation blocks.
 *
 * - stem: conv3×3 stride 2 (padding 1) → BN → ReLU with round(32w) channels;
 * - seven stages of {@link MicroNetBlock}s with round(16, 24, 40, 80, 112, 192, 320 · w) channels,
 *   ⌈d · (1, 2, 2, 3, 3, 4, 1)⌉ blocks, stride 2 at the first block of stages 2, 3, 4 and 6; block
 *   dropout 0 (the authors' ImageNet value);
 * - head: conv1×1 to round(1280w) → BN → ReLU → average pool over the whole map → Dropout(0.3) →
 *   `linear`. No ReLU between the last block and the head conv.
 *
 * State-dict keys: `conv1`, `bn1`, `layer{1..7}.{i}.{bn1,conv1,bn2,conv2,bn3}`,
 * `layer{s}.0.shortcut.{0,1}`, `conv2`, `bn2`, `linear`. Init as the authors: `kaiming_normal_`
 * (fan_in) on every conv and linear weight, PyTorch's default linear bias, BN 1/0, ε 1e-5.
 */
import { ValueError, flatten, globalAvgPool2d, relu } from '../../engine/index.js';
import type { Tensor } from '../../engine/tensor.js';
import * as init from '../init.js';
import { BatchNorm2d, Conv2d, Dropout, Linear, Sequential } from '../layers.js';
import { Module } from '../module.js';
import { MicroNetBlock, roundFilters, roundRepeats, type MicroNetOptions } from './micronet.js';

/** Channels, base repeats and stride of the seven stages (the authors' `image_micronet`). */
export const IMAGENET_MICRONET_STAGES: ReadonlyArray<{ channels: number; repeats: number; stride: number }> = [
  { channels: 16, repeats: 1, stride: 1 },
  { channels: 24, repeats: 2, stride: 2 },
  { channels: 40, repeats: 2, stride: 2 },
  { channels: 80, repeats: 3, stride: 2 },
  { channels: 112, repeats: 3, stride: 1 },
  { channels: 192, repeats: 4, stride: 2 },
  { channels: 320, repeats: 1, stride: 1 },
];

/** Options of {@link ImageNetMicroNet}: MicroNet's (`numClasses` default 1000, the authors' fixed value), with `dropout` before `linear` (default 0.3) instead of inside the blocks. */
export interface ImageNetMicroNetOptions extends Omit<MicroNetOptions, 'dropout'> {
  dropout?: number;
}

/**
 * ImageNet MicroNet (d = w = 1: 19 blocks, 224×224 → 7×7 before the head).
 * @example const net = new ImageNetMicroNet({ rng, depth: 1.4 ** 2, width: 1.2 ** 2 });
 */
export class ImageNetMicroNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly layer4: Sequential;
  readonly layer5: Sequential;
  readonly layer6: Sequential;
  readonly layer7: Sequential;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly dropout: Dropout;
  readonly linear: Linear;
  /** Channels of the seven stages after rounding. */
  readonly stageChannels: readonly number[];
  /** Blocks of the seven stages after rounding. */
  readonly stageBlocks: readonly number[];

  constructor(options: ImageNetMicroNetOptions) {
    super();
    const { rng, numClasses = 1000, inChannels = 3, depth = 1, width = 1, dropout = 0.3 } = options;
    if (!(depth > 0) || !(width > 0)) throw new ValueError('ImageNetMicroNet', `depth and width multipliers must be > 0, got depth ${depth}, width ${width}`);
    const stem = roundFilters(32, width);
    this.conv1 = new Conv2d(inChannels, stem, 3, { rng, stride: 2, padding: 1, bias: false });
    this.bn1 = new BatchNorm2d(stem);
    let inPlanes = stem;
    const stages = IMAGENET_MICRONET_STAGES.map(({ channels, repeats, stride }) => {
      const planes = roundFilters(channels, width);
      const s = new Sequential();
      for (let i = 0; i < roundRepeats(repeats, depth); i++) {
        s.append(new MicroNetBlock(inPlanes, planes, i === 0 ? stride : 1, 0, rng));
        inPlanes = planes;
      }
      return s;
    });
    [this.layer1, this.layer2, this.layer3, this.layer4, this.layer5, this.layer6, this.layer7] = stages;
    this.stageChannels = IMAGENET_MICRONET_STAGES.map((s) => roundFilters(s.channels, width));
    this.stageBlocks = stages.map((s) => s.length);
    const head = roundFilters(1280, width);
    this.conv2 = new Conv2d(inPlanes, head, 1, { rng, bias: false });
    this.bn2 = new BatchNorm2d(head);
    this.dropout = new Dropout(dropout, rng.fork());
    this.linear = new Linear(head, numClasses, { rng });
    for (const m of this.modules()) {
      if (m instanceof Conv2d || m instanceof Linear) init.kaimingNormal(m.weight, rng);
    }
  }

  forward(x: Tensor): Tensor {
    let y = relu(this.bn1.forward(this.conv1.forward(x)));
    for (const s of [this.layer1, this.layer2, this.layer3, this.layer4, this.layer5, this.layer6, this.layer7]) y = s.forward(y);
    y = relu(this.bn2.forward(this.conv2.forward(y)));
    return this.linear.forward(this.dropout.forward(flatten(globalAvgPool2d(y), 1)));
  }
}
