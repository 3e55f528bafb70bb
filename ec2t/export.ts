/**
 * Export of a ternary model: the packed `ec2t.packed/3` file, the score description and the
 * model-options reader. One file per idea under ec2t/export/ (siblings, ir, lower, fold, dead,
 * options, model, pack, describe); this module keeps the one import path the rest of the code uses.
 */
export { describeForScore } from './export/describe.js';
export { LOWERINGS, lowerModel, type IRBuilder, type ModelLowering } from './export/lower.js';
export { EXPORT_MODELS, makeModel as buildExportModel, recognizeTernaryValued } from './export/model.js';
export { inferModelOptions } from './export/options.js';
export type { DeadChannelReport } from './export/dead.js';
export { floatStateDictBytes, packModel, serializePacked, unpackModel, type PackOptions, type PackedModel, type UnpackedLayer } from './export/pack.js';
export { prunedFloatLayersOf, ternaryLayersOf, withoutTernarySiblings } from './export/siblings.js';
export { calibrationBatchFromDataset, readCalibrationFile, withIntActivations, type ActivationLayerReport, type CalibrationBatch } from './export/activations.js';
