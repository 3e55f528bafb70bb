/**
 * Lowering a model to IR ops: each model family says, in one entry of {@link LOWERINGS}, how its
 * eval-mode forward pass reads as layers, batch norms and plain ops (names = PyTorch state-dict
 * prefixes). Adding a model to export is one entry there, plus its name in `EXPORT_MODELS`.
 */
import { ValueError } from '../../base/errors.js';
import { BatchNorm2d, Conv2d, Conv2dSame, ReLU6, Sequential, type MaxPool2d } from '../../nn/layers.js';
import type { Module } from '../../nn/module.js';
import { CifarResNet, EfficientNet, IMAGENET_MICRONET_STAGES, ImageNetMicroNet, InvertedResidual, LeNet5, MBConvBlock, MicroNet, MobileNetV2, ResNet } from '../../nn/models/index.js';
import type { ProgramOp } from '../runtime/program.js';
import { layerIR, regsOf, samePadRest, type IROp, type Reader } from './ir.js';
import { EXPORT_MODELS } from './model.js';

/** What a lowering emits with: each call appends one IR op (or two for a padded {@link IRBuilder.sameLayer}). */
export interface IRBuilder {
  /** The conv/linear module `name`, reading register `src` and writing `dst` (default: the main register `x`). */
  layer(name: string, src?: string, dst?: string): void;
  /** A Conv2dSame: its asymmetric padding as a `pad` op, then the conv with the symmetric part. */
  sameLayer(name: string, src?: string, dst?: string): void;
  /** The BatchNorm2d module `name` (folded later where it follows the layer writing its input). */
  bn(name: string, src?: string, dst?: string): void;
  /** A program op with no weights (activation, pooling, residual save/add, flatten, ...). */
  plain(op: ProgramOp): void;
  /** A MaxPool2d module as a `maxpool` op. */
  pool(m: MaxPool2d): void;
}

/** How one model family lowers: the class it applies to and the forward pass as builder calls. */
export interface ModelLowering {
  /** True for the models this entry lowers. */
  matches(model: Module): boolean;
  lower(model: Module, b: IRBuilder): void;
}

/** A {@link ModelLowering} for the instances of `cls`. */
function lowering<M extends Module>(cls: abstract new (...args: never[]) => M, lower: (model: M, b: IRBuilder) => void): ModelLowering {
  return { matches: (model) => model instanceof cls, lower: (model, b) => lower(model as M, b) };
}

/** The `prefix.N` blocks of `model` directly under each stage, in order. */
function blocksOf(model: Module, stages: readonly string[]): Array<[string, Module]> {
  const out: Array<[string, Module]> = [];
  for (const s of stages) {
    for (const [name, m] of model.namedModules()) {
      if (name.startsWith(`${s}.`) && name.split('.').length === 2) out.push([name, m]);
    }
  }
  return out;
}

/** The torchvision ResNet-18 layout (`tv`) or the CIFAR ResNets with option-A shortcuts. */
function lowerResNet(model: CifarResNet | ResNet, b: IRBuilder): void {
  const tv = model instanceof ResNet;
  b.layer('conv1');
  b.bn('bn1');
  b.plain({ op: 'relu' });
  if (tv) b.pool((model as ResNet).maxpool);
  const stages = tv ? ['layer1', 'layer2', 'layer3', 'layer4'] : ['layer1', 'layer2', 'layer3'];
  for (const [name, m] of blocksOf(model, stages)) {
    const blk = m as unknown as { shortcut?: { channelPad: number } | null; downsample?: unknown; conv1: Conv2d };
    b.plain({ op: 'save', dst: 'id' });
    b.layer(`${name}.conv1`);
    b.bn(`${name}.bn1`);
    b.plain({ op: 'relu' });
    b.layer(`${name}.conv2`);
    b.bn(`${name}.bn2`);
    if (tv && blk.downsample) {
      b.layer(`${name}.downsample.0`, 'id');
      b.bn(`${name}.downsample.1`, 'id');
    } else if (!tv && blk.shortcut) {
      b.plain({ op: 'shortcutA', src: 'id', dst: 'id', stride: blk.conv1.stride, padBefore: blk.shortcut.channelPad, padAfter: blk.shortcut.channelPad });
    }
    b.plain({ op: 'add', other: 'id' });
    b.plain({ op: 'relu' });
  }
  b.plain({ op: 'globalavgpool' });
  b.plain({ op: 'flatten' });
  b.layer(tv ? 'fc' : 'linear');
}

/** MicroNet, CIFAR or ImageNet: pre-activation blocks BN → conv → BN → ReLU → conv → BN, plus the shortcut. */
function lowerMicroNet(model: MicroNet | ImageNetMicroNet, b: IRBuilder): void {
  const imagenet = model instanceof ImageNetMicroNet;
  b.layer('conv1');
  b.bn('bn1');
  b.plain({ op: 'relu' });
  for (const [name, m] of blocksOf(model, imagenet ? IMAGENET_MICRONET_STAGES.map((_, i) => `layer${i + 1}`) : ['layer1', 'layer2', 'layer3'])) {
    const blk = m as unknown as { shortcut: unknown };
    b.plain({ op: 'save', dst: 'id' });
    b.bn(`${name}.bn1`);
    b.layer(`${name}.conv1`);
    b.bn(`${name}.bn2`);
    b.plain({ op: 'relu' });
    // Dropout is the identity in eval mode.
    b.layer(`${name}.conv2`);
    b.bn(`${name}.bn3`);
    if (blk.shortcut) {
      b.layer(`${name}.shortcut.0`, 'id');
      b.bn(`${name}.shortcut.1`, 'id');
    }
    b.plain({ op: 'add', other: 'id' });
  }
  if (imagenet) {
    // The ImageNet head conv; the CIFAR network goes straight to the ReLU.
    b.layer('conv2');
    b.bn('bn2');
  }
  b.plain({ op: 'relu' });
  b.plain({ op: 'globalavgpool' });
  b.plain({ op: 'flatten' });
  // dropout: the identity in eval mode.
  b.layer('linear');
}

function lowerLeNet5(model: LeNet5, b: IRBuilder): void {
  b.layer('conv1');
  b.plain({ op: 'relu' });
  b.pool(model.max_pool_1);
  b.layer('conv2');
  b.plain({ op: 'relu' });
  b.pool(model.max_pool_2);
  b.plain({ op: 'flatten' });
  b.layer('fc1');
  b.plain({ op: 'relu' });
  b.layer('fc2');
  b.plain({ op: 'relu' });
  b.layer('fc3');
}

function lowerEfficientNet(model: EfficientNet, b: IRBuilder): void {
  b.sameLayer('_conv_stem');
  b.bn('_bn0');
  b.plain({ op: 'swish' });
  for (let i = 0; i < model._blocks.length; i++) {
    const blk = model._blocks.at(i);
    if (!(blk instanceof MBConvBlock)) throw new ValueError('packModel', `module _blocks.${i}: unexpected ${blk.constructor.name}`);
    const p = `_blocks.${i}`;
    if (blk.hasSkip) b.plain({ op: 'save', dst: 'id' });
    if (blk._expand_conv !== null) {
      b.sameLayer(`${p}._expand_conv`);
      b.bn(`${p}._bn0`);
      b.plain({ op: 'swish' });
    }
    b.sameLayer(`${p}._depthwise_conv`);
    b.bn(`${p}._bn1`);
    b.plain({ op: 'swish' });
    // Squeeze-and-excitation: channel means → reduce → swish → expand → sigmoid → per-channel gate.
    b.plain({ op: 'globalavgpool', dst: 'se' });
    b.sameLayer(`${p}._se_reduce`, 'se');
    b.plain({ op: 'swish', src: 'se', dst: 'se' });
    b.sameLayer(`${p}._se_expand`, 'se');
    b.plain({ op: 'sigmoid', src: 'se', dst: 'se' });
    b.plain({ op: 'mul', other: 'se' });
    b.sameLayer(`${p}._project_conv`);
    b.bn(`${p}._bn2`);
    // Drop-connect is the identity in eval mode.
    if (blk.hasSkip) b.plain({ op: 'add', other: 'id' });
  }
  b.sameLayer('_conv_head');
  b.bn('_bn1');
  b.plain({ op: 'swish' });
  b.plain({ op: 'globalavgpool' });
  b.plain({ op: 'flatten' });
  // dropout: the identity in eval mode.
  b.layer('_fc');
}

/**
 * torchvision layout: Conv-BN-ReLU6 triples (`N.0`, `N.1`), inverted residual blocks whose `conv`
 * Sequential mixes such triples with a bare 1×1 projection conv and its batch norm.
 */
function lowerMobileNetV2(model: MobileNetV2, b: IRBuilder): void {
  const convBnReLU6 = (prefix: string, seq: Sequential): void => {
    if (seq.length !== 3 || !(seq.at(2) instanceof ReLU6)) throw new ValueError('packModel', `module ${prefix} is not a Conv-BN-ReLU6 block`);
    b.layer(`${prefix}.0`);
    b.bn(`${prefix}.1`);
    b.plain({ op: 'relu6' });
  };
  const f = model.features;
  for (let i = 0; i < f.length; i++) {
    const m = f.at(i);
    const name = `features.${i}`;
    if (m instanceof InvertedResidual) {
      if (m.useResConnect) b.plain({ op: 'save', dst: 'id' });
      for (let j = 0; j < m.conv.length; j++) {
        const c = m.conv.at(j);
        const n = `${name}.conv.${j}`;
        if (c instanceof Sequential) convBnReLU6(n, c);
        else if (c instanceof Conv2d) b.layer(n);
        else if (c instanceof BatchNorm2d) b.bn(n);
        else throw new ValueError('packModel', `module ${n}: unexpected ${c.constructor.name} in an inverted residual block`);
      }
      if (m.useResConnect) b.plain({ op: 'add', other: 'id' });
    } else if (m instanceof Sequential) {
      convBnReLU6(name, m);
    } else {
      throw new ValueError('packModel', `module ${name}: unexpected ${m.constructor.name} in MobileNetV2.features`);
    }
  }
  b.plain({ op: 'globalavgpool' });
  b.plain({ op: 'flatten' });
  // classifier.0 is Dropout: the identity in eval mode.
  b.layer('classifier.1');
}

/** Every model family export knows, one entry each; the first whose `matches` holds lowers the model. */
export const LOWERINGS: readonly ModelLowering[] = [
  lowering(LeNet5, lowerLeNet5),
  lowering(CifarResNet, lowerResNet),
  lowering(ResNet, lowerResNet),
  lowering(MicroNet, lowerMicroNet),
  lowering(ImageNetMicroNet, lowerMicroNet),
  lowering(EfficientNet, lowerEfficientNet),
  lowering(MobileNetV2, lowerMobileNetV2),
];

/**
 * The architecture as IR ops, from the model's modules and the state dict `r` reads.
 * @example const ops = lowerModel('resnet20', createModel('resnet20'), new Reader(sd, 'weights'))
 */
export function lowerModel(modelName: string, model: Module, r: Reader): IROp[] {
  const mods = new Map(model.namedModules());
  const ops: IROp[] = [];
  const b: IRBuilder = {
    layer(name, src = 'x', dst = src) {
      ops.push({ t: 'layer', L: layerIR(r, name, mods.get(name) as Module), src, dst });
    },
    sameLayer(name, src = 'x', dst = src) {
      const m = mods.get(name);
      if (!(m instanceof Conv2dSame)) throw new ValueError('packModel', `module ${name} is not a Conv2dSame`);
      const rest = samePadRest(m);
      if (rest.some((v) => v > 0)) {
        b.plain({ op: 'pad', pads: rest, ...regsOf(src, dst) });
        src = dst;
      }
      b.layer(name, src, dst);
    },
    bn(name, src = 'x', dst = src) {
      const m = mods.get(name);
      if (!(m instanceof BatchNorm2d)) throw new ValueError('packModel', `module ${name} is not a BatchNorm2d`);
      ops.push({ t: 'bn', name, eps: m.eps, src, dst });
    },
    plain(op) {
      ops.push({ t: 'plain', op });
    },
    pool(m) {
      b.plain({ op: 'maxpool', kernel: [m.kernelSize, m.kernelSize], stride: [m.stride, m.stride], padding: [m.padding, m.padding] });
    },
  };
  const entry = LOWERINGS.find((l) => l.matches(model));
  if (entry === undefined) throw new ValueError('packModel', `export supports: ${EXPORT_MODELS.join(', ')}; got ${modelName}`);
  entry.lower(model, b);
  return ops;
}
