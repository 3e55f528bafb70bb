/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320): the checksum of zlib, gzip and PNG, so any
 * tool can recompute it (`python3 -c "import zlib; print(hex(zlib.crc32(data)))"`). Pure and
 * synchronous, for the packed format's data checksum; it catches corruption, not tampering.
 */

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * CRC-32 of `bytes` (continuing from `crc`, the CRC of the bytes before them, default 0).
 * @example crc32(new TextEncoder().encode('123456789')) // 0xcbf43926
 */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** `crc32` as the 8 lowercase hex digits the packed format stores. */
export function crc32Hex(bytes: Uint8Array): string {
  return crc32(bytes).toString(16).padStart(8, '0');
}
