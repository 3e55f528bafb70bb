/**
 * MicroNet, the EC2T super-network for CIFAR (docs/METHOD.md §1; the authors' `MicroNet` with
 * `len(num_blocks) == 3`): a CIFAR ResNet scaled in depth `d` and width `w`.
 *
 * - stem: conv3×3 (stride 1) → BN → ReLU with `C1` channels;
 * - three stages with `C1, C2, C3 = round(16w), round(32w), round(64w)` channels (the rounding rule
 *   of §1, {@link roundFilters}), `ceil(7d)` blocks each ({@link roundRepeats}); stride 2 at the
 *   first block of stages 2 and 3;
 * - block: BN → conv3×3 → BN → ReLU → Dropout(0.2) → conv3×3 → BN, plus the shortcut (1×1 conv +
 *   BN when stride or channels change, identity otherwise); no activation after the sum;
 * - head: ReLU → global average pool → `linear`.
 *
 * State-dict keys (the authors' attribute names): `conv1`, `bn1`,
 * `layer{1,2,3}.{i}.{bn1,conv1,bn2,conv2,bn3}`, `layer{2,3}.0.shortcut.{0,1}`, `linear`.
 * Init as the authors' code: `kaiming_normal_` (fan_in, gain √2) on every conv and linear weight,
 * linear bias PyTorch default, BN weight 1 / bias 0.
 */
import { ValueError, add, flatten, globalAvgPool2d, relu } from '../../engine/index.js';
import type { Rng } from '../../base/rng.js';
import type { Tensor } from '../../engine/tensor.js';
import * as init from '../init.js';
import { BatchNorm2d, Conv2d, Dropout, Linear, ReLU, Sequential } from '../layers.js';
import { Module } from '../module.js';

/**
 * Channel rounding of compound scaling **[code]**: `c' = c·w; r = max(8, floor((c' + 4)/8)·8);
 * if r < 0.9·c' then r += 8`.
 * @example roundFilters(16, 1.2 ** 3.5) // 32
 */
export function roundFilters(channels: number, widthMultiplier: number): number {
  const c = channels * widthMultiplier;
  let r = Math.max(8, Math.floor((c + 4) / 8) * 8);
  if (r < 0.9 * c) r += 8;
  return r;
}

/**
 * Block-count rounding of compound scaling **[code]**: `ceil(d · baseRepeats)`.
 * @example roundRepeats(7, 1.4 ** 3.5) // 23
 */
export function roundRepeats(baseRepeats: number, depthMultiplier: number): number {
  return Math.ceil(depthMultiplier * baseRepeats);
}

/** BN → conv3×3 → BN → ReLU → Dropout → conv3×3 → BN, plus shortcut. */
export class MicroNetBlock extends Module {
  readonly dropout: Dropout;
  readonly bn1: BatchNorm2d;
  readonly conv1: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn3: BatchNorm2d;
  readonly relu: ReLU;
  /** 1×1 conv + BN when the shape changes; null = identity. */
  readonly shortcut: Sequential | null;

  constructor(inPlanes: number, planes: number, stride: number, dropoutP: number, rng: Rng) {
    super();
    this.dropout = new Dropout(dropoutP, rng.fork());
    this.bn1 = new BatchNorm2d(inPlanes);
    this.conv1 = new Conv2d(inPlanes, planes, 3, { rng, stride, padding: 1, bias: false });
    this.bn2 = new BatchNorm2d(planes);
    this.conv2 = new Conv2d(planes, planes, 3, { rng, padding: 1, bias: false });
    this.bn3 = new BatchNorm2d(planes);
    this.relu = new ReLU();
    this.shortcut =
      stride !== 1 || inPlanes !== planes
        ? new Sequential(new Conv2d(inPlanes, planes, 1, { rng, stride, bias: false }), new BatchNorm2d(planes))
        : null;
  }

  forward(x: Tensor): Tensor {
    let out = this.dropout.forward(this.relu.forward(this.bn2.forward(this.conv1.forward(this.bn1.forward(x)))));
    out = this.bn3.forward(this.conv2.forward(out));
    return add(out, this.shortcut === null ? x : this.shortcut.forward(x));
  }
}

/** Options of {@link MicroNet}. */
export interface MicroNetOptions {
  rng: Rng;
  numClasses?: number;
  inChannels?: number;
  /** Depth multiplier `d` (default 1): `ceil(7d)` blocks per stage. */
  depth?: number;
  /** Width multiplier `w` (default 1). */
  width?: number;
  /**
   * The three stage channel counts themselves, instead of `width`: what a state dict's shapes say
   * (the rounding of {@link roundFilters} is many-to-one, so a width cannot always be recovered).
   */
  stageChannels?: readonly [number, number, number];
  /** Blocks per stage themselves, instead of `depth`. */
  blocksPerStage?: number;
  /** Dropout inside each block (default 0.2, the authors' CIFAR value). */
  dropout?: number;
}

/** Blocks per stage before depth scaling (the authors' `micronet(d, w)`). */
export const MICRONET_BASE_REPEATS = 7;

/**
 * MicroNet super-network.
 * @example const net = new MicroNet({ rng, numClasses: 100, depth: 1.4 ** 3.5, width: 1.2 ** 3.5 });
 */
export class MicroNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly linear: Linear;
  /** Channels of the three stages after rounding. */
  readonly stageChannels: readonly [number, number, number];
  /** Blocks per stage after rounding. */
  readonly blocksPerStage: number;

  constructor(options: MicroNetOptions) {
    super();
    const { rng, numClasses = 100, inChannels = 3, depth = 1, width = 1, dropout = 0.2 } = options;
    if (!(depth > 0) || !(width > 0)) throw new ValueError('MicroNet', `depth and width multipliers must be > 0, got depth ${depth}, width ${width}`);
    const given = options.stageChannels;
    if (given !== undefined && (given.length !== 3 || !given.every((c) => Number.isInteger(c) && c >= 1))) {
      throw new ValueError('MicroNet', `stageChannels must be three positive integers, got [${given.join(', ')}]`);
    }
    if (options.blocksPerStage !== undefined && !(Number.isInteger(options.blocksPerStage) && options.blocksPerStage >= 1)) {
      throw new ValueError('MicroNet', `blocksPerStage must be a positive integer, got ${options.blocksPerStage}`);
    }
    const [c1, c2, c3] = given ?? [roundFilters(16, width), roundFilters(32, width), roundFilters(64, width)];
    this.stageChannels = [c1, c2, c3];
    const blocks = options.blocksPerStage ?? roundRepeats(MICRONET_BASE_REPEATS, depth);
    this.blocksPerStage = blocks;
    this.conv1 = new Conv2d(inChannels, c1, 3, { rng, padding: 1, bias: false });
    this.bn1 = new BatchNorm2d(c1);
    let inPlanes = c1;
    const stage = (planes: number, stride: number): Sequential => {
      const s = new Sequential();
      for (let i = 0; i < blocks; i++) {
        s.append(new MicroNetBlock(inPlanes, planes, i === 0 ? stride : 1, dropout, rng));
        inPlanes = planes;
      }
      return s;
    };
    this.layer1 = stage(c1, 1);
    this.layer2 = stage(c2, 2);
    this.layer3 = stage(c3, 2);
    this.linear = new Linear(c3, numClasses, { rng });
    for (const m of this.modules()) {
      if (m instanceof Conv2d || m instanceof Linear) init.kaimingNormal(m.weight, rng);
    }
  }

  forward(x: Tensor): Tensor {
    let y = relu(this.bn1.forward(this.conv1.forward(x)));
    y = this.layer3.forward(this.layer2.forward(this.layer1.forward(y)));
    return this.linear.forward(flatten(globalAvgPool2d(relu(y)), 1));
  }
}
