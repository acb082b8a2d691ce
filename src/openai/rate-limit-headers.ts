/**
 * Reads OpenAI's rate-limit headers and 429 bodies (docs/openai-facts.md, "Rate limits"):
 * `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` with Go-style
 * durations (`6m0s`, `2.812s`, `20ms`), `Retry-After` in seconds, the
 * undocumented `retry-after-ms`, and "Please try again in 2.812s" in the
 * message when no header says how long.
 */
import { parseGoDuration } from './go-duration.ts';

export interface RateLimitHeaders {
  limitRequests?: number;
  limitTokens?: number;
  remainingRequests?: number;
  remainingTokens?: number;
  /** ms until the request budget is full again. */
  resetRequestsMs?: number;
  /** ms until the token budget is full again. */
  resetTokensMs?: number;
}

type HeaderSource = { get(name: string): string | null } | Record<string, string | string[] | undefined> | undefined;

function header(headers: HeaderSource, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as { get?: unknown }).get === 'function')
    return (headers as { get(n: string): string | null }).get(name) ?? undefined;
  const v = (headers as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(v) ? v[0] : v;
}

function num(v: string | undefined): number | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

function duration(v: string | undefined): number | undefined {
  if (!v) return undefined;
  try {
    return parseGoDuration(v);
  } catch {
    return undefined;
  }
}

export function readRateLimitHeaders(headers: HeaderSource): RateLimitHeaders {
  const out: RateLimitHeaders = {};
  const set = <K extends keyof RateLimitHeaders>(k: K, v: number | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set('limitRequests', num(header(headers, 'x-ratelimit-limit-requests')));
  set('limitTokens', num(header(headers, 'x-ratelimit-limit-tokens')));
  set('remainingRequests', num(header(headers, 'x-ratelimit-remaining-requests')));
  set('remainingTokens', num(header(headers, 'x-ratelimit-remaining-tokens')));
  set('resetRequestsMs', duration(header(headers, 'x-ratelimit-reset-requests')));
  set('resetTokensMs', duration(header(headers, 'x-ratelimit-reset-tokens')));
  return out;
}

/**
 * How long a 429 asks to wait, ms: `retry-after-ms`, else `Retry-After`
 * seconds, else "try again in …" in the message, else the reset header of
 * the exhausted budget (`type` tokens or requests), else undefined.
 */
export function retryAfterMs(headers: HeaderSource, message: string | undefined, type?: string): number | undefined {
  const ms = num(header(headers, 'retry-after-ms'));
  if (ms !== undefined && ms >= 0) return ms;
  const s = num(header(headers, 'retry-after'));
  if (s !== undefined && s >= 0) return s * 1000;
  const m = message?.match(/try again in ((?:\d+(?:\.\d+)?(?:h|ms|m|s|us|µs|ns))+)/);
  if (m) {
    const d = duration(m[1]);
    if (d !== undefined) return d;
  }
  const rl = readRateLimitHeaders(headers);
  return type === 'requests' ? rl.resetRequestsMs : (rl.resetTokensMs ?? rl.resetRequestsMs);
}

/**
 * The server's processing time of a response, ms, from OpenAI's
 * `openai-processing-ms` header; 0 when absent or malformed. The API counted
 * the request against its rate limit at least this long before it answered.
 */
export function processingMs(headers: HeaderSource): number {
  const v = num(header(headers, 'openai-processing-ms'));
  return v !== undefined && v > 0 ? v : 0;
}
