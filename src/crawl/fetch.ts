/**
 * One bounded, vetted HTTP GET of a text document.
 *
 * - Every hop (the first request and each redirect) passes the SSRF guard,
 *   before the request and again at connect time (./ssrf.ts: the request
 *   goes through the guard's undici Agent, which checks each connection).
 * - Redirects are followed by hand (`redirect: 'manual'`) up to maxRedirects;
 *   with a `scope`, each redirect target must stay in it.
 * - One deadline (`timeoutMs`) covers all hops and the whole body.
 * - Conditional GET: If-None-Match / If-Modified-Since; 304 → not-modified.
 * - The body is streamed and abandoned as soon as it passes `maxBytes`
 *   (after decompression); a Content-Length over the limit is refused before
 *   reading.
 * - Only text types are accepted; the body must decode without error in its
 *   declared charset (UTF-8 by default) and must not be blank.
 * Every failure is a PermanentFetchError or a TransientFetchError.
 */
import { fetch as undiciFetch } from 'undici';
import type { DocumentKind } from '../extract/types.ts';
import {
  FetchError,
  PermanentFetchError,
  RedirectOutOfScopeError,
  SsrfRefusedError,
  TransientFetchError,
} from '../errors/index.ts';
import { redactSecrets } from '../log/redact.ts';
import { sameScope } from './links.ts';
import { policyFor, type SsrfOptions } from './ssrf.ts';

export interface FetchOptions extends SsrfOptions {
  maxBytes: number;
  timeoutMs: number;
  maxRedirects: number;
  userAgent: string;
  /**
   * The crawl scope (docs/vocabulary.md, "scope") the document must stay
   * in: a redirect out of it fails with RedirectOutOfScopeError. Unset: any
   * redirect target the SSRF guard allows.
   */
  scope?: string | undefined;
  /** Validators of the stored copy, for a conditional GET. */
  etag?: string | undefined;
  lastModified?: string | undefined;
}

/** What {@link fetchRaw} accepts: the Accept header it sends and the media types it takes (any when none is declared). */
export interface RawAccept {
  accept: string;
  mediaTypes: readonly string[];
}

/** A body fetched by {@link fetchRaw}, undecoded. */
export type RawFetchResult =
  | {
      status: 'ok';
      /** The final URL, after redirects. */
      url: string;
      /** The declared media type, lower case; '' when none. */
      contentType: string;
      body: Uint8Array;
      /** Body size in bytes (after content decoding). */
      bytes: number;
    }
  | { status: 'not-modified'; url: string };

export type FetchResult =
  | {
      status: 'ok';
      /** The final URL, after redirects. */
      url: string;
      contentType: string;
      kind: DocumentKind;
      text: string;
      etag?: string;
      lastModified?: string;
      /** Body size in bytes (after content decoding). */
      bytes: number;
    }
  | { status: 'not-modified'; url: string };

const KIND_BY_TYPE: Readonly<Record<string, DocumentKind>> = {
  'text/html': 'html',
  'application/xhtml+xml': 'html',
  'text/plain': 'text',
  'text/markdown': 'markdown',
  'text/x-markdown': 'markdown',
};
export const ACCEPTED_CONTENT_TYPES: readonly string[] = Object.keys(KIND_BY_TYPE);

const ACCEPT_HEADER = 'text/html, application/xhtml+xml;q=0.9, text/markdown;q=0.9, text/plain;q=0.8';
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function kindFromPath(pathname: string): DocumentKind | null {
  const p = pathname.toLowerCase();
  if (/\.(?:html?|xhtml)$/.test(p)) return 'html';
  if (/\.(?:md|markdown|mdown|mkd)$/.test(p)) return 'markdown';
  if (/\.(?:txt|text|rst)$/.test(p)) return 'text';
  return null;
}

function parseContentType(header: string | null): { mediaType: string; charset: string | null } {
  if (!header) return { mediaType: '', charset: null };
  const [type = '', ...params] = header.split(';');
  let charset: string | null = null;
  for (const p of params) {
    const m = /^\s*charset\s*=\s*"?([^";\s]+)"?\s*$/i.exec(p);
    if (m) charset = m[1]!.toLowerCase();
  }
  return { mediaType: type.trim().toLowerCase(), charset };
}

/** Retry-After (seconds or HTTP date) in ms, if present and sane. */
function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const s = header.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

/** The encoding named by a byte order mark, which overrides any declaration. */
function sniffBom(body: Uint8Array): string | null {
  if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) return 'utf-8';
  if (body[0] === 0xfe && body[1] === 0xff) return 'utf-16be';
  if (body[0] === 0xff && body[1] === 0xfe) return 'utf-16le';
  return null;
}

/** `<meta charset>` / `<meta http-equiv content="…charset=…">` in the first 1024 bytes of an HTML page. */
function metaCharset(body: Uint8Array): string | null {
  const head = Buffer.from(body.buffer, body.byteOffset, Math.min(1024, body.byteLength)).toString('latin1');
  const m = /<meta\b[^>]*?charset\s*=[\s"']*([A-Za-z0-9_:.-]+)/i.exec(head);
  const label = m?.[1]?.toLowerCase();
  // A page cannot declare itself UTF-16 in ASCII-compatible bytes: browsers read that as UTF-8.
  return label && !label.startsWith('utf-16') ? label : null;
}

async function discard(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // nothing to do: the body is not needed
  }
}

function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

function isTimeout(err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name;
  return (
    name === 'TimeoutError' ||
    (name === 'AbortError' && (err as { cause?: { name?: string } }).cause?.name === 'TimeoutError')
  );
}

/** Maps a thrown fetch/stream error to a FetchError. */
function networkError(label: string, url: string, err: unknown, timeoutMs: number): FetchError {
  // A refusal by the connect-time SSRF check arrives as the cause of fetch's TypeError.
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof SsrfRefusedError && e.url !== url) {
      return new SsrfRefusedError(url, `${label}: ${e.message}`, { reason: 'ssrf', cause: e });
    }
    if (e instanceof FetchError) return e;
  }
  if (isTimeout(err)) {
    return new TransientFetchError(
      url,
      `${label}: no complete response within ${timeoutMs} ms (timed out); the server is slow or unreachable: retry later or raise the timeout`,
      { reason: 'timeout', cause: err },
    );
  }
  const code = errorCode(err);
  const detail = code ?? (err instanceof Error ? err.message : String(err));
  switch (code) {
    case 'ECONNREFUSED':
      return new TransientFetchError(url, `${label}: connection refused (${code}); is the server running?`, {
        reason: 'network',
        cause: err,
      });
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return new TransientFetchError(url, `${label}: connection reset by the server (${code})`, {
        reason: 'network',
        cause: err,
      });
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return new TransientFetchError(url, `${label}: timed out (${code})`, { reason: 'timeout', cause: err });
    case 'ENOTFOUND':
      return new PermanentFetchError(url, `${label}: host not found in DNS (${code}); check the spelling of the URL`, {
        reason: 'dns',
        cause: err,
      });
    case 'EAI_AGAIN':
      return new TransientFetchError(url, `${label}: DNS lookup failed temporarily (${code})`, {
        reason: 'dns',
        cause: err,
      });
    default:
      if (code && /CERT|TLS|SSL/.test(code)) {
        return new PermanentFetchError(
          url,
          `${label}: TLS certificate problem (${code}); the server's certificate is not trusted — fix the certificate or use a trusted URL`,
          { reason: 'network', cause: err },
        );
      }
      return new TransientFetchError(url, `${label}: network error (${detail})`, { reason: 'network', cause: err });
  }
}

function statusError(label: string, url: string, res: Response): FetchError {
  const s = res.status;
  const text = `${s}${res.statusText ? ` ${res.statusText}` : ''}`;
  if (s === 404 || s === 410) {
    return new PermanentFetchError(url, `${label}: the page does not exist (HTTP ${text}); fix or remove the URL`, {
      reason: 'http-status',
      status: s,
    });
  }
  if (s === 401 || s === 403) {
    return new PermanentFetchError(
      url,
      `${label}: access denied (HTTP ${text}); Sluice does not log in — use a public URL or ingest a local copy`,
      { reason: 'http-status', status: s },
    );
  }
  if (s === 408 || s === 429 || s >= 500) {
    const after = retryAfterMs(res.headers.get('retry-after'));
    const why =
      s === 429 ? 'rate limited by the server' : s === 408 ? 'the server timed out the request' : 'server error';
    const hint = after !== undefined ? `retry after ${Math.ceil(after / 1000)} s` : 'a transient failure';
    return new TransientFetchError(url, `${label}: ${why} (HTTP ${text}); ${hint}`, {
      reason: 'http-status',
      status: s,
      ...(after !== undefined ? { retryAfterMs: after } : {}),
    });
  }
  return new PermanentFetchError(url, `${label}: unexpected HTTP status ${text}; check the URL`, {
    reason: 'http-status',
    status: s,
  });
}

/** Fetches one text document. Throws PermanentFetchError or TransientFetchError. */
export async function fetchDocument(url: string, opts: FetchOptions): Promise<FetchResult> {
  return (await fetchHttp(url, opts)) as FetchResult;
}

/**
 * Fetches the undecoded body of a resource of one of `accept.mediaTypes`
 * (sitemaps: src/crawl/sitemap.ts), with every guard and limit of
 * {@link fetchDocument}: SSRF guard on each hop, redirects, one deadline,
 * `maxBytes` on the body as received (after Content-Encoding is undone).
 * Throws PermanentFetchError (reason `content-type` for another type) or TransientFetchError.
 */
export async function fetchRaw(url: string, opts: FetchOptions, accept: RawAccept): Promise<RawFetchResult> {
  return (await fetchHttp(url, opts, accept)) as RawFetchResult;
}

async function fetchHttp(url: string, opts: FetchOptions, raw?: RawAccept): Promise<FetchResult | RawFetchResult> {
  let current: URL;
  try {
    current = new URL(url);
  } catch (err) {
    throw new PermanentFetchError(url, `GET ${url}: not a valid absolute URL; give a full http(s) URL`, {
      reason: 'bad-url',
      cause: err,
    });
  }
  current.hash = '';
  const deadline = AbortSignal.timeout(opts.timeoutMs);
  const policy = policyFor(opts);
  const headers: Record<string, string> = { 'user-agent': opts.userAgent, accept: ACCEPT_HEADER };
  if (opts.etag) headers['if-none-match'] = opts.etag;
  if (opts.lastModified) headers['if-modified-since'] = opts.lastModified;
  if (raw) headers.accept = raw.accept;

  for (let hops = 0; ; hops++) {
    const via = hops > 0 ? ` (reached by redirect from ${url})` : '';
    const label = `GET ${current.href}`;
    try {
      if (current.username || current.password) {
        // Sluice does not log in, and a credential must not travel to (or be logged for) another host.
        throw new PermanentFetchError(
          current.href,
          `${redactSecrets(label)}: the URL carries credentials (user:password@); Sluice does not log in — give a public URL`,
          { reason: 'credentials' },
        );
      }
      await policy.assertAllowed(current);
    } catch (err) {
      if (err instanceof PermanentFetchError && via) {
        // Same class (SsrfRefusedError stays one), the redirect named.
        const Refusal = err.constructor as typeof PermanentFetchError;
        throw new Refusal(current.href, `${err.message}${via}`, { reason: err.reason, cause: err });
      }
      throw err;
    }

    let res: Response;
    try {
      // undici's own fetch with the guard's Agent: every connection it opens is checked (./ssrf.ts).
      res = (await undiciFetch(current, {
        method: 'GET',
        redirect: 'manual',
        headers,
        signal: deadline,
        dispatcher: policy.dispatcher,
      })) as unknown as Response;
    } catch (err) {
      throw networkError(label + via, current.href, err, opts.timeoutMs);
    }

    if (REDIRECTS.has(res.status)) {
      const location = res.headers.get('location');
      await discard(res);
      if (!location) {
        throw new PermanentFetchError(
          current.href,
          `${label}: redirect (HTTP ${res.status}) without a Location header${via}; the server is misconfigured`,
          { reason: 'http-status', status: res.status },
        );
      }
      let next: URL;
      try {
        next = new URL(location, current);
      } catch (err) {
        throw new PermanentFetchError(current.href, `${label}: redirect to an invalid URL "${location}"${via}`, {
          reason: 'bad-url',
          cause: err,
        });
      }
      next.hash = '';
      if (opts.scope !== undefined && !sameScope(opts.scope, next.href)) {
        throw new RedirectOutOfScopeError(
          current.href,
          `${label}: redirect (HTTP ${res.status}) to ${next.href}${via}, which is outside the crawl scope ${opts.scope}; point the source at the final URL if it is meant to be crawled`,
          { reason: 'out-of-scope', status: res.status },
        );
      }
      if (hops >= opts.maxRedirects) {
        throw new PermanentFetchError(
          url,
          `GET ${url}: too many redirects (more than ${opts.maxRedirects}; the next one was to ${next.href}); point the source at the final URL or raise maxRedirects`,
          { reason: 'too-many-redirects', status: res.status },
        );
      }
      current = next;
      continue;
    }

    if (res.status === 304) {
      await discard(res);
      return { status: 'not-modified', url: current.href };
    }
    if (res.status < 200 || res.status > 299) {
      await discard(res);
      throw statusError(label + via, current.href, res);
    }
    if (raw) return readRaw(res, current.href, label + via, opts, raw);

    // Content type: only text documents.
    const { mediaType, charset } = parseContentType(res.headers.get('content-type'));
    let kind: DocumentKind | null;
    if (mediaType === '') {
      kind = kindFromPath(current.pathname);
    } else {
      kind = KIND_BY_TYPE[mediaType] ?? null;
      if (kind === null) {
        await discard(res);
        throw new PermanentFetchError(
          current.href,
          `${label}: content type ${mediaType} is not text (accepted: ${ACCEPTED_CONTENT_TYPES.join(', ')}); only HTML, Markdown and plain-text pages can be indexed`,
          { reason: 'content-type', status: res.status },
        );
      }
      // Markdown is often served as text/plain.
      if (kind === 'text' && kindFromPath(current.pathname) === 'markdown') kind = 'markdown';
    }

    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > opts.maxBytes) {
      await discard(res);
      throw new PermanentFetchError(
        current.href,
        `${label}: body is ${declared} bytes (Content-Length), over the limit of ${opts.maxBytes} bytes; raise maxBytes to index it`,
        { reason: 'too-large', status: res.status },
      );
    }

    const body = await readBody(res, current.href, label + via, opts);
    const bytes = body.byteLength;

    const encoding =
      sniffBom(body) ?? charset ?? (kind !== 'text' && kind !== 'markdown' ? metaCharset(body) : null) ?? 'utf-8';
    let decoder: InstanceType<typeof TextDecoder>;
    try {
      decoder = new TextDecoder(encoding, { fatal: true });
    } catch (err) {
      throw new PermanentFetchError(
        current.href,
        `${label}: charset "${encoding}" is not supported; serve the page as UTF-8`,
        { reason: 'encoding', cause: err },
      );
    }
    let text: string;
    try {
      text = decoder.decode(body);
    } catch (err) {
      throw new PermanentFetchError(
        current.href,
        `${label}: body is not valid ${decoder.encoding} (invalid byte sequence); serve the page as UTF-8 or declare its real charset in Content-Type`,
        { reason: 'encoding', cause: err },
      );
    }
    if (text.includes('\u0000')) {
      // Postgres text cannot hold U+0000, and a text document has none: this is binary served as text.
      throw new PermanentFetchError(
        current.href,
        `${label}: body contains NUL characters (U+0000); it is not a text document — serve it with its real type`,
        { reason: 'encoding', status: res.status },
      );
    }
    if (text.trim() === '') {
      throw new PermanentFetchError(
        current.href,
        `${label}: body is empty${bytes > 0 ? ' (whitespace only)' : ''}; there is nothing to index`,
        { reason: 'empty', status: res.status },
      );
    }
    if (kind === null) kind = /^\s*</.test(text) ? 'html' : 'text';
    const contentType =
      mediaType || (kind === 'html' ? 'text/html' : kind === 'markdown' ? 'text/markdown' : 'text/plain');

    const etag = res.headers.get('etag');
    const lastModified = res.headers.get('last-modified');
    return {
      status: 'ok',
      url: current.href,
      contentType,
      kind,
      text,
      ...(etag ? { etag } : {}),
      ...(lastModified ? { lastModified } : {}),
      bytes,
    };
  }
}

/**
 * Reads a response body, stopping at `maxBytes` (as received, after
 * Content-Encoding is undone: undici inflates gzip/deflate/br as it streams,
 * so a compression bomb stops at the limit too).
 */
async function readBody(
  res: Response,
  href: string,
  label: string,
  opts: Pick<FetchOptions, 'maxBytes' | 'timeoutMs'>,
): Promise<Uint8Array> {
  const pieces: Uint8Array[] = [];
  let bytes = 0;
  if (res.body) {
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        bytes += value.byteLength;
        if (bytes > opts.maxBytes) {
          await reader.cancel().catch(() => undefined);
          throw new PermanentFetchError(
            href,
            `${label}: body is over the limit of ${opts.maxBytes} bytes (stopped reading at ${bytes}); raise maxBytes to index it`,
            { reason: 'too-large', status: res.status },
          );
        }
        pieces.push(value);
      }
    } catch (err) {
      throw networkError(label, href, err, opts.timeoutMs);
    }
  }
  const body = new Uint8Array(bytes);
  let offset = 0;
  for (const p of pieces) {
    body.set(p, offset);
    offset += p.byteLength;
  }
  return body;
}

/** The raw-body tail of {@link fetchHttp}: type check, size checks, body. */
async function readRaw(
  res: Response,
  href: string,
  label: string,
  opts: FetchOptions,
  raw: RawAccept,
): Promise<RawFetchResult> {
  const { mediaType } = parseContentType(res.headers.get('content-type'));
  if (mediaType !== '' && !raw.mediaTypes.includes(mediaType)) {
    await discard(res);
    throw new PermanentFetchError(
      href,
      `${label}: content type ${mediaType} is not one of ${raw.mediaTypes.join(', ')}`,
      { reason: 'content-type', status: res.status },
    );
  }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > opts.maxBytes) {
    await discard(res);
    throw new PermanentFetchError(
      href,
      `${label}: body is ${declared} bytes (Content-Length), over the limit of ${opts.maxBytes} bytes (CRAWL_MAX_BYTES)`,
      { reason: 'too-large', status: res.status },
    );
  }
  const body = await readBody(res, href, label, opts);
  return { status: 'ok', url: href, contentType: mediaType, body, bytes: body.byteLength };
}
