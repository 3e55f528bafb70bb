/**
 * CIFAR ResNets (He et al. 2016, §4.2) as in Yerlan Idelbayev's PyTorch reimplementation, which the
 * EC2T authors use: 3×3 stem with 16 channels, three stages of `n` BasicBlocks with 16/32/64
 * channels (stride 2 at the start of stages 2 and 3), option-A shortcuts (parameter-free: take
 * every second pixel, zero-pad channels), global average pooling, `linear`. Depth `6n + 2`.
 *
 * State-dict keys: `conv1.weight`, `bn1.*`, `layer{1,2,3}.{i}.{conv1,bn1,conv2,bn2}.*`,
 * `linear.{weight,bias}`. Init as the reimplementation: `kaiming_normal_` (fan_in, gain √2) for
 * every conv and linear weight; linear bias PyTorch default; BatchNorm weight 1, bias 0.
 */
import { add, pad, relu, slice, flatten, globalAvgPool2d } from '../../engine/index.js';
import type { Rng } from '../../base/rng.js';
import type { Tensor } from '../../engine/tensor.js';
import * as init from '../init.js';
import { BatchNorm2d, Conv2d, Linear, Sequential } from '../layers.js';
import { Module } from '../module.js';

/**
 * Option-A shortcut: `F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes/4, planes/4))` — subsample
 * spatially by 2 and zero-pad `planes/4` channels on each side. No parameters.
 */
export class OptionAShortcut extends Module {
  constructor(readonly channelPad: number) {
    super();
  }

  forward(x: Tensor): Tensor {
    const [n, c, h, w] = x.shape;
    const sub = slice(x, [0, 0, 0, 0], [n, c, h, w], [1, 1, 2, 2]);
    return pad(sub, [[0, 0], [this.channelPad, this.channelPad], [0, 0], [0, 0]]);
  }
}

/** conv3×3 → BN → ReLU → conv3×3 → BN, plus the shortcut, then ReLU. */
export class CifarBasicBlock extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  /** Identity (null) or the parameter-free option-A shortcut. */
  readonly shortcut: OptionAShortcut | null;

  constructor(inPlanes: number, planes: number, stride: number, rng: Rng) {
    super();
    this.conv1 = new Conv2d(inPlanes, planes, 3, { rng, stride, padding: 1, bias: false });
    this.bn1 = new BatchNorm2d(planes);
    this.conv2 = new Conv2d(planes, planes, 3, { rng, padding: 1, bias: false });
    this.bn2 = new BatchNorm2d(planes);
    this.shortcut = stride !== 1 || inPlanes !== planes ? new OptionAShortcut(Math.floor(planes / 4)) : null;
  }

  forward(x: Tensor): Tensor {
    const out = this.bn2.forward(this.conv2.forward(relu(this.bn1.forward(this.conv1.forward(x)))));
    const identity = this.shortcut === null ? x : this.shortcut.forward(x);
    return relu(add(out, identity));
  }
}

/** Options of {@link CifarResNet}. */
export interface CifarResNetOptions {
  rng: Rng;
  /** Blocks per stage `n` (depth 6n + 2: 3 → ResNet-20, 5 → 32, 7 → 44, 9 → 56). */
  blocksPerStage: number;
  numClasses?: number;
  inChannels?: number;
}

/**
 * CIFAR ResNet-(6n+2) (ResNet-20: 269,722 parameters at 10 classes).
 * @example const net = new CifarResNet({ rng, blocksPerStage: 3 }); // ResNet-20
 */
export class CifarResNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly linear: Linear;

  constructor(options: CifarResNetOptions) {
    super();
    const { rng, blocksPerStage, numClasses = 10, inChannels = 3 } = options;
    this.conv1 = new Conv2d(inChannels, 16, 3, { rng, padding: 1, bias: false });
    this.bn1 = new BatchNorm2d(16);
    let inPlanes = 16;
    const stage = (planes: number, stride: number): Sequential => {
      const s = new Sequential();
      for (let i = 0; i < blocksPerStage; i++) {
        s.append(new CifarBasicBlock(inPlanes, planes, i === 0 ? stride : 1, rng));
        inPlanes = planes;
      }
      return s;
    };
    this.layer1 = stage(16, 1);
    this.layer2 = stage(32, 2);
    this.layer3 = stage(64, 2);
    this.linear = new Linear(64, numClasses, { rng });
    // The reimplementation's _weights_init: kaiming_normal_ on every Conv2d/Linear weight, applied
    // after construction (so the default draws above are replaced).
    for (const m of this.modules()) {
      if (m instanceof Conv2d || m instanceof Linear) init.kaimingNormal(m.weight, rng);
    }
  }

  forward(x: Tensor): Tensor {
    let y = relu(this.bn1.forward(this.conv1.forward(x)));
    y = this.layer3.forward(this.layer2.forward(this.layer1.forward(y)));
    // F.avg_pool2d(out, out.size()[3]) on a square map is global average pooling.
    return this.linear.forward(flatten(globalAvgPool2d(y), 1));
  }
}
