/** The binary `vector[]` encoding (src/store/vector-binary.ts), byte by byte and on bad input. */
import { describe, expect, it } from 'vitest';
import { decodeEmbedding } from '../../src/embed/embedder.ts';
import { encodeVectorArray } from '../../src/store/vector-binary.ts';

describe('encodeVectorArray', () => {
  it('names the vector with the wrong length or a non-finite element', () => {
    expect(() => encodeVectorArray([[1, 2], [1]], 2, 1)).toThrow('vector 1 has 1 dimensions, expected 2');
    expect(() => encodeVectorArray([[1, Number.NaN]], 2, 1)).toThrow(
      'vector 0 has a non-finite element NaN at index 1',
    );
    expect(() => encodeVectorArray([[1]], 0, 1)).toThrow(/dimensions must be an integer from 1 to 16000/);
  });

  it("lays out PostgreSQL's array_send format around pgvector's vector_send", () => {
    const buf = encodeVectorArray([[1.5, -2]], 2, 16_385);
    expect([...buf]).toEqual([
      0, 0, 0, 1, /* ndim */ 0, 0, 0, 0, /* no nulls */ 0, 0, 0x40, 0x01 /* element OID */, 0, 0, 0, 1, /* length */ 0,
      0, 0, 1 /* lower bound */, 0, 0, 0, 12, /* element bytes */ 0, 2, /* dim */ 0, 0 /* unused */, 0x3f, 0xc0, 0, 0,
      /* 1.5 */ 0xc0, 0, 0, 0 /* -2 */,
    ]);
  });
});

describe('float32 vectors end to end', () => {
  it('decodes the API base64 layout (float32 little-endian) exactly', () => {
    const floats = new Float32Array([0.1, -1 / 3, 1e-38, 3.4e38, -0, Math.PI]);
    const decoded = decodeEmbedding(Buffer.from(floats.buffer).toString('base64'));
    expect(decoded).toEqual(floats);
    expect(Object.is(decoded[4], -0)).toBe(true);
    expect(() => decodeEmbedding(Buffer.from([1, 2, 3]).toString('base64'))).toThrow(
      'decodes to 3 bytes, not a whole number of float32 values',
    );
  });

  it('decodes small vectors, which Buffer.from places in its shared pool at varying offsets', () => {
    const values = Array.from({ length: 50 }, (_, i) => Math.fround(i / 7));
    for (const x of values)
      expect([...decodeEmbedding(Buffer.from(new Float32Array([x]).buffer).toString('base64'))]).toEqual([x]);
  });

  it('encodes a Float32Array to the same bytes as the number[] path', () => {
    const floats = new Float32Array([0.1, -1 / 3, 1e-38, 3.4e38, -0, Math.PI]);
    expect(encodeVectorArray([floats, floats], 6, 7)).toEqual(encodeVectorArray([[...floats], [...floats]], 6, 7));
    expect(() => encodeVectorArray([new Float32Array([1, Number.POSITIVE_INFINITY])], 2, 1)).toThrow(
      'vector 0 has a non-finite element Infinity at index 1',
    );
  });
});
