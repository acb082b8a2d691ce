/**
 * Documents and chunks in Postgres. A document's chunks are replaced as a
 * whole, in one transaction, only when its content hash changes, so a worker
 * killed mid-write leaves the previous state and a retry converges.
 */
import type { DocumentKind } from '../extract/types.ts';
import type pg from 'pg';
import { withTransaction } from '../db/db.ts';

/** A chunk as stored: see docs/vocabulary.md, "chunk". */
export interface ChunkRow {
  ordinal: number;
  chunkHash: string;
  /** Document URL plus a fragment that names a real id in the page, when there is one. */
  url: string;
  headingPath: string[];
  text: string;
  /** cl100k_base tokens. */
  tokenCount: number;
}

export interface DocumentInput {
  collectionId: number;
  uri: string;
  kind: DocumentKind;
  title: string;
  /** SHA-256 of the fetched text. */
  contentHash: string;
  bytes: number;
  etag?: string | undefined;
  lastModified?: string | undefined;
  links: string[];
  metadata: Record<string, unknown>;
  chunks: ChunkRow[];
  /**
   * The run that reached the document, recorded as `last_seen_run` with
   * `last_seen_at` (docs/design.md, "Deletion sync"); undefined outside a run.
   */
  seenByRun?: string | undefined;
}

export interface StoredDocument {
  id: number;
  contentHash: string;
  etag: string | null;
  lastModified: string | null;
  links: string[];
}

/** Creates the collection if needed and marks it used; returns its id. */
export async function ensureCollection(pool: pg.Pool, name: string): Promise<number> {
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO collections (name) VALUES ($1)
     ON CONFLICT (name) DO UPDATE SET last_used_at = now()
     RETURNING id`,
    [name],
  );
  return Number(rows[0]!.id);
}

export async function findCollection(pool: pg.Pool, name: string): Promise<number | undefined> {
  const { rows } = await pool.query<{ id: string }>(`SELECT id FROM collections WHERE name = $1`, [name]);
  return rows[0] ? Number(rows[0].id) : undefined;
}

export async function findDocument(
  pool: pg.Pool,
  collectionId: number,
  uri: string,
): Promise<StoredDocument | undefined> {
  const { rows } = await pool.query<{
    id: string;
    content_hash: string;
    etag: string | null;
    last_modified: string | null;
    links: string[];
  }>(`SELECT id, content_hash, etag, last_modified, links FROM documents WHERE collection_id = $1 AND uri = $2`, [
    collectionId,
    uri,
  ]);
  const r = rows[0];
  return (
    r && { id: Number(r.id), contentHash: r.content_hash, etag: r.etag, lastModified: r.last_modified, links: r.links }
  );
}

/**
 * Marks a document fetched, used and seen by `runId` without touching its
 * chunks (a 304), in one statement.
 */
export async function touchDocument(pool: pg.Pool, documentId: number, runId: string): Promise<void> {
  await pool.query(
    `UPDATE documents SET fetched_at = now(), last_used_at = now(), last_seen_at = now(), last_seen_run = $2
     WHERE id = $1`,
    [documentId, runId],
  );
}

/**
 * Upserts a document, marking it seen by `doc.seenByRun` in the same
 * statement; its chunks are rewritten only when the content hash changed (or
 * the document is new).
 * @returns the document id and whether chunks were written.
 */
export async function writeDocument(pool: pg.Pool, doc: DocumentInput): Promise<{ id: number; changed: boolean }> {
  return withTransaction(pool, async (client) => {
    const prev = await client.query<{ id: string; content_hash: string }>(
      `SELECT id, content_hash FROM documents WHERE collection_id = $1 AND uri = $2 FOR UPDATE`,
      [doc.collectionId, doc.uri],
    );
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO documents (collection_id, uri, kind, title, content_hash, bytes, etag, last_modified, links, metadata,
                              last_seen_at, last_seen_run)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, now(), $11)
       ON CONFLICT (collection_id, uri) DO UPDATE SET
         kind = EXCLUDED.kind, title = EXCLUDED.title, content_hash = EXCLUDED.content_hash,
         bytes = EXCLUDED.bytes, etag = EXCLUDED.etag, last_modified = EXCLUDED.last_modified,
         links = EXCLUDED.links, metadata = EXCLUDED.metadata, fetched_at = now(), last_used_at = now(),
         last_seen_at = now(), last_seen_run = EXCLUDED.last_seen_run
       RETURNING id`,
      [
        doc.collectionId,
        doc.uri,
        doc.kind,
        doc.title,
        doc.contentHash,
        doc.bytes,
        doc.etag ?? null,
        doc.lastModified ?? null,
        JSON.stringify(doc.links),
        JSON.stringify(doc.metadata),
        doc.seenByRun ?? null,
      ],
    );
    const id = Number(rows[0]!.id);
    const unchanged = prev.rows[0]?.content_hash === doc.contentHash;
    if (unchanged) return { id, changed: false };
    await client.query(`DELETE FROM chunks WHERE document_id = $1`, [id]);
    await client.query(
      `INSERT INTO chunks (document_id, ordinal, chunk_hash, url, heading_path, text, token_count)
       SELECT $1, x.ordinal, x.chunk_hash, x.url, x.heading_path, x.text, x.token_count
       FROM jsonb_to_recordset($2::jsonb) AS x(ordinal int, chunk_hash text, url text, heading_path text[], text text, token_count int)`,
      [
        id,
        JSON.stringify(
          doc.chunks.map((c) => ({
            ordinal: c.ordinal,
            chunk_hash: c.chunkHash,
            url: c.url,
            heading_path: c.headingPath,
            text: c.text,
            token_count: c.tokenCount,
          })),
        ),
      ],
    );
    return { id, changed: true };
  });
}

/** Chunk and token counts of a document. */
export async function documentStats(pool: pg.Pool, documentId: number): Promise<{ chunks: number; tokens: number }> {
  const { rows } = await pool.query<{ chunks: string; tokens: string | null }>(
    `SELECT count(*) AS chunks, sum(token_count) AS tokens FROM chunks WHERE document_id = $1`,
    [documentId],
  );
  return { chunks: Number(rows[0]!.chunks), tokens: Number(rows[0]!.tokens ?? 0) };
}
