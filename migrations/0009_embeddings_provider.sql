-- Up Migration
-- Embedding provenance (docs/design.md, "Embeddings provider"): which
-- provider filled this database with vectors — `emulator`, or the name of
-- the real API (EMBEDDINGS_PROVIDER, default `openai`). One row, written by
-- the first process that starts against the database (src/store/provider.ts);
-- a process configured for another provider refuses to start, so the
-- emulator's fake vectors never sit under a real model name where dedup
-- would keep them forever.
-- Numbered 0009: 0008 is the chunker-version migration.
CREATE TABLE embeddings_provider (
  singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  provider     text NOT NULL CHECK (provider ~ '^[a-z0-9][a-z0-9_.-]{0,39}$'),
  recorded_at  timestamptz NOT NULL DEFAULT now()
);
