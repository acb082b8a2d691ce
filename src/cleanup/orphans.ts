/**
 * The orphan sweep (docs/design.md, "Labels, orphans and deadlines"), a step of TTL
 * cleanup: Files and vector stores labelled with this deployment
 * (src/openai/labels.ts) that the registry does not know — created by a job
 * that died before recording them, or left when their rows were lost — are
 * deleted once older than the grace period (ORPHAN_GRACE_HOURS, 24 h by
 * default: a younger one may belong to a job that is about to record it).
 *
 * Never touched: objects of other deployments or with no label, vector
 * stores Sluice did not create from a fileset (no `sluice_fileset` in their
 * label) and stores registered as imported or read-only
 * (`external_vector_stores`). A labelled File whose content the registry
 * still wants (its row has no File and is `pending` or `failed`) is
 * recorded instead of deleted: the next sync then uploads nothing.
 */
import { NotFoundError } from 'openai';
import { cleanupDeletedTotal, cleanupFailedTotal, type CleanupRemoteResource } from '../metrics/metrics.ts';
import { classifyOpenAIError } from '../openai/errors.ts';
import { type LabelledFile, type LabelledStore, labelledFiles, labelledStores } from '../openai/labelled.ts';
import type { JobContext } from '../runtime/job-context.ts';
import { deploymentId } from '../store/deployment.ts';
import { FILE_STATUS as F } from '../store/statuses.ts';

/** What the sweep needs: a JobContext or a Runtime's context. */
export type OrphanDeps = Pick<JobContext, 'config' | 'logger' | 'db' | 'openai'>;

const HOUR_MS = 3600 * 1000;

/** Labelled objects of this deployment the registry does not know, older and younger than the grace period. */
export interface Orphans {
  deployment: string;
  /** Older than the grace period: the sweep deletes (or adopts) these. */
  files: LabelledFile[];
  vectorStores: LabelledStore[];
  /** Younger: possibly in flight, left alone. */
  young: { files: number; vectorStores: number };
}

/**
 * Lists this deployment's labelled Files and stores that the registry does
 * not know, split by the grace period. Reads only.
 * @param now the clock's time (TTL cleanup's `now`)
 * @param listed this deployment's labelled objects when the caller has listed them already (reconcile)
 */
export async function findOrphans(
  deps: OrphanDeps,
  now: Date,
  graceHours: number,
  listed?: { files: LabelledFile[]; stores: LabelledStore[] },
): Promise<Orphans> {
  const pool = deps.db.pool;
  const deployment = await deploymentId(deps);
  const cutoffSeconds = (now.getTime() - graceHours * HOUR_MS) / 1000;
  const out: Orphans = { deployment, files: [], vectorStores: [], young: { files: 0, vectorStores: 0 } };

  let files = listed?.files;
  if (!files) {
    files = [];
    for await (const f of labelledFiles(deps.openai, deployment)) files.push(f);
  }
  // The registry is read after the listing: an object recorded meanwhile is known.
  const knownFiles = await known(
    pool,
    `SELECT openai_file_id AS id FROM files WHERE openai_file_id = ANY($1::text[])`,
    files.map((f) => f.id),
  );
  for (const f of files) {
    if (knownFiles.has(f.id)) continue;
    if (f.createdAt <= cutoffSeconds) out.files.push(f);
    else out.young.files++;
  }

  let stores = listed?.stores;
  if (!stores) {
    stores = [];
    for await (const s of labelledStores(deps.openai, deployment)) if (s.label.filesetHash) stores.push(s);
  }
  const knownStores = await known(
    pool,
    `SELECT vector_store_id AS id FROM filesets WHERE vector_store_id = ANY($1::text[])
     UNION SELECT vector_store_id FROM external_vector_stores WHERE vector_store_id = ANY($1::text[])`,
    stores.map((s) => s.id),
  );
  for (const s of stores) {
    if (knownStores.has(s.id)) continue;
    if (s.createdAt <= cutoffSeconds) out.vectorStores.push(s);
    else out.young.vectorStores++;
  }
  return out;
}

async function known(pool: OrphanDeps['db']['pool'], sql: string, ids: string[]): Promise<Set<string>> {
  if (!ids.length) return new Set();
  const { rows } = await pool.query<{ id: string }>(sql, [ids]);
  return new Set(rows.map((r) => r.id));
}

/** What one sweep did (or, dry, would do). */
export interface SweepReport {
  deployment: string;
  graceHours: number;
  vectorStores: Array<{ vectorStoreId: string; createdAt: string }>;
  files: Array<{ openaiFileId: string; contentHash: string; bytes: number; createdAt: string }>;
  /** Orphan Files recorded for the content the registry was still waiting for, instead of deleted. */
  adopted: Array<{ openaiFileId: string; contentHash: string }>;
  /** Younger than the grace period: left alone. */
  young: { files: number; vectorStores: number };
  failed: Array<{ resource: CleanupRemoteResource; id: string; error: string }>;
}

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}

/** A registry row that wants a File for this content: none recorded, `pending` or `failed`. */
const WANTS_FILE = `content_hash = $1 AND openai_file_id IS NULL AND status IN ('${F.pending}', '${F.failed}')
  AND NOT EXISTS (SELECT 1 FROM files WHERE openai_file_id = $2)`;

/**
 * Records an orphan File for its content when the registry's row wants one
 * (see {@link WANTS_FILE}), under the row lock. @returns true when adopted
 */
export async function adoptFile(pool: OrphanDeps['db']['pool'], f: LabelledFile, dryRun = false): Promise<boolean> {
  const { rowCount } = dryRun
    ? await pool.query(`SELECT 1 FROM files WHERE ${WANTS_FILE}`, [f.label.contentHash, f.id])
    : await pool.query(
        `UPDATE files SET status = '${F.uploaded}', openai_file_id = $2, uploaded_at = now(), last_error = NULL, claimed_by = NULL
         WHERE ${WANTS_FILE}`,
        [f.label.contentHash, f.id],
      );
  return rowCount === 1;
}

/**
 * Deletes a remote object unless the registry came to know it meanwhile
 * (re-checked just before the call). 404 counts as deleted.
 * @returns `deleted`, `known` (left alone), or the error OpenAI answered
 */
export async function deleteUnknown(
  deps: OrphanDeps,
  resource: CleanupRemoteResource,
  id: string,
): Promise<'deleted' | 'known' | { error: string }> {
  const sql =
    resource === 'file'
      ? `SELECT 1 FROM files WHERE openai_file_id = $1`
      : `SELECT 1 FROM filesets WHERE vector_store_id = $1 UNION ALL SELECT 1 FROM external_vector_stores WHERE vector_store_id = $1`;
  if ((await deps.db.pool.query(sql, [id])).rowCount) return 'known';
  try {
    if (resource === 'file') await deps.openai.files.delete(id);
    else await deps.openai.vectorStores.delete(id);
    return 'deleted';
  } catch (err) {
    if (err instanceof NotFoundError) return 'deleted';
    return { error: classifyOpenAIError(err).message };
  }
}

/**
 * Runs the orphan sweep once: deletes (or adopts) this deployment's unknown
 * labelled objects older than `graceHours`. Idempotent.
 */
export async function sweepOrphans(
  deps: OrphanDeps,
  options: { now: Date; graceHours?: number; dryRun?: boolean },
): Promise<SweepReport> {
  const graceHours = options.graceHours ?? deps.config.orphanGraceHours;
  const orphans = await findOrphans(deps, options.now, graceHours);
  const report: SweepReport = {
    deployment: orphans.deployment,
    graceHours,
    vectorStores: [],
    files: [],
    adopted: [],
    young: orphans.young,
    failed: [],
  };
  for (const s of orphans.vectorStores) {
    const entry = { vectorStoreId: s.id, createdAt: iso(s.createdAt) };
    if (options.dryRun) {
      report.vectorStores.push(entry);
      continue;
    }
    const r = await deleteUnknown(deps, 'vector_store', s.id);
    if (r === 'deleted') {
      report.vectorStores.push(entry);
      cleanupDeletedTotal.inc({ resource: 'vector_store' });
    } else if (r !== 'known') {
      report.failed.push({ resource: 'vector_store', id: s.id, error: r.error });
      cleanupFailedTotal.inc({ resource: 'vector_store' });
    }
  }
  for (const f of orphans.files) {
    const entry = { openaiFileId: f.id, contentHash: f.label.contentHash, bytes: f.bytes, createdAt: iso(f.createdAt) };
    if (await adoptFile(deps.db.pool, f, options.dryRun)) {
      report.adopted.push({ openaiFileId: f.id, contentHash: f.label.contentHash });
      continue;
    }
    if (options.dryRun) {
      report.files.push(entry);
      continue;
    }
    const r = await deleteUnknown(deps, 'file', f.id);
    if (r === 'deleted') {
      report.files.push(entry);
      cleanupDeletedTotal.inc({ resource: 'file' });
    } else if (r !== 'known') {
      report.failed.push({ resource: 'file', id: f.id, error: r.error });
      cleanupFailedTotal.inc({ resource: 'file' });
    }
  }
  deps.logger.info(
    {
      deployment: report.deployment,
      graceHours,
      dryRun: options.dryRun ?? false,
      vectorStores: report.vectorStores.length,
      files: report.files.length,
      adopted: report.adopted.length,
      young: report.young,
      failed: report.failed.length,
    },
    'orphan sweep',
  );
  return report;
}
