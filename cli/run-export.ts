/**
 * `ec2t export` (pack a ternary model into `.ec2t.safetensors`, or write any model as ONNX) and `ec2t score` (MicroNet-challenge
 * counts of a model, dense or ternary): flags to the recipes of ec2t/recipes/export.ts, results to the terminal.
 */
import { readCalibrationFile } from '../ec2t/export.js';
import type { ScoreRules } from '../ec2t/score-rules.js';
import { exportOnnxModel, exportPacked, scoreModel, type ExportOptions } from '../ec2t/recipes/export.js';
import type { Parsed } from './args.js';
import { UsageError } from './args.js';
import { requireFile } from './common.js';
import { log } from './progress.js';

/** `ec2t export` handler. */
export async function runExport(p: Parsed): Promise<number> {
  const f = p.flags;
  const run = f.run as string | undefined;
  const model = f.model as string | undefined;
  const weights = f.weights as string | undefined;
  if (run === undefined && (model === undefined || weights === undefined)) throw new UsageError('ec2t export: give --run DIR, or --model NAME and --weights FILE');
  if (run !== undefined && weights !== undefined) throw new UsageError('ec2t export: give --run or --weights, not both');
  const o: ExportOptions = { run, model, weights, out: f.out as string | undefined, force: f.force === true, inputSize: f['input-size'] as number | undefined, note: log };
  const activations = (f.activations as ExportOptions['activations'] | undefined) ?? 'float';
  const calibrate = f.calibrate as string | undefined;
  if (calibrate !== undefined && activations === 'float') throw new UsageError('ec2t export: --calibrate applies to --activations int8|int16');
  if (f.format === 'onnx') {
    if (f.float16 === true) throw new UsageError('ec2t export: --float16 applies to --format packed; the ONNX file stores float32');
    if (activations !== 'float') throw new UsageError('ec2t export: --activations applies to --format packed; the ONNX file computes in float32');
    const r = exportOnnxModel(o);
    if (f.json) process.stdout.write(JSON.stringify(r) + '\n');
    else {
      const n = r.ternaryLayers.length;
      const layers = n === 0 ? 'float32, no ternary layers' : `${n} ternary layer${n === 1 ? '' : 's'} as float32 tensors of {−w_n, 0, +w_p}`;
      process.stdout.write(`${r.path}: ONNX opset ${r.opset}, ${r.bytes} bytes; input [${r.input.join(', ')}], output [${r.output.join(', ')}]; ${layers}\n`);
    }
    return 0;
  }
  if (calibrate !== undefined) requireFile(calibrate, 'calibration file');
  const r = exportPacked({ ...o, float16: f.float16 === true, activations, calibration: calibrate !== undefined ? readCalibrationFile(calibrate) : undefined });
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
  const rules = (f.rules as ScoreRules | undefined) ?? 'plain';
  const s = scoreModel({ model: f.model as string, weights: f.weights as string | undefined, inputSize: f['input-size'] as number | undefined, classes: f.classes as number | undefined, rules, note: log });
  const { model, ternary, recognized, bytes } = s;
  if (f.json) {
    process.stdout.write(JSON.stringify(s) + '\n');
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
