/**
 * Prometheus metrics of one Sluice process.
 *
 * Every process (producer, worker, CLI) has one {@link registry}; the metrics
 * server exposes it on `/metrics`. Naming follows Prometheus conventions:
 * `sluice_` prefix, base units (seconds, bytes, USD), `_total` on counters.
 * Label values come from small closed sets (outcomes, states, queue names,
 * model names): never ids, URLs or hashes, which would explode cardinality.
 *
 * Counters whose labels are a closed set are created with every series at 0,
 * so that `rate()` and `increase()` see the first increment (a series that
 * appears at 1 has no earlier sample to differ from) and dashboards show 0
 * instead of "no data". Series keyed by queue or model can be pre-created with
 * {@link initLabels} once the process knows its queues and model.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The one registry of this process: every Sluice metric and Node's default metrics. */
export const registry = new Registry();

// Node's process metrics (CPU, RSS, heap, event-loop lag, GC) next to Sluice's:
// a slow embed worker is as often a blocked event loop as a slow API.
collectDefaultMetrics({ register: registry });

// ---------------------------------------------------------------------------
// Label value sets. Exported so that callers get a compile-time check and the
// pre-initialisation below and the tests use the same lists.
// ---------------------------------------------------------------------------

/** How a job attempt ended (`sluice_jobs_total`, `sluice_job_duration_seconds`). */
export const JOB_OUTCOMES = ['completed', 'failed', 'retried', 'rate_limited'] as const;
export type JobOutcome = (typeof JOB_OUTCOMES)[number];

/** BullMQ states exported by `sluice_queue_jobs`. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'paused', 'failed', 'completed'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

export const DOCUMENT_OUTCOMES = ['written', 'unchanged', 'failed'] as const;
export type DocumentOutcome = (typeof DOCUMENT_OUTCOMES)[number];

/**
 * What a crawl did with one page or file (`sluice_pages_total`; docs/design.md,
 * "Cheap unchanged pages"): `written` (new or changed content, or re-chunked
 * for a new chunker version), `unchanged` (fetched whole, same content hash and
 * chunker version: not re-processed), `not_modified` (the server answered 304),
 * `skipped_by_sitemap` (its sitemap `<lastmod>` is not newer than its last
 * fetch: not fetched).
 */
export const PAGE_OUTCOMES = ['written', 'unchanged', 'not_modified', 'skipped_by_sitemap'] as const;
export type PageOutcome = (typeof PAGE_OUTCOMES)[number];

export const CHUNK_OUTCOMES = ['new', 'deduplicated'] as const;
export type ChunkOutcome = (typeof CHUNK_OUTCOMES)[number];

export const TOKEN_OUTCOMES = ['embedded', 'deduplicated'] as const;
export type TokenOutcome = (typeof TOKEN_OUTCOMES)[number];

export const RATE_LIMIT_TYPES = ['tokens', 'requests', 'insufficient_quota'] as const;
export type RateLimitType = (typeof RATE_LIMIT_TYPES)[number];

export const COST_KINDS = ['embedding'] as const;
export type CostKind = (typeof COST_KINDS)[number];

export const SAVED_KINDS = ['embedding_dedup'] as const;
export type SavedKind = (typeof SAVED_KINDS)[number];

export const FILE_OUTCOMES = ['uploaded', 'reused', 'reuploaded'] as const;
export type FileOutcome = (typeof FILE_OUTCOMES)[number];

export const FILE_BYTES_OUTCOMES = ['uploaded', 'reused'] as const;
export type FileBytesOutcome = (typeof FILE_BYTES_OUTCOMES)[number];

export const VECTOR_STORE_OUTCOMES = ['created', 'reused', 'recreated'] as const;
export type VectorStoreOutcome = (typeof VECTOR_STORE_OUTCOMES)[number];

export const FILE_BATCH_STATUSES = ['completed', 'failed', 'cancelled'] as const;
export type FileBatchStatus = (typeof FILE_BATCH_STATUSES)[number];

export const CLEANUP_RESOURCES = ['vector_store', 'file', 'document', 'chunk', 'embedding'] as const;
export type CleanupResource = (typeof CLEANUP_RESOURCES)[number];

/** Resources whose deletion at OpenAI can fail and be retried by the next cleanup run. */
export const CLEANUP_REMOTE_RESOURCES = ['vector_store', 'file'] as const;
export type CleanupRemoteResource = (typeof CLEANUP_REMOTE_RESOURCES)[number];

/**
 * Why documents were removed (`sluice_documents_deleted_total`): `deletion_sync`
 * (not reached by a run over their scope), `ttl` (not used for TTL_DAYS,
 * removed by TTL cleanup).
 */
export const DOCUMENT_REMOVAL_REASONS = ['deletion_sync', 'ttl'] as const;
export type DocumentRemovalReason = (typeof DOCUMENT_REMOVAL_REASONS)[number];

/** Why deletion sync held its deletions (`sluice_deletions_held_total`; `DeletionHeld.reason`). */
export const DELETION_HELD_REASONS = ['transient_failures', 'truncated', 'mass_delete'] as const;
export type DeletionHeldReason = (typeof DELETION_HELD_REASONS)[number];

/** How a schedule tick ended (`sluice_schedule_ticks_total`). */
export const SCHEDULE_TICK_OUTCOMES = ['started', 'skipped', 'failed'] as const;
export type ScheduleTickOutcome = (typeof SCHEDULE_TICK_OUTCOMES)[number];

// ---------------------------------------------------------------------------
// Jobs and queues
// ---------------------------------------------------------------------------

/**
 * Job attempts that ended, by queue and outcome.
 *
 * Labels: `queue` (BullMQ queue name: crawl, embed, upload, associate,
 * cleanup); `outcome`: `completed` (succeeded), `failed` (failed for good: no
 * attempt left or unrecoverable), `retried` (failed, another attempt is
 * scheduled), `rate_limited` (gave back because the shared OpenAI budget or a
 * 429 said wait; not an error).
 */
export const jobsTotal = new Counter({
  name: 'sluice_jobs_total',
  help: 'Job attempts that ended, by queue and outcome (completed|failed|retried|rate_limited).',
  labelNames: ['queue', 'outcome'] as const,
  registers: [registry],
});

/**
 * Wall time of one job attempt in seconds, by queue and outcome (the same
 * labels as {@link jobsTotal}). Buckets span 5 ms (a cache hit) to 10 min (a
 * large crawl or a file batch that polls OpenAI).
 */
export const jobDurationSeconds = new Histogram({
  name: 'sluice_job_duration_seconds',
  help: 'Wall time of one job attempt, seconds, by queue and outcome.',
  labelNames: ['queue', 'outcome'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600],
  registers: [registry],
});

// The backlog series (sluice_queue_jobs, sluice_queue_backlog_errors_total)
// are read from Redis at scrape time: they live with their collector in
// ./backlog.ts.

// ---------------------------------------------------------------------------
// Documents and chunks
// ---------------------------------------------------------------------------

/**
 * Documents processed, by `outcome`: `written` (new or changed content stored),
 * `unchanged` (same content hash as stored: nothing re-chunked or re-embedded),
 * `failed`.
 */
export const documentsTotal = new Counter({
  name: 'sluice_documents_total',
  help: 'Documents processed, by outcome (written|unchanged|failed).',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

/** Pages and files a crawl reached, by `outcome` ({@link PAGE_OUTCOMES}); a failed one is in `sluice_documents_total`. */
export const pagesTotal = new Counter({
  name: 'sluice_pages_total',
  help: 'Pages reached by crawls, by outcome (written|unchanged|not_modified|skipped_by_sitemap).',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

/** Body bytes crawls downloaded (pages and sitemaps, after content decoding), bytes. */
export const crawlBytesTotal = new Counter({
  name: 'sluice_crawl_bytes_total',
  help: 'Body bytes downloaded by crawls (pages and sitemaps, after content decoding).',
  registers: [registry],
});

/**
 * Chunks produced by chunking, by `outcome`: `new` (content hash not seen:
 * needs an embedding) or `deduplicated` (hash already embedded: reused).
 * Dedup ratio = deduplicated / (new + deduplicated).
 */
export const chunksTotal = new Counter({
  name: 'sluice_chunks_total',
  help: 'Chunks produced, by outcome (new|deduplicated by content hash).',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

// ---------------------------------------------------------------------------
// Embeddings
// ---------------------------------------------------------------------------

/**
 * Embedding API requests, by `model` and `status`: the HTTP status code as a
 * string (`200`, `429`, `500`, ...) or `error` when no response came
 * (connection refused, reset, timeout).
 */
export const embeddingRequestsTotal = new Counter({
  name: 'sluice_embedding_requests_total',
  help: 'Embedding API requests, by model and status (HTTP status code, or "error" for connection failures).',
  labelNames: ['model', 'status'] as const,
  registers: [registry],
});

/**
 * Input tokens, by `model` and `outcome`: `embedded` (sent to the API and
 * billed) or `deduplicated` (an identical chunk was already embedded, so the
 * tokens were never sent).
 */
export const embeddingTokensTotal = new Counter({
  name: 'sluice_embedding_tokens_total',
  help: 'Input tokens, by model and outcome (embedded = sent and billed, deduplicated = not sent).',
  labelNames: ['model', 'outcome'] as const,
  registers: [registry],
});

/**
 * 429 answers from the embedding API, by `model` and `type`: `tokens` (TPM),
 * `requests` (RPM), `insufficient_quota` (billing: waiting does not help).
 */
export const embeddingRateLimitedTotal = new Counter({
  name: 'sluice_embedding_rate_limited_total',
  help: 'Embedding API 429 answers, by model and type (tokens|requests|insufficient_quota).',
  labelNames: ['model', 'type'] as const,
  registers: [registry],
});

/**
 * Seconds one embedding request waited for the shared RPM/TPM budget before
 * being sent, by `model` (0 when the budget had room). Buckets reach 2 min:
 * the budget refills per minute, so longer waits mean a backlog of requests.
 */
export const embeddingBudgetWaitSeconds = new Histogram({
  name: 'sluice_embedding_budget_wait_seconds',
  help: 'Seconds an embedding request waited for the shared RPM/TPM budget, by model.',
  labelNames: ['model'] as const,
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120],
  registers: [registry],
});

/** Inputs (chunks) per embedding request, by `model`; the API allows up to 2048. */
export const embeddingBatchInputs = new Histogram({
  name: 'sluice_embedding_batch_inputs',
  help: 'Inputs per embedding request, by model (API limit 2048).',
  labelNames: ['model'] as const,
  buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048],
  registers: [registry],
});

/** Tokens per embedding request (summed over inputs), by `model`; the API allows up to 300,000. */
export const embeddingBatchTokens = new Histogram({
  name: 'sluice_embedding_batch_tokens',
  help: 'Tokens per embedding request summed over its inputs, by model (API limit 300000).',
  labelNames: ['model'] as const,
  buckets: [100, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000, 200_000, 300_000],
  registers: [registry],
});

// ---------------------------------------------------------------------------
// Money
// ---------------------------------------------------------------------------

/** US dollars spent, by `kind`: `embedding` (billed input tokens × price). */
export const costUsdTotal = new Counter({
  name: 'sluice_cost_usd_total',
  help: 'US dollars spent, by kind (embedding).',
  labelNames: ['kind'] as const,
  registers: [registry],
});

/**
 * US dollars not spent thanks to dedup, by `kind`: `embedding_dedup` (tokens
 * of deduplicated chunks × price). Reused files and stores are counted in
 * {@link filesTotal}, {@link fileBytesTotal} and {@link vectorStoresTotal}
 * instead: OpenAI bills neither uploads nor store creation by themselves
 * (docs/openai-facts.md, "Vector stores": storage is billed per GB-day), so
 * their reuse has no honest dollar figure per event.
 */
export const savedUsdTotal = new Counter({
  name: 'sluice_saved_usd_total',
  help: 'US dollars not spent thanks to dedup, by kind (embedding_dedup).',
  labelNames: ['kind'] as const,
  registers: [registry],
});

// ---------------------------------------------------------------------------
// OpenAI files and vector stores
// ---------------------------------------------------------------------------

/**
 * Files for OpenAI vector stores, by `outcome`: `uploaded` (new content),
 * `reused` (same content hash already uploaded), `reuploaded` (the known
 * file had expired or was deleted remotely, so it was uploaded again).
 */
export const filesTotal = new Counter({
  name: 'sluice_files_total',
  help: 'Files for OpenAI vector stores, by outcome (uploaded|reused|reuploaded).',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

/** Bytes of those files, by `outcome`: `uploaded` (sent) or `reused` (not sent). */
export const fileBytesTotal = new Counter({
  name: 'sluice_file_bytes_total',
  help: 'Bytes of files for OpenAI vector stores, by outcome (uploaded|reused).',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

/**
 * OpenAI vector stores, by `outcome`: `created`, `reused` (same content set
 * already indexed), `recreated` (the known store had expired or vanished).
 */
export const vectorStoresTotal = new Counter({
  name: 'sluice_vector_stores_total',
  help: 'OpenAI vector stores, by outcome (created|reused|recreated).',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

/** Files in finished vector-store file batches, by final `status` (completed|failed|cancelled). */
export const fileBatchFilesTotal = new Counter({
  name: 'sluice_file_batch_files_total',
  help: 'Files in finished vector store file batches, by status (completed|failed|cancelled).',
  labelNames: ['status'] as const,
  registers: [registry],
});

// ---------------------------------------------------------------------------
// Cleanup
// ---------------------------------------------------------------------------

/** Resources deleted by the TTL cleanup, by `resource` (vector_store|file|document|chunk|embedding). */
export const cleanupDeletedTotal = new Counter({
  name: 'sluice_cleanup_deleted_total',
  help: 'Resources deleted by cleanup, by resource (vector_store|file|document|chunk|embedding).',
  labelNames: ['resource'] as const,
  registers: [registry],
});

/**
 * Deletions at OpenAI that failed, by `resource` (vector_store|file): the row
 * stays `deleting` with its error and the next cleanup run tries again.
 */
export const cleanupFailedTotal = new Counter({
  name: 'sluice_cleanup_failed_total',
  help: 'Cleanup deletions at OpenAI that failed (retried by the next run), by resource (vector_store|file).',
  labelNames: ['resource'] as const,
  registers: [registry],
});

/**
 * Bytes freed by cleanup, by `resource`: `file` (File bytes at OpenAI, and the
 * same bytes kept in file_blobs), `embedding` (vector bytes in pgvector, 4 per
 * dimension).
 */
export const cleanupFreedBytesTotal = new Counter({
  name: 'sluice_cleanup_freed_bytes_total',
  help: 'Bytes freed by cleanup, by resource (file|embedding).',
  labelNames: ['resource'] as const,
  registers: [registry],
});

/** Duration of one cleanup run (real or dry), seconds. */
export const cleanupDurationSeconds = new Histogram({
  name: 'sluice_cleanup_duration_seconds',
  help: 'Duration of one cleanup run, seconds.',
  buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 1800],
  registers: [registry],
});

// ---------------------------------------------------------------------------
// Deletion sync (docs/design.md, "Deletion sync")
// ---------------------------------------------------------------------------

/**
 * Documents removed from collections (chunks with them; embeddings stay), by
 * `reason` (deletion_sync|ttl). Counted by the one removal path, src/store/remove.ts.
 */
export const documentsDeletedTotal = new Counter({
  name: 'sluice_documents_deleted_total',
  help: 'Documents removed from collections, by reason (deletion_sync|ttl).',
  labelNames: ['reason'] as const,
  registers: [registry],
});

/**
 * Deletion syncs that found documents to remove and removed none, by `reason`:
 * `transient_failures` (the scope had failures a retry might fix), `truncated`
 * (page or depth limit), `mass_delete` (more than REINDEX_MAX_DELETE_FRACTION
 * of the scope, not allowed).
 */
export const deletionsHeldTotal = new Counter({
  name: 'sluice_deletions_held_total',
  help: 'Deletion syncs held, by reason (transient_failures|truncated|mass_delete).',
  labelNames: ['reason'] as const,
  registers: [registry],
});

// ---------------------------------------------------------------------------
// Schedules (docs/design.md, "Schedules")
// ---------------------------------------------------------------------------

/**
 * Schedule ticks, by `outcome`: `started` (the tick started its run),
 * `skipped` (the schedule's previous run was still going), `failed` (the
 * tick's run could not be started or waited for, after its last attempt).
 */
export const scheduleTicksTotal = new Counter({
  name: 'sluice_schedule_ticks_total',
  help: 'Schedule ticks, by outcome (started|skipped|failed).',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

// ---------------------------------------------------------------------------
// Dependencies (docs/design.md, "Dependency outages")
// ---------------------------------------------------------------------------

/** The dependencies whose outages workers wait through (`sluice_waiting_for_dependency`). */
export const DEPENDENCIES = ['redis', 'postgres'] as const;

/**
 * 1 while this process waits for `dependency` (its last probe did not
 * answer: workers paused, interrupted jobs waiting in place), else 0.
 * The alert SluiceWaitingForDependency fires when it stays 1.
 */
export const waitingForDependency = new Gauge({
  name: 'sluice_waiting_for_dependency',
  help: 'Whether this process waits for a dependency (redis|postgres) that does not answer: 1 waiting, 0 not.',
  labelNames: ['dependency'] as const,
  registers: [registry],
});

// The schedule gauges (sluice_schedule_last_success_timestamp_seconds,
// sluice_schedule_interval_seconds) are read from Redis at scrape time: they
// live with their collector in ./schedules.ts.

// Closed label sets start at 0 (see the module comment).
for (const outcome of SCHEDULE_TICK_OUTCOMES) scheduleTicksTotal.inc({ outcome }, 0);
for (const outcome of DOCUMENT_OUTCOMES) documentsTotal.inc({ outcome }, 0);
for (const outcome of CHUNK_OUTCOMES) chunksTotal.inc({ outcome }, 0);
for (const outcome of PAGE_OUTCOMES) pagesTotal.inc({ outcome }, 0);
for (const kind of COST_KINDS) costUsdTotal.inc({ kind }, 0);
for (const kind of SAVED_KINDS) savedUsdTotal.inc({ kind }, 0);
for (const outcome of FILE_OUTCOMES) filesTotal.inc({ outcome }, 0);
for (const outcome of FILE_BYTES_OUTCOMES) fileBytesTotal.inc({ outcome }, 0);
for (const outcome of VECTOR_STORE_OUTCOMES) vectorStoresTotal.inc({ outcome }, 0);
for (const status of FILE_BATCH_STATUSES) fileBatchFilesTotal.inc({ status }, 0);
for (const resource of CLEANUP_RESOURCES) cleanupDeletedTotal.inc({ resource }, 0);
for (const resource of CLEANUP_REMOTE_RESOURCES) cleanupFailedTotal.inc({ resource }, 0);
for (const resource of ['file', 'embedding'] as const) cleanupFreedBytesTotal.inc({ resource }, 0);
for (const reason of DOCUMENT_REMOVAL_REASONS) documentsDeletedTotal.inc({ reason }, 0);
for (const reason of DELETION_HELD_REASONS) deletionsHeldTotal.inc({ reason }, 0);
for (const dependency of DEPENDENCIES) waitingForDependency.set({ dependency }, 0);

/**
 * Creates the zero series for queue- and model-keyed metrics, so that the
 * first job or request of a fresh process is seen by `rate()` and alerts on
 * "no completed jobs" have a series to compare. Call once at worker start with
 * the queues it consumes and the embedding model it uses. Idempotent.
 */
export function initLabels(opts: { queues?: readonly string[]; models?: readonly string[] }): void {
  for (const queue of opts.queues ?? []) {
    for (const outcome of JOB_OUTCOMES) {
      jobsTotal.inc({ queue, outcome }, 0);
      jobDurationSeconds.zero({ queue, outcome });
    }
  }
  for (const model of opts.models ?? []) {
    for (const outcome of TOKEN_OUTCOMES) embeddingTokensTotal.inc({ model, outcome }, 0);
    for (const type of RATE_LIMIT_TYPES) embeddingRateLimitedTotal.inc({ model, type }, 0);
    embeddingRequestsTotal.inc({ model, status: '200' }, 0);
    embeddingRequestsTotal.inc({ model, status: '429' }, 0);
  }
}

/**
 * Records one finished job attempt in {@link jobsTotal} and
 * {@link jobDurationSeconds} together, so the two never disagree.
 */
export function observeJob(queue: string, outcome: JobOutcome, seconds: number): void {
  jobsTotal.inc({ queue, outcome });
  jobDurationSeconds.observe({ queue, outcome }, seconds);
}
