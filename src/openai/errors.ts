/**
 * Reads the retry decision off an error from the OpenAI SDK, for every
 * endpoint Sluice calls (embeddings, Files, vector stores, file batches).
 * Error bodies and statuses: docs/openai-facts.md, "Rate limits" (the quota body) and "Official Node SDK" (error classes).
 */
import { APIConnectionError, APIError } from 'openai';
import { PermanentError, RateLimitedError } from '../errors/index.ts';
import { retryAfterMs } from './rate-limit-headers.ts';

/**
 * Statuses no retry can fix. `insufficient_quota` is a 429 but not
 * retryable either (docs/openai-facts.md, "Rate limits"): handled by its code.
 */
const PERMANENT_STATUSES = new Set([400, 401, 403, 404, 422]);
/**
 * When a 429 names no wait (no Retry-After, no reset header, no "try again
 * in" sentence), ms. A fallback only — the API normally names its wait — so
 * it is short: 1 s pauses the queue long enough for the rolling window to
 * free some capacity, and a second 429 simply pauses again.
 */
const DEFAULT_RATE_LIMIT_WAIT_MS = 1000;

/**
 * Converts an SDK error into the error whose class is the retry decision:
 * - 429 `insufficient_quota` and 400/401/403/404/422 → {@link PermanentError}
 *   with the API's own message;
 * - 429 `rate_limit_exceeded` → {@link RateLimitedError} with the wait the API asked for;
 * - anything else (5xx, timeouts, dropped connections) → returned as is: retried.
 * @returns the error to throw; never throws itself.
 */
export function classifyOpenAIError(err: unknown): Error {
  if (err instanceof APIError && !(err instanceof APIConnectionError)) {
    const body = err.error as { type?: string; code?: string } | undefined;
    const code = err.code ?? body?.code;
    const type = err.type ?? body?.type;
    if (err.status === 429 && (code === 'insufficient_quota' || type === 'insufficient_quota')) {
      return new PermanentError(`OpenAI refused the request (insufficient_quota): ${err.message}`, { cause: err });
    }
    if (err.status === 429) {
      const wait = retryAfterMs(err.headers as never, err.message, type ?? undefined) ?? DEFAULT_RATE_LIMIT_WAIT_MS;
      return new RateLimitedError(err.message, wait, type === 'requests' ? 'requests' : 'tokens');
    }
    if (err.status !== undefined && PERMANENT_STATUSES.has(err.status)) {
      return new PermanentError(`OpenAI answered ${err.status}: ${err.message}`, { cause: err });
    }
  }
  return err instanceof Error ? err : new Error(String(err));
}
