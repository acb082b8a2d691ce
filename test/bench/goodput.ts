/**
 * Goodput arithmetic of `npm run bench:embed`, kept pure so the figures can
 * be checked by hand: the bench polls the emulator's cumulative counters
 * (`GET /_emulator/stats`) every `pollMs` and turns the time series into
 * rates per rate-limit window, expressed as a fraction of the TPM limit.
 *
 * The emulator counts a request's tokens when it admits it (on arrival,
 * before the simulated latency), so the series shows when requests
 * *started*; that is what the limit counts too.
 */

/** One poll of the emulator's counters, stamped with the bench's clock. */
export interface Sample {
  /** Epoch ms: midpoint between sending the poll and receiving its answer. */
  t: number;
  /** Cumulative tokens admitted (`tokensAccepted`). */
  tokens: number;
  /** Cumulative API requests (`requests.total`, 429s included). */
  requests: number;
  /** Cumulative 429 responses. */
  rateLimited: number;
  /** Cumulative responses sent, any status (dropped connections are not responses). */
  responses: number;
}

/** What a run's time series says about its pace. */
export interface PaceFigures {
  /** When the first request was admitted (epoch ms, ± half a poll interval). */
  firstAt: number;
  /** When the last request was admitted (epoch ms, ± half a poll interval). */
  lastAt: number;
  /**
   * When the last response was sent (epoch ms, ± half a poll interval):
   * `lastResponseAt − firstAt` is how long the API work took, whatever the
   * client did with the vectors afterwards.
   */
  lastResponseAt: number;
  /**
   * Tokens per window ÷ TPM from `firstAt + windowMs` to `lastAt`, the
   * partial last window included. Not a sustained pace: a final burst over a
   * few seconds pushes it above 1, and tokens a client failed to send in its
   * first window land in that burst and raise it (see `fullWindows`).
   * Undefined when the run admitted its last request within the first window.
   */
  afterFirstWindow: number | undefined;
  /**
   * Tokens admitted in each successive window from `firstAt` ÷ TPM; the last
   * one is usually partial (see `lastWindowFraction`).
   */
  perWindow: number[];
  /** Length of the last entry of `perWindow` as a fraction of a window. */
  lastWindowFraction: number;
  /**
   * Mean of `perWindow` over the complete windows after the first one: the
   * tokens per minute achieved after the first minute, bench:embed's
   * headline. Robust where `afterFirstWindow` is not: a client held at the limit sends
   * each window's tokens in the same pattern as the first window's (a burst
   * while the window is empty, then a pause), so the rate over the last,
   * partial window depends on where in that pattern the work ran out.
   * Undefined when the run did not last two full windows.
   */
  fullWindows: number | undefined;
}

/** Cumulative tokens at time `t`, linearly interpolated between samples (clamped at the ends). */
export function tokensAt(samples: readonly Sample[], t: number): number {
  if (!samples.length) return 0;
  const first = samples[0]!;
  const last = samples[samples.length - 1]!;
  if (t <= first.t) return first.tokens;
  if (t >= last.t) return last.tokens;
  let lo = 0;
  let hi = samples.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (samples[mid]!.t <= t) lo = mid;
    else hi = mid;
  }
  const a = samples[lo]!;
  const b = samples[hi]!;
  return b.t === a.t ? b.tokens : a.tokens + ((b.tokens - a.tokens) * (t - a.t)) / (b.t - a.t);
}

/** Midpoint of the poll interval in which the counter first rose above its starting value. */
function firstRise(samples: readonly Sample[]): number | undefined {
  const base = samples[0]?.tokens ?? 0;
  const i = samples.findIndex((s) => s.tokens > base);
  if (i < 0) return undefined;
  return i === 0 ? samples[0]!.t : (samples[i - 1]!.t + samples[i]!.t) / 2;
}

/** Midpoint of the poll interval in which a counter reached its final value. */
function lastRise(samples: readonly Sample[], counter: 'tokens' | 'responses' = 'tokens'): number | undefined {
  const final = samples[samples.length - 1]?.[counter];
  if (final === undefined) return undefined;
  const i = samples.findIndex((s) => s[counter] === final);
  if (i <= 0) return samples[0]?.t;
  return (samples[i - 1]!.t + samples[i]!.t) / 2;
}

/**
 * Pace figures of one run.
 * @param samples the poll series, in time order, starting before the first request
 * @param windowMs rate-limit window, ms
 * @param tpm tokens allowed per window
 * @returns undefined when no token was admitted
 */
export function paceFigures(samples: readonly Sample[], windowMs: number, tpm: number): PaceFigures | undefined {
  const firstAt = firstRise(samples);
  const lastAt = lastRise(samples);
  if (firstAt === undefined || lastAt === undefined) return undefined;
  const base = samples[0]!.tokens;
  const final = samples[samples.length - 1]!.tokens;
  // Every token is in by `lastAt` and none before `firstAt`, whatever the
  // interpolation inside those two poll intervals says.
  const cum = (t: number) => (t >= lastAt ? final : t <= firstAt ? base : tokensAt(samples, t));
  const from = firstAt + windowMs;
  const afterFirstWindow = lastAt > from ? ((cum(lastAt) - cum(from)) / (lastAt - from)) * (windowMs / tpm) : undefined;
  const perWindow: number[] = [];
  let lastWindowFraction = 1;
  for (let start = firstAt; start < lastAt; start += windowMs) {
    const end = Math.min(start + windowMs, lastAt);
    perWindow.push((cum(end) - cum(start)) / tpm);
    lastWindowFraction = (end - start) / windowMs;
  }
  const complete = perWindow.slice(1, lastWindowFraction < 0.999 ? -1 : undefined);
  const fullWindows = complete.length ? complete.reduce((a, b) => a + b, 0) / complete.length : undefined;
  const lastResponseAt = Math.max(lastAt, lastRise(samples, 'responses') ?? lastAt);
  return { firstAt, lastAt, lastResponseAt, afterFirstWindow, perWindow, lastWindowFraction, fullWindows };
}
