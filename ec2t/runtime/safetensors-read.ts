/**
 * The runtime's view of a safetensors file: the shared reader (base/safetensors-read.ts, the same
 * one nn/ uses, with no tensor/autodiff imports) restricted to the dtypes a packed model holds — F32,
 * F16 (widened to float32), U8 and I8. Every fault is a {@link FormatError} naming the file; the
 * header is validated as a whole (bounds, exact tiling, no aliased entries) before any tensor is
 * decoded.
 */
import { readFileBytes } from '../../base/io.js';
import { parseSafetensors, type SafetensorDtype } from '../../base/safetensors-read.js';

/** One tensor: float data as Float32Array (F16 widened), U8 as Uint8Array, I8 as Int8Array. */
export interface RawTensor {
  dtype: 'F32' | 'F16' | 'U8' | 'I8';
  shape: number[];
  data: Float32Array | Uint8Array | Int8Array;
}

const RUNTIME_DTYPES: readonly SafetensorDtype[] = ['F32', 'F16', 'U8', 'I8'];

/**
 * Parses safetensors bytes; `file` names the source in errors. `dataOffset` is where the data
 * buffer starts in `bytes` (the packed format's checksum covers `bytes.subarray(dataOffset)`).
 * @example const { tensors, metadata } = readSafetensorsBytes(bytes, 'm.ec2t.safetensors');
 */
export function readSafetensorsBytes(bytes: Uint8Array, file: string): { tensors: Map<string, RawTensor>; metadata: Record<string, string>; dataOffset: number } {
  const f = parseSafetensors(bytes, file, { dtypes: RUNTIME_DTYPES });
  return { tensors: f.tensors as Map<string, RawTensor>, metadata: f.metadata, dataOffset: f.dataOffset as number };
}

/** Reads a safetensors file with {@link readSafetensorsBytes}. */
export function readSafetensorsFile(path: string): { tensors: Map<string, RawTensor>; metadata: Record<string, string>; dataOffset: number } {
  return readSafetensorsBytes(readFileBytes(path), path);
}
