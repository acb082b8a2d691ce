-- Up Migration
-- HNSW index for cosine distance over the default dimension count (1536:
-- text-embedding-3-small and ada-002). Other dimension counts get the same
-- kind of index from src/db/vector-index.ts at migrate time.
--
-- The embedded PGlite default sets sluice.embedded = 'on' and skips it:
-- measured there, inserts slow from ~365 to ~38 rows/s with an HNSW index
-- present, while an exact scan of 12,000 rows takes ~120 ms. The embedded
-- store scans exactly; a real Postgres always gets the index.
DO $$
BEGIN
  IF coalesce(current_setting('sluice.embedded', true), '') <> 'on' THEN
    CREATE INDEX IF NOT EXISTS embeddings_hnsw_1536_idx
      ON embeddings USING hnsw ((embedding::vector(1536)) vector_cosine_ops)
      WHERE dimensions = 1536;
  END IF;
END
$$;
