-- Up Migration
-- Core tables: collections, documents, chunks, content-addressed embeddings,
-- and the cost ledger. Every natural key is a unique constraint so that
-- at-least-once job delivery converges instead of duplicating rows.

CREATE EXTENSION IF NOT EXISTS vector SCHEMA public;

CREATE TABLE collections (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name          text NOT NULL UNIQUE,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz NOT NULL DEFAULT now()
);

-- One fetched page or file of a collection. content_hash is the SHA-256 of
-- the fetched text; links keeps the page's in-scope links so that a 304 on
-- re-crawl can still fan out without the body.
CREATE TABLE documents (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  collection_id bigint NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  uri           text NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('html', 'markdown', 'text')),
  title         text NOT NULL DEFAULT '',
  content_hash  text NOT NULL,
  bytes         integer NOT NULL,
  etag          text,
  last_modified text,
  links         jsonb NOT NULL DEFAULT '[]',
  metadata      jsonb NOT NULL DEFAULT '{}',
  fetched_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (collection_id, uri)
);

-- A section-bounded, token-bounded piece of a document. Rewritten as a whole
-- (in one transaction) when the document's content hash changes.
CREATE TABLE chunks (
  document_id   bigint NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
  ordinal       integer NOT NULL,
  chunk_hash    text NOT NULL,
  url           text NOT NULL,
  heading_path  text[] NOT NULL DEFAULT '{}',
  text          text NOT NULL,
  token_count   integer NOT NULL CHECK (token_count > 0),
  PRIMARY KEY (document_id, ordinal)
);
CREATE INDEX chunks_chunk_hash_idx ON chunks (chunk_hash);

-- The vector for (model, dimensions, chunk hash): one row serves every
-- document and collection with that text. The column has no fixed
-- dimensions because the model is configurable; vector indexes are partial
-- expression indexes per dimension count (see 0002 and src/db/vector-index.ts).
CREATE TABLE embeddings (
  model         text NOT NULL,
  dimensions    integer NOT NULL,
  chunk_hash    text NOT NULL,
  embedding     vector NOT NULL,
  token_count   integer NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (model, dimensions, chunk_hash),
  CHECK (vector_dims(embedding) = dimensions)
);

-- What was paid and what dedup saved, one row per API call or dedup event.
CREATE TABLE cost_ledger (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at            timestamptz NOT NULL DEFAULT now(),
  kind          text NOT NULL,
  model         text,
  run_id        text,
  tokens        bigint NOT NULL DEFAULT 0,
  usd           numeric(14, 8) NOT NULL DEFAULT 0,
  saved_tokens  bigint NOT NULL DEFAULT 0,
  saved_usd     numeric(14, 8) NOT NULL DEFAULT 0
);
CREATE INDEX cost_ledger_at_idx ON cost_ledger (at);
