/**
 * The chaos run's fault plan (test/bench/chaos/plan.ts): the mix of
 * faults, all inside the window, outages never overlapping, and the same
 * plan from the same seed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PLAN, describePlan, lastFaultEndMs, planFaults, scalePlan, type Fault } from '../bench/chaos/plan.ts';

const OUTAGES = new Set(['redis-restart', 'pg-refuse', 'pg-blackhole']);
const count = (plan: Fault[], kind: Fault['kind']) => plan.filter((f) => f.kind === kind).length;

describe('planFaults', () => {
  it("holds the issue's faults", () => {
    const plan = planFaults({ seed: 1, ...DEFAULT_PLAN });
    expect(count(plan, 'sigkill')).toBe(20);
    expect(count(plan, 'sigterm')).toBe(3);
    expect(count(plan, 'redis-restart')).toBe(3);
    expect(count(plan, 'pg-refuse')).toBe(2);
    expect(count(plan, 'pg-blackhole')).toBe(1);
    expect(count(plan, 'sigstop')).toBe(1);
    for (const f of plan) {
      if (f.kind === 'redis-restart') expect(f.durationMs).toBeGreaterThanOrEqual(5_000);
      if (f.kind === 'redis-restart') expect(f.durationMs).toBeLessThanOrEqual(15_000);
      if (f.kind === 'pg-refuse') expect(f.durationMs).toBe(45_000);
      if (f.kind === 'pg-blackhole') expect(f.durationMs).toBe(60_000);
      if (f.kind === 'sigstop') expect(f.durationMs).toBe(120_000);
    }
  });

  it('repeats from its seed and differs between seeds', () => {
    expect(planFaults({ seed: 42, ...DEFAULT_PLAN })).toEqual(planFaults({ seed: 42, ...DEFAULT_PLAN }));
    expect(planFaults({ seed: 42, ...DEFAULT_PLAN })).not.toEqual(planFaults({ seed: 43, ...DEFAULT_PLAN }));
  });

  it('keeps every fault in the window, sorted, and outages apart by the gap, for any seed and scale', () => {
    fc.assert(
      fc.property(fc.integer(), fc.double({ min: 0.2, max: 3, noNaN: true }), (seed, factor) => {
        const o = scalePlan(DEFAULT_PLAN, factor);
        const plan = planFaults({ seed, ...o });
        expect(plan.map((f) => f.atMs)).toEqual([...plan.map((f) => f.atMs)].sort((a, b) => a - b));
        for (const f of plan) {
          expect(f.atMs).toBeGreaterThanOrEqual(o.windowStartMs);
          expect(f.atMs + ('durationMs' in f ? f.durationMs : 0)).toBeLessThanOrEqual(o.windowEndMs + 1);
          if ('pick' in f) expect(f.pick).toBeGreaterThanOrEqual(0);
          if ('pick' in f) expect(f.pick).toBeLessThan(1);
        }
        const outages = plan.filter((f) => OUTAGES.has(f.kind)) as Extract<Fault, { durationMs: number }>[];
        for (let i = 1; i < outages.length; i++)
          expect(outages[i]!.atMs - (outages[i - 1]!.atMs + outages[i - 1]!.durationMs)).toBeGreaterThanOrEqual(
            o.minGapMs - 1,
          );
        expect(lastFaultEndMs(plan)).toBeLessThanOrEqual(o.windowEndMs + 1);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a window too short for its outages, saying so', () => {
    expect(() => planFaults({ seed: 1, ...DEFAULT_PLAN, windowEndMs: 100_000 })).toThrow(
      /fault window \(85000 ms\) is shorter than its outages and gaps/,
    );
  });

  it('describes each fault on one line', () => {
    const lines = describePlan([
      { kind: 'pg-refuse', atMs: 123_400, durationMs: 45_000 },
      { kind: 'sigkill', atMs: 130_000, pick: 0.5 },
    ]);
    expect(lines).toEqual(['+123.4 s pg-refuse 45.0 s', '+130.0 s sigkill']);
  });
});
