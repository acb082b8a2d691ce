/**
 * The one path by which documents leave a collection: deletion sync today,
 * TTL cleanup and a delete API later (docs/design.md, "Deletion sync").
 *
 * A document's chunks go with it (`ON DELETE CASCADE`), so search, which
 * joins chunks to documents, never returns them again. Embeddings stay:
 * they are content-addressed and shared by every collection with the same
 * text (docs/vocabulary.md, "embedding"); TTL cleanup owns them.
 *
 * Each batch is one statement that deletes the documents and writes their
 * ledger rows (`document_removals`) together, so a crash leaves either both
 * or neither, and a repeated call finds nothing left to delete: it converges
 * without duplicate ledger rows.
 */
import type pg from 'pg';
import { type DocumentRemovalReason, documentsDeletedTotal } from '../metrics/metrics.ts';

/** Documents per statement: bounds the transaction and the lock list. */
const BATCH = 1000;

export interface RemoveDocumentsRequest {
  collectionId: number;
  /** The documents to remove (ids of `documents` rows of that collection). */
  documentIds: number[];
  reason: DocumentRemovalReason;
  /** The run that decided the removal, recorded in the ledger; documents it reached itself are never removed. */
  runId?: string | undefined;
  /**
   * Remove a document only if no run reached it at or after this time (a
   * Postgres timestamptz, as text or Date): a document another run reached
   * meanwhile stays. Deletion sync passes the run's start; TTL cleanup will
   * pass now minus the TTL.
   */
  unseenSince?: string | Date | undefined;
}

export interface RemoveDocumentsResult {
  /** Documents removed by this call (already removed ones are not counted again). */
  removed: number;
  uris: string[];
}

/**
 * Removes documents (and their chunks) from a collection, writes one ledger
 * row per document removed and counts `sluice_documents_deleted_total{reason}`.
 * Idempotent.
 */
export async function removeDocuments(pool: pg.Pool, req: RemoveDocumentsRequest): Promise<RemoveDocumentsResult> {
  const ids = [...new Set(req.documentIds)];
  const uris: string[] = [];
  for (let i = 0; i < ids.length; i += BATCH) {
    const { rows } = await pool.query<{ uri: string }>(
      `WITH gone AS (
         DELETE FROM documents d
         WHERE d.collection_id = $1 AND d.id = ANY($2::bigint[])
           AND ($4::text IS NULL OR d.last_seen_run IS DISTINCT FROM $4)
           AND ($5::timestamptz IS NULL OR d.last_seen_at IS NULL OR d.last_seen_at < $5)
         RETURNING d.uri, d.content_hash
       )
       INSERT INTO document_removals (collection, uri, content_hash, reason, run_id)
       SELECT c.name, g.uri, g.content_hash, $3, $4 FROM gone g JOIN collections c ON c.id = $1
       RETURNING uri`,
      [req.collectionId, ids.slice(i, i + BATCH), req.reason, req.runId ?? null, req.unseenSince ?? null],
    );
    documentsDeletedTotal.inc({ reason: req.reason }, rows.length);
    for (const r of rows) uris.push(r.uri);
  }
  return { removed: uris.length, uris: uris.sort() };
}
