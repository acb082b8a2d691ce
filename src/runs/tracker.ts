/**
 * Run tracking in Redis. A **run** is the set of jobs started by one
 * `ingest`/`sync` call. Every job of a run is recorded before it is enqueued
 * and marked finished (completed or finally failed) by the processor, in
 * sets, so at-least-once delivery never counts a job twice. Per-run
 * statistics are hashes keyed by document URI or chunk hash for the same
 * reason. Keys expire after RUN_TTL_SECONDS: run state is a progress view,
 * never the source of truth (Postgres is).
 */
import { redactSecrets } from '../log/redact.ts';
import { randomUUID } from 'node:crypto';
import type { Redis } from '../queue/redis.ts';
import { defineScript } from '../queue/scripts.ts';

/**
 * How long run state stays in Redis after its last write, seconds: 7 days,
 * so an ingest interrupted on a Friday still resumes on Monday and a week's
 * run summaries can be read back; the data itself is in Postgres.
 */
export const RUN_TTL_SECONDS = 7 * 24 * 3600;

/** A failure as `ingest` reports it: the source and the reason. */
export interface RunFailure {
  source: string;
  /** The error's message, credentials in URLs redacted (src/log/redact.ts). */
  error: string;
  /** The error's class name (`SsrfRefusedError`, `SourceRootError`, …), when recorded. */
  errorName?: string;
  queue: string;
  jobId: string;
  /**
   * True when the last attempt failed for a reason a retry might fix (a 5xx,
   * a timeout: `!isPermanent(err)`), false for a permanent one (404/410, bad
   * source). Deletion sync holds when a run's scope had transient failures;
   * a failure recorded without it (older run state) counts as transient.
   */
  transient?: boolean;
}

/** The statistics of one document in a run. */
export interface RunDocument {
  chunks: number;
  tokens: number;
}

/** What a run did with one page or file: src/metrics/metrics.ts `PAGE_OUTCOMES`. */
export type PageOutcome = 'written' | 'unchanged' | 'not_modified' | 'skipped_by_sitemap';

/** Per-run counts of page outcomes and body bytes downloaded (bytes as received, after content decoding). */
export interface RunPageCounts {
  pagesWritten: number;
  pagesNotModified: number;
  pagesUnchanged: number;
  pagesSkippedBySitemap: number;
  bytesDownloaded: number;
}

export interface RunProgress {
  jobs: number;
  finished: number;
  failed: number;
}

/** Claims URLs for crawling within a run; see the header of `lua/claim-urls-2.lua`. */
const claimUrlsScript = defineScript<string[], [claims: string, pages: string]>(
  'sluiceRunClaimUrls',
  new URL('./lua/claim-urls-2.lua', import.meta.url),
);

export function newRunId(): string {
  return randomUUID();
}

/** Reads and writes the state of runs under one key prefix. */
export class RunTracker {
  readonly redis: Redis;
  readonly prefix: string;

  constructor(redis: Redis, prefix: string) {
    this.redis = redis;
    this.prefix = prefix;
  }

  key(runId: string, part: string): string {
    return `${this.prefix}:run:${runId}:${part}`;
  }

  /** Records run metadata (collection, sources) at the start of a run. */
  async start(runId: string, meta: Record<string, string>): Promise<void> {
    const k = this.key(runId, 'meta');
    await this.redis
      .multi()
      .hset(k, { ...meta, startedAt: new Date().toISOString() })
      .expire(k, RUN_TTL_SECONDS)
      .exec();
  }

  /** True while the run's state is in Redis (its metadata was recorded and has not expired or been lost). */
  async exists(runId: string): Promise<boolean> {
    return (await this.redis.exists(this.key(runId, 'meta'))) === 1;
  }

  /**
   * Keeps a run's record alive while someone waits for it, and says whether it
   * is still there: one `EXPIRE` of the record (`<prefix>:run:<id>:meta`),
   * which refreshes its TTL to {@link RUN_TTL_SECONDS} seconds, so a run
   * waited for longer than that is not taken for lost.
   * @returns false when the record is gone (flushed, restarted without persistence, evicted, expired).
   */
  async keepAlive(runId: string): Promise<boolean> {
    return (await this.redis.expire(this.key(runId, 'meta'), RUN_TTL_SECONDS)) === 1;
  }

  /**
   * The run a repeated identical request should resume, if one is unfinished.
   * `runKey` identifies the request (collection, sources, options).
   */
  async activeRunFor(runKey: string): Promise<string | undefined> {
    return (await this.redis.get(`${this.prefix}:runkey:${runKey}`)) ?? undefined;
  }

  async setActiveRun(runKey: string, runId: string): Promise<string> {
    const k = `${this.prefix}:runkey:${runKey}`;
    const ok = await this.redis.set(k, runId, 'EX', RUN_TTL_SECONDS, 'NX');
    return ok ? runId : ((await this.redis.get(k)) ?? runId);
  }

  async clearActiveRun(runKey: string, runId: string): Promise<void> {
    const k = `${this.prefix}:runkey:${runKey}`;
    if ((await this.redis.get(k)) === runId) await this.redis.del(k);
  }

  /** Records jobs of a run before they are enqueued (`queue/jobId` keys). */
  async addJobs(runId: string, jobKeys: string[]): Promise<void> {
    if (!jobKeys.length) return;
    const k = this.key(runId, 'jobs');
    await this.redis
      .multi()
      .sadd(k, ...jobKeys)
      .expire(k, RUN_TTL_SECONDS)
      .exec();
  }

  /** Marks a job finished; idempotent. */
  async finishJob(runId: string, jobKey: string): Promise<void> {
    const k = this.key(runId, 'done');
    await this.redis.multi().sadd(k, jobKey).expire(k, RUN_TTL_SECONDS).exec();
  }

  /** Marks a job finally failed with its reason; idempotent. */
  async failJob(runId: string, jobKey: string, failure: RunFailure): Promise<void> {
    const f = this.key(runId, 'failed');
    const d = this.key(runId, 'done');
    await this.redis
      .multi()
      .hset(
        f,
        jobKey,
        JSON.stringify({ ...failure, source: redactSecrets(failure.source), error: redactSecrets(failure.error) }),
      )
      .expire(f, RUN_TTL_SECONDS)
      .sadd(d, jobKey)
      .expire(d, RUN_TTL_SECONDS)
      .exec();
  }

  async progress(runId: string): Promise<RunProgress> {
    const [jobs, finished, failed] = await Promise.all([
      this.redis.scard(this.key(runId, 'jobs')),
      this.redis.scard(this.key(runId, 'done')),
      this.redis.hlen(this.key(runId, 'failed')),
    ]);
    return { jobs, finished, failed };
  }

  /** Job keys recorded but not finished yet. */
  async pendingJobs(runId: string): Promise<string[]> {
    return this.redis.sdiff(this.key(runId, 'jobs'), this.key(runId, 'done'));
  }

  async failures(runId: string): Promise<RunFailure[]> {
    const all = await this.redis.hvals(this.key(runId, 'failed'));
    return all.map((v) => JSON.parse(v) as RunFailure).sort((a, b) => a.source.localeCompare(b.source));
  }

  /**
   * Records a document's chunk and token counts for the run summary, and
   * (when given) what the run did with it and the body bytes it downloaded
   * for it; one MULTI, keyed by URI, so a redelivered job counts once.
   */
  async recordDocument(
    runId: string,
    uri: string,
    doc: RunDocument,
    page?: { outcome: PageOutcome; bytes: number },
  ): Promise<void> {
    const k = this.key(runId, 'docs');
    const m = this.redis.multi().hset(k, uri, `${doc.chunks},${doc.tokens}`).expire(k, RUN_TTL_SECONDS);
    if (page) {
      const p = this.key(runId, 'outcomes');
      m.hset(p, uri, `${page.outcome},${page.bytes}`).expire(p, RUN_TTL_SECONDS);
    }
    await m.exec();
  }

  /**
   * Records the pages a sitemap let the run skip (docs/design.md,
   * "Sitemaps"): their chunk and token counts, outcome `skipped_by_sitemap`
   * and 0 bytes, as {@link recordDocument} does for one page, in one MULTI.
   */
  async recordSkipped(runId: string, docs: Array<{ uri: string; chunks: number; tokens: number }>): Promise<void> {
    if (!docs.length) return;
    const k = this.key(runId, 'docs');
    const p = this.key(runId, 'outcomes');
    await this.redis
      .multi()
      .hset(k, ...docs.flatMap((d) => [d.uri, `${d.chunks},${d.tokens}`]))
      .expire(k, RUN_TTL_SECONDS)
      .hset(p, ...docs.flatMap((d) => [d.uri, 'skipped_by_sitemap,0']))
      .expire(p, RUN_TTL_SECONDS)
      .exec();
  }

  /**
   * Records the sitemap files a run read: their body bytes count in
   * `bytesDownloaded` (outcome `sitemap`, not a page), and their errors are
   * kept for the summary ({@link sitemapErrors}); keyed by URL, one MULTI.
   */
  async recordSitemaps(runId: string, files: Array<{ url: string; bytes: number; error?: string }>): Promise<void> {
    if (!files.length) return;
    const p = this.key(runId, 'outcomes');
    const m = this.redis
      .multi()
      .hset(p, ...files.flatMap((f) => [`sitemap ${f.url}`, `sitemap,${f.bytes}`]))
      .expire(p, RUN_TTL_SECONDS);
    const errors = files.filter((f) => f.error !== undefined);
    if (errors.length) {
      const e = this.key(runId, 'sitemaperrors');
      m.hset(e, ...errors.flatMap((f) => [f.url, f.error!])).expire(e, RUN_TTL_SECONDS);
    }
    await m.exec();
  }

  /** The sitemap errors of the run, by sitemap URL (see {@link recordSitemaps}). */
  async sitemapErrors(runId: string): Promise<Array<{ sitemap: string; error: string }>> {
    const all = await this.redis.hgetall(this.key(runId, 'sitemaperrors'));
    return Object.entries(all)
      .map(([sitemap, error]) => ({ sitemap, error }))
      .sort((a, b) => a.sitemap.localeCompare(b.sitemap));
  }

  /** Page outcome counts and bytes downloaded over the run (see {@link recordDocument}). */
  async pageCounts(runId: string): Promise<RunPageCounts> {
    const out: RunPageCounts = {
      pagesWritten: 0,
      pagesNotModified: 0,
      pagesUnchanged: 0,
      pagesSkippedBySitemap: 0,
      bytesDownloaded: 0,
    };
    for (const v of await this.redis.hvals(this.key(runId, 'outcomes'))) {
      const [outcome, bytes] = v.split(',');
      out.bytesDownloaded += Number(bytes) || 0;
      if (outcome === 'written') out.pagesWritten++;
      else if (outcome === 'not_modified') out.pagesNotModified++;
      else if (outcome === 'unchanged') out.pagesUnchanged++;
      else if (outcome === 'skipped_by_sitemap') out.pagesSkippedBySitemap++;
    }
    return out;
  }

  /** Records chunk hashes this run embedded (new rows only), with their tokens. */
  async recordEmbedded(runId: string, embedded: Array<{ chunkHash: string; tokens: number }>): Promise<void> {
    if (!embedded.length) return;
    const k = this.key(runId, 'embedded');
    const fields = embedded.flatMap((e) => [e.chunkHash, String(e.tokens)]);
    await this.redis
      .multi()
      .hset(k, ...fields)
      .expire(k, RUN_TTL_SECONDS)
      .exec();
  }

  /** Totals over the run's documents and embeddings. */
  async totals(
    runId: string,
  ): Promise<{ documents: number; chunks: number; tokens: number; chunksEmbedded: number; tokensEmbedded: number }> {
    const [docs, embedded] = await Promise.all([
      this.redis.hvals(this.key(runId, 'docs')),
      this.redis.hvals(this.key(runId, 'embedded')),
    ]);
    let chunks = 0;
    let tokens = 0;
    for (const v of docs) {
      const [c, t] = v.split(',');
      chunks += Number(c);
      tokens += Number(t);
    }
    const tokensEmbedded = embedded.reduce((sum, v) => sum + Number(v), 0);
    return { documents: docs.length, chunks, tokens, chunksEmbedded: embedded.length, tokensEmbedded };
  }

  /**
   * Claims URLs for crawling (see `lua/claim-urls-2.lua`).
   * @returns the URLs this owner must enqueue and how many the page limit refused.
   */
  async claimUrls(
    runId: string,
    owner: string,
    maxPages: number,
    urls: string[],
  ): Promise<{ claimed: string[]; refused: number }> {
    if (!urls.length) return { claimed: [], refused: 0 };
    const out = await claimUrlsScript.run(
      this.redis,
      [this.key(runId, 'claims'), this.key(runId, 'pages')],
      [owner, String(maxPages), String(RUN_TTL_SECONDS), ...urls],
    );
    const refused = Number(out.pop() ?? 0);
    if (refused)
      await this.redis
        .multi()
        .incrby(this.key(runId, 'refused'), refused)
        .expire(this.key(runId, 'refused'), RUN_TTL_SECONDS)
        .exec();
    return { claimed: out, refused };
  }

  async refusedPages(runId: string): Promise<number> {
    return Number((await this.redis.get(this.key(runId, 'refused'))) ?? 0);
  }

  /** Run metadata recorded by {@link start} (collection, sources, startedAt, …). */
  async meta(runId: string): Promise<Record<string, string>> {
    return this.redis.hgetall(this.key(runId, 'meta'));
  }

  /**
   * Records the scopes a run covers (URI prefixes: a start URL's directory,
   * a `file://` directory with a trailing slash, or a single file's URI);
   * idempotent. Deletion sync looks for unreached documents only there.
   */
  async recordScopes(runId: string, scopes: string[]): Promise<void> {
    if (!scopes.length) return;
    const k = this.key(runId, 'scopes');
    await this.redis
      .multi()
      .sadd(k, ...scopes)
      .expire(k, RUN_TTL_SECONDS)
      .exec();
  }

  async scopes(runId: string): Promise<string[]> {
    return (await this.redis.smembers(this.key(runId, 'scopes'))).sort();
  }

  /**
   * Records in-scope links a page at the depth limit did not follow. Whether
   * the run was truncated is known only at its end: another page may have
   * reached them at a smaller depth ({@link depthTruncated}).
   */
  async recordDepthCut(runId: string, urls: string[]): Promise<void> {
    if (!urls.length) return;
    const k = this.key(runId, 'depthcut');
    await this.redis
      .multi()
      .sadd(k, ...urls)
      .expire(k, RUN_TTL_SECONDS)
      .exec();
  }

  /** Links the depth limit cut that no page of the run reached (claimed) either: 0 when the run was not truncated by depth. */
  async depthTruncated(runId: string): Promise<number> {
    const cut = await this.redis.smembers(this.key(runId, 'depthcut'));
    let missed = 0;
    for (let i = 0; i < cut.length; i += 1000) {
      const slice = cut.slice(i, i + 1000);
      const owners = await this.redis.hmget(this.key(runId, 'claims'), ...slice);
      missed += owners.filter((o) => o === null).length;
    }
    return missed;
  }
}
