/**
 * ec2t — a from-scratch TypeScript deep-learning engine for training sparse ternary networks
 * with EC2T (Entropy-Constrained Trained Ternarization).
 *
 * The package root exports the library; `ec2t/runtime` is the inference-only ternary runtime.
 * @example
 * import { createModel, crossEntropy, SGD, randn, Rng } from 'ec2t';
 * const net = createModel('lenet5', { seed: 1 });
 * const opt = new SGD({ params: net.parameters(), lr: 0.01, momentum: 0.9 });
 * const loss = crossEntropy(net.forward(randn([8, 1, 28, 28], new Rng(0))), [0, 1, 2, 3, 4, 5, 6, 7]);
 * loss.backward(); opt.step();
 */
export * from './engine/index.js';
export {
  registerKernel, kernel, kernelFor, kernelBackends, hasKernel, resolveBackend, setBackend, getBackend,
  setAutoChooser, setKernelTrace, kernelTrace,
} from './kernels/registry.js';
export type { Backend, BackendChoice, KernelMap, KernelName, Conv2dGeometry, Conv2dOptions, MatmulGeometry, Pool2dGeometry } from './kernels/types.js';
export { backendSettings, setBackendSettings, settingSource, defaultThreads, ENV_VARS as BACKEND_ENV_VARS, MAX_THREADS } from './kernels/settings.js';
export type { BackendSettings, SettingSource, TernaryJitMode, PackBMode } from './kernels/settings.js';
export { platform, setPlatform, nodeServices } from './base/platform.js';
export type { Platform, HostFacts, NodeServices } from './base/platform.js';
export { fetchBytes } from './base/fetch.js';
export { preparePool, poolThreadsUnavailable } from './kernels/wasm/worker-pool.js';

export * from './nn/module.js';
export * from './nn/layers.js';
export * as init from './nn/init.js';
export * from './nn/models/index.js';
export * from './nn/optim.js';
export * from './nn/schedule.js';
export * from './nn/safetensors.js';
export * from './nn/checkpoint.js';

export * from './datasets/index.js';

export * from './ec2t/assign.js';
export * from './ec2t/init.js';
export * from './ec2t/gradients.js';
export * from './ec2t/stats.js';
export { RunFolder, parseMetrics } from './ec2t/runfolder.js';
export { MemoryRunStore, RUN_FILES, readSafetensors as readRunSafetensors, writeSafetensors as writeRunSafetensors } from './ec2t/runstore.js';
export type { EpochMetrics, RunStore } from './ec2t/runstore.js';
export { TrainingPhase, OptimizerUpdater, evaluate, readRunCheckpoint } from './ec2t/train.js';
export type { Updater, Evaluation, PhaseOptions, PhaseResult, BatchProgress, RunCheckpoint } from './ec2t/train.js';
export { trainModel } from './ec2t/recipes/train.js';
export type { TrainModelOptions, TrainResult } from './ec2t/recipes/train.js';
export { ternarizeModel, BEST_EC2T_FILE, TERNARY_FILE } from './ec2t/recipes/ternarize.js';
export type { TernarizeModelOptions, TernarizeResult } from './ec2t/recipes/ternarize.js';
export type { RecipeProgress, RecipeControl, LayerInspection } from './ec2t/recipes/events.js';
export { trainRun, ternarizeRun, evalRun, selectLayers } from './ec2t/recipes/run.js';
export type { TrainRunOptions, TrainRunSummary, TernarizeRunOptions, TernarizeRunSummary, EvalRunOptions, EvalRunResult, RunControl, RunConfigFile } from './ec2t/recipes/run.js';
export { exportPacked, exportOnnxModel, runCalibrationBatch, scoreModel } from './ec2t/recipes/export.js';
export type { ExportOptions, ExportResult, OnnxExportResult, ScoreOptions, ScoreResult } from './ec2t/recipes/export.js';
export { scaleSearch, growFromRun, parseScalePair, THESIS_GRID } from './ec2t/recipes/scale.js';
export type { ScaleSearchOptions, ScaleSummary, ScaleRow } from './ec2t/recipes/scale.js';
export { TRAIN_RUN_DEFAULTS, TERNARIZE_RUN_DEFAULTS, SCALE_SEARCH_DEFAULTS, runOptionsFromFlags, flagsOfRunOptions } from './ec2t/recipes/defaults.js';
export {
  seedStreams, loadSplits, defaultValSize, checkInputSize, buildModel, architectureOfWeights, readWeights, loadWeightsInto, skippedImages,
} from './ec2t/recipes/setup.js';
export type { SeedStreams, DataSplits, DataOptions, NoteSink } from './ec2t/recipes/setup.js';
export { growMicroNet } from './nn/models/grow.js';
export type { GrowReport } from './nn/models/grow.js';
export { TernaryQuantizer, loadTernaryStateDict, DEFAULT_QUANTIZER_CONFIG } from './ec2t/quantizer.js';
export type { QuantizerConfig, TernaryLayerState, LayerHistogram } from './ec2t/quantizer.js';
export * from './ec2t/pack.js';
export * from './ec2t/score.js';
export * from './ec2t/score-rules.js';
export * from './ec2t/recognize.js';
export { packModel, unpackModel, inferModelOptions, describeForScore, recognizeTernaryValued, EXPORT_MODELS } from './ec2t/export.js';
export { exportOnnx, programToOnnx, ONNX_OPSET, ONNX_IR_VERSION, ONNX_INPUT, ONNX_OUTPUT } from './ec2t/onnx.js';
export type { OnnxModel, OnnxExportOptions } from './ec2t/onnx.js';
export { writeReport, renderReport } from './ec2t/report/index.js';
