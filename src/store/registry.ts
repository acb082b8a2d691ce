/**
 * The file and vector-store registry in Postgres. Claims make remote
 * creation exactly-once under races: the job whose INSERT … ON CONFLICT or
 * conditional UPDATE returns the row owns the remote call; the others wait
 * for its result, or take the claim over when it is older than `staleMs`
 * (its owner died between claiming and recording).
 */
import type pg from 'pg';
import type { Config } from '../config/config.ts';
import type { ChunkingStrategy } from '../files/fileset.ts';
import {
  type ExternalStoreMode,
  FILE_STATUS as F,
  FILESET_FILE_STATUS as FF,
  FILESET_STATUS as FS,
  type FileStatus,
  type FilesetOutcome,
  type FilesetStatus,
} from './statuses.ts';

/**
 * A TTL cleanup's `deleting` claim older than this belongs to a cleanup that
 * died between claiming and recording (its OpenAI call times out long
 * before): the next cleanup run takes it over, and a sync that needs the
 * row returns it to its live status (docs/design.md, "TTL cleanup").
 */
export const DELETE_CLAIM_STALE_SQL = `interval '10 minutes'`;

/**
 * Returns a store or file whose deleting cleanup died to its live status
 * (a store to `completed`: the associate then checks it at OpenAI and
 * recreates it if it went). The row lock makes this and a cleanup taking
 * the same claim over exclusive. @returns true when a row was released.
 */
export async function releaseStaleDeletion(pool: pg.Pool, kind: 'fileset' | 'file', key: string): Promise<boolean> {
  const { rowCount } =
    kind === 'fileset'
      ? await pool.query(
          `UPDATE filesets SET status = '${FS.completed}', claimed_by = NULL
           WHERE fileset_hash = $1 AND status = '${FS.deleting}' AND claimed_at < now() - ${DELETE_CLAIM_STALE_SQL}`,
          [key],
        )
      : await pool.query(
          `UPDATE files SET status = '${F.uploaded}', claimed_by = NULL
           WHERE content_hash = $1 AND status = '${F.deleting}' AND claimed_at < now() - ${DELETE_CLAIM_STALE_SQL}`,
          [key],
        );
  return rowCount === 1;
}

export interface FileRow {
  contentHash: string;
  filename: string;
  bytes: number;
  status: FileStatus;
  openaiFileId: string | null;
}

export interface FilesetRow {
  filesetHash: string;
  contentHashes: string[];
  status: FilesetStatus;
  vectorStoreId: string | null;
  claimedBy: string | null;
  recreated: number;
}

/** Stores the bytes of a file once (content-addressed). */
export async function saveBlobs(pool: pg.Pool, blobs: Array<{ contentHash: string; data: Uint8Array }>): Promise<void> {
  if (!blobs.length) return;
  const { rows } = await pool.query<{ content_hash: string }>(
    `SELECT content_hash FROM file_blobs WHERE content_hash = ANY($1::text[])`,
    [blobs.map((b) => b.contentHash)],
  );
  const have = new Set(rows.map((r) => r.content_hash));
  for (const b of blobs) {
    if (have.has(b.contentHash)) continue;
    await pool.query(`INSERT INTO file_blobs (content_hash, data) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [
      b.contentHash,
      Buffer.from(b.data),
    ]);
  }
}

export async function loadBlob(pool: pg.Pool, contentHash: string): Promise<Buffer | undefined> {
  const { rows } = await pool.query<{ data: Buffer }>(`SELECT data FROM file_blobs WHERE content_hash = $1`, [
    contentHash,
  ]);
  return rows[0]?.data;
}

/** Records files (intent) so they can be claimed; existing rows are kept. */
export async function registerFiles(
  pool: pg.Pool,
  files: Array<{ contentHash: string; filename: string; bytes: number }>,
): Promise<void> {
  if (!files.length) return;
  await pool.query(
    `INSERT INTO files (content_hash, filename, bytes)
     SELECT x.h, x.f, x.b FROM unnest($1::text[], $2::text[], $3::bigint[]) AS x(h, f, b)
     ON CONFLICT (content_hash) DO NOTHING`,
    [files.map((f) => f.contentHash), files.map((f) => f.filename), files.map((f) => f.bytes)],
  );
}

function toFile(r: {
  content_hash: string;
  filename: string;
  bytes: string;
  status: FileRow['status'];
  openai_file_id: string | null;
}): FileRow {
  return {
    contentHash: r.content_hash,
    filename: r.filename,
    bytes: Number(r.bytes),
    status: r.status,
    // A File TTL cleanup is deleting is never handed out (docs/design.md, "TTL cleanup").
    openaiFileId: r.status === F.deleting ? null : r.openai_file_id,
  };
}

export async function getFiles(pool: pg.Pool, hashes: string[]): Promise<Map<string, FileRow>> {
  const { rows } = await pool.query(
    `SELECT content_hash, filename, bytes, status, openai_file_id FROM files WHERE content_hash = ANY($1::text[])`,
    [hashes],
  );
  return new Map(rows.map((r) => [r.content_hash as string, toFile(r)]));
}

/**
 * An upload claim older than this is taken over (its owner died mid-upload),
 * ms: five times OPENAI_TIMEOUT_MS (3 min 45 s at its default of 45 s), so a
 * slow but live upload (one request under that timeout, after a budget
 * wait) is never taken over, while a dead owner holds a file back no longer.
 */
export function uploadClaimStaleMs(config: Pick<Config, 'openai'>): number {
  return 5 * config.openai.timeoutMs;
}

/** A claim this owner now holds, and what it took over. */
export interface Claim {
  /**
   * The status the row had: `uploading` / `creating` means an earlier
   * owner (a dead job, or this job before a crash) claimed it and never
   * recorded its result, so its remote object may exist, labelled, unrecorded.
   */
  previousStatus: string;
  /** Who held that earlier claim: this owner again means a retry of the same job. */
  previousOwner: string | null;
  /** When that earlier claim was taken (the database's clock), if any. */
  previousClaimedAt: Date | null;
}

/**
 * Claims the upload of a file: succeeds when nobody holds it, the holder is
 * this owner (a retry), or the claim is older than `staleMs`.
 * @returns the claim when this owner must upload (see {@link Claim}), else undefined.
 */
export async function claimFileUpload(
  pool: pg.Pool,
  contentHash: string,
  owner: string,
  staleMs: number,
): Promise<Claim | undefined> {
  // The row lock of FOR UPDATE makes racing claimers re-check the predicate on the row the winner wrote.
  const { rows } = await pool.query<{
    previous_status: string;
    previous_owner: string | null;
    previous_claimed_at: Date | null;
  }>(
    `WITH old AS (
       SELECT content_hash, status, claimed_by, claimed_at FROM files
       WHERE content_hash = $1 AND openai_file_id IS NULL
         AND (status IN ('${F.pending}', '${F.failed}', '${F.deleted}') OR claimed_by = $2 OR claimed_at < now() - ($3 || ' milliseconds')::interval)
       FOR UPDATE
     )
     UPDATE files f SET status = '${F.uploading}', claimed_by = $2, claimed_at = now()
     FROM old WHERE f.content_hash = old.content_hash
     RETURNING old.status AS previous_status, old.claimed_by AS previous_owner, old.claimed_at AS previous_claimed_at`,
    [contentHash, owner, String(staleMs)],
  );
  const r = rows[0];
  return r
    ? { previousStatus: r.previous_status, previousOwner: r.previous_owner, previousClaimedAt: r.previous_claimed_at }
    : undefined;
}

export async function recordUpload(pool: pg.Pool, contentHash: string, fileId: string): Promise<void> {
  await pool.query(
    `UPDATE files SET status = '${F.uploaded}', openai_file_id = $2, uploaded_at = now(), last_used_at = now(), last_error = NULL, delete_error = NULL WHERE content_hash = $1`,
    [contentHash, fileId],
  );
}

/** Forgets an OpenAI file id that OpenAI no longer knows (404), so the file is uploaded again. */
export async function forgetFileId(pool: pg.Pool, contentHash: string, fileId: string): Promise<void> {
  await pool.query(
    `UPDATE files SET status = '${F.pending}', openai_file_id = NULL, claimed_by = NULL WHERE content_hash = $1 AND openai_file_id = $2`,
    [contentHash, fileId],
  );
}

/** Marks files used (for the TTL), at most once an hour per row so reuse stays cheap. */
export async function touchFiles(pool: pg.Pool, hashes: string[]): Promise<void> {
  await pool.query(
    `UPDATE files SET last_used_at = now() WHERE content_hash = ANY($1::text[]) AND last_used_at < now() - interval '1 hour'`,
    [hashes],
  );
}

/**
 * Marks the files of a sync used before it reads them
 * (docs/design.md, "TTL cleanup"): unthrottled, so TTL cleanup, whose claim re-checks the last use
 * under the row lock, cannot take a file after this, and keeps the bytes of
 * one it was deleting meanwhile.
 */
export async function holdFiles(pool: pg.Pool, hashes: string[]): Promise<void> {
  await pool.query(`UPDATE files SET last_used_at = now(), delete_error = NULL WHERE content_hash = ANY($1::text[])`, [
    hashes,
  ]);
}

function toFileset(r: {
  fileset_hash: string;
  content_hashes: string[];
  status: FilesetRow['status'];
  vector_store_id: string | null;
  claimed_by: string | null;
  recreated: number;
}): FilesetRow {
  return {
    filesetHash: r.fileset_hash,
    contentHashes: r.content_hashes,
    status: r.status,
    vectorStoreId: r.vector_store_id,
    claimedBy: r.claimed_by,
    recreated: r.recreated,
  };
}

/**
 * Records a fileset (intent) if new, with the collection its store is made
 * for (kept on a known fileset that has none yet); returns its row.
 */
export async function ensureFileset(
  pool: pg.Pool,
  hash: string,
  contentHashes: string[],
  chunking: ChunkingStrategy,
  files: Array<{ contentHash: string; filename: string }>,
  collection: string,
): Promise<FilesetRow> {
  const created = await pool.query(
    `INSERT INTO filesets (fileset_hash, content_hashes, chunking_strategy, collection) VALUES ($1, $2, $3::jsonb, $4)
     ON CONFLICT (fileset_hash) DO UPDATE SET collection = EXCLUDED.collection WHERE filesets.collection IS NULL
     RETURNING (xmax = 0) AS inserted`,
    [hash, [...new Set(contentHashes)].sort(), JSON.stringify(chunking), collection],
  );
  // A known fileset has its files already (the hash fixes them); a crash
  // between the two inserts is repaired by the next sync of the fileset.
  const {
    rows: [count],
  } = created.rows[0]?.inserted
    ? { rows: [{ n: 0 }] }
    : await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM fileset_files WHERE fileset_hash = $1`, [hash]);
  if (count!.n < files.length)
    await pool.query(
      `INSERT INTO fileset_files (fileset_hash, content_hash, filename)
     SELECT $1, x.h, x.f FROM unnest($2::text[], $3::text[]) AS x(h, f)
     ON CONFLICT DO NOTHING`,
      [hash, files.map((f) => f.contentHash), files.map((f) => f.filename)],
    );
  return (await getFileset(pool, hash))!;
}

export async function getFileset(pool: pg.Pool, hash: string): Promise<FilesetRow | undefined> {
  const { rows } = await pool.query(
    `SELECT fileset_hash, content_hashes, status, vector_store_id, claimed_by, recreated FROM filesets WHERE fileset_hash = $1`,
    [hash],
  );
  return rows[0] ? toFileset(rows[0]) : undefined;
}

/**
 * Claims the creation of a fileset's store: when it has none and nobody
 * holds it, this owner holds it already, or the claim is stale.
 * @returns the claim (see {@link Claim}) when this owner must create the store, else undefined.
 */
export async function claimFilesetCreation(
  pool: pg.Pool,
  hash: string,
  owner: string,
  staleMs: number,
): Promise<Claim | undefined> {
  const { rows } = await pool.query<{
    previous_status: string;
    previous_owner: string | null;
    previous_claimed_at: Date | null;
  }>(
    `WITH old AS (
       SELECT fileset_hash, status, claimed_by, claimed_at FROM filesets
       WHERE fileset_hash = $1 AND vector_store_id IS NULL
         AND (status IN ('${FS.pending}', '${FS.failed}', '${FS.deleted}') OR claimed_by = $2 OR claimed_at < now() - ($3 || ' milliseconds')::interval)
       FOR UPDATE
     )
     UPDATE filesets f SET status = '${FS.creating}', claimed_by = $2, claimed_at = now(),
       recreated = f.recreated + (old.status = '${FS.deleted}')::int
     FROM old WHERE f.fileset_hash = old.fileset_hash
     RETURNING old.status AS previous_status, old.claimed_by AS previous_owner, old.claimed_at AS previous_claimed_at`,
    [hash, owner, String(staleMs)],
  );
  const r = rows[0];
  return r
    ? { previousStatus: r.previous_status, previousOwner: r.previous_owner, previousClaimedAt: r.previous_claimed_at }
    : undefined;
}

/**
 * Renews this owner's claim on a fileset (its `claimed_at`), so a live
 * associate that attaches batch after batch is never taken over: its
 * deadline runs per batch (src/openai/poll.ts `ASSOCIATE_DEADLINE_MS`).
 */
export async function renewFilesetClaim(pool: pg.Pool, hash: string, owner: string): Promise<void> {
  await pool.query(`UPDATE filesets SET claimed_at = now() WHERE fileset_hash = $1 AND claimed_by = $2`, [hash, owner]);
}

/** Records the created store right after the remote call. */
export async function recordStore(
  pool: pg.Pool,
  hash: string,
  vectorStoreId: string,
  expiresAt: Date | null,
): Promise<void> {
  await pool.query(
    `UPDATE filesets SET vector_store_id = $2, status = '${FS.in_progress}', expires_at = $3, last_used_at = now() WHERE fileset_hash = $1`,
    [hash, vectorStoreId, expiresAt],
  );
}

/** Final state of a fileset's store after its file batches. */
export async function completeFileset(
  pool: pg.Pool,
  hash: string,
  status: FilesetOutcome,
  counts: Record<string, number>,
): Promise<void> {
  await pool.query(
    `UPDATE filesets SET status = $2, file_counts = $3::jsonb, completed_at = now(), claimed_by = NULL WHERE fileset_hash = $1`,
    [hash, status, JSON.stringify(counts)],
  );
}

/** Forgets a store OpenAI no longer knows, so it is created again (counted as recreated). */
export async function forgetStore(pool: pg.Pool, hash: string, vectorStoreId: string): Promise<void> {
  await pool.query(
    `UPDATE filesets SET vector_store_id = NULL, status = '${FS.pending}', claimed_by = NULL, recreated = recreated + 1 WHERE fileset_hash = $1 AND vector_store_id = $2`,
    [hash, vectorStoreId],
  );
  await pool.query(`UPDATE fileset_files SET status = '${FF.pending}', last_error = NULL WHERE fileset_hash = $1`, [
    hash,
  ]);
}

/**
 * Reserves a live store for a sync: marks it used in the same statement that
 * checks it is still live (`completed`/`partial` with this id), under the row
 * lock TTL cleanup's claim takes too (docs/design.md, "TTL cleanup"). After
 * this returns true the cleanup, which re-checks the last use, skips it.
 * @returns false when the store is being deleted (or was replaced): wait and read again.
 */
export async function reserveStore(pool: pg.Pool, hash: string, vectorStoreId: string): Promise<boolean> {
  const { rowCount } = await pool.query(
    `UPDATE filesets SET last_used_at = now(), delete_error = NULL
     WHERE fileset_hash = $1 AND vector_store_id = $2 AND status IN ('${FS.completed}', '${FS.partial}')`,
    [hash, vectorStoreId],
  );
  return rowCount === 1;
}

/** Per-file outcome in a fileset's store. */
export async function recordFilesetFiles(
  pool: pg.Pool,
  hash: string,
  outcomes: Array<{ contentHash: string; status: string; lastError: unknown }>,
): Promise<void> {
  if (!outcomes.length) return;
  await pool.query(
    `UPDATE fileset_files f SET status = x.s, last_error = x.e::jsonb, updated_at = now()
     FROM unnest($2::text[], $3::text[], $4::text[]) AS x(h, s, e)
     WHERE f.fileset_hash = $1 AND f.content_hash = x.h`,
    [
      hash,
      outcomes.map((o) => o.contentHash),
      outcomes.map((o) => o.status),
      outcomes.map((o) => (o.lastError == null ? null : JSON.stringify(o.lastError))),
    ],
  );
}

export async function filesetFiles(
  pool: pg.Pool,
  hash: string,
): Promise<
  Array<{
    contentHash: string;
    filename: string;
    status: string;
    lastError: { code?: string; message?: string } | null;
    openaiFileId: string | null;
  }>
> {
  const { rows } = await pool.query(
    `SELECT ff.content_hash, ff.filename, ff.status, ff.last_error, f.openai_file_id
     FROM fileset_files ff JOIN files f ON f.content_hash = ff.content_hash WHERE ff.fileset_hash = $1 ORDER BY ff.filename`,
    [hash],
  );
  return rows.map((r) => ({
    contentHash: r.content_hash,
    filename: r.filename,
    status: r.status,
    lastError: r.last_error,
    openaiFileId: r.openai_file_id,
  }));
}

/**
 * Registers a vector store Sluice did not create from a fileset (imported,
 * or to be searched read-only): the orphan sweep, reconcile and TTL cleanup
 * never delete or change it, whatever its labels (docs/design.md, "Labels, orphans and deadlines").
 * Idempotent; a second call updates the mode and collection.
 */
export async function registerExternalStore(
  pool: pg.Pool,
  vectorStoreId: string,
  mode: ExternalStoreMode,
  collection: string | null,
): Promise<void> {
  await pool.query(
    `INSERT INTO external_vector_stores (vector_store_id, mode, collection) VALUES ($1, $2, $3)
     ON CONFLICT (vector_store_id) DO UPDATE SET mode = EXCLUDED.mode, collection = EXCLUDED.collection`,
    [vectorStoreId, mode, collection],
  );
}
