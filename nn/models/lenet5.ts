/**
 * LeNet-5 as in the EC2T authors' code (and the classic MNIST variant): conv1 5×5 pad 2 → ReLU →
 * max-pool 2 → conv2 5×5 → ReLU → max-pool 2 → fc1 → ReLU → fc2 → ReLU → fc3. PyTorch default
 * initialisation. State-dict keys: `conv1`, `conv2`, `fc1`, `fc2`, `fc3` (`.weight`, `.bias`).
 */
import { ValueError, flatten, relu } from '../../engine/index.js';
import type { Rng } from '../../base/rng.js';
import type { Tensor } from '../../engine/tensor.js';
import { Conv2d, Linear, MaxPool2d } from '../layers.js';
import { Module } from '../module.js';

/** Options of {@link LeNet5}. */
export interface LeNet5Options {
  rng: Rng;
  numClasses?: number;
  /** Input channels (default 1, MNIST). */
  inChannels?: number;
  /** Square input side (default 28, giving fc1 400 → 120; 32 gives 576 → 120). */
  inputSize?: number;
}

/**
 * LeNet-5 (61,706 parameters for 1 channel, 28×28 input, 10 classes).
 * @example const net = new LeNet5({ rng: new Rng(0) }); net.forward(x) // x: [N, 1, 28, 28]
 */
export class LeNet5 extends Module {
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;
  readonly max_pool_1: MaxPool2d;
  readonly max_pool_2: MaxPool2d;
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly fc3: Linear;

  constructor(options: LeNet5Options) {
    super();
    const { rng, numClasses = 10, inChannels = 1, inputSize = 28 } = options;
    // conv1 keeps the side (pad 2), pool halves, conv2 (5×5, no pad) takes 4, pool halves.
    const side = Math.floor((Math.floor(inputSize / 2) - 4) / 2);
    if (!Number.isInteger(inputSize) || side < 1) throw new ValueError('LeNet5', `inputSize must be an integer >= 10, got ${inputSize}`);
    this.conv1 = new Conv2d(inChannels, 6, 5, { rng, padding: 2 });
    this.conv2 = new Conv2d(6, 16, 5, { rng });
    this.max_pool_1 = new MaxPool2d(2);
    this.max_pool_2 = new MaxPool2d(2);
    this.fc1 = new Linear(16 * side * side, 120, { rng });
    this.fc2 = new Linear(120, 84, { rng });
    this.fc3 = new Linear(84, numClasses, { rng });
  }

  forward(x: Tensor): Tensor {
    let y = this.max_pool_1.forward(relu(this.conv1.forward(x)));
    y = this.max_pool_2.forward(relu(this.conv2.forward(y)));
    y = flatten(y, 1);
    y = relu(this.fc1.forward(y));
    y = relu(this.fc2.forward(y));
    return this.fc3.forward(y);
  }
}
