/**
 * `ec2t predict`: runs a model in eval mode on the tensor named `input` of a safetensors file and
 * writes the tensor `output` — a float model through nn (`--model NAME --weights FILE`) or a packed
 * ternary model through the runtime (`--model FILE.ec2t.safetensors`).
 */
import { existsSync } from 'node:fs';
import { FormatError, ShapeError } from '../base/errors.js';
import { Rng } from '../base/rng.js';
import { Tensor, noGrad } from '../engine/tensor.js';
import { loadTernaryModel } from '../ec2t/runtime/index.js';
import { MODEL_NAMES, isModelName } from '../nn/models/index.js';
import { entryToFloat32, loadSafetensors, saveSafetensors } from '../nn/safetensors.js';
import type { Parsed } from './args.js';
import { UsageError } from './args.js';
import { architectureOfWeights, buildModel, isPackedModelPath, loadWeightsInto, readWeights, requireFile } from './common.js';
import { refuseInputAsOutput } from './outputs.js';
import { log } from './progress.js';

function readInput(path: string): { data: Float32Array; shape: [number, number, number, number] } {
  requireFile(path, 'input file');
  const f = loadSafetensors(path);
  const e = f.tensors.get('input');
  if (e === undefined) throw new FormatError(path, `no tensor named "input" (found: ${[...f.tensors.keys()].join(', ') || 'none'})`);
  if (e.shape.length !== 4) throw new ShapeError('predict', `tensor "input" of ${path} must be NCHW (4 dims), got [${e.shape.join(', ')}]`);
  return { data: Float32Array.from(entryToFloat32(e)), shape: e.shape as [number, number, number, number] };
}

/** `ec2t predict` handler. */
export async function runPredict(p: Parsed): Promise<number> {
  const f = p.flags;
  const model = f.model as string;
  const outPath = f.output as string;
  refuseInputAsOutput('predict', '--output', outPath, [
    { flag: '--input', path: f.input as string }, { flag: '--weights', path: f.weights as string | undefined }, { flag: '--model', path: existsSync(model) ? model : undefined },
  ]);
  const x = readInput(f.input as string);
  let out: { data: Float32Array; shape: number[] };
  if (isPackedModelPath(model)) {
    if (f.weights !== undefined) throw new UsageError('--weights is not used with a packed model file (the weights are inside it)');
    requireFile(model, 'packed model file');
    const m = loadTernaryModel(model);
    for (const n of m.notes) log(`note: ${n}`);
    // NOTE: one call per process is served by the generic wasm SIMD kernel (per-layer code is only
    // generated from a layer's third call), which beats the pure-JS kernel from batch 8 on
    // (ResNet-20 first call b1 / b8 / b16: 61 / 73 / 91 ms against 56 / 219 / 371 ms in JS).
    out = m.predict(x.data, x.shape);
  } else {
    if (!isModelName(model)) throw new UsageError(`--model ${model}: not a model name or an existing file; models: ${MODEL_NAMES.join(', ')}`);
    const weights = f.weights as string | undefined;
    if (weights === undefined) throw new UsageError('--model NAME needs --weights FILE (or give a packed .ec2t.safetensors model)');
    requireFile(weights, 'weights file');
    const [, C, H] = x.shape;
    const tensors = readWeights(weights);
    const arch = architectureOfWeights(model, tensors, weights, { channels: C });
    const classes = (f.classes as number | undefined) ?? arch.numClasses;
    const net = buildModel(model, { classes, channels: C, height: H }, new Rng(0), arch.options, f['input-size'] as number | undefined);
    loadWeightsInto(net, weights, tensors);
    net.eval();
    const y = noGrad(() => net.forward(new Tensor(x.data, x.shape)));
    out = { data: Float32Array.from(y.data), shape: [...y.shape] };
  }
  saveSafetensors(outPath, { output: new Tensor(out.data, out.shape) });
  log(`wrote ${outPath}: output [${out.shape.join(', ')}]`);
  return 0;
}
