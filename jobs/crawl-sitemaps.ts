/**
 * The sitemap pass of a start URL's crawl job (docs/design.md, "Sitemaps"):
 * read the origin's sitemaps, claim the in-scope pages they list for the run,
 * mark those whose `<lastmod>` is not newer than their last fetch as seen in
 * one statement (no fetch, no job), enqueue crawl jobs for the others, and
 * fan out to the stored links of the skipped pages that no sitemap lists.
 */
import type { Job } from 'bullmq';
import { fetchRaw, type FetchOptions } from '../src/crawl/fetch.ts';
import { sameScope } from '../src/crawl/links.ts';
import type { RobotsCache } from '../src/crawl/robots.ts';
import { loadSitemaps, SITEMAP_ACCEPT } from '../src/crawl/sitemap.ts';
import { FetchError } from '../src/errors/index.ts';
import { normaliseUrl } from '../src/extract/url.ts';
import { crawlBytesTotal, documentsTotal, pagesTotal } from '../src/metrics/metrics.ts';
import type { CrawlPayload } from '../src/queue/contracts.ts';
import { crawlJobId } from '../src/queue/job-ids.ts';
import type { JobContext } from '../src/runtime/job-context.ts';
import { skipBySitemap } from '../src/store/documents.ts';

type UrlSource = Extract<CrawlPayload['source'], { type: 'url' }>;

/** What the pass did, for the job's result and log line. */
export interface SitemapPass {
  /** Sitemap files read. */
  sitemaps: number;
  /** In-scope pages the sitemaps listed and the run claimed. */
  listed: number;
  /** Of those, not fetched: `<lastmod>` not newer than their last fetch. */
  skipped: number;
  /** Crawl jobs enqueued (listed pages to fetch, and links of skipped pages that no sitemap lists). */
  enqueued: number;
}

/**
 * Runs the sitemap pass for a start URL. Never throws for a sitemap's sake
 * (errors are recorded in the run: `sitemapErrors`); a database or Redis
 * failure throws as anywhere in the job, and the job's retry repeats the
 * pass idempotently (claims are the job's own, the same pages are skipped
 * and recorded by URI again, job ids are deterministic). On a retry after
 * the pass's crawl jobs ran, a page one of them fetched may be counted as
 * skipped instead: its outcome is overwritten, nothing is fetched twice.
 */
export async function followSitemaps(
  job: Job,
  p: CrawlPayload,
  ctx: JobContext,
  source: UrlSource,
  robots: RobotsCache,
  fetchOptions: FetchOptions,
  collectionId: number,
): Promise<SitemapPass> {
  const cfg = ctx.config.crawl;
  const origin = new URL(source.url).origin;
  const listed = await robots.sitemaps(source.url, fetchOptions);
  const roots = listed.length
    ? listed.flatMap((u) => {
        const url = normaliseUrl(u);
        return url === null ? [] : [{ url }];
      })
    : [{ url: `${origin}/sitemap.xml`, implicit: true }];
  // The pass's own deadline, or the job's abort (its deadline, a lost lock, a drain): stop reading sitemaps.
  const deadline = AbortSignal.timeout(cfg.sitemaps.deadlineMs);
  const signal = ctx.signal ? AbortSignal.any([deadline, ctx.signal]) : deadline;
  const load = await loadSitemaps(roots, {
    maxBytes: cfg.maxBytes,
    maxEntries: cfg.sitemaps.maxUrls,
    maxTotalEntries: cfg.sitemaps.maxUrls,
    maxFiles: cfg.sitemaps.maxFiles,
    signal,
    fetch: async (url) => {
      if (!(await robots.isAllowed(url, fetchOptions))) {
        throw new Error(`disallowed by ${new URL('/robots.txt', url).href} for this user agent`);
      }
      try {
        const r = await fetchRaw(url, { ...fetchOptions, etag: undefined, lastModified: undefined }, SITEMAP_ACCEPT);
        if (r.status !== 'ok') throw new Error('304 Not Modified to a request without validators');
        return r;
      } catch (err) {
        // Not there (loadSitemaps: no sitemap for an implicit /sitemap.xml, an error for a listed one).
        if (err instanceof FetchError && (err.status === 404 || err.status === 410)) return null;
        throw err;
      }
    },
  });
  const bytes = load.files.reduce((s, f) => s + f.bytes, 0);
  crawlBytesTotal.inc(bytes);
  await ctx.tracker.recordSitemaps(
    p.runId,
    load.files.map((f) => ({
      url: f.url,
      bytes: f.bytes,
      ...(f.error
        ? { error: f.error.message }
        : f.invalid
          ? {
              error: `sitemap ${f.url}: ${f.invalid} entries without a valid absolute http(s) <loc> ignored; fix them (sitemaps.org)`,
            }
          : {}),
    })),
  );
  for (const f of load.files) {
    if (f.error) ctx.logger.warn({ component: 'sitemap', sitemap: f.url, reason: f.error.reason }, f.error.message);
  }

  // The pages this start URL may crawl: in its scope, allowed by robots.txt, not itself.
  const pages: Array<{ uri: string; lastmodMs: number | undefined }> = [];
  for (const [uri, lastmodMs] of load.pages) {
    if (uri === source.url || !sameScope(source.scope, uri)) continue;
    if (!(await robots.isAllowed(uri, fetchOptions))) continue;
    pages.push({ uri, lastmodMs });
  }
  const pass: SitemapPass = { sitemaps: load.files.length, listed: 0, skipped: 0, enqueued: 0 };
  if (!pages.length) return pass;

  // The pass claims as its own owner: the start page's own fan-out (same job) must not get these pages back.
  const owner = `${String(job.id)}:sitemap`;
  const { claimed } = await ctx.tracker.claimUrls(
    p.runId,
    owner,
    p.limits.maxPages,
    pages.map((x) => x.uri),
  );
  const mine = new Set(claimed);
  const ours = pages.filter((x) => mine.has(x.uri));
  pass.listed = ours.length;
  const key = { model: ctx.config.embedding.model, dimensions: ctx.config.embedding.dimensions };
  const skip = await skipBySitemap(ctx.db.pool, {
    collectionId,
    runId: p.runId,
    chunkerVersion: ctx.config.chunk.version,
    key,
    pages: ours,
  });
  await ctx.tracker.recordSkipped(p.runId, skip.skipped);
  pass.skipped = skip.skipped.length;
  pagesTotal.inc({ outcome: 'skipped_by_sitemap' }, skip.skipped.length);
  documentsTotal.inc({ outcome: 'unchanged' }, skip.skipped.length);

  // Listed pages to fetch: new, changed, without a lastmod, or cut by another chunker version. Depth 1.
  const skipped = new Set(skip.skipped.map((s) => s.uri));
  const jobs = ours
    .filter((x) => !skipped.has(x.uri))
    .map((x) => ({
      jobId: crawlJobId(p.runId, x.uri),
      payload: { ...p, source: { type: 'url' as const, url: x.uri, scope: source.scope, depth: 1 } },
    }));

  // The stored links of skipped pages that no sitemap lists (depth 2): the pages a sitemap misses are still reached.
  const links = skip.links.filter((l) => sameScope(source.scope, l));
  if (links.length && 1 < p.limits.maxDepth) {
    const more = await ctx.tracker.claimUrls(p.runId, owner, p.limits.maxPages, links);
    for (const url of more.claimed) {
      jobs.push({
        jobId: crawlJobId(p.runId, url),
        payload: { ...p, source: { type: 'url' as const, url, scope: source.scope, depth: 2 } },
      });
    }
  } else if (links.length) {
    await ctx.tracker.recordDepthCut(p.runId, links);
  }
  if (jobs.length) await ctx.producer.add('crawl', jobs, p.runId);
  pass.enqueued = jobs.length;
  return pass;
}
