/**
 * The contract between producers and processors, below both: the queue
 * names, one zod schema per queue's payload (validated before enqueueing
 * and again on receipt, since a payload may come from another version or
 * another producer), and what each processor returns. Job ids are built in
 * ./job-ids.ts. Processors live in jobs/; only src/runtime/ wires them.
 *
 * Terminology (docs/vocabulary.md): a **source** is what a producer names;
 * a **run** is the set of jobs one ingest/sync call started; a **chunk hash**
 * is the SHA-256 of a chunk's normalised text; a **fileset** is an unordered
 * set of file content hashes whose hash identifies a reusable vector store.
 */
import { z } from 'zod';
import { InlineDocumentSchema } from '../crawl/inline.ts';

/** Every queue Sluice runs, in pipeline order. */
export const QUEUE_NAMES = ['crawl', 'embed', 'upload', 'associate', 'cleanup', 'schedule'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

export function isQueueName(name: string): name is QueueName {
  return (QUEUE_NAMES as readonly string[]).includes(name);
}

/**
 * Caps on what a payload may ask for:
 * docs/design.md, "Caps where work enters". Every schema here is checked by the producer before enqueueing
 * and by the worker on receipt, so a payload written by hand into Redis is
 * held to them too.
 */
export const PAYLOAD_CAPS = {
  /** Sources of one run or schedule. */
  sources: 10_000,
  /** Pages per run (`limits.maxPages`, `--max-pages`). */
  maxPages: 1_000_000,
  /** Link depth (`limits.maxDepth`, `--max-depth`). */
  maxDepth: 1_000,
  /**
   * Chunk hashes of one embed job: one document's chunks. A CRAWL_MAX_BYTES
   * document (5 MB) in 16-token chunks (CHUNK_MAX_TOKENS' minimum) is ~80,000.
   */
  chunkHashes: 100_000,
  /** Files of one fileset (one associate job). */
  files: 100_000,
  /** Length of a URL or path, characters. */
  location: 8_192,
} as const;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 hex digest');
const runId = z.string().min(1);
const collection = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, "_", "." and "-", starting with a letter or digit');

export const CollectionNameSchema = collection;

/** A source as a crawl job carries it. */
export const SourceSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('url'),
    url: z.string().max(PAYLOAD_CAPS.location).url(),
    /** Links are followed when they are under this URL prefix (same origin, start path's directory). */
    scope: z.string().max(PAYLOAD_CAPS.location).url(),
    /** Link distance from the start URL. */
    depth: z.number().int().min(0).max(PAYLOAD_CAPS.maxDepth),
  }),
  z.object({
    type: z.literal('path'),
    /** A local file or a directory (walked recursively) — absolute; read only under the worker's SOURCE_ROOTS. */
    path: z
      .string()
      .min(1)
      .max(PAYLOAD_CAPS.location)
      .refine((p) => p.startsWith('/') || /^[A-Za-z]:[\\/]/.test(p), 'an absolute path'),
  }),
  z.object({ type: z.literal('inline'), document: InlineDocumentSchema }),
  /** A source that could not be understood: the job fails with the reason (and the error's name, when it has one). */
  z.object({
    type: z.literal('invalid'),
    input: z.string().max(PAYLOAD_CAPS.location),
    reason: z.string().max(4 * PAYLOAD_CAPS.location),
    error: z.string().max(60).optional(),
  }),
]);
export type Source = z.infer<typeof SourceSchema>;

export const CrawlPayloadSchema = z.object({
  runId,
  collection,
  source: SourceSchema,
  limits: z.object({
    maxPages: z.number().int().min(1).max(PAYLOAD_CAPS.maxPages),
    maxDepth: z.number().int().min(0).max(PAYLOAD_CAPS.maxDepth),
  }),
  /**
   * Refused: what the SSRF guard allows comes from the worker's configuration
   * (CRAWL_ALLOW_HOSTS), never from a payload (docs/design.md, "SSRF guard").
   */
  trustedHosts: z
    .undefined({
      error:
        'trustedHosts is not accepted in a payload: allowed hosts come from the worker configuration (CRAWL_ALLOW_HOSTS)',
    })
    .optional(),
});
export type CrawlPayload = z.infer<typeof CrawlPayloadSchema>;

export const EmbedPayloadSchema = z.object({
  runId,
  collection,
  /** For failure reports: the document whose chunks these are. */
  source: z.string(),
  model: z.string().min(1),
  dimensions: z.number().int().min(1),
  /** Unique chunk hashes that had no embedding when the job was enqueued. */
  chunkHashes: z.array(sha256Hex).min(1).max(PAYLOAD_CAPS.chunkHashes),
});
export type EmbedPayload = z.infer<typeof EmbedPayloadSchema>;

export const UploadPayloadSchema = z.object({
  runId,
  collection,
  /** SHA-256 of the file's bytes (line endings normalised for text); the bytes are in file_blobs. */
  contentHash: sha256Hex,
  /** The name OpenAI gets (its extension decides the parser). */
  filename: z.string().min(1),
  /** Where the bytes came from, for failure reports. */
  source: z.string().min(1),
});
export type UploadPayload = z.infer<typeof UploadPayloadSchema>;

/** OpenAI's chunking strategy for a vector store (docs/openai-facts.md, "Vector stores"). */
export const ChunkingStrategySchema = z.union([
  z.object({ type: z.literal('auto') }),
  z.object({
    type: z.literal('static'),
    static: z.object({
      max_chunk_size_tokens: z.number().int().min(100).max(4096),
      chunk_overlap_tokens: z.number().int().min(0),
    }),
  }),
]);

export const AssociatePayloadSchema = z.object({
  runId,
  collection,
  /** Order-independent hash of the sorted content hashes plus the chunking strategy. */
  filesetHash: sha256Hex,
  /** Every file of the fileset, by content hash (first name seen). */
  files: z
    .array(z.object({ contentHash: sha256Hex, filename: z.string().min(1).max(1000), bytes: z.number().int().min(0) }))
    .min(1)
    .max(PAYLOAD_CAPS.files),
  chunkingStrategy: ChunkingStrategySchema,
  /** Hashes already uploaded when the sync was enqueued (no upload job was needed). */
  knownHashes: z.array(sha256Hex).max(PAYLOAD_CAPS.files).default([]),
  /**
   * A repair (`sluice reconcile --fix`; docs/design.md, "Reconcile"): upload
   * the files that have no File, and on a live store re-attach the files it
   * lost, detach the ones it should not hold and record what OpenAI reports,
   * instead of reusing it as it is.
   */
  repair: z.boolean().default(false),
});
export type AssociatePayload = z.infer<typeof AssociatePayloadSchema>;

export const CleanupPayloadSchema = z.object({
  /** Delete what was not used for this many days (default: TTL_DAYS). */
  ttlDays: z.number().int().min(1).optional(),
  dryRun: z.boolean().default(false),
});
export type CleanupPayload = z.infer<typeof CleanupPayloadSchema>;

/** A schedule's name: also its BullMQ job scheduler id, so no ':' (BullMQ reserves it in ids). */
export const ScheduleNameSchema = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, "_", "." and "-", starting with a letter or digit');

/**
 * A schedule tick (docs/vocabulary.md, "tick"): the schedule's whole
 * definition travels in its job scheduler's template, so a tick needs
 * nothing else to start its run. The timing (cron or every) lives in the
 * job scheduler itself.
 */
export const SchedulePayloadSchema = z.object({
  schedule: ScheduleNameSchema,
  collection,
  /** URLs, local files or directories (resolved to absolute paths when the schedule was added). */
  sources: z.array(z.string().min(1).max(PAYLOAD_CAPS.location)).min(1).max(PAYLOAD_CAPS.sources),
  /** Where the content goes; a URL goes to pgvector only. */
  sink: z.enum(['pgvector', 'openai', 'both']).default('pgvector'),
  maxPages: z.number().int().min(1).max(PAYLOAD_CAPS.maxPages).optional(),
  /** Deletion sync may remove more than REINDEX_MAX_DELETE_FRACTION of a scope. */
  allowMassDelete: z.boolean().default(false),
  /** Who owns the schedule: `file` (SCHEDULES_FILE, removed when it leaves the file) or `api` (CLI, TypeScript API). */
  managedBy: z.enum(['file', 'api']).default('api'),
});
export type SchedulePayload = z.infer<typeof SchedulePayloadSchema>;

/** What a schedule tick returns. */
export interface TickResult {
  schedule: string;
  /** `started` (its run ran to the end, or was resumed after a redelivery) or `skipped` (the previous run still runs). */
  outcome: 'started' | 'skipped';
  /** The tick's run, or (skipped) the run that is still going. */
  runId: string;
  /** `succeeded` (nothing failed), `partial` (some sources or files failed); absent when skipped. */
  runOutcome?: 'succeeded' | 'partial';
  documents?: number;
  failed?: number;
  documentsDeleted?: number;
  deletionHeld?: string | null;
}

/** One typed map from queue name to payload schema, shared by producers and processors. */
export const PAYLOAD_SCHEMAS = {
  crawl: CrawlPayloadSchema,
  embed: EmbedPayloadSchema,
  upload: UploadPayloadSchema,
  associate: AssociatePayloadSchema,
  cleanup: CleanupPayloadSchema,
  schedule: SchedulePayloadSchema,
} as const satisfies Record<QueueName, z.ZodType>;

export type Payloads = { [Q in QueueName]: z.infer<(typeof PAYLOAD_SCHEMAS)[Q]> };

/** What a crawl job returns, kept on the completed job for inspection. */
export interface CrawlResult {
  uri: string;
  status: 'written' | 'unchanged' | 'not-modified' | 'listed';
  chunks: number;
  /** cl100k_base tokens of the document's chunks. */
  tokens: number;
  /** The embed job enqueued for its missing chunk hashes, if any. */
  embedJob?: string;
  /** Crawl jobs fanned out to (links or files). */
  children: number;
}

/** What an embed job returns. */
export interface EmbedResult {
  requested: number;
  /** Hashes embedded by someone else before or while this job ran. */
  alreadyEmbedded: number;
  /** Hashes whose chunks disappeared (document changed) before embedding. */
  vanished: number;
  embedded: number;
  /** Tokens billed by the API for this job. */
  tokens: number;
  requests: number;
}

/** What an upload job returns (and associate, for files it re-uploads). */
export interface UploadResult {
  contentHash: string;
  fileId: string;
  outcome: 'uploaded' | 'reused';
  /** File size, bytes. */
  bytes: number;
}

/** What an associate job returns, and `sluice sync` prints. Bytes are file sizes in bytes. */
export interface SyncResult {
  vectorStoreId: string | null;
  filesetHash: string;
  /** True when an existing store for the identical fileset was reused. */
  reused: boolean;
  /** True when the registered store was gone (expired or deleted) and was created again. */
  recreated: boolean;
  status: 'completed' | 'partial' | 'failed';
  filesUploaded: number;
  filesReused: number;
  filesReuploaded: number;
  bytesUploaded: number;
  bytesReused: number;
  /** Files not serving in the store: OpenAI's error, or why Sluice gave up (`fileId` null: never uploaded). */
  failedFiles: Array<{ filename: string; contentHash: string; fileId: string | null; error: string }>;
}
