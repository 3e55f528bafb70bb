/**
 * A protobuf wire-format reader for tests: decodes one message level into its fields, so tests can
 * check what base/protobuf.ts and ec2t/onnx.ts wrote without a generated ONNX schema. Strict:
 * truncated or malformed bytes throw.
 */

/** One decoded field: varints as bigint (unsigned 64-bit), fixed32 as its float value, length-delimited as bytes. */
export interface ProtoField {
  field: number;
  wire: 0 | 2 | 5;
  varint?: bigint;
  float?: number;
  bytes?: Uint8Array;
}

function readVarint(b: Uint8Array, at: { off: number }): bigint {
  let v = 0n;
  for (let shift = 0n; shift < 70n; shift += 7n) {
    if (at.off >= b.length) throw new Error('truncated varint');
    const byte = b[at.off++];
    v |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return v;
  }
  throw new Error('varint longer than 10 bytes');
}

/** Decodes every field of one message (not recursing into length-delimited ones). */
export function decodeMessage(b: Uint8Array): ProtoField[] {
  const at = { off: 0 };
  const out: ProtoField[] = [];
  while (at.off < b.length) {
    const key = readVarint(b, at);
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) out.push({ field, wire, varint: readVarint(b, at) });
    else if (wire === 2) {
      const len = Number(readVarint(b, at));
      if (at.off + len > b.length) throw new Error(`field ${field}: ${len} bytes claimed, ${b.length - at.off} left`);
      out.push({ field, wire, bytes: b.subarray(at.off, at.off + len) });
      at.off += len;
    } else if (wire === 5) {
      if (at.off + 4 > b.length) throw new Error('truncated fixed32');
      out.push({ field, wire, float: new DataView(b.buffer, b.byteOffset + at.off, 4).getFloat32(0, true) });
      at.off += 4;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}

/** The fields numbered `field`. */
export function fieldsOf(fields: readonly ProtoField[], field: number): ProtoField[] {
  return fields.filter((f) => f.field === field);
}

/** Field `field` as a UTF-8 string (the first occurrence). */
export function stringOf(fields: readonly ProtoField[], field: number): string | undefined {
  const f = fields.find((x) => x.field === field);
  return f?.bytes === undefined ? undefined : new TextDecoder().decode(f.bytes);
}

/** A varint read back as a signed int64. */
export function asInt64(v: bigint): bigint {
  return BigInt.asIntN(64, v);
}
