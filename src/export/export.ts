/**
 * Exports a collection as JSON Lines, one chunk per line, so content never
 * gets locked in: `{url, title, headingPath, text, tokenCount, chunkHash}`
 * plus `embedding` (numbers) when asked. Pages through the chunks by key
 * so memory stays flat for any collection size.
 */
import pgvector from 'pgvector';
import type { Runtime } from '../runtime/runtime.ts';
import { findCollection } from '../store/documents.ts';
import { PermanentError } from '../errors/index.ts';

export interface ExportedChunk {
  url: string;
  title: string;
  headingPath: string[];
  text: string;
  tokenCount: number;
  chunkHash: string;
  embedding?: number[];
}

/** Rows fetched per page. */
const PAGE = 1000;

/**
 * Yields every chunk of a collection in (document URI, ordinal) order.
 * @throws PermanentError when the collection does not exist.
 */
export async function* exportCollection(
  rt: Runtime,
  collection: string,
  withEmbeddings = false,
): AsyncGenerator<ExportedChunk> {
  const collectionId = await findCollection(rt.db.pool, collection);
  if (collectionId === undefined) throw new PermanentError(`collection "${collection}" does not exist`);
  const { model, dimensions } = rt.config.embedding;
  let after: [string, number] = ['', -1];
  for (;;) {
    const { rows } = await rt.db.pool.query<{
      uri: string;
      ordinal: number;
      url: string;
      title: string;
      heading_path: string[];
      text: string;
      token_count: number;
      chunk_hash: string;
      embedding: string | null;
    }>(
      `SELECT d.uri, c.ordinal, c.url, d.title, c.heading_path, c.text, c.token_count, c.chunk_hash,
              ${withEmbeddings ? 'e.embedding::text' : 'NULL'} AS embedding
       FROM chunks c JOIN documents d ON d.id = c.document_id
       ${withEmbeddings ? 'LEFT JOIN embeddings e ON e.chunk_hash = c.chunk_hash AND e.model = $4 AND e.dimensions = $5' : ''}
       WHERE d.collection_id = $1 AND (d.uri, c.ordinal) > ($2, $3)
       ORDER BY d.uri, c.ordinal
       LIMIT ${PAGE}`,
      withEmbeddings ? [collectionId, after[0], after[1], model, dimensions] : [collectionId, after[0], after[1]],
    );
    for (const r of rows) {
      const chunk: ExportedChunk = {
        url: r.url,
        title: r.title,
        headingPath: r.heading_path,
        text: r.text,
        tokenCount: r.token_count,
        chunkHash: r.chunk_hash,
      };
      if (withEmbeddings && r.embedding) chunk.embedding = pgvector.fromSql(r.embedding) as number[];
      yield chunk;
    }
    if (rows.length < PAGE) return;
    const lastRow = rows[rows.length - 1]!;
    after = [lastRow.uri, lastRow.ordinal];
  }
}
