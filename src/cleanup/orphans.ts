/**
 * The orphan sweep (docs/design.md, "Labels, orphans and deadlines"), a step of TTL
 * cleanup: Files and vector stores labelled with this deployment
 * (src/openai/labels.ts) that the registry does not know — created by a job
 * that died before recording them, or left when their rows were lost — are
 * deleted once older than the grace period (ORPHAN_GRACE_HOURS, 24 h by
 * default: a younger one may belong to a job that is about to record it).
 *
 * An object whose registry row is being created right now (a File whose
 * content is `uploading`, a store whose fileset is `creating`, under a claim
 * that is not stale) is in flight whatever its age and clocks: the job that
 * holds the claim records it, or the next one to take the claim finds it by
 * its label and reuses it.
 *
 * Never touched: objects of other deployments or with no label, vector
 * stores Sluice did not create from a fileset (no `sluice_fileset` in their
 * label) and stores registered as imported or read-only
 * (`external_vector_stores`). A labelled File whose content the registry
 * still wants (its row has no File and is `pending`, `failed`, or
 * `uploading` under a stale claim) is recorded instead of deleted: the next
 * sync then uploads nothing.
 */
import { NotFoundError } from 'openai';
import { cleanupDeletedTotal, cleanupFailedTotal, type CleanupRemoteResource } from '../metrics/metrics.ts';
import { classifyOpenAIError } from '../openai/errors.ts';
import { type LabelledFile, type LabelledStore, labelledFiles, labelledStores } from '../openai/labelled.ts';
import { ASSOCIATE_DEADLINE_MS } from '../openai/poll.ts';
import type { JobContext } from '../runtime/job-context.ts';
import { deploymentId } from '../store/deployment.ts';
import { uploadClaimStaleMs } from '../store/registry.ts';
import { FILE_STATUS as F, FILESET_STATUS as FS } from '../store/statuses.ts';

/** What the sweep needs: a JobContext or a Runtime's context. */
export type OrphanDeps = Pick<JobContext, 'config' | 'logger' | 'db' | 'openai'>;

const HOUR_MS = 3600 * 1000;

/** Labelled objects of this deployment the registry does not know, older and younger than the grace period. */
export interface Orphans {
  deployment: string;
  /** Older than the grace period: the sweep deletes (or adopts) these. */
  files: LabelledFile[];
  vectorStores: LabelledStore[];
  /** Younger, or being created under a live claim: in flight, left alone. */
  young: { files: number; vectorStores: number };
}

/**
 * Live claims: `$2` the stale time in ms. Store-creation claims go stale
 * after the associate's deadline (src/openai/poll.ts), upload claims after
 * 5 × OPENAI_TIMEOUT_MS (src/store/registry.ts `uploadClaimStaleMs`).
 */
const LIVE_CLAIM = `claimed_at > now() - ($2 || ' milliseconds')::interval`;

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
  const uploading = await known(
    pool,
    `SELECT content_hash AS id FROM files WHERE content_hash = ANY($1::text[]) AND status = '${F.uploading}' AND ${LIVE_CLAIM}`,
    files.map((f) => f.label.contentHash),
    uploadClaimStaleMs(deps.config),
  );
  for (const f of files) {
    if (knownFiles.has(f.id)) continue;
    if (f.createdAt <= cutoffSeconds && !uploading.has(f.label.contentHash)) out.files.push(f);
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
  const creating = await known(
    pool,
    `SELECT fileset_hash AS id FROM filesets WHERE fileset_hash = ANY($1::text[]) AND status = '${FS.creating}' AND ${LIVE_CLAIM}`,
    stores.map((s) => s.label.filesetHash ?? ''),
    ASSOCIATE_DEADLINE_MS,
  );
  for (const s of stores) {
    if (knownStores.has(s.id)) continue;
    if (s.createdAt <= cutoffSeconds && !creating.has(s.label.filesetHash ?? '')) out.vectorStores.push(s);
    else out.young.vectorStores++;
  }
  return out;
}

async function known(
  pool: OrphanDeps['db']['pool'],
  sql: string,
  ids: string[],
  staleMs?: number,
): Promise<Set<string>> {
  if (!ids.length) return new Set();
  const { rows } = await pool.query<{ id: string }>(sql, staleMs === undefined ? [ids] : [ids, String(staleMs)]);
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

/**
 * A registry row that wants a File for this content: none recorded, and
 * `pending`, `failed` or `uploading` under a stale claim ($3, ms: its owner
 * died, likely after creating this very File).
 */
const WANTS_FILE = `content_hash = $1 AND openai_file_id IS NULL
  AND (status IN ('${F.pending}', '${F.failed}') OR (status = '${F.uploading}' AND claimed_at < now() - ($3 || ' milliseconds')::interval))
  AND NOT EXISTS (SELECT 1 FROM files WHERE openai_file_id = $2)`;

/**
 * Records an orphan File for its content when the registry's row wants one
 * (see {@link WANTS_FILE}), under the row lock. @returns true when adopted
 */
export async function adoptFile(
  deps: Pick<OrphanDeps, 'config' | 'db'>,
  f: LabelledFile,
  dryRun = false,
): Promise<boolean> {
  const params = [f.label.contentHash, f.id, String(uploadClaimStaleMs(deps.config))];
  const { rowCount } = dryRun
    ? await deps.db.pool.query(`SELECT 1 FROM files WHERE ${WANTS_FILE}`, params)
    : await deps.db.pool.query(
        `UPDATE files SET status = '${F.uploaded}', openai_file_id = $2, uploaded_at = now(), last_error = NULL, claimed_by = NULL
         WHERE ${WANTS_FILE}`,
        params,
      );
  return rowCount === 1;
}

/**
 * Known to the registry, or being created under a claim (see the module
 * comment): $1 the object's id, $2 its label's content or fileset hash.
 */
const HELD = {
  file: `SELECT 1 FROM files WHERE openai_file_id = $1
    OR (content_hash = $2 AND status = '${F.uploading}' AND claimed_at > now() - ($3 || ' milliseconds')::interval)`,
  vector_store: `SELECT 1 FROM filesets WHERE vector_store_id = $1
    OR (fileset_hash = $2 AND status = '${FS.creating}' AND claimed_at > now() - ($3 || ' milliseconds')::interval)
    UNION ALL SELECT 1 FROM external_vector_stores WHERE vector_store_id = $1`,
} as const;

/**
 * Deletes a remote object unless the registry came to know it, or a job
 * began creating its content or fileset, meanwhile (re-checked just before
 * the call). 404 counts as deleted.
 * @param key the content hash (a File) or fileset hash (a store) its label names
 * @returns `deleted`, `known` (left alone), or the error OpenAI answered
 */
export async function deleteUnknown(
  deps: OrphanDeps,
  resource: CleanupRemoteResource,
  id: string,
  key: string,
): Promise<'deleted' | 'known' | { error: string }> {
  const staleMs = resource === 'file' ? uploadClaimStaleMs(deps.config) : ASSOCIATE_DEADLINE_MS;
  if ((await deps.db.pool.query(HELD[resource], [id, key, String(staleMs)])).rowCount) return 'known';
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
    const r = await deleteUnknown(deps, 'vector_store', s.id, s.label.filesetHash ?? '');
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
    if (await adoptFile(deps, f, options.dryRun)) {
      report.adopted.push({ openaiFileId: f.id, contentHash: f.label.contentHash });
      continue;
    }
    if (options.dryRun) {
      report.files.push(entry);
      continue;
    }
    const r = await deleteUnknown(deps, 'file', f.id, f.label.contentHash);
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
