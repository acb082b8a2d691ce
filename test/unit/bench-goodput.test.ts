/**
 * The bench's goodput arithmetic (test/bench/goodput.ts) on synthetic poll
 * series: what each figure says about two clients held at the same limit.
 */
import { describe, expect, it } from 'vitest';
import { paceFigures, type Sample } from '../bench/goodput.ts';

const WINDOW_MS = 60_000;
const TPM = 1_000_000;

/** Polls every STEP s of a client that admits each burst's tokens evenly over its duration. */
const STEP = 0.02;
function series(bursts: Array<{ at: number; seconds: number; tokens: number }>, endS: number): Sample[] {
  const samples: Sample[] = [];
  for (let i = -50; i * STEP <= endS; i++) {
    const t = i * STEP;
    const tokens = bursts.reduce((sum, b) => sum + b.tokens * Math.min(1, Math.max(0, (t - b.at) / b.seconds)), 0);
    samples.push({ t: t * 1000, tokens: Math.round(tokens), requests: 0, rateLimited: 0, responses: 0 });
  }
  return samples;
}

/**
 * A burst at the start of each window, `fills[k]` of the TPM in window k,
 * the rest of `total` at the end. Bursts start where the figures will place
 * the first request (the middle of the poll interval in which it came).
 */
function client(fills: number[], total: number, tailSeconds: number) {
  const bursts = fills.map((f, k) => ({ at: STEP / 2 + k * 60, seconds: 2, tokens: f * TPM }));
  const sent = bursts.reduce((s, b) => s + b.tokens, 0);
  bursts.push({ at: STEP / 2 + fills.length * 60, seconds: tailSeconds, tokens: total - sent });
  return paceFigures(series(bursts, fills.length * 60 + tailSeconds + 5), WINDOW_MS, TPM)!;
}

describe('bench goodput figures', () => {
  it('full windows: the mean per complete minute after the first', () => {
    const p = client([1, 1, 1, 1], 4_650_000, 3);
    for (const x of p.perWindow.slice(0, 4)) expect(x).toBeCloseTo(1, 2);
    expect(p.fullWindows).toBeCloseTo(1, 3);
  });

  it('after the 1st window to the last admission rewards a client for wasting its first minute; full windows does not', () => {
    // Same work, same finish: one client fills every minute, the other loses
    // 6% of the first and 5% of each later minute (429s) and makes it up in
    // a bigger final burst of the same length.
    const full = client([1, 1, 1, 1], 4_650_000, 4);
    const lossy = client([0.94, 0.95, 0.95, 0.95], 4_650_000, 4);
    expect(lossy.lastAt).toBeCloseTo(full.lastAt, -3);
    // Above 1 ÷ TPM (no client can sustain that), and higher for the lossy client:
    expect(full.afterFirstWindow!).toBeGreaterThan(1.1);
    expect(lossy.afterFirstWindow!).toBeGreaterThan(full.afterFirstWindow!);
    // The pace per complete minute says who used the limit:
    expect(full.fullWindows!).toBeCloseTo(1, 2);
    expect(lossy.fullWindows!).toBeCloseTo(0.95, 2);
  });
});
