/**
 * `ec2t export` (pack a ternary model into `.ec2t.safetensors`, or write any model as ONNX) and `ec2t score` (MicroNet-challenge
 * counts of a model, dense or ternary).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError } from '../base/errors.js';
import { type ActivationLayerReport, type CalibrationBatch, buildExportModel, calibrationBatchFromDataset, describeForScore, floatStateDictBytes, inferModelOptions, packModel, readCalibrationFile, recognizeTernaryValued, ternaryLayersOf, withIntActivations } from '../ec2t/export.js';
import { scoreWithRules, type ScoreRules } from '../ec2t/score-rules.js';
import { exportOnnx, ONNX_OPSET } from '../ec2t/onnx.js';
import { MODEL_NAMES, isModelName, type ModelName } from '../nn/models/index.js';
import { loadSafetensors, writeFileAtomic, type SafetensorEntry } from '../nn/safetensors.js';
import type { Parsed } from './args.js';
import { UsageError } from './args.js';
import { refuseExistingOutput, refuseInputAsOutput } from './outputs.js';
import { type RunConfigFile, mobileNetV2Cifar, requireFile } from './common.js';
import { loadSplits, seedStreams, type DataOptions } from '../ec2t/recipes/setup.js';
import { runOptionsFromFlags } from '../ec2t/recipes/defaults.js';
import { stripDataParallelPrefix } from '../nn/module.js';
import { log } from './progress.js';

/** What {@link exportRun} returns. */
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
  /** `--activations`: what each ternary layer got (empty for float). */
  activations: ActivationLayerReport[];
}

/** What {@link exportOnnxRun} returns. */
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

/** Options of {@link exportRun} and {@link exportOnnxRun}. */
export interface ExportOptions {
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
}

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
  if (o.run !== undefined) {
    if (!existsSync(o.run)) throw new UsageError(`--run ${o.run}: no such folder`);
    weights ??= join(o.run, 'ternary.safetensors');
    if (!existsSync(weights)) throw new FormatError(weights, 'no ternary.safetensors in the run folder (is it a finished `ec2t ternarize` run?)');
  }
  if (weights === undefined) throw new UsageError('give --run DIR, or --model NAME with --weights FILE');
  const out = o.out ?? (o.run !== undefined ? join(o.run, defaultOut) : undefined);
  if (out === undefined) throw new UsageError('ec2t export: give --out FILE');
  refuseInputAsOutput('export', '--out', out, [{ flag: o.weights !== undefined ? '--weights' : '--run', path: weights }]);
  refuseExistingOutput('export', '--out', out, o.force === true);
  const file = loadWeights(weights);
  if (model === undefined) model = file.metadata.model;
  if (model === undefined && o.run !== undefined && existsSync(join(o.run, 'config.json'))) {
    const cfg = JSON.parse(readFileSync(join(o.run, 'config.json'), 'utf8')) as { flags?: { model?: string } };
    model = cfg.flags?.model;
  }
  if (model === undefined) throw new UsageError(`${weights} does not say its model; give --model NAME`);
  if (!isModelName(model)) throw new UsageError(`--model ${model}: unknown model; models: ${MODEL_NAMES.join(', ')}`);
  // MobileNetV2's strides are not in the weights: follow the input size as training does (default 32 px).
  const modelOptions = model === 'mobilenetv2' ? { cifar: mobileNetV2Cifar(o.inputSize, 32) } : {};
  // EfficientNet's "same" padding is not in the weights either: computed for --input-size (default the variant's).
  if (isEfficientNet(model) && o.inputSize !== undefined) Object.assign(modelOptions, { imageSize: o.inputSize });
  return { out, weights, model, modelOptions, tensors: file.tensors };
}

/**
 * Packs a ternarize run (or a model name + ternary weights) into `out`.
 * @example exportRun({ run: 'runs/lenet5-ec2t', out: 'lenet5.ec2t.safetensors' }).bytes
 */
export function exportRun(o: ExportOptions): ExportResult {
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

/** The default calibration batch of a run: the first 256 images of its training set, as its config.json describes it. */
function runCalibrationBatch(run: string): CalibrationBatch {
  const path = join(run, 'config.json');
  if (!existsSync(path)) throw new UsageError(`--run ${run}: no config.json to find its training set; give --calibrate FILE`);
  const saved = JSON.parse(readFileSync(path, 'utf8')) as RunConfigFile;
  const flags = saved.flags ?? {};
  if (typeof flags.dataset !== 'string') throw new UsageError(`--run ${run}: config.json names no dataset; give --calibrate FILE`);
  const splits = loadSplits(runOptionsFromFlags<DataOptions>(flags), seedStreams(typeof flags.seed === 'number' ? flags.seed : 0));
  return calibrationBatchFromDataset(splits.train, 256);
}

/**
 * Writes a run's model (or a model name + float or ternary weights) as an ONNX file.
 * @example exportOnnxRun({ model: 'resnet20', weights: 'w.safetensors', out: 'resnet20.onnx' }).ternaryLayers
 */
export function exportOnnxRun(o: ExportOptions): OnnxExportResult {
  const { out, weights, model, modelOptions, tensors } = exportSource(o, 'model.onnx');
  const onnx = exportOnnx(model, modelOptions, tensors, { source: weights, inputSize: o.inputSize });
  writeFileAtomic(out, onnx.bytes, { createParents: false });
  const { channels, height, width } = onnx.input;
  return { format: 'onnx', path: out, model, bytes: onnx.bytes.length, opset: ONNX_OPSET, input: ['N', channels, height, width], output: ['N', onnx.outputs], ternaryLayers: onnx.ternaryLayers };
}

/** `ec2t export` handler. */
export async function runExport(p: Parsed): Promise<number> {
  const f = p.flags;
  const run = f.run as string | undefined;
  const model = f.model as string | undefined;
  const weights = f.weights as string | undefined;
  if (run === undefined && (model === undefined || weights === undefined)) throw new UsageError('ec2t export: give --run DIR, or --model NAME and --weights FILE');
  if (run !== undefined && weights !== undefined) throw new UsageError('ec2t export: give --run or --weights, not both');
  const o: ExportOptions = { run, model, weights, out: f.out as string | undefined, force: f.force === true, inputSize: f['input-size'] as number | undefined };
  const activations = (f.activations as ExportOptions['activations'] | undefined) ?? 'float';
  const calibrate = f.calibrate as string | undefined;
  if (calibrate !== undefined && activations === 'float') throw new UsageError('ec2t export: --calibrate applies to --activations int8|int16');
  if (f.format === 'onnx') {
    if (f.float16 === true) throw new UsageError('ec2t export: --float16 applies to --format packed; the ONNX file stores float32');
    if (activations !== 'float') throw new UsageError('ec2t export: --activations applies to --format packed; the ONNX file computes in float32');
    const r = exportOnnxRun(o);
    if (f.json) process.stdout.write(JSON.stringify(r) + '\n');
    else {
      const n = r.ternaryLayers.length;
      const layers = n === 0 ? 'float32, no ternary layers' : `${n} ternary layer${n === 1 ? '' : 's'} as float32 tensors of {−w_n, 0, +w_p}`;
      process.stdout.write(`${r.path}: ONNX opset ${r.opset}, ${r.bytes} bytes; input [${r.input.join(', ')}], output [${r.output.join(', ')}]; ${layers}\n`);
    }
    return 0;
  }
  if (calibrate !== undefined) requireFile(calibrate, 'calibration file');
  const r = exportRun({ ...o, float16: f.float16 === true, activations, calibration: calibrate !== undefined ? readCalibrationFile(calibrate) : undefined });
  const ratio = r.floatBytes / r.bytes;
  if (f.json) process.stdout.write(JSON.stringify({ ...r, ratio }) + '\n');
  else {
    process.stdout.write(`${r.path}: ${r.bytes} bytes on disk; float32 model ${r.floatBytes} bytes (${ratio.toFixed(1)}× smaller)\n`);
    if (r.recognized.length > 0) log(`read ${r.recognized.length} ternary-valued layer(s) as ternary (${r.recognized[0]}, …)`);
    if (r.removedChannels > 0) log(`removed ${r.removedChannels} dead output channel(s)`);
    if (r.activations.length > 0) {
      const ints = r.activations.filter((a) => a.mode !== 'float');
      log(`${activations} activations on ${ints.length} of ${r.activations.length} ternary layer(s)${ints.length > 0 ? ' (ec2t.packed/4)' : ''}`);
      for (const a of r.activations) if (a.note !== undefined) log(`${a.layer}: ${a.note}`);
    }
  }
  return 0;
}

/** `ec2t score` handler. */
export async function runScore(p: Parsed): Promise<number> {
  const f = p.flags;
  const model = f.model as string;
  if (!isModelName(model)) throw new UsageError(`--model ${model}: unknown model; models: ${MODEL_NAMES.join(', ')}`);
  const weightsPath = f.weights as string | undefined;
  const inputSize = f['input-size'] as number | undefined;
  const rules = (f.rules as ScoreRules | undefined) ?? 'plain';
  let sd: Map<string, SafetensorEntry> | null = null;
  let opts: Record<string, unknown>;
  let recognized: string[] = [];
  if (weightsPath !== undefined) {
    sd = loadWeights(weightsPath).tensors;
    opts = inferModelOptions(model, sd, weightsPath);
    // MobileNetV2's strides are not in the weights: follow the input size as training does (default 32 px).
    if (model === 'mobilenetv2') opts.cifar = mobileNetV2Cifar(inputSize, 32);
    if (isEfficientNet(model) && inputSize !== undefined) opts.imageSize = inputSize;
    if (f.classes !== undefined && f.classes !== opts.numClasses) throw new UsageError(`--classes ${String(f.classes)} but the weights have ${String(opts.numClasses)} classes`);
    ({ stateDict: sd, recognized } = recognizeTernaryValued(model, sd, opts, weightsPath));
  } else {
    opts = { numClasses: (f.classes as number | undefined) ?? 10 };
    if (model === 'lenet5') opts.inputSize = inputSize ?? 28;
    if (model === 'mobilenetv2') opts.cifar = mobileNetV2Cifar(inputSize, 32);
    if (isEfficientNet(model) && inputSize !== undefined) opts.imageSize = inputSize;
  }
  const layers = describeForScore(model, opts, sd, inputSize);
  const s = scoreWithRules(layers, rules);
  const ternary = sd !== null && ternaryLayersOf(sd).size > 0;
  let bytes: number;
  if (ternary) bytes = packModel(model, opts, sd as Map<string, SafetensorEntry>, { source: weightsPath }).bytes.length;
  else if (sd !== null) bytes = floatStateDictBytes(sd);
  else bytes = floatStateDictBytes(freshStateDict(model, opts));
  const out = {
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
  if (f.json) {
    process.stdout.write(JSON.stringify(out) + '\n');
    return 0;
  }
  const M = (v: number): string => (v / 1e6).toFixed(2) + 'M';
  const lines = [
    `${model}${ternary ? ' (ternary)' : ' (float32)'}, ${rules} rules: ${Math.round(s.params * 100) / 100} params, ${M(s.additions)} additions + ${M(s.multiplications)} multiplications = ${M(s.flops)} FLOPs; score ${s.score.toFixed(5)}`,
    `dense float32: ${s.dense.params} params, ${M(s.dense.flops)} FLOPs; sparsity ${(100 * s.sparsity).toFixed(1)}%; ${bytes} bytes`,
    ...(recognized.length > 0 ? [`read ${recognized.length} ternary-valued layer(s) as ternary (${recognized[0]}, …)`] : []),
    '',
    `${'layer'.padEnd(24)} ${'kind'.padEnd(7)} ${'params'.padStart(10)} ${'adds'.padStart(10)} ${'mults'.padStart(10)}`,
    // The MicroNet rules also count ReLU, residual additions (and pooling): their rows make the table add up.
    ...s.layers.filter((l) => l.kind === 'conv' || l.kind === 'linear' || l.kind === 'bn' || (rules !== 'plain' && l.flops > 0)).map((l) => `${l.name.padEnd(24)} ${(l.kind + (l.ternary ? '*' : '')).padEnd(7)} ${(Math.round(l.params * 10) / 10).toString().padStart(10)} ${M(l.additions).padStart(10)} ${M(l.multiplications).padStart(10)}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

/** The float32 state dict of a freshly built model (for its file size). */
function freshStateDict(model: string, opts: Record<string, unknown>): Map<string, SafetensorEntry> {
  const m = new Map<string, SafetensorEntry>();
  for (const [k, t] of buildExportModel(model, opts).stateDict()) m.set(k, { dtype: 'F32', shape: [...t.shape], data: t.data });
  return m;
}
