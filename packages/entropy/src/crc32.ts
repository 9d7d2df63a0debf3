/**
 * CRC-32 (IEEE 802.3, the one in zlib, PNG and gzip): reflected polynomial
 * 0xEDB88320, initial value and final XOR 0xFFFFFFFF. Check value:
 * crc32("123456789") === 0xCBF43926.
 */

const IEEE_REFLECTED_POLYNOMIAL = 0xedb88320;

/** One entry per byte value: the CRC remainder of that byte alone. */
const CRC_TABLE: Uint32Array = buildTable();

function buildTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let remainder = byte;
    for (let bit = 0; bit < 8; bit++) {
      remainder = remainder & 1 ? (remainder >>> 1) ^ IEEE_REFLECTED_POLYNOMIAL : remainder >>> 1;
    }
    table[byte] = remainder >>> 0;
  }
  return table;
}

/**
 * Unsigned 32-bit CRC of `data`. Pass the CRC of the preceding bytes as `seed`
 * to continue a running checksum: crc32(b, crc32(a)) === crc32(a ++ b).
 */
export function crc32(data: Uint8Array, seed = 0): number {
  // The seed is a finished CRC, so undo its final XOR before continuing.
  let crc = ~seed;
  for (let i = 0; i < data.length; i++) {
    crc = CRC_TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  }
  return ~crc >>> 0;
}
