/**
 * Sitemaps (https://www.sitemaps.org/protocol.html): XML `<urlset>` and
 * `<sitemapindex>` files, gzip-compressed or not, and plain-text sitemaps
 * (one URL per line). Parsed with fast-xml-parser (validated first, so a
 * malformed file is an error naming its line, never a partial list), with
 * limits on bytes (after decompression), entries and files, each with a named
 * {@link SitemapError}. Nothing here fails a crawl: the caller records the
 * error and the run finds the pages by their links as it would without a
 * sitemap (docs/design.md, "Sitemaps").
 */
import { gunzipSync } from 'node:zlib';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { normaliseUrl } from '../extract/url.ts';
import type { RawAccept } from './fetch.ts';

/** What a sitemap request accepts: XML, gzip (`.xml.gz` files) and plain text. */
export const SITEMAP_ACCEPT: RawAccept = {
  accept: 'application/xml, text/xml;q=0.9, application/gzip;q=0.8, text/plain;q=0.5',
  mediaTypes: [
    'application/xml',
    'text/xml',
    'application/gzip',
    'application/x-gzip',
    'application/octet-stream',
    'text/plain',
  ],
};

/** Why a sitemap could not be used. */
export type SitemapErrorReason =
  | 'fetch'
  | 'malformed'
  | 'not-a-sitemap'
  | 'too-large'
  | 'too-many-entries'
  | 'too-many-sitemaps'
  | 'deadline';

/**
 * A sitemap that could not be read or used (whole or in part). It never fails
 * a job: the run records it (`sitemapErrors` in the summary) and crawls the
 * pages it would have listed by their links.
 */
export class SitemapError extends Error {
  override readonly name = 'SitemapError';
  /** The sitemap's URL. */
  readonly sitemap: string;
  readonly reason: SitemapErrorReason;

  constructor(sitemap: string, reason: SitemapErrorReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.sitemap = sitemap;
    this.reason = reason;
  }
}

/** One `<url>` (or `<sitemap>` of an index). */
export interface SitemapEntry {
  /** The page (or child sitemap) URL, normalised (src/extract/url.ts). */
  url: string;
  /**
   * The end of the period `<lastmod>` names, ms since the epoch (see
   * {@link parseLastmod}): the page did not change after it. Undefined when
   * the entry has no valid `<lastmod>`.
   */
  lastmodMs?: number | undefined;
}

export type ParsedSitemap =
  | { kind: 'urlset'; entries: SitemapEntry[]; invalid: number }
  | { kind: 'index'; sitemaps: SitemapEntry[]; invalid: number };

export interface SitemapLimits {
  /** Largest sitemap body, bytes, after decompression (the crawl's CRAWL_MAX_BYTES). */
  maxBytes: number;
  /** Most entries one file may list; more is a `too-many-entries` error. */
  maxEntries: number;
}

// W3C Datetime (https://www.w3.org/TR/NOTE-datetime), the format sitemaps.org prescribes for <lastmod>;
// a time without a zone designator (not W3C, but common) is accepted too.
const W3C_DATETIME =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?)?)?$/;
const HOUR_MS = 3_600_000;

/**
 * The latest instant a `<lastmod>` value can stand for, ms since the epoch
 * (exclusive): a page whose last successful fetch is at or after it has not
 * changed since. A value is read as the end of the period it names, so a
 * coarse value never hides a later edit: `2024-05-01` (no time, so no zone)
 * ends at the end of that day in the westernmost zone (UTC−12), i.e.
 * 2024-05-02T12:00Z; `2024-05-01T10:05+02:00` ends a minute later; a time
 * without a zone is read in UTC−12 too.
 * @returns undefined when the value is not a W3C Datetime or names no real date
 */
export function parseLastmod(value: string): number | undefined {
  const m = W3C_DATETIME.exec(value.trim());
  if (!m) return undefined;
  const [, ys, mos, ds, hs, mis, ss, frac, zone] = m;
  const y = Number(ys);
  const mo = mos === undefined ? undefined : Number(mos);
  const d = ds === undefined ? undefined : Number(ds);
  if (mo !== undefined && (mo < 1 || mo > 12)) return undefined;
  if (d !== undefined) {
    const check = new Date(Date.UTC(y, mo! - 1, d));
    if (check.getUTCDate() !== d || d < 1) return undefined;
  }
  if (hs === undefined) {
    // A date (or month, or year): the end of it in UTC−12.
    const end =
      mo === undefined ? Date.UTC(y + 1, 0, 1) : d === undefined ? Date.UTC(y, mo, 1) : Date.UTC(y, mo! - 1, d + 1);
    return end + 12 * HOUR_MS;
  }
  const h = Number(hs);
  const mi = Number(mis);
  const s = ss === undefined ? 0 : Number(ss);
  if (h > 23 || mi > 59 || s > 60) return undefined;
  let at = Date.UTC(y, mo! - 1, d!, h, mi, s);
  // The end of the unit the value is given in (a minute, a second, a millisecond).
  if (ss === undefined) at += 60_000;
  else if (frac === undefined) at += 1000;
  else at += Math.floor(Number(frac) * 1000) + 1;
  if (zone === undefined) return at + 12 * HOUR_MS;
  if (zone === 'Z') return at;
  const sign = zone[0] === '-' ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const offsetMs = (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  return at - sign * offsetMs;
}

function isGzip(body: Uint8Array): boolean {
  return body.byteLength >= 2 && body[0] === 0x1f && body[1] === 0x8b;
}

/** Gunzips within `maxBytes` of output (zlib stops there: a gzip bomb costs no more memory than the limit). */
function gunzip(sitemap: string, body: Uint8Array, maxBytes: number): Uint8Array {
  try {
    return gunzipSync(body, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new SitemapError(
        sitemap,
        'too-large',
        `sitemap ${sitemap}: decompresses to more than ${maxBytes} bytes (CRAWL_MAX_BYTES); split it into smaller sitemaps under a sitemap index, or raise CRAWL_MAX_BYTES`,
        { cause: err },
      );
    }
    throw new SitemapError(
      sitemap,
      'malformed',
      `sitemap ${sitemap}: not valid gzip (${(err as Error).message}); serve it uncompressed or as a whole .gz file`,
      { cause: err },
    );
  }
}

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  isArray: (name) => name === 'url' || name === 'sitemap',
});

function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return undefined;
}

/** The entries of `<url>` or `<sitemap>` elements; entries without a valid absolute http(s) `<loc>` are counted as invalid. */
function entriesOf(items: unknown[]): { entries: SitemapEntry[]; invalid: number } {
  const entries: SitemapEntry[] = [];
  let invalid = 0;
  for (const item of items) {
    const o = (item ?? {}) as Record<string, unknown>;
    const loc = text(o.loc);
    const url = loc === undefined ? null : normaliseUrl(loc);
    if (url === null) {
      invalid++;
      continue;
    }
    const lastmod = text(o.lastmod);
    entries.push({ url, lastmodMs: lastmod === undefined ? undefined : parseLastmod(lastmod) });
  }
  return { entries, invalid };
}

/**
 * Parses one sitemap file: gzip (by its magic bytes, whatever the media
 * type), then XML (`<urlset>` or `<sitemapindex>`, namespace prefixes
 * ignored) or plain text (one absolute URL per line).
 * @param sitemap the file's URL, for messages
 * @throws SitemapError `too-large`, `malformed` (bad gzip, invalid UTF-8, invalid XML with its line
 *   and column, a text line that is not a URL), `not-a-sitemap` (another XML root), `too-many-entries`
 */
export function parseSitemap(sitemap: string, body: Uint8Array, limits: SitemapLimits): ParsedSitemap {
  let bytes = isGzip(body) ? gunzip(sitemap, body, limits.maxBytes) : body;
  if (bytes.byteLength > limits.maxBytes) {
    throw new SitemapError(
      sitemap,
      'too-large',
      `sitemap ${sitemap}: ${bytes.byteLength} bytes, over the limit of ${limits.maxBytes} bytes (CRAWL_MAX_BYTES); split it under a sitemap index, or raise CRAWL_MAX_BYTES`,
    );
  }
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bytes = bytes.subarray(3);
  let xml: string;
  try {
    xml = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw new SitemapError(
      sitemap,
      'malformed',
      `sitemap ${sitemap}: not valid UTF-8; sitemaps must be UTF-8 encoded (sitemaps.org)`,
      { cause: err },
    );
  }
  const tooMany = (n: number): SitemapError =>
    new SitemapError(
      sitemap,
      'too-many-entries',
      `sitemap ${sitemap}: lists ${n} entries, over the limit of ${limits.maxEntries} (SITEMAP_MAX_URLS); split it under a sitemap index, or raise SITEMAP_MAX_URLS`,
    );
  const start = xml.trimStart();
  if (!start.startsWith('<')) {
    // A text sitemap: one URL per line.
    const entries: SitemapEntry[] = [];
    const lines = xml.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (!line) continue;
      const url = normaliseUrl(line);
      if (url === null) {
        throw new SitemapError(
          sitemap,
          'malformed',
          `sitemap ${sitemap}: line ${i + 1} of a text sitemap is not an absolute http(s) URL ("${line.slice(0, 80)}"); a text sitemap lists one URL per line`,
        );
      }
      entries.push({ url });
      if (entries.length > limits.maxEntries) throw tooMany(entries.length);
    }
    return { kind: 'urlset', entries, invalid: 0 };
  }
  const valid = XMLValidator.validate(xml);
  if (valid !== true) {
    const e = valid.err;
    throw new SitemapError(
      sitemap,
      'malformed',
      `sitemap ${sitemap}: not well-formed XML at line ${e.line}, column ${e.col}: ${e.msg.replace(/\.$/, '')}; fix the sitemap (sitemaps.org)`,
    );
  }
  let doc: Record<string, unknown>;
  try {
    doc = parser.parse(xml) as Record<string, unknown>;
  } catch (err) {
    throw new SitemapError(sitemap, 'malformed', `sitemap ${sitemap}: ${(err as Error).message}`, { cause: err });
  }
  const root = (v: unknown): Record<string, unknown> | undefined =>
    v === undefined ? undefined : typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
  const urlset = root(doc.urlset);
  const index = root(doc.sitemapindex);
  if (urlset) {
    const items = (urlset.url as unknown[] | undefined) ?? [];
    if (items.length > limits.maxEntries) throw tooMany(items.length);
    return { kind: 'urlset', ...entriesOf(items) };
  }
  if (index) {
    const items = (index.sitemap as unknown[] | undefined) ?? [];
    if (items.length > limits.maxEntries) throw tooMany(items.length);
    const { entries, invalid } = entriesOf(items);
    return { kind: 'index', sitemaps: entries, invalid };
  }
  const names = Object.keys(doc).filter((k) => !k.startsWith('?'));
  throw new SitemapError(
    sitemap,
    'not-a-sitemap',
    `sitemap ${sitemap}: the root element is <${names[0] ?? '?'}>, not <urlset> or <sitemapindex>; point Sitemap: at a sitemap (sitemaps.org)`,
  );
}

/** One sitemap file as read by {@link loadSitemaps}. */
export interface SitemapRead {
  url: string;
  /** Body bytes downloaded (after content decoding; before gunzip of a .gz file). */
  bytes: number;
  /** Page entries (or child sitemaps, for an index) it listed. */
  entries: number;
  /** Entries without a valid `<loc>`, ignored. */
  invalid: number;
  error?: SitemapError;
}

export interface SitemapLoadOptions extends SitemapLimits {
  /**
   * Downloads one sitemap (the crawl's guarded fetch, src/crawl/fetch.ts
   * `fetchRaw`). `null` for an absent implicit `/sitemap.xml` (404/410: the
   * site has no sitemap, not an error). Throws for anything else.
   */
  fetch: (url: string) => Promise<{ body: Uint8Array; bytes: number } | null>;
  /** Most sitemap files read (indexes included) (SITEMAP_MAX_FILES). */
  maxFiles: number;
  /** Most page entries over all files (SITEMAP_MAX_URLS). */
  maxTotalEntries: number;
  /** Aborts the reading of further sitemaps (the pass's deadline); what was read is kept. */
  signal?: AbortSignal;
}

/** What {@link loadSitemaps} found: pages with their `<lastmod>` bound, and every file read with its error. */
export interface SitemapLoad {
  /** Page URL → lastmod bound (ms; undefined when any listing of it had none). */
  pages: Map<string, number | undefined>;
  files: SitemapRead[];
}

/** A sitemap the pass stopped before (and `left` more queued): recorded with why, so the run reports it. */
function unread(url: string, left: number, reason: SitemapErrorReason, why: string): SitemapRead {
  return {
    url,
    bytes: 0,
    entries: 0,
    invalid: 0,
    error: new SitemapError(
      url,
      reason,
      `sitemap ${url} and ${left} more not read: ${why}; their pages are crawled by their links`,
    ),
  };
}

/**
 * Reads sitemaps breadth first from `roots` (robots.txt `Sitemap:` lines or
 * the implicit `/sitemap.xml`), following sitemap indexes, each file once.
 * Errors are recorded per file and never thrown: a file that fails is left
 * out, the others are used. Past `maxFiles` files, `maxTotalEntries` pages or
 * the signal, reading stops with an error saying what was left unread.
 */
export async function loadSitemaps(
  roots: Array<{ url: string; implicit?: boolean }>,
  opts: SitemapLoadOptions,
): Promise<SitemapLoad> {
  const pages = new Map<string, number | undefined>();
  const files: SitemapRead[] = [];
  const seen = new Set<string>();
  const queue = roots.filter((r) => !seen.has(r.url) && seen.add(r.url));
  while (queue.length) {
    const next = queue.shift()!;
    if (opts.signal?.aborted) {
      files.push(unread(next.url, queue.length, 'deadline', 'the sitemap pass ran out of time (SITEMAP_DEADLINE_MS)'));
      break;
    }
    if (files.length >= opts.maxFiles) {
      const why = `over the limit of ${opts.maxFiles} sitemap files (SITEMAP_MAX_FILES)`;
      files.push(unread(next.url, queue.length, 'too-many-sitemaps', why));
      break;
    }
    const read: SitemapRead = { url: next.url, bytes: 0, entries: 0, invalid: 0 };
    let fetched: { body: Uint8Array; bytes: number } | null;
    try {
      fetched = await opts.fetch(next.url);
    } catch (err) {
      read.error = new SitemapError(
        next.url,
        'fetch',
        `sitemap ${next.url}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
      files.push(read);
      continue;
    }
    if (fetched === null) {
      if (!next.implicit) {
        read.error = new SitemapError(next.url, 'fetch', `sitemap ${next.url}: not found; fix the Sitemap: line`);
        files.push(read);
      }
      continue;
    }
    read.bytes = fetched.bytes;
    files.push(read);
    try {
      const parsed = parseSitemap(next.url, fetched.body, opts);
      read.invalid = parsed.invalid;
      if (parsed.kind === 'index') {
        read.entries = parsed.sitemaps.length;
        for (const s of parsed.sitemaps) if (!seen.has(s.url) && seen.add(s.url)) queue.push({ url: s.url });
        continue;
      }
      read.entries = parsed.entries.length;
      for (const e of parsed.entries) {
        if (!pages.has(e.url) && pages.size >= opts.maxTotalEntries) {
          read.error = new SitemapError(
            next.url,
            'too-many-entries',
            `sitemap ${next.url}: the sitemaps list more than ${opts.maxTotalEntries} pages (SITEMAP_MAX_URLS); the rest are crawled by their links — raise SITEMAP_MAX_URLS`,
          );
          return { pages, files };
        }
        if (pages.has(e.url)) {
          // Listed twice: the later lastmod wins, and none beats any.
          const prev = pages.get(e.url);
          pages.set(e.url, prev === undefined || e.lastmodMs === undefined ? undefined : Math.max(prev, e.lastmodMs));
        } else {
          pages.set(e.url, e.lastmodMs);
        }
      }
    } catch (err) {
      read.error =
        err instanceof SitemapError
          ? err
          : new SitemapError(next.url, 'malformed', `sitemap ${next.url}: ${(err as Error).message}`, { cause: err });
    }
  }
  return { pages, files };
}
