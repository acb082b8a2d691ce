/**
 * Sitemaps (docs/design.md, "Sitemaps") against real Redis, PostgreSQL and
 * the emulator over HTTP, on a site served over loopback whose robots.txt
 * names a sitemap index (a gzip sitemap and a malformed one):
 * - the first crawl finds a page only the sitemap lists;
 * - an unchanged re-crawl fetches none of the listed pages (counted at the
 *   server), counts them skipped and seen (deletion sync keeps them), and
 *   still reaches a page only a skipped page links to;
 * - an edited page whose lastmod moved is fetched and re-embedded, the
 *   others are skipped;
 * - the malformed sitemap is reported in `sitemapErrors` and the run goes on;
 * - CRAWL_SITEMAPS=false reads no sitemap.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingest } from '../../src/ingest/ingest.ts';
import { withRuntime } from '../helpers/runtime.ts';
import { isolate, requirePostgres, requireRedis, type TestIsolation } from '../helpers/services.ts';
import { serveDirectory, type StaticServer } from '../helpers/static-server.ts';

let iso: TestIsolation;
let site: StaticServer;
let root: string;
/** The served site's /docs/. */
let dir: string;

const page = (title: string, body: string, links: string[] = []) =>
  `<html><head><title>${title}</title></head><body><h1 id="t">${title}</h1><p>${body}</p>${links
    .map((l) => `<p><a href="${l}">${l}</a></p>`)
    .join('')}</body></html>`;

/** The sitemap of a, b and c (not d) with their files' mtimes as lastmod, gzipped, beside a malformed one. */
function writeSitemaps(): void {
  const lastmod = (f: string) => fs.statSync(path.join(dir, f)).mtime.toISOString();
  const urls = ['a.html', 'b.html', 'c.html']
    .map((f) => `<url><loc>${site.url}/docs/${f}</loc><lastmod>${lastmod(f)}</lastmod></url>`)
    .join('');
  fs.writeFileSync(
    path.join(dir, 'map-1.xml.gz'),
    gzipSync(`<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">${urls}</urlset>`),
  );
}

/** Requests per path since the last call. */
function fetchesSince(): () => Record<string, number> {
  const before = new Map(site.stats.byPath);
  return () => {
    const out: Record<string, number> = {};
    for (const [p, n] of site.stats.byPath) if (n - (before.get(p) ?? 0) > 0) out[p] = n - (before.get(p) ?? 0);
    return out;
  };
}

beforeAll(async () => {
  await requireRedis();
  await requirePostgres();
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-sitemap-'));
  dir = path.join(root, 'docs');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'index.html'), page('Index', 'The start page about vacuum.', ['a.html', 'b.html']));
  fs.writeFileSync(path.join(dir, 'a.html'), page('A', 'Page a explains the planner and its statistics.'));
  fs.writeFileSync(path.join(dir, 'b.html'), page('B', 'Page b explains the buffer cache.', ['d.html']));
  fs.writeFileSync(path.join(dir, 'c.html'), page('C', 'Page c is listed by the sitemap only: tuple visibility.'));
  fs.writeFileSync(path.join(dir, 'd.html'), page('D', 'Page d is linked by b only: heap pages and locks.'));
  const hourAgo = new Date(Date.now() - 3_600_000);
  for (const f of fs.readdirSync(dir)) fs.utimesSync(path.join(dir, f), hourAgo, hourAgo);
  site = await serveDirectory(root);
  fs.writeFileSync(path.join(root, 'robots.txt'), `User-agent: *\nAllow: /\nSitemap: ${site.url}/index.xml\n`);
  fs.writeFileSync(
    path.join(root, 'index.xml'),
    `<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">` +
      `<sitemap><loc>${site.url}/docs/map-1.xml.gz</loc></sitemap>` +
      `<sitemap><loc>${site.url}/broken.xml</loc></sitemap></sitemapindex>`,
  );
  fs.writeFileSync(path.join(root, 'broken.xml'), '<urlset><url><loc>http://x/</loc></urlset>');
  writeSitemaps();
  iso = isolate();
});

afterAll(async () => {
  await site?.close();
  await iso?.cleanup();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

describe('sitemaps', () => {
  it('an unchanged re-crawl skips fetching listed pages, keeps them seen, and still reaches pages only they link to', async () => {
    const source = `${site.url}/docs/index.html`;
    await withRuntime(iso.env, async (rt) => {
      const first = await ingest(rt, { collection: 's', sources: [source] });
      expect(first.failed).toEqual([]);
      expect(first.documents).toBe(5); // c only through the sitemap, d only through b
      expect(first.pagesSkippedBySitemap).toBe(0);
      expect(first.sitemapErrors).toEqual([
        {
          sitemap: `${site.url}/broken.xml`,
          error: expect.stringMatching(
            /^sitemap http:\/\/127\.0\.0\.1:\d+\/broken\.xml: not well-formed XML at line 1/,
          ),
        },
      ]);

      const fetches = fetchesSince();
      const again = await ingest(rt, {
        collection: 's',
        sources: [source],
        deleteMissing: true,
        allowMassDelete: true,
      });
      const paths = fetches();
      expect(again.failed).toEqual([]);
      expect(paths['/docs/a.html']).toBeUndefined();
      expect(paths['/docs/b.html']).toBeUndefined();
      expect(paths['/docs/c.html']).toBeUndefined();
      expect(paths['/docs/index.html']).toBe(1); // the start URL: a conditional GET
      expect(paths['/docs/d.html']).toBe(1); // linked from a skipped page, listed by no sitemap
      expect(paths['/docs/map-1.xml.gz']).toBe(1);
      expect(again).toMatchObject({
        documents: 5,
        chunks: first.chunks,
        pagesSkippedBySitemap: 3,
        pagesNotModified: 2,
        tokensEmbedded: 0,
        documentsDeleted: 0,
        deletionHeld: null,
      });
      const sitemapBytes = fs.statSync(path.join(dir, 'map-1.xml.gz')).size;
      expect(again.bytesDownloaded).toBeGreaterThanOrEqual(sitemapBytes);
      // Seen by the run: deletion sync kept them because the run reached them.
      const { rows } = await rt.db.pool.query<{ uri: string; seen: boolean }>(
        `SELECT uri, last_seen_run = $1 AS seen FROM documents ORDER BY uri`,
        [again.runId],
      );
      expect(rows.map((r) => [path.basename(r.uri), r.seen])).toEqual([
        ['a.html', true],
        ['b.html', true],
        ['c.html', true],
        ['d.html', true],
        ['index.html', true],
      ]);
    });
  }, 120_000);

  it('an edited page with a newer lastmod is fetched and re-embedded; the others are skipped', async () => {
    fs.writeFileSync(
      path.join(dir, 'b.html'),
      page('B', 'Page b now explains the buffer cache and the background writer.', ['d.html']),
    );
    writeSitemaps();
    const source = `${site.url}/docs/index.html`;
    await withRuntime(iso.env, async (rt) => {
      const fetches = fetchesSince();
      const s = await ingest(rt, { collection: 's', sources: [source] });
      const paths = fetches();
      expect(s.failed).toEqual([]);
      expect(paths['/docs/b.html']).toBe(1);
      expect(paths['/docs/a.html']).toBeUndefined();
      expect(paths['/docs/c.html']).toBeUndefined();
      expect(s.pagesSkippedBySitemap).toBe(2);
      expect(s.chunksEmbedded).toBeGreaterThan(0);
      const { rows } = await rt.db.pool.query<{ text: string }>(
        `SELECT c.text FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.uri = $1`,
        [`${site.url}/docs/b.html`],
      );
      expect(rows.map((r) => r.text).join(' ')).toContain('background writer');
    });
  }, 120_000);

  it('CRAWL_SITEMAPS=false reads no sitemap and fetches every page', async () => {
    await withRuntime({ ...iso.env, CRAWL_SITEMAPS: 'false' }, async (rt) => {
      const fetches = fetchesSince();
      const s = await ingest(rt, { collection: 's', sources: [`${site.url}/docs/index.html`] });
      const paths = fetches();
      expect(s).toMatchObject({ pagesSkippedBySitemap: 0, sitemapErrors: [] });
      expect(paths['/index.xml']).toBeUndefined();
      expect(paths['/docs/a.html']).toBe(1);
      expect(s.documents).toBe(4); // c is listed by the sitemap only
    });
  }, 120_000);
});
