/**
 * Model zoo: build a model by name with validated options, and each model's default set of
 * layers to ternarize (docs/METHOD.md §2).
 */
import { ValueError } from '../../base/errors.js';
import { Rng } from '../../base/rng.js';
import { Conv2d } from '../layers.js';
import type { Module } from '../module.js';
import { CifarResNet } from './resnet_cifar.js';
import { LeNet5 } from './lenet5.js';
import { MicroNet } from './micronet.js';
import { MobileNetV2 } from './mobilenetv2.js';
import { ResNet } from './resnet.js';
import { EFFICIENTNET_VARIANTS, EfficientNet } from './efficientnet.js';
import { ImageNetMicroNet } from './micronet_imagenet.js';

export { LeNet5 } from './lenet5.js';
export type { LeNet5Options } from './lenet5.js';
export { CifarResNet, CifarBasicBlock, OptionAShortcut } from './resnet_cifar.js';
export type { CifarResNetOptions } from './resnet_cifar.js';
export { ResNet, BasicBlock } from './resnet.js';
export type { ResNetOptions } from './resnet.js';
export { MobileNetV2, InvertedResidual, makeDivisible, mobileNetV2UsesCifarStrides } from './mobilenetv2.js';
export type { MobileNetV2Options } from './mobilenetv2.js';
export { MicroNet, MicroNetBlock, roundFilters, roundRepeats, MICRONET_BASE_REPEATS } from './micronet.js';
export type { MicroNetOptions } from './micronet.js';
export { EfficientNet, MBConvBlock, EFFICIENTNET_STAGES, EFFICIENTNET_VARIANTS } from './efficientnet.js';
export type { EfficientNetOptions, EfficientNetStage, MBConvConfig } from './efficientnet.js';
export { ImageNetMicroNet, IMAGENET_MICRONET_STAGES } from './micronet_imagenet.js';
export type { ImageNetMicroNetOptions } from './micronet_imagenet.js';

/** Options every model takes. */
export interface CommonModelOptions {
  /** Output classes (default 10). */
  numClasses?: number;
  /** Input channels (default 3; 1 for lenet5). */
  inChannels?: number;
  /** Generator for the initialisation (and dropout masks); give this or `seed`. */
  rng?: Rng;
  /** Seed of a fresh generator when no `rng` is given (default 0). */
  seed?: number;
}

/** Options per model name. */
export interface ModelOptionsByName {
  lenet5: CommonModelOptions & { inputSize?: number };
  resnet20: CommonModelOptions;
  resnet32: CommonModelOptions;
  resnet44: CommonModelOptions;
  resnet56: CommonModelOptions;
  resnet18: CommonModelOptions;
  mobilenetv2: CommonModelOptions & { widthMult?: number; cifar?: boolean; dropout?: number };
  /**
   * `depth`/`width` multipliers directly, or `phi` with the base pair (`baseDepth` d̂, `baseWidth`
   * ŵ, default 1.4 and 1.2, the authors' best CIFAR pair): `d = d̂^φ`, `w = ŵ^φ`; or the
   * resulting `stageChannels` / `blocksPerStage` directly.
   */
  micronet: CommonModelOptions & {
    depth?: number; width?: number; phi?: number; baseDepth?: number; baseWidth?: number; dropout?: number;
    /** The stage channels themselves, instead of a width (what a state dict holds). */
    stageChannels?: readonly [number, number, number];
    /** Blocks per stage themselves, instead of a depth. */
    blocksPerStage?: number;
  };
  /**
   * `imageSize`: the side "same" padding is computed for (default the variant's, 224 / 240);
   * `width`/`depth`: compound coefficients (default the variant's; smaller ones build reduced
   * networks for tests); `dropout` before `_fc` (0.2), `dropConnect` rate of the last block (0.2).
   */
  'efficientnet-b0': EfficientNetZooOptions;
  'efficientnet-b1': EfficientNetZooOptions;
  /** The authors' `image_micronet(d, w)`: `depth`/`width` directly or `phi` with the base pair (default 1.4, 1.2); `dropout` before `linear` (0.3). */
  'micronet-imagenet': CommonModelOptions & { depth?: number; width?: number; phi?: number; baseDepth?: number; baseWidth?: number; dropout?: number };
}

/** Options of the EfficientNet zoo entries. */
export type EfficientNetZooOptions = CommonModelOptions & { imageSize?: number; width?: number; depth?: number; dropout?: number; dropConnect?: number };

/** Names {@link createModel} accepts. */
export type ModelName = keyof ModelOptionsByName;

const COMMON_KEYS = ['numClasses', 'inChannels', 'rng', 'seed'] as const;
const EXTRA_KEYS: { readonly [N in ModelName]: readonly string[] } = {
  lenet5: ['inputSize'],
  resnet20: [],
  resnet32: [],
  resnet44: [],
  resnet56: [],
  resnet18: [],
  mobilenetv2: ['widthMult', 'cifar', 'dropout'],
  micronet: ['depth', 'width', 'phi', 'baseDepth', 'baseWidth', 'dropout', 'stageChannels', 'blocksPerStage'],
  'efficientnet-b0': ['imageSize', 'width', 'depth', 'dropout', 'dropConnect'],
  'efficientnet-b1': ['imageSize', 'width', 'depth', 'dropout', 'dropConnect'],
  'micronet-imagenet': ['depth', 'width', 'phi', 'baseDepth', 'baseWidth', 'dropout'],
};

/** Most classes a model may have (ImageNet-21k has 21,841). */
export const MAX_CLASSES = 1_000_000;

/** Every model name, in a stable order. */
export const MODEL_NAMES: readonly ModelName[] = Object.keys(EXTRA_KEYS) as ModelName[];

/** True when `name` is a model {@link createModel} knows. */
export function isModelName(name: string): name is ModelName {
  return Object.prototype.hasOwnProperty.call(EXTRA_KEYS, name);
}

function num(name: string, opts: Record<string, unknown>, key: string, fallback: number, kind: 'positiveInt' | 'positive' | 'probability'): number {
  const v = opts[key];
  if (v === undefined) return fallback;
  const ok =
    typeof v === 'number' &&
    (kind === 'positiveInt' ? Number.isInteger(v) && v >= 1 : kind === 'positive' ? Number.isFinite(v) && v > 0 : v >= 0 && v < 1);
  if (!ok) {
    const want = kind === 'positiveInt' ? 'a positive integer' : kind === 'positive' ? 'a finite number > 0' : 'a number in [0, 1)';
    throw new ValueError('createModel', `${name}: option ${key} must be ${want}, got ${String(v)}`);
  }
  return v as number;
}

/**
 * Builds a model by name, initialised from `rng` (or `new Rng(seed ?? 0)`). Unknown names and
 * unknown or invalid options throw a `ValueError` listing the valid ones.
 * @example const net = createModel('resnet20', { numClasses: 10, seed: 1 });
 */
export function createModel<N extends ModelName>(name: N, options?: ModelOptionsByName[N]): Module;
export function createModel(name: string, options?: Record<string, unknown>): Module;
export function createModel(name: string, options: Record<string, unknown> = {}): Module {
  if (!isModelName(name)) {
    throw new ValueError('createModel', `unknown model '${name}'; valid models: ${MODEL_NAMES.join(', ')}`);
  }
  const valid = [...COMMON_KEYS, ...EXTRA_KEYS[name]];
  const unknown = Object.keys(options).filter((k) => options[k] !== undefined && !valid.includes(k));
  if (unknown.length > 0) {
    throw new ValueError('createModel', `${name}: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; valid options: ${valid.join(', ')}`);
  }
  if (options.rng !== undefined && options.seed !== undefined) {
    throw new ValueError('createModel', `${name}: give either rng or seed, not both`);
  }
  if (options.rng !== undefined && !(options.rng instanceof Rng)) {
    throw new ValueError('createModel', `${name}: option rng must be an Rng`);
  }
  if (options.seed !== undefined && !(typeof options.seed === 'number' && Number.isInteger(options.seed))) {
    throw new ValueError('createModel', `${name}: option seed must be an integer, got ${String(options.seed)}`);
  }
  const rng = (options.rng as Rng | undefined) ?? new Rng((options.seed as number | undefined) ?? 0);
  const numClasses = num(name, options, 'numClasses', 10, 'positiveInt');
  // A bound far above any real label set, so a corrupt count is an error rather than a huge allocation.
  if (numClasses > MAX_CLASSES) throw new ValueError('createModel', `${name}: option numClasses must be at most ${MAX_CLASSES}, got ${numClasses}`);
  const inChannels = num(name, options, 'inChannels', name === 'lenet5' ? 1 : 3, 'positiveInt');

  switch (name) {
    case 'lenet5':
      return new LeNet5({ rng, numClasses, inChannels, inputSize: num(name, options, 'inputSize', 28, 'positiveInt') });
    case 'resnet20':
    case 'resnet32':
    case 'resnet44':
    case 'resnet56': {
      const depth = Number(name.slice('resnet'.length));
      return new CifarResNet({ rng, numClasses, inChannels, blocksPerStage: (depth - 2) / 6 });
    }
    case 'resnet18':
      return new ResNet({ rng, numClasses, inChannels });
    case 'mobilenetv2': {
      if (options.cifar !== undefined && typeof options.cifar !== 'boolean') {
        throw new ValueError('createModel', `mobilenetv2: option cifar must be a boolean, got ${String(options.cifar)}`);
      }
      return new MobileNetV2({
        rng,
        numClasses,
        inChannels,
        widthMult: num(name, options, 'widthMult', 1, 'positive'),
        cifar: (options.cifar as boolean | undefined) ?? false,
        dropout: num(name, options, 'dropout', 0.2, 'probability'),
      });
    }
    case 'micronet':
    case 'micronet-imagenet': {
      const hasDirect = options.depth !== undefined || options.width !== undefined;
      const hasPhi = options.phi !== undefined || options.baseDepth !== undefined || options.baseWidth !== undefined;
      if (hasDirect && hasPhi) {
        throw new ValueError('createModel', `${name}: give depth/width, or phi (with optional baseDepth/baseWidth), not both`);
      }
      let depth = num(name, options, 'depth', 1, 'positive');
      let width = num(name, options, 'width', 1, 'positive');
      if (hasPhi) {
        const phi = options.phi === undefined ? 0 : options.phi;
        if (typeof phi !== 'number' || !Number.isFinite(phi) || phi < 0) {
          throw new ValueError('createModel', `${name}: option phi must be a finite number >= 0, got ${String(phi)}`);
        }
        depth = num(name, options, 'baseDepth', 1.4, 'positive') ** phi;
        width = num(name, options, 'baseWidth', 1.2, 'positive') ** phi;
      }
      if (name === 'micronet-imagenet') {
        return new ImageNetMicroNet({ rng, numClasses, inChannels, depth, width, dropout: num(name, options, 'dropout', 0.3, 'probability') });
      }
      if (options.stageChannels !== undefined && (options.width !== undefined || hasPhi)) {
        throw new ValueError('createModel', 'micronet: give stageChannels or a width (width, phi), not both');
      }
      if (options.blocksPerStage !== undefined && (options.depth !== undefined || hasPhi)) {
        throw new ValueError('createModel', 'micronet: give blocksPerStage or a depth (depth, phi), not both');
      }
      const sc = options.stageChannels;
      if (sc !== undefined && !(Array.isArray(sc) && sc.length === 3 && sc.every((c) => Number.isInteger(c) && c >= 1))) {
        throw new ValueError('createModel', `micronet: option stageChannels must be three positive integers, got ${JSON.stringify(sc)}`);
      }
      const blocksPerStage = options.blocksPerStage === undefined ? undefined : num(name, options, 'blocksPerStage', 1, 'positiveInt');
      return new MicroNet({
        rng, numClasses, inChannels, depth, width, dropout: num(name, options, 'dropout', 0.2, 'probability'),
        stageChannels: sc as [number, number, number] | undefined, blocksPerStage,
      });
    }
    case 'efficientnet-b0':
    case 'efficientnet-b1': {
      const v = EFFICIENTNET_VARIANTS[name];
      return new EfficientNet({
        rng, numClasses, inChannels,
        width: num(name, options, 'width', v.width, 'positive'),
        depth: num(name, options, 'depth', v.depth, 'positive'),
        imageSize: num(name, options, 'imageSize', v.imageSize, 'positiveInt'),
        dropout: num(name, options, 'dropout', v.dropout, 'probability'),
        dropConnect: num(name, options, 'dropConnect', 0.2, 'probability'),
      });
    }
  }
}

/**
 * The default set of layers EC2T ternarizes for a model (docs/METHOD.md §2), as module names:
 * - lenet5: `conv1, conv2, fc1, fc2` (not `fc3`);
 * - resnet20/32/44/56, resnet18, micronet: every Conv2d whose name contains `.conv` (the convs
 *   inside residual blocks — the authors' rule on parameter names), so not the stem `conv1`, not
 *   `shortcut.0` / `downsample.0`, not the final linear;
 * - mobilenetv2: the non-depthwise convs inside inverted residual blocks (`features.N.conv.*`
 *   with groups 1); depthwise convs are left out, the paper uses ECP for them;
 * - efficientnet-b0/b1: every `_expand_conv`, `_project_conv` and `_conv_head` (the authors'
 *   quantizer: not the stem, the depthwise convs, the squeeze-and-excitation convs or `_fc`, which
 *   their code can only prune with ECP);
 * - micronet-imagenet: the `.conv` rule above (block convs only; not the stem `conv1`, the head
 *   `conv2`, the shortcuts or `linear`).
 * @example ternaryLayerNames(model, 'resnet20') // ['layer1.0.conv1', 'layer1.0.conv2', ...]
 */
export function ternaryLayerNames(model: Module, modelName: string): string[] {
  if (!isModelName(modelName)) {
    throw new ValueError('ternaryLayerNames', `unknown model '${modelName}'; valid models: ${MODEL_NAMES.join(', ')}`);
  }
  const modules = model.namedModules();
  if (modelName === 'lenet5') {
    const want = ['conv1', 'conv2', 'fc1', 'fc2'];
    const names = new Set(modules.map(([n]) => n));
    const absent = want.filter((n) => !names.has(n));
    if (absent.length > 0) throw new ValueError('ternaryLayerNames', `lenet5: the model has no ${absent.join(', ')}; is it a LeNet5?`);
    return want;
  }
  if (modelName === 'efficientnet-b0' || modelName === 'efficientnet-b1') {
    return modules.filter(([n, m]) => m instanceof Conv2d && /(^|\.)(_expand_conv|_project_conv|_conv_head)$/.test(n)).map(([n]) => n);
  }
  return modules
    .filter(([n, m]) => m instanceof Conv2d && n.includes('.conv') && (modelName !== 'mobilenetv2' || m.groups === 1))
    .map(([n]) => n);
}

/** {@link ternaryLayerNames} as weight parameter names (`layer1.0.conv1.weight`). */
export function ternaryParameterNames(model: Module, modelName: string): string[] {
  return ternaryLayerNames(model, modelName).map((n) => `${n}.weight`);
}
