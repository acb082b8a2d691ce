-- Up Migration
-- Deletion sync (docs/design.md, "Deletion sync"): which run last reached
-- each document, and a ledger of every document removed.

-- last_seen_at / last_seen_run: set by the statement that writes or touches
-- a document whenever a run reaches it (fetched and written, answered 304, or
-- unchanged by content hash). A document of a run's scope whose
-- last_seen_run is not that run was not reached by it. TTL cleanup reads
-- last_seen_at too. NULL for documents written before this migration.
-- created_at tells the documents a run found from those it added, so the
-- share deletion sync may remove is taken of the scope as it was before the
-- run; rows that exist now get the migration's time.
ALTER TABLE documents
  ADD COLUMN last_seen_at  timestamptz,
  ADD COLUMN last_seen_run text,
  ADD COLUMN created_at    timestamptz NOT NULL DEFAULT now();

-- The scope query: documents of a collection whose URI starts with a scope
-- (`uri LIKE 'http://h/docs/%'`). text_pattern_ops lets a prefix LIKE use
-- the index whatever the database collation; last_seen_run and created_at
-- are carried so counting a scope needs no heap visit for them.
CREATE INDEX documents_scope_idx ON documents (collection_id, uri text_pattern_ops)
  INCLUDE (last_seen_run, created_at);

-- One row per document removed, by any path (src/store/remove.ts): deletion
-- sync today, TTL cleanup and a delete API later. The collection is kept by
-- name, so the ledger outlives the collection; embeddings are not removed
-- (content-addressed, shared by other collections; TTL cleanup owns them).
CREATE TABLE document_removals (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  collection    text NOT NULL,
  uri           text NOT NULL,
  content_hash  text NOT NULL,
  reason        text NOT NULL,
  run_id        text,
  removed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX document_removals_collection_idx ON document_removals (collection, removed_at);
