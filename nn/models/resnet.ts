/**
 * torchvision's ImageNet ResNet-18: 7×7/2 stem conv, BN, ReLU, 3×3/2 max-pool, four stages of two
 * BasicBlocks (64/128/256/512 channels, stride 2 at stages 2–4 with a 1×1 conv + BN `downsample`),
 * adaptive average pooling (any input size), `fc`.
 *
 * State-dict keys exactly torchvision's: `conv1`, `bn1`, `layer{1..4}.{0,1}.{conv1,bn1,conv2,bn2}`,
 * `layer{2,3,4}.0.downsample.{0,1}`, `fc`. Init as torchvision: convs `kaiming_normal_(fan_out,
 * relu)`, BN weight 1 / bias 0, `fc` PyTorch default.
 */
import { add, flatten, relu } from '../../engine/index.js';
import type { Rng } from '../../base/rng.js';
import type { Tensor } from '../../engine/tensor.js';
import * as init from '../init.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU, Sequential } from '../layers.js';
import { Module } from '../module.js';

/** torchvision's BasicBlock: conv3×3 → BN → ReLU → conv3×3 → BN, plus identity or `downsample`, then ReLU. */
export class BasicBlock extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly downsample: Sequential | null;

  constructor(inPlanes: number, planes: number, stride: number, rng: Rng) {
    super();
    this.conv1 = new Conv2d(inPlanes, planes, 3, { rng, stride, padding: 1, bias: false });
    this.bn1 = new BatchNorm2d(planes);
    this.relu = new ReLU();
    this.conv2 = new Conv2d(planes, planes, 3, { rng, padding: 1, bias: false });
    this.bn2 = new BatchNorm2d(planes);
    this.downsample =
      stride !== 1 || inPlanes !== planes
        ? new Sequential(new Conv2d(inPlanes, planes, 1, { rng, stride, bias: false }), new BatchNorm2d(planes))
        : null;
  }

  forward(x: Tensor): Tensor {
    const out = this.bn2.forward(this.conv2.forward(relu(this.bn1.forward(this.conv1.forward(x)))));
    const identity = this.downsample === null ? x : this.downsample.forward(x);
    return relu(add(out, identity));
  }
}

/** Options of {@link ResNet}. */
export interface ResNetOptions {
  rng: Rng;
  /** Blocks per stage (ResNet-18: [2, 2, 2, 2], ResNet-34: [3, 4, 6, 3]). */
  layers?: readonly [number, number, number, number];
  numClasses?: number;
  inChannels?: number;
}

/**
 * torchvision's BasicBlock ResNet (ResNet-18 by default: 11,689,512 parameters at 1000 classes).
 * @example const net = new ResNet({ rng, numClasses: 1000 }); net.forward(x) // x: [N, 3, 224, 224]
 */
export class ResNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly relu: ReLU;
  readonly maxpool: MaxPool2d;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly layer4: Sequential;
  readonly avgpool: AdaptiveAvgPool2d;
  readonly fc: Linear;

  constructor(options: ResNetOptions) {
    super();
    const { rng, layers = [2, 2, 2, 2], numClasses = 1000, inChannels = 3 } = options;
    this.conv1 = new Conv2d(inChannels, 64, 7, { rng, stride: 2, padding: 3, bias: false });
    this.bn1 = new BatchNorm2d(64);
    this.relu = new ReLU();
    this.maxpool = new MaxPool2d(3, { stride: 2, padding: 1 });
    let inPlanes = 64;
    const stage = (planes: number, blocks: number, stride: number): Sequential => {
      const s = new Sequential();
      for (let i = 0; i < blocks; i++) {
        s.append(new BasicBlock(inPlanes, planes, i === 0 ? stride : 1, rng));
        inPlanes = planes;
      }
      return s;
    };
    this.layer1 = stage(64, layers[0], 1);
    this.layer2 = stage(128, layers[1], 2);
    this.layer3 = stage(256, layers[2], 2);
    this.layer4 = stage(512, layers[3], 2);
    this.avgpool = new AdaptiveAvgPool2d(1);
    this.fc = new Linear(512, numClasses, { rng });
    for (const m of this.modules()) {
      if (m instanceof Conv2d) init.kaimingNormal(m.weight, rng, { mode: 'fan_out', nonlinearity: 'relu' });
    }
  }

  forward(x: Tensor): Tensor {
    let y = this.maxpool.forward(this.relu.forward(this.bn1.forward(this.conv1.forward(x))));
    y = this.layer4.forward(this.layer3.forward(this.layer2.forward(this.layer1.forward(y))));
    return this.fc.forward(flatten(this.avgpool.forward(y), 1));
  }
}
