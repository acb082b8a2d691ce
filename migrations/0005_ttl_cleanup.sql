-- Up Migration
-- TTL cleanup (docs/design.md, "TTL cleanup"): a vector store or file moves
-- live → deleting → deleted. `deleting` is the hand-off: the cleanup sets it
-- under the row lock of a conditional UPDATE that re-checks the last use, so
-- a sync that touched the row first keeps it, and a sync that finds it
-- `deleting` waits instead of using it. A deletion OpenAI refused is recorded
-- in `delete_error` / `delete_attempts`: the row goes back to its live status
-- (nothing waits on a deletion OpenAI keeps refusing) and a later run, if it
-- is still unused, tries again; a successful deletion or a new use clears it.
-- `deleted` rows keep their fileset/file identity (a later sync recreates
-- the store or uploads the file again, counted as recreated / re-uploaded).

ALTER TABLE filesets DROP CONSTRAINT filesets_status_check;
ALTER TABLE filesets ADD CONSTRAINT filesets_status_check
  CHECK (status IN ('pending', 'creating', 'in_progress', 'completed', 'partial', 'failed', 'deleting', 'deleted'));
ALTER TABLE filesets
  ADD COLUMN deleted_at       timestamptz,
  ADD COLUMN delete_attempts  integer NOT NULL DEFAULT 0,
  ADD COLUMN delete_error     text;

ALTER TABLE files DROP CONSTRAINT files_status_check;
ALTER TABLE files ADD CONSTRAINT files_status_check
  CHECK (status IN ('pending', 'uploading', 'uploaded', 'failed', 'deleting', 'deleted'));
ALTER TABLE files
  ADD COLUMN deleted_at       timestamptz,
  ADD COLUMN delete_attempts  integer NOT NULL DEFAULT 0,
  ADD COLUMN delete_error     text;

-- When a search last read the collection: a searched collection's documents
-- are in use even when no run reaches them (collections.last_used_at is
-- also touched by every run into the collection, so it cannot tell).
ALTER TABLE collections ADD COLUMN last_searched_at timestamptz;
