/**
 * The kinds of drift reconcile finds (docs/design.md, "Reconcile"): a
 * closed set, the label values of `sluice_index_drift{kind}`. Each is a
 * difference between the registry (Postgres), OpenAI and pgvector that is
 * not work in flight: objects and chunks younger than ORPHAN_GRACE_HOURS,
 * filesets a job is creating or TTL cleanup is deleting, and unreferenced
 * embeddings younger than TTL_DAYS (the dedup cache) are not drift.
 */
export const DRIFT_KINDS = [
  /** A settled fileset's store is gone at OpenAI (404 or expired). Fix: recreate it (a repair). */
  'missing_store',
  /** A labelled store of this deployment no registry row knows. Fix: delete it. */
  'extra_store',
  /** An uploaded file's File is gone at OpenAI. Fix: forget it; repair the stores that held it. */
  'missing_file',
  /** A labelled File of this deployment no registry row knows. Fix: record it for its content, else delete it. */
  'extra_file',
  /** A file the registry has as completed in a store is not attached to it. Fix: re-attach (a repair). */
  'detached_file',
  /** A store holds a File its fileset does not list. Fix: detach it (a repair). */
  'extra_attachment',
  /** A file serves in the store and the registry says it does not, or the other way round. Fix: a repair records OpenAI's status. */
  'status_mismatch',
  /** A store's completed file count differs from the count the registry recorded. Fix: a repair recounts. */
  'file_count_mismatch',
  /** A chunk has no embedding for the configured model and dimensions. Fix: embed it. */
  'chunk_without_embedding',
  /** An embedding no chunk references and nobody used for TTL_DAYS. Fix: delete it. */
  'embedding_without_chunk',
] as const;
export type DriftKind = (typeof DRIFT_KINDS)[number];

/** A count per kind, every kind present. */
export type DriftCounts = Record<DriftKind, number>;

export function zeroCounts(): DriftCounts {
  return Object.fromEntries(DRIFT_KINDS.map((k) => [k, 0])) as DriftCounts;
}

/** The sum over kinds. */
export function totalDrift(counts: DriftCounts): number {
  return DRIFT_KINDS.reduce((s, k) => s + counts[k], 0);
}

/** One difference, as reported. */
export interface DriftItem {
  kind: DriftKind;
  /** What it is about: a store or File id, a chunk hash, or `model/dimensions/chunk hash`. */
  id: string;
  collection?: string | undefined;
  filesetHash?: string | undefined;
  contentHash?: string | undefined;
  /** One sentence: what the registry says and what was found. */
  detail: string;
}
