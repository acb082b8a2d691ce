/**
 * Wire encodings of an embedding (`encoding_format`, docs/openai-facts.md "Embeddings"):
 * `float` is a JSON array of numbers; `base64` is the vector's float32 values
 * as little-endian bytes, base64-encoded. The Node SDK requests base64 when
 * the caller sets no format and decodes it with a Float32Array view, so the
 * bytes must be exactly IEEE-754 float32 little-endian.
 */
import os from 'node:os';

const LITTLE_ENDIAN = os.endianness() === 'LE';

/** float32 little-endian bytes of `vector`, base64-encoded. */
export function float32ToBase64(vector: Float32Array): string {
  if (LITTLE_ENDIAN) return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64');
  const bytes = Buffer.allocUnsafe(vector.length * 4);
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i] as number, i * 4);
  return bytes.toString('base64');
}

/** Inverse of {@link float32ToBase64} (for tests and clients). */
export function base64ToFloat32(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.length % 4 !== 0) throw new RangeError('base64 embedding length is not a multiple of 4 bytes');
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}

/** `vector` as plain numbers for the `float` format (each exactly a float32 value). */
export function float32ToNumbers(vector: Float32Array): number[] {
  return Array.from(vector);
}
