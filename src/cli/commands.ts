/**
 * The actions behind each `sluice` command. Each opens only what it needs
 * and closes it; output goes to stdout, logs to stderr.
 */
import cliProgress from 'cli-progress';
import { loadConfig, type Config } from '../config/config.ts';
import { exportCollection } from '../export/export.ts';
import { normaliseHost } from '../crawl/ssrf.ts';
import { enqueueIngest, ingest, type IngestRequest, type IngestSummary } from '../ingest/ingest.ts';
import type { SourceInput } from '../ingest/sources.ts';
import { createLogger, type Logger } from '../log/logger.ts';
import { loadEmulator } from '../openai/emulator.ts';
import { QUEUE_NAMES, isQueueName, type TickResult } from '../queue/contracts.ts';
import { type ScheduleDefinition, validateSchedule } from '../schedule/definition.ts';
import { addSchedule, listSchedules, removeSchedule, runScheduleNow } from '../schedule/schedules.ts';
import { getStatus } from '../runs/status.ts';
import { runCleanup } from '../cleanup/cleanup.ts';
import { DRIFT_KINDS, totalDrift } from '../reconcile/drift.ts';
import { type ReconcileReport, runReconcile } from '../reconcile/reconcile.ts';
import { openRuntime, type Runtime } from '../runtime/runtime.ts';
import { onShutdown } from '../runtime/signals.ts';
import { runWorkerProcess, parseQueues } from '../runtime/worker-process.ts';
import { type RunningWorkers, startWorkers } from '../runtime/workers.ts';
import { search } from '../search/search.ts';
import { sync, type Sink, type SyncSummary } from '../sync/sync.ts';
import { connectDb } from '../db/db.ts';
import { migrate } from '../db/migrate.ts';
import { StartupError } from '../errors/index.ts';

/**
 * The queues `ingest` and `sync` work in-process for their own run: every
 * queue but schedule (a tick may wait hours for its run, and this process
 * exits when its own run ends) and cleanup (scheduled cleanup belongs to
 * cleanup workers).
 */
function runQueues() {
  return parseQueues(['all']).filter((q) => q !== 'schedule' && q !== 'cleanup');
}

/** CLI commands log warnings only unless LOG_LEVEL is set: stdout is for results. */
function cliLogger(config: Config): Logger {
  return createLogger(process.env.LOG_LEVEL ? config.logLevel : 'warn');
}

/**
 * The configuration of a CLI command. Its operator is trusted with what
 * they type (docs/design.md, "Source roots", "SSRF guard"): local sources
 * default to the current directory when SOURCE_ROOTS is unset, and the hosts
 * of the http(s) URLs named on the command line are allowed by the SSRF
 * guard of the workers this process runs — never through a job payload.
 */
export function cliConfig(sources: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): Config {
  const config = loadConfig(env);
  if (!env.SOURCE_ROOTS?.trim()) config.sources.roots = [process.cwd()];
  const hosts = sources.flatMap((s) => {
    if (!/^https?:\/\//i.test(s.trim())) return [];
    try {
      return [normaliseHost(new URL(s.trim()).hostname)];
    } catch {
      return [];
    }
  });
  config.crawl.allowHosts = [...new Set([...config.crawl.allowHosts, ...hosts])];
  return config;
}

/**
 * What the operator typed, as sources: URLs and inline JSON as they are,
 * anything else a local path (`{ path }`) — said explicitly, by the operator.
 */
export function cliSources(sources: readonly string[]): SourceInput[] {
  return sources.map((s) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(s.trim()) || s.trim().startsWith('{') ? s : { path: s }));
}

async function withRuntime<T>(role: string, fn: (rt: Runtime) => Promise<T>): Promise<T> {
  const config = cliConfig();
  const rt = await openRuntime(config, cliLogger(config), { role });
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}

function printSummary(s: IngestSummary): void {
  const lines = [
    `collection ${s.collection}: ${s.documents} documents, ${s.chunks} chunks in ${s.durationSeconds} s${s.resumed ? ' (resumed run)' : ''}`,
    `embedded ${s.chunksEmbedded} chunks (${s.tokensEmbedded} tokens); deduplicated ${s.chunksDeduplicated} chunks (${s.tokensDeduplicated} tokens)`,
    `embeddings from ${s.embeddingsFrom}`,
    `unchanged pages: ${s.pagesNotModified} answered 304, ${s.pagesUnchanged} same content, ${s.pagesSkippedBySitemap} skipped by sitemap; ${s.bytesDownloaded} bytes downloaded`,
  ];
  for (const e of s.sitemapErrors) lines.push(`sitemap not used: ${e.error}`);
  if (s.pagesSkipped) lines.push(`${s.pagesSkipped} pages not crawled: page limit reached (--max-pages)`);
  if (s.documentsDeleted) lines.push(`${s.documentsDeleted} documents deleted: no longer at the source`);
  if (s.deletionHeld) lines.push(s.deletionHeld.message);
  if (s.failed.length) {
    lines.push(`${s.failed.length} failed:`);
    for (const f of s.failed) lines.push(`  ${f.source}: ${f.error}`);
  } else {
    lines.push('nothing failed');
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

export interface IngestOptions {
  collection: string;
  maxPages?: number;
  maxDepth?: number;
  json?: boolean;
  deleteMissing?: boolean;
  allowMassDelete?: boolean;
}

function ingestRequest(sources: string[], opts: IngestOptions): IngestRequest {
  return {
    collection: opts.collection,
    sources: cliSources(sources),
    ...(opts.maxPages ? { maxPages: opts.maxPages } : {}),
    ...(opts.maxDepth ? { maxDepth: opts.maxDepth } : {}),
    ...(opts.deleteMissing ? { deleteMissing: true } : {}),
    ...(opts.allowMassDelete ? { allowMassDelete: true } : {}),
  };
}

/**
 * Closes the workers `ingest`/`sync` run in-process, then the runtime, waiting
 * at most `deadlineMs` ms (SHUTDOWN_TIMEOUT_MS). Past it the command ends
 * anyway, leaving them open (runCommand exits the process): jobs still active
 * return to their queue when their lock expires, as after a forced shutdown
 * (src/runtime/signals.ts). After a Redis restarted without persistence a
 * BullMQ worker can stay closing forever, and a run that lost its state must
 * still end (docs/design.md, "Runs that lose their state").
 */
async function closeWithin(rt: Runtime, workers: RunningWorkers, deadlineMs: number): Promise<void> {
  const closed = (async () => {
    await workers.close();
    await rt.close();
    return 'closed' as const;
  })();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => resolve('expired'), deadlineMs);
  });
  try {
    if ((await Promise.race([closed, expired])) === 'expired') {
      closed.catch(() => {}); // still closing: whatever it ends with, the process exits now
      rt.logger.warn(
        { deadlineMs },
        'workers did not close within SHUTDOWN_TIMEOUT_MS: exiting without them (active jobs will be retried)',
      );
    }
  } finally {
    clearTimeout(timer);
  }
}

/** `sluice ingest`: enqueue, run all workers here, wait, summarise. Exit 1 when anything failed. */
export async function ingestCommand(sources: string[], opts: IngestOptions): Promise<number> {
  const config = cliConfig(sources);
  const logger = cliLogger(config);
  const rt = await openRuntime(config, logger, { role: 'ingest', workers: true });
  const workers = startWorkers(rt, runQueues());
  const abort = new AbortController();
  onShutdown(logger, config.workers.shutdownTimeoutMs, async () => {
    abort.abort(new Error('interrupted'));
    await workers.close();
    await rt.close();
    process.stderr.write('sluice: interrupted; run the same command again to resume this run\n');
  });
  if (rt.openaiTarget.startsWith('emulator') && !opts.json)
    process.stderr.write(`sluice: OPENAI_API_KEY is not set: embedding with the built-in OpenAI ${rt.openaiTarget}\n`);
  const bar =
    process.stderr.isTTY && !opts.json
      ? new cliProgress.SingleBar(
          {
            format: 'ingest |{bar}| {value}/{total} jobs | {failed} failed | {duration_formatted}',
            stream: process.stderr,
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  try {
    bar?.start(1, 0, { failed: 0 });
    const summary = await ingest(rt, ingestRequest(sources, opts), {
      signal: abort.signal,
      onProgress: (p) => {
        bar?.setTotal(Math.max(1, p.jobs));
        bar?.update(p.finished, { failed: p.failed });
      },
    });
    bar?.stop();
    if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else printSummary(summary);
    return summary.failed.length ? 1 : 0;
  } finally {
    bar?.stop();
    if (!abort.signal.aborted) await closeWithin(rt, workers, config.workers.shutdownTimeoutMs);
  }
}

/** `sluice enqueue`: enqueue only. */
export async function enqueueCommand(sources: string[], opts: IngestOptions): Promise<number> {
  return withRuntime('enqueue', async (rt) => {
    const run = await enqueueIngest(rt, ingestRequest(sources, opts));
    if (opts.json)
      process.stdout.write(
        JSON.stringify({ runId: run.runId, collection: run.collection, resumed: run.resumed, jobIds: run.jobIds }) +
          '\n',
      );
    else process.stdout.write(`run ${run.runId}${run.resumed ? ' (resumed)' : ''}\n${run.jobIds.join('\n')}\n`);
    return 0;
  });
}

export async function workerCommand(queues: string[]): Promise<void> {
  await runWorkerProcess(queues);
}

export async function searchCommand(
  query: string,
  opts: { collection: string; k: number; json?: boolean },
): Promise<number> {
  return withRuntime('search', async (rt) => {
    const hits = await search(rt, query, { collection: opts.collection, k: opts.k });
    if (opts.json) process.stdout.write(`${JSON.stringify(hits)}\n`);
    else {
      for (const h of hits) {
        const excerpt = h.text.replace(/\s+/g, ' ').slice(0, 160);
        process.stdout.write(
          `${h.score.toFixed(3)}  ${h.url}\n       ${h.headingPath.join(' › ')}\n       ${excerpt}\n`,
        );
      }
    }
    return 0;
  });
}

export async function exportCommand(collection: string, opts: { embeddings?: boolean }): Promise<number> {
  return withRuntime('export', async (rt) => {
    for await (const chunk of exportCollection(rt, collection, opts.embeddings ?? false)) {
      if (!process.stdout.write(`${JSON.stringify(chunk)}\n`))
        await new Promise((r) => process.stdout.once('drain', r));
    }
    return 0;
  });
}

export async function migrateCommand(): Promise<number> {
  const config = cliConfig();
  const logger = createLogger(config.logLevel);
  let applied: string[] = [];
  const db = await connectDb(config, logger, 'migrate', async (db) => {
    applied = await migrate(db, logger, config.embedding.dimensions);
  });
  try {
    process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'schema is up to date\n');
    return 0;
  } finally {
    await db.close();
  }
}

export async function statusCommand(opts: { json?: boolean }): Promise<number> {
  return withRuntime('status', async (rt) => {
    const status = await getStatus(rt);
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(status)}\n`);
      return 0;
    }
    const lines = [
      `database ${status.database.mode} ${status.database.url}`,
      `  ${status.database.collections} collections, ${status.database.documents} documents, ${status.database.chunks} chunks, ${status.database.embeddings} embeddings; spent $${status.spentUsd.toFixed(6)}`,
      'queues (waiting/active/delayed/failed/completed):',
    ];
    for (const [q, c] of Object.entries(status.queues)) {
      lines.push(
        `  ${q.padEnd(10)} ${c.waiting ?? 0}/${c.active ?? 0}/${c.delayed ?? 0}/${c.failed ?? 0}/${c.completed ?? 0}`,
      );
    }
    const { openai, pgvector } = status.storage;
    lines.push(
      'storage held:',
      `  openai   ${openai.vectorStores} vector stores (~${openai.storeBytes} bytes), ${openai.files} files (${openai.fileBytes} bytes); $${openai.dailyUsd.toFixed(4)}/day`,
      `  pgvector ${pgvector.embeddings} vectors (${pgvector.vectorBytes} bytes)`,
    );
    for (const f of status.cleanup.failedDeletions)
      lines.push(`  cleanup could not delete ${f.resource} ${f.id} (${f.attempts} attempts): ${f.error}`);
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  });
}

/**
 * `sluice cleanup`: one TTL cleanup run in this process, the same function
 * the cleanup worker runs (docs/design.md, "TTL cleanup"); prints what was
 * (or, with --dry-run, would be) deleted. Exit 1 when a deletion failed.
 */
export async function cleanupCommand(opts: { dryRun?: boolean; json?: boolean; ttlDays?: number }): Promise<number> {
  return withRuntime('cleanup', async (rt) => {
    const r = await runCleanup(rt.context, {
      dryRun: opts.dryRun ?? false,
      ...(opts.ttlDays !== undefined ? { ttlDays: opts.ttlDays } : {}),
    });
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      return r.failed.length ? 1 : 0;
    }
    const verb = r.dryRun ? 'would delete' : 'deleted';
    const lines = [
      `cleanup (TTL ${r.ttlDays} days, unused since ${r.cutoff})${r.dryRun ? ' — dry run' : ''}: ${verb}`,
      `  ${r.vectorStores.length} vector stores, ${r.files.length} files (${r.freedBytes.file} bytes)`,
      `  ${r.documents.length} documents (${r.chunks} chunks), ${r.embeddings} embeddings (${r.freedBytes.embedding} bytes)`,
    ];
    const o = r.orphans;
    lines.push(
      `  orphans of deployment ${o.deployment} older than ${o.graceHours} h: ${o.vectorStores.length} vector stores, ${o.files.length} files; ${o.adopted.length} files recorded instead; ${o.young.vectorStores + o.young.files} younger left`,
    );
    for (const s of r.vectorStores)
      lines.push(`  vector store ${s.vectorStoreId} (fileset ${s.filesetHash.slice(0, 12)})`);
    for (const s of o.vectorStores) lines.push(`  orphan vector store ${s.vectorStoreId} (created ${s.createdAt})`);
    for (const f of o.files) lines.push(`  orphan file ${f.openaiFileId} (${f.bytes} bytes, created ${f.createdAt})`);
    for (const f of r.files) lines.push(`  file ${f.openaiFileId} (${f.bytes} bytes)`);
    for (const d of r.documents) lines.push(`  document ${d.collection} ${d.uri}`);
    for (const f of r.failed) lines.push(`  FAILED ${f.resource} ${f.id}: ${f.error} (retried by the next run)`);
    process.stdout.write(`${lines.join('\n')}\n`);
    return r.failed.length ? 1 : 0;
  });
}

export interface ReconcileCommandOptions {
  collection?: string;
  fix?: boolean;
  graceHours?: number;
  json?: boolean;
}

/**
 * `sluice reconcile`: compares the registry with OpenAI and pgvector
 * (docs/design.md, "Reconcile") and prints the drift by kind; with --fix,
 * repairs it with associate, upload and embed workers in this process and
 * prints what is left. Exit 0 when no drift is left, 1 otherwise.
 */
export async function reconcileCommand(opts: ReconcileCommandOptions): Promise<number> {
  const config = cliConfig();
  const rt = await openRuntime(config, cliLogger(config), { role: 'reconcile' });
  const workers = opts.fix ? startWorkers(rt, ['associate', 'upload', 'embed']) : undefined;
  try {
    const r = await runReconcile(rt.context, {
      fix: opts.fix ?? false,
      ...(opts.collection !== undefined ? { collection: opts.collection } : {}),
      ...(opts.graceHours !== undefined ? { graceHours: opts.graceHours } : {}),
    });
    if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else printReconcile(r);
    return totalDrift(r.drift) ? 1 : 0;
  } finally {
    await workers?.close();
    await rt.close();
  }
}

function printReconcile(r: ReconcileReport): void {
  const found = totalDrift(r.found);
  const left = totalDrift(r.drift);
  const lines = [
    `reconcile of deployment ${r.deployment} (${r.collection ? `collection ${r.collection}` : 'every collection'}; in flight if younger than ${r.graceHours} h): ${found} differences${r.fixed ? `, ${left} left after --fix` : ''}`,
  ];
  for (const k of DRIFT_KINDS)
    lines.push(`  ${k.padEnd(24)} ${String(r.found[k]).padStart(6)}${r.fixed ? `  → ${r.drift[k]}` : ''}`);
  const f = r.inFlight;
  lines.push(
    `  in flight (not drift): ${f.files} files, ${f.vectorStores} vector stores, ${f.chunks} chunks, ${f.filesets} filesets`,
  );
  if (r.collections.length) lines.push('collections (pgvector | OpenAI):');
  for (const c of r.collections)
    lines.push(
      `  ${c.collection || '(none)'}: ${c.documents} documents, ${c.chunks} chunks (${c.chunksEmbedded} embedded) | ${c.vectorStores} vector stores, ${c.filesCompleted} files completed (OpenAI: ${c.filesCompletedAtOpenAI})`,
    );
  for (const i of r.items) lines.push(`  ${i.kind} ${i.id}: ${i.detail}`);
  if (r.fixes) {
    const x = r.fixes;
    lines.push(
      `fixed: deleted ${x.vectorStoresDeleted} vector stores and ${x.filesDeleted} files, recorded ${x.filesAdopted} files, forgot ${x.filesForgotten} lost files, repaired ${x.storesRepaired} stores, ${x.embedJobs} embed jobs, deleted ${x.embeddingsDeleted} embeddings${x.runId ? ` (run ${x.runId})` : ''}`,
    );
    for (const e of x.failed) lines.push(`  FAILED ${e.what}: ${e.error}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** `sluice retry-failed [queue]`: moves failed jobs back to waiting. */
export async function retryFailedCommand(queue: string | undefined): Promise<number> {
  if (queue !== undefined && !isQueueName(queue))
    throw new Error(`unknown queue "${queue}": use one of ${QUEUE_NAMES.join(', ')}`);
  return withRuntime('retry-failed', async (rt) => {
    const names = queue ? [queue] : [...QUEUE_NAMES];
    for (const name of names) {
      const q = rt.queues[name as keyof typeof rt.queues];
      const failed = await q.getJobCountByTypes('failed');
      if (failed) await q.retryJobs({ state: 'failed', count: 1000 });
      process.stdout.write(`${name}: ${failed} failed jobs re-enqueued\n`);
    }
    return 0;
  });
}

export async function emulatorCommand(opts: { port: number; host: string; stateDir?: string }): Promise<void> {
  const logger = createLogger(process.env.LOG_LEVEL ?? 'info', 'sluice-emulator');
  const { startEmulator, emulatorSettingsFromEnv, emulatorStateDirFromEnv, StateDirError } = await loadEmulator();
  const stateDir = opts.stateDir ?? emulatorStateDirFromEnv();
  const emu = await startEmulator({
    host: opts.host,
    port: opts.port,
    logger,
    ...emulatorSettingsFromEnv(),
    ...(stateDir ? { stateDir } : {}),
  }).catch((err: unknown) => {
    // In use by another emulator, or unreadable: one line, exit 2.
    throw err instanceof StateDirError ? new StartupError(err.message, { cause: err }) : err;
  });
  process.stdout.write(`${emu.url}\n`);
  onShutdown(logger, 5000, () => emu.close());
}

function printSync(s: SyncSummary): void {
  const lines: string[] = [];
  if (s.vectorStoreId !== undefined) {
    lines.push(
      `vector store ${s.vectorStoreId} (${s.reused ? 'reused' : s.recreated ? 'recreated' : 'created'}, ${s.status}) for ${s.uniqueFiles} unique of ${s.files} files in ${s.durationSeconds} s`,
    );
    lines.push(
      `uploaded ${s.filesUploaded} files (${s.bytesUploaded} bytes); reused ${s.filesReused} (${s.bytesReused} bytes)${s.filesReuploaded ? `; re-uploaded ${s.filesReuploaded}` : ''}`,
    );
    for (const f of s.failedFiles ?? [])
      lines.push(`  failed: ${f.filename}${f.fileId ? ` (${f.fileId})` : ''}: ${f.error}`);
  }
  if (s.pgvector)
    lines.push(
      `pgvector: ${s.pgvector.documents} documents, ${s.pgvector.chunksEmbedded} chunks embedded, ${s.pgvector.chunksDeduplicated} deduplicated, ${s.pgvector.failed.length} failed`,
    );
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** `sluice sync`: upload/associate (and crawl/embed for pgvector) workers run here. Exit 1 when a file failed. */
export async function syncCommand(
  sources: string[],
  opts: { collection: string; sink: Sink; json?: boolean },
): Promise<number> {
  const config = cliConfig(sources);
  const rt = await openRuntime(config, cliLogger(config), { role: 'sync', workers: true });
  const workers = startWorkers(rt, runQueues());
  try {
    const summary = await sync(rt, { collection: opts.collection, sources, sink: opts.sink });
    if (opts.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else printSync(summary);
    const failed = (summary.failedFiles?.length ?? 0) + (summary.pgvector?.failed.length ?? 0);
    return failed ? 1 : 0;
  } finally {
    await closeWithin(rt, workers, config.workers.shutdownTimeoutMs);
  }
}

export interface ScheduleAddOptions {
  collection: string;
  cron?: string;
  tz?: string;
  every?: string;
  maxPages?: number;
  sink?: Sink;
  allowMassDelete?: boolean;
  json?: boolean;
}

/** `sluice schedule add`: creates or updates a schedule (its job scheduler). */
export async function scheduleAddCommand(name: string, sources: string[], opts: ScheduleAddOptions): Promise<number> {
  // Validated before anything is opened: a bad cron or duration needs no Redis to be reported.
  validateSchedule(scheduleDefinition(name, sources, opts));
  return withRuntime('schedule', async (rt) => {
    await addSchedule(rt, scheduleDefinition(name, sources, opts));
    const info = (await listSchedules(rt)).find((s) => s.name === name);
    if (opts.json) process.stdout.write(JSON.stringify(info) + '\n');
    else process.stdout.write(`schedule ${name}: next run ${info?.nextRun ?? 'unknown'}\n`);
    return 0;
  });
}

function scheduleDefinition(name: string, sources: string[], opts: ScheduleAddOptions): ScheduleDefinition {
  return {
    name,
    sources,
    collection: opts.collection,
    ...(opts.cron !== undefined ? { cron: opts.cron } : {}),
    ...(opts.tz !== undefined ? { tz: opts.tz } : {}),
    ...(opts.every !== undefined ? { every: opts.every } : {}),
    ...(opts.maxPages !== undefined ? { maxPages: opts.maxPages } : {}),
    ...(opts.sink !== undefined ? { sink: opts.sink } : {}),
    allowMassDelete: opts.allowMassDelete ?? false,
  };
}

/** `sluice schedule list`: every schedule with its next run and last run. */
export async function scheduleListCommand(opts: { json?: boolean }): Promise<number> {
  return withRuntime('schedule', async (rt) => {
    const list = await listSchedules(rt);
    if (opts.json) {
      process.stdout.write(JSON.stringify(list) + '\n');
      return 0;
    }
    if (!list.length) process.stdout.write('no schedules\n');
    for (const s of list) {
      const when = s.cron ? `cron "${s.cron}"${s.tz ? ` ${s.tz}` : ''}` : `every ${(s.every ?? 0) / 1000}s`;
      process.stdout.write(
        `${s.name} (${when}, ${s.managedBy}) → ${s.collection} [${s.sink}] ${s.sources.join(' ')}\n` +
          `  next run ${s.nextRun ?? '-'}; last run ${s.lastRunId ?? '-'} ${s.lastOutcome ?? ''}; last success ${s.lastSuccessAt ?? 'never'}; ${s.skippedTicks} ticks skipped${s.activeRun ? `; running ${s.activeRun}` : ''}\n`,
      );
    }
    return 0;
  });
}

/** `sluice schedule remove`: exit 1 when there was no such schedule. */
export async function scheduleRemoveCommand(name: string): Promise<number> {
  return withRuntime('schedule', async (rt) => {
    const removed = await removeSchedule(rt, name);
    process.stdout.write(removed ? `removed schedule ${name}\n` : `no schedule named ${name}\n`);
    return removed ? 0 : 1;
  });
}

/**
 * `sluice schedule run`: a tick now, processed by a schedule worker like
 * any tick (same overlap rule); waits for it and prints its result.
 */
export async function scheduleRunCommand(name: string, opts: { json?: boolean; wait?: boolean }): Promise<number> {
  return withRuntime('schedule', async (rt) => {
    const jobId = await runScheduleNow(rt, name);
    if (opts.wait === false) {
      process.stdout.write(opts.json ? JSON.stringify({ tick: jobId }) + '\n' : `tick ${jobId} enqueued\n`);
      return 0;
    }
    process.stderr.write(`sluice: tick ${jobId} enqueued; waiting for a schedule worker (sluice worker schedule)\n`);
    for (;;) {
      // The state first, then the job: a job read before it completed has no return value yet.
      const state = await rt.queues.schedule.getJobState(jobId);
      const job = await rt.queues.schedule.getJob(jobId);
      if (state === 'completed' || state === 'failed' || state === 'unknown') {
        const result = { tick: jobId, state, result: job?.returnvalue ?? null, error: job?.failedReason ?? null };
        if (opts.json) process.stdout.write(`${JSON.stringify(result)}\n`);
        else process.stdout.write(`tick ${jobId} ${state}: ${JSON.stringify(result.result ?? result.error)}\n`);
        const r = result.result as TickResult | null;
        return state === 'completed' && r?.runOutcome !== 'partial' ? 0 : 1;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  });
}
