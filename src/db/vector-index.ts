/**
 * Vector index expressions. The embeddings column has no fixed dimensions
 * (the model is configurable), so each dimension count gets a partial HNSW
 * index on a cast expression, and searches use the very same expression so
 * the planner can pick the index.
 *
 * pgvector's HNSW indexes `vector` up to 2,000 dimensions and `halfvec` up to
 * 4,000 (pgvector README, "HNSW"): text-embedding-3-large (3072) uses halfvec.
 */
import type pg from 'pg';

/** Largest dimension count pgvector's HNSW index supports for `vector` / `halfvec`. */
const HNSW_MAX_VECTOR_DIMS = 2000;
const HNSW_MAX_HALFVEC_DIMS = 4000;

function checkDims(dims: number): void {
  if (!Number.isInteger(dims) || dims < 1 || dims > 16000)
    throw new RangeError(`dimensions must be an integer in 1..16000, got ${dims}`);
}

/** The SQL type a stored embedding is cast to for indexing and search. */
export function vectorType(dims: number): string {
  checkDims(dims);
  return dims <= HNSW_MAX_VECTOR_DIMS ? `vector(${dims})` : `halfvec(${dims})`;
}

/** `embedding::vector(N)` (or halfvec) with an optional table alias. */
export function vectorExpr(dims: number, alias = ''): string {
  return `(${alias ? `${alias}.` : ''}embedding::${vectorType(dims)})`;
}

/**
 * Creates the HNSW cosine index for `dims` if it is missing (1536 comes from
 * migration 0002). Skipped for the embedded store, which scans exactly.
 */
export async function ensureVectorIndex(pool: pg.Pool, dims: number, embedded: boolean): Promise<void> {
  if (embedded || dims === 1536 || dims > HNSW_MAX_HALFVEC_DIMS) return;
  const ops = dims <= HNSW_MAX_VECTOR_DIMS ? 'vector_cosine_ops' : 'halfvec_cosine_ops';
  await pool.query(
    `CREATE INDEX IF NOT EXISTS embeddings_hnsw_${dims}_idx ON embeddings USING hnsw (${vectorExpr(dims)} ${ops}) WHERE dimensions = ${dims}`,
  );
}
