/**
 * The export and score recipes: pack a ternarize run (or a model name + weights) into
 * `.ec2t.safetensors`, write it as ONNX, or count it by the MicroNet-challenge rules. Shells
 * (`ec2t export`, `ec2t score`, the demo) map their flags to these options and print the result.
 * Node only where a path is read or written (platform layer).
 */
import { FormatError, UsageError } from '../../base/errors.js';
import { nodeServices } from '../../base/platform.js';
import { writeFileAtomic } from '../../base/io.js';
import { type ActivationLayerReport, type CalibrationBatch, buildExportModel, calibrationBatchFromDataset, describeForScore, floatStateDictBytes, inferModelOptions, packModel, recognizeTernaryValued, ternaryLayersOf, withIntActivations } from '../export.js';
import { scoreWithRules, type ScoreRules, type RuledScore } from '../score-rules.js';
import { exportOnnx, ONNX_OPSET } from '../onnx.js';
import { refuseExistingOutput, refuseInputAsOutput } from '../runfolder.js';
import { MODEL_NAMES, isModelName, type ModelName } from '../../nn/models/index.js';
import { loadSafetensors, type SafetensorEntry } from '../../nn/safetensors.js';
import { stripDataParallelPrefix } from '../../nn/module.js';
import { loadSplits, mobileNetV2Cifar, requireFile, seedStreams, type DataOptions, type NoteSink } from './setup.js';
import { runOptionsFromFlags } from './defaults.js';
import type { RunConfigFile } from './run.js';

/** What {@link exportPacked} returns. */
export interface ExportResult {
  /** Bytes of the packed file on disk. */
  bytes: number;
  /** Bytes `saveSafetensors` writes for the float32 state dict of the same model. */
  floatBytes: number;
  path: string;
  model: string;
  /** Dead output channels removed, over all layers. */
  removedChannels: number;
  /** Layers read as ternary from their values (a ternary-valued float checkpoint). */
  recognized: string[];
  /** `activations`: what each ternary layer got (empty for float). */
  activations: ActivationLayerReport[];
}

/** What {@link exportOnnxModel} returns. */
export interface OnnxExportResult {
  format: 'onnx';
  path: string;
  model: string;
  /** Bytes of the ONNX file on disk. */
  bytes: number;
  opset: number;
  /** The input's shape, `"N"` the dynamic batch dimension. */
  input: [string, number, number, number];
  output: [string, number];
  /** Layers exported as float tensors holding their ternary values. */
  ternaryLayers: string[];
}

/** Options of {@link exportPacked} and {@link exportOnnxModel}. */
export interface ExportOptions {
  /** A ternarize run folder (its ternary.safetensors and config.json). */
  run?: string;
  model?: string;
  weights?: string;
  /** Output file (default with `run`: DIR/model.ec2t.safetensors, or DIR/model.onnx for ONNX). */
  out?: string;
  /** Replace an existing `out`. */
  force?: boolean;
  float16?: boolean;
  inputSize?: number;
  /** Ternary layers' activations at run time (default float). */
  activations?: 'float' | 'int16' | 'int8';
  /** Calibration images for integer activations (default with `run`: its training set). */
  calibration?: CalibrationBatch;
  /** Where notes go (MobileNetV2's stride choice); default silent. */
  note?: NoteSink;
}

const silent: NoteSink = () => {};

const isEfficientNet = (model: string): boolean => model === 'efficientnet-b0' || model === 'efficientnet-b1';

function loadWeights(path: string): { tensors: Map<string, SafetensorEntry>; metadata: Record<string, string> } {
  requireFile(path, 'weights file');
  const file = loadSafetensors(path);
  return { tensors: new Map(stripDataParallelPrefix([...file.tensors])), metadata: file.metadata };
}

/** The weights, model and model options an export reads (`defaultOut`: the file name in a run folder), after the output checks. */
function exportSource(o: ExportOptions, defaultOut: string): { out: string; weights: string; model: ModelName; modelOptions: Record<string, unknown>; tensors: Map<string, SafetensorEntry> } {
  let weights = o.weights;
  let model = o.model;
  const where = o.run ?? o.weights ?? o.out ?? 'export';
  const { fs, path } = nodeServices(where);
  if (o.run !== undefined) {
    if (!fs.existsSync(o.run)) throw new UsageError(`--run ${o.run}: no such folder`);
    weights ??= path.join(o.run, 'ternary.safetensors');
    if (!fs.existsSync(weights)) throw new FormatError(weights, 'no ternary.safetensors in the run folder (is it a finished `ec2t ternarize` run?)');
  }
  if (weights === undefined) throw new UsageError('give --run DIR, or --model NAME with --weights FILE');
  const out = o.out ?? (o.run !== undefined ? path.join(o.run, defaultOut) : undefined);
  if (out === undefined) throw new UsageError('ec2t export: give --out FILE');
  refuseInputAsOutput('export', '--out', out, [{ flag: o.weights !== undefined ? '--weights' : '--run', path: weights }]);
  refuseExistingOutput('export', '--out', out, o.force === true);
  const file = loadWeights(weights);
  if (model === undefined) model = file.metadata.model;
  if (model === undefined && o.run !== undefined && fs.existsSync(path.join(o.run, 'config.json'))) {
    const cfg = JSON.parse(fs.readFileSync(path.join(o.run, 'config.json'), 'utf8')) as { flags?: { model?: string } };
    model = cfg.flags?.model;
  }
  if (model === undefined) throw new UsageError(`${weights} does not say its model; give --model NAME`);
  if (!isModelName(model)) throw new UsageError(`--model ${model}: unknown model; models: ${MODEL_NAMES.join(', ')}`);
  // MobileNetV2's strides are not in the weights: follow the input size as training does (default 32 px).
  const modelOptions = model === 'mobilenetv2' ? { cifar: mobileNetV2Cifar(o.inputSize, 32, o.note ?? silent) } : {};
  // EfficientNet's "same" padding is not in the weights either: computed for inputSize (default the variant's).
  if (isEfficientNet(model) && o.inputSize !== undefined) Object.assign(modelOptions, { imageSize: o.inputSize });
  return { out, weights, model, modelOptions, tensors: file.tensors };
}

/**
 * Packs a ternarize run (or a model name + ternary weights) into `out` (ec2t.packed, docs/FORMAT.md).
 * @example exportPacked({ run: 'runs/lenet5-ec2t', out: 'lenet5.ec2t.safetensors' }).bytes
 */
export function exportPacked(o: ExportOptions): ExportResult {
  const { out, weights, model, modelOptions, tensors } = exportSource(o, 'model.ec2t.safetensors');
  let packed = packModel(model, modelOptions, tensors, { float16: o.float16, source: weights });
  let activations: ActivationLayerReport[] = [];
  if (o.activations !== undefined && o.activations !== 'float') {
    const calibration = o.calibration ?? (o.run !== undefined ? runCalibrationBatch(o.run) : undefined);
    if (calibration === undefined) throw new UsageError(`--activations ${o.activations} needs calibration images: give --calibrate FILE (or --run DIR to use its training set)`);
    ({ packed, layers: activations } = withIntActivations(packed, o.activations, calibration, weights));
  }
  writeFileAtomic(out, packed.bytes, { createParents: false });
  return {
    bytes: packed.bytes.length,
    floatBytes: floatStateDictBytes(tensors),
    path: out,
    model,
    removedChannels: packed.dead.reduce((a, d) => a + d.removed.length, 0),
    recognized: packed.recognized,
    activations,
  };
}

/**
 * The default calibration batch of a run: the first 256 images of its training set, as its config.json describes it.
 * @example withIntActivations(packed, 'int8', runCalibrationBatch('runs/lenet5-ec2t'), 'ternary.safetensors')
 */
export function runCalibrationBatch(run: string): CalibrationBatch {
  const { fs, path } = nodeServices(run);
  const configPath = path.join(run, 'config.json');
  if (!fs.existsSync(configPath)) throw new UsageError(`--run ${run}: no config.json to find its training set; give --calibrate FILE`);
  const saved = JSON.parse(fs.readFileSync(configPath, 'utf8')) as Partial<RunConfigFile>;
  const flags = saved.flags ?? {};
  if (typeof flags.dataset !== 'string') throw new UsageError(`--run ${run}: config.json names no dataset; give --calibrate FILE`);
  const splits = loadSplits(runOptionsFromFlags<DataOptions>(flags), seedStreams(typeof flags.seed === 'number' ? flags.seed : 0));
  return calibrationBatchFromDataset(splits.train, 256);
}

/**
 * Writes a run's model (or a model name + float or ternary weights) as an ONNX file (docs/ONNX.md).
 * @example exportOnnxModel({ model: 'resnet20', weights: 'w.safetensors', out: 'resnet20.onnx' }).ternaryLayers
 */
export function exportOnnxModel(o: ExportOptions): OnnxExportResult {
  const { out, weights, model, modelOptions, tensors } = exportSource(o, 'model.onnx');
  const onnx = exportOnnx(model, modelOptions, tensors, { source: weights, inputSize: o.inputSize });
  writeFileAtomic(out, onnx.bytes, { createParents: false });
  const { channels, height, width } = onnx.input;
  return { format: 'onnx', path: out, model, bytes: onnx.bytes.length, opset: ONNX_OPSET, input: ['N', channels, height, width], output: ['N', onnx.outputs], ternaryLayers: onnx.ternaryLayers };
}

/** Options of {@link scoreModel}. */
export interface ScoreOptions {
  model: string;
  /** Weights file; ternary (or ternary-valued float) layers score as ternary. Without it: the dense float32 model. */
  weights?: string;
  /** Input height = width (default the model's). */
  inputSize?: number;
  /** Number of classes (default 10, or from the weights, which it must then match). */
  classes?: number;
  /** Counting rules (default `plain`). */
  rules?: ScoreRules;
  /** Where notes go (MobileNetV2's stride choice); default silent. */
  note?: NoteSink;
}

/** What {@link scoreModel} returns (the JSON `ec2t score --json` prints). */
export interface ScoreResult {
  model: string;
  rules: ScoreRules;
  ternary: boolean;
  /** Layers read as ternary from their values. */
  recognized: string[];
  score: number;
  params: number;
  additions: number;
  multiplications: number;
  flops: number;
  sparsity: number;
  ternarySparsity: RuledScore['ternarySparsity'];
  /** Bytes on disk: the packed file for ternary weights, else the float32 state dict. */
  bytes: number;
  dense: RuledScore['dense'];
  layers: RuledScore['layers'];
}

/**
 * Parameters, additions, multiplications and FLOPs of a model as the MicroNet challenge counts them.
 * @example scoreModel({ model: 'resnet20', rules: 'micronet' }).score
 */
export function scoreModel(o: ScoreOptions): ScoreResult {
  const { model, inputSize } = o;
  const weightsPath = o.weights;
  const rules = o.rules ?? 'plain';
  const note = o.note ?? silent;
  if (!isModelName(model)) throw new UsageError(`--model ${model}: unknown model; models: ${MODEL_NAMES.join(', ')}`);
  let sd: Map<string, SafetensorEntry> | null = null;
  let opts: Record<string, unknown>;
  let recognized: string[] = [];
  if (weightsPath !== undefined) {
    sd = loadWeights(weightsPath).tensors;
    opts = inferModelOptions(model, sd, weightsPath);
    // MobileNetV2's strides are not in the weights: follow the input size as training does (default 32 px).
    if (model === 'mobilenetv2') opts.cifar = mobileNetV2Cifar(inputSize, 32, note);
    if (isEfficientNet(model) && inputSize !== undefined) opts.imageSize = inputSize;
    if (o.classes !== undefined && o.classes !== opts.numClasses) throw new UsageError(`--classes ${String(o.classes)} but the weights have ${String(opts.numClasses)} classes`);
    ({ stateDict: sd, recognized } = recognizeTernaryValued(model, sd, opts, weightsPath));
  } else {
    opts = { numClasses: o.classes ?? 10 };
    if (model === 'lenet5') opts.inputSize = inputSize ?? 28;
    if (model === 'mobilenetv2') opts.cifar = mobileNetV2Cifar(inputSize, 32, note);
    if (isEfficientNet(model) && inputSize !== undefined) opts.imageSize = inputSize;
  }
  const layers = describeForScore(model, opts, sd, inputSize);
  const s = scoreWithRules(layers, rules);
  const ternary = sd !== null && ternaryLayersOf(sd).size > 0;
  let bytes: number;
  if (ternary) bytes = packModel(model, opts, sd as Map<string, SafetensorEntry>, { source: weightsPath }).bytes.length;
  else if (sd !== null) bytes = floatStateDictBytes(sd);
  else bytes = floatStateDictBytes(freshStateDict(model, opts));
  return {
    model,
    rules,
    ternary,
    recognized,
    score: s.score,
    params: s.params,
    additions: s.additions,
    multiplications: s.multiplications,
    flops: s.flops,
    sparsity: s.sparsity,
    ternarySparsity: s.ternarySparsity,
    bytes,
    dense: s.dense,
    layers: s.layers,
  };
}

/** The float32 state dict of a freshly built model (for its file size). */
function freshStateDict(model: string, opts: Record<string, unknown>): Map<string, SafetensorEntry> {
  const m = new Map<string, SafetensorEntry>();
  for (const [k, t] of buildExportModel(model, opts).stateDict()) m.set(k, { dtype: 'F32', shape: [...t.shape], data: t.data });
  return m;
}
