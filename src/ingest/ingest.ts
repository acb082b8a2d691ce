/**
 * The producer API: enqueue a run of crawl jobs, wait for every job of the
 * run (including the embed jobs and links it fans out to), and summarise.
 * An identical unfinished request resumes its run instead of starting over,
 * so an ingest killed midway and run again picks up where it stopped.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { CollectionNameSchema, type CrawlPayload, PAYLOAD_CAPS } from '../queue/contracts.ts';
import { crawlJobId, parseJobKey } from '../queue/job-ids.ts';
import { isConnectionError, RunStateLostError } from '../errors/index.ts';
import type { RunFailure, RunProgress } from '../runs/tracker.ts';
import { newRunId } from '../runs/tracker.ts';
import type { RunDeps } from '../runtime/job-context.ts';
import { analyzeChangedTables } from '../db/analyze.ts';
import { markCollectionUsed } from '../store/documents.ts';
import { type DeletionOutcome, syncDeletions } from './deletion-sync.ts';
import { resolveSource, type SourceInput } from './sources.ts';

/** The producer-side caps of a request (docs/design.md, "Caps where work enters"); workers check the payloads again. */
const RequestCapsSchema = z.object({
  sources: z.array(z.unknown()).min(1, 'name at least one source').max(PAYLOAD_CAPS.sources),
  maxPages: z.number().int().min(1).max(PAYLOAD_CAPS.maxPages).optional(),
  maxDepth: z.number().int().min(0).max(PAYLOAD_CAPS.maxDepth).optional(),
});

export interface IngestRequest {
  /** Collection name: letters, digits, "_", "." and "-". Default `default`. */
  collection?: string;
  /**
   * http(s) and file:// URLs, inline JSON strings, inline document objects,
   * or `{ path }` for a local file or directory under SOURCE_ROOTS. A bare
   * string is never read as a path (docs/design.md, "Source roots"). At most
   * 10,000 (`PAYLOAD_CAPS.sources`).
   */
  sources: SourceInput[];
  /** Pages (or files) per run, over all sources. Default CRAWL_MAX_PAGES. */
  maxPages?: number;
  /** Link depth from each start URL. Default CRAWL_MAX_DEPTH. */
  maxDepth?: number;
  /**
   * Deletion sync: after the run, remove from the collection the documents
   * of each source's scope that the run did not reach (404/410, no longer
   * linked or listed) — unless the run looks like an outage (see
   * {@link DeletionHeld}). Default false for `ingest`; schedules always sync
   * deletions. Inline documents have no scope and are never removed by it.
   */
  deleteMissing?: boolean;
  /**
   * Let deletion sync remove more than REINDEX_MAX_DELETE_FRACTION of a
   * scope. Lifts only that guard: a run with transient failures in its
   * scope, or truncated by the page or depth limit, still deletes nothing.
   * Default false.
   */
  allowMassDelete?: boolean;
  /**
   * The run's id, for a producer that must find its run again: a schedule
   * tick derives it from the tick (src/queue/job-ids.ts `tickRunId`), so a
   * redelivered tick resumes its own run. Given, the run is resumed when its
   * state exists and started otherwise, whatever an identical request runs.
   * Default: the run of an identical unfinished request, else a new id.
   */
  runId?: string;
}

/**
 * Why deletion sync deleted nothing although documents of the scope were not
 * reached, checked in this order: `transient_failures` (pages of the scope
 * failed for a reason a retry might fix: the source may be down),
 * `truncated` (the page or depth limit cut the run), `mass_delete` (more
 * than REINDEX_MAX_DELETE_FRACTION of the scope; only this one is lifted by
 * `allowMassDelete` / `--allow-mass-delete`).
 */
export interface DeletionHeld {
  reason: 'transient_failures' | 'truncated' | 'mass_delete';
  /** Documents of the run's scopes that the run did not reach (what would have been deleted). */
  candidates: number;
  /** Documents of the run's scopes before the run. */
  scopeDocuments: number;
  /** A sentence naming the cause and how to allow the deletion (e.g. `--allow-mass-delete`). */
  message: string;
}

export interface EnqueuedRun {
  runId: string;
  collection: string;
  /** True when an unfinished identical run was resumed. */
  resumed: boolean;
  jobIds: string[];
  runKey: string;
}

/** The summary `sluice ingest --json` prints. Token counts are cl100k_base tokens. */
export interface IngestSummary {
  runId: string;
  collection: string;
  documents: number;
  chunks: number;
  chunksEmbedded: number;
  chunksDeduplicated: number;
  tokensEmbedded: number;
  tokensDeduplicated: number;
  /** Pages not crawled because of the page limit. */
  pagesSkipped: number;
  /** Pages the server answered 304 Not Modified (docs/design.md, "Cheap unchanged pages"). */
  pagesNotModified: number;
  /** Pages fetched whole whose content hash and chunker version were unchanged: not re-processed. */
  pagesUnchanged: number;
  /** Pages not fetched because their sitemap `<lastmod>` is not newer than their last fetch (still seen by the run). */
  pagesSkippedBySitemap: number;
  /** Body bytes downloaded by the run's crawl (pages and sitemaps, after content decoding), bytes. */
  bytesDownloaded: number;
  /** Sitemaps that could not be read or used, whole or in part (docs/design.md, "Sitemaps"); the run went on without them. */
  sitemapErrors: Array<{ sitemap: string; error: string }>;
  /** Failed jobs: the source, the error's message and (when recorded) its class name, e.g. `SsrfRefusedError`. */
  failed: Array<{ source: string; error: string; errorName?: string }>;
  durationSeconds: number;
  /** `openai` or `emulator (<url>)`: where embeddings were computed. */
  embeddingsFrom: string;
  resumed: boolean;
  /** Documents removed by deletion sync (0 when it was not asked for or was held). */
  documentsDeleted: number;
  /** Set when deletion sync found documents to remove but held them; null otherwise. */
  deletionHeld: DeletionHeld | null;
}

function runKeyOf(rt: RunDeps, collection: string, sources: string[], maxPages: number, maxDepth: number): string {
  const { model, dimensions } = rt.config.embedding;
  return createHash('sha256')
    .update(JSON.stringify({ collection, sources: [...sources].sort(), maxPages, maxDepth, model, dimensions }))
    .digest('hex')
    .slice(0, 32);
}

/**
 * Enqueues the crawl jobs of a run (or resumes an identical unfinished one).
 * Bad sources are enqueued too, as jobs that fail with the reason.
 * @throws ZodError for an invalid collection name, no sources, more than 10,000, or limits over their caps.
 */
export async function enqueueIngest(rt: RunDeps, request: IngestRequest): Promise<EnqueuedRun> {
  const collection = CollectionNameSchema.parse(request.collection ?? 'default');
  RequestCapsSchema.parse({ sources: request.sources, maxPages: request.maxPages, maxDepth: request.maxDepth });
  const maxPages = request.maxPages ?? rt.config.crawl.maxPages;
  const maxDepth = request.maxDepth ?? rt.config.crawl.maxDepth;
  const resolveOptions = { roots: rt.config.sources.roots, maxInlineBytes: rt.config.crawl.maxBytes };
  const resolved = request.sources.map((s) => resolveSource(s, resolveOptions));
  const runKey = runKeyOf(
    rt,
    collection,
    resolved.map((r) => r.key),
    maxPages,
    maxDepth,
  );

  let runId: string;
  let resumed: boolean;
  if (request.runId !== undefined) {
    runId = request.runId;
    resumed = await rt.tracker.exists(runId);
  } else {
    const previous = await rt.tracker.activeRunFor(runKey);
    runId = await rt.tracker.setActiveRun(runKey, previous ?? newRunId());
    resumed = previous !== undefined;
  }
  if (!resumed) {
    // The start by the database's clock, which also stamps last_seen_at and
    // created_at (deletion sync compares them); the collection is marked used
    // here, once a run, not by every page.
    const { now } = await markCollectionUsed(rt.db.pool, collection);
    await rt.tracker.start(runId, {
      collection,
      sources: JSON.stringify(resolved.map((r) => r.key)),
      runKey,
      dbStartedAt: now,
    });
  }
  await rt.tracker.recordScopes(
    runId,
    resolved.flatMap((r) => (r.scope ? [r.scope] : [])),
  );

  // Start pages count against the page limit and are claimed by the run, so links back to them are not crawled twice.
  const { claimed } = await rt.tracker.claimUrls(
    runId,
    'root',
    maxPages,
    resolved.map((r) => r.key),
  );
  const wanted = new Set(claimed);
  const jobs = resolved
    .filter((r) => wanted.has(r.key))
    .map((r) => ({
      jobId: crawlJobId(runId, r.key),
      payload: {
        runId,
        collection,
        source: r.source,
        limits: { maxPages, maxDepth },
      } satisfies CrawlPayload,
    }));
  const jobIds = await rt.producer.add('crawl', jobs, runId);
  rt.logger.info(
    { runId, collection, jobs: jobIds.length, resumed },
    resumed ? 'resuming unfinished run' : 'run enqueued',
  );
  return { runId, collection, resumed, jobIds, runKey };
}

export interface WaitOptions {
  onProgress?: (progress: RunProgress) => void;
  /** Stops waiting (the run continues in Redis). */
  signal?: AbortSignal;
  /**
   * Poll interval, ms. Default 250. While at most {@link FINISHING_JOBS} jobs
   * are left it polls every {@link FINISHING_POLL_MS} ms (or `pollMs`, if
   * shorter), so a run is not reported up to a whole interval after it ended.
   */
  pollMs?: number;
  /** How long without progress before pending jobs are inspected, ms. Default 20 s. */
  stallCheckMs?: number;
}

/**
 * How long a job recorded in a run may be missing from its queue before it
 * counts as vanished, ms. A job is recorded before it is added; if its
 * parent dies in between, the parent is recovered as stalled (lock 30 s,
 * check every 15 s) and adds it then — so only a much longer absence is real.
 */
const VANISHED_AFTER_MS = 120_000;

/**
 * Inspects pending jobs that made no progress for a while: a job BullMQ
 * failed behind the processor's back (stalled too often) or that stayed
 * missing from Redis is recorded as a failure, so a run always ends.
 * `missingSince` remembers when each job was first seen missing.
 */
async function reconcilePending(rt: RunDeps, runId: string, missingSince: Map<string, number>): Promise<void> {
  const pending = await rt.tracker.pendingJobs(runId);
  for (const key of pending.slice(0, 1000)) {
    const { queue, jobId } = parseJobKey(key);
    const q = rt.producer.queues[queue];
    if (!q) continue;
    const state = await q.getJobState(jobId);
    if (state === 'failed') {
      const job = await q.getJob(jobId);
      await rt.tracker.failJob(runId, key, {
        source: `${queue} job ${jobId}`,
        error: job?.failedReason ?? 'failed',
        queue,
        jobId,
        // Failed behind the processor's back: nothing says the source is gone, so it counts against deletion sync.
        transient: true,
      });
    } else if (state !== 'unknown') {
      missingSince.delete(key);
    } else {
      const since = missingSince.get(key) ?? Date.now();
      missingSince.set(key, since);
      if (Date.now() - since >= VANISHED_AFTER_MS) {
        await rt.tracker.failJob(runId, key, {
          source: `${queue} job ${jobId}`,
          error: 'the job vanished from Redis before it finished (was Redis flushed or restarted without persistence?)',
          queue,
          jobId,
          // Failed behind the processor's back: nothing says the source is gone, so it counts against deletion sync.
          transient: true,
        });
      }
    }
  }
}

/** How often a waiter checks that its run's record is still in Redis (and keeps it alive), ms. */
const STATE_CHECK_MS = 1000;

/**
 * What of a run's state is gone, in words, or nothing: its record (seen by
 * this waiter before, and now `keepAlive` says it is missing), or job records
 * that shrank since the waiter last saw them (the run's sets only grow, so
 * fewer members means they were lost and partly written again by jobs still
 * running).
 */
function lostParts(record: { seen: boolean; present: boolean }, seen: RunProgress, now: RunProgress): string[] {
  const lost: string[] = [];
  if (record.seen && !record.present) lost.push('its record');
  if (now.jobs < seen.jobs) lost.push(`its job list (${now.jobs} of ${seen.jobs} left)`);
  if (now.finished < seen.finished) lost.push(`its finished jobs (${now.finished} of ${seen.finished} left)`);
  return lost;
}

/**
 * Jobs left at which {@link waitForRun} polls faster: about one batch of a
 * worker's concurrency, so the end of a run is seen within
 * {@link FINISHING_POLL_MS} instead of up to a whole poll interval late (a
 * mean of 125 ms at 250 ms: 3 % of a 4 s re-crawl). A long tail of a few
 * slow jobs costs one cheap read per 25 ms meanwhile.
 */
const FINISHING_JOBS = 16;
/** Poll interval while a run is finishing, ms. */
const FINISHING_POLL_MS = 25;

/**
 * Waits until every job of the run has finished or finally failed
 * (docs/design.md, "Runs that lose their state"). Polls every `pollMs` ms;
 * jobs missing from their queue for 2 minutes while the run's state remains
 * are recorded as failed. While Redis does not answer it keeps waiting, as
 * the workers do; once Redis answers without the run's record (after this
 * waiter saw it: `enqueueIngest` and `enqueueSync` write it before they
 * return), or with fewer job records than before, the run is lost.
 * @throws RunStateLostError naming the run and what of its state is gone.
 * @throws the signal's reason when `options.signal` aborts.
 */
export async function waitForRun(rt: RunDeps, runId: string, options: WaitOptions = {}): Promise<RunProgress> {
  const pollMs = options.pollMs ?? 250;
  let delayMs = pollMs;
  const stallCheckMs = options.stallCheckMs ?? 20_000;
  let last = -1;
  let lastChange = Date.now();
  let lastStateCheck = 0;
  /** Whether this waiter saw the run's record: a run whose jobs were added without one (by hand) has only its job lists checked. */
  let recordSeen = false;
  /** The most of each count this waiter has seen: the run's sets only grow. */
  const seen: RunProgress = { jobs: 0, finished: 0, failed: 0 };
  let unreachableSince: number | undefined;
  const missingSince = new Map<string, number>();
  for (;;) {
    if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
    try {
      const progress = await rt.tracker.progress(runId);
      const done = progress.jobs > 0 && progress.finished >= progress.jobs;
      const shrank = progress.jobs < seen.jobs || progress.finished < seen.finished;
      // Checked after reading the progress: a record still there means the progress was read before any loss.
      if (done || shrank || Date.now() - lastStateCheck >= STATE_CHECK_MS) {
        const recordPresent = await rt.tracker.keepAlive(runId);
        lastStateCheck = Date.now();
        const lost = lostParts({ seen: recordSeen, present: recordPresent }, seen, progress);
        if (lost.length)
          throw new RunStateLostError(runId, lost, rt.tracker.key(runId, '*'), seen.jobs > 0 ? seen : undefined);
        recordSeen ||= recordPresent;
      }
      if (unreachableSince !== undefined) {
        rt.logger.info(
          { runId, downMs: Date.now() - unreachableSince },
          'Redis answers again: still waiting for the run',
        );
        unreachableSince = undefined;
      }
      seen.jobs = Math.max(seen.jobs, progress.jobs);
      seen.finished = Math.max(seen.finished, progress.finished);
      seen.failed = Math.max(seen.failed, progress.failed);
      options.onProgress?.(progress);
      if (done) return progress;
      delayMs = progress.jobs - progress.finished <= FINISHING_JOBS ? Math.min(pollMs, FINISHING_POLL_MS) : pollMs;
      if (progress.finished !== last) {
        last = progress.finished;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > stallCheckMs) {
        await reconcilePending(rt, runId, missingSince);
        lastChange = Date.now();
      }
    } catch (err) {
      // An unreachable Redis is not a lost run: wait for it, unless the connection gave up for good (a producer's).
      if (!isConnectionError(err) || rt.tracker.redis.status === 'end') throw err;
      if (unreachableSince === undefined) {
        unreachableSince = Date.now();
        rt.logger.warn(
          { runId, err: (err as Error).message },
          'Redis does not answer: waiting for it (the run goes on once it answers)',
        );
      }
      // Time spent unreachable is no stall: pending jobs are inspected only after progress is seen again.
      lastChange = Date.now();
    }
    await new Promise((r) => setTimeout(r, delayMs));
  }
}

/**
 * Builds the summary of a finished run. `deletion` is what {@link syncDeletions}
 * returned, when the run synced deletions; without it nothing was deleted.
 */
export async function summarizeRun(
  rt: RunDeps,
  run: EnqueuedRun,
  startedAt: number,
  deletion: DeletionOutcome = { documentsDeleted: 0, deletionHeld: null },
): Promise<IngestSummary> {
  const totals = await rt.tracker.totals(run.runId);
  const pages = await rt.tracker.pageCounts(run.runId);
  const failures: RunFailure[] = await rt.tracker.failures(run.runId);
  return {
    runId: run.runId,
    collection: run.collection,
    documents: totals.documents,
    chunks: totals.chunks,
    chunksEmbedded: totals.chunksEmbedded,
    chunksDeduplicated: Math.max(0, totals.chunks - totals.chunksEmbedded),
    tokensEmbedded: totals.tokensEmbedded,
    tokensDeduplicated: Math.max(0, totals.tokens - totals.tokensEmbedded),
    pagesSkipped: await rt.tracker.refusedPages(run.runId),
    pagesNotModified: pages.pagesNotModified,
    pagesUnchanged: pages.pagesUnchanged,
    pagesSkippedBySitemap: pages.pagesSkippedBySitemap,
    bytesDownloaded: pages.bytesDownloaded,
    sitemapErrors: await rt.tracker.sitemapErrors(run.runId),
    failed: failures.map((f) => ({
      source: f.source,
      error: f.error,
      ...(f.errorName ? { errorName: f.errorName } : {}),
    })),
    durationSeconds: Math.round((Date.now() - startedAt) / 10) / 100,
    embeddingsFrom: rt.openaiTarget,
    resumed: run.resumed,
    documentsDeleted: deletion.documentsDeleted,
    deletionHeld: deletion.deletionHeld,
  };
}

/**
 * Brings planner statistics up to date after a run that loaded many rows
 * (src/db/analyze.ts), so the next re-crawl's per-page lookups use the
 * indexes. Best effort: a failure is logged, the run's outcome stands.
 */
async function refreshStatistics(rt: RunDeps): Promise<void> {
  try {
    const analyzed = await analyzeChangedTables(rt.db.pool);
    if (analyzed.length) rt.logger.info({ analyzed }, 'analyzed tables the run changed');
  } catch (err) {
    rt.logger.warn({ err: { message: (err as Error).message } }, 'could not analyze the tables the run changed');
  }
}

/**
 * Enqueues a run and waits for it (workers must be running somewhere:
 * `sluice ingest` runs them in-process), then syncs deletions when
 * `deleteMissing` asks for it. The run stays the active run of its request
 * until deletion sync has finished, so an ingest killed during it and run
 * again resumes the same run and converges.
 */
export async function ingest(rt: RunDeps, request: IngestRequest, options: WaitOptions = {}): Promise<IngestSummary> {
  const startedAt = Date.now();
  const run = await enqueueIngest(rt, request);
  await waitForRun(rt, run.runId, options);
  await refreshStatistics(rt);
  const deletion = request.deleteMissing
    ? await syncDeletions(rt, run, { allowMassDelete: request.allowMassDelete ?? false })
    : undefined;
  await rt.tracker.clearActiveRun(run.runKey, run.runId);
  return summarizeRun(rt, run, startedAt, deletion);
}
