/**
 * Sitemap parsing and loading (src/crawl/sitemap.ts; docs/design.md,
 * "Sitemaps"): urlsets, indexes, gzip, text sitemaps, `<lastmod>` bounds,
 * the byte, entry and file limits, and malformed input as a named error that
 * leaves the other sitemaps usable.
 */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { loadSitemaps, parseLastmod, parseSitemap, SitemapError } from '../../src/crawl/sitemap.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const LIMITS = { maxBytes: 1_000_000, maxEntries: 1000 };
const urlset = (entries: Array<[string, string?]>) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n${entries
    .map(([loc, lastmod]) => `  <url><loc>${loc}</loc>${lastmod ? `<lastmod>${lastmod}</lastmod>` : ''}</url>`)
    .join('\n')}\n</urlset>\n`;
const index = (locs: string[]) =>
  `<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">${locs
    .map((l) => `<sitemap><loc>${l}</loc><lastmod>2024-01-01</lastmod></sitemap>`)
    .join('')}</sitemapindex>`;

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SitemapError);
    return `${(err as SitemapError).reason}: ${(err as Error).message}`;
  }
  throw new Error('expected a SitemapError');
}

describe('parseLastmod', () => {
  it('reads a W3C Datetime as the end of the period it names', () => {
    // A date has no zone: it ends at the end of that day in UTC−12.
    expect(parseLastmod('2024-05-01')).toBe(Date.UTC(2024, 4, 2, 12));
    expect(parseLastmod('2024-05')).toBe(Date.UTC(2024, 5, 1, 12));
    expect(parseLastmod('2024')).toBe(Date.UTC(2025, 0, 1, 12));
    expect(parseLastmod('2024-05-01T10:05Z')).toBe(Date.UTC(2024, 4, 1, 10, 6));
    expect(parseLastmod('2024-05-01T10:05:30Z')).toBe(Date.UTC(2024, 4, 1, 10, 5, 31));
    expect(parseLastmod('2024-05-01T10:05:30.250Z')).toBe(Date.UTC(2024, 4, 1, 10, 5, 30, 251));
    expect(parseLastmod('2024-05-01T10:05:30+02:00')).toBe(Date.UTC(2024, 4, 1, 8, 5, 31));
    expect(parseLastmod('2024-05-01T10:05:30-0130')).toBe(Date.UTC(2024, 4, 1, 11, 35, 31));
    expect(parseLastmod(' 2024-05-01T10:05:30 ')).toBe(Date.UTC(2024, 4, 1, 22, 5, 31));
  });

  it('rejects what is not a date', () => {
    for (const bad of ['', 'yesterday', '2024-13-01', '2024-02-30', '2024-05-01T25:00Z', '01/05/2024', '2024-5-1'])
      expect(parseLastmod(bad), bad).toBeUndefined();
  });
});

describe('parseSitemap', () => {
  it('reads a urlset: locations normalised, entities decoded, lastmod bounds, namespaces ignored', () => {
    const xml = urlset([
      ['http://h/a.html', '2024-05-01T10:05:30Z'],
      ['http://H:80/b.html?x=1&amp;y=2#top'],
      ['not a url'],
    ]);
    const s = parseSitemap('http://h/sitemap.xml', enc(xml), LIMITS);
    expect(s).toEqual({
      kind: 'urlset',
      entries: [
        { url: 'http://h/a.html', lastmodMs: Date.UTC(2024, 4, 1, 10, 5, 31) },
        { url: 'http://h/b.html?x=1&y=2', lastmodMs: undefined },
      ],
      invalid: 1,
    });
  });

  it('reads a sitemap index', () => {
    const s = parseSitemap('http://h/sitemap.xml', enc(index(['http://h/s1.xml', 'http://h/s2.xml.gz'])), LIMITS);
    expect(s.kind).toBe('index');
    expect(s.kind === 'index' && s.sitemaps.map((x) => x.url)).toEqual(['http://h/s1.xml', 'http://h/s2.xml.gz']);
  });

  it('reads gzip by its magic bytes, and a text sitemap', () => {
    const gz = gzipSync(enc(urlset([['http://h/a.html', '2024-01-01']])));
    const s = parseSitemap('http://h/sitemap.xml.gz', gz, LIMITS);
    expect(s.kind === 'urlset' && s.entries.map((e) => e.url)).toEqual(['http://h/a.html']);
    const t = parseSitemap('http://h/sitemap.txt', enc('http://h/a.html\n\nhttp://h/b.html\n'), LIMITS);
    expect(t).toEqual({
      kind: 'urlset',
      entries: [{ url: 'http://h/a.html' }, { url: 'http://h/b.html' }],
      invalid: 0,
    });
  });

  it('names malformed input: bad XML (with its line), another root, bad gzip, bad UTF-8, a text line that is no URL', () => {
    expect(reason(() => parseSitemap('http://h/s.xml', enc('<urlset>\n<url><loc>x</url>\n</urlset>'), LIMITS))).toMatch(
      /^malformed: sitemap http:\/\/h\/s\.xml: not well-formed XML at line 2/,
    );
    expect(reason(() => parseSitemap('http://h/s.xml', enc('<html><body>hi</body></html>'), LIMITS))).toMatch(
      /^not-a-sitemap: .*root element is <html>/,
    );
    const gz = gzipSync(enc(urlset([['http://h/a.html']])));
    expect(reason(() => parseSitemap('http://h/s.xml.gz', gz.subarray(0, gz.length - 12), LIMITS))).toMatch(
      /^malformed: .*not valid gzip/,
    );
    expect(reason(() => parseSitemap('http://h/s.xml', new Uint8Array([0x3c, 0xff, 0xfe, 0x3e]), LIMITS))).toMatch(
      /^malformed: .*not valid UTF-8/,
    );
    expect(reason(() => parseSitemap('http://h/s.txt', enc('http://h/a.html\nftp://h/b\n'), LIMITS))).toMatch(
      /^malformed: .*line 2 of a text sitemap/,
    );
  });

  it('limits bytes after decompression (a gzip bomb stops at the limit) and entries per file', () => {
    const bomb = gzipSync(Buffer.alloc(20_000_000, 0x20));
    expect(bomb.length).toBeLessThan(100_000);
    expect(reason(() => parseSitemap('http://h/bomb.xml.gz', bomb, LIMITS))).toMatch(
      /^too-large: .*decompresses to more than 1000000 bytes \(CRAWL_MAX_BYTES\)/,
    );
    expect(reason(() => parseSitemap('http://h/big.xml', enc(' '.repeat(2_000_000)), LIMITS))).toMatch(/^too-large/);
    const many = urlset(Array.from({ length: 11 }, (_, i): [string] => [`http://h/${i}.html`]));
    expect(reason(() => parseSitemap('http://h/s.xml', enc(many), { ...LIMITS, maxEntries: 10 }))).toMatch(
      /^too-many-entries: .*lists 11 entries, over the limit of 10 \(SITEMAP_MAX_URLS\)/,
    );
  });
});

describe('loadSitemaps', () => {
  const site = (files: Record<string, string | Uint8Array>) => {
    const fetched: string[] = [];
    return {
      fetched,
      fetch: async (url: string) => {
        fetched.push(url);
        const f = files[url];
        if (f === undefined) return null;
        const body = typeof f === 'string' ? enc(f) : f;
        return { body, bytes: body.byteLength };
      },
    };
  };
  const opts = { ...LIMITS, maxFiles: 10, maxTotalEntries: 1000 };

  it('follows an index; a malformed child is a named error and the other children are used', async () => {
    const s = site({
      'http://h/sitemap.xml': index([
        'http://h/a.xml',
        'http://h/bad.xml',
        'http://h/c.xml.gz',
        'http://h/sitemap.xml',
      ]),
      'http://h/a.xml': urlset([['http://h/1.html', '2024-01-01T00:00:00Z']]),
      'http://h/bad.xml': '<urlset><url><loc>http://h/2.html</loc></urlset>',
      'http://h/c.xml.gz': gzipSync(enc(urlset([['http://h/3.html'], ['http://h/1.html', '2024-02-01T00:00:00Z']]))),
    });
    const load = await loadSitemaps([{ url: 'http://h/sitemap.xml', implicit: true }], { ...opts, fetch: s.fetch });
    expect(s.fetched).toEqual(['http://h/sitemap.xml', 'http://h/a.xml', 'http://h/bad.xml', 'http://h/c.xml.gz']);
    expect([...load.pages]).toEqual([
      ['http://h/1.html', Date.UTC(2024, 1, 1, 0, 0, 1)], // listed twice: the later lastmod
      ['http://h/3.html', undefined],
    ]);
    const errors = load.files.filter((f) => f.error).map((f) => [f.url, f.error!.reason]);
    expect(errors).toEqual([['http://h/bad.xml', 'malformed']]);
  });

  it('an absent implicit /sitemap.xml is no error; an absent listed one, a failed fetch and the limits are', async () => {
    const none = await loadSitemaps([{ url: 'http://h/sitemap.xml', implicit: true }], {
      ...opts,
      fetch: site({}).fetch,
    });
    expect(none).toEqual({ pages: new Map(), files: [] });
    const listed = await loadSitemaps([{ url: 'http://h/map.xml' }, { url: 'http://h/down.xml' }], {
      ...opts,
      fetch: async (url) => {
        if (url.endsWith('down.xml')) throw new Error('GET http://h/down.xml: server error (HTTP 503)');
        return null;
      },
    });
    expect(listed.files.map((f) => f.error?.reason)).toEqual(['fetch', 'fetch']);
    expect(listed.files[1]!.error!.message).toMatch(/HTTP 503/);

    const many = site({
      'http://h/i.xml': index(['http://h/a.xml', 'http://h/b.xml', 'http://h/c.xml']),
      'http://h/a.xml': urlset([['http://h/1.html'], ['http://h/2.html']]),
      'http://h/b.xml': urlset([['http://h/3.html'], ['http://h/4.html']]),
      'http://h/c.xml': urlset([['http://h/5.html']]),
    });
    const files = await loadSitemaps([{ url: 'http://h/i.xml' }], { ...opts, maxFiles: 2, fetch: many.fetch });
    expect([...files.pages.keys()]).toEqual(['http://h/1.html', 'http://h/2.html']);
    expect(files.files.at(-1)!.error!.message).toMatch(
      /sitemap http:\/\/h\/b\.xml and 1 more not read: over the limit of 2 sitemap files \(SITEMAP_MAX_FILES\)/,
    );
    const entries = await loadSitemaps([{ url: 'http://h/i.xml' }], { ...opts, maxTotalEntries: 3, fetch: many.fetch });
    expect(entries.pages.size).toBe(3);
    expect(entries.files.at(-1)!.error!.reason).toBe('too-many-entries');

    const late = await loadSitemaps([{ url: 'http://h/i.xml' }], {
      ...opts,
      signal: AbortSignal.abort(),
      fetch: many.fetch,
    });
    expect(late.files.map((f) => f.error?.reason)).toEqual(['deadline']);
  });
});
