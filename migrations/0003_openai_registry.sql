-- Up Migration
-- Registry of OpenAI Files and vector stores, content-addressed.
-- Rows are written before the remote call (the intent: status 'pending' /
-- 'uploading' / 'creating' with the claiming job and time) and completed
-- after it, so a crash in between leaves a row the cleanup can find, and a
-- stale claim can be taken over by another job.

-- One row per unique file content (SHA-256 of its bytes, line endings
-- normalised for text). openai_file_id is set once uploaded.
CREATE TABLE files (
  content_hash    text PRIMARY KEY,
  filename        text NOT NULL,
  bytes           bigint NOT NULL,
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'uploading', 'uploaded', 'failed')),
  openai_file_id  text UNIQUE,
  claimed_by      text,
  claimed_at      timestamptz,
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  uploaded_at     timestamptz,
  last_used_at    timestamptz NOT NULL DEFAULT now()
);

-- The bytes Sluice uploaded: OpenAI will not return files of purpose
-- assistants, so any store can be rebuilt (or moved to pgvector) from here.
CREATE TABLE file_blobs (
  content_hash  text PRIMARY KEY,
  data          bytea NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- An unordered set of file contents plus a chunking strategy; its hash
-- identifies a reusable vector store.
CREATE TABLE filesets (
  fileset_hash       text PRIMARY KEY,
  content_hashes     text[] NOT NULL,
  chunking_strategy  jsonb NOT NULL,
  status             text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'creating', 'in_progress', 'completed', 'partial', 'failed')),
  vector_store_id    text UNIQUE,
  claimed_by         text,
  claimed_at         timestamptz,
  file_counts        jsonb NOT NULL DEFAULT '{}',
  recreated          integer NOT NULL DEFAULT 0,
  last_error         text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  completed_at       timestamptz,
  last_used_at       timestamptz NOT NULL DEFAULT now(),
  expires_at         timestamptz
);

-- Which file is attached to which fileset's store, with OpenAI's status and last_error.
CREATE TABLE fileset_files (
  fileset_hash  text NOT NULL REFERENCES filesets(fileset_hash) ON DELETE CASCADE,
  content_hash  text NOT NULL REFERENCES files(content_hash),
  filename      text NOT NULL,
  status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'in_progress', 'completed', 'failed', 'cancelled')),
  last_error    jsonb,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (fileset_hash, content_hash)
);
CREATE INDEX fileset_files_content_hash_idx ON fileset_files (content_hash);
