/** The binary `vector[]` encoding (src/store/vector-binary.ts), byte by byte and on bad input. */
import { describe, expect, it } from 'vitest';
import { encodeVectorArray } from '../../src/store/vector-binary.ts';

describe('encodeVectorArray', () => {
  it('names the vector with the wrong length or a non-finite element', () => {
    expect(() => encodeVectorArray([[1, 2], [1]], 2, 1)).toThrow('vector 1 has 1 dimensions, expected 2');
    expect(() => encodeVectorArray([[1, Number.NaN]], 2, 1)).toThrow('vector 0 has a non-finite element NaN at index 1');
    expect(() => encodeVectorArray([[1]], 0, 1)).toThrow(/dimensions must be an integer from 1 to 16000/);
  });

  it("lays out PostgreSQL's array_send format around pgvector's vector_send", () => {
    const buf = encodeVectorArray([[1.5, -2]], 2, 16_385);
    expect([...buf]).toEqual([
      0, 0, 0, 1, /* ndim */ 0, 0, 0, 0, /* no nulls */ 0, 0, 0x40, 0x01, /* element OID */
      0, 0, 0, 1, /* length */ 0, 0, 0, 1, /* lower bound */
      0, 0, 0, 12, /* element bytes */ 0, 2, /* dim */ 0, 0, /* unused */
      0x3f, 0xc0, 0, 0, /* 1.5 */ 0xc0, 0, 0, 0, /* -2 */
    ]);
  });
});
