-- Up Migration
-- Re-index that pays only for what changed.
-- See docs/design.md, "Content-defined chunking" (one citation per line).

-- chunker_version: the chunker that cut the document's chunks
-- (src/chunk/chunker.ts `ChunkerVersion`). A document whose version is not the
-- configured one is re-chunked on its next crawl even when its content hash is
-- unchanged (its validators are not sent, so it is fetched whole); only chunks
-- whose text changed are embedded. Rows that exist now were cut by version 1.
ALTER TABLE documents ADD COLUMN chunker_version integer NOT NULL DEFAULT 1;
