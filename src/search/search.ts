/**
 * Nearest chunks of a collection by cosine similarity. The query is
 * embedded with the configured model and dimensions; the SQL orders by the
 * same cast expression the HNSW index is built on, with pgvector 0.8's
 * iterative scan so a collection filter still returns k rows.
 */
import pgvector from 'pgvector';
import { createEmbeddings } from '../embed/embedder.ts';
import { vectorExpr, vectorType } from '../db/vector-index.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { findCollection } from '../store/documents.ts';
import { PermanentError } from '../errors/index.ts';

export interface SearchHit {
  url: string;
  title: string;
  headingPath: string[];
  /** Cosine similarity, 1 = same direction. */
  score: number;
  text: string;
}

export interface SearchOptions {
  collection?: string;
  /** Results wanted, 1..100. Default 5. */
  k?: number;
}

/**
 * @throws PermanentError when the collection does not exist or k is out of range.
 */
export async function search(rt: Runtime, query: string, options: SearchOptions = {}): Promise<SearchHit[]> {
  const collection = options.collection ?? 'default';
  const k = options.k ?? 5;
  if (!Number.isInteger(k) || k < 1 || k > 100)
    throw new PermanentError(`--k must be an integer from 1 to 100, got ${k}`);
  if (!query.trim()) throw new PermanentError('the search query is empty');
  const collectionId = await findCollection(rt.db.pool, collection);
  if (collectionId === undefined)
    throw new PermanentError(`collection "${collection}" does not exist: ingest into it first`);
  const { model, dimensions } = rt.config.embedding;
  // A search uses the collection (docs/design.md, "TTL cleanup"): one
  // primary-key write, sent while the query is embedded, so it adds no latency.
  const touched = rt.db.pool.query(`UPDATE collections SET last_searched_at = now() WHERE id = $1`, [collectionId]);
  const [{ vectors }] = await Promise.all([createEmbeddings(rt.openai, { model, dimensions }, [query]), touched]);
  const expr = vectorExpr(dimensions, 'e');
  const client = await rt.db.pool.connect();
  try {
    if (rt.db.mode === 'postgres') await client.query(`SET hnsw.iterative_scan = relaxed_order`).catch(() => {});
    const { rows } = await client.query<{
      url: string;
      title: string;
      heading_path: string[];
      text: string;
      distance: number;
    }>(
      `WITH nearest AS (
         SELECT e.chunk_hash, ${expr} <=> $1::${vectorType(dimensions)} AS distance
         FROM embeddings e
         WHERE e.model = $2 AND e.dimensions = ${dimensions}
           AND EXISTS (SELECT 1 FROM chunks c JOIN documents d ON d.id = c.document_id
                       WHERE c.chunk_hash = e.chunk_hash AND d.collection_id = $3)
         ORDER BY distance
         LIMIT $4
       )
       SELECT DISTINCT ON (n.distance, c.url) c.url, d.title, c.heading_path, c.text, n.distance
       FROM nearest n
       JOIN chunks c ON c.chunk_hash = n.chunk_hash
       JOIN documents d ON d.id = c.document_id AND d.collection_id = $3
       ORDER BY n.distance, c.url
       LIMIT $4`,
      [pgvector.toSql(Array.from(vectors[0]!)), model, collectionId, k],
    );
    return rows.map((r) => ({
      url: r.url,
      title: r.title,
      headingPath: r.heading_path,
      score: 1 - Number(r.distance),
      text: r.text,
    }));
  } finally {
    if (rt.db.mode === 'postgres') await client.query(`RESET hnsw.iterative_scan`).catch(() => {});
    client.release();
  }
}
