import { describe, expect, it } from 'vitest';
import { readRateLimitHeaders, retryAfterMs } from '../../src/openai/rate-limit-headers.ts';

const h = (o: Record<string, string>) => new Headers(o);

describe('OpenAI rate-limit headers', () => {
  it('reads limits, remaining and Go-style reset durations', () => {
    expect(
      readRateLimitHeaders(
        h({
          'x-ratelimit-limit-requests': '3000',
          'x-ratelimit-limit-tokens': '1000000',
          'x-ratelimit-remaining-requests': '2999',
          'x-ratelimit-remaining-tokens': '999488',
          'x-ratelimit-reset-requests': '20ms',
          'x-ratelimit-reset-tokens': '6m0s',
        }),
      ),
    ).toEqual({
      limitRequests: 3000,
      limitTokens: 1_000_000,
      remainingRequests: 2999,
      remainingTokens: 999488,
      resetRequestsMs: 20,
      resetTokensMs: 360_000,
    });
  });

  it.each([
    [{ 'retry-after-ms': '1500', 'retry-after': '9' }, undefined, 1500],
    [{ 'retry-after': '2' }, undefined, 2000],
    [{}, 'Rate limit reached … Please try again in 2.812s. Visit …', 2812],
    [{}, 'Please try again in 4m12.172s.', 252_172],
    [{ 'x-ratelimit-reset-tokens': '1s', 'x-ratelimit-reset-requests': '20ms' }, 'no hint', 1000],
    [{}, 'no hint', undefined],
  ])('wait for %o / %s → %s ms', (headers, message, expected) => {
    expect(retryAfterMs(h(headers as Record<string, string>), message)).toBe(expected);
  });

  it('uses the request reset for a requests-per-minute 429', () => {
    expect(
      retryAfterMs(h({ 'x-ratelimit-reset-tokens': '1s', 'x-ratelimit-reset-requests': '20ms' }), 'x', 'requests'),
    ).toBe(20);
  });
});
