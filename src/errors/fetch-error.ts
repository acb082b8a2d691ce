/**
 * Fetch errors carry their decision in a `permanent` flag, since one
 * abstract base keeps the fields every fetch failure reports (URL, reason,
 * HTTP status):
 * - {@link PermanentFetchError}, decision **fail the job now**: 404/410 and
 *   other 4xx, too large, not text, invalid encoding, empty, refused by the
 *   SSRF guard, too many redirects, disallowed by robots.txt, bad URL;
 * - {@link TransientFetchError}, decision **retry with backoff**: 5xx, 408,
 *   429, timeouts, connection refused or reset, temporary DNS failure.
 * Messages name the URL (or path), the cause in plain words, and what to do.
 */

export type FetchErrorReason =
  | 'bad-url'
  | 'http-status'
  | 'too-large'
  | 'content-type'
  | 'encoding'
  | 'empty'
  | 'ssrf'
  | 'too-many-redirects'
  | 'robots'
  | 'timeout'
  | 'network'
  | 'dns'
  | 'not-found'
  | 'io';

export interface FetchErrorDetails {
  reason: FetchErrorReason;
  /** HTTP status, when the error is about a response. */
  status?: number;
  /** For 429/503: the server's Retry-After, in milliseconds. */
  retryAfterMs?: number;
  cause?: unknown;
}

export abstract class FetchError extends Error {
  /** The URL (or file path) the error is about. */
  readonly url: string;
  readonly reason: FetchErrorReason;
  readonly status: number | undefined;
  abstract readonly permanent: boolean;

  constructor(url: string, message: string, details: FetchErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.url = url;
    this.reason = details.reason;
    this.status = details.status;
  }
}

/** Retrying will not help: fix the source or the settings. */
export class PermanentFetchError extends FetchError {
  override readonly name = 'PermanentFetchError';
  readonly permanent = true;
}

/** May succeed later: retry with backoff (honour `retryAfterMs` when set). */
export class TransientFetchError extends FetchError {
  override readonly name = 'TransientFetchError';
  readonly permanent = false;
  readonly retryAfterMs: number | undefined;

  constructor(url: string, message: string, details: FetchErrorDetails) {
    super(url, message, details);
    this.retryAfterMs = details.retryAfterMs;
  }
}

export function isFetchError(err: unknown): err is FetchError {
  return err instanceof FetchError;
}
