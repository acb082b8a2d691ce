import { describe, expect, it } from 'vitest';
import { createRandom, pickFault, type FaultKind } from '../../src/faults.ts';

describe('createRandom', () => {
  it('is reproducible from its seed and uniform-ish on [0, 1)', () => {
    const a = createRandom(42);
    const b = createRandom(42);
    const xs = Array.from({ length: 10_000 }, () => a());
    expect(xs.slice(0, 100)).toEqual(Array.from({ length: 100 }, () => b()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.48);
    expect(mean).toBeLessThan(0.52);
    expect(createRandom(43)()).not.toBe(createRandom(42)());
  });
});

describe('pickFault', () => {
  it('never faults at zero rates', () => {
    const r = createRandom(1);
    for (let i = 0; i < 1000; i++) expect(pickFault({ errorRate: 0, dropRate: 0, slowRate: 0 }, r)).toBeUndefined();
  });

  it('draws each kind at about its rate, 500 and 503 evenly', () => {
    const r = createRandom(3);
    const n = 20_000;
    const seen: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const f: FaultKind | 'none' = pickFault({ errorRate: 0.2, dropRate: 0.1, slowRate: 0.05 }, r) ?? 'none';
      seen[f] = (seen[f] ?? 0) + 1;
    }
    expect((seen['drop'] ?? 0) / n).toBeCloseTo(0.1, 1);
    expect(((seen['error500'] ?? 0) + (seen['error503'] ?? 0)) / n).toBeCloseTo(0.2, 1);
    expect((seen['error500'] ?? 0) / n).toBeCloseTo(0.1, 1);
    expect((seen['slow'] ?? 0) / n).toBeCloseTo(0.05, 1);
    expect((seen['none'] ?? 0) / n).toBeCloseTo(0.65, 1);
  });

  it('always faults at rate 1', () => {
    const r = createRandom(9);
    for (let i = 0; i < 100; i++) expect(pickFault({ errorRate: 0, dropRate: 1, slowRate: 0 }, r)).toBe('drop');
  });
});
