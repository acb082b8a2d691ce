import { describe, expect, it } from 'vitest';
import { peakOverWindows, RollingWindow, type AcceptedRequest } from '../../src/limits.ts';
import { createRandom } from '../../src/faults.ts';

describe('peakOverWindows', () => {
  it('is zero for an empty log', () => {
    expect(peakOverWindows([], 1000)).toEqual({ peakRequests: 0, peakTokens: 0 });
  });

  it('counts a request until exactly windowMs later', () => {
    const log: AcceptedRequest[] = [
      { at: 0, tokens: 10 },
      { at: 999, tokens: 20 }, // same window as t=0
      { at: 1000, tokens: 5 }, // t=0 has left: window (0, 1000] holds 999 and 1000
    ];
    expect(peakOverWindows(log, 1000)).toEqual({ peakRequests: 2, peakTokens: 30 });
  });

  it('finds the busiest window anywhere in the log', () => {
    const log: AcceptedRequest[] = [
      { at: 0, tokens: 100 },
      { at: 5000, tokens: 10 },
      { at: 5100, tokens: 10 },
      { at: 5200, tokens: 10 },
      { at: 5300, tokens: 10 },
      { at: 9000, tokens: 300 },
      { at: 9500, tokens: 1 },
    ];
    expect(peakOverWindows(log, 1000)).toEqual({ peakRequests: 4, peakTokens: 301 });
    expect(peakOverWindows(log, 10_000)).toEqual({ peakRequests: 7, peakTokens: 441 });
  });

  it('handles simultaneous requests', () => {
    const log = [1, 2, 3].map((tokens) => ({ at: 42, tokens }));
    expect(peakOverWindows(log, 1)).toEqual({ peakRequests: 3, peakTokens: 6 });
  });
});

describe('RollingWindow', () => {
  const limits = { rpm: 3, tpm: 100, windowMs: 1000 };

  it('admits within both limits and reports usage and reset time', () => {
    const w = new RollingWindow();
    expect(w.tryAdmit(0, 40, limits)).toEqual({ ok: true });
    expect(w.tryAdmit(100, 60, limits)).toEqual({ ok: true });
    expect(w.usage(200, 1000)).toEqual({ requests: 2, tokens: 100, resetMs: 900 });
    expect(w.usage(1000, 1000)).toEqual({ requests: 1, tokens: 60, resetMs: 100 });
    expect(w.usage(1100, 1000)).toEqual({ requests: 0, tokens: 0, resetMs: 0 });
  });

  it('refuses on TPM with the exact wait until enough tokens leave, consuming nothing', () => {
    const w = new RollingWindow();
    w.tryAdmit(0, 50, limits);
    w.tryAdmit(300, 30, limits);
    const refused = w.tryAdmit(500, 40, limits);
    // 80 used; 40 more fits once the 50 from t=0 leaves at t=1000.
    expect(refused).toEqual({ ok: false, kind: 'tokens', limit: 100, used: 80, requested: 40, retryAfterMs: 500 });
    expect(w.usage(500, 1000).tokens).toBe(80);
    expect(w.tryAdmit(999, 40, limits).ok).toBe(false);
    expect(w.tryAdmit(1000, 40, limits)).toEqual({ ok: true });
  });

  it('refuses on RPM first, with the wait until the oldest request leaves', () => {
    const w = new RollingWindow();
    for (const t of [0, 10, 20]) expect(w.tryAdmit(t, 1, limits).ok).toBe(true);
    expect(w.tryAdmit(30, 1000, limits)).toEqual({
      ok: false,
      kind: 'requests',
      limit: 3,
      used: 3,
      requested: 1,
      retryAfterMs: 970,
    });
  });

  it('says a request larger than the whole TPM can never be admitted', () => {
    const w = new RollingWindow();
    const r = w.tryAdmit(0, 101, limits);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.retryAfterMs).toBeUndefined();
  });

  it('keeps peaks equal to the exact computation over the whole history, never above the limits', () => {
    const random = createRandom(7);
    const w = new RollingWindow();
    const accepted: AcceptedRequest[] = [];
    let now = 0;
    const big = { rpm: 20, tpm: 500, windowMs: 250 };
    for (let i = 0; i < 5000; i++) {
      now += Math.floor(random() * 20);
      const tokens = 1 + Math.floor(random() * 80);
      if (w.tryAdmit(now, tokens, big).ok) accepted.push({ at: now, tokens });
    }
    const exact = peakOverWindows(accepted, big.windowMs);
    expect({ peakRequests: w.peakRequests, peakTokens: w.peakTokens }).toEqual(exact);
    expect(exact.peakTokens).toBeLessThanOrEqual(big.tpm);
    expect(exact.peakRequests).toBeLessThanOrEqual(big.rpm);
    expect(exact.peakTokens).toBeGreaterThan(big.tpm * 0.8); // the limit was actually exercised
    // the log stays bounded to the window
    expect(w.entries().every((e) => e.at > now - big.windowMs)).toBe(true);
  });
});
