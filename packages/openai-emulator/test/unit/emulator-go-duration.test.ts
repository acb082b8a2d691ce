import { describe, expect, it } from 'vitest';
import { formatGoDuration } from '../../src/go-duration.ts';
import { readGoDuration } from '../helpers/emulator-http.ts';

describe('formatGoDuration', () => {
  it.each([
    [0, '0s'],
    [-5, '0s'],
    [Number.NaN, '0s'],
    [1, '1ms'],
    [12, '12ms'],
    [20, '20ms'],
    [999, '999ms'],
    [0.2, '1ms'], // rounded up: a client waiting the printed time is never early
    [1000, '1s'],
    [1500, '1.5s'],
    [2812, '2.812s'],
    [2050, '2.05s'],
    [1001, '1.001s'],
    [60_000, '1m0s'],
    [360_000, '6m0s'],
    [252_172, '4m12.172s'],
    [3_600_000, '1h0m0s'],
    [85_656_648, '23h47m36.648s'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatGoDuration(ms)).toBe(text);
  });
});

describe("readGoDuration (the tests' reader of what formatGoDuration prints)", () => {
  it('reads back every format output', () => {
    for (const ms of [0, 1, 7, 999, 1000, 1234, 59_999, 60_000, 61_001, 3_599_999, 3_600_000, 90_061_001]) {
      expect(readGoDuration(formatGoDuration(ms))).toBe(ms);
    }
  });
});
