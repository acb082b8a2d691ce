/**
 * Content-addressed embeddings: one row per (model, dimensions, chunk hash).
 * Inserts use ON CONFLICT DO NOTHING, so a retried job or two workers racing
 * on one hash converge on a single row; RETURNING tells who actually wrote it.
 */
import type pg from 'pg';
import type { EmbeddingKey } from '../embed/embedding-key.ts';
import { encodeVectorArray, vectorTypeOid } from './vector-binary.ts';

/** Unique chunk hashes of a document that have no embedding for `key` yet, with their tokens. */
export async function missingForDocument(
  pool: pg.Pool,
  documentId: number,
  key: EmbeddingKey,
): Promise<Array<{ chunkHash: string; tokens: number }>> {
  const { rows } = await pool.query<{ chunk_hash: string; tokens: number }>(
    `SELECT c.chunk_hash, min(c.token_count) AS tokens FROM chunks c
     WHERE c.document_id = $1
       AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.model = $2 AND e.dimensions = $3 AND e.chunk_hash = c.chunk_hash)
     GROUP BY c.chunk_hash
     ORDER BY c.chunk_hash`,
    [documentId, key.model, key.dimensions],
  );
  return rows.map((r) => ({ chunkHash: r.chunk_hash, tokens: Number(r.tokens) }));
}

/**
 * Marks the embeddings a document reuses as used (for the TTL), at most once
 * a day per row so re-crawls don't rewrite every row.
 */
export async function touchForDocument(pool: pg.Pool, documentId: number, key: EmbeddingKey): Promise<void> {
  await pool.query(
    `UPDATE embeddings e SET last_used_at = now()
     FROM (SELECT DISTINCT chunk_hash FROM chunks WHERE document_id = $1) c
     WHERE e.model = $2 AND e.dimensions = $3 AND e.chunk_hash = c.chunk_hash
       AND e.last_used_at < now() - interval '1 day'`,
    [documentId, key.model, key.dimensions],
  );
}

/** The subset of `hashes` with no embedding for `key`. */
export async function filterMissing(pool: pg.Pool, key: EmbeddingKey, hashes: string[]): Promise<string[]> {
  const { rows } = await pool.query<{ h: string }>(
    `SELECT h FROM unnest($3::text[]) AS h
     WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.model = $1 AND e.dimensions = $2 AND e.chunk_hash = h)`,
    [key.model, key.dimensions, hashes],
  );
  return rows.map((r) => r.h);
}

/** Text and token count of each hash that still has a chunk (any document). */
export async function loadChunkTexts(
  pool: pg.Pool,
  hashes: string[],
): Promise<Map<string, { text: string; tokens: number }>> {
  const { rows } = await pool.query<{ chunk_hash: string; text: string; token_count: number }>(
    `SELECT DISTINCT ON (chunk_hash) chunk_hash, text, token_count FROM chunks WHERE chunk_hash = ANY($1::text[]) ORDER BY chunk_hash`,
    [hashes],
  );
  return new Map(rows.map((r) => [r.chunk_hash, { text: r.text, tokens: r.token_count }]));
}

/** Rows per INSERT statement: keeps one statement's parameters near 3 MB for 1536-d vectors. */
const UPSERT_ROWS = 500;

/**
 * Inserts embeddings that do not exist yet.
 * @returns the chunk hashes this call inserted (not those another writer had).
 */
export async function insertEmbeddings(
  pool: pg.Pool,
  key: EmbeddingKey,
  rows: Array<{ chunkHash: string; vector: ArrayLike<number>; tokens: number }>,
  /** Runs the inserts on this client (a transaction) instead of the pool; the pool still resolves the vector type. */
  client?: pg.PoolClient,
): Promise<string[]> {
  const inserted: string[] = [];
  if (!rows.length) return inserted;
  const db: Pick<pg.Pool, 'query'> = client ?? pool;
  // Through the client when there is one: a second checkout from a small
  // pool whose connections the callers' transactions hold would deadlock.
  const oid = await vectorTypeOid(pool, db);
  for (let i = 0; i < rows.length; i += UPSERT_ROWS) {
    const slice = rows.slice(i, i + UPSERT_ROWS);
    // Vectors travel in binary (vector-binary.ts): 6 KB each instead of ~31 KB of decimals.
    const result = await db.query<{ chunk_hash: string }>(
      `INSERT INTO embeddings (model, dimensions, chunk_hash, embedding, token_count)
       SELECT $1, $2, x.h, x.v, x.t FROM unnest($3::text[], $4::vector[], $5::int[]) AS x(h, v, t)
       ON CONFLICT DO NOTHING
       RETURNING chunk_hash`,
      [
        key.model,
        key.dimensions,
        slice.map((r) => r.chunkHash),
        encodeVectorArray(
          slice.map((r) => r.vector),
          key.dimensions,
          oid,
        ),
        slice.map((r) => r.tokens),
      ],
    );
    inserted.push(...result.rows.map((r) => r.chunk_hash));
  }
  return inserted;
}

/**
 * Records money spent on an embeddings call in the cost ledger, as billed.
 * Embed jobs use the intent rows below instead; this stays for callers that
 * record a finished call in one step.
 */
export async function recordSpend(
  pool: Pick<pg.Pool, 'query'>,
  entry: { model: string; runId: string; tokens: number; usd: number },
): Promise<void> {
  await pool.query(
    `INSERT INTO cost_ledger (kind, model, run_id, tokens, usd, status) VALUES ('embedding', $1, $2, $3, $4, 'billed')`,
    [entry.model, entry.runId, entry.tokens, entry.usd],
  );
}

/** A spend intent's row before it is written: tokens counted locally (cl100k_base), their price in USD. */
export interface SpendIntent {
  model: string;
  runId: string;
  tokens: number;
  usd: number;
}

/**
 * Draws `n` ledger row ids from `cost_ledger`'s identity sequence, before any
 * row is written. The caller holds the ids before {@link recordSpendIntents}
 * runs, so an INSERT that committed but whose reply was lost (the connection
 * cut mid-statement, a client-side deadline) can still be voided by id: with
 * ids from `RETURNING`, that row would stay `sent` and count tokens nobody
 * billed. An id drawn and never used leaves a gap in the sequence, nothing else.
 * @returns `n` ids (decimal strings).
 */
export async function allocateSpendIds(pool: Pick<pg.Pool, 'query'>, n: number): Promise<string[]> {
  if (n <= 0) return [];
  const { rows } = await pool.query<{ id: string }>(
    `SELECT nextval(pg_get_serial_sequence('cost_ledger', 'id'))::text AS id FROM generate_series(1, $1::int)`,
    [n],
  );
  return rows.map((r) => r.id);
}

/** A spend intent with the row id drawn for it by {@link allocateSpendIds}. */
export interface AllocatedIntent extends SpendIntent {
  id: string;
}

/**
 * Writes the spend intents of one embeddings request's parts before it is
 * sent (docs/design.md, "Deadlines and leases"): status `sent`, with the
 * tokens counted locally (cl100k_base) and their price, so a process that
 * dies before the response still leaves the request in the ledger. One
 * statement for every part of a coalesced request, as it goes out: a process
 * killed between its rows and the send (rows that would count tokens nobody
 * billed) has one round trip to die in, not the spread of one INSERT per part
 * queued on the pool.
 *
 * Ids come from {@link allocateSpendIds}. A row {@link voidSpend} reached
 * first (its INSERT was still on its way when the caller gave up on it) is
 * left as voided: `ON CONFLICT DO NOTHING`.
 */
export async function recordSpendIntents(pool: Pick<pg.Pool, 'query'>, entries: AllocatedIntent[]): Promise<void> {
  if (!entries.length) return;
  await pool.query(
    `INSERT INTO cost_ledger (id, kind, model, run_id, tokens, usd, status) OVERRIDING SYSTEM VALUE
     SELECT u.id, 'embedding', u.model, u.run_id, u.tokens, u.usd, 'sent'
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::float8[]) AS u(id, model, run_id, tokens, usd)
     ON CONFLICT (id) DO NOTHING`,
    [
      entries.map((e) => e.id),
      entries.map((e) => e.model),
      entries.map((e) => e.runId),
      entries.map((e) => e.tokens),
      entries.map((e) => e.usd),
    ],
  );
}

/** Completes an intent with what the API billed (`usage.prompt_tokens`), in the caller's transaction. */
export async function completeSpend(
  db: Pick<pg.Pool, 'query'>,
  id: string,
  billed: { tokens: number; usd: number },
): Promise<void> {
  await db.query(`UPDATE cost_ledger SET status = 'billed', tokens = $2, usd = $3 WHERE id = $1`, [
    id,
    billed.tokens,
    billed.usd,
  ]);
}

/**
 * Marks an intent whose request was not billed (refused before or by the API:
 * 429, 4xx, 5xx, a dropped connection, or never sent): 0 tokens, status
 * `failed`. A billed row stays billed.
 *
 * An upsert, not an UPDATE: when the intent's INSERT failed without a reply,
 * it may have committed, or may still be running on its backend and commit
 * after this. Written first, the voided row makes that late INSERT a no-op
 * ({@link recordSpendIntents}); written second, it waits for the INSERT's
 * transaction and voids its row. Either order ends `failed`.
 * @param of the intent's model and run, for the row if the INSERT never lands
 */
export async function voidSpend(
  db: Pick<pg.Pool, 'query'>,
  id: string,
  of: Pick<SpendIntent, 'model' | 'runId'>,
): Promise<void> {
  await db.query(
    `INSERT INTO cost_ledger (id, kind, model, run_id, tokens, usd, status) OVERRIDING SYSTEM VALUE
     VALUES ($1, 'embedding', $2, $3, 0, 0, 'failed')
     ON CONFLICT (id) DO UPDATE SET status = 'failed', tokens = 0, usd = 0 WHERE cost_ledger.status = 'sent'`,
    [id, of.model, of.runId],
  );
}
