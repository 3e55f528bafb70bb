/**
 * Integer activations chosen at export (`ec2t export --activations int8|int16`, docs/FORMAT.md
 * "Integer activations"): the packed model runs once in float on a calibration batch, each ternary
 * layer's input range sets its quantization step (`scale = max|x| / qmax`), and the file is
 * rewritten as `ec2t.packed/4` with an `activations` field on those layers. A layer whose busiest
 * output has more weights of one sign than the mode's accumulator holds (kernels/ternary/int.ts
 * `intTapLimit`) keeps float activations, and the report says so.
 */
import { Rng } from '../../base/rng.js';
import { FormatError, ShapeError, ValueError } from '../../base/errors.js';
import { type SafetensorEntry, entryToFloat32, loadSafetensors } from '../../nn/safetensors.js';
import { DataLoader } from '../../datasets/loader.js';
import type { AnyDataset } from '../../datasets/dataset.js';
import { type IntActivationMode, intQmax, intTapLimit, maxTapsPerSign } from '../../kernels/ternary/int.js';
import { ternaryLayerFromMasks } from '../../kernels/ternary/layer.js';
import { loadTernaryModelBytes } from '../runtime/index.js';
import { PACKED_FORMAT_V4, compactProgramJson, type ConvOp, type LinearOp } from '../runtime/program.js';
import { type PackedModel, serializePacked } from './pack.js';

/** An NCHW float32 batch of inputs (normalised as the model expects). */
export interface CalibrationBatch {
  data: Float32Array;
  shape: [number, number, number, number];
}

/** What {@link withIntActivations} decided for one ternary layer. */
export interface ActivationLayerReport {
  layer: string;
  /** The layer's activations in the written file. */
  mode: IntActivationMode | 'float';
  /** Quantization step (integer modes). */
  scale?: number;
  /** Largest |input| seen on the calibration batch. */
  maxAbs: number;
  /** Most weights of one sign in any output channel (what the accumulator must hold). */
  maxTapsPerSign: number;
  /** Why the layer kept float activations. */
  note?: string;
}

/** Images a calibration pass runs at once (bounds the runtime's working memory). */
const CALIBRATION_CHUNK = 64;

/**
 * Rewrites a packed model with integer activations of `mode` on every ternary layer whose
 * accumulators cannot overflow, each layer's step from the calibration batch's largest |input|.
 * @example const { packed, layers } = withIntActivations(packModel('resnet20', {}, sd), 'int8', batch)
 */
export function withIntActivations(packed: PackedModel, mode: IntActivationMode, calibration: CalibrationBatch, source = 'model'): { packed: PackedModel; layers: ActivationLayerReport[] } {
  const op = 'withIntActivations';
  if (mode !== 'int8' && mode !== 'int16') throw new ValueError(op, `activation mode ${JSON.stringify(mode)}; expected "int8" or "int16"`);
  const [n, c, h, w] = calibration.shape;
  if (n < 1 || calibration.data.length !== n * c * h * w) throw new ShapeError(op, `calibration batch has ${calibration.data.length} values, shape [${calibration.shape.join(', ')}] needs ${n * c * h * w} (at least one image)`);
  const model = loadTernaryModelBytes(packed.bytes, source);
  const maxAbs = new Map<string, number>();
  const per = c * h * w;
  for (let s = 0; s < n; s += CALIBRATION_CHUNK) {
    const k = Math.min(CALIBRATION_CHUNK, n - s);
    model.predict(calibration.data.subarray(s * per, (s + k) * per), [k, c, h, w], (layer, x) => {
      let m = maxAbs.get(layer) ?? 0;
      for (let i = 0; i < x.length; i++) {
        const a = Math.abs(x[i]);
        if (a > m) m = a;
      }
      maxAbs.set(layer, m);
    });
  }
  const qmax = intQmax(mode);
  const limit = intTapLimit(mode);
  const layers: ActivationLayerReport[] = [];
  const program = structuredClone(packed.program);
  for (const o of program.ops) {
    if ((o.op !== 'conv' && o.op !== 'linear') || o.kind !== 'ternary') continue;
    const L = o as ConvOp | LinearOp;
    const shape = L.op === 'conv' ? L.shape : ([L.shape[0], L.shape[1]] as const);
    const nz = packed.tensors.get(L.nonzero as string)?.data as Uint8Array;
    const sign = packed.tensors.get(L.sign as string)?.data as Uint8Array;
    const most = maxTapsPerSign(ternaryLayerFromMasks(nz, sign, shape, 1, 1));
    const seen = maxAbs.get(L.name) ?? 0;
    if (!Number.isFinite(seen)) throw new ValueError(op, `layer ${L.name}: the calibration batch gives it non-finite inputs; check the calibration data`);
    if (most > limit) {
      layers.push({ layer: L.name, mode: 'float', maxAbs: seen, maxTapsPerSign: most, note: `an output has ${most} weights of one sign; ${mode} accumulators hold at most ${limit} (${qmax} × ${most} would overflow), so it keeps float activations` });
      continue;
    }
    // NOTE: max|x|, no clipping: a value above the calibration range saturates at ±qmax. A layer
    // that saw only zeros gets step 1 (any positive step quantizes zeros exactly).
    let scale = seen > 0 ? Math.fround(seen / qmax) : 1;
    if (scale === 0 || !Number.isFinite(Math.fround(1 / scale))) scale = 2 ** -126;
    L.activations = { mode, scale };
    layers.push({ layer: L.name, mode, scale, maxAbs: seen, maxTapsPerSign: most });
  }
  if (!layers.some((l) => l.mode !== 'float')) return { packed, layers };
  const metadata: Record<string, string> = { ...packed.metadata, format: PACKED_FORMAT_V4, program: compactProgramJson(program) };
  delete metadata.dataCrc32;
  const bytes = serializePacked(packed.tensors, metadata);
  return { packed: { ...packed, bytes, program, metadata }, layers };
}

/**
 * The first `count` images of a dataset in order, normalised as training normalised them: the
 * default calibration batch of a run (its training set).
 * @example calibrationBatchFromDataset(splits.train, 256).shape // [256, 1, 28, 28]
 */
export function calibrationBatchFromDataset(ds: AnyDataset, count = 256): CalibrationBatch {
  const size = Math.min(count, ds.size);
  const loader = new DataLoader(ds, { batchSize: size, shuffle: false, rng: new Rng(0), copy: true });
  for (const b of loader) {
    return { data: Float32Array.from(b.x.data as Float32Array), shape: [b.size, ds.channels, ds.height, ds.width] };
  }
  throw new ShapeError('calibrationBatchFromDataset', `dataset ${ds.name}/${ds.split} yields no images`);
}

/**
 * Reads a calibration batch from a safetensors file: its tensor `x` (or its only tensor), float32
 * or float16, shape `[N, C, H, W]`, normalised as the model's training input.
 * @example readCalibrationFile('calib.safetensors').shape // [256, 1, 28, 28]
 */
export function readCalibrationFile(path: string): CalibrationBatch {
  const file = loadSafetensors(path);
  const names = [...file.tensors.keys()];
  const name = file.tensors.has('x') ? 'x' : names.length === 1 ? names[0] : undefined;
  if (name === undefined) throw new FormatError(path, `a calibration file holds the images as tensor "x" (or as its only tensor); it has ${names.length} tensors (${names.slice(0, 4).join(', ')})`);
  const t = file.tensors.get(name) as SafetensorEntry;
  if (t.dtype !== 'F32' && t.dtype !== 'F16') throw new FormatError(path, `calibration tensor "${name}" is ${t.dtype}; expected F32 or F16 images, normalised as for training`);
  if (t.shape.length !== 4 || t.shape.some((d) => d < 1)) throw new FormatError(path, `calibration tensor "${name}" has shape [${t.shape.join(', ')}]; expected [N, C, H, W] with N ≥ 1`);
  return { data: entryToFloat32(t), shape: [t.shape[0], t.shape[1], t.shape[2], t.shape[3]] };
}
