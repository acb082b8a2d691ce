-- Up Migration
-- Labels, orphan sweep and reconcile:
-- docs/design.md, "Labels, orphans and deadlines";
-- docs/design.md, "Reconcile".

-- The deployment id that labels every File and vector store Sluice creates
-- (src/openai/labels.ts), unless DEPLOYMENT_ID names one. One row, generated
-- once per database: two deployments with their own registries never share
-- a label by default, so one's orphan sweep never deletes the other's
-- objects even when both use one OpenAI organisation.
CREATE TABLE deployment (
  singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  id          text NOT NULL CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$'),
  created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO deployment (id) VALUES ('d' || substr(md5(random()::text || clock_timestamp()::text), 1, 11));

-- The collection a fileset's store was made for (its name and metadata):
-- `sluice reconcile --collection` scopes by it, and a repair that recreates
-- the store names it again. NULL for filesets registered before this.
ALTER TABLE filesets ADD COLUMN collection text;

-- Vector stores Sluice did not create from a fileset and must never delete
-- or change: imported ones and ones registered as read-only. The orphan
-- sweep and reconcile leave them alone, whatever their labels.
CREATE TABLE external_vector_stores (
  vector_store_id  text PRIMARY KEY,
  mode             text NOT NULL CHECK (mode IN ('imported', 'read_only')),
  collection       text,
  registered_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per reconcile run: the drift left after it (kind → count; after
-- the repairs with --fix). The latest run over the whole deployment
-- (collection NULL) is what `sluice_index_drift{kind}` reports.
CREATE TABLE reconcile_reports (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  collection  text,
  fixed       boolean NOT NULL DEFAULT false,
  drift       jsonb NOT NULL
);
CREATE INDEX reconcile_reports_whole_idx ON reconcile_reports (id) WHERE collection IS NULL;
