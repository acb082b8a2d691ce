/**
 * Documents and chunks in Postgres. A document's chunks are replaced as a
 * whole, in one transaction, only when its content hash or its chunker
 * version changes, so a worker
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
  /** The chunker version that cut `chunks` (src/chunk/chunker.ts `ChunkerVersion`). */
  chunkerVersion: number;
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
  /** The chunker version that cut its chunks. */
  chunkerVersion: number;
}

/** A documents row as the queries below select it. */
interface DocumentRow {
  id: string;
  content_hash: string;
  etag: string | null;
  last_modified: string | null;
  links: string[];
  chunker_version: number;
}

function storedDocument(r: DocumentRow): StoredDocument {
  return {
    id: Number(r.id),
    contentHash: r.content_hash,
    etag: r.etag,
    lastModified: r.last_modified,
    links: r.links,
    chunkerVersion: r.chunker_version,
  };
}

/** Creates the collection if needed and marks it used; returns its id. */
export async function ensureCollection(pool: pg.Pool, name: string): Promise<number> {
  return (await markCollectionUsed(pool, name)).collectionId;
}

export async function findCollection(pool: pg.Pool, name: string): Promise<number | undefined> {
  const { rows } = await pool.query<{ id: string }>(`SELECT id FROM collections WHERE name = $1`, [name]);
  return rows[0] ? Number(rows[0].id) : undefined;
}

/**
 * Reads the collection's id and the stored document at `uri` in one
 * read-only statement: the two reads every crawled page needs. Creates the
 * collection only if it does not exist yet. Marking the collection used is
 * the run's job, once ({@link markCollectionUsed} in `enqueueIngest`): an
 * upsert here rewrote the one collection row on every page, and concurrent
 * pages queued on its row lock and on a commit flush each (about a sixth of
 * an unchanged page's cost).
 */
export async function findDocumentInCollection(
  pool: pg.Pool,
  collection: string,
  uri: string,
): Promise<{ collectionId: number; document: StoredDocument | undefined }> {
  const { rows } = await pool.query<Omit<DocumentRow, 'id'> & { collection_id: string; id: string | null }>(
    `SELECT c.id AS collection_id, d.id, d.content_hash, d.etag, d.last_modified, d.links, d.chunker_version
     FROM collections c LEFT JOIN documents d ON d.collection_id = c.id AND d.uri = $2
     WHERE c.name = $1`,
    [collection, uri],
  );
  const r = rows[0];
  if (!r) return { collectionId: await ensureCollection(pool, collection), document: undefined };
  return {
    collectionId: Number(r.collection_id),
    document: r.id === null ? undefined : storedDocument({ ...r, id: r.id }),
  };
}

/**
 * Creates the collection if needed and marks it used, and returns the
 * database's clock (`now()`, as text) in the same statement: a run's start
 * (`enqueueIngest`), which stamps the run's deletion-sync cutoff by that clock.
 */
export async function markCollectionUsed(pool: pg.Pool, name: string): Promise<{ collectionId: number; now: string }> {
  const { rows } = await pool.query<{ id: string; now: string }>(
    `INSERT INTO collections (name) VALUES ($1)
     ON CONFLICT (name) DO UPDATE SET last_used_at = now()
     RETURNING id, now()::text AS now`,
    [name],
  );
  return { collectionId: Number(rows[0]!.id), now: rows[0]!.now };
}

export async function findDocument(
  pool: pg.Pool,
  collectionId: number,
  uri: string,
): Promise<StoredDocument | undefined> {
  const { rows } = await pool.query<DocumentRow>(
    `SELECT id, content_hash, etag, last_modified, links, chunker_version FROM documents WHERE collection_id = $1 AND uri = $2`,
    [collectionId, uri],
  );
  const r = rows[0];
  return r && storedDocument(r);
}

/** What {@link touchUnchanged} found: the document's chunk and token counts and the chunk hashes it still lacks embeddings for. */
export interface UnchangedDocument {
  chunks: number;
  tokens: number;
  missing: Array<{ chunkHash: string; tokens: number }>;
}

/**
 * The whole database cost of a page that did not change (a 304, or the same
 * content hash and chunker version; docs/design.md, "Cheap unchanged pages"),
 * in one statement: marks the document fetched, used and seen by `runId`
 * (and stores new validators when given), marks the embeddings it reuses as
 * used (at most once a day per row, as `touchForDocument` does), and
 * returns its chunk and token counts and the chunk hashes without an
 * embedding for `key` (normally none).
 */
export async function touchUnchanged(
  pool: pg.Pool,
  documentId: number,
  runId: string,
  key: { model: string; dimensions: number },
  validators: { etag?: string | undefined; lastModified?: string | undefined } = {},
): Promise<UnchangedDocument> {
  const { rows } = await pool.query<{ chunks: string; tokens: string; missing: Array<{ h: string; t: number }> }>(
    `WITH d AS (
       UPDATE documents SET fetched_at = now(), last_used_at = now(), last_seen_at = now(), last_seen_run = $2,
         etag = coalesce($5, etag), last_modified = coalesce($6, last_modified)
       WHERE id = $1 RETURNING id),
     c AS (SELECT chunk_hash, token_count FROM chunks WHERE document_id = $1),
     t AS (
       UPDATE embeddings e SET last_used_at = now()
       FROM (SELECT DISTINCT chunk_hash FROM c) x
       WHERE e.model = $3 AND e.dimensions = $4 AND e.chunk_hash = x.chunk_hash
         AND e.last_used_at < now() - interval '1 day'
       RETURNING 1)
     SELECT (SELECT count(*) FROM c) AS chunks, (SELECT coalesce(sum(token_count), 0) FROM c) AS tokens,
       (SELECT coalesce(json_agg(json_build_object('h', m.chunk_hash, 't', m.tokens) ORDER BY m.chunk_hash), '[]'::json)
        FROM (SELECT chunk_hash, min(token_count) AS tokens FROM c
              WHERE NOT EXISTS (SELECT 1 FROM embeddings e
                                WHERE e.model = $3 AND e.dimensions = $4 AND e.chunk_hash = c.chunk_hash)
              GROUP BY chunk_hash) m) AS missing`,
    [documentId, runId, key.model, key.dimensions, validators.etag ?? null, validators.lastModified ?? null],
  );
  const r = rows[0]!;
  return {
    chunks: Number(r.chunks),
    tokens: Number(r.tokens),
    missing: r.missing.map((m) => ({ chunkHash: m.h, tokens: Number(m.t) })),
  };
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
    const prev = await client.query<{ id: string; content_hash: string; chunker_version: number }>(
      `SELECT id, content_hash, chunker_version FROM documents WHERE collection_id = $1 AND uri = $2 FOR UPDATE`,
      [doc.collectionId, doc.uri],
    );
    const { rows } = await client.query<{ id: string }>(
      `INSERT INTO documents (collection_id, uri, kind, title, content_hash, bytes, etag, last_modified, links, metadata,
                              last_seen_at, last_seen_run, chunker_version)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb, now(), $11, $12)
       ON CONFLICT (collection_id, uri) DO UPDATE SET
         kind = EXCLUDED.kind, title = EXCLUDED.title, content_hash = EXCLUDED.content_hash,
         bytes = EXCLUDED.bytes, etag = EXCLUDED.etag, last_modified = EXCLUDED.last_modified,
         links = EXCLUDED.links, metadata = EXCLUDED.metadata, fetched_at = now(), last_used_at = now(),
         last_seen_at = now(), last_seen_run = EXCLUDED.last_seen_run, chunker_version = EXCLUDED.chunker_version
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
        doc.chunkerVersion,
      ],
    );
    const id = Number(rows[0]!.id);
    // A document cut by another chunker version is re-chunked even when its content is the same.
    const unchanged =
      prev.rows[0]?.content_hash === doc.contentHash && prev.rows[0]?.chunker_version === doc.chunkerVersion;
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

/** What {@link skipBySitemap} did: the pages it marked seen with their counts, and their stored links it was not given. */
export interface SitemapSkip {
  skipped: Array<{ uri: string; chunks: number; tokens: number }>;
  /** Distinct stored links of the skipped pages that are not among `pages`: still to be reached by the run. */
  links: string[];
}

/**
 * The whole database cost of the pages a sitemap says did not change
 * (docs/design.md, "Sitemaps"), in one statement: of `pages` (URIs with the
 * end of their `<lastmod>`, ms), the documents of the collection that were
 * fetched at or after it, were cut by `chunkerVersion` and have an
 * embedding for every chunk are marked used and seen by `runId` (deletion
 * sync keeps them; `fetched_at` stays: they were not fetched). Returns them
 * with their chunk and token counts, and the distinct stored links of theirs
 * that are not in `pages`. Idempotent: a repeated call (a retried job)
 * returns the same pages, so they are recorded, not enqueued, again.
 */
export async function skipBySitemap(
  pool: pg.Pool,
  input: {
    collectionId: number;
    runId: string;
    chunkerVersion: number;
    key: { model: string; dimensions: number };
    pages: Array<{ uri: string; lastmodMs: number | undefined }>;
  },
): Promise<SitemapSkip> {
  if (!input.pages.length) return { skipped: [], links: [] };
  // `OFFSET 0` keeps the embeddings probe a primary-key lookup per chunk: without it PostgreSQL may plan
  // an anti-join that reads every embedding of the model once per chunk when the tables have no
  // statistics (autovacuum off, or a collection just loaded): 1.7 s instead of ~0.1 s for 400 pages.
  const { rows } = await pool.query<{ skipped: Array<{ u: string; c: number; t: number }>; links: string[] }>(
    `WITH e AS (SELECT * FROM unnest($2::text[], $3::float8[]) AS e(uri, lastmod_ms)),
     s AS (
       UPDATE documents d SET last_used_at = now(), last_seen_at = now(), last_seen_run = $4
       FROM e
       WHERE d.collection_id = $1 AND d.uri = e.uri AND e.lastmod_ms IS NOT NULL
         AND d.fetched_at >= to_timestamp(e.lastmod_ms / 1000.0)
         AND d.chunker_version = $5
         AND NOT EXISTS (
           SELECT 1 FROM chunks c WHERE c.document_id = d.id
             AND NOT EXISTS (SELECT 1 FROM embeddings x
                             WHERE x.model = $6 AND x.dimensions = $7 AND x.chunk_hash = c.chunk_hash
                             OFFSET 0))
       RETURNING d.id, d.uri, d.links),
     l AS (SELECT DISTINCT jsonb_array_elements_text(s.links) AS uri FROM s
           EXCEPT SELECT uri FROM e)
     SELECT
       (SELECT coalesce(json_agg(json_build_object('u', s.uri, 'c', st.chunks, 't', st.tokens)), '[]'::json)
        FROM s, LATERAL (SELECT count(*) AS chunks, coalesce(sum(c.token_count), 0) AS tokens
                         FROM chunks c WHERE c.document_id = s.id) st) AS skipped,
       (SELECT coalesce(json_agg(l.uri ORDER BY l.uri), '[]'::json) FROM l) AS links`,
    [
      input.collectionId,
      input.pages.map((p) => p.uri),
      input.pages.map((p) => p.lastmodMs ?? null),
      input.runId,
      input.chunkerVersion,
      input.key.model,
      input.key.dimensions,
    ],
  );
  const r = rows[0]!;
  return {
    skipped: r.skipped.map((x) => ({ uri: x.u, chunks: Number(x.c), tokens: Number(x.t) })),
    links: r.links,
  };
}
