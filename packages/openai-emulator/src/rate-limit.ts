/**
 * The HTTP face of the rate limiter: the `x-ratelimit-*` headers sent on every
 * embeddings response, and the 429s (docs/openai-facts.md, "Rate limits": header names
 * and examples, 429 bodies, `Retry-After` in whole seconds ≥ 1).
 */
import { type ApiError, insufficientQuota, rateLimitExceeded, requestTooLarge } from './errors.ts';
import { formatGoDuration } from './go-duration.ts';
import type { WindowUsage } from './limits.ts';
import type { EmulatorState } from './state.ts';

/**
 * The six `x-ratelimit-*` headers for a model's window as it is now.
 * `reset-*` is the time until the window is empty again ("resets to its
 * initial state"), as a Go duration; with one shared log both are the same
 * except when no tokens are in use.
 */
export function rateLimitHeaders(state: EmulatorState, model: string): Record<string, string> {
  const { rpm, tpm, windowMs } = state.settings;
  const usage: WindowUsage = state.window(model).usage(state.now(), windowMs);
  return {
    'x-ratelimit-limit-requests': String(rpm),
    'x-ratelimit-limit-tokens': String(tpm),
    'x-ratelimit-remaining-requests': String(Math.max(0, rpm - usage.requests)),
    'x-ratelimit-remaining-tokens': String(Math.max(0, tpm - usage.tokens)),
    'x-ratelimit-reset-requests': formatGoDuration(usage.resetMs),
    'x-ratelimit-reset-tokens': formatGoDuration(usage.tokens > 0 ? usage.resetMs : 0),
  };
}

/** `Retry-After` (integer seconds, ceil, ≥ 1) and, if enabled, `retry-after-ms`. */
function retryHeaders(state: EmulatorState, retryAfterMs: number): Record<string, string> {
  const headers: Record<string, string> = {
    'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))),
  };
  if (state.settings.sendRetryAfterMs) headers['retry-after-ms'] = String(Math.max(0, Math.ceil(retryAfterMs)));
  return headers;
}

/**
 * Throws the account-level 429 when `insufficientQuota` is on (no
 * `Retry-After`: it needs user action, docs/openai-facts.md "Rate limits").
 */
export function checkQuota(state: EmulatorState): void {
  if (!state.settings.insufficientQuota) return;
  state.counters.rateLimited.insufficient_quota++;
  throw insufficientQuota();
}

/**
 * Admits a request of `tokens` for `model` into its rolling window, or
 * throws the 429 the service would send. A refused request consumes nothing.
 * @throws ApiError 429 `rate_limit_exceeded` (`type` requests or tokens)
 */
export function admit(state: EmulatorState, model: string, tokens: number): void {
  const { rpm, tpm, windowMs, organization } = state.settings;
  const decision = state.window(model).tryAdmit(state.now(), tokens, { rpm, tpm, windowMs });
  if (decision.ok) return;
  state.counters.rateLimited[decision.kind]++;
  if (decision.retryAfterMs === undefined) throw requestTooLarge(model, organization, tpm, tokens);
  const error: ApiError = rateLimitExceeded(
    {
      model,
      organization,
      kind: decision.kind,
      limit: decision.limit,
      used: decision.used,
      requested: decision.requested,
      retryAfterMs: decision.retryAfterMs,
      retryAfterText: formatGoDuration(decision.retryAfterMs),
    },
    retryHeaders(state, decision.retryAfterMs),
  );
  throw error;
}
