/**
 * Reconcile (docs/design.md, "Reconcile"): compares the registry with OpenAI
 * (stores, Files, attachments, their statuses and file counts) and with
 * pgvector (chunks without embeddings, embeddings without chunks,
 * per-collection document and chunk counts), reports the drift by kind
 * (./drift.ts) and, with `fix`, repairs it:
 *
 * - an extra store or File (labelled with this deployment, unknown to the
 *   registry, older than ORPHAN_GRACE_HOURS) is deleted, or a File whose
 *   content the registry still waits for is recorded (src/cleanup/orphans.ts);
 * - a missing File is forgotten (the row goes back to `pending`);
 * - every fileset with a missing store, a missing or detached File, an
 *   extra attachment, a status or count mismatch gets a repair: an associate
 *   job with `repair` (jobs/associate.ts), which uploads what has no File
 *   from the kept bytes, recreates a lost store, re-attaches, detaches and
 *   records what OpenAI reports;
 * - chunks without embeddings get embed jobs;
 * - embeddings without chunks, unused for TTL_DAYS, are deleted.
 *
 * Repairs and embed jobs run as one run (`reconcile-<ms>`) on the ordinary
 * queues, so workers for associate, upload and embed must run (`sluice
 * reconcile --fix` runs them in its own process); reconcile waits for the
 * run, then looks again: the drift it reports after a fix is what is left.
 * Every run is recorded in `reconcile_reports`; the latest over the whole
 * deployment is what `sluice_index_drift{kind}` reports (./gauge.ts).
 * Reconcile reads and repairs; it never deletes anything the registry knows.
 */
import { NotFoundError } from 'openai';
import type { VectorStore } from 'openai/resources/vector-stores/vector-stores';
import { adoptFile, deleteUnknown, findOrphans } from '../cleanup/orphans.ts';
import { waitForRun, type WaitOptions } from '../ingest/ingest.ts';
import { PermanentError } from '../errors/index.ts';
import { classifyOpenAIError } from '../openai/errors.ts';
import type { LabelledFile, LabelledStore } from '../openai/labelled.ts';
import { parseFileLabel, parseStoreLabel } from '../openai/labels.ts';
import { embedJobId, repairJobId } from '../queue/job-ids.ts';
import type { JobContext } from '../runtime/job-context.ts';
import { deploymentId } from '../store/deployment.ts';
import { forgetFileId } from '../store/registry.ts';
import { FILE_STATUS as F, FILESET_FILE_STATUS as FF, FILESET_STATUS as FS } from '../store/statuses.ts';
import { DRIFT_KINDS, type DriftCounts, type DriftItem, type DriftKind, totalDrift, zeroCounts } from './drift.ts';

/** What reconcile needs to look: a JobContext or a Runtime's context (TTL cleanup's deps). */
export type ReconcileDeps = Pick<JobContext, 'config' | 'logger' | 'db' | 'openai' | 'clock'>;
/** What it needs to repair too: the producer and run tracker for its repair and embed jobs. */
export type ReconcileFixDeps = ReconcileDeps & Pick<JobContext, 'producer' | 'tracker' | 'openaiTarget'>;

function canFix(deps: ReconcileDeps): deps is ReconcileFixDeps {
  return 'producer' in deps && 'tracker' in deps && 'openaiTarget' in deps;
}

export interface ReconcileOptions {
  /** Only this collection's filesets, stores, documents and chunks (Files no fileset names and embeddings are not checked). */
  collection?: string;
  /** Repair what is found (see the module comment). Needs associate, upload and embed workers. Default false. */
  fix?: boolean;
  /** The time ages are measured from (default: the injected clock's now). */
  now?: Date;
  /** Unknown objects and chunks younger than this are in flight, not drift, hours (default ORPHAN_GRACE_HOURS; 0 counts everything). */
  graceHours?: number;
  /** How the fix waits for its run (abort signal, progress). */
  wait?: WaitOptions;
}

/** Per-collection counts, pgvector and OpenAI side by side. */
export interface CollectionCounts {
  collection: string;
  documents: number;
  chunks: number;
  /** Chunks whose chunk hash has an embedding for the configured model and dimensions. */
  chunksEmbedded: number;
  /** Settled filesets (`completed`/`partial`) with a store. */
  vectorStores: number;
  /** Files the registry has as completed in those stores. */
  filesCompleted: number;
  /** Files OpenAI reports completed in those stores (`file_counts.completed`). */
  filesCompletedAtOpenAI: number;
}

/** What a fix did. */
export interface ReconcileFixes {
  /** The run of repair and embed jobs (none when nothing needed one). */
  runId: string | null;
  vectorStoresDeleted: number;
  filesDeleted: number;
  filesAdopted: number;
  filesForgotten: number;
  /** Filesets whose store got a repair job. */
  storesRepaired: number;
  embedJobs: number;
  embeddingsDeleted: number;
  failed: Array<{ what: string; error: string }>;
}

export interface ReconcileReport {
  deployment: string;
  /** The collection it was limited to, or null for the whole deployment. */
  collection: string | null;
  /** ISO 8601: the clock's time ages were measured from. */
  now: string;
  graceHours: number;
  ttlDays: number;
  fixed: boolean;
  /** Drift found, by kind. */
  found: DriftCounts;
  /** Drift left: after the repairs with `fix`, else what was found. */
  drift: DriftCounts;
  /** What was found, at most {@link MAX_ITEMS_PER_KIND} per kind (counts are exact). */
  items: DriftItem[];
  /** Younger than the grace period, or held by a job or cleanup: not drift. */
  inFlight: { files: number; vectorStores: number; chunks: number; filesets: number };
  collections: CollectionCounts[];
  fixes: ReconcileFixes | null;
  durationSeconds: number;
}

/** Items listed per kind in a report; the counts stay exact. */
export const MAX_ITEMS_PER_KIND = 100;
const HOUR_MS = 3600 * 1000;
const DAY_MS = 24 * HOUR_MS;
/** Vector stores per list page: the most the spec allows (`ListVectorStores`: limit 1..100). */
const STORE_PAGE = 100;
/**
 * Files per list page (docs/openai-facts.md, "Files": limit 1..10000), and
 * attachments per store page (spec `ListVectorStoreFiles`: limit 1..100).
 */
const FILE_PAGE = 10_000;
const ATTACHMENT_PAGE = 100;
/** Embeddings per DELETE statement (as TTL cleanup). */
const EMBEDDING_BATCH = 5000;

/** Everything detection found, in full (the report lists a capped part). */
interface Detection {
  deployment: string;
  items: Map<DriftKind, DriftItem[]>;
  extraStores: LabelledStore[];
  extraFiles: LabelledFile[];
  missingFiles: Array<{ contentHash: string; fileId: string }>;
  /** Filesets whose store needs a repair job. */
  repair: Set<string>;
  /** Documents with chunks that have no embedding, with those chunk hashes. */
  unembedded: Array<{ uri: string; collection: string; hashes: string[] }>;
  inFlight: ReconcileReport['inFlight'];
  collections: CollectionCounts[];
}

async function listAll<T>(pages: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  try {
    for await (const x of pages) out.push(x);
  } catch (err) {
    throw classifyOpenAIError(err);
  }
  return out;
}

/** Is the store gone (404 or expired)? Asked once more for a store the list did not show. */
async function storeGone(deps: ReconcileDeps, id: string, listed: VectorStore | undefined): Promise<boolean> {
  if (listed) return listed.status === 'expired';
  try {
    return (await deps.openai.vectorStores.retrieve(id)).status === 'expired';
  } catch (err) {
    if (err instanceof NotFoundError) return true;
    throw classifyOpenAIError(err);
  }
}

async function fileGone(deps: ReconcileDeps, id: string): Promise<boolean> {
  try {
    await deps.openai.files.retrieve(id);
    return false;
  } catch (err) {
    if (err instanceof NotFoundError) return true;
    throw classifyOpenAIError(err);
  }
}

/** Looks for drift. Reads only. */
async function detect(
  deps: ReconcileDeps,
  collection: string | undefined,
  now: Date,
  graceHours: number,
): Promise<Detection> {
  const pool = deps.db.pool;
  const deployment = await deploymentId(deps);
  const found: Detection = {
    deployment,
    items: new Map(DRIFT_KINDS.map((k) => [k, []])),
    extraStores: [],
    extraFiles: [],
    missingFiles: [],
    repair: new Set(),
    unembedded: [],
    inFlight: { files: 0, vectorStores: 0, chunks: 0, filesets: 0 },
    collections: [],
  };
  const add = (item: DriftItem) => found.items.get(item.kind)!.push(item);

  // What OpenAI holds: every store and every File of purpose assistants.
  const stores = await listAll(deps.openai.vectorStores.list({ limit: STORE_PAGE }));
  const storesById = new Map(stores.map((s) => [s.id, s]));
  const files = await listAll(deps.openai.files.list({ purpose: 'assistants', limit: FILE_PAGE }));
  const fileIds = new Set(files.map((f) => f.id));

  // Extra objects: this deployment's labelled ones the registry does not know (the orphan sweep's list).
  const labelledFiles: LabelledFile[] = [];
  for (const f of files) {
    const label = parseFileLabel(f.filename);
    if (label?.deployment === deployment)
      labelledFiles.push({ id: f.id, createdAt: f.created_at, bytes: f.bytes, label });
  }
  const labelledStores: LabelledStore[] = [];
  for (const s of stores) {
    const label = parseStoreLabel(s.metadata);
    if (label?.deployment === deployment && label.filesetHash)
      labelledStores.push({ id: s.id, createdAt: s.created_at, status: s.status, label });
  }
  const orphans = await findOrphans(deps, now, graceHours, { files: labelledFiles, stores: labelledStores });
  found.extraStores = orphans.vectorStores.filter((s) => !collection || s.label.collection === collection);
  for (const s of found.extraStores)
    add({
      kind: 'extra_store',
      id: s.id,
      collection: s.label.collection,
      filesetHash: s.label.filesetHash,
      detail: `labelled store created ${new Date(s.createdAt * 1000).toISOString()}, no fileset names it`,
    });
  found.inFlight.vectorStores = orphans.young.vectorStores;
  if (!collection) {
    // A File names no collection: only a whole-deployment reconcile looks for extra Files.
    found.extraFiles = orphans.files;
    for (const f of found.extraFiles)
      add({
        kind: 'extra_file',
        id: f.id,
        contentHash: f.label.contentHash,
        detail: `labelled File ${f.label.filename} created ${new Date(f.createdAt * 1000).toISOString()}, no registry row names it`,
      });
    found.inFlight.files = orphans.young.files;
  }

  // Settled filesets with a store; the others are in flight (a job creates or attaches, a cleanup deletes).
  const { rows: filesets } = await pool.query<{
    fileset_hash: string;
    vector_store_id: string;
    collection: string | null;
    file_counts: Record<string, number>;
  }>(
    `SELECT fileset_hash, vector_store_id, collection, file_counts FROM filesets
     WHERE vector_store_id IS NOT NULL AND status IN ('${FS.completed}', '${FS.partial}')
       AND ($1::text IS NULL OR collection = $1)
     ORDER BY fileset_hash`,
    [collection ?? null],
  );
  const {
    rows: [busy],
  } = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM filesets
     WHERE status IN ('${FS.creating}', '${FS.in_progress}', '${FS.deleting}') AND ($1::text IS NULL OR collection = $1)`,
    [collection ?? null],
  );
  found.inFlight.filesets = busy!.n;

  // Files: every uploaded File the registry names (in scope) must exist.
  const { rows: uploaded } = await pool.query<{ content_hash: string; openai_file_id: string }>(
    `SELECT f.content_hash, f.openai_file_id FROM files f
     WHERE f.status = '${F.uploaded}' AND f.openai_file_id IS NOT NULL
       AND ($1::text IS NULL OR EXISTS (
         SELECT 1 FROM fileset_files ff JOIN filesets s ON s.fileset_hash = ff.fileset_hash
         WHERE ff.content_hash = f.content_hash AND s.collection = $1))
     ORDER BY f.content_hash`,
    [collection ?? null],
  );
  const missingFileIds = new Set<string>();
  for (const f of uploaded) {
    if (fileIds.has(f.openai_file_id) || !(await fileGone(deps, f.openai_file_id))) continue;
    // TTL cleanup may have claimed it since the registry was read: then it is not drift.
    const still = await pool.query(
      `SELECT 1 FROM files WHERE content_hash = $1 AND openai_file_id = $2 AND status = '${F.uploaded}'`,
      [f.content_hash, f.openai_file_id],
    );
    if (!still.rowCount) continue;
    missingFileIds.add(f.openai_file_id);
    found.missingFiles.push({ contentHash: f.content_hash, fileId: f.openai_file_id });
    add({
      kind: 'missing_file',
      id: f.openai_file_id,
      contentHash: f.content_hash,
      detail: 'the registry has this File uploaded; OpenAI does not know it',
    });
  }

  // Stores, their attachments, statuses and counts.
  for (const fs of filesets) {
    const c = fs.collection ?? undefined;
    const listed = storesById.get(fs.vector_store_id);
    let attachments: Array<{ id: string; status: string }> | undefined;
    if (!(await storeGone(deps, fs.vector_store_id, listed))) {
      try {
        attachments = await listAll(
          deps.openai.vectorStores.files.list(fs.vector_store_id, { limit: ATTACHMENT_PAGE }),
        );
      } catch (err) {
        if (!(err instanceof PermanentError && err.cause instanceof NotFoundError)) throw err;
      }
    }
    if (!attachments) {
      // TTL cleanup may have claimed it since the registry was read: then it is not drift.
      const still = await pool.query(
        `SELECT 1 FROM filesets WHERE fileset_hash = $1 AND vector_store_id = $2 AND status IN ('${FS.completed}', '${FS.partial}')`,
        [fs.fileset_hash, fs.vector_store_id],
      );
      if (!still.rowCount) {
        found.inFlight.filesets++;
        continue;
      }
      add({
        kind: 'missing_store',
        id: fs.vector_store_id,
        collection: c,
        filesetHash: fs.fileset_hash,
        detail: `the registry has this store ${listed ? 'live; OpenAI has it expired' : 'live; OpenAI does not know it'}`,
      });
      found.repair.add(fs.fileset_hash);
      continue;
    }
    const attached = new Map(attachments.map((f) => [f.id, f.status]));
    const { rows: members } = await pool.query<{ content_hash: string; status: string; openai_file_id: string | null }>(
      `SELECT ff.content_hash, ff.status, f.openai_file_id FROM fileset_files ff
       JOIN files f ON f.content_hash = ff.content_hash WHERE ff.fileset_hash = $1`,
      [fs.fileset_hash],
    );
    const memberIds = new Set(members.map((m) => m.openai_file_id).filter((id): id is string => id !== null));
    const base = { collection: c, filesetHash: fs.fileset_hash };
    let drifted = false;
    for (const m of members) {
      if (!m.openai_file_id) continue;
      if (missingFileIds.has(m.openai_file_id)) {
        drifted = true; // counted as missing_file
        continue;
      }
      const remote = attached.get(m.openai_file_id);
      const item = { ...base, id: m.openai_file_id, contentHash: m.content_hash };
      if (m.status === FF.completed && remote === undefined) {
        add({
          ...item,
          kind: 'detached_file',
          detail: `completed in the registry; not attached to ${fs.vector_store_id}`,
        });
        drifted = true;
      } else if (
        (m.status === FF.completed && remote !== FF.completed) ||
        (m.status !== FF.completed && (remote === FF.completed || remote === FF.in_progress))
      ) {
        add({ ...item, kind: 'status_mismatch', detail: `${m.status} in the registry; ${remote} at OpenAI` });
        drifted = true;
      }
    }
    for (const id of attached.keys()) {
      if (memberIds.has(id)) continue;
      add({ ...base, kind: 'extra_attachment', id, detail: `attached to ${fs.vector_store_id}; not in its fileset` });
      drifted = true;
    }
    const remoteCompleted =
      listed?.file_counts.completed ?? [...attached.values()].filter((s) => s === 'completed').length;
    const recorded = fs.file_counts.completed ?? 0;
    if (remoteCompleted !== recorded) {
      add({
        ...base,
        kind: 'file_count_mismatch',
        id: fs.vector_store_id,
        detail: `${recorded} files completed in the registry; ${remoteCompleted} at OpenAI`,
      });
      drifted = true;
    }
    if (drifted) found.repair.add(fs.fileset_hash);
  }
  // A missing File held by a live store outside the ones above (another collection) still needs a repair.
  if (found.missingFiles.length) {
    const { rows } = await pool.query<{ fileset_hash: string }>(
      `SELECT DISTINCT ff.fileset_hash FROM fileset_files ff JOIN filesets s ON s.fileset_hash = ff.fileset_hash
       WHERE ff.content_hash = ANY($1::text[]) AND s.vector_store_id IS NOT NULL
         AND s.status IN ('${FS.completed}', '${FS.partial}') AND ($2::text IS NULL OR s.collection = $2)`,
      [found.missingFiles.map((f) => f.contentHash), collection ?? null],
    );
    for (const r of rows) found.repair.add(r.fileset_hash);
  }

  // pgvector: chunks with no embedding for the configured model, their documents older than the grace period.
  const { model, dimensions } = deps.config.embedding;
  const settled = new Date(now.getTime() - graceHours * HOUR_MS);
  const { rows: unembedded } = await pool.query<{
    uri: string;
    collection: string;
    hashes: string[];
    chunks: number;
    young: boolean;
  }>(
    `SELECT d.uri, c.name AS collection, array_agg(DISTINCT ch.chunk_hash ORDER BY ch.chunk_hash) AS hashes,
            count(*)::int AS chunks, d.fetched_at > $3 AS young
     FROM chunks ch JOIN documents d ON d.id = ch.document_id JOIN collections c ON c.id = d.collection_id
     WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.model = $1 AND e.dimensions = $2 AND e.chunk_hash = ch.chunk_hash)
       AND ($4::text IS NULL OR c.name = $4)
     GROUP BY d.id, d.uri, c.name, d.fetched_at
     ORDER BY c.name, d.uri`,
    [model, dimensions, settled, collection ?? null],
  );
  for (const d of unembedded) {
    if (d.young) {
      found.inFlight.chunks += d.chunks;
      continue;
    }
    found.unembedded.push({ uri: d.uri, collection: d.collection, hashes: d.hashes });
    for (const h of d.hashes)
      add({
        kind: 'chunk_without_embedding',
        id: h,
        collection: d.collection,
        detail: `a chunk of ${d.uri} has no ${model}/${dimensions} embedding`,
      });
  }

  // Embeddings no chunk references, unused for TTL_DAYS (younger ones are the dedup cache). Not per collection.
  if (!collection) {
    const cutoff = new Date(now.getTime() - deps.config.ttlDays * DAY_MS);
    const { rows } = await pool.query<{ model: string; dimensions: number; chunk_hash: string }>(
      `SELECT e.model, e.dimensions, e.chunk_hash FROM embeddings e
       WHERE e.last_used_at < $1 AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.chunk_hash = e.chunk_hash)
       ORDER BY e.model, e.dimensions, e.chunk_hash`,
      [cutoff],
    );
    for (const e of rows)
      add({
        kind: 'embedding_without_chunk',
        id: `${e.model}/${e.dimensions}/${e.chunk_hash}`,
        detail: `no chunk references it and nobody used it for ${deps.config.ttlDays} days`,
      });
  }

  found.collections = await collectionCounts(deps, collection, storesById);
  return found;
}

/** Documents, chunks and embedded chunks per collection, with its stores' completed files on both sides. */
async function collectionCounts(
  deps: ReconcileDeps,
  collection: string | undefined,
  storesById: Map<string, VectorStore>,
): Promise<CollectionCounts[]> {
  const pool = deps.db.pool;
  const { model, dimensions } = deps.config.embedding;
  const { rows } = await pool.query<{ collection: string; documents: number; chunks: number; embedded: number }>(
    `SELECT c.name AS collection,
            (SELECT count(*)::int FROM documents d WHERE d.collection_id = c.id) AS documents,
            (SELECT count(*)::int FROM chunks ch JOIN documents d ON d.id = ch.document_id WHERE d.collection_id = c.id) AS chunks,
            (SELECT count(*)::int FROM chunks ch JOIN documents d ON d.id = ch.document_id
             WHERE d.collection_id = c.id AND EXISTS (
               SELECT 1 FROM embeddings e WHERE e.model = $1 AND e.dimensions = $2 AND e.chunk_hash = ch.chunk_hash)) AS embedded
     FROM collections c WHERE ($3::text IS NULL OR c.name = $3)`,
    [model, dimensions, collection ?? null],
  );
  const { rows: stores } = await pool.query<{ collection: string; vector_store_id: string; completed: number }>(
    `SELECT coalesce(s.collection, '') AS collection, s.vector_store_id,
            (SELECT count(*)::int FROM fileset_files ff WHERE ff.fileset_hash = s.fileset_hash AND ff.status = '${FF.completed}') AS completed
     FROM filesets s
     WHERE s.vector_store_id IS NOT NULL AND s.status IN ('${FS.completed}', '${FS.partial}')
       AND ($1::text IS NULL OR s.collection = $1)`,
    [collection ?? null],
  );
  const out = new Map<string, CollectionCounts>();
  const entry = (name: string) => {
    let e = out.get(name);
    if (!e) {
      e = {
        collection: name,
        documents: 0,
        chunks: 0,
        chunksEmbedded: 0,
        vectorStores: 0,
        filesCompleted: 0,
        filesCompletedAtOpenAI: 0,
      };
      out.set(name, e);
    }
    return e;
  };
  for (const r of rows)
    Object.assign(entry(r.collection), { documents: r.documents, chunks: r.chunks, chunksEmbedded: r.embedded });
  for (const s of stores) {
    const e = entry(s.collection);
    e.vectorStores++;
    e.filesCompleted += s.completed;
    e.filesCompletedAtOpenAI += storesById.get(s.vector_store_id)?.file_counts.completed ?? 0;
  }
  return [...out.values()].sort((a, b) => a.collection.localeCompare(b.collection));
}

function countsOf(d: Detection): DriftCounts {
  const counts = zeroCounts();
  for (const k of DRIFT_KINDS) counts[k] = d.items.get(k)!.length;
  return counts;
}

/** Repairs what detection found (see the module comment). */
async function repair(
  deps: ReconcileFixDeps,
  d: Detection,
  now: Date,
  options: ReconcileOptions,
): Promise<ReconcileFixes> {
  const pool = deps.db.pool;
  const fixes: ReconcileFixes = {
    runId: null,
    vectorStoresDeleted: 0,
    filesDeleted: 0,
    filesAdopted: 0,
    filesForgotten: 0,
    storesRepaired: 0,
    embedJobs: 0,
    embeddingsDeleted: 0,
    failed: [],
  };
  for (const s of d.extraStores) {
    const r = await deleteUnknown(deps, 'vector_store', s.id, s.label.filesetHash ?? '');
    if (r === 'deleted') fixes.vectorStoresDeleted++;
    else if (r !== 'known') fixes.failed.push({ what: `delete vector store ${s.id}`, error: r.error });
  }
  for (const f of d.extraFiles) {
    if (await adoptFile(deps, f)) {
      fixes.filesAdopted++;
      continue;
    }
    const r = await deleteUnknown(deps, 'file', f.id, f.label.contentHash);
    if (r === 'deleted') fixes.filesDeleted++;
    else if (r !== 'known') fixes.failed.push({ what: `delete file ${f.id}`, error: r.error });
  }
  for (const f of d.missingFiles) {
    await forgetFileId(pool, f.contentHash, f.fileId);
    fixes.filesForgotten++;
  }

  // Repairs and embeddings: jobs of one run on the ordinary queues.
  const runId = `reconcile-${now.getTime()}-${process.pid}`;
  const repairs = await repairJobs(deps, runId, [...d.repair]);
  const embeds = d.unembedded.map((doc) => ({
    jobId: embedJobId(runId, doc.uri, doc.hashes),
    payload: {
      runId,
      collection: doc.collection,
      source: doc.uri,
      model: deps.config.embedding.model,
      dimensions: deps.config.embedding.dimensions,
      chunkHashes: doc.hashes,
    },
  }));
  if (repairs.length || embeds.length) {
    fixes.runId = runId;
    await deps.tracker.start(runId, { collection: options.collection ?? '*', kind: 'reconcile' });
    await deps.producer.add('associate', repairs, runId);
    await deps.producer.add('embed', embeds, runId);
    fixes.storesRepaired = repairs.length;
    fixes.embedJobs = embeds.length;
    await waitForRun(deps, runId, { pollMs: 100, ...options.wait });
    for (const f of await deps.tracker.failures(runId)) fixes.failed.push({ what: f.source, error: f.error });
  }

  if (d.items.get('embedding_without_chunk')!.length) {
    const cutoff = new Date(now.getTime() - deps.config.ttlDays * DAY_MS);
    for (;;) {
      const { rowCount } = await pool.query(
        `DELETE FROM embeddings x USING (
           SELECT e.model, e.dimensions, e.chunk_hash FROM embeddings e
           WHERE e.last_used_at < $1 AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.chunk_hash = e.chunk_hash)
           LIMIT ${EMBEDDING_BATCH}
         ) v
         WHERE x.model = v.model AND x.dimensions = v.dimensions AND x.chunk_hash = v.chunk_hash AND x.last_used_at < $1
           AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.chunk_hash = x.chunk_hash)`,
        [cutoff],
      );
      fixes.embeddingsDeleted += rowCount ?? 0;
      if ((rowCount ?? 0) < EMBEDDING_BATCH) break;
    }
  }
  return fixes;
}

/** One associate job with `repair` per fileset, rebuilt from the registry. */
async function repairJobs(deps: ReconcileFixDeps, runId: string, hashes: string[]) {
  if (!hashes.length) return [];
  const { rows } = await deps.db.pool.query<{
    fileset_hash: string;
    collection: string | null;
    chunking_strategy:
      | { type: 'auto' }
      | { type: 'static'; static: { max_chunk_size_tokens: number; chunk_overlap_tokens: number } };
    files: Array<{ contentHash: string; filename: string; bytes: number }>;
  }>(
    `SELECT s.fileset_hash, s.collection, s.chunking_strategy,
            json_agg(json_build_object('contentHash', ff.content_hash, 'filename', ff.filename, 'bytes', f.bytes)
                     ORDER BY ff.filename) AS files
     FROM filesets s JOIN fileset_files ff ON ff.fileset_hash = s.fileset_hash JOIN files f ON f.content_hash = ff.content_hash
     WHERE s.fileset_hash = ANY($1::text[])
     GROUP BY s.fileset_hash, s.collection, s.chunking_strategy
     ORDER BY s.fileset_hash`,
    [hashes],
  );
  return rows.map((r) => ({
    jobId: repairJobId(runId, r.fileset_hash),
    payload: {
      runId,
      // Filesets registered before collections were recorded: their store is named for `default`.
      collection: r.collection ?? 'default',
      filesetHash: r.fileset_hash,
      files: r.files.map((f) => ({ ...f, bytes: Number(f.bytes) })),
      chunkingStrategy: r.chunking_strategy,
      knownHashes: [],
      repair: true,
    },
  }));
}

/** Records a run's drift; the latest whole-deployment one is what the drift gauge reports. */
async function recordReport(deps: ReconcileDeps, report: ReconcileReport): Promise<void> {
  await deps.db.pool.query(`INSERT INTO reconcile_reports (collection, fixed, drift) VALUES ($1, $2, $3::jsonb)`, [
    report.collection,
    report.fixed,
    JSON.stringify(report.drift),
  ]);
}

/**
 * The drift of the latest reconcile over the whole deployment, or undefined
 * when none has run: what `sluice_index_drift{kind}` reports.
 */
export async function latestDrift(pool: ReconcileDeps['db']['pool']): Promise<DriftCounts | undefined> {
  const { rows } = await pool.query<{ drift: Partial<DriftCounts> }>(
    `SELECT drift FROM reconcile_reports WHERE collection IS NULL ORDER BY id DESC LIMIT 1`,
  );
  if (!rows[0]) return undefined;
  return { ...zeroCounts(), ...rows[0].drift };
}

/**
 * Runs reconcile once: detects drift, repairs it with `fix`, records the
 * run and returns the report. Idempotent: a second run finds what the
 * first left.
 * @throws the classified OpenAI error when OpenAI cannot be listed; Error when `fix` is asked of deps with no producer
 */
export async function runReconcile(
  deps: ReconcileDeps | ReconcileFixDeps,
  options: ReconcileOptions = {},
): Promise<ReconcileReport> {
  if (options.fix && !canFix(deps)) throw new Error('reconcile --fix needs a producer and a run tracker (a Runtime)');
  const started = performance.now();
  const now = options.now ?? deps.clock.now();
  const graceHours = options.graceHours ?? deps.config.orphanGraceHours;
  const collection = options.collection;
  const before = await detect(deps, collection, now, graceHours);
  const found = countsOf(before);
  let after = before;
  let fixes: ReconcileFixes | null = null;
  if (options.fix && canFix(deps) && totalDrift(found) > 0) {
    fixes = await repair(deps, before, now, options);
    after = await detect(deps, collection, now, graceHours);
  }
  const items = DRIFT_KINDS.flatMap((k) => before.items.get(k)!.slice(0, MAX_ITEMS_PER_KIND));
  const report: ReconcileReport = {
    deployment: before.deployment,
    collection: collection ?? null,
    now: now.toISOString(),
    graceHours,
    ttlDays: deps.config.ttlDays,
    fixed: options.fix ?? false,
    found,
    drift: countsOf(after),
    items,
    inFlight: after.inFlight,
    collections: after.collections,
    fixes,
    durationSeconds: 0,
  };
  await recordReport(deps, report);
  report.durationSeconds = Math.round((performance.now() - started) / 10) / 100;
  deps.logger.info(
    {
      deployment: report.deployment,
      collection: report.collection,
      found: Object.fromEntries(DRIFT_KINDS.filter((k) => found[k]).map((k) => [k, found[k]])),
      left: totalDrift(report.drift),
      fixed: report.fixed,
      durationSeconds: report.durationSeconds,
    },
    'reconcile done',
  );
  return report;
}
