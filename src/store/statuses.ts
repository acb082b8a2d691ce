/**
 * The status names of the OpenAI registry, frozen and shared by SQL and
 * TypeScript (after pg-boss's JOB_STATES): queries interpolate these
 * constants, never string literals, and test/unit/store-statuses.test.ts
 * checks each set against the CHECK constraint of its column in
 * migrations/, so a renamed or added status cannot drift between the two.
 *
 * Every status here is the state of an intent row (docs/vocabulary.md,
 * "intent row"): written before the remote call, completed after it.
 */

/** `files.status`: one unique file content and its OpenAI File. */
export const FILE_STATUS = Object.freeze({
  /** Registered, not uploaded (or its File was lost and must be uploaded again). */
  pending: 'pending',
  /** Claimed by a job that is uploading it now. */
  uploading: 'uploading',
  /** `openai_file_id` is set. */
  uploaded: 'uploaded',
  /** The last upload failed; claimable again. */
  failed: 'failed',
  /**
   * Claimed by TTL cleanup, which is deleting its File now: never reused or
   * attached; a sync that needs the content uploads it again once `deleted`.
   * A refused deletion puts the row back to `uploaded` with `delete_error`.
   */
  deleting: 'deleting',
  /** Its File and kept bytes were deleted by TTL cleanup; claimable for a new upload. */
  deleted: 'deleted',
} as const);
export type FileStatus = (typeof FILE_STATUS)[keyof typeof FILE_STATUS];

/** `filesets.status`: a fileset and the vector store that holds it. */
export const FILESET_STATUS = Object.freeze({
  /** Registered, no store (or its store was lost and must be created again). */
  pending: 'pending',
  /** Claimed by a job that is creating its store now. */
  creating: 'creating',
  /** The store exists; files are being attached. */
  in_progress: 'in_progress',
  /** Every file attached and processed. */
  completed: 'completed',
  /** Some files failed or were cancelled (see fileset_files); the rest serve. */
  partial: 'partial',
  /** Nothing usable; claimable again. */
  failed: 'failed',
  /**
   * Claimed by TTL cleanup, which is deleting its store now: a sync waits
   * for it and never returns its id. A refused deletion puts the row back to
   * its live status with `delete_error`.
   */
  deleting: 'deleting',
  /** Its store was deleted by TTL cleanup; claimable: the next sync recreates it. */
  deleted: 'deleted',
} as const);
export type FilesetStatus = (typeof FILESET_STATUS)[keyof typeof FILESET_STATUS];

/** Where a fileset ends once its files are attached. */
export type FilesetOutcome =
  | typeof FILESET_STATUS.completed
  | typeof FILESET_STATUS.partial
  | typeof FILESET_STATUS.failed;

/** `fileset_files.status`: one file in one store, as OpenAI reports it (docs/openai-facts.md, "Vector stores"). */
export const FILESET_FILE_STATUS = Object.freeze({
  pending: 'pending',
  in_progress: 'in_progress',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
} as const);
export type FilesetFileStatus = (typeof FILESET_FILE_STATUS)[keyof typeof FILESET_FILE_STATUS];

/**
 * `external_vector_stores.mode`: a vector store Sluice did not create from a
 * fileset, which the orphan sweep, reconcile and TTL cleanup never delete or
 * change (docs/design.md, "Labels, orphans and deadlines").
 */
export const EXTERNAL_STORE_MODE = Object.freeze({
  /** Read into a collection from another store (import). */
  imported: 'imported',
  /** Registered to be searched, never written. */
  read_only: 'read_only',
} as const);
export type ExternalStoreMode = (typeof EXTERNAL_STORE_MODE)[keyof typeof EXTERNAL_STORE_MODE];
