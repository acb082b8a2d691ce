import { describe, expect, it } from 'vitest';
// The emulator's public entry: it formats what Sluice parses.
import { formatGoDuration } from '@sluice/openai-emulator';
import { parseGoDuration } from '../../src/openai/go-duration.ts';

describe('parseGoDuration', () => {
  it.each([
    ['0', 0],
    ['0s', 0],
    ['20ms', 20],
    ['1s', 1000],
    ['2.812s', 2812],
    ['6m0s', 360_000],
    ['4m12.172s', 252_172],
    ['23h47m36.648s', 85_656_648],
    ['1h', 3_600_000],
    ['1.5h', 5_400_000],
    ['500us', 0.5],
    ['500µs', 0.5],
    ['1500ns', 0.0015],
    ['.5s', 500],
    ['-1m', -60_000],
    ['+2s', 2000],
  ])('%s → %d ms', (text, ms) => {
    expect(parseGoDuration(text)).toBeCloseTo(ms, 9);
  });

  it.each(['', '1', 's', '1x', '1s ms', '1.2.3s', '--1s', 'ms'])('rejects %j', (text) => {
    expect(() => parseGoDuration(text)).toThrow(RangeError);
  });

  it('round-trips every format output', () => {
    for (const ms of [1, 7, 999, 1000, 1234, 59_999, 60_000, 61_001, 3_599_999, 3_600_000, 90_061_001]) {
      expect(parseGoDuration(formatGoDuration(ms))).toBe(ms);
    }
  });
});
