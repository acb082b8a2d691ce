/**
 * Fetch errors carry their decision in a `permanent` flag, since one
 * abstract base keeps the fields every fetch failure reports (URL, reason,
 * HTTP status):
 * - {@link PermanentFetchError}, decision **fail the job now**: 404/410 and
 *   other 4xx, too large, not text, invalid encoding, empty, refused by the
 *   SSRF guard (SsrfRefusedError), a redirect out of the crawl scope
 *   (RedirectOutOfScopeError), a path outside SOURCE_ROOTS (SourceRootError),
 *   too many redirects, disallowed by robots.txt, bad URL;
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
  | 'out-of-scope'
  | 'outside-root'
  | 'credentials'
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
  override readonly name: string = 'PermanentFetchError';
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

/**
 * Refused by the SSRF guard: the host resolved (or the socket connected) to
 * an address that is not public and not allowed by CRAWL_ALLOW_HOSTS.
 * Decision: fail the job now; the message names the host, the address and
 * the setting that would allow it.
 */
export class SsrfRefusedError extends PermanentFetchError {
  override readonly name: string = 'SsrfRefusedError';
}

/**
 * A redirect left the crawl scope of its source (another origin, or outside
 * the start URL's directory). Decision: fail the job now; the message names
 * both URLs.
 */
export class RedirectOutOfScopeError extends PermanentFetchError {
  override readonly name: string = 'RedirectOutOfScopeError';
}

/**
 * A local path (or the real path a symbolic link points to) is outside
 * every SOURCE_ROOTS directory. Decision: fail the job now; the message
 * names the path, where it leads and the roots.
 */
export class SourceRootError extends PermanentFetchError {
  override readonly name: string = 'SourceRootError';
}
