import { describe, expect, it } from 'vitest';
import { splitResponse } from '../../src/embed/coalescer.ts';
import type { EmbeddingResponse } from '../../src/embed/embedder.ts';

/** Parts that record what they were given. */
function parts(spec: Array<{ inputs: number; tokens: number }>) {
  const got: EmbeddingResponse[] = [];
  const ps = spec.map((s, i) => ({
    texts: Array.from({ length: s.inputs }, (_, j) => `p${i}t${j}`),
    tokens: s.tokens,
    resolve: (r: EmbeddingResponse) => {
      got[i] = r;
    },
  }));
  return { ps, got };
}

const vectors = (n: number) => Array.from({ length: n }, (_, i) => new Float32Array([i]));

describe('splitResponse', () => {
  it.each([
    {
      name: 'billed = counted',
      spec: [
        { inputs: 2, tokens: 10 },
        { inputs: 1, tokens: 5 },
      ],
      billed: 15,
      shares: [10, 5],
    },
    {
      name: 'billed > counted, rounding to the last part',
      spec: [
        { inputs: 1, tokens: 1 },
        { inputs: 1, tokens: 1 },
        { inputs: 1, tokens: 1 },
      ],
      billed: 10,
      shares: [3, 3, 4],
    },
    {
      name: 'billed < counted',
      spec: [
        { inputs: 1, tokens: 100 },
        { inputs: 3, tokens: 300 },
      ],
      billed: 200,
      shares: [50, 150],
    },
    { name: 'one part', spec: [{ inputs: 4, tokens: 7 }], billed: 9, shares: [9] },
    {
      name: 'zero counted tokens',
      spec: [
        { inputs: 1, tokens: 0 },
        { inputs: 1, tokens: 0 },
      ],
      billed: 2,
      shares: [0, 2],
    },
  ])('$name', ({ spec, billed, shares }) => {
    const { ps, got } = parts(spec);
    const n = spec.reduce((s, p) => s + p.inputs, 0);
    splitResponse({ vectors: vectors(n), promptTokens: billed }, ps);
    expect(got.map((r) => r.promptTokens)).toEqual(shares);
    expect(got.reduce((s, r) => s + r.promptTokens, 0)).toBe(billed);
    // Each part gets its own slice, in order.
    let offset = 0;
    spec.forEach((p, i) => {
      expect(got[i]!.vectors).toEqual(vectors(n).slice(offset, offset + p.inputs));
      offset += p.inputs;
    });
  });
});
