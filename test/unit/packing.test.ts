import { describe, expect, it } from 'vitest';
import { OversizeInputError } from '../../src/errors/index.ts';
import { packRequests, requestTokenLimit, type PackItem } from '../../src/embed/packing.ts';

const limits = { maxInputs: 2048, maxTokens: 300_000, maxInputTokens: 8191 };
const items = (tokens: number[]): PackItem[] => tokens.map((t, i) => ({ id: `c${i}`, tokens: t }));

describe('packRequests', () => {
  it.each([
    { name: 'nothing', tokens: [], limits, requests: 0 },
    { name: 'one small item', tokens: [10], limits, requests: 1 },
    { name: 'count binds: 2049 small inputs', tokens: Array(2049).fill(5), limits, requests: 2 },
    { name: 'tokens bind: 40 × 8000', tokens: Array(40).fill(8000), limits, requests: 2 },
    {
      name: 'exactly at both limits',
      tokens: Array(4).fill(75_000),
      limits: { maxInputs: 4, maxTokens: 300_000, maxInputTokens: 100_000 },
      requests: 1,
    },
    {
      name: 'small limits',
      tokens: [5, 5, 5, 5, 5],
      limits: { maxInputs: 2, maxTokens: 100, maxInputTokens: 50 },
      requests: 3,
    },
  ])('$name → $requests requests', ({ tokens, limits: l, requests }) => {
    const packed = packRequests(items(tokens), l);
    expect(packed).toHaveLength(requests);
    for (const r of packed) {
      expect(r.items.length).toBeLessThanOrEqual(l.maxInputs);
      expect(r.tokens).toBeLessThanOrEqual(l.maxTokens);
      expect(r.tokens).toBe(r.items.reduce((s, i) => s + i.tokens, 0));
    }
    const ids = packed.flatMap((r) => r.items.map((i) => i.id)).sort();
    expect(ids).toEqual(
      items(tokens)
        .map((i) => i.id)
        .sort(),
    );
  });

  it('fills requests well: first-fit decreasing needs no more requests than the token lower bound + 1', () => {
    const tokens = Array.from({ length: 3000 }, (_, i) => 50 + ((i * 7919) % 450));
    const l = { maxInputs: 2048, maxTokens: 100_000, maxInputTokens: 8191 };
    const packed = packRequests(items(tokens), l);
    const total = tokens.reduce((a, b) => a + b, 0);
    expect(packed.length).toBeLessThanOrEqual(Math.ceil(total / l.maxTokens) + 1);
  });

  it('rejects an input over the per-input limit instead of truncating it, naming the chunk', () => {
    expect(() => packRequests([{ id: 'abc', tokens: 8192 }], limits)).toThrow(OversizeInputError);
    expect(() => packRequests([{ id: 'abc', tokens: 8192 }], limits)).toThrow(/chunk abc has 8192 tokens/);
  });

  it('rejects an empty input', () => {
    expect(() => packRequests([{ id: 'z', tokens: 0 }], limits)).toThrow(OversizeInputError);
  });
});

describe('requestTokenLimit', () => {
  it.each([
    { name: 'tier 1 (1M TPM): 2% of the window', tpm: 1_000_000, limit: 20_000 },
    { name: 'tier 5 (10M TPM): 2% of the window', tpm: 10_000_000, limit: 200_000 },
    { name: "a budget so large that OpenAI's per-request limit binds", tpm: 50_000_000, limit: 300_000 },
    { name: 'a tiny budget: still one whole input', tpm: 40_000, limit: 8191 },
  ])('$name → $limit tokens', ({ tpm, limit }) => {
    expect(requestTokenLimit({ maxRequestTokens: 300_000, maxInputTokens: 8191, tpm })).toBe(limit);
  });

  it('never exceeds a lower configured per-request limit', () => {
    expect(requestTokenLimit({ maxRequestTokens: 4000, maxInputTokens: 8191, tpm: 1_000_000 })).toBe(4000);
  });
});
