/**
 * The nn model an export builds from a model name and options, its input, and the checkpoint read
 * with its ternary-valued layers recognised.
 */
import { ValueError } from '../../base/errors.js';
import { Rng } from '../../base/rng.js';
import type { Conv2d, Sequential } from '../../nn/layers.js';
import { EfficientNet, MobileNetV2, createModel, isModelName, ternaryLayerNames, MODEL_NAMES } from '../../nn/models/index.js';
import type { Module } from '../../nn/module.js';
import { stripDataParallelPrefix } from '../../nn/module.js';
import type { SafetensorEntry } from '../../nn/safetensors.js';
import { recognizeTernaryLayers, type RecognizedWeights } from '../recognize.js';
import type { Program } from '../runtime/program.js';
import { completeModelOptions } from './options.js';

/** Architectures `packModel` can build a program for. */
export const EXPORT_MODELS = ['lenet5', 'resnet20', 'resnet32', 'resnet44', 'resnet56', 'resnet18', 'micronet', 'mobilenetv2', 'efficientnet-b0', 'efficientnet-b1', 'micronet-imagenet'] as const;

/**
 * Reads a checkpoint's ternary-valued layers as ternary (ec2t/recognize.ts): the layers the
 * model's policy would ternarize ({@link ternaryLayerNames}) whose weights hold at most
 * {−a, 0, +b} get `.assignment`, `.w_p` and `.w_n` siblings. A DataParallel `module.` prefix is
 * stripped first. `packModel` and `describeForScore` call it, so every command that takes weights
 * reads such a file alike; call it to learn which layers were recognised.
 * @example recognizeTernaryValued('resnet20', loadSafetensors('authors.safetensors').tensors).recognized.length // 18
 */
export function recognizeTernaryValued(modelName: string, weights: Map<string, SafetensorEntry>, modelOptions: Record<string, unknown> = {}, source = 'state dict'): RecognizedWeights {
  const sd = new Map(stripDataParallelPrefix([...weights]));
  const model = makeModel(modelName, completeModelOptions(modelName, modelOptions, sd, source));
  return recognizeTernaryLayers(sd, ternaryLayerNames(model, modelName));
}

/** Builds the nn model of `modelName` with `modelOptions` (deterministic init; weights come from the state dict). */
export function makeModel(modelName: string, modelOptions: Record<string, unknown>): Module {
  if (!isModelName(modelName)) throw new ValueError('packModel', `unknown model '${modelName}'; models: ${MODEL_NAMES.join(', ')}`);
  if (!(EXPORT_MODELS as readonly string[]).includes(modelName)) throw new ValueError('packModel', `export supports: ${EXPORT_MODELS.join(', ')}; ${modelName} is not supported yet`);
  const { rng: _r, seed: _s, ...rest } = modelOptions;
  return createModel(modelName, { ...rest, rng: new Rng(0) });
}

/** The input a packed program declares: channels from the first conv, side from the model's training-time default (lenet5: `inputSize`). */
export function inputOf(modelName: string, model: Module, opts: Record<string, unknown>): Program['input'] {
  if (model instanceof EfficientNet) return { channels: model._conv_stem.inChannels, height: model.imageSize, width: model.imageSize };
  const conv1 = model instanceof MobileNetV2 ? (model.features.at(0) as Sequential).at(0) as Conv2d : (model as unknown as { conv1: Conv2d }).conv1;
  const side = modelName === 'lenet5' ? ((opts.inputSize as number | undefined) ?? 28) : modelName === 'resnet18' || modelName === 'micronet-imagenet' || (modelName === 'mobilenetv2' && opts.cifar !== true) ? 224 : 32;
  return { channels: conv1.inChannels, height: side, width: side };
}
