/**
 * TTL cleanup (docs/design.md, "TTL cleanup"): deletes what nobody used for
 * TTL_DAYS, at OpenAI and in Postgres/pgvector, in this order:
 *
 * 1. vector stores (filesets with a store) unused since the cutoff;
 * 2. Files attached to no live store and unused since the cutoff, with their
 *    kept bytes (`file_blobs`);
 * 3. the orphan sweep (./orphans.ts): this deployment's labelled Files and
 *    stores the registry does not know, older than ORPHAN_GRACE_HOURS;
 * 4. documents not reached by a run since the cutoff, in collections no
 *    search read since then, through the one removal path (reason `ttl`);
 * 5. embeddings no chunk references, unused since the cutoff;
 * 6. a reconcile that deletes nothing (src/reconcile/reconcile.ts): the
 *    drift it finds is what `sluice_index_drift{kind}` reports.
 *
 * Every TTL predicate compares with `cutoff = now - ttlDays`, `now` coming
 * from the injected clock (src/clock/clock.ts), never the database's
 * `now()`. A dry run selects with the same predicates (treating what the
 * run would delete first as gone) and changes nothing.
 *
 * The hand-off with syncs: a store or File is claimed by a conditional
 * UPDATE to `deleting` that re-checks its last use under the row lock, so a
 * sync that marked it used first (src/store/registry.ts `reserveStore`,
 * `holdFiles`) keeps it; a sync that finds it `deleting` waits and then
 * creates or uploads it again. A deletion OpenAI refuses puts the row back
 * to its live status with `delete_error` and `delete_attempts`, counted in
 * `sluice_cleanup_failed_total`; the next run tries again if it is still
 * unused.
 */
import { NotFoundError } from 'openai';
import {
  type CleanupRemoteResource,
  cleanupDeletedTotal,
  cleanupDurationSeconds,
  cleanupFailedTotal,
  cleanupFreedBytesTotal,
} from '../metrics/metrics.ts';
import type { JobContext } from '../runtime/job-context.ts';
import { checkCron } from '../schedule/definition.ts';
import { DELETE_CLAIM_STALE_SQL } from '../store/registry.ts';
import { removeDocuments } from '../store/remove.ts';
import { FILE_STATUS as F, FILESET_FILE_STATUS as FF, FILESET_STATUS as FS } from '../store/statuses.ts';
import type { DriftCounts } from '../reconcile/drift.ts';
import { runReconcile } from '../reconcile/reconcile.ts';
import { type SweepReport, sweepOrphans } from './orphans.ts';

/** What cleanup needs: a JobContext or a Runtime's context. */
export type CleanupDeps = Pick<JobContext, 'config' | 'logger' | 'db' | 'openai' | 'clock'>;

export interface CleanupOptions {
  /** Delete what was not used for this many days (default TTL_DAYS). */
  ttlDays?: number;
  /** Report what would be deleted, delete nothing. */
  dryRun?: boolean;
  /** The time TTLs are measured from (default: the injected clock's now). */
  now?: Date;
  /** Who claims rows (`claimed_by`), e.g. the cleanup job's id. */
  owner?: string;
  /** Orphans younger than this are left alone, hours (default ORPHAN_GRACE_HOURS). */
  graceHours?: number;
  /** End with a reconcile that repairs nothing, whose drift the gauge reports (default true). */
  reconcile?: boolean;
}

export interface CleanupReport {
  dryRun: boolean;
  ttlDays: number;
  /** ISO 8601: the clock's time and `now - ttlDays`. */
  now: string;
  cutoff: string;
  vectorStores: Array<{ filesetHash: string; vectorStoreId: string }>;
  files: Array<{ contentHash: string; openaiFileId: string; bytes: number }>;
  documents: Array<{ collection: string; uri: string }>;
  /** Chunks removed with the documents. */
  chunks: number;
  embeddings: number;
  freedBytes: { file: number; embedding: number };
  failed: Array<{ resource: CleanupRemoteResource; id: string; error: string }>;
  /** The orphan sweep (its refused deletions are in `failed` too). */
  orphans: SweepReport;
  /** The drift the closing reconcile found, by kind (null when it was skipped or failed: see `reconcileError`). */
  drift: DriftCounts | null;
  reconcileError: string | null;
  durationSeconds: number;
}

/** A `deleting` claim older than this belongs to a cleanup that died: the next run takes it over. */
const DELETE_CLAIM_STALE = DELETE_CLAIM_STALE_SQL;
/** Embeddings per DELETE statement. */
const EMBEDDING_BATCH = 5000;
const DAY_MS = 24 * 3600 * 1000;

/** A store is live for cleanup purposes when it has an id (or is being created) and is not about to go. */
const LIVE_STATUSES = [FS.completed, FS.partial, FS.failed].map((s) => `'${s}'`).join(', ');

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs TTL cleanup once. Idempotent; safe beside syncs and other cleanups. */
export async function runCleanup(deps: CleanupDeps, options: CleanupOptions = {}): Promise<CleanupReport> {
  const started = performance.now();
  const pool = deps.db.pool;
  const ttlDays = options.ttlDays ?? deps.config.ttlDays;
  const dryRun = options.dryRun ?? false;
  const now = options.now ?? deps.clock.now();
  const cutoff = new Date(now.getTime() - ttlDays * DAY_MS);
  const owner = options.owner ?? `cleanup-${process.pid}-${now.getTime()}`;
  const report: CleanupReport = {
    dryRun,
    ttlDays,
    now: now.toISOString(),
    cutoff: cutoff.toISOString(),
    vectorStores: [],
    files: [],
    documents: [],
    chunks: 0,
    embeddings: 0,
    freedBytes: { file: 0, embedding: 0 },
    failed: [],
    orphans: {
      deployment: '',
      graceHours: 0,
      vectorStores: [],
      files: [],
      adopted: [],
      young: { files: 0, vectorStores: 0 },
      failed: [],
    },
    drift: null,
    reconcileError: null,
    durationSeconds: 0,
  };

  // 1. Vector stores.
  const { rows: stores } = await pool.query<{ fileset_hash: string; vector_store_id: string; status: string }>(
    `SELECT fileset_hash, vector_store_id, status FROM filesets
     WHERE vector_store_id IS NOT NULL
       AND ((status IN (${LIVE_STATUSES}) AND last_used_at < $1)
            OR (status = '${FS.deleting}' AND claimed_at < now() - ${DELETE_CLAIM_STALE}))
     ORDER BY fileset_hash`,
    [cutoff],
  );
  for (const s of stores) {
    if (dryRun) {
      report.vectorStores.push({ filesetHash: s.fileset_hash, vectorStoreId: s.vector_store_id });
      continue;
    }
    const claimed = await pool.query(
      `UPDATE filesets SET status = '${FS.deleting}', claimed_by = $3, claimed_at = now()
       WHERE fileset_hash = $1 AND vector_store_id = $2
         AND ((status IN (${LIVE_STATUSES}) AND last_used_at < $4)
              OR (status = '${FS.deleting}' AND claimed_at < now() - ${DELETE_CLAIM_STALE}))`,
      [s.fileset_hash, s.vector_store_id, owner, cutoff],
    );
    if (claimed.rowCount !== 1) continue; // used meanwhile (or another cleanup has it)
    const liveStatus = s.status === FS.deleting ? FS.completed : s.status;
    try {
      await deps.openai.vectorStores.delete(s.vector_store_id);
    } catch (err) {
      if (!(err instanceof NotFoundError)) {
        await pool.query(
          `UPDATE filesets SET status = $3, claimed_by = NULL, delete_error = $4, delete_attempts = delete_attempts + 1
           WHERE fileset_hash = $1 AND status = '${FS.deleting}' AND claimed_by = $2`,
          [s.fileset_hash, owner, liveStatus, message(err)],
        );
        cleanupFailedTotal.inc({ resource: 'vector_store' });
        report.failed.push({ resource: 'vector_store', id: s.vector_store_id, error: message(err) });
        continue;
      }
    }
    await pool.query(
      `WITH gone AS (
         UPDATE filesets SET status = '${FS.deleted}', vector_store_id = NULL, deleted_at = now(), claimed_by = NULL,
                             delete_error = NULL, delete_attempts = 0
         WHERE fileset_hash = $1 AND status = '${FS.deleting}' AND claimed_by = $2
         RETURNING fileset_hash
       )
       UPDATE fileset_files ff SET status = '${FF.pending}', last_error = NULL
       FROM gone WHERE ff.fileset_hash = gone.fileset_hash`,
      [s.fileset_hash, owner],
    );
    cleanupDeletedTotal.inc({ resource: 'vector_store' });
    report.vectorStores.push({ filesetHash: s.fileset_hash, vectorStoreId: s.vector_store_id });
  }

  // 2. Files attached to no live store. A dry run counts the stores it would delete as gone.
  const dying = dryRun ? report.vectorStores.map((s) => s.filesetHash) : [];
  const filePredicate = `
    f.openai_file_id IS NOT NULL
    AND ((f.status = '${F.uploaded}' AND f.last_used_at < $1)
         OR (f.status = '${F.deleting}' AND f.claimed_at < now() - ${DELETE_CLAIM_STALE}))
    AND NOT EXISTS (
      SELECT 1 FROM fileset_files ff JOIN filesets s ON s.fileset_hash = ff.fileset_hash
      WHERE ff.content_hash = f.content_hash
        AND (s.vector_store_id IS NOT NULL OR s.status = '${FS.creating}')
        AND NOT (s.fileset_hash = ANY($2::text[])))`;
  const { rows: files } = await pool.query<{ content_hash: string; openai_file_id: string; bytes: string }>(
    `SELECT f.content_hash, f.openai_file_id, f.bytes FROM files f WHERE ${filePredicate} ORDER BY f.content_hash`,
    [cutoff, dying],
  );
  for (const f of files) {
    const file = { contentHash: f.content_hash, openaiFileId: f.openai_file_id, bytes: Number(f.bytes) };
    if (dryRun) {
      report.files.push(file);
      report.freedBytes.file += file.bytes;
      continue;
    }
    const claimed = await pool.query(
      `UPDATE files f SET status = '${F.deleting}', claimed_by = $4, claimed_at = now()
       WHERE f.content_hash = $3 AND ${filePredicate}`,
      [cutoff, [], f.content_hash, owner],
    );
    if (claimed.rowCount !== 1) continue;
    try {
      await deps.openai.files.delete(f.openai_file_id);
    } catch (err) {
      if (!(err instanceof NotFoundError)) {
        await pool.query(
          `UPDATE files SET status = '${F.uploaded}', claimed_by = NULL, delete_error = $3, delete_attempts = delete_attempts + 1
           WHERE content_hash = $1 AND status = '${F.deleting}' AND claimed_by = $2`,
          [f.content_hash, owner, message(err)],
        );
        cleanupFailedTotal.inc({ resource: 'file' });
        report.failed.push({ resource: 'file', id: f.openai_file_id, error: message(err) });
        continue;
      }
    }
    // The kept bytes go too, unless a sync marked the file used meanwhile
    // (it is uploading it again from them: src/sync/sync.ts).
    await pool.query(
      `WITH gone AS (
         UPDATE files SET status = '${F.deleted}', openai_file_id = NULL, deleted_at = now(), claimed_by = NULL,
                          delete_error = NULL, delete_attempts = 0
         WHERE content_hash = $1 AND status = '${F.deleting}' AND claimed_by = $2
         RETURNING content_hash, last_used_at
       )
       DELETE FROM file_blobs b USING gone WHERE b.content_hash = gone.content_hash AND gone.last_used_at < $3`,
      [f.content_hash, owner, cutoff],
    );
    cleanupDeletedTotal.inc({ resource: 'file' });
    cleanupFreedBytesTotal.inc({ resource: 'file' }, file.bytes);
    report.files.push(file);
    report.freedBytes.file += file.bytes;
  }

  // 3. Orphans: labelled objects of this deployment the registry does not know, past the grace period.
  report.orphans = await sweepOrphans(deps, {
    now,
    dryRun,
    ...(options.graceHours !== undefined ? { graceHours: options.graceHours } : {}),
  });
  report.failed.push(...report.orphans.failed);

  // 4. Documents: not reached by a run since the cutoff, in a collection no search read since.
  const { rows: docs } = await pool.query<{
    id: string;
    collection_id: string;
    collection: string;
    uri: string;
    chunks: number;
  }>(
    `SELECT d.id, d.collection_id, c.name AS collection, d.uri,
            (SELECT count(*)::int FROM chunks ch WHERE ch.document_id = d.id) AS chunks
     FROM documents d JOIN collections c ON c.id = d.collection_id
     WHERE (d.last_seen_at IS NULL OR d.last_seen_at < $1) AND d.last_used_at < $1
       AND (c.last_searched_at IS NULL OR c.last_searched_at < $1)
     ORDER BY c.name, d.uri`,
    [cutoff],
  );
  if (dryRun) {
    for (const d of docs) {
      report.documents.push({ collection: d.collection, uri: d.uri });
      report.chunks += d.chunks;
    }
  } else {
    const byCollection = new Map<number, typeof docs>();
    for (const d of docs) {
      const id = Number(d.collection_id);
      byCollection.set(id, [...(byCollection.get(id) ?? []), d]);
    }
    for (const [collectionId, list] of byCollection) {
      // The one removal path; it re-checks `last_seen_at` against the cutoff, so a run reaching a document meanwhile keeps it.
      const { uris } = await removeDocuments(pool, {
        collectionId,
        documentIds: list.map((d) => Number(d.id)),
        reason: 'ttl',
        unseenSince: cutoff,
      });
      const removed = new Set(uris);
      for (const d of list)
        if (removed.has(d.uri)) {
          report.documents.push({ collection: d.collection, uri: d.uri });
          report.chunks += d.chunks;
        }
    }
    cleanupDeletedTotal.inc({ resource: 'document' }, report.documents.length);
    cleanupDeletedTotal.inc({ resource: 'chunk' }, report.chunks);
  }

  // 5. Embeddings no chunk references (a dry run ignores the chunks of the documents it would remove).
  const dyingDocs = dryRun ? docs.map((d) => d.id) : [];
  const embeddingPredicate = `e.last_used_at < $1
    AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.chunk_hash = e.chunk_hash AND NOT (c.document_id = ANY($2::bigint[])))`;
  if (dryRun) {
    const { rows } = await pool.query<{ n: number; bytes: string }>(
      `SELECT count(*)::int AS n, coalesce(sum(e.dimensions * 4), 0) AS bytes FROM embeddings e WHERE ${embeddingPredicate}`,
      [cutoff, dyingDocs],
    );
    report.embeddings = rows[0]!.n;
    report.freedBytes.embedding = Number(rows[0]!.bytes);
  } else {
    for (;;) {
      const { rows } = await pool.query<{ n: number; bytes: string }>(
        `WITH gone AS (
           DELETE FROM embeddings x USING (
             SELECT e.model, e.dimensions, e.chunk_hash FROM embeddings e WHERE ${embeddingPredicate} LIMIT ${EMBEDDING_BATCH}
           ) v
           WHERE x.model = v.model AND x.dimensions = v.dimensions AND x.chunk_hash = v.chunk_hash
             AND x.last_used_at < $1
           RETURNING x.dimensions
         )
         SELECT count(*)::int AS n, coalesce(sum(dimensions * 4), 0) AS bytes FROM gone`,
        [cutoff, []],
      );
      const n = rows[0]!.n;
      report.embeddings += n;
      report.freedBytes.embedding += Number(rows[0]!.bytes);
      if (n < EMBEDDING_BATCH) break;
    }
    cleanupDeletedTotal.inc({ resource: 'embedding' }, report.embeddings);
    cleanupFreedBytesTotal.inc({ resource: 'embedding' }, report.freedBytes.embedding);
  }

  // 6. Reconcile, repairing nothing: the drift TTL cleanup leaves is what sluice_index_drift reports.
  if (options.reconcile ?? true) {
    try {
      report.drift = (
        await runReconcile(deps, {
          now,
          ...(options.graceHours !== undefined ? { graceHours: options.graceHours } : {}),
        })
      ).drift;
    } catch (err) {
      report.reconcileError = message(err);
      deps.logger.warn({ err: { message: message(err) } }, 'cleanup: reconcile failed');
    }
  }

  const seconds = (performance.now() - started) / 1000;
  cleanupDurationSeconds.observe(seconds);
  report.durationSeconds = Math.round(seconds * 100) / 100;
  deps.logger.info(
    {
      dryRun,
      ttlDays,
      cutoff: report.cutoff,
      vectorStores: report.vectorStores.length,
      files: report.files.length,
      documents: report.documents.length,
      chunks: report.chunks,
      embeddings: report.embeddings,
      freedBytes: report.freedBytes,
      orphans: { vectorStores: report.orphans.vectorStores.length, files: report.orphans.files.length },
      failed: report.failed.length,
      durationSeconds: report.durationSeconds,
    },
    dryRun ? 'cleanup dry run' : 'cleanup done',
  );
  return report;
}

/** The cleanup queue's job scheduler id (docs/design.md, "TTL cleanup"). */
export const CLEANUP_SCHEDULER_ID = 'cleanup-ttl';

/**
 * Upserts the cleanup queue's job scheduler from CLEANUP_CRON (idempotent:
 * one run per fire however many cleanup workers start), or removes it when
 * CLEANUP_CRON is `off`. Called by every cleanup worker at start.
 * @throws PermanentError for a bad cron pattern.
 */
export async function ensureCleanupScheduler(deps: Pick<JobContext, 'config' | 'producer' | 'logger'>): Promise<void> {
  const cron = deps.config.cleanupCron;
  if (cron === 'off') {
    await deps.producer.removeQueueScheduler('cleanup', CLEANUP_SCHEDULER_ID);
    deps.logger.info('CLEANUP_CRON=off: no scheduled TTL cleanup');
    return;
  }
  checkCron(cron);
  await deps.producer.upsertQueueScheduler('cleanup', CLEANUP_SCHEDULER_ID, { pattern: cron }, { dryRun: false });
  deps.logger.info({ cron }, 'cleanup scheduler upserted');
}
