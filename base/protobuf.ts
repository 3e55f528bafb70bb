/**
 * A small protocol-buffers writer: the wire format (varints, fixed 32-bit values, length-delimited
 * fields) and nothing else, enough to write ONNX models (ec2t/onnx.ts) without a code generator or
 * a runtime dependency. Messages are built bottom-up: write an embedded message with its own
 * writer, then add it to the parent with {@link ProtoWriter.message}. Imports nothing but the
 * error types.
 */
import { ValueError } from './errors.js';

const WIRE_VARINT = 0;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

/** Largest field number the wire format allows (2^29 − 1). */
export const MAX_FIELD_NUMBER = 536_870_911;

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UTF8 = new TextEncoder();

/**
 * The varint bytes of a signed 64-bit integer as protobuf writes `int64`/`int32`/enum fields:
 * little-endian groups of 7 bits, a negative value as its 64-bit two's complement (10 bytes).
 * Refuses values outside int64 and non-integer numbers (they would silently change on the wire).
 * @example encodeVarint(300) // Uint8Array [0xac, 0x02]
 */
export function encodeVarint(value: number | bigint): Uint8Array {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new ValueError('encodeVarint', `expected a safe integer (|v| ≤ 2^53 − 1; pass a bigint beyond), got ${value}`);
  }
  let v = BigInt(value);
  if (v < INT64_MIN || v > INT64_MAX) throw new ValueError('encodeVarint', `expected a value in int64 range, got ${v}`);
  if (v < 0n) v += 1n << 64n;
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

/**
 * Builds one protobuf message. Fields are written in call order (protobuf readers accept any order;
 * ONNX readers do too).
 * @example const w = new ProtoWriter(); w.varint(1, 7); w.string(2, 'ec2t'); const bytes = w.finish();
 */
export class ProtoWriter {
  private readonly parts: Uint8Array[] = [];
  private size = 0;

  /** Bytes written so far. */
  get length(): number {
    return this.size;
  }

  private push(b: Uint8Array): void {
    this.parts.push(b);
    this.size += b.length;
  }

  private tag(field: number, wire: number): void {
    if (!Number.isInteger(field) || field < 1 || field > MAX_FIELD_NUMBER || (field >= 19000 && field <= 19999)) {
      throw new ValueError('ProtoWriter', `field number must be an integer in 1…${MAX_FIELD_NUMBER} outside the reserved 19000–19999, got ${field}`);
    }
    this.push(encodeVarint(field * 8 + wire));
  }

  /** An `int64`/`int32`/`bool`/enum field. */
  varint(field: number, value: number | bigint): this {
    const bytes = encodeVarint(value);
    this.tag(field, WIRE_VARINT);
    this.push(bytes);
    return this;
  }

  /** A `float` field (IEEE 754 single, little-endian); `value` is rounded to float32. */
  float32(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  /** A `bytes` field (the bytes are referenced, not copied: do not change them before {@link finish}). */
  bytes(field: number, data: Uint8Array): this {
    this.tag(field, WIRE_LENGTH_DELIMITED);
    this.push(encodeVarint(data.length));
    this.push(data);
    return this;
  }

  /** A `string` field, as UTF-8. */
  string(field: number, text: string): this {
    return this.bytes(field, UTF8.encode(text));
  }

  /** An embedded message field. */
  message(field: number, m: ProtoWriter): this {
    return this.bytes(field, m.finish());
  }

  /** A packed `repeated int64` field (one length-delimited run of varints). */
  packedVarints(field: number, values: ReadonlyArray<number | bigint>): this {
    const inner = new ProtoWriter();
    for (const v of values) inner.push(encodeVarint(v));
    return this.bytes(field, inner.finish());
  }

  /** The message's bytes. */
  finish(): Uint8Array {
    if (this.parts.length === 1) return this.parts[0];
    const out = new Uint8Array(this.size);
    let off = 0;
    for (const p of this.parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }
}
